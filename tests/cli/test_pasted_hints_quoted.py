"""A command prov names in a message for the user to paste quotes the names in it as sh reads them (attack review
15b, A15b-5): a source name is whoever registers or signs a batch's choice, and `v$(touch PWNED)` is a valid one.
The printed command is run by sh with the real prov on PATH."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from provenance import keys
from support import digits_table, one_line

SOURCE = "v$(touch PWNED)"
REPO = Path(__file__).parents[2]


def sh(command: str) -> subprocess.CompletedProcess[str]:
    """``command`` run by sh, with ``prov`` on PATH the real one (this source tree's)."""
    bin_dir = Path("bin")
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "prov").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m provenance "$@"\n')
    (bin_dir / "prov").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir.resolve()}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)


def test_the_trust_hint_for_an_untrusted_source_runs_as_printed(prov, workdir, keypair):
    pq.write_table(digits_table(30), "batch.parquet")
    assert prov("sign", "batch.parquet", "--source", SOURCE, "--key", str(keypair.private_path)).exit_code == 0
    assert prov("init").exit_code == 0
    r = prov("add", "batch.parquet", "--source", SOURCE, "--store-keys")
    assert r.exit_code != 0, r.output
    hint = one_line(r).split("`")[1]
    assert hint == f"prov trust add {shlex.quote(SOURCE)} KEY.pub --key MAINTAINER.key", hint
    # the hint said `prov trust add S KEY.pub`, which `prov trust add` refuses without --key (or --unsigned)
    maintainer = keys.generate(workdir / "maintainer")
    done = sh(hint.replace("KEY.pub", str(keypair.public_path)).replace("MAINTAINER.key", str(maintainer.private_path)))
    assert done.returncode == 0, done.stderr
    assert not Path("PWNED").exists()
    assert (
        prov("add", "batch.parquet", "--source", SOURCE, "--store-keys").exit_code == 0
    )  # the key is trusted for that source
