"""fsck of the audit log: walk its hash chain, then replay it against the tables.

The rows of ``versions``, ``keys``, ``trust`` and ``batches`` are vouched for by the
audit entries that wrote them: every row must be the one its entry describes, and every
entry must have its row. (Versions are also vouched for by their signatures; see
``provenance.fsck.versions``.)
"""

from __future__ import annotations

import json

from provenance.errors import ProvError
from provenance.fsck import trust_rows
from provenance.fsck.gate_tables import check_gate_entries
from provenance.fsck.problems import Inspection
from provenance.store import audit, coverage
from provenance.store.audit import detail_json

CHECKED_ACTIONS = {
    "commit",
    "gc",
    "key.register",
    "key.revoke",
    "trust.add",
    "trust.revoke",
    "trust.retire",
    "batch.add",
    "batch.withdraw",
    "quarantine",
    "quarantine.rows",
    "detect",
    "check",  # a check's decision (gate.check_record): no row to replay; shown as an unsigned record
    "waiver",
    "attest",
}
"""Audit actions whose rows fsck replays; any other action is a warning."""


def check_audit(insp: Inspection) -> None:
    """Verify the chain, read every entry into ``insp.entries``/``insp.by_action``, then replay them."""
    db = insp.db
    try:
        audit.verify_chain(db)
        if insp.store is not None:  # checkpoints: signed by a key the store knows, matching the log
            found = coverage.verify_checkpoints(insp.store, insp.store.trusted_keys())
            for cp in found.not_relied_on:
                insp.warn("audit", f"checkpoint {cp['object'][:12]}: {cp['reason']} (not relied on)")
    except ProvError as exc:
        insp.error("audit", str(exc))
    entries = audit.entries(db)
    insp.report.checked["audit entries"] = len(entries)
    insp.entries = entries
    for e in entries:
        try:
            e["detail_obj"] = detail_json(e["detail"]) if e["detail"] else {}
        except (TypeError, json.JSONDecodeError):
            insp.error("audit", f"audit entry {e['seq']} ({e['action']}): detail is not JSON")
            e["detail_obj"] = {}
        if not isinstance(e["detail_obj"], dict):
            insp.error("audit", f"audit entry {e['seq']} ({e['action']}): detail is not a JSON object")
            e["detail_obj"] = {}
        insp.by_action[e["action"]].append(e)
    check_gate_entries(insp)
    for action in sorted(set(insp.by_action) - CHECKED_ACTIONS):
        insp.warn("audit", f"audit action {action!r} ({len(insp.by_action[action])} entries) is not checked by fsck")
    _replay_commits(insp)
    _replay_keys(insp)
    _replay_trust(insp)
    _replay_batches(insp)
    _replay_withdrawals(insp)


def _replay_withdrawals(insp: Inspection) -> None:
    """Each ``batch.withdraw`` entry names a registered batch and a withdrawal object the store holds;
    one the gate would not rely on (judged as ``prov sources`` judges it) is a warning saying why."""
    added = {e["subject"] for e in insp.by_action["batch.add"]}
    present = {p.name.split(".")[0] for p in (insp.root / "objects").glob("*")}
    missing = set()
    for e in insp.by_action["batch.withdraw"]:
        if e["subject"] not in added:
            insp.error("audit", f"audit entry {e['seq']} withdraws batch {e['subject']!r}, which was never registered")
        oid = e["detail_obj"].get("object")
        if not isinstance(oid, str) or oid not in present:
            missing.add(e["seq"])
            insp.error(
                "audit", f"audit entry {e['seq']} withdraws batch {e['subject']!r}: its signed withdrawal is missing"
            )
    if insp.store is None or not insp.by_action["batch.withdraw"]:
        return
    from provenance.lineage.withdraw import withdrawal_summary

    for judged in withdrawal_summary(insp.store):  # e.g. one planted from a copy of the store whose log diverged
        if judged["status"] != "withdrawn" and judged["seq"] not in missing:
            insp.warn(
                "audit",
                f"audit entry {judged['seq']}: the withdrawal of batch {judged['batch']!r} is not relied on: {judged['why']}",
            )


def _replay_commits(insp: Inspection) -> None:
    versions_rows = {r["tag"]: r for r in insp.rows("versions", "audit_seq")}
    commits = {e["subject"]: e for e in insp.by_action["commit"]}
    for tag, e in commits.items():
        row = versions_rows.get(tag)
        if row is None:
            insp.error("audit", f"audit entry {e['seq']} commits version {tag!r}, which is not in the store")
            continue
        pairs = {
            "merkle_root": "merkle_root",
            "manifest": "manifest_object",
            "envelope": "envelope_object",
            "keyid": "keyid",
            "parent": "parent",
            "dataset": "dataset",
        }
        compare(insp, f"version {tag}", e, e["detail_obj"], row, pairs)
        if row["audit_seq"] != e["seq"]:
            insp.error(
                f"version {tag}",
                f"version row points at audit entry {row['audit_seq']}, but its commit is entry {e['seq']}",
            )
    for tag in sorted(set(versions_rows) - set(commits)):
        insp.error(f"version {tag}", "no audit entry commits this version")
    if len(commits) != len(insp.by_action["commit"]):
        insp.error("audit", "a version is committed by more than one audit entry")


def _replay_keys(insp: Inspection) -> None:
    rows = {r["keyid"]: r for r in insp.rows("keys", "keyid")}
    regs = {e["subject"]: e for e in insp.by_action["key.register"]}
    for kid, e in regs.items():
        if kid not in rows:
            insp.error("keys", f"audit entry {e['seq']} registers key {kid[:16]}, which is not in the store")
            continue
        compare(
            insp, f"key {kid[:16]}", e, e["detail_obj"], rows[kid], {"name": "name", "registered_at": "registered_at"}
        )
    for kid in sorted(set(rows) - set(regs)):
        insp.error("keys", f"key {kid[:16]} has no audit entry registering it")


def _replay_trust(insp: Inspection) -> None:
    rows = {(r["source"], r["keyid"]): r for r in insp.rows("trust", "source, keyid")}
    adds, revokes = {}, {}
    for e in insp.by_action["trust.add"]:
        adds[(e["subject"], e["detail_obj"].get("keyid"))] = e
    for e in insp.by_action["trust.revoke"]:
        revokes[(e["subject"], e["detail_obj"].get("keyid"))] = e
    retired: dict[tuple, object] = {}  # prov trust retire shortens the row's window after its trust.add entry
    for e in insp.by_action["trust.retire"]:
        retired[(e["subject"], e["detail_obj"].get("keyid"))] = e["detail_obj"].get("valid_until")
    logged = trust_rows.restorable_of(insp)
    for k, e in adds.items():
        if k not in rows and k in logged:  # attack review 15, A15-3: the rows deleted, the signed entry logged
            insp.error("trust", trust_rows.missing_words(logged[k]), repairable=True)
            continue
        if k not in rows and "statement" in e["detail_obj"]:
            insp.error(
                "trust",
                f"trust entry of key {str(k[1])[:16]} for {k[0]!r} logged at audit entry {e['seq']}, its trust rows "
                f"missing, and its signed statement {str(e['detail_obj']['statement'])[:16]} missing, altered or not "
                "verifying under your pins: restore .prov/ from a copy, or trust the key again (prov trust add)",
            )
            continue
        if k not in rows:
            insp.error(
                "trust",
                f"audit entry {e['seq']} trusts key {str(k[1])[:16]} for {k[0]!r}, which is not in the store",
            )
            continue
        compare(
            insp,
            f"trust {k[0]}/{k[1][:16]}",
            e,
            e["detail_obj"] | ({"valid_until": retired[k]} if k in retired else {}),
            rows[k],
            {"valid_from": "valid_from", "valid_until": "valid_until", "name": "name", "added_at": "added_at"},
        )
    for k in sorted(set(rows) - set(adds)):
        insp.error("trust", f"trust of key {k[1][:16]} for {k[0]!r} has no audit entry adding it")
    for k, row in rows.items():
        revoke = revokes.get(k)
        if revoke is None and (row["revoked_at"] is not None or row["revoked_reason"] is not None):
            insp.error("trust", f"key {k[1][:16]} of {k[0]!r} is marked revoked, but no audit entry revokes it")
        if revoke is not None:
            if row["revoked_at"] is None:
                insp.error(
                    "trust",
                    f"audit entry {revoke['seq']} revokes key {k[1][:16]} of {k[0]!r}, but the store shows it unrevoked",
                )
            compare(
                insp,
                f"trust {k[0]}/{k[1][:16]}",
                revoke,
                revoke["detail_obj"],
                row,
                {"reason": "revoked_reason", "revoked_at": "revoked_at"},
            )
    for k in sorted(set(revokes) - set(rows)):
        insp.error("trust", f"audit entry {revokes[k]['seq']} revokes a key that is not in the store")


def _replay_batches(insp: Inspection) -> None:
    rows = {r["batch"]: r for r in insp.rows("batches", "audit_seq")}
    twice = audit.registered_twice(insp.db)
    if twice:
        insp.error("audit", twice)
    added: dict[str, dict] = {}
    for e in insp.by_action["batch.add"]:
        added.setdefault(e["subject"], e)  # the first entry; a second one is the error above
    for bid, e in added.items():
        row = rows.get(bid)
        if row is None:
            insp.error("batches", f"audit entry {e['seq']} adds batch {bid!r}, which is not in the store")
            continue
        d = dict(e["detail_obj"])
        if "signed" in d:
            d["signed"] = int(bool(d["signed"]))
        compare(
            insp,
            f"batch {bid}",
            e,
            d,
            row,
            {
                "source": "source",
                "signed": "signed",
                "keyid": "keyid",
                "merkle_root": "merkle_root",
                "records": "records",
                "envelope": "envelope_object",
                "manifest": "manifest_object",
                "data": "data",
                "added_at": "added_at",
                "captured_at": "captured_at",
            },
        )
        if row["audit_seq"] != e["seq"]:
            insp.error(
                f"batch {bid}",
                f"batch row points at audit entry {row['audit_seq']}, but it was added by entry {e['seq']}",
            )
    for bid in sorted(set(rows) - set(added)):
        insp.error(f"batch {bid}", "no audit entry adds this batch")


def compare(insp: Inspection, check: str, entry: dict, detail: dict, row: dict, pairs: dict[str, str]) -> None:
    """Each field the audit entry recorded (``pairs``: detail key -> row column) must equal the row's.

    Fields the entry did not record are skipped.
    """
    for dkey, col in pairs.items():
        if dkey in detail and detail[dkey] != row.get(col):
            insp.error(
                check, f"{col} is {row.get(col)!r} in the store but {detail[dkey]!r} in audit entry {entry['seq']}"
            )
