"""What `prov quarantine --findings` costs now that it re-runs the detectors (trust6c, session 6).

Builds the demo (`prov demo`) in a temporary folder, runs `prov diff r1 rc1 --detect --format
json` (the findings file a maintainer quarantines from), then measures, one at a time:

- the re-run alone (``lineage.findings_recheck.recheck_findings``, in process, ``--repeat`` times);
- `prov quarantine --from rc1 --findings F` end to end (a fresh process each, ``--repeat`` times);
- `prov quarantine --from rc1 --source scraper` end to end, which runs no detectors (the same number);
- `prov diff r1 rc1 --detect` end to end, for scale.

Each figure is wall and CPU seconds (children's CPU for the commands); the machine's load
(`uptime`) is recorded before and after. Writes ``bench/results/quarantine-recheck.md``.

    nice -n 10 python bench/quarantine_recheck.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "quarantine-recheck.md"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()


def prov(folder: Path, *args: str) -> tuple[float, float]:
    """Run ``prov ARGS`` in ``folder``; returns (wall s, CPU s of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "provenance", *args], cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"prov {' '.join(args)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def recheck(folder: Path, findings: Path) -> tuple[float, float, dict]:
    """The re-run alone, in process: (wall s, CPU s, its facts)."""
    from provenance.lineage.findings_recheck import digests_of_findings, recheck_findings
    from provenance.store import Store
    from provenance.trust.pins import Pins

    store = Store.open(folder, pins=Pins.load([str(folder / "maintainer.pub")]))
    try:
        digests = digests_of_findings(findings)
        start, cpu = time.perf_counter(), time.process_time()
        out = recheck_findings(store, "rc1", findings, digests)
        return time.perf_counter() - start, time.process_time() - cpu, out.facts()
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["PROV_SIGNERS"] = "maintainer.pub"
    load_before = uptime()
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="prov-qbench-") as tmp:
        root = Path(tmp)
        demo = root / "demo"
        subprocess.run(
            [sys.executable, "-m", "provenance", "demo", "--dir", str(demo)], check=True, capture_output=True
        )
        wall, cpu = prov(demo, "diff", "r1", "rc1", "--detect", "--format", "json", "--out", "f.json")
        rows.append(("prov diff r1 rc1 --detect (for scale)", wall, cpu))
        findings = demo / "f.json"
        report = json.loads(findings.read_text())
        flagged = sum(1 for f in report["findings"] if f["flagged"])
        facts: dict = {}
        for _ in range(args.repeat):
            wall, cpu, facts = recheck(demo, findings)
            rows.append(("re-run alone (recheck_findings, in process)", wall, cpu))
        for i in range(args.repeat):
            wall, cpu = prov(demo, "quarantine", "--from", "rc1", "--findings", "f.json", "--tag", f"qf{i}",
                             "--out", f"qf{i}.parquet", "--key", "maintainer.key")  # fmt: skip
            rows.append(("prov quarantine --findings (end to end)", wall, cpu))
        for i in range(args.repeat):
            wall, cpu = prov(demo, "quarantine", "--from", "rc1", "--source", "scraper", "--tag", f"qs{i}",
                             "--out", f"qs{i}.parquet", "--key", "maintainer.key")  # fmt: skip
            rows.append(("prov quarantine --source (no detectors)", wall, cpu))
    load_after = uptime()
    lines = [
        "# prov quarantine --findings: what re-running the detectors costs",
        "",
        f"Command: `nice -n 10 python bench/quarantine_recheck.py --repeat {args.repeat}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
        f"Case: the demo's rc1 against r1 ({facts.get('scored')} records scored, {flagged} flagged in the findings "
        f"file, re-run flagged {facts.get('flagged')}; detectors {', '.join(facts.get('detectors', []))}; "
        f"fpr {facts.get('fpr')}).",
        f"Load before: `{load_before}`",
        f"Load after: `{load_after}`",
        "",
        "| what | wall s | CPU s |",
        "|---|---:|---:|",
        *(f"| {what} | {wall:.2f} | {cpu:.2f} |" for what, wall, cpu in rows),
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
