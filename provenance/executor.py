"""One place that decides where partitions of work run: here, in local processes, or on Dask.

Every partition's result depends only on the partition, and callers merge results in
task order, so the merged result is the same, byte for byte, whatever the executor and
the number of workers.

An executor has ``workers``, ``shared_filesystem`` (whether workers can write files the
caller then reads: true for local processes, false for a cluster), ``map`` (all results,
in order) and ``imap`` (results in order as they finish, with a bounded number of tasks
in flight, so a caller that streams results keeps its memory flat).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from provenance.errors import InputError
from provenance.extras import install_hint

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """Worker count: ``PROV_WORKERS`` if a positive integer, else the CPUs this process may use."""
    env = os.environ.get("PROV_WORKERS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class LocalExecutor:
    """Runs partitions in local worker processes (fork), or inline when there is one."""

    shared_filesystem = True

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()

    def __repr__(self) -> str:
        return f"local:{self.workers}"

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``, computed by the workers; results in item order."""
        return list(self.imap(fn, items))

    def imap(self, fn: Callable[[T], R], items: Iterable[T], window: int | None = None) -> Iterator[R]:
        """Yield ``fn(item)`` in item order, keeping at most ``window`` (default 2 × workers) in flight.

        ``fn`` and its results must pickle. A task's exception is raised here, in order.
        """
        items = list(items)
        if self.workers <= 1 or len(items) <= 1:
            for item in items:
                yield fn(item)
            return
        window = window or 2 * self.workers
        # here, not at the top: ``multiprocessing`` and the process pool (~3 ms) are for a command that forks
        # workers, and ``default_workers`` is imported on every detection's path (``profiles.graph``)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items)), mp_context=ctx) as pool:
            yield from _ordered_window(pool.submit, fn, items, window, lambda f: f.result())

    def close(self) -> None:
        """Nothing to release: each ``imap`` call owns its process pool."""


class InlineExecutor(LocalExecutor):
    """Runs every partition in this process, one after another (``inline``; for tests and debugging)."""

    def __init__(self):
        super().__init__(workers=1)


class ThreadExecutor(LocalExecutor):
    """Runs partitions on threads of this process, for work that holds no GIL while it runs.

    Hashing large files is such work (reading into a buffer and ``hashlib``'s update both
    release the GIL), and threads start at once: no process pool to fork, nothing pickled.
    Same ``imap`` contract as :class:`LocalExecutor`; ``shared_filesystem`` is true.
    """

    def __repr__(self) -> str:
        return f"threads:{self.workers}"

    def imap(self, fn: Callable[[T], R], items: Iterable[T], window: int | None = None) -> Iterator[R]:
        """Yield ``fn(item)`` in item order, at most ``window`` (default 2 × workers) in flight on threads.

        A task's exception is raised here, in order.
        """
        items = list(items)
        if self.workers <= 1 or len(items) <= 1:
            for item in items:
                yield fn(item)
            return
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            yield from _ordered_window(pool.submit, fn, items, window or 2 * self.workers, lambda f: f.result())


def for_gil_free_work(executor):
    """The executor to run work on that holds no GIL while it runs (Parquet decoding and the batch hasher;
    reading and hashing large files): threads of this process in place of this machine's worker processes.

    Only an executor that is what ``local``, ``local:N`` and the default name (:func:`executor_from`,
    :func:`local_executor`: a ``LocalExecutor`` as such) means "this machine, however it runs best", so only
    that one becomes :class:`ThreadExecutor` with as many workers; ``inline``, threads already, a cluster,
    and a subclass a caller built to run its work somewhere on purpose are kept as given.
    """
    if type(executor) is LocalExecutor:
        return ThreadExecutor(executor.workers)
    return executor


class DaskExecutor:
    """Runs partitions on a Dask distributed cluster (``dask://HOST:PORT``).

    Workers may be other machines, so they share no files with us: results come back
    over the network, and inputs must be paths every worker can read (object storage
    through fsspec, or a shared filesystem).
    """

    shared_filesystem = False

    def __init__(self, address: str | None = None, client=None):
        try:
            from distributed import Client
        except ImportError as exc:  # the optional extra is not installed
            raise InputError(f"a Dask executor needs the 'dask' extra: {install_hint('dask')}") from exc
        if client is None:
            try:
                client = Client(address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise InputError(f"executor dask://{address}: cannot reach the Dask scheduler ({exc})") from exc
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.address = address or client.scheduler.address

    @property
    def workers(self) -> int:
        """Total worker threads in the cluster now (at least 1)."""
        threads = self.client.nthreads()
        return max(1, sum(threads.values()))

    def __repr__(self) -> str:
        return f"dask:{self.address}"

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``, computed on the cluster; results in item order."""
        return list(self.imap(fn, items))

    def imap(self, fn: Callable[[T], R], items: Iterable[T], window: int | None = None) -> Iterator[R]:
        """Yield ``fn(item)`` in item order, keeping at most ``window`` (default 2 × workers) submitted.

        ``fn``, items and results travel over the network (pickled); a task's exception is
        raised here, in order.
        """
        items = list(items)
        window = window or 2 * self.workers
        # pure=False: two equal tasks (two empty partitions) are still two tasks
        submit = lambda f, item: self.client.submit(f, item, pure=False)  # noqa: E731
        yield from _ordered_window(submit, fn, items, window, lambda f: f.result())

    def close(self) -> None:
        """Close the connection to the scheduler if this executor opened it."""
        if self._owns_client:
            self.client.close()


def _ordered_window(submit, fn, items: list, window: int, result) -> Iterator:
    """Submit ``items`` keeping at most ``window`` in flight; yield results in item order."""
    pending: deque = deque()
    queue = iter(items)
    for item in queue:
        pending.append(submit(fn, item))
        if len(pending) >= window:
            break
    while pending:
        future = pending.popleft()
        value = result(future)
        nxt = next(queue, _DONE)
        if nxt is not _DONE:
            pending.append(submit(fn, nxt))
        yield value


_DONE = object()


EXECUTOR_ENV = "PROV_EXECUTOR"
"""The one place besides ``--executor`` an executor is named: the environment of the person running prov.

Never a file in the checkout (a pull request could otherwise point ``prov verify`` at a
Dask scheduler of its choosing, whose unpickled results run code on the CI runner and can
return any digest it likes)."""


def executor_from(setting: str | None = None):
    """An executor from a setting: ``local``, ``local:N``, ``inline`` or ``dask://HOST:PORT``.

    With no setting, the ``PROV_EXECUTOR`` environment variable, then local processes on
    every core (``PROV_WORKERS``). Only ``commit`` runs on an executor chosen this way; a
    Dask cluster is inside the trust boundary (its workers compute the digests that get
    signed), so every check recomputes on this machine (:func:`local_executor`).

    ``tcp://`` and ``tls://`` scheduler addresses are accepted as Dask too. Raises
    ``InputError`` (exit 2) for any other setting, for ``local:N`` with N < 1, and when a
    Dask scheduler is unreachable or the ``dask`` extra is not installed.
    """
    if setting is None:
        setting = os.environ.get(EXECUTOR_ENV) or None
    return _parse(setting)


def local_executor():
    """The executor for work a check relies on: always this machine.

    ``PROV_EXECUTOR`` is honoured only when it names a local executor (``inline``,
    ``local``, ``local:N``); a cluster address there is ignored, so ``verify``, ``check``,
    ``add`` and ``diff`` recompute every digest they rely on here.
    """
    setting = os.environ.get(EXECUTOR_ENV) or None
    if setting is not None and (setting in ("inline", "local") or setting.startswith("local:")):
        return _parse(setting)
    return LocalExecutor()


def _parse(setting: str | None):
    if setting is None or setting in ("", "local"):
        return LocalExecutor()
    if setting == "inline":
        return InlineExecutor()
    if setting.startswith("local:"):
        n = setting.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise InputError(f"executor {setting!r}: expected local:N with N a positive number of workers")
        return LocalExecutor(int(n))
    for scheme in ("dask://", "tcp://", "tls://"):
        if setting.startswith(scheme):
            rest = setting[len(scheme) :]
            if not rest:
                raise InputError(f"executor {setting!r}: expected dask://HOST:PORT")
            address = ("tcp://" + rest) if scheme == "dask://" else setting
            return DaskExecutor(address)
    raise InputError(f"executor {setting!r}: expected local, local:N, inline or dask://HOST:PORT")
