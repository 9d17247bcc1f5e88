"""Old code against new on one store: the Python of ``prov diff --detect`` after the neighbour passes, in-process.

What a detection run does once the two neighbour passes are computed (the seven detectors, the
combined verdict, the stored findings object's bytes, the report's findings) is Python under the GIL,
~0.5 s of a 1% delta of 1 M: a change there of a few hundredths of a second is lost in a whole
``prov diff --detect`` run's variation at this machine's load (``detect_ab.py``'s per-run spread at
load 6-7 is +-0.2 s). Here each tree's process runs ``prov diff --detect``'s library call once on the
store (``--no-save``: the store is left as it was), keeps the profile and the delta the detectors saw
(their neighbour passes cached in ``delta.cache``), then times ``REPEATS`` runs of the steps after the
passes on them: CPU seconds of this process (``time.process_time``). The trees alternate, a fresh
process each round; the medians and the load are recorded, and each step's output is hashed so the
two trees are checked to compute the same bytes.

Usage: python bench/detect_after_passes_ab.py OLD_TREE NEW_TREE --store DIR [--rounds R] [--name NAME]
(``DIR``: a folder ``user_versions.two_versions`` built, with v1 and v2; left as it was).
Writes bench/results/detect-after-passes-ab[-NAME].{md,json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import alternate, uptime, write_results  # noqa: E402
from user_versions import BIN  # noqa: E402

REPEATS = 5

# Run in the tree's own process, in the store's folder: one detection through the library, then the
# steps after the neighbour passes timed on the same profile and delta.
STEPS = """
import hashlib, json, sys, time
from provenance.cli import prepare_process
prepare_process("diff")
import provenance.detectors.pipeline as pipeline
from provenance.delta.compare import diff_versions
from provenance.delta.detection_report import add_detection
from provenance.detectors.combine import combine
from provenance.detectors.extreme import batch_label_support
from provenance.detectors.findings import findings_object_bytes
from provenance.store import Store

seen = {}
run_detectors = pipeline.run_detectors
def keep(profile, delta, names, fpr):
    seen.update(profile=profile, delta=delta, names=names, fpr=fpr)
    return run_detectors(profile, delta, names, fpr)
pipeline.run_detectors = keep
store = Store.open_snapshot()
report = diff_versions(store, "v1", "v2", limit=20, detect=True)
pipeline.detect_diff(store, "v1", "v2", report.delta, save=False)
profile, delta, fpr = seen["profile"], seen["delta"], seen["fpr"]
times, digest = [], None
for _ in range(int(sys.argv[1])):
    start = time.process_time()
    results = run_detectors(profile, delta, seen["names"], fpr)
    verdicts = combine(results, fpr, profile.sample_batches, batch_label_support(profile, delta))
    rows = [{"detector": r.detector, "status": r.status} for r in results]
    data, order = findings_object_bytes("run", "v1", "v2", rows, results, list(delta.labels), verdicts)
    detection = pipeline.Detection(results, verdicts, list(delta.labels))
    report.findings.clear(); report.detectors.clear()
    add_detection(report, detection, flagged_only=True)
    text = json.dumps(report.findings, sort_keys=True)
    times.append(time.process_time() - start)
    digest = hashlib.sha256(data + text.encode()).hexdigest()
print(json.dumps({"cpu_s": times, "sha256": digest}))
"""


def one_round(tree: Path, store: Path) -> dict:
    """The timed steps in a fresh process of the code in ``tree``: its CPU seconds per repeat and its output's hash."""
    done = subprocess.run(
        [str(BIN / "python"), "-c", STEPS, str(REPEATS)],
        cwd=store,
        env={"PYTHONPATH": str(tree), "PATH": str(BIN)} | _keep_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _keep_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k in ("HOME", "PYTHONPYCACHEPREFIX", "PROV_SIGNERS", "LANG")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--old-name")
    parser.add_argument("--new-name")
    parser.add_argument("--name")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    store = args.store.resolve()
    before = uptime()
    runs, loads = alternate(list(trees), lambda side: one_round(trees[side], store), args.rounds, swap=True)
    after = uptime()
    # a process's first repeat pays first-call costs (numpy's, the detectors' lazy imports): the rest are compared
    cpu = {side: [round(t, 4) for r in done for t in r["cpu_s"][1:]] for side, done in runs.items()}
    same = len({r["sha256"] for done in runs.values() for r in done}) == 1
    medians = {side: round(statistics.median(v), 4) for side, v in cpu.items()}
    names = {"old": args.old_name or str(trees["old"]), "new": args.new_name or str(trees["new"])}
    data = {"trees": names, "cpu_s": cpu, "median_cpu_s": medians, "identical": same, "loads": loads}
    data["uptime"] = [before, after]
    old, new = medians["old"], medians["new"]
    lines = [
        "# `prov diff --detect` after the neighbour passes: old code against new, in-process (detect-after-passes-ab)",
        "",
        f"The seven detectors (neighbour passes cached), the combined verdict, the stored findings object's bytes and "
        f"the report's flagged findings, on the bench store's 1% delta; {args.rounds} rounds alternating, a fresh "
        f"process per round, {REPEATS - 1} timed repeats each after a first untimed one. CPU seconds of the process.",
        "",
        "| code | tree | median CPU s | repeats |",
        "|---|---|---:|---|",
        *(f"| {side} | {names[side]} | {medians[side]} | {', '.join(map(str, cpu[side]))} |" for side in trees),
        "",
        f"New / old: {new / old:.2f} ({new - old:+.4f} s). Outputs (findings object bytes and report findings) "
        f"identical: {'yes' if same else '**no**'}.",
        "",
        f"Load before and after each round: {' | '.join(loads)}. `uptime`: {before} / {after}.",
        "",
    ]
    write_results("detect-after-passes-ab" + (f"-{args.name}" if args.name else ""), data, lines)


if __name__ == "__main__":
    main()
