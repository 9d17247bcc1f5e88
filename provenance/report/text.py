"""The text format: ``FORMATTER`` maps diff and check reports to their text renderers, and
``render_findings`` writes ``prov findings``' report.

Text for a terminal: the verdict first, one line per flagged record, then the per-source
view. The diff report is laid out in ``text_diff.py``, the check report in
``text_check.py``, the tables they share in ``text_tables.py``.
"""

from __future__ import annotations

import shlex

from provenance.report.flagged import flagged_record, one_detector
from provenance.report.interface import PLAIN, Formatter, Medium
from provenance.report.terminal import Writer
from provenance.report.text_check import render_check
from provenance.report.text_diff import render_diff
from provenance.report.text_tables import alone_note, detectors_grid, flagged_blocks, flagged_grid
from provenance.report.waiver_words import waived_elsewhere_text
from provenance.report.wording import plural

ALPHA = 0.001  # the default policy's detectors.alpha: what "expected at most" is judged at, as prov diff does


def _as_diff_detection(result: dict, combined: dict | None) -> dict:
    """A stored run's detectors in a diff report's shape, so ``prov findings`` prints the Detectors table
    ``prov diff`` and ``prov check`` print (newcomer review 8, finding 13: three renderings of one table).
    Each detector's ``expected_at_most`` is recomputed from what was stored (records scored, the FPR), as
    ``prov diff`` computes it; the combined verdict's budget rests on the reference's batches, which the
    run does not store, so its row shows one only after ``--recompute`` (the re-run computes it)."""
    from provenance import stats

    fpr = combined["fpr"] if combined else None
    detectors = [
        d
        | {
            "expected_at_most": (
                stats.binomial_upper_limit(int(d["scored"]), fpr, ALPHA) if fpr and d.get("scored") else None
            )
        }
        for d in result["detectors"]
        if d["detector"] != "combined"
    ]
    summary = {"fpr": fpr, "scored": combined["scored"], "flagged": combined["flagged"]} if combined else {}
    recomputed = result.get("recomputed") or {}
    if summary and recomputed.get("expected_at_most") is not None:  # the re-run has the base's batches
        summary["expected_at_most"] = recomputed["expected_at_most"]
    return {"detectors": detectors, "detection": summary}


def render_findings(result: dict, medium: Medium = PLAIN) -> str:
    """``prov findings V``: the stored run's combined verdict, each detector (ran or error, what it alone
    flags), then the records one line each, worst first (``stored_findings``'s dict, see
    ``schemas/findings.schema.json``)."""
    out = Writer(medium)
    version = result.get("version") or ""
    combined = next((d for d in result["detectors"] if d["detector"] == "combined"), None)
    verdict = (
        f"{combined['flagged']} of {combined['scored']} records flagged by the combined verdict "
        f"at FPR {combined['fpr']:g} (its false-alarm rate on clean records)"
        if combined
        else "no combined verdict stored"
    )
    if combined and not combined["scored"]:  # as prov check words an empty delta, not "0 of 0 records flagged"
        ran = sum(1 for d in result["detectors"] if d["detector"] != "combined" and d["status"] == "ran")
        verdict = f"nothing to score (no record added or relabeled); {plural(ran, 'detector')} ran on none"
    waived = [f for f in result["findings"] if f.get("waived")]
    if waived:
        verdict += f"; {len(waived)} waived by a reviewer (marked waived below)"
    failed = [d["detector"] for d in result["detectors"] if d["status"] != "ran"]
    if failed:
        verdict += f"; {plural(len(failed), 'detector')} failed: {', '.join(failed)} (the gate fails closed)"
    out.line(("Findings ", "bold"), f"for {version} against base {result['base']} ({_which_run(result)}): {verdict}")
    if result.get("from_rows"):
        out.line(
            ("Not verified: ", "bold"),
            f"run {result['run']} predates findings objects and is read from store rows, which a .prov/ writer can "
            f"edit; `prov diff BASE {shlex.quote(version)} --detect` recomputes it",
        )
    out.grid(detectors_grid(_as_diff_detection(result, combined)))
    if combined and combined["scored"] and not result.get("recomputed"):  # newcomer review 24: said in no output
        v, b = shlex.quote(version), shlex.quote(str(result["base"]))
        out.line(
            f"combined: a stored run keeps no budget (what a clean delta flags); prov findings {v} --base {b} "
            f"--recompute or prov check {v} --base {b} shows it"
        )
    _trust_lines(out, result, version)  # after the verdict and the Detectors table, before the records
    records = [flagged_record(f) for f in result["findings"]]
    records.sort(key=lambda r: (not r.flagged, -r.score, r.p_value if r.p_value is not None else 1.0, r.digest))
    every = any(not r.flagged for r in records)  # --all: every scored record, not only the flagged
    if result.get("detector"):  # --detector NAME: its flags, its score, its evidence (newcomer review 22, item 6)
        records = [one_detector(f, result["detector"]) for f in result["findings"]]
        every = any(result["detector"] not in r.detectors for r in records)
    if result.get("detector") and not records:  # one line, not an empty table (attack review 23a, noticed)
        what = "scored no record" if result.get("all_records") else "flags no record on its own"
        out.line(f"{result['detector']} {what} in this run")
        return out.text()
    listed = flagged_grid(records, "", limit=None, wide=medium.wide)  # the listing command: every record, for `| less`
    if result.get("detector"):
        listed.title = f"Records {result['detector']} {'scored' if every else 'flags'}"
        combined_too = sum(1 for f in result["findings"] if f.get("flagged"))
        listed.note = alone_note(
            records,
            f"({len(records)}, by its score; score and evidence are {result['detector']}'s; "
            f"the combined verdict flags {combined_too} of them)",
        )
    elif every:
        listed.title = "Scored records (flagged first)"
    out.grid(listed)
    if medium.wide:  # each record whole: every detector that flags it, its whole evidence (newcomer review 16, #7)
        flagged_blocks(out, records)
    if (elsewhere := waived_elsewhere_text(result["findings"], version)) is not None:
        out.line((elsewhere, "yellow"))
    for f in waived:  # who waived what, and why: the reviewer's reason as they typed it (escaped)
        w = f["waived"]
        reviewer = f", key {str(w['reviewer'])[:16]}" if w.get("reviewer") else ""
        out.line(
            ("waived ", "yellow"),
            f"{f['digest'][:12]} by {w['waiver']} ({w['detector']}{reviewer}): {w.get('reason') or 'no reason given'}",
        )
    return out.text()


def _which_run(result: dict) -> str:
    """``run 3f00b72e320a02d2`` with ``--base``; without it, that it is the newest run and the other bases stored
    (newcomer review 17, F4: the newest run was shown whatever its base, and the reader could not pick another)."""
    run = f"run {result['run']}"
    if result.get("base_given"):
        return run
    others = [b for b in result.get("bases") or [] if b != result["base"]]
    also = f"; runs against {', '.join(others)} too: --base B shows one" if others else ""
    return f"{run}, the newest stored{also}"


def _trust_lines(out: Writer, result: dict, version: str) -> None:
    """Whether a signature the verifier pinned covers the run, and what ``--recompute`` found
    (``detectors.findings_trust``): a run in ``.prov/`` that nothing signed is said to be so."""
    recomputed = result.get("recomputed")
    if recomputed:
        out.line(
            ("Recomputed: ", "bold"),
            f"the {len(recomputed['detectors'])} detectors it names, re-run on the signed versions {recomputed['base']} "
            f"and {version} at FPR {recomputed['fpr']:g}, flag the same {recomputed['flagged']} of "
            f"{recomputed['records']} records with the same scores as this stored run; the records below are the "
            "re-run's",
        )
        if recomputed.get("class_free"):
            out.line(
                ("Judged as its check did: ", "bold"),
                "added records of "
                + ", ".join(repr(c) for c in recomputed["class_free"])
                + " on class-free evidence only, as the stored run says its check judged them (expected new classes)",
            )
        wording = recomputed.get("wording")
        if wording:
            out.line(
                ("Wording: ", "bold"),
                f"written by prov {wording['written_by'] or '(an older one, no version kept)'}; recomputed with "
                f"{wording['recomputed_with']}: {wording['explanations_differ']} explanation(s) differ in wording "
                f"(first: {wording['first']}), verdicts/scores equal",
            )
    elif result.get("covered_by"):
        # A signed head covers whatever the log held when it was signed, planted runs included
        # (attack review 10, F10-1): it dates the run, it does not vouch for it.
        out.line(
            ("Not checked: ", "bold"),
            f"its audit entry #{result['audit_entry']} was in the log when {result['covered_by']} was signed (a key "
            "you pinned); that signature covers the log, not who ran the detectors or what they found; "
            f"prov findings {shlex.quote(version)} --recompute re-runs them on the signed versions and compares before you waive",
        )
    elif not result.get("from_rows"):
        out.line(
            ("Not signed: ", "bold"),
            f"a local run (its audit entry #{result.get('audit_entry')}): a prov diff --detect or prov check stores its "
            "findings unsigned, so right after your own run this is usual; prov cannot tell it from a run planted by "
            "whoever can write .prov/. A signed checkpoint covers them once one is signed (prov check ... --attest "
            f"--key K, the next commit, or prov audit checkpoint --key K); before you waive, prov findings "
            f"{shlex.quote(version)} --recompute re-runs the detectors on the signed versions and compares",
        )


FORMATTER = Formatter(diff=render_diff, check=render_check)
