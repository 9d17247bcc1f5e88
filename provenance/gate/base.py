"""Rules as small policy objects, and the combinators that compose them.

After sigstore-python's ``verify/policy.py``: a rule is a tiny object with one method,
and ``AllOf`` / ``AnyOf`` combine rules. Where sigstore's ``verify()`` raises on the first
failure, a release gate must report every rule (a reviewer needs all of them), so here
evaluation returns results: a leaf ``Rule`` gives exactly one ``RuleResult`` from
``check(ctx)``; a composite gives its children's. An empty ``AllOf`` fails closed: it
gives an ``error`` result, so the gate exits 3 rather than passing a policy that
checks nothing.

Each rule class also declares the policy settings it reads (``Setting``: section, key,
JSON Schema of the value, default, description); ``provenance.gate.policy`` generates the
policy file's JSON Schema and its defaults from these declarations.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from provenance.gate.results import LISTED, RuleResult, Status

if TYPE_CHECKING:
    from provenance.gate.context import GateContext

Settings = Mapping[str, Mapping[str, Any]]  # section -> key -> value, as in a policy file


@dataclass(frozen=True)
class Setting:
    """One key of the policy file.

    Attributes:
        section: the TOML table (``lineage``).
        key: the key within it (``max_unattributed``).
        schema: JSON Schema (draft 2020-12) of the value: type and range, e.g.
            ``{"type": "integer", "minimum": 0}``. ``integer`` means a TOML integer (never
            a float or a boolean).
        default: the value when the file does not set it; None means "no bound".
        description: one line for the schema, the default TOML and error messages.
        expects: how an error message names a valid value when the schema's own
            words would not help (``'"all" or a non-empty list of detector names'``).
    """

    section: str
    key: str
    schema: Mapping[str, Any]
    default: Any
    description: str
    expects: str = ""

    @property
    def name(self) -> str:
        """``section.key``."""
        return f"{self.section}.{self.key}"

    def json_schema(self) -> dict[str, Any]:
        """The value's JSON Schema with its description and (when set) its default."""
        out: dict[str, Any] = {"description": self.description, **self.schema}
        if self.default is not None:
            out["default"] = self.default
        return out


class RuleSet(Protocol):
    """Anything the gate can evaluate: a rule, or rules composed with ``AllOf``, ``AnyOf``, ``Requires``."""

    @property
    def name(self) -> str:
        """What the results call it (a leaf: ``section.key``)."""
        ...

    def evaluate(self, ctx: GateContext) -> list[RuleResult]:
        """Evaluate against ``ctx``; one result per leaf rule that ran, in order."""
        ...


class Rule(ABC):
    """One rule of the policy: one ``check`` over the context, one ``RuleResult``.

    Subclasses set ``key`` (the name results carry, ``section.key``) and ``settings``
    (the policy keys they read), and implement ``check``. A rule reads facts only
    through the ``GateContext`` (never from the store on its own), so what it relies on
    can be changed in one place.
    """

    key: ClassVar[str]
    settings: ClassVar[tuple[Setting, ...]] = ()

    @property
    def name(self) -> str:
        """The name its result carries (``key`` unless a rule is one of a family)."""
        return self.key

    @abstractmethod
    def check(self, ctx: GateContext) -> RuleResult:
        """Evaluate the rule; return its result (never raise for a finding: block instead)."""

    def evaluate(self, ctx: GateContext) -> list[RuleResult]:
        """``[self.check(ctx)]``: a rule is a rule set of one."""
        return [self.check(ctx)]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class Composite:
    """Rules combined: ``children`` in order, named ``<label>(child, ...)``."""

    label: ClassVar[str]

    def __init__(self, children: Sequence[RuleSet]):
        self.children = list(children)

    @property
    def name(self) -> str:
        """``label(child, ...)``, e.g. ``all_of(integrity.verify_data, lineage.max_unattributed)``."""
        return f"{self.label}({', '.join(c.name for c in self.children)})"


class AllOf(Composite):
    """Every child must pass; results are all the children's, in order.

    An ``AllOf`` with no children fails closed: one ``error`` result named ``policy``.
    """

    label = "all_of"

    def evaluate(self, ctx: GateContext) -> list[RuleResult]:
        """Each child's results in order; an empty set gives an ``error`` (exit 3)."""
        if not self.children:
            return [RuleResult("policy", "error", "the policy has no rules; an empty policy fails closed")]
        return [result for child in self.children for result in child.evaluate(ctx)]


class AnyOf(Composite):
    """At least one child must pass; the outcome is one result named ``any_of(...)``.

    Children are evaluated in order until one passes (all its results pass). When none
    passes, the result blocks (or is an ``error`` if every child had an error) and lists
    the failing children's reasons and records. An empty ``AnyOf`` fails closed.
    """

    label = "any_of"

    def evaluate(self, ctx: GateContext) -> list[RuleResult]:
        """One result: pass naming the child that passed, or the failures of all of them."""
        if not self.children:
            return [RuleResult(self.name, "error", "no alternatives; an empty any-of fails closed")]
        failures: list[RuleResult] = []
        for child in self.children:
            results = child.evaluate(ctx)
            if results and all(r.status == "pass" for r in results):
                return [RuleResult(self.name, "pass", f"{child.name} passes")]
            failures += [r for r in results if r.status != "pass"] or [
                RuleResult(child.name, "error", "gave no result")
            ]
        status: Status = "error" if all(r.status == "error" for r in failures) else "block"
        records = [rec for r in failures for rec in r.records][:LISTED]
        reason = "none passes: " + "; ".join(f"{r.rule}: {r.reason}" for r in failures)
        return [RuleResult(self.name, status, reason, records, sum(r.count for r in failures))]


class Requires:
    """Evaluate ``then`` only if every result of ``first`` passes (a warning passes); otherwise stop there.

    For rules whose failure makes the rest meaningless: when the signatures do not
    verify, nothing the store says can be trusted, so no other rule runs; when the
    detectors could not run, there are no per-detector verdicts to give.
    """

    def __init__(self, first: RuleSet, then: RuleSet):
        self.first, self.then = first, then

    @property
    def name(self) -> str:
        """``requires(first, then)``."""
        return f"requires({self.first.name}, {self.then.name})"

    def evaluate(self, ctx: GateContext) -> list[RuleResult]:
        """``first``'s results, followed by ``then``'s when all of ``first``'s pass."""
        results = self.first.evaluate(ctx)
        if not results or any(r.status not in ("pass", "warn") for r in results):  # a warning passes
            return results
        return results + self.then.evaluate(ctx)
