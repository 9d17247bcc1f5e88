"""Every command that writes a file it is asked for follows one writer's rules (``output_file``).

Run as root, ``--out /dev/null`` used to rename a temporary file over the device node;
a symlink was replaced instead of written through. Devices here are real device nodes
made in the test's folder, never the machine's own /dev.
"""

from __future__ import annotations

import json
import os
import stat

import pyarrow.parquet as pq
import pytest

from support import digits_table, store_fingerprint


@pytest.fixture
def two_versions(prov, workdir, store, keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))  # a second commit needs pins
    table = digits_table(120)
    pq.write_table(table.slice(0, 100), workdir / "v1.parquet")
    pq.write_table(table, workdir / "v2.parquet")
    for tag in ("v1", "v2"):
        r = prov("commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path)
        assert r.exit_code == 0, r.output
    return workdir


@pytest.fixture
def device(workdir):
    path = workdir / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    return path


def _refused(r, what: str) -> None:
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("Error: --") and r.stderr.count("\n") == 1
    assert what in r.stderr and "regular file or a new path" in r.stderr


def test_diff_and_check_refuse_a_device_and_leave_it_a_device(prov, two_versions, device):
    _refused(prov("diff", "v1", "v2", "--out", device), "is a character device")
    _refused(prov("check", "v2", "--base", "v1", "--out", device), "is a character device")
    assert stat.S_ISCHR(device.lstat().st_mode)


def test_a_fifo_or_folder_is_refused_before_any_work(prov, two_versions, workdir):
    os.mkfifo(workdir / "pipe")
    before = store_fingerprint(workdir / ".prov")
    _refused(prov("diff", "v1", "v2", "--detect", "--out", "pipe"), "is a FIFO")
    _refused(prov("check", "v2", "--base", "v1", "--out", "."), "is a folder")
    assert store_fingerprint(workdir / ".prov") == before  # no findings were stored: nothing ran


def test_attest_out_is_checked_before_the_gate_runs(prov, two_versions, workdir, keypair, device):
    before = store_fingerprint(workdir / ".prov")
    r = prov("check", "v2", "--base", "v1", "--attest", "--key", keypair.private_path, "--attest-out", device)
    _refused(r, "--attest-out")
    assert store_fingerprint(workdir / ".prov") == before and stat.S_ISCHR(device.lstat().st_mode)


def test_check_attest_refuses_an_attestation_already_there_unless_force(prov, two_versions, workdir, keypair):
    """A second ``check --attest`` replaced the first one's attestation silently; ``prov sign`` refused (review 9, 8)."""
    attest = ("check", "v2", "--base", "v1", "--attest", "--key", keypair.private_path)
    assert prov(*attest).exit_code == 0
    first = (workdir / "v2.attestation.json").read_bytes()
    before = store_fingerprint(workdir / ".prov")
    r = prov(*attest)
    assert r.exit_code == 2, r.output  # exit 0, the file rewritten, before
    assert r.stderr == (
        "Error: v2.attestation.json: already exists; give --force to replace it, or --attest-out FILE to write another\n"
    )
    assert (workdir / "v2.attestation.json").read_bytes() == first
    assert store_fingerprint(workdir / ".prov") == before  # refused before the gate ran
    assert prov(*attest, "--force").exit_code == 0
    assert json.loads((workdir / "v2.attestation.json").read_bytes()) != json.loads(first)  # a later release
    r = prov("verify", "v2", "--attestation", "v2.attestation.json")
    assert r.exit_code == 0, r.output


def test_attest_out_or_key_without_attest_is_refused(prov, two_versions, workdir, keypair, monkeypatch):
    """Newcomer review 10, finding 17: --key and --attest-out without --attest passed, exit 0, and wrote nothing."""
    before = store_fingerprint(workdir / ".prov")
    r = prov("check", "v2", "--base", "v1", "--key", keypair.private_path, "--attest-out", "x.json")
    assert r.exit_code == 2, r.output
    assert r.stderr == "Error: --attest-out and --key apply only with --attest (sign and write a release attestation)\n"
    r = prov("check", "v2", "--base", "v1", "--attest-out", "x.json")
    assert r.exit_code == 2 and r.stderr.startswith("Error: --attest-out applies only with --attest"), r.output
    assert store_fingerprint(workdir / ".prov") == before and not (workdir / "x.json").exists()
    monkeypatch.setenv("PROV_KEY", str(keypair.private_path))  # a key in the environment asks for nothing
    assert prov("check", "v2", "--base", "v1").exit_code == 0


def test_reports_are_written_through_a_symlink_and_to_stdout(prov, two_versions, workdir):
    (workdir / "reports").mkdir()
    (workdir / "latest.json").symlink_to(workdir / "reports" / "diff.json")
    r = prov("diff", "v1", "v2", "--format", "json", "--out", "latest.json")
    assert r.exit_code == 0, r.output
    assert (workdir / "latest.json").is_symlink()
    assert json.loads((workdir / "reports" / "diff.json").read_text())["summary"]["added"] == 20
    r = prov("diff", "v1", "v2", "--format", "json", "--out", "-")
    assert r.exit_code == 0 and json.loads(r.stdout)["summary"]["added"] == 20


def test_sign_refuses_a_device_envelope_and_can_write_to_stdout(prov, workdir, keypair, device):
    pq.write_table(digits_table(10), workdir / "batch.parquet")
    r = prov("sign", "batch.parquet", "--source", "vendor", "--key", keypair.private_path, "--out", device)
    _refused(r, "is a character device")
    r = prov("sign", "batch.parquet", "--source", "vendor", "--key", keypair.private_path, "--out", "-")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["payloadType"] == "application/vnd.in-toto+json"
    assert not (workdir / "batch.parquet.prov.json").exists()


def test_check_attest_names_a_link_at_its_path_and_never_suggests_force(prov, two_versions, workdir, keypair):
    """A planted link at the attestation path: refused naming where it points, without '--force' (review 9b)."""
    os.symlink(workdir / "elsewhere.json", workdir / "v2.attestation.json")
    before = store_fingerprint(workdir / ".prov")
    r = prov("check", "v2", "--base", "v1", "--attest", "--key", keypair.private_path)
    assert r.exit_code == 2 and "v2.attestation.json: is a symbolic link to " in r.stderr, r.output
    assert "--force" not in r.stderr and not (workdir / "elsewhere.json").exists()
    assert store_fingerprint(workdir / ".prov") == before
