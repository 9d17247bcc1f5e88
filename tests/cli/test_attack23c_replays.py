"""Attack review 23c: replays of what still goes wrong after fix23a (attack review 23a's fixes). Each fails on the code
it attacks (xfail(strict=True) with the finding in the reason)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from provenance import keys
from support import plant_findings, plant_pending_entry, plant_raw_entry, succeeded

PINNED = ("--signer", "maintainer.pub")


def test_a_deeply_nested_revocation_detail_is_no_internal_error(prov, template_trust, workdir):
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    nested = "[" * 100_000 + "]" * 100_000
    plant_raw_entry(db_path, "trust.revoke", "vendor", f'{{"keyid": "{vendor}", "reason": {nested}}}')
    plant_raw_entry(db_path, "key.revoke", "0" * 64, nested)
    for command in (("trust", "list"), ("sources",), ("show", "v2"), ("log",)):
        r = prov(*command, *PINNED)
        assert r.exit_code != 3 and "internal error" not in r.output, (command, r.output[-300:])


def test_a_flood_of_planted_revocation_entries_does_not_flood_the_lists(prov, template_trust, workdir):
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    succeeded(prov, "trust", "revoke", "vendor", "--key-id", vendor, "--reason", "laptop stolen", "--yes",
              "--checkpoint-key", "maintainer.key", *PINNED)  # fmt: skip
    for i in range(500):
        detail = {"keyid": vendor, "reason": f"rotated {i}", "revoked_at": "2026-01-01T00:00:00+00:00"}
        plant_raw_entry(db_path, "trust.revoke", "vendor", json.dumps(detail))
    detail = {"keyid": vendor, "reason": "rotated", "revoked_at": "9" * 100_000}
    plant_raw_entry(db_path, "trust.revoke", "vendor", json.dumps(detail))
    for command in (("trust", "list"), ("sources",)):
        out = succeeded(prov, *command, *PINNED).stdout
        assert '"laptop stolen"' in out, command
        longest = max(len(line) for line in out.splitlines())
        assert longest < 5_000, (command, longest)
        # fixed (fix23c): the first five, the last and the count; each time cut to 80 characters
        assert "the log holds 502 revocation entries" in out and ", ..., " in out and "(502 entries)" in out, command
        assert longest < 2_000 and "9" * 81 not in out, (command, longest)


PLANTED_FINDING = {
    "a detector entry that is a string": {
        "detectors": ["junk", {"detector": "knn_label", "flagged": True, "score": 1}]
    },
    "a detector entry without a name": {"detectors": [{"flagged": True}, {"detector": "knn_label", "flagged": True}]},
    "a score that is not a number": {"score": "abc"},
    "a detectors list that is an object": {"detectors": {"detector": "knn_label", "flagged": True}},
}


@pytest.mark.parametrize("planted", list(PLANTED_FINDING))
def test_findings_lists_a_planted_findings_object_with_malformed_entries_not_a_crash(
    prov, template_trust, workdir, planted
):
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)
    plant_findings(workdir, "v2", lambda d: d["findings"][0].update(PLANTED_FINDING[planted]))
    for extra in ((), ("--all",), ("--detector", "knn_label", "--all")):
        r = prov("findings", "v2", *extra, *PINNED)
        assert r.exit_code != 3 and "internal error" not in r.output, (extra, r.output)
        # fix23c listed such a run, a malformed entry skipped; since fix32g (A32c-4) the stored run's shape is
        # checked before anything is listed: a planted malformed run is refused as what it is, exit 1 naming it
        assert r.exit_code == 1 and "the stored run is not what prov stores" in r.output, (extra, r.output[-300:])
        assert "look for who wrote .prov/" in r.output, (extra, r.output[-300:])


@pytest.mark.parametrize("by", ["maintainer", "planted"])
def test_log_warns_as_show_does_after_a_retirement_ends_a_key_window_before_its_batch(
    prov, template_trust, workdir, by
):
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    if by == "maintainer":
        succeeded(prov, "trust", "retire", "vendor", "--key-id", vendor[:16], "--at", "2020-01-01T00:00:00+00:00",
                  "--yes", "--key", "maintainer.key", *PINNED)  # fmt: skip
    else:  # a .prov/ writer's chain-valid pending entry: honoured (it only takes trust away), fail closed in show
        detail = {"keyid": vendor, "valid_until": "2020-01-01T00:00:00+00:00"}
        plant_pending_entry(workdir / ".prov" / "prov.db", "trust.retire", "vendor", detail)
    shown = json.loads(succeeded(prov, "show", "v2", "--json", *PINNED).stdout)["attestations"]
    assert [a["verified"] for a in shown] == [True] and "outside that key's validity window" in shown[0]["warning"]
    logged = json.loads(succeeded(prov, "log", "--json", *PINNED).stdout)["versions"]
    item = next(r for r in logged if r["tag"] == "v2")["attestations"][0]
    assert item["verified"] and item["warning"] == shown[0]["warning"], item


@pytest.mark.parametrize("action", ["trust.retire", "commit", "batch.add"])
def test_a_deeply_nested_audit_detail_is_no_internal_error_in_check_fsck_or_audit_verify(
    prov, template_trust, workdir, action
):
    nested = "[" * 100_000 + "]" * 100_000
    db_path = workdir / ".prov" / "prov.db"
    planted = plant_raw_entry(db_path, action, "v2" if action == "commit" else "vendor", nested)
    with sqlite3.connect(db_path) as db:  # its number: the fixture's own commands and checks came before it
        (seq,) = db.execute("select seq from audit where hash = ?", [planted]).fetchone()
    for command in (("check", "v3", "--base", "v2"), ("fsck",), ("audit", "verify")):
        r = prov(*command, *PINNED)
        assert r.exit_code != 3 and "internal error" not in r.output, (command, r.output[-300:])
    # fixed (fix23c): read as malformed JSON is: fsck names the entry, check blocks (exit 1)
    fsck = prov("fsck", *PINNED)
    named = f"audit entry {seq} ({action}): detail is not JSON"
    assert fsck.exit_code == 1 and named in fsck.output, fsck.output[-300:]
    assert prov("check", "v3", "--base", "v2", *PINNED).exit_code == 1


def test_findings_and_findings_detector_agree_on_a_planted_non_boolean_flag(prov, template_trust, workdir):
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)

    def flag_as_one(doc: dict) -> None:
        first = doc["findings"][0]
        first["detectors"] = [d for d in first["detectors"] if d["detector"] != "knn_label"]
        first["detectors"].append({"detector": "knn_label", "flagged": 1, "score": 99.0})

    plant_findings(workdir, "v2", flag_as_one)
    # fix23c read a planted 1 as not flagged everywhere; since fix32g (A32c-4) the run's shape is checked first, so
    # prov findings and --detector agree by refusing it alike (exit 1, naming the run), never listing it two ways
    for extra in ((), ("--detector", "knn_label", "--json")):
        r = prov("findings", "v2", *extra, *PINNED)
        assert r.exit_code == 1 and "the stored run is not what prov stores" in r.output, (extra, r.output[-300:])


def test_a_deeply_nested_waiver_entry_is_no_internal_error_in_check_or_findings(prov, template_trust, workdir):
    """fix23c, A23c-1's waiver sites (found while fixing, no replay of its own): the waiver readers took every
    ``waiver`` entry's detail as a JSON object; a nested (or any malformed) one now names no waiver."""
    succeeded(prov, "diff", "v2", "v3", "--detect", *PINNED)
    before = prov("check", "v3", "--base", "v2", *PINNED).exit_code
    plant_raw_entry(workdir / ".prov" / "prov.db", "waiver", "v3", "[" * 100_000 + "]" * 100_000)
    plant_raw_entry(workdir / ".prov" / "prov.db", "waiver", "v3", "[1, 2]")
    r = prov("check", "v3", "--base", "v2", *PINNED)
    assert r.exit_code == before and "internal error" not in r.output, r.output[-300:]
    r = prov("findings", "v3", *PINNED)
    assert r.exit_code == 0 and "internal error" not in r.output, r.output[-300:]


@pytest.mark.parametrize("detail", ["[" * 100_000 + "]" * 100_000, "{not json"])
def test_a_malformed_detect_entry_is_no_internal_error_in_findings(prov, template_trust, workdir, detail):
    """Left open by fix23c: ``prov findings`` read ``detect`` entries with SQLite's json_extract, which raises on a
    planted malformed or too deeply nested detail (exit 3). It now reads such an entry as naming no run, and
    lists the run the newest readable entry names."""
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)
    before = succeeded(prov, "findings", "v2", "--json", *PINNED).stdout
    plant_raw_entry(workdir / ".prov" / "prov.db", "detect", "v2", detail)
    r = prov("findings", "v2", "--json", *PINNED)
    assert r.exit_code == 0 and "internal error" not in r.output, r.output[-300:]
    assert json.loads(r.stdout)["run"] == json.loads(before)["run"]
