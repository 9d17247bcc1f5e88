"""Properties, checked on many generated cases (hypothesis): the canonical encoding, Merkle
proofs and DSSE parsing hold for every input, not just the ones we thought of."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from provenance import encoding, merkle, signing
from provenance.errors import InputError, VerificationError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- canonical encoding -----------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=20),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


def _norm(v):
    """What the encoding promises to keep apart: type and value, with -0.0 == 0.0 and one NaN."""
    if isinstance(v, float):
        return ("F", "nan" if math.isnan(v) else (0.0 if v == 0.0 else v))
    if isinstance(v, bool):
        return ("B", v)
    if isinstance(v, list):
        return ("L", tuple(_norm(x) for x in v))
    return (type(v).__name__, v)


def _decode(data: bytes, at: int = 0):
    """An independent decoder: the encoding is self-delimiting iff this reads it back exactly."""
    tag = data[at : at + 1]
    n, shift, at = 0, 0, at + 1
    while True:
        b = data[at]
        at += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    payload, end = data[at : at + n], at + n
    if tag == b"N":
        return None, end
    if tag == b"B":
        return payload == b"\x01", end
    if tag == b"I":
        return struct.unpack(">q", payload)[0], end
    if tag == b"F":
        return struct.unpack(">d", payload)[0], end
    if tag == b"S":
        return payload.decode(), end
    if tag == b"Y":
        return payload, end
    if tag == b"L":
        items, i = [], 0
        while i < len(payload):
            item, i = _decode(payload, i)
            items.append(item)
        return items, end
    raise AssertionError(f"unknown tag {tag!r}")


@SETTINGS
@given(values)
def test_encoding_round_trips_so_it_is_injective(v):
    enc = encoding.encode_value(v)
    back, end = _decode(enc)
    assert end == len(enc)
    assert _norm(back) == _norm(v)


@SETTINGS
@given(values, values)
def test_distinct_values_have_distinct_encodings(a, b):
    assert (encoding.encode_value(a) == encoding.encode_value(b)) == (_norm(a) == _norm(b))


@SETTINGS
@given(st.floats(allow_nan=True))
def test_every_nan_and_both_zeros_encode_alike(x):
    if math.isnan(x):
        assert encoding.encode_value(x) == encoding.encode_value(float("nan"))
        weird = struct.unpack(">d", b"\x7f\xf8\x00\x00\x00\x00\x00\x01")[0]
        assert encoding.encode_value(weird) == encoding.encode_value(x)
    if x == 0.0:
        assert encoding.encode_value(x) == encoding.encode_value(-0.0)


rows = st.integers(1, 12).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "i": st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=n, max_size=n),
            "f": st.lists(st.floats(allow_nan=True), min_size=n, max_size=n),
            "s": st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=n, max_size=n),
            "l": st.lists(st.lists(st.integers(-5, 5), max_size=3), min_size=n, max_size=n),
        }
    )
)


@SETTINGS
@given(rows, st.permutations(["i", "f", "s", "l"]), st.integers(1, 5))
def test_vectorised_digests_equal_the_reference_whatever_the_column_order_and_chunking(cols, order, chunk):
    table = pa.table({k: cols[k] for k in order})
    names = list(order)
    want = [encoding.row_digest({k: cols[k][i] for k in names}) for i in range(table.num_rows)]
    assert encoding.table_digests(table, names) == want
    got = []
    for start in range(0, table.num_rows, chunk):
        got += encoding.table_digests(table.slice(start, chunk), sorted(names))
    assert got == want


# --- Merkle tree and inclusion proofs ---------------------------------------------------


def _rfc6962_root(leaves):
    """MTH exactly as RFC 6962 §2.1 writes it (recursive split at the largest power of two)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _rfc6962_root(leaves[:k]) + _rfc6962_root(leaves[k:])).digest()


leaf_lists = st.lists(st.binary(min_size=1, max_size=8), min_size=1, max_size=70).map(
    lambda xs: [merkle.leaf_hash(x) for x in xs]
)


@SETTINGS
@given(leaf_lists)
def test_root_is_rfc6962_and_every_proof_verifies(leaves):
    root = merkle.merkle_root(leaves)
    assert root == _rfc6962_root(leaves)
    for i in range(len(leaves)):
        assert merkle.verify_inclusion(leaves[i], i, len(leaves), merkle.inclusion_proof(leaves, i), root)


@SETTINGS
@given(leaf_lists, st.data())
def test_a_tampered_proof_leaf_index_or_size_never_verifies(leaves, data):
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(leaves, i)
    root = merkle.merkle_root(leaves)
    bad_leaf = bytes([leaves[i][0] ^ 1]) + leaves[i][1:]
    assert not merkle.verify_inclusion(bad_leaf, i, n, proof, root)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bent = list(proof)
        bent[k] = bytes([bent[k][0] ^ (1 + bit % 255)]) + bent[k][1:]
        assert not merkle.verify_inclusion(leaves[i], i, n, bent, root)
        assert not merkle.verify_inclusion(leaves[i], i, n, proof[:-1], root)
    j = data.draw(st.integers(0, n - 1))
    assume(leaves[j] != leaves[i])
    assert not merkle.verify_inclusion(leaves[j], i, n, proof, root)
    assert not merkle.verify_inclusion(leaves[i], i, n, proof + [root], root)
    assert not merkle.verify_inclusion(leaves[i], n + data.draw(st.integers(0, 3)), n, proof, root)


# --- DSSE parsing and verification ------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
from provenance.keys import key_id  # noqa: E402

TRUSTED = {key_id(KEY.public_key()): KEY.public_key()}
VALID = signing.sign(signing.statement("v1", b"\x11" * 32, "https://example/p", {"n": 1}), KEY)

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=15,
)


@SETTINGS
@given(st.binary(max_size=300))
def test_parsing_arbitrary_bytes_is_input_error_or_an_envelope(data):
    try:
        signing.parse_envelope(data, "e.json")
    except InputError:
        pass


@SETTINGS
@given(st.dictionaries(st.sampled_from(["payloadType", "payload", "signatures", "x"]), json_values, max_size=4))
def test_parsing_arbitrary_json_objects_never_crashes(obj):
    try:
        env = signing.parse_envelope(json.dumps(obj).encode(), "e.json")
    except InputError:
        return
    with pytest.raises(VerificationError):
        signing.verify(env, TRUSTED, "e.json")


@SETTINGS
@given(
    st.sampled_from(["payloadType", "payload", "sig", "keyid"]), st.binary(min_size=1, max_size=4), st.integers(0, 200)
)
def test_any_change_to_a_signed_envelope_fails_verification(field, noise, at):
    env = json.loads(json.dumps(VALID))
    if field in ("sig", "keyid"):
        target = env["signatures"][0]
        raw = base64.b64decode(target["sig"]) if field == "sig" else target["keyid"].encode()
    else:
        target = env
        raw = base64.b64decode(env["payload"]) if field == "payload" else env["payloadType"].encode()
    at = at % len(raw)
    changed = raw[:at] + bytes([raw[at] ^ noise[0]]) + noise[1:] + raw[at + 1 :]
    assume(changed != raw)
    if field == "sig":
        target["sig"] = base64.b64encode(changed).decode()
    elif field == "payload":
        env["payload"] = base64.b64encode(changed).decode()
    else:
        try:
            target[field] = changed.decode()
        except UnicodeDecodeError:
            return
    try:
        parsed = signing.parse_envelope(json.dumps(env).encode(), "e.json")
    except InputError:
        return
    with pytest.raises(VerificationError):
        signing.verify(parsed, TRUSTED, "e.json")


def test_the_untouched_envelope_verifies():
    parsed = signing.parse_envelope(json.dumps(VALID).encode(), "e.json")
    assert signing.verify(parsed, TRUSTED).statement["subject"][0]["name"] == "v1"
