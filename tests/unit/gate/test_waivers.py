"""Waivers are judged, never trusted blindly: a malformed one signed by a trusted key is listed as ignored."""

from __future__ import annotations

import pytest

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


def test_a_digest_prefix_names_one_record_or_is_refused():
    import pyarrow as pa

    from provenance.errors import InputError
    from provenance.gate.waivers import resolve_digest

    a, b, c = (bytes.fromhex("0123456789ab" + x * 52) for x in ("c", "d", "e"))
    digests = pa.chunked_array([pa.array([a, b], pa.binary(32)), pa.array([c], pa.binary(32))])
    assert resolve_digest(digests, a.hex()[:13], "v1") == a.hex()  # odd length: half a byte
    assert resolve_digest(digests, c.hex(), "v1") == c.hex()
    with pytest.raises(InputError, match="3 records of v1 start with it; give more of it"):
        resolve_digest(digests, "0123456789ab", "v1")
    with pytest.raises(InputError, match="no record of v1 has this digest"):
        resolve_digest(digests, "0123456789aa", "v1")
