"""Waivers are judged, never trusted blindly: a malformed one signed by a trusted key is listed as ignored."""

from __future__ import annotations

from provenance import keys, signing
from provenance.gate.waivers import PREDICATE_TYPE, judge_waivers
from provenance.trust.roles import WAIVE


def _envelope(world, predicate: object) -> bytes:
    stmt = {
        "_type": signing.STATEMENT_TYPE,
        "subject": [{"name": "clean:x", "digest": {"sha256": "0" * 64}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
    return signing.canonical_json(signing.sign(stmt, keys.load_private(world.root / "maintainer.key")))


def test_a_malformed_waiver_signed_by_a_trusted_key_is_ignored_not_a_crash(gate_world):
    store = gate_world.store()
    role = store.pins.role_keys(WAIVE, store)
    given = [
        (_envelope(gate_world, ["not", "an", "object"]), "list.json"),
        (_envelope(gate_world, {"version": "clean", "reason": "no digest"}), "nodigest.json"),
    ]
    waivers = judge_waivers(store, "clean", given, role)
    assert waivers.waived == set() and waivers.report["honoured"] == []
    assert [w["why"] for w in waivers.report["ignored"]] == [
        "not a waiver (its predicate needs a digest and a detector)"
    ] * 2


def test_a_waiver_of_another_merkle_root_is_ignored(gate_world):
    store = gate_world.store()
    role = store.pins.role_keys(WAIVE, store)
    other_root = "ab" * 32
    pred = {"version": "clean", "merkleRoot": other_root, "digest": "0" * 64, "detector": "knn_label"}
    waivers = judge_waivers(store, "clean", [(_envelope(gate_world, pred), "w.json")], role)
    (ignored,) = waivers.report["ignored"]
    assert "another 'clean'" in ignored["why"]
