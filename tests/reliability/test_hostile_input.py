"""Hostile input: malformed tables, file trees that reach out, bad envelopes and keys.

Every case must end with exit 2 (input) or 1 (verification), one "Error: ..." line that
names the file, never a traceback, and the store byte-for-byte as it was. The corpus is
built here from real files; ``HOSTILE`` lists it so the harness can count it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import faults
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from faults import prov_inline

# --- the corpus: each builder writes its input in `root` and returns (argv, expected text)


def _parquet(root: Path, name: str, table: pa.Table) -> Path:
    pq.write_table(table, root / name)
    return root / name


def _good_bytes(root: Path) -> bytes:
    return (root / "train.parquet").read_bytes()


def _commit(path: str, *extra) -> list[str]:
    """``prov commit`` as the store's owner runs it: its public key pinned (the store holds versions)."""
    return ["commit", path, "--tag", "hostile", "--signer", "owner.pub", *extra]


def table_cases():
    def empty_file(root):
        (root / "empty.parquet").write_bytes(b"")
        return _commit("empty.parquet"), "empty.parquet"

    def magic_only(root):
        (root / "magic.parquet").write_bytes(b"PAR1")
        return _commit("magic.parquet"), "magic.parquet"

    def truncated_half(root):
        (root / "half.parquet").write_bytes(_good_bytes(root)[: len(_good_bytes(root)) // 2])
        return _commit("half.parquet"), "half.parquet"

    def truncated_footer(root):
        (root / "nofooter.parquet").write_bytes(_good_bytes(root)[:-9])
        return _commit("nofooter.parquet"), "nofooter.parquet"

    def garbage(root):
        (root / "garbage.parquet").write_bytes(os.urandom(5000))
        return _commit("garbage.parquet"), "garbage.parquet"

    def csv_as_parquet(root):
        (root / "text.parquet").write_text("a,label\n1,x\n")
        return _commit("text.parquet"), "text.parquet"

    def nan_label(root):
        _parquet(root, "nanlabel.parquet", pa.table({"x": [1, 2, 3], "label": [1.0, float("nan"), 2.0]}))
        return _commit("nanlabel.parquet"), "NaN label"

    def null_label(root):
        _parquet(root, "nulllabel.parquet", pa.table({"x": [1, 2], "label": ["a", None]}))
        return _commit("nulllabel.parquet"), "empty label"

    def empty_label(root):
        _parquet(root, "emptylabel.parquet", pa.table({"x": [1, 2], "label": ["a", ""]}))
        return _commit("emptylabel.parquet"), "empty label"

    def struct_label(root):
        _parquet(root, "structlabel.parquet", pa.table({"x": [1], "label": [{"a": 1}]}))
        return _commit("structlabel.parquet"), "structlabel.parquet"

    def list_label(root):
        _parquet(root, "listlabel.parquet", pa.table({"x": [1], "label": [[1, 2]]}))
        return _commit("listlabel.parquet"), "listlabel.parquet"

    def no_label(root):
        _parquet(root, "nolabel.parquet", pa.table({"x": [1, 2]}))
        return _commit("nolabel.parquet"), "no label column"

    def only_label(root):
        _parquet(root, "onlylabel.parquet", pa.table({"label": ["a", "b"]}))
        return _commit("onlylabel.parquet"), "no content columns"

    def _survive_csv_non_utf8(root):
        (root / "latin.csv").write_bytes(b"x,label\n\xff\xfe\xfa,a\n")
        return _commit("latin.csv"), "latin.csv"

    def csv_ragged(root):
        (root / "ragged.csv").write_bytes(b"x,label\n1,a\n2,b,c\n")
        return _commit("ragged.csv"), "ragged.csv"

    def csv_empty(root):
        (root / "empty.csv").write_bytes(b"")
        return _commit("empty.csv"), "empty.csv"

    def _survive_csv_header_only(root):
        (root / "header.csv").write_bytes(b"x,label\n")
        return _commit("header.csv"), "header.csv"

    def csv_unbalanced_quote(root):
        (root / "quote.csv").write_bytes(b'x,label\n"1,a\n2,b\n')
        return _commit("quote.csv"), "quote.csv"

    def csv_nan_label(root):
        (root / "nan.csv").write_bytes(b"x,label\n1,1.5\n2,nan\n")
        return _commit("nan.csv"), "NaN label"

    def csv_wrong_type_for_schema(root):
        (root / "typed.csv").write_bytes(b"x,label\n1,a\nnot-a-number,b\n")
        return _commit("typed.csv", "--schema", "x:int64"), "typed.csv"

    def csv_unknown_schema_type(root):
        (root / "ok.csv").write_bytes(b"x,label\n1,a\n")
        return _commit("ok.csv", "--schema", "x:quaternion"), "quaternion"

    def jsonl_truncated(root):
        (root / "trunc.jsonl").write_bytes(b'{"x": 1, "label": "a"}\n{"x": 2, "lab')
        return _commit("trunc.jsonl"), "trunc.jsonl"

    def jsonl_not_objects(root):
        (root / "arr.jsonl").write_bytes(b"[1, 2]\n[3, 4]\n")
        return _commit("arr.jsonl"), "arr.jsonl"

    def jsonl_mixed_types(root):
        (root / "mixed.jsonl").write_bytes(b'{"x": 1, "label": "a"}\n{"x": "one", "label": "b"}\n')
        return _commit("mixed.jsonl"), "mixed.jsonl"

    def jsonl_non_utf8(root):
        (root / "bin.jsonl").write_bytes(b'{"x": "\xff\xfe", "label": "a"}\n')
        return _commit("bin.jsonl"), "bin.jsonl"

    def jsonl_non_utf8_label(root):
        (root / "binlabel.jsonl").write_bytes(b'{"x": 1, "label": "\xff"}\n')
        return _commit("binlabel.jsonl"), "binlabel.jsonl"

    def jsonl_non_utf8_source(root):
        (root / "binsrc.jsonl").write_bytes(b'{"x": 1, "label": "a", "src": "\xff"}\n')
        return _commit("binsrc.jsonl", "--source-column", "src"), "binsrc.jsonl"

    def jsonl_non_utf8_id(root):
        (root / "binid.jsonl").write_bytes(b'{"x": 1, "label": "a", "id": "\xff"}\n')
        return _commit("binid.jsonl", "--id-column", "id"), "binid.jsonl"

    def _survive_jsonl_nan_literal(root):
        (root / "nanlit.jsonl").write_bytes(b'{"x": NaN, "label": "a"}\n')
        return _commit("nanlit.jsonl"), "nanlit.jsonl"

    def jsonl_deep(root):
        depth = 1200
        (root / "deep.jsonl").write_bytes(b'{"x": ' + b"[" * depth + b"1" + b"]" * depth + b', "label": "a"}\n')
        return _commit("deep.jsonl"), "deep.jsonl"

    def jsonl_deep_encodable_limit(root):
        depth = 2000
        (root / "deep2k.jsonl").write_bytes(b'{"x": ' + b"[" * depth + b"1" + b"]" * depth + b', "label": "a"}\n')
        return _commit("deep2k.jsonl"), "deep2k.jsonl"

    def not_a_table_suffix(root):
        (root / "data.txt").write_text("hello")
        return _commit("data.txt"), "data.txt"

    def missing(root):
        return _commit("nowhere.parquet"), "nowhere.parquet"

    def folder_of_mismatched_tables(root):
        (root / "mixed").mkdir()
        _parquet(root / "mixed", "a.parquet", pa.table({"x": [1], "label": ["a"]}))
        _parquet(root / "mixed", "b.parquet", pa.table({"y": [1], "label": ["a"]}))
        return _commit("mixed"), "different content columns"

    def bad_tag(root):
        return ["commit", "train.parquet", "--tag", "bad\ntag"], "tag"

    def unknown_parent(root):
        return _commit("train.parquet", "--parent", "nope"), "nope"

    return [f for f in locals().values() if callable(f)]


def table_cases_accepted():
    """Odd but valid tables: prov may accept them (exit 0, a version that verifies) or refuse cleanly."""
    return [
        _accepted("csv_non_utf8", "latin.csv", b"x,label\n\xff\xfe\xfa,a\n"),  # refused: pass --encoding
        _accepted("csv_header_only", "header.csv", b"x,label\n"),  # an empty version
        _accepted("jsonl_nan_literal", "nanlit.jsonl", b'{"x": NaN, "label": "a"}\n'),
        _accepted("csv_bom", "bom.csv", b"\xef\xbb\xbfx,label\n1,a\n"),
        _accepted("csv_nul_bytes", "nul.csv", b"x,label\n\x00\x00,a\n"),
        _accepted("label_with_newline", "nl.csv", b'x,label\n1,"a\nb"\n'),
        _accepted("uint64_past_int64", "u64.parquet", _parquet_bytes({"x": pa.array([2**64 - 1, None], pa.uint64())})),
    ]


def _parquet_bytes(columns: dict) -> bytes:
    sink = pa.BufferOutputStream()
    n = len(next(iter(columns.values())))
    pq.write_table(pa.table({**columns, "label": ["a"] * n}), sink)
    return sink.getvalue().to_pybytes()


def _accepted(name, filename, data):
    def case(root):
        (root / filename).write_bytes(data)
        return ["commit", filename, "--tag", "odd", "--signer", "owner.pub"], filename

    case.__name__ = name
    return case


def tree_cases():
    def _tree(root, name="tree"):
        t = root / name
        (t / "cat").mkdir(parents=True, exist_ok=True)
        (t / "cat" / "a.bin").write_bytes(b"meow")
        return t

    def symlink_file_out(root):
        t = _tree(root)
        os.symlink("/etc/passwd", t / "cat" / "passwd")
        return _commit("tree", "--tree-reader", "files"), "symlink leaves the tree"

    def symlink_dir_out(root):
        t = _tree(root)
        os.symlink("/etc", t / "etc")
        return _commit("tree", "--tree-reader", "files"), "symlink leaves the tree"

    def symlink_relative_climb(root):
        t = _tree(root)
        os.symlink("../../owner.key", t / "cat" / "key")
        return _commit("tree", "--tree-reader", "files"), "symlink leaves the tree"

    def dangling_symlink(root):
        t = _tree(root)
        os.symlink("nothing-here", t / "cat" / "ghost")
        return _commit("tree", "--tree-reader", "files"), "ghost"

    def symlink_loop(root):
        t = _tree(root)
        os.symlink("loop", t / "cat" / "loop")
        return _commit("tree", "--tree-reader", "files"), "loop"

    def fifo_in_tree(root):
        t = _tree(root)
        os.mkfifo(t / "cat" / "pipe")
        return _commit("tree", "--tree-reader", "files"), "pipe"

    def empty_tree(root):
        (root / "hollow").mkdir()
        return _commit("hollow", "--tree-reader", "files"), "hollow"

    def labels_csv_traversal(root):
        _tree(root)
        (root / "labels.csv").write_text("path,label\n../owner.key,cat\n")
        return _commit("tree", "--labels-csv", "labels.csv", "--kind", "tree"), "climbs out"

    def labels_csv_absolute(root):
        _tree(root)
        (root / "labels.csv").write_text("path,label\n/etc/passwd,cat\n")
        return _commit("tree", "--labels-csv", "labels.csv", "--kind", "tree"), "climbs out"

    def labels_csv_symlink_escape(root):
        t = _tree(root)
        os.symlink("/etc", t / "sys")
        (root / "labels.csv").write_text("path,label\nsys/passwd,cat\n")
        return _commit("tree", "--labels-csv", "labels.csv", "--kind", "tree"), "leaves the tree"

    def labels_csv_missing_file(root):
        _tree(root)
        (root / "labels.csv").write_text("path,label\ncat/none.bin,cat\n")
        return _commit("tree", "--labels-csv", "labels.csv", "--kind", "tree"), "none.bin"

    def labels_csv_folder_as_file(root):
        _tree(root)
        (root / "labels.csv").write_text("path,label\ncat,cat\n")
        return _commit("tree", "--labels-csv", "labels.csv", "--kind", "tree"), "folder"

    def labels_csv_empty_label(root):
        _tree(root)
        (root / "labels.csv").write_text("path,label\ncat/a.bin,\n")
        return _commit("tree", "--labels-csv", "labels.csv", "--kind", "tree"), "empty path or label"

    def labels_csv_non_utf8(root):
        _tree(root)
        (root / "labels.csv").write_bytes(b"path,label\ncat/a.bin,\xff\n")
        return _commit("tree", "--labels-csv", "labels.csv", "--kind", "tree"), "labels.csv"

    return [f for f in locals().values() if callable(f) and not f.__name__.startswith("_")]


def envelope_cases():
    def _verify(name):
        return ["verify", "--store-keys", "vendor.parquet", "--envelope", name]

    def _valid(root) -> dict:
        return json.loads((root / "vendor.parquet.prov.json").read_text())

    def _write(root, name, obj):
        (root / name).write_text(obj if isinstance(obj, str) else json.dumps(obj))
        return _verify(name), name

    cases = {
        "env_empty": lambda root: _write(root, "e.json", ""),
        "env_not_json": lambda root: _write(root, "e.json", "{not json"),
        "env_array": lambda root: _write(root, "e.json", "[]"),
        "env_deep": lambda root: _write(root, "e.json", "[" * 100000 + "]" * 100000),
        "env_no_signatures": lambda root: _write(root, "e.json", {**_valid(root), "signatures": []}),
        "env_sig_not_str": lambda root: _write(root, "e.json", {**_valid(root), "signatures": [{"sig": 5}]}),
        "env_sig_bad_b64": lambda root: _write(
            root, "e.json", {**_valid(root), "signatures": [{"sig": "!!!", "keyid": ""}]}
        ),
        "env_payload_bad_b64": lambda root: _write(root, "e.json", {**_valid(root), "payload": "%%%"}),
        "env_payload_not_json": lambda root: _write(
            root, "e.json", {**_valid(root), "payload": base64.b64encode(b"\xff").decode()}
        ),
        "env_payload_deep": lambda root: _write(
            root, "e.json", {**_valid(root), "payload": base64.b64encode(b"[" * 100000).decode()}
        ),
        "env_payload_type": lambda root: _write(root, "e.json", {**_valid(root), "payloadType": "text/plain"}),
        "env_wrong_sig": lambda root: _write(
            root,
            "e.json",
            {
                **_valid(root),
                "signatures": [
                    {"keyid": _valid(root)["signatures"][0]["keyid"], "sig": base64.b64encode(b"\x00" * 64).decode()}
                ],
            },
        ),
        "env_lying_keyid": lambda root: _write(
            root, "e.json", {**_valid(root), "signatures": [{**_valid(root)["signatures"][0], "keyid": "00" * 32}]}
        ),
        "env_no_manifest": lambda root: _write(
            root, "e.json", {k: v for k, v in _valid(root).items() if k != "manifest"}
        ),
        "env_manifest_swapped": lambda root: _write(
            root, "e.json", {**_valid(root), "manifest": base64.b64encode(b"PAR1junkPAR1").decode()}
        ),
        "env_huge": lambda root: _huge(root),
        "env_missing": lambda root: (_verify("nowhere.json"), "nowhere.json"),
    }

    def _huge(root):
        with open(root / "huge.json", "wb") as fh:
            fh.truncate(65 << 20)  # sparse: larger than the limit without writing it
        return _verify("huge.json"), "huge.json"

    out = []
    for name, fn in cases.items():
        fn.__name__ = name
        out.append(fn)

    # `prov add` reads the same envelopes
    def add_with_tampered_envelope(root):
        _write(root, "t.json", {**_valid(root), "payload": base64.b64encode(b'{"_type": 1}').decode()})
        return ["add", "vendor.parquet", "--source", "vendor", "--envelope", "t.json", "--store-keys"], "t.json"

    out.append(add_with_tampered_envelope)
    return out


def key_cases():
    def _commit_with(name):
        return ["commit", "train.parquet", "--tag", "hostile", "--key", name, "--signer", "owner.pub"]

    def key_empty(root):
        (root / "empty.key").write_bytes(b"")
        os.chmod(root / "empty.key", 0o600)
        return _commit_with("empty.key"), "empty.key"

    def key_garbage(root):
        (root / "junk.key").write_bytes(os.urandom(300))
        os.chmod(root / "junk.key", 0o600)
        return _commit_with("junk.key"), "junk.key"

    def key_public_as_private(root):
        shutil.copy(root / "owner.pub", root / "pub.key")
        os.chmod(root / "pub.key", 0o600)
        return _commit_with("pub.key"), "pub.key"

    def key_rsa(root):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        k = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        (root / "rsa.key").write_bytes(
            k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        os.chmod(root / "rsa.key", 0o600)
        return _commit_with("rsa.key"), "not an Ed25519 private key"

    def key_world_readable(root):
        shutil.copy(root / "owner.key", root / "open.key")
        os.chmod(root / "open.key", 0o644)
        return _commit_with("open.key"), "readable by others"

    def key_is_folder(root):
        (root / "dir.key").mkdir()
        return _commit_with("dir.key"), "dir.key"

    def key_missing(root):
        return _commit_with("none.key"), "none.key"

    def key_truncated_pem(root):
        (root / "cut.key").write_bytes((root / "owner.key").read_bytes()[:60])
        os.chmod(root / "cut.key", 0o600)
        return _commit_with("cut.key"), "cut.key"

    def trust_garbage_pub(root):
        (root / "junk.pub").write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
        return ["trust", "add", "vendor2", "junk.pub"], "junk.pub"

    def trust_private_as_pub(root):
        return ["trust", "add", "vendor2", "owner.key"], "owner.key"

    def trust_bad_source(root):
        return ["trust", "add", "bad\x07source", "vendor.pub"], "control characters"

    def trust_bad_window(root):
        return ["trust", "add", "vendor2", "vendor.pub", "--valid-from", "yesterday"], "yesterday"

    def sign_bad_key(root):
        (root / "junk2.key").write_bytes(b"nope")
        os.chmod(root / "junk2.key", 0o600)
        return ["sign", "vendor.parquet", "--source", "vendor", "--key", "junk2.key", "--out", "x.json"], "junk2.key"

    def quarantine_bad_findings(root):
        (root / "findings.json").write_text("[" * 100000)
        return [
            "quarantine",
            "--from",
            "v1",
            "--findings",
            "findings.json",
            "--tag",
            "qq",
            "--key",
            "owner.key",
        ], "findings.json"

    return [f for f in locals().values() if callable(f) and not f.__name__.startswith("_")]


HOSTILE = [c for c in table_cases() if not c.__name__.startswith("_")] + tree_cases() + envelope_cases() + key_cases()
ACCEPTED = table_cases_accepted()


@pytest.mark.parametrize("case", HOSTILE, ids=[c.__name__ for c in HOSTILE])
def test_hostile_input_is_a_clean_error_and_changes_nothing(world, case):
    argv, needle = case(world.root)
    before = faults.fingerprint(world.prov_dir)
    r = prov_inline(*argv, cwd=world.root, env={"PROV_KEY": str(world.owner.private_path)})
    assert not r.crashed, r.stdout + r.stderr
    assert r.code in (1, 2), (r.code, r.stdout, r.stderr)
    assert r.stderr.startswith("Error: "), r.stderr
    assert needle in r.stderr.splitlines()[0], r.stderr
    assert faults.fingerprint(world.prov_dir) == before


@pytest.mark.parametrize("case", ACCEPTED, ids=[c.__name__ for c in ACCEPTED])
def test_odd_but_valid_input_is_accepted_or_refused_cleanly(world, case):
    argv, needle = case(world.root)
    before = faults.fingerprint(world.prov_dir)
    r = prov_inline(*argv, cwd=world.root, env={"PROV_KEY": str(world.owner.private_path)})
    assert not r.crashed and r.code in (0, 2), (r.code, r.stdout, r.stderr)
    if r.code == 0:
        assert prov_inline("verify", "--store-keys", "odd", cwd=world.root).code == 0
        assert faults.check_after_fault(world)["fsck_ok"]
    else:
        assert needle in r.stderr and faults.fingerprint(world.prov_dir) == before


def test_ten_megabyte_cells_are_records_not_a_problem(world):
    big = "x" * (10 << 20)
    (world.root / "cells.csv").write_text(f"text,label\n{big},a\n{big[:-1]}y,b\n")
    pq.write_table(pa.table({"blob": [os.urandom(10 << 20)], "label": ["a"]}), world.root / "cells.parquet")
    for name in ("cells.csv", "cells.parquet"):
        # other data than the world's pixels: the parent's signed request (its 64 pixel columns) is refused for it
        # (session 30, A30a-3), so the featuriser is chosen again, as that refusal says
        args = ("commit", name, "--tag", name, "--key", world.owner.private_path, "--signer", "owner.pub")
        r = prov_inline(*args, "--featurizer", "auto", cwd=world.root)
        assert r.code == 0 and not r.crashed, r.stderr
        assert prov_inline("verify", "--store-keys", name, cwd=world.root).code == 0
    assert faults.check_after_fault(world)["fsck_ok"]


def test_unreadable_file_in_a_tree_is_an_input_error(world):
    """As a non-root user (root reads everything): a mode-000 file is an input error."""
    tree = world.root / "locked"
    (tree / "cat").mkdir(parents=True)
    (tree / "cat" / "open.bin").write_bytes(b"a")
    (tree / "cat" / "shut.bin").write_bytes(b"b")
    os.chmod(tree / "cat" / "shut.bin", 0)
    user = {}
    if os.geteuid() == 0:
        nobody = 65534
        try:
            usable = (
                subprocess.run([faults.PROV, "--help"], capture_output=True, user=nobody, group=nobody).returncode == 0
            )
        except OSError:
            usable = False
        if not usable:
            pytest.skip("running as root, and user nobody cannot run prov here (the interpreter is under /root)")
        for dirpath, dirnames, filenames in os.walk(world.root):
            for n in [dirpath, *(os.path.join(dirpath, x) for x in dirnames + filenames)]:
                os.lchown(n, nobody, nobody)
        user = {"user": nobody, "group": nobody}
    before = faults.fingerprint(world.prov_dir)
    p = subprocess.run(
        [faults.PROV, "commit", "locked", "--tag", "locked", "--key", str(world.owner.private_path)],
        cwd=world.root,
        env=faults.clean_env({"HOME": str(world.root)}),
        capture_output=True,
        text=True,
        timeout=120,
        **user,
    )
    assert p.returncode == 2, p.stderr
    assert "shut.bin: cannot read file (Permission denied)" in p.stderr and "Traceback" not in p.stderr
    assert faults.fingerprint(world.prov_dir) == before
