"""The README's "Log states kept outside the store" lines, run as written (attack review 16, F1).

A folder holding ``data/`` (real digits in Parquet); each line of the block runs in one shell, in order, and
must exit 0. Then the state kept at v2's commit is checked against a store from which v2 was erased with sqlite3
(its row, its commit entry, the checkpoints over it) and v3 committed after: the check blocks, as the README says.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from support import digits_table, doc_section

REPO = Path(__file__).resolve().parents[2]
GATE = doc_section("The release gate")  # the README's summary, then docs/release-gate.md


def block_lines() -> list[str]:
    text = GATE[GATE.index("**Log states kept outside the store**") :]
    start = text.index("```bash\n") + len("```bash\n")
    return [line for line in text[start : text.index("```", start)].splitlines() if line.strip()]


def run(folder: Path, lines: list[str]) -> subprocess.CompletedProcess:
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "prov"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m provenance "$@"\n')
    script.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(folder), "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    steps = [f"{line} || {{ echo 'exited '$?': '{shlex.quote(line)} >&2; exit 99; }}" for line in lines]
    return subprocess.run(["bash", "-c", "\n".join(steps)], cwd=folder, capture_output=True, text=True, env=env)


def test_the_kept_log_state_lines_run_as_written_and_catch_an_erased_commit(tmp_path):
    (tmp_path / "data").mkdir()
    pq.write_table(digits_table(600), tmp_path / "data" / "digits.parquet")
    lines = block_lines()
    assert any("--checkpoint-out" in line for line in lines) and any(" --checkpoint " in line for line in lines)
    r = run(tmp_path, lines)
    assert r.returncode == 0, r.stderr[-3000:]
    kept = json.loads((tmp_path / "v2.checkpoint.json").read_text())
    assert kept["payloadType"] == "application/vnd.in-toto+json"

    db = sqlite3.connect(tmp_path / ".prov" / "prov.db")
    (seq,) = db.execute("select seq from audit where action = 'commit' and subject = 'v2'").fetchone()
    db.execute("delete from audit where seq >= ?", [seq])  # v2's entry and the check's detector run after it
    db.execute("delete from versions where tag = 'v2'")
    db.execute("delete from checkpoints where size >= ?", [seq])
    db.commit()
    db.close()
    # the next run's commit, given the state the previous run kept, refuses the cut log
    r = run(
        tmp_path,
        ["prov commit data/ --tag v3 --key maintainer.key --signer maintainer.pub --checkpoint v2.checkpoint.json"],
    )
    assert r.returncode == 99 and "log state kept in v2.checkpoint.json" in " ".join(r.stderr.split())
    r = run(
        tmp_path,
        [
            "prov commit data/ --tag v3 --key maintainer.key --signer maintainer.pub",
            "prov check v3 --base v1 --signer maintainer.pub --checkpoint v1.checkpoint.json --no-save",
        ],
    )
    assert r.returncode == 0, r.stderr[-3000:]  # the state kept before v2 is held: v2 was never seen
    r = run(tmp_path, ["prov check v3 --base v1 --signer maintainer.pub --checkpoint v2.checkpoint.json --no-save"])
    text = " ".join(r.stdout.split())
    assert r.returncode == 99 and "BLOCKED by 1 of 1 rule: integrity.kept_log_state" in text
    assert f"the store's audit log's first {seq} entries are not the {seq} of the log state kept in v2" in text
