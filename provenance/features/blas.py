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
        with _controller().limit(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def _controller():
    """threadpoolctl's controller of the BLAS libraries loaded, found again only when a module was imported since
    (``get_cached_controller``, in the threadpoolctl 3.8 installed here; without it, a new one each time).

    ``threadpool_limits`` lists every shared library of the process to find them (86 in a ``prov diff
    --detect``: ~2 ms each time), and a detection run limits BLAS nine times, once per detector and pass."""
    import threadpoolctl

    cached = getattr(threadpoolctl, "get_cached_controller", None)
    return cached() if cached is not None else threadpoolctl.ThreadpoolController()
