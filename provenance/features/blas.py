"""BLAS on one thread for prov's numeric work (reference profiles, detectors).

Multi-threaded BLAS splits a matrix product differently for different shapes and thread
counts, so the last bits of a result would depend on the machine; on one thread they do
not. On this project's 2-core machines one thread is also faster for prov's small
products: building a profile of 8,000 x 64 records took 1.7-2.9 s on one thread against
3.1-7.6 s with the default threads under load (bench notes in report-detect3).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")


def single_threaded_blas(fn: Callable[..., R]) -> Callable[..., R]:
    """``fn`` wrapped to run with BLAS limited to one thread (``threadpoolctl``); the
    caller's limits are restored afterwards. Same arguments, return value and exceptions as ``fn``."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> R:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
