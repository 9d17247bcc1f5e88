"""Two codes or settings measured alternately on one machine: the rounds, the load per round, the medians.

Issue 15's rule for a speed change: run the sides one after the other, round after round, in one script,
with the machine's load recorded before and after each round (other engineers share its two cores), and
compare medians. ``delta_content_ab.py``, ``signed_delta_ab.py``, ``detect_ab.py`` and ``memory_probe_ab.py``
each had their own copy of this loop (whole-diff review, duplicates D6 and D8); ``commit_stages_ab.py``,
``commit_threads_ab.py`` and ``commit_merge_ab.py`` their own copies of the recorded rounds, the medians and the
results files (``recorded_rounds``, ``ab_medians``, ``write_ab``; tidy29).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from user_versions import load

T = TypeVar("T")


def uptime() -> str:
    """``uptime``'s line (the time of day with the load), as a bench records the machine before and after."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def alternate(
    sides: Sequence[str], once: Callable[[str], T], rounds: int, swap: bool = False
) -> tuple[dict[str, list[T]], list[str]]:
    """``once(side)`` for every side in each of ``rounds`` rounds; with ``swap``, odd rounds run the sides in
    reverse order (so neither always runs first, right after the other warmed the page cache).

    Returns ``({side: [what once returned, a round at a time]}, loads)``: ``loads`` is
    ``user_versions.load()`` before the first round and after each (``rounds + 1`` strings)."""
    results: dict[str, list[T]] = {side: [] for side in sides}
    loads = [load()]
    for r in range(rounds):
        for side in reversed(sides) if swap and r % 2 else sides:
            results[side].append(once(side))
        loads.append(load())
    return results, loads


def utc_minute() -> str:
    """Now, to the minute, as the A/B results files stamp a bench's start and end (``2026-12-04 22:31 UTC``)."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def machine() -> str:
    """The machine line of an A/B results file: ``"2 CPUs, Python 3.11.9"``."""
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}"


def recorded_rounds(
    trees: dict[str, str], run: Callable[[str, str], dict], rounds: int
) -> tuple[list[dict], dict[str, str]]:
    """``run(name, tree)`` for each code tree in each of ``rounds`` rounds, sides swapped on odd rounds
    (``alternate``), each run recorded as ``{"code": name, "round": r, **what run returned, "load_before",
    "load_after"}`` (``user_versions.load()`` around it) and printed as one JSON line when it ends.

    Returns ``(runs, stamps)``: the records in the order they ran, and ``{"started", "load_start", "ended",
    "load_end"}`` (``utc_minute`` and the load before the first round and after the last)."""
    runs: list[dict] = []
    stamps = {"started": utc_minute(), "load_start": load()}

    def once(name: str) -> dict:
        before = load()
        row = run(name, trees[name])
        record = {"code": name, "round": sum(r["code"] == name for r in runs), **row}
        record.update(load_before=before, load_after=load())
        runs.append(record)
        print(json.dumps(record), flush=True)
        return record

    alternate(list(trees), once, rounds, swap=True)
    return runs, stamps | {"ended": utc_minute(), "load_end": load()}


def child_json(child: str, *argv: str) -> Callable[[str, str], dict]:
    """``run(name, tree)`` for :func:`recorded_rounds`: ``python -c CHILD ARGV...`` in a fresh process whose
    PYTHONPATH is ``tree`` (run from ``tree``: ``-c`` puts the working folder first on the path), one thread for
    OpenMP; the JSON object on its last line of standard output."""

    def once(_name: str, tree: str) -> dict:
        env = {"PYTHONPATH": tree, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(Path.home())}
        done = subprocess.run(
            [sys.executable, "-c", child, *argv], cwd=tree, env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    return once


def child_ab(
    doc: str,
    child: str,
    title: str,
    paragraph: str,
    fields: Sequence[tuple[str, str]],
    rows: int,
    rounds: int,
    out: str,
) -> None:
    """The whole of an A/B bench whose run is ``child`` (:func:`child_json`, given ``--rows``): OLD's tree (the
    command line's, ``ab_parser`` with ``doc``'s first line and these defaults) against this checkout, alternated
    (:func:`recorded_rounds`), the medians of ``fields``' keys written as ``write_ab`` does under ``title``."""
    args = ab_parser(doc.splitlines()[0], rows, rounds, out, "(unused)").parse_args()
    old, new = args.names.split(",")
    trees = {old: str(Path(args.old).resolve()), new: str(Path(__file__).resolve().parent.parent)}
    runs, stamps = recorded_rounds(trees, child_json(child, str(args.rows)), args.rounds)
    keys = [key for key, _ in fields]
    write_ab(
        args.out, ab_result(trees, runs, stamps, keys, rows=args.rows, rounds=args.rounds), title, paragraph, fields
    )


def ab_medians(runs: Sequence[dict], codes: Sequence[str], keys: Sequence[str]) -> dict[str, dict]:
    """Per code, the median of each of ``keys`` over its runs (rounded to 3 digits; an even number of rounds makes
    it the mean of two), None where a run has no value for it."""
    medians = {}
    for code in codes:
        mine = [r for r in runs if r["code"] == code]
        medians[code] = {
            k: round(statistics.median(r[k] for r in mine), 3) if all(r.get(k) is not None for r in mine) else None
            for k in keys
        }
    return medians


def ab_result(trees: dict[str, str], runs: list[dict], stamps: dict[str, str], keys: Sequence[str], /, **facts) -> dict:
    """An A/B bench's results (what ``write_ab`` writes): ``facts`` (rows, rounds, ...), then the ``codes`` in
    order, the ``machine``, the ``recorded_rounds`` ``stamps``, the ``medians`` of ``keys`` per code and the ``runs``."""
    codes = list(trees)
    medians = ab_medians(runs, codes, keys)
    return {**facts, "codes": codes, "machine": machine(), **stamps, "medians": medians, "runs": runs}


def ab_parser(description: str | None, rows: int, rounds: int, out: str, table_use: str) -> argparse.ArgumentParser:
    """The flags of a bench of one table under two code trees: ``old``, ``--rows`` (default ``rows``), ``--rounds``,
    ``--names`` (what to call the old and the new code), ``--table`` (an existing table to ``table_use``) and
    ``--out`` (the results file name in bench/results/, no suffix; default ``out``)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("old", help="a folder holding the old code's provenance/ package (with its compiled extensions)")
    ap.add_argument("--rows", type=int, default=rows)
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--names", default="old,new", help="what to call the old and the new code")
    ap.add_argument("--table", help=f"an existing table to {table_use} (default: write the bench's table)")
    ap.add_argument("--out", default=out, help="results file name in bench/results/, no suffix")
    return ap


def write_ab(out: str, result: dict, title: str, paragraph: str, fields: Sequence[tuple[str, str]]) -> None:
    """``result`` (its ``codes``: old, new and any other sides; ``rows``, the ``recorded_rounds`` stamps, ``medians``,
    ``runs``) to
    ``bench/results/OUT.json``, and to ``OUT.md``: ``# TITLE, OLD against NEW, alternated (ROWS rows)``, then
    ``paragraph`` with when the bench started and ended and the load then, then the tables (``ab_tables`` of
    ``fields``)."""
    results = Path(__file__).resolve().parent / "results"
    (results / f"{out}.json").write_text(json.dumps(result, indent=2) + "\n")
    old, new, *others = result["codes"]  # a third side (image_tree_ab's `dvc add`) is named after the two codes
    also = f" with {', '.join(others)}" if others else ""
    lines = [
        f"# {title}, {old} against {new}{also}, alternated ({result['rows']:,} rows)",
        "",
        f"{paragraph} Started {result['started']}, load (1/5/15 min) {result['load_start']}; ended "
        f"{result['ended']}, load {result['load_end']}.",
        "",
        *ab_tables(result, fields),
    ]
    (results / f"{out}.md").write_text("\n".join(lines) + "\n")


def code_trees(old: str, names: str, new: Path) -> dict[str, str]:
    """``{old name: OLD's folder, new name: NEW's folder}`` from ``--names old,new``: the two code trees an
    A/B bench alternates (each a folder holding a ``provenance/`` package with its compiled extensions)."""
    old_name, new_name = names.split(",")
    return {old_name: str(Path(old).resolve()), new_name: str(new)}


def warm_table(table: str | None, rows: int, work: Path) -> Path:
    """The table a bench times: ``table`` if given, else the bench's ``rows`` x 64 float64 + label written into
    ``work``; read once so that the page cache holds it for every side alike."""
    from core_bench import make_table, sha256sum

    path = Path(table) if table else work / "table.parquet"
    if not table:
        make_table(path, rows)
    sha256sum(path)
    return path


def ab_tables(result: dict, fields: Sequence[tuple[str, str]]) -> list[str]:
    """The medians and the runs of an A/B result (``result["codes"]``, ``["medians"]``, ``["runs"]``) as Markdown
    tables, one column per ``(key, heading)`` of ``fields`` (a missing value is an empty cell)."""

    def cells(row: dict) -> str:
        return " | ".join("" if row.get(k) is None else f"{row[k]:,}" for k, _ in fields)

    lines = ["## Medians", "", "| code | " + " | ".join(h for _, h in fields) + " |", "|---|" + "---|" * len(fields)]
    lines += [f"| {code} | {cells(result['medians'][code])} |" for code in result["codes"]]
    lines += ["", "## Runs", "", "| code | round | " + " | ".join(h for _, h in fields) + " | load before / after |"]
    lines.append("|---|---|" + "---|" * (len(fields) + 1))
    lines += [
        f"| {r['code']} | {r['round']} | {cells(r)} | {r['load_before']} / {r['load_after']} |" for r in result["runs"]
    ]
    return lines


def timing_summary(runs: Sequence[tuple[float, int, float]]) -> dict:
    """Medians of ``user_versions.run`` results ``(wall s, peak PSS bytes, CPU s)``: ``{"median_s", "median_cpu_s",
    "all_cpu_s", "peak_mib"}`` (seconds to the millisecond; peak in MiB, the largest run's)."""
    return {
        "median_s": round(statistics.median(wall for wall, _, _ in runs), 3),
        "median_cpu_s": round(statistics.median(cpu for _, _, cpu in runs), 3),
        "all_cpu_s": [round(cpu, 3) for _, _, cpu in runs],
        "peak_mib": round(max(peak for _, peak, _ in runs) / 2**20, 1),
    }


def put_back(folder: Path, pristine: Path) -> None:
    """Put ``folder``'s ``.prov/`` back as ``pristine`` holds it (before each run, so each stores into the same store)."""
    shutil.rmtree(folder / ".prov")
    shutil.copytree(pristine, folder / ".prov")


def write_results(stem: str, data: dict, lines: list[str]) -> None:
    """Write a bench's figures to ``bench/results/STEM.json`` and its table (``lines``, Markdown) to ``STEM.md``,
    and print the table."""
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    (results / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))


def median_lines(title: str, intro: str, column: str, medians: dict[str, float], notes: list[str]) -> list[str]:
    """A bench's Markdown table of medians: ``# title``, ``intro``, one row per side (``column`` heads the sides),
    then each of ``notes`` as a paragraph (the ratio, the load)."""
    table = [f"| {column} | median CPU s |", "|---|---|", *(f"| {side} | {m} |" for side, m in medians.items())]
    return [f"# {title}", "", intro, "", *table, "", *(line for note in notes for line in (note, ""))]


@contextmanager
def built_store(
    description: str, build: Callable[[Path, int], tuple[Any, Any]]
) -> Iterator[tuple[argparse.Namespace, Any, Any]]:
    """A bench over one store built once (``checkpoint_chain_cost.py``, ``vouched_cost.py``): parses ``--entries``
    (default 10,000) and ``--rounds`` (7), runs ``build(folder, entries)`` in a temporary folder for ``(store, key)``
    and yields ``(args, store, key)``; then closes the store and deletes the folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, key = build(Path(tmp), args.entries)
        try:
            yield args, store, key
        finally:
            store.close()


class _Undone(Exception):
    """Ends a ``rolled_back`` write, which then rolls back."""


@contextmanager
def rolled_back(store: Any) -> Iterator[None]:
    """``store.write()`` around the block, rolled back at its end, so that a timed write leaves nothing behind."""
    try:
        with store.write():
            yield
            raise _Undone
    except _Undone:
        pass


def trees_alternated(
    script: str, trees: dict[str, Path], child_args: Sequence[str], rounds: int
) -> tuple[dict[str, list[dict]], list[str], list[str]]:
    """Old code against new, function by function: each round runs ``script --child *child_args`` once per code tree
    (``PYTHONPATH`` the tree, a snapshot such as ``git archive COMMIT``; one BLAS thread), sides swapped on odd
    rounds; the child prints one JSON object. Returns ``({side: [its objects]}, loads, [uptime before, after])``."""
    import sys

    def once(side: str) -> dict:
        done = subprocess.run(
            [sys.executable, script, "--child", *child_args],
            env={"PYTHONPATH": str(trees[side]), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout)

    before = uptime()
    runs, loads = alternate(list(trees), once, rounds, swap=True)
    return runs, loads, [before, uptime()]
