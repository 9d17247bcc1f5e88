"""What validating a signed ``schema`` fact with jsonschema would add to a reader's start-up (fix26c, item 3).

``sources.schema_delta.schema_problem`` is a hand-written shape check run by every reader of a version (``prov show``,
``verify``, ``diff``, ``check``, the loader); ``schemas/version-statement.schema.json`` describes the same shape. This
measures, median of 7 fresh processes each: ``prov show v1`` and ``prov verify v1`` on a tiny store as they are, and
the cost jsonschema would add to them (a process that has imported ``provenance.version_facts``, as both have, then
importing jsonschema and validating one fact against the published subschema, against the same process without).
The machine's load is recorded.

Usage: python bench/schema_check_bench.py
Writes bench/results/schema_check.{md,json}.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from startup_bench import FAST, RUNS, SLOWER, one_run, world  # noqa: E402
from user_versions import load, use_bytecode_cache  # noqa: E402

SCHEMA = HERE.parent / "schemas" / "version-statement.schema.json"
FACT = {"kind": "table", "columns": ["x"], "digestAlgorithm": "sha256/prov-row-v2", "labelColumn": "label"}
WITHOUT = "import provenance.version_facts"
WITH = (
    "import json, provenance.version_facts\n"
    "from jsonschema import Draft202012Validator\n"
    f"s = json.load(open({str(SCHEMA)!r}))['properties']['predicate']['properties']['schema']\n"
    f"assert Draft202012Validator(s).is_valid({FACT!r})\n"
)


def python_run(code: str) -> tuple[float, float]:
    """(wall, CPU user + system) seconds of one fresh ``python -c code``."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, code
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def medians(runs: list[tuple[float, float]]) -> dict:
    return {"wall": statistics.median(r[0] for r in runs), "cpu": statistics.median(r[1] for r in runs)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        use_bytecode_cache(Path(tmp) / "pycache")
        template, scratch = Path(tmp) / "world", Path(tmp) / "scratch"
        world(template)
        out: dict = {"runs": RUNS, "load_at_start": load()}
        for name, args in (
            ("prov show v1", ["show", "v1"]),
            ("prov verify v1", ["verify", "v1", "--signer", "maintainer.pub"]),
        ):
            one_run(args, template, False, scratch)  # warm the bytecode cache
            out[name] = medians([one_run(args, template, False, scratch) for _ in range(RUNS)])
        for code in (WITHOUT, WITH):
            python_run(code)
        without = [python_run(WITHOUT) for _ in range(RUNS)]
        with_ = [python_run(WITH) for _ in range(RUNS)]
        out["python: import version_facts"] = medians(without)
        out["python: + jsonschema import and validate"] = medians(with_)
        added = {
            k: out["python: + jsonschema import and validate"][k] - out["python: import version_facts"][k]
            for k in ("wall", "cpu")
        }
        out["added by jsonschema"] = added
        out["load_at_end"] = load()
    rows = [
        ("prov show v1 (aim 0.15 s)", out["prov show v1"], FAST),
        ("prov verify v1 (aim 0.4 s)", out["prov verify v1"], SLOWER),
    ]
    lines = [
        "# Validating the signed schema fact with jsonschema: the start-up it would add",
        "",
        f"Median of {RUNS} fresh processes; load {out['load_at_start']} at start, {out['load_at_end']} at end.",
        "",
        "| command | wall now (s) | CPU now (s) | wall with jsonschema (s) | CPU with jsonschema (s) | aim (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, m, aim in rows:
        lines.append(
            f"| {name} | {m['wall']:.3f} | {m['cpu']:.3f} | {m['wall'] + added['wall']:.3f} | "
            f"{m['cpu'] + added['cpu']:.3f} | {aim} |"
        )
    lines += [
        "",
        f"jsonschema import + one validation adds {added['wall']:.3f} s wall, {added['cpu']:.3f} s CPU "
        f"(python -c: {out['python: import version_facts']['cpu']:.3f} s CPU without, "
        f"{out['python: + jsonschema import and validate']['cpu']:.3f} s with).",
    ]
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "schema_check.json").write_text(json.dumps(out, indent=2) + "\n")
    (results / "schema_check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
