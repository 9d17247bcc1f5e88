"""A store on a read-only mount: reading commands work, check and diff --detect say their findings were not saved.

The store and data are bind-mounted read-only in a private mount namespace (``unshare -m``),
so every write fails with EROFS as on a read-only volume, even for root (whom file modes
do not stop). Before, ``check`` and ``diff --detect`` died with exit 3 on the lock file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import provenance
from support import digits_table, store_fingerprint

REPO = Path(provenance.__file__).resolve().parents[1]


def _can_mount_read_only(folder: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind -o ro '{folder}' '{folder}' && ! touch '{folder}/x'"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("read-only")
    if not _can_mount_read_only(root):
        pytest.skip("needs unshare -m and a bind mount (CAP_SYS_ADMIN)")
    table = digits_table(400)
    pq.write_table(table.slice(0, 300), root / "v1.parquet")
    pq.write_table(table, root / "v2.parquet")
    _prov(root, "init")
    _prov(root, "keys", "generate", "maintainer")
    for tag in ("v1", "v2"):
        _prov(root, "commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", "--signer", "maintainer.pub")
    return root


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), PROV_WORKERS="1")
    env.pop("PROV_STORE", None)
    return env


def _prov(root: Path, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "provenance", *args], cwd=root, env=_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out


def _read_only(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``prov ARGS`` with ``root`` (data and store) mounted read-only for this one process."""
    command = " ".join(f"'{a}'" for a in [sys.executable, "-m", "provenance", *args])
    script = f"mount --bind -o ro '{root}' '{root}' && cd '{root}' && exec {command}"
    env = _env() | {"PROV_SIGNERS": str(root / "maintainer.pub")}  # the verifier pins the maintainer's key
    return subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("verify", "v2"), "manifest ok, data ok (400 records)"),
        (("diff", "v1", "v2"), "Changes: 100 added"),
        (("show", "v2"), "Version v2 (parent v1), 400 records; signature ok\n  checked against pinned"),
        (("log",), "v2 "),
        (("audit", "verify"), "Audit log ok"),
        (("fsck",), "0 errors"),
    ],
)
def test_reading_commands_work_on_a_read_only_store(project, args, said):
    before = store_fingerprint(project / ".prov")
    out = _read_only(project, *args)
    assert out.returncode == 0, out.stderr
    assert said in out.stdout and out.stderr == ""
    assert store_fingerprint(project / ".prov") == before


def test_diff_detect_runs_and_says_the_findings_were_not_saved(project):
    out = _read_only(project, "diff", "v1", "v2", "--detect", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert '"findings"' in out.stdout
    assert (
        out.stderr
        == f"Note: {project}/.prov is read-only: the findings above were not saved (prov findings will not list them)\n"
    )
    assert "No detector run stored for v2" in _prov(project, "findings", "v2").stdout


def test_check_evaluates_and_says_the_findings_were_not_saved(project):
    out = _read_only(project, "check", "v2", "--base", "v1")
    assert out.returncode in (0, 1), out.stderr  # evaluated: passed or blocked, never "could not evaluate"
    assert out.stdout.startswith("prov check v2 --base v1: ")
    assert out.stderr.startswith(f"Note: {project}/.prov is read-only: the detectors' findings were not saved")


def test_writing_commands_fail_before_any_work_naming_the_store(project):
    out = _read_only(
        project, "commit", "v2.parquet", "--tag", "v3", "--key", "maintainer.key", "--signer", "maintainer.pub"
    )
    assert out.returncode == 3
    assert out.stderr == f"Error: {project}/.prov: the store is read-only here; this command must write to it\n"
    out = _read_only(project, "check", "v2", "--base", "v1", "--attest", "--key", "maintainer.key")
    assert out.returncode == 3 and "--attest records the attestation in it" in out.stderr
