"""The release gate: evaluate a new version against a trusted base under a policy.

Each rule is a small function that returns a ``RuleResult``; the gate is all of them
(an empty rule set fails closed). The outcome is one of three: ``pass`` (exit 0),
``blocked`` (exit 1, every blocking rule names its records), or ``error`` (exit 3: a
detector crashed or a required check could not run, so the gate fails closed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from provenance import clock, stats
from provenance.errors import InputError, VerificationError
from provenance.gate import policy as policy_lib
from provenance.store import Store

LISTED = 20
REPORT_FORMAT = "prov.check/v1"


@dataclass
class RuleResult:
    rule: str  # "section.key", as written in the policy file
    status: str  # "pass" | "block" | "error"
    reason: str
    records: list[dict] = field(default_factory=list)  # at most LISTED, each with at least "digest"
    count: int = 0  # how many records the rule is about (may exceed len(records))
    statistic: dict | None = None


@dataclass
class GateResult:
    base: str
    version: str
    policy: dict  # {"path", "digest"}
    decision: str
    rules: list[RuleResult]
    detectors: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)  # flagged, not waived
    waivers: dict = field(default_factory=lambda: {"honoured": [], "ignored": []})
    summary: dict = field(default_factory=dict)
    checked_at: str = ""
    attestation: str | None = None

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "blocked": 1}.get(self.decision, 3)

    def to_dict(self) -> dict:
        return {
            "format": REPORT_FORMAT,
            "base": self.base,
            "version": self.version,
            "policy": self.policy,
            "decision": self.decision,
            "exit_code": self.exit_code,
            "checked_at": self.checked_at,
            "rules": [asdict(r) for r in self.rules],
            "detectors": self.detectors,
            "findings": self.findings,
            "waivers": self.waivers,
            "summary": self.summary,
            "attestation": self.attestation,
        }


def flag_budget(n: int, fpr: float, alpha: float) -> int:
    """The most flags a clean delta of ``n`` records gives at this FPR, except with probability alpha."""
    return stats.binomial_upper_limit(n, fpr, alpha)


def _rule(rule: str, bad: int, bound, what: str, records=(), statistic=None) -> RuleResult:
    if bound is None:
        return RuleResult(rule, "pass", f"{bad} {what} (no bound set)", [], bad, statistic)
    status = "block" if bad > bound else "pass"
    return RuleResult(
        rule,
        status,
        f"{bad} {what}, allowed {bound}",
        list(records)[:LISTED] if status == "block" else [],
        bad,
        statistic,
    )


# --- the rules ---------------------------------------------------------------------------


def integrity_rules(store: Store, base: str, new: str, pol) -> list[RuleResult]:
    from provenance.versions import verify_audit, verify_version

    out = []
    if pol["integrity"]["verify_signatures"]:
        try:
            verify_version(store, base, read_data=False)
            verify_version(store, new, read_data=False)
            verify_audit(store)
            out.append(RuleResult("integrity.verify_signatures", "pass", "signatures, manifests and audit log verify"))
        except VerificationError as exc:
            out.append(
                RuleResult(
                    "integrity.verify_signatures",
                    "block",
                    str(exc),
                    [{"digest": "", "detail": d} for d in exc.details][:LISTED],
                )
            )
            return out
    if pol["integrity"]["verify_data"]:
        try:
            verify_version(store, new, read_data=True)
            out.append(RuleResult("integrity.verify_data", "pass", f"every record of {new} re-read and matched"))
        except VerificationError as exc:
            records = exc.records or [{"digest": "", "detail": d} for d in exc.details]
            out.append(RuleResult("integrity.verify_data", "block", str(exc), records[:LISTED], len(records)))
    return out


def lineage_rules(store: Store, new: str, report: dict, pol) -> list[RuleResult]:
    import pyarrow as pa
    import pyarrow.compute as pc

    from provenance.lineage.classify import version_lineage

    rules = pol["lineage"]
    table = version_lineage(store, new)
    n = table.num_rows
    out = []

    def rows(mask, extra=()):
        part = table.filter(mask).slice(0, LISTED)
        cols = {c: part.column(c).to_pylist() for c in ("digest", "label", "source", "signed_label", *extra)}
        return [
            {"digest": d.hex(), "label": l, "source": s, "signed_label": sl}
            for d, l, s, sl in zip(cols["digest"], cols["label"], cols["source"], cols["signed_label"])
        ]

    relabeled = pc.equal(table.column("status"), "relabeled_after_source")
    k = pc.sum(relabeled).as_py() or 0
    out.append(
        _rule(
            "lineage.max_relabeled_after_source",
            k,
            rules["max_relabeled_after_source"],
            "records relabeled after their source signed them",
            rows(relabeled) if k else [],
        )
    )
    unattributed = pc.equal(table.column("status"), "unattributed")
    k = pc.sum(unattributed).as_py() or 0
    bound = rules["max_unattributed"]
    if rules["max_unattributed_fraction"] is not None:
        by_fraction = int(rules["max_unattributed_fraction"] * n)
        bound = by_fraction if bound is None else min(bound, by_fraction)
        rule = "lineage.max_unattributed_fraction" if bound == by_fraction else "lineage.max_unattributed"
    else:
        rule = "lineage.max_unattributed"
    out.append(_rule(rule, k, bound, "records no trusted signed batch carries", rows(unattributed) if k else []))
    out.append(
        _rule(
            "lineage.max_unsigned_additions",
            report["summary"].get("unattributed_added", 0),
            rules["max_unsigned_additions"],
            "added records without a trusted signature",
            [c for c in report["changes"]["added"]],
        )
    )
    forbidden = set(rules["forbidden_sources"])
    if rules["block_quarantined_sources"]:
        forbidden |= quarantined_sources(store)
    if forbidden:
        sources = pc.fill_null(table.column("source"), "")
        mask = pc.is_in(sources, value_set=pa.array(sorted(forbidden)))
        k = pc.sum(mask).as_py() or 0
        out.append(
            _rule(
                "lineage.forbidden_sources",
                k,
                0,
                f"records from forbidden or quarantined sources ({', '.join(sorted(forbidden))})",
                rows(mask) if k else [],
            )
        )
    return out


def quarantined_sources(store: Store) -> set[str]:
    import json

    out = set()
    for (detail,) in store.db.execute("select detail from audit where action = 'quarantine'"):
        source = json.loads(detail).get("source")
        if source:
            out.add(source)
    return out


def diff_rules(report: dict, pol) -> list[RuleResult]:
    out = []
    rate_bound = pol["relabels"]["max_relabel_rate_per_source"]
    worst = max(report["by_source"], key=lambda r: r["relabel_rate"], default=None)
    relabeled_records = report["changes"]["relabeled"]
    if rate_bound is not None and worst is not None:
        offenders = [r for r in report["by_source"] if r["relabel_rate"] > rate_bound and r["relabeled"] > 0]
        names = {r["source"] for r in offenders}
        status = "block" if offenders else "pass"
        reason = (
            ", ".join(
                f"source {r['source'] or '(none)'} relabeled {r['relabeled']} of its kept records "
                f"({100 * r['relabel_rate']:.1f}%)"
                for r in offenders
            )
            + f", allowed {100 * rate_bound:.1f}%"
            if offenders
            else f"highest relabel rate {100 * worst['relabel_rate']:.2f}% (source "
            f"{worst['source'] or '(none)'}), allowed {100 * rate_bound:.1f}%"
        )
        out.append(
            RuleResult(
                "relabels.max_relabel_rate_per_source",
                status,
                reason,
                [c for c in relabeled_records if c.get("source") in names][:LISTED] if offenders else [],
                sum(r["relabeled"] for r in offenders),
            )
        )
    out.append(
        _rule(
            "relabels.max_relabels",
            report["summary"]["relabeled"],
            pol["relabels"]["max_relabels"],
            "records relabeled against the base",
            relabeled_records,
        )
    )
    min_p = pol["class_mix"]["min_p_value"]
    if min_p is not None:
        shifts = [
            s for s in report["signals"] if s["name"] == "class_mix_shift" and s["statistic"].get("p_value") is not None
        ]
        worst_shift = min(shifts, key=lambda s: s["statistic"]["p_value"], default=None)
        if worst_shift is None:
            out.append(RuleResult("class_mix.min_p_value", "pass", "no additions to test"))
        else:
            p = worst_shift["statistic"]["p_value"]
            status = "block" if p < min_p and worst_shift["flagged"] else "pass"
            out.append(
                RuleResult(
                    "class_mix.min_p_value",
                    status,
                    f"{worst_shift['explanation']} (p={p:.3g}, block below {min_p:g})",
                    statistic=worst_shift["statistic"],
                )
            )
    return out


def detector_rules(detection, pol, waived: set[tuple[str, str]]) -> tuple[list[RuleResult], list[dict], list[dict]]:
    """The gate's detector rules on a ``detectors.pipeline.Detection``.

    One verdict per record (``detectors.combine``) at the policy's ``fpr``:
    ``detectors.combined`` blocks when more records are flagged than a clean delta of
    that size flags except with probability ``alpha`` (binomial tail), and
    ``detectors.extreme`` blocks on any record whose combined p-value is below
    ``alpha / n`` (Bonferroni over the delta: a clean delta has such a record with
    probability below ``alpha``), whatever the budget; a waiver is the way through. A
    detector that crashed is an ``error`` rule (exit 3: the gate fails closed).
    A waiver names a record and ``combined`` or a detector that flags it on its own.
    """
    cfg = pol["detectors"]
    rules, detectors, findings = [], [], []
    for r in detection.results:
        detectors.append(
            {
                "detector": r.detector,
                "status": r.status,
                "error": r.error,
                "threshold": r.threshold,
                "scored": len(r.findings),
                "flagged": len(r.flagged),  # would flag alone; the combined entry is what blocks
                "waived": 0,
                "allowed": None,
            }
        )
        if r.status != "ok":
            rules.append(RuleResult(f"detectors.{r.detector}", "error", f"detector {r.detector} failed: {r.error}"))
    verdicts = detection.verdicts
    n = len(verdicts.records)

    def is_waived(v) -> bool:
        names = {"combined"} | {d["detector"] for d in v.detectors if d["flagged"]}
        return any((v.digest, name) in waived for name in names)

    flagged = [v for v in verdicts.flagged if not is_waived(v)]
    waived_count = len(verdicts.flagged) - len(flagged)
    budget = flag_budget(n, cfg["fpr"], cfg["alpha"])
    if cfg["max_flagged"] is not None:
        budget = min(budget, cfg["max_flagged"])
    records = sorted(
        (
            {
                "digest": v.digest,
                "detector": "combined",
                "score": round(v.score, 6),
                "p_value": v.p_value,
                "explanation": v.explanation,
                "detectors": v.detectors,
            }
            for v in flagged
        ),
        key=lambda x: -x["score"],
    )
    findings.extend(records)
    detectors.append(
        {
            "detector": "combined",
            "status": "ok",
            "error": None,
            "threshold": 1.0 - cfg["fpr"],
            "scored": n,
            "flagged": len(verdicts.flagged),
            "waived": waived_count,
            "allowed": budget,
        }
    )
    status = "block" if len(flagged) > budget else "pass"
    rules.append(
        RuleResult(
            "detectors.combined",
            status,
            f"{len(flagged)} of {n} records flagged by the combined verdict at FPR {cfg['fpr']:g}; a clean delta "
            f"flags at most {budget} (binomial, alpha {cfg['alpha']:g})"
            + (f"; {waived_count} waived" if waived_count else ""),
            records[:LISTED] if status == "block" else [],
            len(flagged),
            {
                "test": "binomial",
                "n": n,
                "flagged": len(flagged),
                "fpr": cfg["fpr"],
                "p_value": stats.binomial_sf(len(flagged), n, cfg["fpr"]) if n else 1.0,
                "method": verdicts.method,
            },
        )
    )
    extreme_p = cfg["alpha"] / max(n, 1)
    extreme = [x for x in records if x["p_value"] <= extreme_p]
    rules.append(
        RuleResult(
            "detectors.extreme",
            "block" if extreme else "pass",
            (
                f"{len(extreme)} record(s) lie far outside anything the base explains (combined p <= "
                f"{extreme_p:.2g} = alpha / n); they block whatever the budget unless waived"
                if extreme
                else f"no record beyond combined p {extreme_p:.2g} (alpha / n)"
            ),
            extreme[:LISTED],
            len(extreme),
            {"test": "bonferroni", "n": n, "alpha": cfg["alpha"], "p_threshold": extreme_p},
        )
    )
    return rules, detectors, findings


# --- the gate ------------------------------------------------------------------------------


def check(store: Store, new: str, base: str, pol: policy_lib.Policy | None = None, waiver_files=()) -> GateResult:
    """Evaluate ``new`` against ``base``; raises InputError (exit 2) only for bad arguments."""
    from provenance.detectors.pipeline import run_detection
    from provenance.diff.compare import diff_versions
    from provenance.gate.waivers import collect_waivers

    pol = pol or policy_lib.default_policy()
    store.version(base), store.version(new)  # unknown names are input errors, before any work
    if base == new:
        raise InputError(f"check {new} --base {base}: the base must be another version")
    result = GateResult(
        base,
        new,
        {"path": pol.path, "digest": pol.digest},
        "pass",
        [],
        checked_at=clock.now_iso(),
    )
    result.rules += integrity_rules(store, base, new, pol)
    if any(r.rule == "integrity.verify_signatures" and r.status == "block" for r in result.rules):
        result.decision = "blocked"  # nothing else can be trusted
        return result
    diff = diff_versions(store, base, new, limit=LISTED)
    report = diff.to_dict()
    result.summary = {k: report["summary"][k] for k in ("added", "removed", "relabeled", "records_new", "records_base")}
    result.rules += lineage_rules(store, new, report, pol)
    result.rules += diff_rules(report, pol)
    waived, result.waivers = collect_waivers(store, new, waiver_files)
    if pol["detectors"]["enabled"]:
        from provenance.detectors.registry import available_detectors

        installed = set(available_detectors())
        names = sorted(installed) if pol["detectors"]["run"] == "all" else list(pol["detectors"]["run"])
        for missing in sorted(set(names) - installed):
            result.rules.append(
                RuleResult(
                    f"detectors.{missing}", "error", f"detector {missing} is required by the policy but not installed"
                )
            )
        names = [n for n in names if n in installed]
        try:
            detection = run_detection(
                store, base, new, diff.delta["added"], diff.delta["relabeled"], names, pol["detectors"]["fpr"]
            )
        except InputError as exc:  # no profile, features that cannot be computed: cannot evaluate
            result.rules.append(RuleResult("detectors.run", "error", f"detectors could not run: {exc}"))
            detection = None
        except VerificationError as exc:  # the delta's records are not the signed ones
            result.rules.append(RuleResult("detectors.run", "block", f"detectors refused the delta: {exc}"))
            detection = None
        if detection is not None:
            rules, result.detectors, result.findings = detector_rules(detection, pol, waived)
            result.rules += rules
    if not result.rules:
        result.rules.append(RuleResult("policy", "error", "the policy has no rules; an empty policy fails closed"))
    statuses = {r.status for r in result.rules}
    result.decision = "error" if "error" in statuses else "blocked" if "block" in statuses else "pass"
    return result
