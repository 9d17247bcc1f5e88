"""Envelopes and other named input files are bounded before parsing, and the paths they name stay inside the data.

A signature says who wrote an envelope, not that what it says is safe: a vendor's own key
(or a stolen one) can sign an envelope naming ``/dev/zero`` as the labels CSV, which made
``prov add`` eat memory and die with exit 3. A 63 MiB envelope of ``[],[],...`` cost
about 1.8 GB to parse before any signature was checked. Each case here is exit 2 with one
line naming the file and the limit, and the store as it was.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from provenance import keys, signing
from provenance.trust import source_keys as trust
from support import digits_table, store_fingerprint


@pytest.fixture
def vendor_tree(prov, workdir, store):
    """A vendor's file tree with a labels CSV beside it, signed and trusted."""
    tree = workdir / "batch"
    tree.mkdir()
    rows = ["path,label"]
    for i in range(6):
        (tree / f"img{i}.bin").write_bytes(f"image {i}".encode())
        rows.append(f"img{i}.bin,{'cat' if i % 2 else 'dog'}")
    (workdir / "labels.csv").write_text("\n".join(rows) + "\n")
    pair = keys.generate(workdir / "vendor")
    trust.add_key(store, "vendor", pair.public_path, unsigned=True)
    r = prov("sign", "batch", "--labels-csv", "labels.csv", "--source", "vendor", "--key", pair.private_path)
    assert r.exit_code == 0, r.output
    return tree, pair


def _resign(envelope: Path, pair, change) -> None:
    """The vendor (or whoever holds its key) signs an edited statement, keeping the manifest."""
    env = json.loads(envelope.read_text())
    stmt = json.loads(base64.b64decode(env["payload"]))
    change(stmt["predicate"])
    new = signing.sign(stmt, keys.load_private(pair.private_path))
    new["manifest"] = env["manifest"]
    envelope.write_text(json.dumps(new))


def _input_error(r, *named: str) -> None:
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    for text in named:
        assert text in r.stderr, r.stderr


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("/dev/zero", "must be a file name in the data's folder"),
        ("../../etc/passwd", "must be a file name in the data's folder"),
        ("..", "must be a file name in the data's folder"),
    ],
)
def test_a_signed_labels_csv_path_is_confined_to_the_data_folder(prov, workdir, vendor_tree, name, said):
    tree, pair = vendor_tree
    envelope = workdir / "batch.prov.json"
    _resign(envelope, pair, lambda pred: pred["read"].update(labels_csv=name))
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "batch", "--source", "vendor", "--store-keys")
    _input_error(r, "batch.prov.json", said)
    assert store_fingerprint(workdir / ".prov") == before


def test_a_signed_labels_csv_symlink_out_of_the_folder_is_refused(prov, workdir, vendor_tree):
    tree, pair = vendor_tree
    os.symlink("/dev/zero", workdir / "zero.csv")
    _resign(workdir / "batch.prov.json", pair, lambda pred: pred["read"].update(labels_csv="zero.csv"))
    r = prov("add", "batch", "--source", "vendor", "--store-keys")
    _input_error(r, "batch.prov.json", "leads out of the data's folder (to /dev/zero)")


def test_the_signed_labels_csv_beside_the_data_still_verifies(prov, workdir, vendor_tree):
    r = prov("add", "batch", "--source", "vendor", "--store-keys")
    assert r.exit_code == 0, r.output


def test_an_envelope_of_many_tiny_values_is_refused_before_parsing(workdir, store):
    # Run in a child process to measure its peak memory: the refusal must not parse the JSON.
    env = workdir / "huge.prov.json"
    with open(env, "wb") as fh:
        fh.write(b'{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":[')
        fh.write(b"[]," * ((63 << 20) // 3))
        fh.write(b"[]]}")
    (workdir / "data.parquet").write_bytes(b"")
    # The child's own peak (VmHWM): ru_maxrss keeps the peak of the process it was forked from, so it
    # reported the pytest worker's size (600 MiB and more after a large test in the same worker).
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from provenance.cli import app\n"
        "r = CliRunner().invoke(app, ['add', 'data.parquet', '--source', 'vendor', '--envelope', 'huge.prov.json', '--store-keys'])\n"
        "hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
        "print(r.exit_code, int(hwm.split()[1]) >> 10)\n"
        "sys.stderr.write(r.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, check=True)
    exit_code, peak_mib = map(int, out.stdout.split())
    assert exit_code == 2
    assert "huge.prov.json: envelope holds more JSON values than the limit of 10,000" in out.stderr
    assert peak_mib < 600  # reading 63 MiB once, not 1.8 GB of parsed objects


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            ["add", "data.parquet", "--source", "vendor", "--envelope", "/dev/zero", "--store-keys"],
            "/dev/zero: envelope is not a regular file",
        ),
        (
            ["add", "data.parquet", "--source", "vendor", "--envelope", "big.json", "--store-keys"],
            "big.json: envelope is larger than the 64 MiB limit",
        ),
        (
            ["sign", "data.parquet", "--source", "vendor", "--key", "/dev/zero"],
            "/dev/zero: private key is not a regular file",
        ),
        (["trust", "add", "vendor", "pipe"], "pipe: public key is not a regular file"),
        (["check", "v2", "--base", "v1", "--policy", "pipe"], "pipe: policy is not a regular file"),
        (["check", "v2", "--base", "v1", "--waiver", "/dev/zero"], "/dev/zero: waivers file is not a regular file"),
        (["verify", "v1", "--attestation", "/dev/urandom"], "/dev/urandom: attestation is not a regular file"),
    ],
    ids=[
        "envelope-dev-zero",
        "envelope-64mib",
        "key-dev-zero",
        "pubkey-fifo",
        "policy-fifo",
        "waivers-dev-zero",
        "attestation-urandom",
    ],
)
def test_named_input_files_that_are_not_small_regular_files_are_refused(prov, workdir, store, keypair, argv, named):
    os.mkfifo(workdir / "pipe")  # opening it to read would block until a writer came
    with open(workdir / "big.json", "wb") as fh:
        fh.truncate((64 << 20) + 1)  # sparse: costs no disk
    pq.write_table(digits_table(20), workdir / "data.parquet")
    if "v1" in argv:
        for tag in ("v1", "v2"):
            assert (
                prov(
                    "commit",
                    "data.parquet",
                    "--tag",
                    tag,
                    "--key",
                    keypair.private_path,
                    "--signer",
                    keypair.public_path,
                ).exit_code
                == 0
            )
    if argv[0] in ("check", "verify"):
        argv = [*argv, "--signer", keypair.public_path]  # the verifier pins its key (issue 12)
    before = store_fingerprint(workdir / ".prov")
    r = prov(*argv)
    _input_error(r, named)
    assert store_fingerprint(workdir / ".prov") == before


def test_a_batch_without_a_capture_time_is_refused_when_its_key_has_a_validity_window(prov, workdir, store):
    """Security review, finding 6: a key trusted only until a date was checked against the
    signed capturedAt, and a batch that named none skipped the check entirely."""
    pq.write_table(digits_table(20), workdir / "data.parquet")
    pair = keys.generate(workdir / "vendor")
    trust.add_key(store, "vendor", pair.public_path, valid_until="2099-01-01", unsigned=True)
    r = prov("sign", "data.parquet", "--source", "vendor", "--key", pair.private_path)
    assert r.exit_code == 0, r.output
    _resign(workdir / "data.parquet.prov.json", pair, lambda pred: pred.pop("capturedAt"))
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "data.parquet", "--source", "vendor", "--store-keys")
    assert r.exit_code == 1 and "names no capturedAt" in r.stderr, r.output
    assert store_fingerprint(workdir / ".prov") == before
