"""The release policy's rules on integrity and relabels, the class-mix rule's setting of expected new classes, and what
every rule family shares.

One class per rule. Each class names the policy keys it reads (``settings``), builds itself from a parsed
policy (``from_settings``; None when the policy turns it off) and gives one
``RuleResult`` from ``check(ctx)``. Rules that bound a count report the count even with
no bound set (they pass), so a report always shows what was measured. The lineage rules
are in ``provenance.gate.rules_lineage`` and ``provenance.gate.unsigned``, the detector rules
in ``provenance.gate.detection``, the class-mix rule in ``provenance.gate.class_mix``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.errors import VerificationError
from provenance.gate.base import Rule, Setting, Settings
from provenance.gate.results import LISTED, RuleResult, bounded_count

if TYPE_CHECKING:
    from provenance.gate.context import GateContext

COUNT = {"type": "integer", "minimum": 0}
VERIFIES = "everything verifies"  # what an integrity rule expects
FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
BOOLEAN = {"type": "boolean"}

RELABELLING_SOURCES = Setting(
    "relabels",
    "relabelling_sources",
    {"type": "object", "additionalProperties": COUNT, "propertyNames": {"minLength": 1}},
    {},
    "sources whose job is relabelling, each with how many relabels of others' records it may sign (a TOML table: "
    "{ crowd = 14 }); within it they count neither against max_relabels_of_others_records nor in the source's "
    "relabel rate, and every other source stays under those keys",
    "a table of source names to whole numbers, e.g. { crowd = 14 }",
)


def setting_value(settings: Settings, setting: Setting) -> Any:
    """The value ``settings`` gives ``setting`` (its default when the section leaves it out)."""
    return settings.get(setting.section, {}).get(setting.key, setting.default)


def verification_block(rule: str, exc: VerificationError) -> RuleResult:
    """A block carrying a failed verification: its message, and the records it names
    (or, when it names none, its detail lines as records without a digest)."""
    records = exc.records or [{"digest": "", "detail": d} for d in exc.details]
    return RuleResult(rule, "block", str(exc), records[:LISTED], exc.count, allowed=0, expected=VERIFIES)


class SwitchedRule(Rule):
    """A rule that its one boolean setting turns on or off."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule | None:
        """The rule when the policy turns it on, else None."""
        return cls() if setting_value(settings, cls.settings[0]) else None


class ParameterRule(Rule):
    """A rule built from its one setting's value; left out when the policy does not set it."""

    def __init__(self, value: Any):
        self.value = value

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule | None:
        """The rule with the policy's value, or None when the value is unset (None) or empty."""
        value = setting_value(settings, cls.settings[0])
        return None if value is None or value == [] else cls(value)


class ModeRule(Rule):
    """A rule whose first three settings are, in this order: a rate, a floor, and a mode (``"block"``, ``"warn"``
    or ``"off"``) saying what a version over the rate does; left out when the mode is ``"off"``. Settings after
    them are passed to the constructor after the mode, in their order."""

    def __init__(self, rate: float, least: int, mode: str):
        self.rate, self.least, self.mode = rate, least, mode

    @classmethod
    def from_settings(cls, settings: Settings) -> Rule | None:
        """The rule with the policy's rate, floor, mode and any further settings; None when the mode is ``"off"``."""
        rate, least, mode, *more = (setting_value(settings, s) for s in cls.settings)
        return None if mode == "off" else cls(rate, least, mode, *more)


# --- integrity ---------------------------------------------------------------------------


class VerifySignatures(SwitchedRule):
    """Both versions' signatures, their objects and the hash-chained audit log verify.

    Every other rule reads facts these signatures cover, so the gate evaluates nothing
    else when this blocks (see ``Requires``).
    """

    key = "integrity.verify_signatures"
    settings = (
        Setting(
            "integrity",
            "verify_signatures",
            BOOLEAN,
            True,
            "both versions' signatures, objects and the audit log must verify",
        ),
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass, or block with the verification error and its details."""
        from provenance.store.coverage import verify_log
        from provenance.trust.scope import scope_of
        from provenance.trust.statements import foreign_entries
        from provenance.versions import verify_version

        # Signatures are checked against the verifier's pins (the store handle carries them);
        # the audit log's checkpoints against the maintainer keys they pin (and keys of earlier roots;
        # a checkpoint by a key nobody pinned is not relied on, see provenance.store.coverage).
        try:
            # the base's signed delta is never read by the gate (it merges); prov verify BASE recomputes it
            verify_version(ctx.store, ctx.base, read_data=False, check_delta=False)
            verify_version(ctx.store, ctx.new, read_data=False)
            ctx.delta_checked = True
            pins, store = ctx.pins, ctx.store
            log = verify_log(store, pins.maintainer_keys(store), (), pins.known_keys(store), pins.retired_keys(store))
            # a version of another store in the chain, or a logged trust entry a pinned key signed for another
            # store (attack review 16c, C16-2): the entry is not counted, and the check says which one
            scope = scope_of(store)
            foreign = (
                [e.line() for e in foreign_entries(store, pins.role_keys("commit", store))]
                if pins.root is None and pins.signers
                else []
            )
            if scope.problems or foreign:  # "audit log: ...": the next step is prov audit verify, not prov verify
                raise VerificationError("; ".join([*scope.problems, *(f"audit log: {line}" for line in foreign)]))
        except VerificationError as exc:
            return verification_block(self.key, exc)
        warnings = [  # a rotated-out key's checkpoint of another log: never a block (attack review 5, finding 5)
            f"checkpoint {c['object'][:12]} not relied on: {c['reason']}" for c in log["not_relied_on"] if c["warning"]
        ]
        # a trust entry's signed statement deleted or altered (attack review 14b, A14b-1): damage to say, not a
        # block, so the rules below still run: its source still counts as one that signs its batches
        # (trust.statements.logged_signing_sources) and its key is not trusted, which only blocks more
        from provenance.trust.statements import missing_statements, rows_missing, rows_missing_line

        warnings += [f"{line} (prov never deletes one: run prov fsck)" for line in missing_statements(store)]
        # the trust rows deleted, the logged entry intact (attack review 15, A15-2): the rules read the log, so
        # the delivery stays trusted; the damage is said, with how to restore the rows
        if pins.root is None and pins.signers:
            warnings += [rows_missing_line(e) for e in rows_missing(store, pins.role_keys("commit", store))]
        if warnings:
            reason = "signatures, manifests and audit log verify; WARNING: " + "; ".join(warnings)
            return RuleResult(self.key, "warn", reason, allowed=0, expected=VERIFIES)
        return RuleResult(self.key, "pass", "signatures, manifests and audit log verify", allowed=0, expected=VERIFIES)


class VerifyData(SwitchedRule):
    """Re-read the new version's data and match every record digest against its signed manifest."""

    key = "integrity.verify_data"
    settings = (
        Setting(
            "integrity", "verify_data", BOOLEAN, True, "re-read the new version's data and match every record digest"
        ),
    )

    def check(self, ctx: GateContext) -> RuleResult:
        """Pass, or block naming the records added, removed or changed since signing."""
        from provenance.versions import verify_version

        try:
            # the sample's salt is checked (VerifySignatures); drawing the sample again is prov verify's
            # and the signed delta, recomputed once per check (by integrity.verify_signatures when it runs)
            verify_version(
                ctx.store, ctx.new, read_data=True, recompute_sample=False, check_delta=not ctx.delta_checked
            )
        except VerificationError as exc:
            return verification_block(self.key, exc)
        return RuleResult(
            self.key, "pass", f"every record of {ctx.new} re-read and matched", allowed=0, expected=VERIFIES
        )


class CountBound(Rule):
    """A rule that bounds one count (None: no bound, the count is reported and passes)."""

    def __init__(self, bound: int | None):
        self.bound = bound

    @classmethod
    def from_settings(cls, settings: Settings) -> CountBound:
        """Always part of the policy: with no bound it still reports its count."""
        return cls(setting_value(settings, cls.settings[0]))


# --- relabels and class mix ----------------------------------------------------------------


class MaxRelabels(CountBound):
    """At most ``bound`` records relabeled against the base, from all sources together."""

    key = "relabels.max_relabels"
    settings = (Setting("relabels", "max_relabels", COUNT, None, "relabeled records in all"),)

    def check(self, ctx: GateContext) -> RuleResult:
        """Count the diff's relabels; block above the bound."""
        relabeled = ctx.report["changes"]["relabeled"]
        what = "records relabeled against the base"
        return bounded_count(self.key, ctx.report["summary"]["relabeled"], self.bound, what, relabeled)


EXPECTED_NEW_CLASSES = Setting(
    "class_mix",
    "expected_new_classes",
    {"type": "array", "items": {"type": "string", "minLength": 1}},
    [],
    "labels that may be new or grow from almost nothing: while the base's signed manifest holds fewer than 10 of one, "
    "its records leave the class-mix tests (of all additions and of each source), and while its profile sample holds "
    "fewer than 10 (knn_label's voters) its added records are judged only on evidence that does not read their class "
    "(outlier, duplicates, volume, plug-ins, not a label nothing supports nor a near copy of a base record of another "
    "class; relabels into it are judged in full, and so are all of them when the "
    "delta or the base's signed ancestry removed base records, or when more of them are copies of base records under "
    "one scale and shift per column than a new class shows by chance); a label equal to a base class after NFKC, case folding and "
    "stripping is that class, not a new one; once it holds 10, they are tested and judged in full",
    expects="a list of labels",
)
