"""Where a ``prov`` command's wall time goes that is not CPU: a sampler over the main thread.

Runs ``prov ARGS`` in this process (``provenance.cli.prepare_process`` first, as the console
script) while a second thread wakes every ``SAMPLE_S`` seconds (default 0.005) and records the
main thread's stack, the wall time since its last sample, the main thread's CPU time
(``pthread_getcpuclockid``) and the whole process's CPU time over the same interval. Each
sample's three times are charged to every function on the stack (inclusive) and to the
innermost one (leaf). A function whose wall time exceeds the process's CPU time over its
samples spent it waiting: on a lock, a pool's result, ``fsync``, or for a core on a loaded
machine (then the gap spreads over CPU-bound code in proportion to its time, as it did in
session 21 at load 2-4). The sampler takes the GIL ~200 times a second, so absolute figures
are a little higher than an unobserved run's; compare rows within one run.

Usage (in the store's folder): python bench/wall_profile.py diff v1 v2 --detect --format json --out d.json
Prints to stderr: totals, then leaves by wall-minus-process-CPU, then functions by inclusive wall.
``TOPN`` (default 70) sets how many inclusive rows; ``SAMPLE_S`` the interval.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time


def main() -> None:
    interval = float(os.environ.get("SAMPLE_S", "0.005"))
    main_id = threading.get_ident()
    clock = time.pthread_getcpuclockid(main_id)
    samples: list[tuple[float, float, float, list[str]]] = []
    stop = threading.Event()

    def sample() -> None:
        last = (time.perf_counter(), time.clock_gettime(clock), time.process_time())
        while not stop.wait(interval):
            now = (time.perf_counter(), time.clock_gettime(clock), time.process_time())
            frame = sys._current_frames().get(main_id)
            stack = []
            while frame is not None:
                stack.append(f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}")
                frame = frame.f_back
            samples.append((now[0] - last[0], now[1] - last[1], now[2] - last[2], stack))
            last = now

    start, cpu = time.perf_counter(), time.process_time()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sys.argv = ["prov", *sys.argv[1:]]
    import provenance.cli as cli

    cli.prepare_process(cli._command())
    try:
        cli.app(prog_name="prov")
    except SystemExit:
        pass
    stop.set()
    sampler.join()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    inclusive: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    leaf: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
    for dw, dmain, dproc, stack in samples:
        for name in set(stack):
            for i, value in enumerate((dw, dmain, dproc)):
                inclusive[name][i] += value
        if stack:
            for i, value in enumerate((dw, dmain, dproc)):
                leaf[stack[0]][i] += value
    out = sys.stderr
    print(f"total: wall {wall:.3f} s, process CPU {cpu:.3f} s, {len(samples)} samples", file=out)
    print("  wall  main-CPU  process-CPU  wall-minus-process  function (leaf)", file=out)
    for name, (w, m, p) in sorted(leaf.items(), key=lambda kv: kv[1][2] - kv[1][0])[:25]:
        print(f"{w:7.3f} {m:7.3f} {p:7.3f} {w - p:7.3f}  {name}", file=out)
    print("  wall  main-CPU  process-CPU  wall-minus-process  function (inclusive)", file=out)
    for name, (w, m, p) in sorted(inclusive.items(), key=lambda kv: -kv[1][0])[: int(os.environ.get("TOPN", "70"))]:
        print(f"{w:7.3f} {m:7.3f} {p:7.3f} {w - p:7.3f}  {name}", file=out)
    os._exit(0)


if __name__ == "__main__":
    main()
