"""Newcomer review 22's leftovers (items 6 to 10 of its report), each replayed through the CLI on real Parquet
files, keys, stores and DVC repositories.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from support import Prov

PINNED = ("--signer", "k.pub")
KEY = ("--key", "k.key")


def _store_with_v1(prov: Prov, folder: Path) -> None:
    """``d.parquet`` (two sources) committed as v1 under ``k.key`` in a store in ``folder`` (made current)."""
    os.chdir(folder)
    assert prov("init").exit_code == 0
    keys.generate(folder / "k")
    pq.write_table(
        pa.table({"x": [float(i) for i in range(12)], "label": ["a", "b", "c"] * 4, "src": ["v", "c"] * 6}),
        "d.parquet",
    )
    r = prov("commit", "d.parquet", "--tag", "v1", *KEY, *PINNED, "--source-column", "src")
    assert r.exit_code == 0, r.output


def test_quarantine_in_a_folder_inside_another_dvc_repository_does_not_say_to_commit_there(prov, workdir):
    """Item 10: in the demo's folder (inside prov's own clone, which has a `.dvc/`) quarantine said the new file was
    "new in this DVC project" and to `dvc add` and `git commit` it: into prov's repository. A store that DVC does
    not share (its folder is not the repository's root, and no `.prov.dvc` tracks it) gets no such hint; the line
    names the repository above and says why."""
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "-q", "--no-scm"], cwd=workdir, check=True, env=os.environ | {"DVC_NO_ANALYTICS": "1"})
    inner = workdir / "prov-demo"
    inner.mkdir()
    _store_with_v1(prov, inner)
    r = prov("quarantine", "--from", "v1", "--source", "c", "--tag", "v2", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    assert "dvc add d.v2" not in r.stdout and "new in this DVC project" not in r.stdout, r.stdout
    assert (
        f"  d.v2.parquet is not shared through DVC: this folder is not a DVC repository, and the one above it "
        f"({workdir}) does not track this store (no .prov.dvc)"
    ) in r.stdout.splitlines(), r.stdout
    # once the store is tracked there (`dvc add prov-demo/.prov` writes prov-demo/.prov.dvc), the hint is given
    (inner / ".prov.dvc").write_text("outs:\n- path: .prov\n")
    r = prov("quarantine", "--from", "v1", "--source", "v", "--tag", "v3", *KEY, *PINNED)
    assert r.exit_code == 0, r.output
    assert "  d.v3.parquet is new in this DVC project: track it as you share the store: dvc add d.v3.parquet .prov" in (
        r.stdout
    ), r.stdout
