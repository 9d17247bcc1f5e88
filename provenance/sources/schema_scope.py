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


def parquet_only(path: str, rev: str | None = None) -> bool:
    """Whether the table ``path`` (a file, or a folder of table files) holds table files, all of them Parquet:
    :func:`parquet_holding` is not None."""
    return parquet_holding(path, rev) is not None


def parquet_holding(path: str, rev: str | None = None) -> str | None:
    """``"a Parquet file"`` or ``"a folder of Parquet files only"`` when the table ``path`` holds table files, all
    of them Parquet; None otherwise: a CSV or JSON Lines file among them, a path that does not exist, a folder of
    no table files, a filesystem that cannot be opened or a listing it refuses (the read that follows names its own
    errors). ``path`` is read where the commit reads it: any fsspec URL through ``sources.build.split_url``
    (``local://``, ``simplecache::file://``, ``file://`` with escapes and a host: attack review 32a, A32a-3), or, with
    ``rev``, in the git+DVC repository that holds it, as of that revision (``sources.dvc.open_fs``)."""
    try:
        fs, inner = _filesystem(path, rev)
    except Exception:  # noqa: BLE001 -- fsspec and DVC raise many kinds; the read that follows names them
        return None
    if fs is None and (not os.path.exists(inner) or (os.path.isdir(inner) and not _local_table_folder(inner))):
        return None
    from provenance.sources.table_files import list_table_files

    try:
        listing = list_table_files(inner, fs)
        formats = {f.format for f in listing.files}
        is_file = fs.isfile(inner) if fs is not None else os.path.isfile(inner)
    except Exception:  # noqa: BLE001 -- as above: the read that follows names the problem
        return None
    if not formats or formats - {"parquet"}:
        return None
    return "a Parquet file" if is_file else "a folder of Parquet files only"


def _filesystem(path: str, rev: str | None):
    """``(fsspec filesystem or None for the local one, path on it)`` where a commit of ``path`` at ``rev`` reads."""
    if rev is not None:
        from provenance.sources.dvc import open_fs
        from provenance.sources.interface import DatasetSpec

        return open_fs(DatasetSpec(path=path, kind="table", rev=rev))
    from provenance.sources.build import split_url

    return split_url(local_path(path))  # a file:// URL as the local path it names (a host, %-escapes), as before


def _local_table_folder(path: str) -> bool:
    from provenance.sources.table_files import has_table_files

    return has_table_files(path)


def refuse_schema_without_text(path: str, schema: object, flag: str = "--schema", rev: str | None = None) -> None:
    """Raise ``InputError`` (exit 2) when ``schema`` (the ``{column: type}`` a user gave) is not empty and the table
    ``path`` (a file, or a folder of table files; any URL, or at git revision ``rev`` through DVC: attack reviews
    31d and 32a, A31d-3 and A32a-3) holds no CSV or JSON Lines file for it to type (:func:`parquet_holding`). A path
    that does not exist or a file tree is left to the reader (it names its own errors). ``flag`` is the option as the
    caller gave it (``schema=`` from Python)."""
    if not schema:
        return
    where = parquet_holding(path, rev)
    if where is None:
        return
    at = f" at {rev}" if rev is not None else ""
    raise InputError(
        f"{path}: {flag} applies to CSV and JSON Lines only, and this is {where}{at}, which carries its own column "
        "types (read as they are): cast the columns in the file instead (pyarrow: table.cast; pandas: astype)"
    )
