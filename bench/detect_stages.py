"""Where ``prov diff --detect``'s time goes, stage by stage: wall and main-thread CPU seconds in one process.

Runs ``prov ARGS`` in this process (``provenance.cli.prepare_process`` first, as the console script)
with timers around the stages of the command: the imports before it runs, ``diff_versions``, the
reference profile's load, the delta's features, ``run_detectors`` (its second thread's delta x sample
pass shows in the wall time, not in the main thread's CPU; inside it ``_both_passes``, the two shared
neighbour passes, and each built-in detector's own ``run``), ``combine``, ``save_findings`` (its wall
time beyond its CPU is the store write's fsyncs; inside it ``findings_object_bytes``, the findings
object's text), the report's detection part, the render and the write. A stage's main-thread CPU is
what a quiet machine's wall time would be close to; compare runs at ``chrt -f 10`` (real-time
priority) on a loaded machine. Session 31 (perf31) used it to find the
store write's disk waits (bench/results/detect-ab-s31.md).

Usage (in a store's folder, e.g. one ``user_versions.two_versions`` built; the run stores its findings):
  python bench/detect_stages.py diff v1 v2 --detect --flagged-only --format json --out d.json
Prints one JSON line to stderr: {stage: [wall s, main-thread CPU s, calls]}.
"""

from __future__ import annotations

import functools
import json
import sys
import time

STAGES = {  # module: the functions timed, as that module names them
    "provenance.cli.diff": ("diff_versions", "render", "write_output"),
    "provenance.detectors.pipeline": (
        "detection_profile",
        "delta_features",
        "run_detectors",
        "combine",
        "save_findings",
    ),
    "provenance.unscorable": ("detect_naming_file",),
    # inside run_detectors: the two shared neighbour passes (the delta x sample one on a second thread);
    # inside save_findings: the findings object's text
    "provenance.detectors.registry": ("_both_passes",),
    "provenance.detectors.findings": ("findings_object_bytes",),
}


def main() -> None:
    start_wall, start_cpu = time.perf_counter(), time.thread_time()
    times: dict[str, list] = {}

    def timed(owner: object, name: str, label: str | None = None) -> None:
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                entry = times.setdefault(label or name, [0.0, 0.0, 0])
                entry[0] += time.perf_counter() - wall
                entry[1] += time.thread_time() - cpu
                entry[2] += 1

        setattr(owner, name, wrapper)

    sys.argv = ["prov", *sys.argv[1:]]
    import importlib

    import provenance.cli as cli

    cli.prepare_process(cli._command())
    for module, names in STAGES.items():
        owner = importlib.import_module(module)
        for name in names:
            timed(owner, name)
    from provenance.delta.report import DiffReport

    timed(DiffReport, "add_detector_results")
    from provenance.detectors.registry import BUILT_IN_DETECTORS

    for detector in BUILT_IN_DETECTORS:  # each built-in detector's own run (after the shared passes)
        timed(detector, "run", f"detector {detector.name}")
    times["imports"] = [time.perf_counter() - start_wall, time.thread_time() - start_cpu, 1]
    try:
        cli.app(prog_name="prov")
    except SystemExit:
        pass
    times["total"] = [time.perf_counter() - start_wall, time.thread_time() - start_cpu, 1]
    print(json.dumps({k: [round(v[0], 4), round(v[1], 4), v[2]] for k, v in times.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
