"""Progress: stage bars on stderr when it is a terminal (a real pseudo-terminal here), none with -q or in a pipe;
the library reports through the callback a program installs."""

from __future__ import annotations

import re
import subprocess
import sys

from provenance import progress
from support import run_on_terminal


def run_with_terminal_stderr(args: list[str], cwd, columns: int = 160) -> tuple[int, str, str]:
    """``prov ARGS`` with stderr on a pseudo-terminal ``columns`` wide and stdout on a pipe: (exit code,
    stdout, terminal text)."""
    return run_on_terminal(args, cwd, "stderr", columns)


def test_commit_shows_its_stages_on_a_terminal_and_nothing_with_q_or_in_a_pipe(prov, workdir, digits_parquet):
    prov("init")
    prov("keys", "generate", "k")
    code, out, terminal = run_with_terminal_stderr(
        ["commit", "digits.parquet", "--tag", "v1", "--key", "k.key"], workdir
    )
    assert code == 0 and out.startswith("Committed v1: 600 records")
    for stage in ("reading and hashing", "sorting and writing the manifest", "lineage", "reference profile"):
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
    assert stages == ["reading and hashing", "sorting and writing the manifest", "lineage", "reference profile"]
    hashing = [e for e in events if e.stage == "reading and hashing"]
    assert hashing[0].done == 0 and hashing[-1].finished and hashing[-1].done == 600 and hashing[-1].total == 600
    events.clear()
    prov_lib.commit(store, "digits.parquet", tag="v2", key="k.key")  # no callback installed: nothing reported
    assert events == []


def screen(stream: str, columns: int) -> list[str]:
    """What a terminal ``columns`` wide that wraps at its last column shows after ``stream``: the
    controls rich's live display writes (carriage return, line feed, cursor up, erase line, colours,
    cursor on/off) applied to a grid of lines."""
    lines, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]", stream):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
        elif token.startswith("\x1b["):
            if token.endswith("A"):
                row = max(0, row - int(token[2:-1] or 1))
            elif token == "\x1b[2K":
                lines[row] = ""
            continue  # colours, cursor on/off
        else:
            if col == columns:  # the character past the last column goes to the next line
                row, col = row + 1, 0
            while len(lines) <= row:
                lines.append("")
            lines[row] = lines[row][:col].ljust(col) + token + lines[row][col + 1 :]
            col += 1
        while len(lines) <= row:
            lines.append("")
    return [line.rstrip() for line in lines if line.strip()]


def test_at_80_columns_the_bars_fit_and_leave_nothing_behind(prov, workdir, digits_parquet):
    """Newcomer review 7 leftovers: in an 80-column terminal the stage bars stayed on screen after the
    command, the finished stages of unknown size as "0/1 0%" beside a spinner, and each bar line
    filled the last column. Now the bars are transient (erased when the command ends, its own output
    stays), a finished stage reads full, and a bar line is one column narrower than the terminal."""
    prov("init")
    prov("keys", "generate", "k")
    code, out, terminal = run_with_terminal_stderr(
        ["commit", "digits.parquet", "--tag", "v1", "--key", "k.key"], workdir, columns=80
    )
    assert code == 0 and out.startswith("Committed v1: 600 records")
    assert "reading and hashing" in terminal  # it was drawn
    drawn = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line) for line in re.split(r"\r\n|\r|\n", terminal)]
    assert max(len(line) for line in drawn) < 80, drawn
    assert not re.search(r"\b0/1\b", " ".join(drawn[-6:]))
    assert screen(terminal, 80) == []
