"""What the release gate reports: one ``RuleResult`` per evaluated rule, one ``GateResult`` per check.

``GateResult.to_dict()`` is the ``prov check --format json`` document (format
``prov.check/v1``, schema ``schemas/check.schema.json``); every other check format
(text, Markdown, SARIF 2.1.0, JUnit XML) is rendered from that dict by ``provenance.report``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from provenance.delta.records import DeltaRecords
    from provenance.delta.rows import DeltaRecords as DeltaRows

LISTED = 20  # records a rule result names at most; ``count`` says how many there are in all
REPORT_FORMAT = "prov.check/v1"

Status = Literal["pass", "warn", "block", "error"]


@dataclass
class RuleResult:
    """The outcome of one rule.

    Attributes:
        rule: the rule's name, ``section.key`` as written in the policy file
            (``lineage.max_unattributed``), or ``detectors.<name>`` for one detector.
        status: ``pass``; ``warn`` (reported and stated in the attestation, never
            blocks: a batch shifted beyond the base's own batches); ``block`` (the rule
            found what it forbids: exit 1); or ``error`` (it could not be evaluated:
            exit 3, the gate fails closed).
        reason: one line for people, with the measured value and the bound.
        records: at most ``LISTED`` records the rule is about, each a dict with at least
            ``digest`` (hex; empty when a finding is not about one record) and, where
            known, ``label``, ``source``, ``signed_label``, ``detector``, ``score``,
            ``explanation`` or ``detail``. Listed only when the rule does not pass.
        count: how many records the rule is about (may exceed ``len(records)``).
        statistic: the test behind the verdict, when there is one: a dict naming
            its ``test`` and carrying its ``p_value`` and inputs.
        allowed: the most of ``count`` the rule lets through (0 for a rule nothing may
            trip); None when it bounds no count (no bound set, or a p-value or rate rule).
        expected: what a passing version shows, for people: ``"at most 0"``, ``"at most
            11"``, ``"p at least 1e-06"``, ``"no bound set"``; None when there is nothing to say.
    """

    rule: str
    status: Status
    reason: str
    records: list[dict] = field(default_factory=list)
    count: int = 0
    statistic: dict | None = None
    allowed: float | None = None
    expected: str | None = None


def bounded_count(
    rule: str,
    count: int,
    bound: int | None,
    what: str,
    records: list[dict] | tuple[dict, ...] = (),
    statistic: dict | None = None,
) -> RuleResult:
    """The result of a rule that bounds a count: block when ``count > bound``.

    Args:
        rule: the rule's name.
        count: the measured number of records.
        bound: the most allowed, or None for no bound (the rule then passes and reports the count).
        what: what was counted, as a plural noun phrase ("records relabeled against the base").
        records: the records counted (only the first ``LISTED`` are kept, and only on a block).
        statistic: passed through to the result.
    """
    if count == 1:  # "1 record relabeled ...", not "1 records ..."
        what = re.sub(r"^(added )?records\b", r"\1record", what)
    if bound is None:
        return RuleResult(rule, "pass", f"{count} {what} (no bound set)", [], count, statistic, None, "no bound set")
    status: Status = "block" if count > bound else "pass"
    listed = list(records)[:LISTED] if status == "block" else []
    reason = f"{count} {what}, allowed {bound}"
    return RuleResult(rule, status, reason, listed, count, statistic, bound, f"at most {bound}")


def truncated(result: RuleResult) -> bool:
    """Whether ``result.records`` names fewer records than the rule is about (``count``): a rule that
    does not pass lists at most ``LISTED`` (``detectors.extreme`` lists every record it blocks)."""
    return result.status != "pass" and len(result.records) < result.count


def decision_of(results: list[RuleResult]) -> Literal["pass", "warned", "blocked", "error"]:
    """``error`` if any rule could not be evaluated (or there is no result at all: fail
    closed), else ``blocked`` if any rule blocks, else ``warned`` if any warns (released,
    exit 0, the warnings stated in the attestation), else ``pass``."""
    statuses = {r.status for r in results}
    if not results or "error" in statuses:
        return "error"
    if "block" in statuses:
        return "blocked"
    return "warned" if "warn" in statuses else "pass"


@dataclass
class GateResult:
    """The outcome of ``prov check``: the decision and everything behind it.

    Attributes:
        base, version: the trusted base and the candidate version (tags).
        policy: ``{"path": file or None for the default, "digest": SHA-256 hex of the
            policy's canonical JSON}``.
        decision: ``pass`` | ``warned`` | ``blocked`` | ``error`` (see ``exit_code``).
        rules: one result per evaluated rule, in evaluation order.
        detectors: one row per detector run: ``detector``, ``status`` (ok|error), ``error``,
            ``threshold`` (score scale), ``scored``, ``flagged``, ``waived``, ``allowed``.
        findings: flagged, not waived detector findings: ``digest``, ``detector``, ``score``
            in [0, 1], ``explanation``; highest score first per detector.
        waivers: ``{"honoured": [...], "ignored": [... with "why"]}``.
        summary: the diff's counts (``added``, ``removed``, ``relabeled``, ``records_new``,
            ``records_base``); empty when the check stopped before diffing.
        checked_at: UTC time of the check, ISO 8601 to the second.
        attestation: path of the release attestation written for a pass, if any.
        audit: how much of the audit log is signed and which entries are pending
            (``provenance.store.coverage.AuditCoverage.to_dict``); pending ones were not relied on.
        sources: the diff's per-source rows (``by_source``), each with ``flagged``, its
            unwaived flagged records; empty before diffing.
        data: the candidate version's data, ``{"path": relative to the store's folder,
            "kind": "table" | "tree"}`` (reports locate flagged records in it); None before diffing.
        lineage_not_trusted: one item per registered signed batch whose records the candidate
            signed as attested but that attests nothing under the verifier's pins (a revoked key,
            a key the pins never vouched for): ``{"batch", "source", "reason", "records"}``
            (``lineage.judged.JudgedLineage.not_trusted``); the lineage rules counted those
            records as unattributed. Empty before diffing.
        base_release: whether the base was released (``provenance.gate.base_release.base_release``):
            ``{"standing": released|first|unreleased|declared, "release", "attestation", "newest_released"}``.
        detection_saved: the id of the detector run the check stored (``prov findings``), None when it stored
            none (``--no-save``, a read-only store, detectors that did not run); not in :meth:`to_dict`: the
            caller records the check (``gate.check_record``) only when the check wrote to the store at all.
    """

    base: str
    version: str
    policy: dict
    decision: str
    rules: list[RuleResult]
    detectors: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    waivers: dict = field(default_factory=lambda: {"honoured": [], "ignored": []})
    summary: dict = field(default_factory=dict)
    checked_at: str = ""
    attestation: str | None = None
    audit: dict | None = None
    sources: list[dict] = field(default_factory=list)
    data: dict | None = None
    lineage_not_trusted: list[dict] = field(default_factory=list)
    base_release: dict | None = None
    detection_saved: str | None = None

    @property
    def exit_code(self) -> int:
        """0 for pass or warned, 1 for blocked, 3 for anything else (could not evaluate)."""
        return {"pass": 0, "warned": 0, "blocked": 1}.get(self.decision, 3)

    def to_dict(self) -> dict[str, Any]:
        """The ``prov check --format json`` document (``prov.check/v1``, schemas/check.schema.json)."""
        return {
            "format": REPORT_FORMAT,
            "base": self.base,
            "version": self.version,
            "policy": self.policy,
            "decision": self.decision,
            "exit_code": self.exit_code,
            "checked_at": self.checked_at,
            "rules": [dict(asdict(r), records_truncated=truncated(r)) for r in self.rules],
            "detectors": self.detectors,
            "findings": self.findings,
            "waivers": self.waivers,
            "summary": self.summary,
            "attestation": self.attestation,
            "audit": self.audit,
            "sources": self.sources,
            "data": self.data,
            "lineage_not_trusted": self.lineage_not_trusted,
            "base_release": self.base_release,
        }

    def describe_records(
        self, records: DeltaRecords | None, by_source: list[dict], rows: dict[tuple[str, str], str] | None = None
    ) -> None:
        """Name the records this result lists as the diff does, and add the per-source view.

        Each finding, each ``detectors.*`` rule's record and each honoured waiver that waived a
        record (``effect`` "waived") gets the ``label``, ``source``,
        ``lineage``, ``change``, ``locator`` and ``location`` that ``records`` (the diff's
        ``DiffReport.records``) knows and it does not carry yet; ``data`` becomes the candidate's
        data file; ``sources`` the diff's ``by_source`` rows, each with ``flagged``: its
        unwaived flagged records, and ``not_attested`` when :attr:`lineage_not_trusted` names
        batches of the source: the candidate's records they no longer attest (set it first).

        ``rows`` (:func:`scored_rows`) gives each scored row's own locator: an item carrying a label
        is located at its row (digest, label), so a digest the candidate holds under two labels is
        not shown at the other row (attack review 10b, S10b-1); ``records`` knows a digest's first
        row only (its source and lineage are the digest's, as the diff attributes them).
        """
        waived = [w for w in self.waivers["honoured"] if w.get("effect") == "waived"]  # located for SARIF too
        listed = [
            *self.findings,
            *(r for x in self.rules if x.rule.startswith("detectors.") for r in x.records),
            *waived,
        ]
        if records is not None:
            from provenance.delta.attribution import SOURCE_COLUMN
            from provenance.delta.records import location
            from provenance.report.wording import KEY_REVOKED

            digests = [item["digest"] for item in listed if item.get("digest")]
            facts = records.describe(digests, digests)
            for item in listed:
                known = facts.get(item.get("digest", ""), {})
                item.update({k: v for k, v in known.items() if item.get(k) is None})
                locator = (rows or {}).get((item.get("digest", ""), item.get("label")))
                if locator is not None and locator != item.get("locator"):  # its own row, not its digest's first
                    item["locator"], item["location"] = locator, location(records.dataset, locator)
            self.data = records.dataset
            named = {row["source"]: row.get("named_by") or [] for row in by_source}
            for item in listed:  # a record of a source whose key was revoked is named as its row is
                if KEY_REVOKED in named.get(item.get("source"), []) and item.get("source_named_by") != SOURCE_COLUMN:
                    item["source_named_by"] = KEY_REVOKED
        flagged = Counter(f.get("source") for f in self.findings)
        lost: Counter[str] = Counter()
        revoked = set()
        for item in self.lineage_not_trusted:
            lost[item["source"]] += int(item["records"])
            if REVOKED in str(item.get("reason")):  # the reason standing.untrusted_batches gives a revoked key
                revoked.add(item["source"])
        self.sources = [dict(row, flagged=flagged.get(row["source"], 0)) for row in by_source]
        for row in self.sources:
            if lost[row["source"]]:
                row["not_attested"] = lost[row["source"]]
                row["key_revoked"] = row["source"] in revoked


REVOKED = ", which was revoked at "  # trust.source_signatures' words for a revoked source key


def scored_rows(rows: DeltaRows | None) -> dict[tuple[str, str], str]:
    """``{(digest hex, label): locator}`` of the rows the detectors scored (``GateContext.delta_rows``), as
    ``delta.records.row_locators``; empty when they were not read."""
    from provenance.delta.records import row_locators

    return row_locators(rows)
