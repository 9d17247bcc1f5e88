"""Golden vectors: the bytes and digests of every signed format, fixed in ``tests/data/golden/``.

A signature is only as durable as the bytes under it. These vectors pin the canonical
row encoding (``prov-row-v1``), the RFC 6962 Merkle root and RFC 9162 inclusion proofs
of a fixed manifest, and a DSSE envelope under a fixed Ed25519 key. A change that moves
any byte fails here; the fix is a new encoding name with its own folder beside the old
one (see ``tests/data/golden/README.md``), never an edit of these files.

Some expected bytes are also written out by hand below, from the format as documented in
``provenance/encoding.py`` and the RFCs, so the vectors are checked against the spec and
not only frozen from the code.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from provenance import encoding, fastsha, keys, merkle, signing
from provenance.manifest import Manifest, leaf_blob
from support import arrow_array

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


@dataclass(frozen=True)
class RowEncoding:
    """One row encoding's entry points: the reference encoder and the vectorised one."""

    encode_value: Callable[[object], bytes]
    encode_row: Callable[[dict[str, object]], bytes]
    row_header: Callable[[Sequence[str]], bytes]
    table_digests: Callable[[pa.Table, Sequence[str]], list[bytes]]
    scalars: bool = False  # the reference encoder takes Arrow scalars (v2), not Python values (v1)

    def value(self, column: pa.Array | pa.ChunkedArray, i: int = 0) -> object:
        """Row ``i`` of ``column`` as this encoding's reference encoder takes it."""
        return column[i] if self.scalars else column[i].as_py()


# Every row encoding a verifier must still accept. A new encoding (prov-row-v2) adds its
# folder under tests/data/golden/ and its entry here; v1 stays, so v1 versions still verify.
ROW_ENCODINGS = {
    "prov-row-v1": RowEncoding(
        encoding.encode_value,
        encoding.encode_row,
        encoding.row_header,
        lambda table, names: encoding.table_digests(table, names, encoding.ROW_ENCODING_V1),
    ),
    "prov-row-v2": RowEncoding(
        encoding.encode_scalar,
        encoding.encode_row,
        encoding.row_header,
        lambda table, names: encoding.table_digests(table, names, encoding.ROW_ENCODING_V2),
        scalars=True,
    ),
}
ROW_FOLDERS = sorted(p.name for p in GOLDEN.glob("prov-row-*") if p.is_dir())


def load(path: str) -> dict:
    return json.loads((GOLDEN / path).read_text())


def cases(filename: str, key: str) -> list:
    out = []
    for folder in ROW_FOLDERS:
        doc = load(f"{folder}/{filename}")
        out += [pytest.param(folder, case, id=f"{folder}:{case['name']}") for case in doc[key]]
    return out


def test_every_encoding_folder_has_an_encoder_and_declares_its_name():
    assert "prov-row-v1" in ROW_FOLDERS
    for folder in ROW_FOLDERS:
        assert folder in ROW_ENCODINGS, f"tests/data/golden/{folder} has no encoder in ROW_ENCODINGS"
        for filename in ("values.json", "rows.json"):
            doc = load(f"{folder}/{filename}")
            assert doc["encoding"] == folder and doc["digest_algorithm"] == f"sha256/{folder}"
    assert encoding.ROW_ENCODING in ROW_FOLDERS  # the encoding new versions get has vectors


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("folder,case", cases("values.json", "values"))
def test_value_encoding(folder, case):
    enc = ROW_ENCODINGS[folder]
    column = arrow_array(case["type"], [case["value"]])
    assert enc.encode_value(enc.value(column)).hex() == case["encoding"]
    row = enc.row_header(["v"]) + bytes.fromhex(case["encoding"])
    assert hashlib.sha256(row).hexdigest() == case["row_sha256"]
    # the vectorised encoder, on a column without nulls (fixed-width fast path where the
    # type allows) and on one with a null (the general path), gives the same digest
    alone = enc.table_digests(pa.table({"v": column}), ["v"])
    with_null = enc.table_digests(pa.table({"v": arrow_array(case["type"], [case["value"], None])}), ["v"])
    assert [d.hex() for d in alone] == [case["row_sha256"]]
    assert with_null[0].hex() == case["row_sha256"]


@pytest.mark.parametrize("folder,case", cases("values.json", "refused"))
def test_value_without_an_encoding_is_refused(folder, case):
    enc = ROW_ENCODINGS[folder]
    column = arrow_array(case["type"], [case["value"]])
    with pytest.raises(TypeError):
        enc.encode_value(enc.value(column))
    with pytest.raises(TypeError):
        enc.table_digests(pa.table({"v": column}), ["v"])


# --- rows and tables -------------------------------------------------------------------------


@pytest.mark.parametrize("folder,case", cases("rows.json", "rows"))
def test_row_encoding_and_digest(folder, case):
    enc = ROW_ENCODINGS[folder]
    columns = {name: arrow_array(c["type"], [c["value"]]) for name, c in case["columns"].items()}
    assert enc.row_header(list(columns)).hex() == case["header"]
    assert enc.encode_row({name: enc.value(col) for name, col in columns.items()}).hex() == case["encoding"]
    assert hashlib.sha256(bytes.fromhex(case["encoding"])).hexdigest() == case["sha256"]
    for order in (list(columns), list(reversed(columns))):  # column order does not matter
        table = pa.table({name: columns[name] for name in order})
        assert [d.hex() for d in enc.table_digests(table, order)] == [case["sha256"]]


@pytest.mark.parametrize("folder,case", cases("rows.json", "tables"))
def test_table_digests_whatever_the_chunking_or_file(folder, case, tmp_path):
    enc = ROW_ENCODINGS[folder]
    table = pa.table({name: arrow_array(c["type"], c["values"]) for name, c in case["columns"].items()})
    names = table.column_names
    assert [d.hex() for d in enc.table_digests(table, names)] == case["sha256"]
    for i in range(table.num_rows):  # the reference encoder, row by row
        row = {name: enc.value(table.column(name), i) for name in names}
        assert hashlib.sha256(enc.encode_row(row)).hexdigest() == case["sha256"][i]
    in_batches = [d.hex() for batch in table.to_batches(max_chunksize=3) for d in enc.table_digests(batch, names)]
    assert in_batches == case["sha256"]
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    again = pq.read_table(tmp_path / "t.parquet")
    assert [d.hex() for d in enc.table_digests(again, list(reversed(names)))] == case["sha256"]


def test_file_digest_is_what_sha256sum_prints(tmp_path):
    doc = load("sha256-file-bytes/files.json")
    assert doc["digest_algorithm"] == encoding.FILE_DIGEST_ALGORITHM
    for case in doc["files"]:
        path = tmp_path / case["name"]
        path.write_bytes(bytes.fromhex(case["bytes"]))
        assert encoding.file_digest(str(path)).hex() == case["sha256"]


# --- prov-row-v1 by hand, from the format documented in provenance/encoding.py ---------------


def leb128(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def tlv(tag: str, payload: bytes) -> bytes:
    return tag.encode("ascii") + leb128(len(payload)) + payload


def i64(n: int) -> bytes:
    return n.to_bytes(8, "big", signed=True)


NS = 1_000_000_000
V1_BY_HAND = {
    "int64 -1": tlv("I", i64(-1)),
    "int8 -5": tlv("I", i64(-5)),
    "uint32 max": tlv("I", i64(2**32 - 1)),
    "bool true": tlv("B", b"\x01"),
    "float64 0.1": tlv("F", struct.pack(">d", 0.1)),
    "float64 -0.0": tlv("F", bytes(8)),
    "float64 negative NaN": tlv("F", bytes.fromhex("7ff8000000000000")),
    "float64 NaN with payload": tlv("F", bytes.fromhex("7ff8000000000000")),
    "float32 0.1": tlv("F", struct.pack(">d", struct.unpack("<f", struct.pack("<f", 0.1))[0])),
    "string utf-8": tlv("S", "h\u00e9llo \u732b \U0001f408".encode()),
    "string 200 bytes": b"S\xc8\x01" + b"x" * 200,
    "binary bytes": tlv("Y", b"\x00\xff\x10"),
    "null string": b"N\x00",
    "null int64": b"N\x00",
    "list with null": tlv("L", tlv("I", i64(1)) + b"N\x00"),
    "list nested": tlv("L", tlv("L", tlv("S", b"a")) + tlv("L", b"") + tlv("L", tlv("S", b"b") + tlv("S", b"c"))),
    "struct": tlv("M", tlv("S", b"a") + tlv("S", b"x") + tlv("S", b"b") + tlv("I", i64(1))),
    "map string->int64": tlv(
        "L", tlv("L", tlv("S", b"b") + tlv("I", i64(1))) + tlv("L", tlv("S", b"a") + tlv("I", i64(2)))
    ),
    "timestamp[s]": tlv("T", i64(1_700_000_000 * NS)),
    "timestamp[ms]": tlv("T", i64(1_700_000_000_123 * 1_000_000)),
    "timestamp[us]": tlv("T", i64(1_700_000_000_123_456 * 1_000)),
    "timestamp[ns]": tlv("T", i64(1_700_000_000_123_456_000)),
    "timestamp[ns] sub-microsecond": tlv("T", i64(1_700_000_000_123_456_000)),
    "timestamp[s] before epoch": tlv("T", i64(-NS)),
    "timestamp[us, tz=America/New_York]": tlv("T", i64(1_700_000_000_123_456 * 1_000)),
    "date32": tlv("D", i64(19675)),
    "date64": tlv("D", i64(19675)),
    "decimal128 1.50": tlv("X", b"1.50"),
    "decimal128 zero scale 10": tlv("X", b"0E-10"),
}


def test_v1_vectors_match_the_documented_format():
    vectors = {case["name"]: case["encoding"] for case in load("prov-row-v1/values.json")["values"]}
    for name, expected in V1_BY_HAND.items():
        assert vectors[name] == expected.hex(), name


def test_v1_rows_match_the_documented_format():
    rows = {case["name"]: case for case in load("prov-row-v1/rows.json")["rows"]}
    one = tlv("S", b"x")
    assert rows["one column"]["encoding"] == (b"R" + leb128(1) + one + tlv("I", i64(7))).hex()
    # names sort by code point ("B" < "a" < "b" < "é"), names first, then the values in that order
    names = b"".join(tlv("S", n.encode()) for n in ("B", "a", "b", "\u00e9"))
    values = b"".join(tlv("I", i64(v)) for v in (2, 4, 1, 3))
    assert rows["column names sort by code point"]["encoding"] == (b"R" + leb128(4) + names + values).hex()


# --- Merkle tree: RFC 6962 root, RFC 9162 inclusion proofs -----------------------------------


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1 MTH, transcribed recursively over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two smaller than n
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 section 2.1.3.1 PATH(m, D[n]), transcribed recursively."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


@pytest.fixture(scope="module")
def tree() -> dict:
    return load("rfc6962-sha256/manifest-7.json")


def test_merkle_entries_and_root_match_the_rfc_by_hand(tree):
    assert tree["tree"] == signing.MERKLE_DIGEST
    leaves = []
    for e in tree["sorted"]:
        source = b"N\x00" if e["source"] is None else tlv("S", e["source"].encode())
        entry = tlv("Y", bytes.fromhex(e["digest"])) + tlv("S", e["label"].encode()) + source
        assert e["entry"] == entry.hex()
        leaf = hashlib.sha256(b"\x00" + entry).digest()
        assert e["leaf_hash"] == leaf.hex()
        leaves.append(leaf)
    assert tree["size"] == len(leaves) == 7
    assert tree["root"] == mth(leaves).hex()
    assert tree["empty_root"] == mth([]).hex() == merkle.EMPTY_ROOT.hex()
    for proof in tree["inclusion_proofs"]:
        assert proof["path"] == [h.hex() for h in path(proof["index"], leaves)]


def test_merkle_entries_and_leaves_from_the_code_are_the_golden_ones(tree):
    rows = tree["sorted"]
    digests, labels, sources = (
        [bytes.fromhex(e["digest"]) for e in rows],
        [e["label"] for e in rows],
        [e["source"] for e in rows],
    )
    for e, d in zip(rows, digests):
        entry = merkle.merkle_entry(d, e["label"], e["source"])
        assert entry.hex() == e["entry"]
        assert merkle.leaf_hash(entry).hex() == e["leaf_hash"]
    expected = [e["leaf_hash"] for e in rows]
    assert [h.hex() for h in merkle.leaf_hashes(digests, labels, sources)] == expected
    blob = leaf_blob(pa.array(digests, pa.binary(32)), pa.array(labels), pa.array(sources, pa.string()))
    assert [h.hex() for h in encoding.split_digests(blob)] == expected  # the batch path commit uses


@pytest.fixture(scope="module", params=["python", "compiled"])
def hasher(request):
    """Each batch SHA-256 path (``fastsha``): pure Python, and the compiled extension where built."""
    if request.param == "compiled" and not fastsha.available():
        pytest.skip("the compiled fastsha extension is not built")
    with fastsha.forced(request.param):
        yield request.param


def test_sources_a_stand_in_could_confuse_have_their_own_leaves_on_every_path(hasher):
    """A source "\\x00" is the string it is, not "no source" (attack review 3, finding 12)."""
    doc = load("rfc6962-sha256/sources.json")
    digest = bytes.fromhex(doc["digest"])
    for e in doc["entries"]:
        source = None if e["source"] is None else e["source"].encode()
        expected = (
            tlv("Y", digest) + tlv("S", doc["label"].encode()) + (b"N\x00" if source is None else tlv("S", source))
        )
        assert e["entry"] == expected.hex()  # the vector is the documented format
        assert merkle.merkle_entry(digest, doc["label"], e["source"]).hex() == e["entry"]
    assert len({e["leaf_hash"] for e in doc["entries"]}) == len(doc["entries"])
    n = len(doc["entries"])
    sources = [e["source"] for e in doc["entries"]]
    blob = leaf_blob(
        pa.array([digest] * n, pa.binary(32)), pa.array([doc["label"]] * n), pa.array(sources, pa.string())
    )
    assert [h.hex() for h in encoding.split_digests(blob)] == [e["leaf_hash"] for e in doc["entries"]]
    for first in range(n):  # each alone, and beside a null, as one batch holds them
        for pair in ([sources[first]], [sources[first], None], [None, sources[first]]):
            got = leaf_blob(
                pa.array([digest] * len(pair), pa.binary(32)),
                pa.array([doc["label"]] * len(pair)),
                pa.array(pair, pa.string()),
            )
            assert got == b"".join(merkle.leaf_hashes([digest] * len(pair), [doc["label"]] * len(pair), pair))


def test_manifest_sorts_entries_and_gives_the_golden_root(tree, tmp_path):
    given = tree["manifest"]
    manifest = Manifest.build(
        [bytes.fromhex(e["digest"]) for e in given],
        [e["label"] for e in given],
        [e["locator"] for e in given],
        [e["source"] for e in given],
    )
    in_order = zip(manifest.digests, manifest.labels, manifest.sources)
    sorted_entries = [{"digest": d.hex(), "label": lab, "source": s} for d, lab, s in in_order]
    assert sorted_entries == [{k: e[k] for k in ("digest", "label", "source")} for e in tree["sorted"]]
    assert [h.hex() for h in manifest.leaves()] == [e["leaf_hash"] for e in tree["sorted"]]
    assert manifest.root.hex() == tree["root"]
    again = Manifest.from_bytes(manifest.to_bytes())  # through its Parquet file
    assert again.root.hex() == tree["root"]
    reversed_input = Manifest.build(
        [bytes.fromhex(e["digest"]) for e in reversed(given)],
        [e["label"] for e in reversed(given)],
        [f"other/{e['locator']}" for e in reversed(given)],  # locators are not in the root
        [e["source"] for e in reversed(given)],
    )
    assert reversed_input.root.hex() == tree["root"]


def test_every_root_builder_gives_the_golden_root(tree):
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in tree["sorted"]]
    blob = b"".join(leaves)
    assert merkle.merkle_root(leaves).hex() == tree["root"]
    assert merkle.merkle_root_of_blob(blob).hex() == tree["root"]
    builder = merkle.MerkleBuilder()
    for i in range(0, len(leaves), 3):  # fed in uneven pieces
        builder.add_blob(blob[i * 32 : (i + 3) * 32])
    assert builder.size == 7 and builder.root().hex() == tree["root"]


def test_inclusion_proofs_are_the_golden_ones_and_verify(tree):
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in tree["sorted"]]
    root = bytes.fromhex(tree["root"])
    for proof in tree["inclusion_proofs"]:
        i, expected = proof["index"], [bytes.fromhex(h) for h in proof["path"]]
        assert merkle.inclusion_proof(leaves, i) == expected
        assert merkle.verify_inclusion(leaves[i], i, 7, expected, root)
        assert not merkle.verify_inclusion(leaves[i], (i + 1) % 7, 7, expected, root)
        if expected:
            bent = [expected[0][:-1] + bytes([expected[0][-1] ^ 1]), *expected[1:]]
            assert not merkle.verify_inclusion(leaves[i], i, 7, bent, root)


# --- DSSE envelope under a fixed Ed25519 key -------------------------------------------------


@pytest.fixture(scope="module")
def dsse() -> dict:
    return load("dsse-ed25519/envelope.json")


def test_the_fixed_key_is_rfc8032_test_1_in_pkcs8(dsse, tmp_path, monkeypatch):
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(dsse["key"]["seed"]))
    public = private.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw.hex() == dsse["key"]["public_key"]
    # RFC 8032 section 7.1 TEST 1: the signature of the empty message
    assert private.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f"
        "b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert dsse["key"]["keyid"] == hashlib.sha256(raw).hexdigest() == keys.key_id(public)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert pem.decode() == dsse["key"]["private_pem"]
    assert keys.public_pem(public) == dsse["key"]["public_pem"]
    key_file = tmp_path / "golden.key"
    key_file.write_text(dsse["key"]["private_pem"])
    os.chmod(key_file, 0o600)
    monkeypatch.delenv(keys.PASSPHRASE_ENV, raising=False)
    loaded = keys.load_private(key_file)
    assert keys.key_id(loaded.public_key()) == dsse["key"]["keyid"]
    assert keys.key_id(keys.parse_public(dsse["key"]["public_pem"].encode(), "golden.pub")) == dsse["key"]["keyid"]


def test_statement_payload_and_pae_are_the_golden_bytes(dsse):
    tree = load("rfc6962-sha256/manifest-7.json")
    stmt = dsse["statement"]
    assert stmt["subject"][0]["digest"] == {"rfc6962-sha256": tree["root"]}
    built = signing.statement(
        stmt["subject"][0]["name"], bytes.fromhex(tree["root"]), stmt["predicateType"], stmt["predicate"]
    )
    assert built == stmt and built["_type"] == "https://in-toto.io/Statement/v1"
    payload = signing.canonical_json(built)
    assert payload.decode() == dsse["payload"]
    # DSSE v1 PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal
    ptype = b"application/vnd.in-toto+json"
    by_hand = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)
    assert signing.pae(signing.PAYLOAD_TYPE, payload).hex() == by_hand.hex() == dsse["pae"]


def test_signing_gives_the_golden_envelope_and_it_verifies(dsse):
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(dsse["key"]["seed"]))
    public = private.public_key()
    envelope = signing.sign(dsse["statement"], private)  # Ed25519 is deterministic
    assert envelope == dsse["envelope"]
    assert envelope["signatures"][0]["sig"] == dsse["signature"]
    assert base64.b64decode(envelope["payload"]).decode() == dsse["payload"]
    public.verify(base64.b64decode(dsse["signature"]), bytes.fromhex(dsse["pae"]))
    verified = signing.verify(dsse["envelope"], {dsse["key"]["keyid"]: public})
    assert verified.statement == dsse["statement"] and verified.keyid == dsse["key"]["keyid"]
    assert signing.subject_root(verified.statement).hex() == dsse["statement"]["subject"][0]["digest"]["rfc6962-sha256"]
    # an independent DSSE implementation accepts the golden envelope
    key = SSlibKey.from_crypto(public, keyid=dsse["key"]["keyid"])
    Envelope.from_dict(copy.deepcopy(dsse["envelope"])).verify([key], 1)
