"""Code-free yardsticks of the machine for the image-tree commit: the same kinds of work a `prov commit`
of the 20,000-PNG digits tree does, with none of prov's code, so a change between two sessions' figures
can be put on the machine (these move too) or on prov (these stay).

Each figure is the least of ``--repeats`` runs, each in a fresh process; the CPU time (user + system,
``getrusage``) of the whole process for:

- ``python -c pass`` (session 13's start-up bench: 0.020-0.024 s, wall, at load 1.3-1.9);
- ``openssl dgst -sha256`` of the 20,000 files in batches of 500 (as ``core_bench.py`` times it; session 13
  recorded 0.25-0.36 s);
- ``python -c "import numpy, pyarrow, pyarrow.parquet, PIL.Image, cryptography"``: start-up and imports;

and the CPU of the timed part alone (``time.process_time`` inside the process, one thread) of:

- Pillow: open, load, convert to L and resize to 16 x 16 of 4,000 of the PNG files (``Image.open``'s
  path, the featuriser's before session 15), per image;
- a 4,000 x 4,000 x 260 float64 product on one BLAS thread (the size of the profile's neighbour graph
  products, ``OPENBLAS_NUM_THREADS=1`` as ``prov`` sets it).

    python bench/machine_yardstick.py [--repeats 3] [--out machine-yardstick.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from core_bench import make_digits_tree  # noqa: E402

PILLOW = """
import sys, time
from PIL import Image
names = [line.strip() for line in open(sys.argv[1])]
start = time.process_time()
for name in names:
    with Image.open(name) as im:
        im.load()
        im.convert("L").resize((16, 16), Image.BILINEAR).tobytes()
print(time.process_time() - start)
"""

PRODUCT = """
import time
import numpy as np
rng = np.random.default_rng(0)
a = rng.standard_normal((4000, 260))
b = rng.standard_normal((4000, 260))
start = time.process_time()
a @ b.T
print(time.process_time() - start)
"""


def child_cpu(cmd: list[str], env: dict | None = None) -> float:
    """CPU seconds (user + system) of ``cmd`` and the children it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def own_cpu(cmd: list[str], env: dict | None = None) -> float:
    """The CPU seconds ``cmd`` prints for its own timed part (``time.process_time``, one thread)."""
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)


def openssl_cpu(paths: list[Path]) -> float:
    """CPU seconds of ``openssl dgst -sha256`` over ``paths`` in batches of 500."""
    return sum(
        child_cpu(["openssl", "dgst", "-sha256", *map(str, paths[i : i + 500])]) for i in range(0, len(paths), 500)
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="machine-yardstick.json", help="results file in bench/results/")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prov-yardstick-"))
    load = lambda: " ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    try:
        data = work / "digits"
        make_digits_tree(data, 20_000)
        paths = sorted(p for p in data.rglob("*") if p.is_file())
        sample = work / "sample.txt"
        sample.write_text("".join(f"{p}\n" for p in paths[:: len(paths) // 4000][:4000]))
        py = sys.executable
        one_blas = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        imports = "import numpy, pyarrow, pyarrow.parquet, PIL.Image, cryptography"
        load_before = load()
        runs: dict[str, list[float]] = {
            "python_pass": [],
            "openssl_dgst": [],
            "imports": [],
            "pillow_4000": [],
            "product": [],
        }
        for _ in range(args.repeats):
            runs["python_pass"].append(child_cpu([py, "-c", "pass"]))
            runs["openssl_dgst"].append(openssl_cpu(paths))
            runs["imports"].append(child_cpu([py, "-c", imports]))
            runs["pillow_4000"].append(own_cpu([py, "-c", PILLOW, str(sample)]))
            runs["product"].append(own_cpu([py, "-c", PRODUCT], one_blas))
        result = {
            "load": f"{load_before} / {load()}",
            "cpu_s_least": {name: round(min(v), 3) for name, v in runs.items()},
            "pillow_us_per_image": round(min(runs["pillow_4000"]) / 4000 * 1e6, 1),
            "cpu_s_runs": {name: [round(x, 3) for x in v] for name, v in runs.items()},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    (HERE / "results" / args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
