"""The store-id and release bookkeeping of `prov log`, `show`, `fsck` and `check` (sessions 18-19), old code
against this tree: CPU time (user + system) of fresh processes, median of alternated runs.

One store with 20 versions and 19 releases (``prov check vN --base vN-1 --attest`` for N = 2..20), built once
with this tree's ``prov`` and read by both trees, the maintainer's key pinned (``PROV_SIGNERS``) as CI pins
it. Each command's stdout, text and ``--json`` (``--format json`` for ``check``), must be byte-identical
between the two trees: the script raises otherwise (a speed change, not a behaviour change). The read-only
check runs with ``--no-save``, so it leaves the store as it was; ``check --attest`` writes, so each of its runs
gets a fresh copy of the store, and the times and ids it signs are masked before comparing.

Usage: python bench/store_bookkeeping_ab.py OLD_PROV [--rounds 5]
    OLD_PROV: the old tree's console script (e.g. /work/main/.venv/bin/prov at 9e83628)
Writes bench/results/store-bookkeeping-ab.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import uptime  # noqa: E402
from user_versions import PROV, load, use_bytecode_cache  # noqa: E402

sys.path.insert(0, str(HERE.parent / "tests"))
from support import digits_table  # noqa: E402

VERSIONS = 20
# the one field that differs between two runs of the same code: when the check ran (``prov.check/v1``'s checked_at)
CHECKED_AT = re.compile(rb'^  "checked_at": "[^"]*",$', re.M)
COMMANDS = {  # what the row says -> (text arguments, JSON arguments)
    "prov log": (["log"], ["log", "--json"]),
    "prov show v20": (["show", "v20"], ["show", "v20", "--json"]),
    "prov fsck": (["fsck"], ["fsck", "--json"]),
    "prov check v20 --base v19 --no-save": (
        ["check", "v20", "--base", "v19", "--no-save"],
        ["check", "v20", "--base", "v19", "--no-save", "--format", "json"],
    ),
    # writes (a 20th attestation, audit entries, a checkpoint): each run on a fresh copy of the store
    "prov check v20 --base v19 --attest": (
        ["check", "v20", "--base", "v19", "--attest", "--key", "maintainer.key", "--attest-out", "a.json"],
        ["check", "v20", "--base", "v19", "--attest", "--key", "maintainer.key", "--attest-out", "a.json"]
        + ["--format", "json"],
    ),
}
WRITES = {"prov check v20 --base v19 --attest"}
# what differs between two runs of the same code that writes: the times it signs and the ids of what it signs
SIGNED_NOW = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00|\b[0-9a-f]{12,64}\b")


def prov(args: list[str], cwd: Path, exe: str = PROV) -> subprocess.CompletedProcess:
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, check=False)


def must(args: list[str], cwd: Path) -> None:
    r = prov(args, cwd)
    if r.returncode != 0:
        raise RuntimeError(f"prov {' '.join(args)}: exit {r.returncode}: {r.stdout.decode()}{r.stderr.decode()}")


def build(folder: Path) -> None:
    """20 versions of the same 300 handwritten digits (the gate has no delta to judge: the bookkeeping is what is
    timed) and 19 releases."""
    folder.mkdir(parents=True)
    must(["init"], folder)
    must(["keys", "generate", "maintainer"], folder)
    os.environ["PROV_SIGNERS"] = str(folder / "maintainer.pub")  # as CI pins it: every later process too
    pq.write_table(digits_table(300), folder / "data.parquet")
    for n in range(1, VERSIONS + 1):
        must(["-q", "commit", "data.parquet", "--tag", f"v{n}", "--key", "maintainer.key"], folder)
    for n in range(2, VERSIONS + 1):
        first = ["--base-unreleased"] if n == 2 else []
        must(["-q", "check", f"v{n}", "--base", f"v{n - 1}", "--attest", "--key", "maintainer.key", *first], folder)


def timed(exe: str, args: list[str], cwd: Path, writes: bool = False) -> tuple[float, int, bytes]:
    """(CPU seconds user + system, exit code, stdout) of one fresh process; the check's top-level ``checked_at``
    (the time it ran) is masked, all else is compared byte for byte; for a command that ``writes`` (run on a fresh
    copy of the store, made before the clock starts), the times and ids it signs are masked too."""
    if writes:
        scratch = cwd.parent / "scratch"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(cwd, scratch, symlinks=True)
        cwd = scratch
    proc = subprocess.Popen([exe, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = CHECKED_AT.sub(b'  "checked_at": "-",', out)
    return usage.ru_utime + usage.ru_stime, proc.returncode, SIGNED_NOW.sub(b"-", out) if writes else out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", help="the old tree's prov console script")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    trees = {"old": args.old, "new": PROV}
    root = Path(tempfile.mkdtemp(prefix="prov-bookkeeping-"))
    uptime_before = uptime()
    rows = []
    try:
        use_bytecode_cache(root / "pycache")
        os.environ.pop("COLUMNS", None)
        template = root / "store"
        build(template)
        built = (template / ".prov" / "prov.db").read_bytes()
        stores = dict.fromkeys(trees, template)  # one store: the outputs name its path
        for what, (text_args, json_args) in COMMANDS.items():
            outputs = {}
            for name, exe in trees.items():  # untimed: fills the bytecode cache, and the outputs compared
                outputs[name] = [timed(exe, a, stores[name], what in WRITES)[1:] for a in (text_args, json_args)]
            if outputs["old"] != outputs["new"]:
                raise RuntimeError(f"{what}: the two trees' outputs differ:\n{outputs['old']}\n{outputs['new']}")
            cpu: dict[str, list[float]] = {name: [] for name in trees}
            before = load()
            for _ in range(args.rounds):
                for name, exe in trees.items():
                    seconds, code, out = timed(exe, text_args, stores[name], what in WRITES)
                    if (code, out) != outputs[name][0]:
                        raise RuntimeError(f"{what} ({name}): a timed run's output differs from the first")
                    cpu[name].append(seconds)
            rows.append((what, outputs["new"][0][0], {n: statistics.median(c) for n, c in cpu.items()}, before, load()))
            print(what, rows[-1][2], flush=True)
        if (template / ".prov" / "prov.db").read_bytes() != built:  # the read commands left the store as it was
            raise RuntimeError("prov.db changed")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    uptime_after = uptime()
    lines = [
        "# Store-id and release bookkeeping: old tree against this one",
        "",
        f"A store of {VERSIONS} versions and {VERSIONS - 1} releases, the maintainer's key pinned (`PROV_SIGNERS`). "
        f"CPU time (user + system) of fresh processes, median of {args.rounds} runs alternated old/new, after an "
        "untimed run of each. Each command's stdout and `--json` (`--format json` for check, its top-level "
        "`checked_at`, the time it ran, aside) was byte-identical between the two trees, and its exit code the "
        "same (the script raises otherwise). `check --attest` runs on a fresh copy of the store each time (copied "
        "before the clock starts), its signed times and ids masked before comparing.",
        "",
        f"Old: `{args.old}`. Load (`uptime`) before: `{uptime_before}`; after: `{uptime_after}`.",
        "",
        "| command | exit | old CPU (s) | new CPU (s) | new / old | load before / after (1, 5, 15 min) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for what, code, med, before, after in rows:
        lines.append(
            f"| `{what}` | {code} | {med['old']:.3f} | {med['new']:.3f} | {med['new'] / med['old']:.2f} | "
            f"{before} / {after} |"
        )
    (HERE / "results" / "store-bookkeeping-ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
