"""Settings that are not part of a version: where work runs.

Read from the environment first, then from ``.prov/config.toml`` in the current folder
(the store's), for example::

    [scale]
    executor = "dask://scheduler.internal:8786"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from provenance.errors import InputError

CONFIG_FILE = Path(".prov") / "config.toml"


def read_config(base: str | Path = ".") -> dict:
    path = Path(base) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: cannot read settings ({exc})") from exc


def executor_setting(base: str | Path = ".") -> str | None:
    env = os.environ.get("PROV_EXECUTOR")
    if env:
        return env
    value = read_config(base).get("scale", {}).get("executor")
    if value is not None and not isinstance(value, str):
        raise InputError(f'{Path(base) / CONFIG_FILE}: [scale] executor must be a string such as "dask://HOST:PORT"')
    return value
