"""The ``prov`` command line: parse, make one library call, render.

Each command module adds its commands to ``app``; the modules are imported lazily, one
per command run (``provenance.cli._lazy``: the command table and the order of ``prov --help``).
"""

from __future__ import annotations

from provenance.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    """The ``prov`` console script (``[project.scripts]``): run the command named in ``sys.argv``.

    Tunes Arrow's allocator first (``sources.memory.keep_freed_memory``) and installs
    ``_imports.PandasOnRequest`` (pyarrow's probes for pandas are told it is
    absent; code that imports pandas by name still gets it), then runs ``app``. Each
    command's errors become one ``Error: ...`` line on stderr and the process's exit status
    (``_app.handle_errors``): the error's ``exit_code`` (``InputError`` 2,
    ``VerificationError`` 1, ``StoreError`` and other ``ProvError`` 3), 3 for an
    interruption, a damaged or busy store database or an unexpected exception. Never
    returns normally: it ends with ``SystemExit``.
    """
    from provenance.cli._imports import load_pandas_on_request
    from provenance.sources.memory import keep_freed_memory

    keep_freed_memory()  # before pyarrow is imported
    load_pandas_on_request()
    app(prog_name="prov")
