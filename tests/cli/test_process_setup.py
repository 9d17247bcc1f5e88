"""The ``prov`` process starts OpenBLAS with one thread (``cli.prepare_process``).

prov pins its matrix products to one BLAS thread around each call (``features.blas``); a thread
pool OpenBLAS had started then woke at every limit's end and spun beside the command (~0.2-0.3 s
of CPU of an image-tree commit on 2 cores). Started with one thread, OpenBLAS starts no pool.
"""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
from provenance.cli import prepare_process

prepare_process("commit")
import numpy
from threadpoolctl import threadpool_info

print(sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}))
"""


def _blas_threads(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env={**base, **env})
    return out.stdout.strip()


def test_prov_starts_openblas_with_one_thread():
    assert _blas_threads() == "[1]"


def test_a_users_own_openblas_setting_wins():
    assert _blas_threads(OPENBLAS_NUM_THREADS="2") == "[2]"


FROZEN_PROBE = """
import gc
import sys

import provenance.cli as cli
from provenance.cli import _lazy


class Reader:  # stands for what a command leaves in a reference cycle (a reader it stopped early)
    def __del__(self):
        print("collected at exit", flush=True)


resolve = _lazy.LazyGroup.get_command


def get_command(self, ctx, name):
    command = resolve(self, ctx, name)
    print("frozen", gc.get_freeze_count() > 10_000, flush=True)
    reader = Reader()
    reader.cycle = reader  # made after the freeze, as a command's objects are
    return command


_lazy.LazyGroup.get_command = get_command
sys.argv = ["prov", "status"]
cli.main()
"""


def test_the_prov_process_freezes_its_start_up_and_still_collects_what_the_command_leaves(tmp_path):
    # ``cli.main``: the objects of start-up are frozen once the command's module is imported, so the
    # collector's pass at exit walks only what the command made; a cycle the command leaves is still
    # collected there (its finalizer runs before os._exit), as before the freeze
    out = subprocess.run([sys.executable, "-c", FROZEN_PROBE], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2, out.stderr  # no store here: prov status refuses, as ever
    assert out.stdout.splitlines() == ["frozen True", "collected at exit"], out.stdout


def test_the_library_freezes_nothing():
    # a program that embeds prov (or runs its commands in process, as the tests do) keeps its collector as it was
    probe = "import gc\nfrom provenance.cli import app\nfrom typer.testing import CliRunner\n"
    probe += "CliRunner().invoke(app, ['status'])\nprint(gc.get_freeze_count())\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0", out.stdout


def _collector_threshold(command: str) -> str:
    probe = f"import gc\nfrom provenance.cli import prepare_process\nprepare_process({command!r})\nprint(gc.get_threshold()[0])"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()


def test_the_detection_commands_run_the_collector_less_often():
    # diff and check hold tens of thousands of findings' objects alive: a pass every 50,000 new ones walked
    # them all three times in a diff --detect of a 1% delta of 1 M (~0.04 s of CPU) and collected almost nothing
    from provenance.cli import DETECTION_GC_THRESHOLD, GC_THRESHOLD

    assert [_collector_threshold(c) for c in ("diff", "check")] == [str(DETECTION_GC_THRESHOLD)] * 2
    assert _collector_threshold("commit") == str(GC_THRESHOLD)
