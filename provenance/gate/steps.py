"""A check over several signed deliveries judges each on its own (``detectors.combined``'s ``steps``).

``detectors.combined`` judges the whole delta between the check's base and the candidate with one
flag budget, and that budget grows with the delta. A daily pipeline that kept committing on top of
a version the gate blocked (a delivery of 30 flipped labels, 17 flagged where 10 were allowed) had
that delivery pass two days later in ``prov check v4 --base v1``, inside a budget the clean
deliveries since had widened (attack review 13, G13-1). So when the base is not the candidate's
signed parent, each record the detectors scored is given to the *step* that brought it in: the
newest version of the candidate's signed history (``version_facts.signed_ancestry``: signatures
under the verifier's pins and signed parent links) whose signed parent's manifest does not hold
its row (digest and label: a relabel is a row too). Each step's records are then judged as that
step's own check would judge them, against the same base profile and run: the flag budget and the
"beyond" and "far beyond" counts at that step's size (``Verdicts.budget``). ``detectors.extreme``'s
Bonferroni bar is not applied per step: at a step's size it blocked 3 of the first 6 clean 3-step checks
of ``bench/steps_clean.py`` (a record between ``extreme_alpha / n`` of the step and of the whole delta),
so a record that extreme only at its step's size is judged by the whole delta's bar. The steps'
manifests are read from the signed objects (``quarantine_history.VersionDigests``: re-hashed against the digest each version
signed), never from a row of ``.prov/``.

The history is the committer's choice: a pipeline that commits each candidate on top of the last
release (``--parent v1``) makes a one-step history, and a blocked day-2 version committed again with two
clean days as ``v4r`` passed (attack review 14, A14-6). So the versions committed *beside* the history
since the base, before the candidate (its signed audit-log head fixes which: ``gate.sibling_deliveries``),
are deliveries too, each judged on every scored record it brought in (the rows of its manifest its
parent's lacks; ``in_history`` false). Those overlap the history's steps and each other: a record is
judged in each that holds it, so no version committed beside another takes records out of its judgement.

Each step is tested at the policy's ``alpha``, as its own check would be, so a clean check over
``s`` steps blocks by chance at most about ``s`` times as often as a one-step check. A check whose
base is the candidate's parent, with no version committed beside it since the base, is one step, and the
check is what it was. ``detectors.combined``
(``gate.detection_budget``) calls :func:`judge_steps` and blocks by ``step_budget`` when a step breaks its
allowance, naming it (``added in v2``) and its records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.gate.detection_common import flagged_records
from provenance.gate.results import LISTED

if TYPE_CHECKING:
    import numpy as np

    from provenance.detectors.pipeline import Detection
    from provenance.gate.context import GateContext
    from provenance.gate.quarantine_history import VersionDigests
    from provenance.gate.sibling_deliveries import CommitsBefore
    from provenance.store import Store


@dataclass(frozen=True)
class SignedStep:
    """One step of the candidate's signed history between the check's base and the candidate.

    Attributes:
        version: the signed version the step made.
        parent: its signed parent's tag; None for the first version of a history the base is not in.
        rows: indices into the detection run's records (``Verdicts.records``) whose row this step brought in.
    """

    version: str
    parent: str | None
    rows: np.ndarray
    in_history: bool = True


def signed_steps(
    store: Store,
    base: str,
    new: str,
    digests: Sequence[str],
    labels: Sequence[str | None],
    manifests: VersionDigests,
) -> list[SignedStep]:
    """The steps of ``new``'s signed history after ``base``, oldest first, each with the scored records it brought in.

    Args:
        store: the open store, carrying the verifier's pins.
        base, new: the check's base and candidate (tags).
        digests: each scored record's content digest (hex), in the detection run's order.
        labels: each scored record's label (None for none), row for row with ``digests``.
        manifests: the reader of versions' signed manifests (``GateContext.version_digests``).

    Returns:
        One ``SignedStep`` per version from the one after ``base`` (or, when ``base`` is not in
        ``new``'s signed history, from its first version) to ``new``; a record goes to the newest step
        whose signed parent does not hold its (digest, label) row, so every record is in exactly one
        step. A single step when ``base`` is ``new``'s signed parent.

    Raises:
        VerificationError: a signature in ``new``'s history does not verify under the pins, a signed
            parent link does not hold, or a manifest object is missing or altered.
        InputError: ``new`` is not a stored version.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.gate.quarantine_history import row_keys
    from provenance.version_facts import signed_ancestry

    chain = signed_ancestry(store, new)  # newest first
    tags = [row["tag"] for row, _ in chain]
    end = tags.index(base) if base in tags else len(tags)
    delta = pa.table(
        {
            "digest": pa.array([bytes.fromhex(d) for d in digests], pa.binary(32)),
            "label": pa.array(list(labels), pa.string()),
        }
    )
    keys = row_keys(delta)
    remaining = np.arange(len(digests))
    steps: list[SignedStep] = []
    for i in range(end):
        parent = chain[i + 1][0] if i + 1 < len(chain) else None
        if i == end - 1 or parent is None:  # the base, or no parent at all: the rest came in here
            steps.append(SignedStep(tags[i], parent["tag"] if parent else None, remaining))
            break
        held = manifests.columns(parent, ("digest", "label"))
        held = held.filter(pc.is_in(held.column("digest"), value_set=delta.column("digest")))
        in_parent = pc.is_in(keys.take(pa.array(remaining)), value_set=row_keys(held)).to_numpy(zero_copy_only=False)
        steps.append(SignedStep(tags[i], parent["tag"], remaining[~in_parent]))
        remaining = remaining[in_parent]
    return steps[::-1]


@dataclass(frozen=True)
class StepJudgement:
    """Each signed step of a check over several versions, judged on the records it brought in.

    Attributes:
        rows: one per step, oldest first: ``{"version", "parent", "n", "flagged", "allowed", "beyond_reference",
            "beyond_allowed", "far_beyond_reference", "far_beyond_allowed", "blocked_by"}`` (``blocked_by``: the
            clauses that step breaks, empty when it is within its allowance).
        records: the unwaived flagged records of the steps that break their allowance, each with ``added_in``.
    """

    rows: list[dict]
    records: list[dict]

    @property
    def blocking(self) -> list[dict]:
        """The rows of the steps that break their allowance."""
        return [row for row in self.rows if row["blocked_by"]]

    @property
    def words(self) -> str:
        """``"added in v2: 16 of 200 flagged (at most 9)"`` for each blocking step (or each step, when none blocks)."""
        shown = self.blocking or self.rows
        more = f"; and {len(shown) - LISTED} more" if len(shown) > LISTED else ""
        return "; ".join(_step_words(row) for row in shown[:LISTED]) + more

    def scope(self, base: str, new: str) -> str:
        """``"judged per signed step (3 from v1 to v4)"``, naming the versions committed beside the history too."""
        history = sum(1 for row in self.rows if row.get("in_history", True))
        beside = len(self.rows) - history
        words = f"judged per signed step ({history} from {base} to {new}"
        if beside:
            words += f"; and {beside} version{'s' if beside > 1 else ''} committed beside it from {base} before {new}"
        return words + ")"


def judge_steps(
    ctx: GateContext, detection: Detection, alpha: float, left_out: set[str] | frozenset[str]
) -> StepJudgement | None:
    """Judge each signed step between ``ctx.base`` and ``ctx.new`` (see the module); None for a one-step check.

    Args:
        ctx: the check's context (its store, pins, waivers and signed manifests).
        detection: the check's one detection run.
        alpha: the policy's ``[detectors] alpha``.
        left_out: digests of records of expected new classes (not judged against the base).

    Raises:
        VerificationError: the candidate's signed history or a manifest in it does not verify.
    """
    verdicts = detection.verdicts
    labels = _labels(detection)
    digests = [v.digest for v in verdicts.records]
    from provenance.gate.sibling_deliveries import commits_before

    steps = signed_steps(ctx.store, ctx.base, ctx.new, digests, labels, ctx.version_digests)
    committed = commits_before(ctx.store, ctx.base, ctx.new)
    beside = beside_history(ctx, committed, digests, labels)
    if beside:  # oldest first by the audit log's commits up to the candidate's signed head, the candidate last
        last = len(committed.positions)
        steps = sorted(
            steps + beside, key=lambda s: last + 1 if s.version == ctx.new else committed.positions.get(s.version, last)
        )
    if len(steps) <= 1:
        return None
    ancestors = ctx.ancestry_waivers
    rows: list[dict] = []
    named: dict[tuple[str, str | None], dict] = {}
    for step in steps:
        # by row: one digest held under two labels is two rows, which two steps may have brought in
        mine = {(verdicts.records[i].digest, labels[i]) for i in step.rows}
        # a waiver of the candidate, or of a version of its history (a version beside it: the candidate's own only)
        waived = ctx.waivers.waived | (ancestors[step.version].waived if step.version in ancestors else set())
        n = len([row for row in mine if row[0] not in left_out])
        budget = verdicts.budget(n, alpha)
        records = [r for r in flagged_records(detection, waived, left_out=left_out) if _row(r) in mine]
        beyond = [r for r in records if r["p_value"] < verdicts.beyond_p]
        far = [r for r in records if r["p_value"] < verdicts.far_p] if budget.far_rate > 0 else []
        clauses = (
            ("flag_budget", len(records) > budget.flags),
            ("beyond_reference", len(beyond) > budget.beyond),
            ("far_beyond_reference", len(far) > budget.far),
        )
        blocked_by = [clause for clause, over in clauses if over]
        rows.append(
            {
                "version": step.version,
                "parent": step.parent,
                "n": n,
                "flagged": len(records),
                "allowed": budget.flags,
                "beyond_reference": len(beyond),
                "beyond_allowed": budget.beyond,
                "far_beyond_reference": len(far),
                "far_beyond_allowed": budget.far,
                "blocked_by": blocked_by,
                "in_history": step.in_history,
            }
        )
        if blocked_by:  # a record in two blocking deliveries is named with the older
            named |= {_row(r): r | {"added_in": step.version} for r in records if _row(r) not in named}
    return StepJudgement(rows, sorted(named.values(), key=lambda r: -r["score"]))


def beside_history(
    ctx: GateContext, committed: CommitsBefore, digests: Sequence[str], labels: Sequence[str | None]
) -> list[SignedStep]:
    """The versions committed beside ``ctx.new``'s signed history since ``ctx.base`` (``committed``, from
    ``gate.sibling_deliveries.commits_before``), each with every scored record it brought in (``in_history`` false).

    A delivery that holds none of the scored records, or all of them (the whole delta's own judgement),
    is left out. Unlike the steps of the history, the deliveries overlap: each is judged on all the records
    it holds, so a version committed beside it cannot take records out of another's judgement.

    Raises:
        VerificationError: a delivery's manifest object is missing, altered or not a manifest.
    """
    import numpy as np
    import pyarrow as pa

    from provenance.gate.quarantine_history import row_keys
    from provenance.gate.sibling_deliveries import delivery_mask

    if not committed.deliveries or not digests:
        return []
    delta_digests = pa.array([bytes.fromhex(d) for d in digests], pa.binary(32))
    keys = row_keys(pa.table({"digest": delta_digests, "label": pa.array(list(labels), pa.string())}))
    read: dict[str, pa.Table] = {}
    out: list[SignedStep] = []
    for delivery in committed.deliveries:
        mask = delivery_mask(ctx.store, delivery, keys, delta_digests, ctx.version_digests, read)
        rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        if 0 < len(rows) < len(digests):
            out.append(SignedStep(delivery.version, delivery.parent, rows, in_history=False))
    return out


def _labels(detection: Detection) -> list[str | None]:
    """Each scored record's label, row for row with ``detection.verdicts.records`` (None where none is known)."""
    labels: list[str | None] = list(detection.labels)
    return labels + [None] * (len(detection.verdicts.records) - len(labels))


def _row(record: dict) -> tuple[str, str | None]:
    """A listed record's row: (digest, label)."""
    return record["digest"], record.get("label")


def _step_words(row: dict) -> str:
    """``"added in v2: 17 of 200 flagged (at most 10)"``, with each clause that blocked beyond the flag budget."""
    beside = "" if row.get("in_history", True) else f" (committed beside this history, from {row['parent']})"
    out = f"added in {row['version']}{beside}: {row['flagged']} of {row['n']} flagged (at most {row['allowed']})"
    if "beyond_reference" in row["blocked_by"]:
        out += f", {row['beyond_reference']} beyond every reference record (at most {row['beyond_allowed']})"
    if "far_beyond_reference" in row["blocked_by"]:
        out += f", {row['far_beyond_reference']} far beyond it (at most {row['far_beyond_allowed']})"
    return out
