"""A light core: DVC is an extra, imported only when a git revision is asked for; without it,
a revision is one exit-2 line naming the extra, and nothing else needs it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from support import store_fingerprint

REPO = Path(__file__).resolve().parents[2]

# run prov in a process where DVC is not installed (an import of it fails, as on a vendor's machine)
WITHOUT_DVC = "import sys\nsys.modules['dvc'] = None\nsys.argv = ['prov', *sys.argv[1:]]\nfrom provenance.cli import main\nmain()\n"


def prov_without_dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_DVC, *args], cwd=cwd, capture_output=True, text=True)


def test_the_core_needs_neither_dvc_nor_pandas():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]}
    assert not core & {"dvc", "pandas", "scikit-learn", "dask"}
    assert any(d.startswith("dvc") for d in project["optional-dependencies"]["dvc"])


def test_without_dvc_a_revision_names_the_extra_and_the_rest_works(workdir, digits_parquet):
    for args in (["init"], ["keys", "generate", "keys/k"]):
        assert prov_without_dvc(*args, cwd=workdir).returncode == 0
    r = prov_without_dvc("sign", str(digits_parquet), "--source", "vendor", "--key", "keys/k.key", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert prov_without_dvc("trust", "add", "vendor", "keys/k.pub", "--unsigned", cwd=workdir).returncode == 0
    r = prov_without_dvc("verify", "--store-keys", str(digits_parquet), cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert (
        prov_without_dvc(
            "commit", str(digits_parquet), "--tag", "v1", "--key", "keys/k.key", "--signer", "keys/k.pub", cwd=workdir
        ).returncode
        == 0
    )
    before = store_fingerprint(workdir / ".prov")
    r = prov_without_dvc(
        "commit",
        "digits.parquet",
        "--tag",
        "v2",
        "--key",
        "keys/k.key",
        "--signer",
        "keys/k.pub",
        "--rev",
        "HEAD",
        cwd=workdir,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(
        "Error: digits.parquet: reading at a git revision ('HEAD')"
    )
    assert "needs DVC: pip install -e '.[dvc]' in a clone of prov (or pip install 'prov-data[dvc]')" in r.stderr
    assert store_fingerprint(workdir / ".prov") == before


LIBRARY_WITHOUT_DVC = """
import sys
sys.modules['dvc'] = None
import provenance as prov
from provenance.errors import InputError
store = prov.Store.open()
try:
    from provenance.api import dataset
    prov.commit(store, dataset('digits.parquet', rev='HEAD'), tag='v2', key='keys/k.key')
except InputError as exc:
    print(exc.exit_code, exc)
"""


def test_from_the_library_a_revision_without_dvc_is_the_same_input_error(workdir, digits_parquet):
    assert prov_without_dvc("init", cwd=workdir).returncode == 0
    assert prov_without_dvc("keys", "generate", "keys/k", cwd=workdir).returncode == 0
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "digits.parquet"], ["commit", "-qm", "data"]):
        subprocess.run([*git, *args], cwd=workdir, check=True, capture_output=True)
    r = subprocess.run([sys.executable, "-c", LIBRARY_WITHOUT_DVC], cwd=workdir, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("2 digits.parquet: reading at a git revision ("), r.stdout  # the resolved commit
    assert "needs DVC: pip install -e '.[dvc]' in a clone of prov (or pip install 'prov-data[dvc]')" in r.stdout
