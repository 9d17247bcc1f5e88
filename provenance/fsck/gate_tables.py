"""fsck of the release gate's tables: every detector run, waiver and attestation has the
audit entry that recorded it, and every such audit entry has its rows."""

from __future__ import annotations

import sqlite3

from provenance.fsck.problems import Inspection

_GATE_TABLES = (
    # audit action, table, key column, the key's name in the entry's detail
    ("waiver", "waivers", "object", "object"),
    ("attest", "attestations", "object", "object"),
    ("detect", "detector_runs", "run", "run"),
)


def check_gate_entries(insp: Inspection) -> None:
    """Detector runs, waivers and attestations: each audit entry has its rows, and back."""
    for action, table, key, detail_key in _GATE_TABLES:
        try:
            have = {r[0] for r in insp.db.execute(f"select distinct {key} from {table}")}
        except sqlite3.OperationalError:
            have = set()
        logged = {e["detail_obj"].get(detail_key) for e in insp.by_action[action]}
        if action == "detect":  # runs `prov gc` dropped, as its audit entries name them
            logged -= {run for e in insp.by_action["gc"] for run in e["detail_obj"].get("runs", [])}
        for missing in sorted(x for x in logged - have if x):
            insp.error(
                "audit", f"audit log records a {action} ({str(missing)[:16]}) that is not in the store's {table}"
            )
        for extra in sorted(have - logged):
            insp.error(table, f"{table} row {str(extra)[:16]} has no audit entry (written outside prov?)")
        if action == "detect":
            _stray_findings(insp, logged)


def _stray_findings(insp: Inspection, logged: set) -> None:
    """``findings`` rows of a run no ``detect`` entry logs: ``prov findings`` ignores them (attack review 9, F1,
    planted them so), and ``prov quarantine --findings`` re-runs the detectors, but they are not prov's."""
    try:
        runs = {r[0] for r in insp.db.execute("select distinct run from findings")}
    except sqlite3.OperationalError:
        return
    for run in sorted(runs - logged, key=str):
        insp.error(
            "findings", f"findings rows of run {str(run)[:16]} have no detect audit entry (written outside prov?)"
        )
