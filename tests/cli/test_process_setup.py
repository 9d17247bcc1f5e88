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
