"""Where ``--schema`` applies: CSV and JSON Lines files, whose text says no column type (newcomer review 31, #1).

A Parquet file carries its own column types and is read with them, so ``--schema`` on it changed nothing: the
records kept their digests, yet the option was signed as a read option later commits inherit, and a step that
advised "re-commit with --schema" led back to where it started. A user's ``--schema`` on an input that holds no
CSV or JSON Lines file is therefore refused; a signed version's options are re-read as signed (never refused here).
"""

from __future__ import annotations

import os

from provenance.errors import InputError


def local_path(path: str) -> str:
    """``path`` with a ``file://`` URL resolved to the local path it names (``file:///data/t.parquet`` ->
    ``/data/t.parquet``, percent-escapes decoded); any other path or URL as it is."""
    if not path.startswith("file://"):
        return path
    from urllib.parse import unquote, urlparse

    return unquote(urlparse(path).path)


def parquet_only(path: str) -> bool:
    """Whether the local table ``path`` (a file, or a folder of table files; a ``file://`` URL is resolved) holds
    table files, all of them Parquet. False for another URL, a path that does not exist, a folder of no table
    files, or one the lister refuses (the read that follows names its own errors)."""
    path = local_path(path)
    if "://" in path or not os.path.exists(path):
        return False
    from provenance.sources.table_files import has_table_files, list_table_files

    if os.path.isdir(path) and not has_table_files(path):
        return False
    try:
        formats = {f.format for f in list_table_files(path).files}
    except (InputError, OSError):  # the read that follows names the problem
        return False
    return bool(formats) and not formats - {"parquet"}


def refuse_schema_without_text(path: str, schema: object, flag: str = "--schema") -> None:
    """Raise ``InputError`` (exit 2) when ``schema`` (the ``{column: type}`` a user gave) is not empty and the local
    table ``path`` (a file, or a folder of table files; a ``file://`` URL is resolved: attack review 31d, A31d-3)
    holds no CSV or JSON Lines file for it to type (:func:`parquet_only`). Another fsspec URL, a path that does not
    exist or a file tree is left to the reader (it names its own errors). ``flag`` is the option as the caller gave
    it (``schema=`` from Python)."""
    if not schema or not parquet_only(path):
        return
    where = "a Parquet file" if os.path.isfile(local_path(path)) else "a folder of Parquet files only"
    raise InputError(
        f"{path}: {flag} applies to CSV and JSON Lines only, and this is {where}, which carries its own column types "
        "(read as they are): cast the columns in the file instead (pyarrow: table.cast; pandas: astype)"
    )
