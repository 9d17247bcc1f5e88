"""The ``prov`` command line: parse, make one library call, render.

Each command module adds its commands to ``app``; the modules are imported lazily, one
per command run (``provenance.cli._lazy``: the command table and the order of ``prov --help``).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

from provenance.cli._app import app

__all__ = ["app", "main", "prepare_process"]

# Commands that stream windows of two manifests and free them as they go (the diff's merge):
# keeping freed pages saves them no page faults and holds their peak, and so does mimalloc's
# own default delay; giving pages back after 10 ms costs no more system time. Peak of a
# 10 M-record diff (load 7): kept 417 MiB, mimalloc's default 366-399, 10 ms 309-315.
RETURN_FREED_MEMORY = frozenset({"diff", "check"})
RETURN_AFTER = {"MIMALLOC_PURGE_DELAY": "10"}  # milliseconds; a user's own setting wins
# prov runs its matrix products on one BLAS thread (``features.blas``: deterministic bytes, and
# faster here). Limiting a thread pool OpenBLAS had started left its threads waking at each limit's
# end and spinning ~0.1 s each, on a 2-core machine beside the command: ~0.2-0.3 s of CPU of an
# image-tree commit (20,000 PNGs, ~2 s of CPU). Started with one thread, it starts none.
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1"}


GC_THRESHOLD = 50_000  # new container objects between two passes of the cyclic collector
# The commands that run detection keep tens of thousands of findings' objects alive at once: in a
# ``prov diff --detect`` of a 1% delta of 1 M, three passes at GC_THRESHOLD each walked them all, ~0.04 s
# of CPU (1.4 s in all) to collect ~470 objects; at this threshold none ran, and the peak memory was the same.
DETECTION_GC_THRESHOLD = 200_000
DETECTION_COMMANDS = frozenset({"diff", "check"})


def _command() -> str | None:
    """The command named on the command line (its first word that is not an option), if any."""
    return next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)


def main() -> None:
    """The ``prov`` console script (``[project.scripts]``): run the command named in ``sys.argv``.

    Sets the process up first (``prepare_process``), then runs ``app``. Each
    command's errors become one ``Error: ...`` line on stderr and the process's exit status
    (``_app.handle_errors``): the error's ``exit_code`` (``InputError`` 2,
    ``VerificationError`` 1, ``StoreError`` and other ``ProvError`` 3), 3 for an
    interruption, a damaged or busy store database or an unexpected exception. Never
    returns: the process ends with the command's exit status (``exit_with``).
    """
    prepare_process(_command())
    from provenance.cli._lazy import LazyGroup

    LazyGroup.freeze_imports = True  # this process ends when the command does (``exit_with``)
    try:
        app(prog_name="prov")
        code = 0
    except SystemExit as exc:
        code = _status(exc.code)
    exit_with(code)


def prepare_process(command: str | None) -> None:
    """Set this process up for ``command`` as the ``prov`` command does, before numpy and pyarrow load.

    The cyclic collector runs every ``GC_THRESHOLD`` new objects (``DETECTION_GC_THRESHOLD`` for the
    commands that run detection); Arrow's allocator keeps
    freed memory (``sources.memory.keep_freed_memory``; the ``RETURN_FREED_MEMORY`` commands
    give freed pages back after ``RETURN_AFTER``); OpenBLAS starts no threads (``ONE_BLAS_THREAD``);
    ``_imports.PandasOnRequest`` tells pyarrow's probes for pandas it is absent (code that
    imports pandas by name still gets it). A user's own setting of each variable wins. The
    benches that time the library call behind a command call this too, so they time it as it runs.
    """
    import gc  # here: the package's own ``gc`` command module takes the name ``provenance.cli.gc``

    from provenance.cli._imports import load_pandas_on_request
    from provenance.sources.memory import keep_freed_memory

    # The cyclic collector's default (a pass every 700 new container objects) ran ~680 times
    # in a ``prov diff --detect`` of 10,000 findings, 0.26 s of its ~2.4 s of CPU, for almost
    # nothing: prov's objects seldom form cycles. A pass every 50,000: 9 passes, 0.08 s.
    gc.set_threshold(DETECTION_GC_THRESHOLD if command in DETECTION_COMMANDS else GC_THRESHOLD, 50, 100)

    # before pyarrow is imported: mimalloc reads its settings once
    if command in RETURN_FREED_MEMORY:
        for name, value in RETURN_AFTER.items():
            os.environ.setdefault(name, value)
    else:
        keep_freed_memory()
    for name, value in ONE_BLAS_THREAD.items():  # before numpy is imported: OpenBLAS reads it once
        os.environ.setdefault(name, value)
    load_pandas_on_request()


def _status(code: object) -> int:
    """A ``SystemExit`` code as the process's exit status, as the interpreter maps it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def exit_with(code: int) -> NoReturn:
    """End the process with ``code`` every time (attack review 3, finding 11).

    Under load, a ``prov`` process sometimes died at exit with SIGABRT ("terminate called
    without an active exception", status 134) after its command had finished: a C++ thread
    of Arrow's (a reader's read-ahead, a thread pool) still joinable when the interpreter's
    teardown and the libraries' static destructors ran (apache/arrow#34314, #38352). So the
    normal shutdown steps that need Python run here, in order, while every library is still
    whole: objects left unreachable (a reader a command stopped early) are collected, the
    thread pools are shut down and non-daemon threads joined (``threading._shutdown``, the
    interpreter's own first step), ``atexit`` functions run, the output is flushed; then
    ``os._exit`` ends the process without the module teardown and C++ static destructors
    where the abort happens. Every file prov writes is written and closed by its command
    (``with`` blocks, ``output_file``), so nothing buffered is lost.
    """
    import gc  # here: the package's own ``gc`` command module takes the name ``provenance.cli.gc``

    gc.collect()
    shutdown = getattr(threading, "_shutdown", None)  # CPython: join pools and non-daemon threads
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (prov log | head): the status still says how it went
            pass
    os._exit(code)
