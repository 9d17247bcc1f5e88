"""Progress: stage bars on stderr when it is a terminal (a real pseudo-terminal here), none with -q or in a pipe;
the library reports through the callback a program installs."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from provenance import progress


def run_with_terminal_stderr(args: list[str], cwd) -> tuple[int, str, str]:
    """``prov ARGS`` with stderr on a pseudo-terminal and stdout on a pipe: (exit code, stdout, terminal text)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "provenance", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode() if proc.stdout else ""
    proc.wait()
    os.close(master)
    return proc.returncode, out, seen.decode(errors="replace")


def test_commit_shows_its_stages_on_a_terminal_and_nothing_with_q_or_in_a_pipe(prov, workdir, digits_parquet):
    prov("init")
    prov("keys", "generate", "k")
    code, out, terminal = run_with_terminal_stderr(
        ["commit", "digits.parquet", "--tag", "v1", "--key", "k.key"], workdir
    )
    assert code == 0 and out.startswith("Committed v1: 600 records")
    for stage in ("reading and hashing", "lineage", "reference profile"):
        assert stage in terminal, terminal
    assert "600/600" in terminal and "ETA" in terminal
    code, out, terminal = run_with_terminal_stderr(["-q", "verify", "--store-keys", "v1"], workdir)
    assert code == 0 and "reading and hashing" not in terminal and "Note:" not in terminal
    piped = subprocess.run(
        [sys.executable, "-m", "provenance", "verify", "--store-keys", "v1"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert piped.returncode == 0 and "reading and hashing" not in piped.stderr


def test_the_library_reports_stages_to_the_callback_a_program_installs(workdir, digits_parquet):
    import provenance as prov_lib

    events: list[progress.ProgressEvent] = []
    store = prov_lib.Store.init(".")
    from provenance import keys

    keys.generate("k")
    with progress.reporting(events.append):
        prov_lib.commit(store, "digits.parquet", tag="v1", key="k.key")
    stages = list(dict.fromkeys(e.stage for e in events))
    assert stages == ["reading and hashing", "lineage", "reference profile"]
    hashing = [e for e in events if e.stage == "reading and hashing"]
    assert hashing[0].done == 0 and hashing[-1].finished and hashing[-1].done == 600 and hashing[-1].total == 600
    events.clear()
    prov_lib.commit(store, "digits.parquet", tag="v2", key="k.key")  # no callback installed: nothing reported
    assert events == []
