"""Start-up of the ``prov`` process: pandas only for code that asks for it by name.

pyarrow probes for pandas from compiled code: the first ``pa.array(list)`` or
``pa.table(dict)`` imports pandas (0.3-0.6 s) to ask "is this a pandas object?", and
retries on every call while pandas is missing. prov's commands never hand pandas objects
to pyarrow, so the ``prov`` console script installs ``PandasOnRequest``: an import of
pandas made from Python code that names it (``import pandas``, ``from pandas import x``,
``importlib.import_module("pandas")``: a plug-in featuriser, ``to_pandas()``) loads it as
usual; the probes, which come from compiled code, are told it is not there. The library
(``import provenance``) installs nothing: a program that embeds prov keeps pyarrow's
behaviour.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_IMPORTLIB = os.path.join("importlib", "__init__.py")


class PandasOnRequest:
    """A ``sys.meta_path`` finder that refuses pandas to imports no Python code asked for by name.

    A plain class with ``find_spec`` (all the import system calls): subclassing
    ``importlib.abc.MetaPathFinder`` imports importlib.resources, ~5 ms of every command's start-up."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname != "pandas":
            return None
        frame = sys._getframe(1)
        while frame is not None and (
            frame.f_code.co_filename.startswith("<frozen importlib") or frame.f_code.co_filename.endswith(_IMPORTLIB)
        ):
            frame = frame.f_back  # type: ignore[assignment]
        code = frame.f_code if frame is not None else None
        if code is not None and ("pandas" in code.co_names or "pandas" in code.co_consts):
            return None  # asked for by name: the usual finders load it
        raise ModuleNotFoundError("pandas is not loaded for pyarrow's probes in the prov command", name="pandas")


def load_pandas_on_request() -> None:
    """Install ``PandasOnRequest`` first on ``sys.meta_path`` (once)."""
    if "pandas" not in sys.modules and not any(isinstance(f, PandasOnRequest) for f in sys.meta_path):
        sys.meta_path.insert(0, PandasOnRequest())
