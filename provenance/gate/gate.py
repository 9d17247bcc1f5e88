"""The release gate: evaluate a new version against a trusted base under a policy.

``check`` builds the context (what the rules read, computed when first asked), turns
the policy into composed rules (``provenance.gate.policy.rule_set``), evaluates them and
reports a ``GateResult``. The decision is one of four (``results.decision_of``):
``pass`` and ``warned`` (exit 0; a warning is stated in the report and the attestation),
``blocked`` (exit 1, every blocking rule names its records) or ``error`` (exit 3: a
detector crashed, a required check could not run, or no rule ran; the gate fails closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from provenance import clock
from provenance.errors import InputError
from provenance.gate import detection
from provenance.gate import policy as policy_lib
from provenance.gate.base import Requires, RuleSet
from provenance.gate.base_release import DECLARED, UNRELEASED, base_release
from provenance.gate.context import GateContext
from provenance.gate.kept_states import KeptLogStates, KeptState
from provenance.gate.results import GateResult, decision_of, scored_rows
from provenance.gate.store_scope import for_check
from provenance.gate.waivers import read_waiver_files, with_effects
from provenance.lineage.lineage_cache import lineage_cache
from provenance.sources.schema_delta import changed
from provenance.store import Store
from provenance.trust.pins import pins_of
from provenance.trust.scope import scoped
from provenance.version_facts import manifest_cache, statement_cache

# The diff counts a GateResult's ``summary`` carries (schemas/check.schema.json).
SUMMARY_KEYS = ("added", "removed", "relabeled", "records_new", "records_base")
# carried only when the schema changed
SCHEMA_KEYS = ("schema_changes", "schema_delta", "rekeyed", "rekeyed_relabeled", "rekeyed_by", "rekeyed_note")


def evaluate(ctx: GateContext, rules: RuleSet, policy: policy_lib.Policy) -> GateResult:
    """Evaluate composed ``rules`` in ``ctx`` and report the outcome under ``policy``'s name and digest.

    Args:
        ctx: the gate context of one (base, new) pair; what the rules read is computed on
            first use and cached there.
        rules: the composed rules (``policy.rule_set``); a rule reports a finding as a
            ``block`` result, never by raising.
        policy: the policy the rules came from; only its ``path`` and ``digest`` are read.

    Returns:
        A ``GateResult`` stamped with the time of the check (UTC, ISO 8601), its
        ``decision`` from ``results.decision_of`` (no result at all is ``error``). The
        summary and waivers are reported when the check got as far as diffing (not when
        the signatures failed); the detector rows and findings when the detectors ran;
        ``audit`` always (how much of the audit log is signed).

    Raises:
        FeatureError: (an ``InputError``, exit 2) new records that cannot be featurised,
            as ``GateContext.detection`` raises it. A detector run that fails otherwise is
            an ``error`` result, not an exception.
    """
    checked_at = clock.now_iso()
    results = rules.evaluate(ctx)
    result = GateResult(
        ctx.base, ctx.new, {"path": policy.path, "digest": policy.digest}, decision_of(results), results
    )
    result.checked_at = checked_at
    if ctx.computed("diff"):
        result.summary = {k: ctx.report["summary"][k] for k in SUMMARY_KEYS}
        if changed(ctx.report["summary"].get("schema_delta") or {}):  # and how the records it re-keyed were paired
            result.summary |= {k: ctx.report["summary"].get(k) for k in SCHEMA_KEYS}
        if ctx.report["summary"].get("metadata_added"):  # columns read in no digest the base did not (A24d-2)
            result.summary["metadata_added"] = ctx.report["summary"]["metadata_added"]
        result.waivers = ctx.waivers.report
        # the batches whose records the lineage rules no longer count as attested (a revoked key): say so
        result.lineage_not_trusted = list(ctx.report["lineage"].get("not_trusted", {}).get("new", []))
    result.detectors, result.findings = detection.summarise(ctx, results)
    if ctx.computed("diff") and ctx.detection_run is not None and ctx.detection_run.detection is not None:
        extreme = next((r for r in results if r.rule == "detectors.extreme" and r.statistic), None)
        threshold = extreme.statistic.get("p_threshold") if extreme and extreme.statistic else None
        run = ctx.detection_run.detection
        verdicts = run.verdicts.records
        # by row (digest, label): a waiver of one row of a digest held under two labels is not the other's (S10b-1)
        scanned = any(r.rule == "detectors.relabels" for r in results)  # the rule ran: it counts the relabels
        relabel_rows: set[tuple[str, str | None]] = {
            (v.digest, label)
            for v, label, kind in zip(verdicts, run.labels, run.kinds or [])
            if scanned and kind == "relabeled"
        }
        result.waivers = with_effects(result.waivers, verdicts, threshold, run.labels, relabel_rows)
        extreme_p: dict[tuple[str, str | None], float] = {
            (v.digest, label): v.extreme_p for v, label in zip(verdicts, run.labels)
        }
        flagged_rows = {(v.digest, label) for v, label in zip(verdicts, run.labels) if v.flagged}
        for w in result.waivers["honoured"]:  # the rule each waived record would have blocked by (SARIF)
            if w.get("effect") == "waived":
                p = extreme_p.get((w["digest"], w.get("label")))
                flagged_row = (w["digest"], w.get("label")) in flagged_rows
                w["rule"] = (
                    "detectors.extreme"
                    if threshold is not None and p is not None and p <= threshold
                    else "detectors.combined"
                    if flagged_row or (w["digest"], w.get("label")) not in relabel_rows
                    else "detectors.relabels"
                )
        _count_signed_copies(ctx, results, run, threshold)
    if ctx.computed("diff") and result.findings:  # other versions' waivers naming a record flagged here: said
        from provenance.gate.waivers_elsewhere import mark_waived_elsewhere

        signed = ctx.audit_coverage.signed
        result.waivers["ignored"] += mark_waived_elsewhere(ctx.store, ctx.new, result.findings, ctx.waive_role, signed)
    if ctx.computed("diff"):
        rows = ctx.delta_rows if ctx.computed("delta_rows") else None
        result.describe_records(ctx.diff.records, ctx.report["by_source"], scored_rows(rows))
    result.audit = ctx.audit_coverage.to_dict()
    return result


def _count_signed_copies(ctx: GateContext, results: list, run, threshold: float | None) -> None:
    """Each blocking detector rule's statistic gains ``signed_copies`` (``gate.signed_copies``): whether its flagged
    signed records are as their sources signed them, which ``report.next_steps`` reads before pointing at a
    source's key (attack review 31d, A31d-6)."""
    from provenance.gate.signed_copies import KEY, flagged_beyond_signed

    blocking = [r for r in results if r.rule.startswith("detectors.") and r.status == "block"]
    blocking = [r for r in blocking if isinstance(r.statistic, dict)]
    if blocking:
        counts = flagged_beyond_signed(ctx, run, threshold)
        for r in blocking:
            r.statistic[KEY] = counts


def check(
    store: Store,
    new: str,
    base: str,
    pol: policy_lib.Policy | None = None,
    waiver_files: Iterable[str] = (),
    save_findings: bool = True,
    base_unreleased: bool = False,
    base_attestations: Sequence[str] = (),
    kept_states: Sequence[KeptState] = (),
) -> GateResult:
    """Evaluate version ``new`` against the trusted ``base`` under ``pol`` (default: the built-in policy).

    Args:
        store: the open store, carrying the verifier's pins (``store.pins``; required).
        new: the candidate version's tag.
        base: the trusted base version's tag.
        pol: the policy (``provenance.gate.policy.load``); None for the default.
        waiver_files: files of signed waivers (DSSE envelopes) besides the stored ones.
        save_findings: store the detector run (``prov findings``); False leaves the store as it was
            (``prov check --no-save``). The decision is the same either way.
        base_unreleased: the caller trusts a never-released base anyway (``prov check --base-unreleased``):
            the result's ``base_release`` standing reads ``declared`` instead of ``unreleased``.
        base_attestations: release attestation files of ``base`` kept outside the store
            (``--base-attestation``; ``base_release.kept_release`` checks each).
        kept_states: log states kept outside the store (``--checkpoint FILE``, read by
            ``kept_states.read_kept_states``): the rule ``integrity.kept_log_state`` requires the audit
            log to hold each and runs first; when it blocks no other rule runs (attack review 16, F1).

    Returns:
        The ``GateResult``; its ``exit_code`` is 0 (pass), 1 (blocked) or 3 (could not evaluate).

    Raises:
        InputError: a policy naming a detector not installed here, nothing pinned
            (``--signer``), an unknown version, the same version as
            its own base, or an unreadable waiver file (exit 2), before anything is
            evaluated; a ``FeatureError`` (exit 2) when new records cannot be featurised
            (NaN, an undecodable file, another feature dimension), naming them.
    """
    pol = pol or policy_lib.default_policy()
    policy_lib.require_known_detectors(pol)
    pins_of(store).require_trust_decision(f"prov check {new}")
    store.version(base), store.version(new)  # unknown names are input errors, before any work
    if base == new:
        raise InputError(f"prov check {new} --base {base}: the base must be another version")
    envelopes = read_waiver_files(waiver_files)
    from provenance.gate.detection_common import FPR
    from provenance.gate.rules import setting_value

    # a waiver that signs the base and rate it was judged at holds only in a check at both (attack review 34f, A34f-1)
    judged = (base, store.version(base)["merkle_root"], float(setting_value(pol.settings, FPR)))
    ctx = GateContext(store, base, new, waiver_envelopes=envelopes, save_findings=save_findings, waivers_judged=judged)
    # each version's signature verified, and its manifest decoded, once per check, not once per rule
    with statement_cache(), manifest_cache():
        # trust entries count only for the store id base signed, up to the candidate's signed audit head
        # (trust.scope; attack review 16c, C16-2)
        # each version's lineage read and judged once per check, not once per rule (lineage.lineage_cache)
        with scoped(store, for_check(store, base, new)), lineage_cache():
            rules = policy_lib.rule_set(pol)
            if kept_states:  # whatever the policy turns off: the caller asked for these states to be held
                rules = Requires(KeptLogStates(kept_states), rules)
            result = evaluate(ctx, rules, pol)
            # after the rules: the run holds the verdicts they judged by (A31d-2); its id tells the caller whether
            # the check wrote to the store (api_review records the check only then)
            result.detection_saved = ctx.save_detection()
            # a blocked version is no trusted base (newcomer review 12, finding 8): say what the base is
            result.base_release = base_release(store, base, new, base_attestations)
        if base_unreleased and result.base_release["standing"] == UNRELEASED:
            result.base_release["standing"] = DECLARED
        return result
