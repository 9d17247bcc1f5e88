"""Attack review 27c: replays against fix27d (A26e-5: a signing write refuses a version entry no trusted head
covers, ``provenance/store/vouched.py``) and perf27b (fastsha's Merkle root on SHA-NI, the manifest writer's
options, the 6-byte radix prefix sort). A plain test pins an attack that held; a strict xfail is a finding, named
in its reason."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_attack26a_replays import commit_v1_v2, plant_rolled_back_v3

from provenance import fastsha, keys
from provenance.sources import external_sort
from support import digits_table, ok, one_line, store_fingerprint, validate_output


def _data_of(prov, data, version, pinned) -> list[str]:
    doc = json.loads(ok(prov, "status", data, "--version", version, "--json", *pinned))
    validate_output("status", doc)
    return doc["data_of"]


def _commit_v4(prov, *extra: str):
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    return prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", *extra)


def _poison(table: pa.Table) -> pa.Table:
    """v2's 340 records with every label 7, written as train.parquet (to commit) and poisoned.parquet (to ask
    ``status`` about)."""
    poisoned = table.slice(0, 340)
    at = poisoned.schema.get_field_index("label")
    poisoned = poisoned.set_column(at, "label", pa.array([7] * 340).cast(poisoned.schema.field("label").type))
    pq.write_table(poisoned, "train.parquet")
    pq.write_table(poisoned, "poisoned.parquet")
    return poisoned


def _rows(queries: dict[str, tuple[str, list]]) -> dict[str, list[dict]]:
    """Rows of ``.prov/prov.db`` by table: ``{table: (where clause, arguments)}``."""
    with sqlite3.connect(".prov/prov.db") as db:
        db.row_factory = sqlite3.Row
        out = {t: [dict(r) for r in db.execute(f"select * from {t} where {w}", a)] for t, (w, a) in queries.items()}
    db.close()
    return out


def _roll_back_and_put_back(workdir, rows: dict[str, list[dict]]) -> None:
    """The maintainer restores ``.prov/`` from ``backup``; a ``.prov/`` writer who kept the objects and ``rows``
    from before puts them back with sqlite3, exactly as they were."""
    objects = {p.name: p.read_bytes() for p in (workdir / ".prov" / "objects").iterdir()}
    shutil.rmtree(".prov")
    shutil.copytree("backup", ".prov")
    for name, data in objects.items():
        if not (workdir / ".prov" / "objects" / name).exists():
            (workdir / ".prov" / "objects" / name).write_bytes(data)
    with sqlite3.connect(".prov/prov.db") as db:
        for table, put in rows.items():
            for r in put:
                db.execute(f"insert into {table} ({', '.join(r)}) values ({', '.join('?' * len(r))})", list(r.values()))
    db.close()


def _head_seq(db_path: str) -> int:
    with sqlite3.connect(db_path) as db:
        (seq,) = db.execute("select max(seq) from audit").fetchone()
    db.close()
    return seq


def _v3_after_a_backup(prov) -> tuple[pa.Table, tuple[str, str], int, list[str]]:
    """v1 and v2 committed (``commit_v1_v2``), ``.prov/`` copied to ``backup``, then v3 (every label 7) committed.
    Returns the 400-digit table, the ``--signer`` arguments, the backup's last audit seq and its checkpoints."""
    table, pinned = commit_v1_v2(prov)
    shutil.copytree(".prov", "backup")
    kept = _head_seq("backup/prov.db")
    known = [r["object"] for r in _rows({"checkpoints": ("1", [])})["checkpoints"]]
    _poison(table)
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v3", "--key", "maintainer.key", *pinned)
    return table, pinned, kept, known


# --- fix27d: who can make the refusal trust a planted head ---------------------------------------------------


def test_held_a_checkpoint_by_a_key_the_prov_writer_registered_does_not_vouch_for_the_planted_entry(prov, workdir):
    """The ``.prov/`` writer who put v3 back also signs a checkpoint over it with a key of their own (``prov audit
    checkpoint`` registers it in the store's ``keys`` table, a cache). The maintainer pins only their key: the
    commit is still refused, and the store is unchanged."""
    pinned = plant_rolled_back_v3(prov, workdir)
    shutil.copy("train.parquet", "poisoned.parquet")
    ok(prov, "keys", "generate", "mallory")
    ok(prov, "audit", "checkpoint", "--key", "mallory.key", "--signer", "mallory.pub")
    before = store_fingerprint(workdir / ".prov")
    r = _commit_v4(prov, *pinned)
    assert r.exit_code == 1, r.output
    assert "version v3's commit entry" in one_line(r) and ".prov/prov.db" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []


def test_held_a_planted_quarantine_entry_is_refused_like_a_commit_entry(prov, workdir):
    """A chain-valid ``quarantine`` entry planted by a ``.prov/`` writer (no key) is refused by the next commit."""
    from support import plant_pending_entry

    _, pinned = commit_v1_v2(prov)
    plant_pending_entry(workdir / ".prov" / "prov.db", "quarantine", "v9", {"note": "planted"})
    before = store_fingerprint(workdir / ".prov")
    r = _commit_v4(prov, *pinned)
    assert r.exit_code == 1 and "version v9's quarantine entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def _roots(prov, commit_keys: list[str], waive: str) -> list[str]:
    """Signed roots root1.json, root2.json, ... by rootk: root i gives commit to ``commit_keys[i-1]`` and waive
    to ``waive``. Returns their file names."""
    keys.generate("rootk")
    out = []
    for version, commit in enumerate(commit_keys, 1):
        name = f"root{version}.json"
        r = prov("root", "new", name, "--root-key", "rootk.pub", "--commit", commit, "--waive", waive,
                 "--version", version)  # fmt: skip
        assert r.exit_code == 0, r.output
        ok(prov, "root", "sign", name, "--key", "rootk.key")
        out.append(name)
    return out


def test_a_waive_only_key_cannot_vouch_for_a_planted_commit_entry(prov, workdir):
    """Finding A27c-1, fixed: a key pinned only for the waive role vouched for a version's commit entry (a reviewer
    who can write .prov/, a CI runner holding the waive key, signed `prov audit checkpoint` over a rolled-back
    version put back, and the maintainer's next commit took v3 as its parent). Only commit-role heads count now:
    refused, exit 1 naming v3's entry, store unchanged."""
    table = digits_table(400)
    keys.generate("maintainer")
    keys.generate("reviewer")
    (root,) = _roots(prov, ["maintainer.pub"], "reviewer.pub")
    env = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": root}
    ok(prov, "init")
    pq.write_table(table.slice(0, 300), "train.parquet")
    assert prov("-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", env=env).exit_code == 0
    pq.write_table(table.slice(0, 340), "train.parquet")
    assert prov("-q", "commit", "train.parquet", "--tag", "v2", "--key", "maintainer.key", env=env).exit_code == 0
    shutil.copytree(".prov", "backup")
    kept = _head_seq(".prov/prov.db")
    _poison(table)
    assert prov("-q", "commit", "train.parquet", "--tag", "v3", "--key", "maintainer.key", env=env).exit_code == 0
    _roll_back_and_put_back(workdir, _rows({"versions": ("tag = 'v3'", []), "audit": ("seq > ?", [kept])}))
    r = prov("audit", "checkpoint", "--key", "reviewer.key", env=env)  # signs as a waive-role key
    assert r.exit_code == 0, r.output
    pq.write_table(table.slice(0, 360), "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", env=env)
    assert r.exit_code == 1, r.output  # failed before the fix: exit 0, v4's parent is v3
    assert "version v3's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


# --- perf27b: the radix prefix sort and the Merkle root on every path -------------------------------------------


def _reference_merkle(blob: bytes) -> bytes:
    """RFC 6962 MTH over 32-byte leaf hashes by its recursive definition, with hashlib (no promotion trick)."""
    leaves = [blob[i : i + 32] for i in range(0, len(blob), 32)]

    def mth(part: list[bytes]) -> bytes:
        if len(part) == 1:
            return part[0]
        k = 1 << ((len(part) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + mth(part[:k]) + mth(part[k:])).digest()

    return mth(leaves) if leaves else hashlib.sha256(b"").digest()


def test_held_the_merkle_root_on_both_compiled_paths_is_rfc_6962s_on_adversarial_sizes_and_buffers():
    """Sizes around every power of two to 2^12 (the two-lane path takes four leaves a step: 1, 2 or 3 go to the
    one-node path at each level), leaves that are all zero or all 0xff, and the leaves as a numpy array, a
    bytearray and an unaligned memoryview: the same root as the RFC's recursive definition."""
    rng = np.random.default_rng(27)
    sizes = sorted({max(1, (1 << k) + d) for k in range(13) for d in (-3, -2, -1, 0, 1, 2, 3)} | {3 * 1024 + 5})
    for n in sizes:
        blob = rng.bytes(32 * n)
        expected = _reference_merkle(blob)
        unaligned = memoryview(bytearray(b"\x00" * 7 + blob))[7:]
        as_numpy = np.frombuffer(blob, dtype=np.uint8)
        for leaves in (blob, bytearray(blob), unaligned, as_numpy):
            assert fastsha.merkle_root(leaves) == expected, n
            assert fastsha.merkle_root(leaves, portable=True) == expected, n
    for byte in (b"\x00", b"\xff"):
        blob = byte * (32 * 37)
        assert fastsha.merkle_root(blob) == fastsha.merkle_root(blob, portable=True) == _reference_merkle(blob)
    assert fastsha.merkle_root(b"") == hashlib.sha256(b"").digest()
    with pytest.raises(ValueError):
        fastsha.merkle_root(b"\x00" * 33)


def _crafted_digests(rng) -> list[bytes]:
    """Digests that agree in their first 6 bytes and differ in byte 7, 8 or 32 (several runs interleaved),
    prefixes that differ only in one byte between 0x00 and 0xff (each 16-bit radix digit, and the sign bit of
    each byte), exact copies, and random ones."""
    out = []
    for _ in range(5):
        head = rng.bytes(6)
        for tail_at in (6, 7, 31):
            for _ in range(4):
                d = bytearray(head + rng.bytes(26))
                d[tail_at] = rng.integers(0, 256)
                out.append(bytes(d))
        out += [out[-1]] * 3  # copies
    for at in range(8):
        for value in (0x00, 0x7F, 0x80, 0xFF):
            d = bytearray(b"\x80" * 32)
            d[at] = value
            out.append(bytes(d))
    out += [b"\x00" * 32, b"\xff" * 32, b"\x00" * 32]
    out += [rng.bytes(32) for _ in range(500)]
    return [out[i] for i in rng.permutation(len(out))]


def test_held_the_radix_prefix_sort_gives_the_four_key_order_on_crafted_prefix_collisions():
    """Digests constructed to collide in the 6 sorted bytes (no SHA-256 needed: sorted_order sorts whatever the
    digest column holds), copies with other labels, null and non-null sources, and the table as a slice of a larger
    one (offset buffers): the order is Arrow's four-key sort, also for 0 and 1 rows."""
    rng = np.random.default_rng(2727)
    digests = _crafted_digests(rng)
    n = len(digests)
    whole = pa.table(
        {
            "digest": pa.array([rng.bytes(32)] * 5 + digests, pa.binary(32)),
            "label": pa.array([f"c{i}" for i in rng.integers(0, 2, n + 5)]),
            "source": pa.array([None if i == 0 else f"s{i}" for i in rng.integers(0, 3, n + 5)], pa.string()),
            "locator": pa.array([f"f#{i}" for i in rng.permutation(n + 5)]),
        }
    )
    keys = [(name, "ascending") for name in ("digest", "label", "source", "locator")]
    for table in (whole, whole.slice(5), whole.slice(5, 1), whole.slice(5, 0)):
        table = table.combine_chunks()
        expected = table.take(pc.sort_indices(table, sort_keys=keys))
        order = external_sort.sorted_order(table)
        assert sorted(order.tolist()) == list(range(table.num_rows))  # a permutation: no row lost or doubled
        assert table.take(pa.array(order)).equals(expected)


# --- perf27b: a manifest object rewritten by a .prov/ writer with other writer options (same rows) -------------

BEFORE_SESSION_27 = {"compression": "zstd", "use_dictionary": ["label", "source", "batch"]}


def test_held_a_manifest_rewritten_with_other_writer_options_is_refused_in_place_and_when_repointed(prov, workdir):
    """The rows are the same, so the root is too; still the bytes are not the object the version signed: rewritten
    in place, its bytes no longer hash to its name (exit 1, "altered"); stored under its own name and the row
    pointed at it, the version's signature names the other digest (exit 1). Neither is accepted, and accepting
    either would change no signed fact (the root is recomputed from the rows)."""
    _, pinned = commit_v1_v2(prov)
    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:
        (oid,) = db.execute("select manifest_object from versions where tag = 'v2'").fetchone()
    db.close()
    path = workdir / ".prov" / "objects" / f"{oid}.parquet"
    original = path.read_bytes()
    table = pq.read_table(path)
    pq.write_table(table, "rewritten.parquet", **BEFORE_SESSION_27, row_group_size=1 << 20)
    rewritten = (workdir / "rewritten.parquet").read_bytes()
    assert pq.read_table("rewritten.parquet").equals(table) and rewritten != original

    path.chmod(0o644)
    path.write_bytes(rewritten)  # in place
    merge = {"PROV_DIFF_MERGE": "1"}  # prov diff reads v2's signed delta object otherwise, not its manifest
    for args in (("verify", "v2"), ("fsck",), ("diff", "v1", "v2")):
        r = prov(*args, *pinned, env=merge)
        assert r.exit_code == 1, (args, r.output)
        assert "altered" in r.output and oid[:16] in r.output, (args, r.output)

    path.write_bytes(original)
    new_oid = hashlib.sha256(rewritten).hexdigest()
    (workdir / ".prov" / "objects" / f"{new_oid}.parquet").write_bytes(rewritten)
    with sqlite3.connect(db_path) as db:
        db.execute("update versions set manifest_object = ? where tag = 'v2'", [new_oid])
    db.close()
    for args in (("verify", "v2"), ("diff", "v1", "v2")):
        r = prov(*args, *pinned, env=merge)
        assert r.exit_code == 1, (args, r.output)
        assert "v2" in one_line(r), (args, r.output)


def test_a_rolled_back_later_versions_head_does_not_vouch_for_a_put_back_commit_entry(prov, workdir):
    """Finding A27c-2, fixed: v3 and v4 rolled back, a .prov/ writer puts back v3's entry exactly as it was and v4's
    row without its entry; v4's honestly signed auditLogHead covered v3's entry, so the next commit took v3 as its
    parent and status POISONED --version v2 named v3 again. A version's head counts now only when its own commit
    entry follows it: refused, exit 1 naming v3's entry, store unchanged."""
    table, pinned, kept, known = _v3_after_a_backup(prov)
    poisoned = pq.read_table("poisoned.parquet")
    pq.write_table(poisoned.slice(0, 330), "train.parquet")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", *pinned)
    (v4_entry,) = _rows({"audit": ("action = 'commit' and subject = 'v4'", [])})["audit"]
    rows = _rows({"versions": ("tag in ('v3', 'v4')", []), "audit": ("seq > ? and seq < ?", [kept, v4_entry["seq"]])})
    assert rows["audit"][-1]["action"] == "commit" and rows["audit"][-1]["subject"] == "v3"
    _roll_back_and_put_back(workdir, rows)  # v3 and v4 rolled back; v3's entries and both rows put back
    pq.write_table(table.slice(0, 360), "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "train.parquet", "--tag", "v5", "--key", "maintainer.key", *pinned)
    assert r.exit_code == 1, r.output  # failed before the fix: exit 0, "parent v3"
    assert "version v3's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before
    assert _data_of(prov, "poisoned.parquet", "v2", pinned) == []


# --- perf27b: an extension built before the change -----------------------------------------------------------

_STALE_RUN = """
import hashlib, importlib.util, sys
spec = importlib.util.spec_from_file_location("provenance._fastsha", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["provenance._fastsha"] = module
from provenance import fastsha
leaves = bytes(range(64))
expected = hashlib.sha256(b"\\x01" + leaves).digest()
assert fastsha.merkle_root(leaves) == expected
print(fastsha.path_description())
"""


def test_an_extension_built_before_perf27b_is_called_stale_not_crashed_on(tmp_path):
    """A27c-3 (fixed): an extension built from an older fastsha.c (an editable install not rebuilt after a pull)
    had every name of fastsha._FUNCTIONS, so it was used, and merkle_root(blob, portable) raised TypeError on
    c08b653's one-argument build: every commit and verify exit 3. The extension now says its calling convention
    (``API``) and one that says another, or none, is stale: hashlib runs and ``path_description`` says so. The
    old build is made from today's source without its ``API`` (no git history needed: a shallow clone has none)."""
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    from provenance import native_build

    repo = Path(__file__).resolve().parents[2]
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    source = (repo / "provenance" / "_native" / "fastsha.c").read_text()
    found = re.search(r"#define FASTSHA_API (\d+)", source)
    assert found is not None
    marker, fastsha_api = found.group(0), int(found.group(1))
    # API 2 is session 27's (sha256_columns took three arguments), 1 the one before
    for api, label in (*((str(a), f"older{a}") for a in range(1, fastsha_api)), (None, "none")):
        old = (
            source.replace(marker, f"#define FASTSHA_API {api}")
            if api
            else source.replace('PyModule_AddIntConstant(m, "API", FASTSHA_API) < 0', "0")
        )
        folder = tmp_path / label
        folder.mkdir()
        (folder / "fastsha.c").write_text(old)
        try:
            built = native_build.compile_extension(
                "_fastsha", folder / "fastsha.c", ["-O2"], libraries=["crypto"], target_dir=folder
            )
        except subprocess.CalledProcessError:
            pytest.skip("no OpenSSL headers to compile against")
        env = {k: v for k, v in os.environ.items() if k != "PROV_NO_FASTSHA"}  # CI runs the suite with it set too
        run = subprocess.run(
            [sys.executable, "-c", _STALE_RUN, str(built)], capture_output=True, text=True, cwd=repo, env=env
        )
        assert run.returncode == 0, (label, run.stderr)
        assert "stale" in run.stdout, (label, run.stdout)


@pytest.mark.xfail(
    strict=True,
    reason="finding A27c-4, a limit (Known gaps): A26e-5 holds only while the planted entry lacks its checkpoint, "
    "but whoever holds the rolled-back version's row and entry (a copy of .prov/ from before the rollback) holds the "
    "checkpoint its commit signed too: put back with sqlite3 (row and object), the store is the one before the "
    "rollback, the next commit takes v3 as parent and status names v3 again. Nothing in .prov/ can remember a "
    "rollback a .prov/ writer can undo, and a kept log state (commit --checkpoint) made after the rollback does not "
    "either: putting back only appends, so the log still extends it",
)
def test_a_rolled_back_versions_own_checkpoint_put_back_does_not_vouch_for_it(prov, workdir):
    """The maintainer keeps the restored log's state outside .prov/ (``prov audit checkpoint --out``, run on a copy
    of the backup: the log the restore gives) and commits with it: the put-back log extends that state."""
    table, pinned, kept, known = _v3_after_a_backup(prov)
    marks = ", ".join("?" * len(known))
    rows = _rows(
        {
            "versions": ("tag = 'v3'", []),
            "audit": ("seq > ?", [kept]),
            "checkpoints": (f"object not in ({marks})", known),
        }
    )
    assert rows["checkpoints"]
    shutil.copytree("backup", workdir / "restored" / ".prov")
    os.chdir(workdir / "restored")
    try:
        signer = ("--signer", str(workdir / "maintainer.pub"))
        ok(prov, "audit", "checkpoint", "--key", str(workdir / "maintainer.key"), "--out", "../kept.json", *signer)
    finally:
        os.chdir(workdir)
    _roll_back_and_put_back(workdir, rows)  # v3's row, entries and its own checkpoint put back
    pq.write_table(table.slice(0, 360), "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", "--checkpoint", "kept.json", *pinned)
    assert r.exit_code == 1, (r.output, _data_of(prov, "poisoned.parquet", "v2", pinned))  # fails: parent v3


def test_check_attest_refused_over_a_planted_entry_writes_nothing(prov, workdir):
    """Finding A27c-5 (low), fixed: prov check --attest ran the whole check and stored its detector run (a findings
    object and a pending detect entry) before its attestation write was refused over the planted entry, and then
    said 'nothing was signed or written'. Refused now before the check's work, as commit does: exit 1 naming the
    planted entry and .prov/prov.db, no attestation file, and the store unchanged."""
    pinned = plant_rolled_back_v3(prov, workdir)
    pq.write_table(digits_table(400).slice(0, 340), "train.parquet")  # v2's data back where v2 read it
    with sqlite3.connect(".prov/prov.db") as db:
        counts = [db.execute(f"select count(*) from {t}").fetchone() for t in ("attestations", "checkpoints")]
    db.close()
    before = store_fingerprint(workdir / ".prov")
    r = prov("check", "v2", "--base", "v1", "--attest", "--attest-out", "att.json", "--key", "maintainer.key", *pinned)
    assert r.exit_code == 1, r.output
    assert "version v3's commit entry" in r.stderr and ".prov/prov.db" in r.stderr, r.stdout
    assert "nothing was signed or written" in r.stderr
    assert not (workdir / "att.json").exists()
    with sqlite3.connect(".prov/prov.db") as db:
        assert [db.execute(f"select count(*) from {t}").fetchone() for t in ("attestations", "checkpoints")] == counts
    db.close()
    assert store_fingerprint(workdir / ".prov") == before  # failed before: a detect entry and its findings object


def test_held_waive_refuses_to_sign_over_the_planted_entry(prov, workdir):
    """``prov waive`` signs a checkpoint too: refused, exit 1 naming the planted entry, ``.prov/`` unchanged."""
    pinned = plant_rolled_back_v3(prov, workdir)
    before = store_fingerprint(workdir / ".prov")
    with sqlite3.connect(".prov/prov.db") as db:
        (oid,) = db.execute("select manifest_object from versions where tag = 'v2'").fetchone()
    db.close()
    digest = pq.read_table(workdir / ".prov" / "objects" / f"{oid}.parquet").column("digest")[0].as_py().hex()
    r = prov("waive", digest, "--version", "v2", "--detector", "combined", "--reason", "checked", "--key",
             "maintainer.key", *pinned)  # fmt: skip
    assert r.exit_code == 1 and "version v3's commit entry" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_held_a_later_versions_row_put_back_alone_is_refused(prov, workdir):
    """A27c-2's other shape: v3 and v4 rolled back and only v4's row put back (no entry of either). ``prov audit
    verify`` calls the log broken, and the next commit is refused before signing over it (v4's signed head is not
    in the log: the store id check), exit 1 naming prov.db and v4, store unchanged. So a signing write needs no
    separate refusal of a version row without its commit entry: with the entries before its head put back too, the
    head is in the log, and then A27c-2's fix (the head does not count) or A27c-4 (their own checkpoint) decides."""
    table, pinned, kept, known = _v3_after_a_backup(prov)
    pq.write_table(pq.read_table("poisoned.parquet").slice(0, 330), "train.parquet")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", *pinned)
    _roll_back_and_put_back(workdir, _rows({"versions": ("tag = 'v4'", [])}))
    r = prov("audit", "verify", *pinned)
    assert r.exit_code == 1 and "audit log is broken: version v4" in one_line(r), r.output
    before = store_fingerprint(workdir / ".prov")
    pq.write_table(table.slice(0, 360), "train.parquet")
    r = prov("commit", "train.parquet", "--tag", "v5", "--key", "maintainer.key", *pinned)
    assert r.exit_code == 1 and "version v4's signed audit head is not in the audit log" in one_line(r), r.output
    assert "prov.db" in one_line(r)
    assert store_fingerprint(workdir / ".prov") == before
