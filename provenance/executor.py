"""One place that decides how partitions of work run: in this process or in worker processes.

Every partition's result depends only on the partition, so the merged result is the same
whatever the executor and the number of workers.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    env = os.environ.get("PROV_WORKERS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return os.cpu_count() or 1


class LocalExecutor:
    """Runs partitions in local worker processes (fork), or inline when there is one."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if self.workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items)), mp_context=ctx) as pool:
            return list(pool.map(fn, items))


class InlineExecutor(LocalExecutor):
    def __init__(self):
        super().__init__(workers=1)
