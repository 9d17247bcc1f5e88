"""Private key material never leaves its file: not in output, logs, the store or errors."""

from __future__ import annotations

import base64
import logging
import os
import stat

import faults
import pytest
from cryptography.hazmat.primitives import serialization
from faults import prov_inline

from provenance import keys

PASSPHRASE = "correct horse battery staple 7f3a"


def _secrets(key_path, passphrase=None) -> list[bytes]:
    """Every spelling of the private key a leak could take: PEM body lines, raw bytes, hex, base64."""
    pem = key_path.read_bytes()
    private = serialization.load_pem_private_key(pem, password=passphrase.encode() if passphrase else None)
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    plain_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    body = [line for line in pem.splitlines() + plain_pem.splitlines() if line and not line.startswith(b"-----")]
    out = [raw, raw.hex().encode(), base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="), *body]
    if passphrase:
        out.append(passphrase.encode())
    return out


def _everything_written(world) -> dict[str, bytes]:
    files = {}
    for p in world.root.rglob("*"):
        if p.is_file() and p.suffix != ".key":
            files[str(p)] = p.read_bytes()
    return files


def _assert_no_leak(secrets, blobs: dict[str, bytes]):
    for where, blob in blobs.items():
        for s in secrets:
            assert s not in blob, f"private key material found in {where}"


def test_no_key_material_in_output_logs_store_or_errors(world, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PROV_PASSPHRASE", PASSPHRASE)
    r = prov_inline("keys", "generate", "secret", cwd=world.root, env={"PROV_PASSPHRASE": PASSPHRASE})
    assert r.code == 0, r.stderr
    key = world.root / "secret.key"
    secrets = _secrets(key, PASSPHRASE) + _secrets(world.owner.private_path)
    env = {"PROV_PASSPHRASE": PASSPHRASE}
    outputs = [r]
    runs = [
        # the owner commits with a new key and pins it beside the key that signed the store's history
        [
            "commit",
            "train.parquet",
            "--tag",
            "s1",
            "--key",
            "secret.key",
            "--json",
            "--signer",
            "secret.pub",
            "--signer",
            "owner.pub",
        ],
        ["sign", "crowd.parquet", "--source", "crowd2", "--key", "secret.key", "--out", "crowd.sig.json", "--json"],
        ["trust", "add", "crowd2", "secret.pub", "--unsigned"],
        ["add", "crowd.parquet", "--source", "crowd2", "--envelope", "crowd.sig.json", "--json", "--store-keys"],
        ["verify", "--store-keys", "s1", "--json"],
        ["show", "s1", "--json"],
        ["log", "--json"],
        ["audit", "verify", "--store-keys", "--json"],
        ["fsck", "--json"],
        ["lineage", "0000000000"],
        ["sources", "--json"],
        # every crowd record is now also a record crowd2 signed: crowd2's, so there is nothing of crowd's to cut
        ["quarantine", "--from", "s1", "--source", "crowd", "--tag", "s2", "--key", "secret.key", "--json"],
        ["quarantine", "--from", "s1", "--source", "vendor", "--tag", "s2", "--key", "secret.key", "--json"],
        # failures, whose messages must name the file but never its contents
        [
            "commit",
            "train.parquet",
            "--tag",
            "s3",
            "--key",
            "secret.key",
            "--signer",
            "secret.pub",
        ],  # wrong passphrase below
        [
            "commit",
            "train.parquet",
            "--tag",
            "s3",
            "--key",
            "owner.key",
            "--signer",
            "owner.pub",
        ],  # plain key, passphrase set
        ["sign", "vendor.parquet", "--source", "v", "--key", "owner.pub"],
    ]
    for i, argv in enumerate(runs):
        e = {"PROV_PASSPHRASE": "wrong"} if i == len(runs) - 3 else env
        outputs.append(prov_inline(*argv, cwd=world.root, env=e))
    assert all(o.code == 0 for o in outputs[:10]), [(o.code, o.stderr) for o in outputs[:10]]
    assert outputs[12].code == 2 and "another trusted source (100 records signed by crowd2)" in outputs[12].stderr
    assert outputs[13].code == 0, outputs[13].stderr  # a quarantine signed with the key
    assert all(not o.crashed for o in outputs)
    assert outputs[-3].code == 2 and "wrong passphrase" in outputs[-3].stderr
    assert outputs[-2].code == 2 and "not encrypted" in outputs[-2].stderr
    blobs = {f"output of {i}": (o.stdout + o.stderr).encode() for i, o in enumerate(outputs)}
    blobs["logs"] = caplog.text.encode()
    blobs.update(_everything_written(world))  # prov.db, objects, envelopes, manifests
    _assert_no_leak(secrets, blobs)
    # and in the store's rows, decoded
    store = world.store()
    for table in store.db.table_names():
        for row in store.db[table].rows:
            _assert_no_leak(secrets, {f"{table} row": repr(row).encode()})
    store.close()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_key_files_are_created_0600_whatever_the_umask(tmp_path, monkeypatch, umask):
    monkeypatch.delenv("PROV_PASSPHRASE", raising=False)
    old = os.umask(umask)
    try:
        pair = keys.generate(tmp_path / "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE(pair.private_path.stat().st_mode) == 0o600
    assert not pair.public_path.read_bytes().count(b"PRIVATE")


def test_an_encrypted_key_without_its_passphrase_fails_cleanly(world, monkeypatch):
    monkeypatch.setenv("PROV_PASSPHRASE", PASSPHRASE)
    pair = keys.generate(world.root / "locked")
    monkeypatch.delenv("PROV_PASSPHRASE")
    assert b"ENCRYPTED" in pair.private_path.read_bytes()
    before = faults.fingerprint(world.prov_dir)
    for argv in (
        ["commit", "train.parquet", "--tag", "x", "--key", "locked.key", "--signer", "locked.pub"],
        ["sign", "vendor.parquet", "--source", "vendor", "--key", "locked.key", "--out", "x.json"],
        ["quarantine", "--from", "v1", "--source", "crowd", "--tag", "x", "--key", "locked.key"],
    ):
        r = prov_inline(*argv, cwd=world.root)
        assert r.code == 2 and not r.crashed, r.stderr
        assert r.stderr == "Error: locked.key: private key is encrypted; set PROV_PASSPHRASE\n"
    assert faults.fingerprint(world.prov_dir) == before
    assert not (world.root / "x.json").exists()
