"""Where ``--schema`` applies: CSV and JSON Lines files, whose text says no column type (newcomer review 31, #1).

A Parquet file carries its own column types and is read with them, so ``--schema`` on it changed nothing: the
records kept their digests, yet the option was signed as a read option later commits inherit, and a step that
advised "re-commit with --schema" led back to where it started. A user's ``--schema`` on an input that holds no
CSV or JSON Lines file is therefore refused; a signed version's options are re-read as signed (never refused here).
"""

from __future__ import annotations

import os

from provenance.errors import InputError


def refuse_schema_without_text(path: str, schema: object, flag: str = "--schema") -> None:
    """Raise ``InputError`` (exit 2) when ``schema`` (the ``{column: type}`` a user gave) is not empty and the local
    table ``path`` (a file, or a folder of table files) holds no CSV or JSON Lines file for it to type. An fsspec
    URL, a path that does not exist or a file tree is left to the reader (it names its own errors). ``flag`` is the
    option as the caller gave it (``schema=`` from Python)."""
    if not schema or "://" in path or not os.path.exists(path):
        return
    from provenance.sources.table_files import has_table_files, list_table_files

    if os.path.isdir(path) and not has_table_files(path):
        return
    try:
        formats = {f.format for f in list_table_files(path).files}
    except (InputError, OSError):  # the read that follows names the problem
        return
    if not formats or formats - {"parquet"}:
        return
    where = "a Parquet file" if os.path.isfile(path) else "a folder of Parquet files only"
    raise InputError(
        f"{path}: {flag} applies to CSV and JSON Lines only, and this is {where}, which carries its own column types "
        "(read as they are): cast the columns in the file instead (pyarrow: table.cast; pandas: astype)"
    )
