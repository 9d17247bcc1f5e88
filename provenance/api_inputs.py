"""How the public API's arguments become what the library works on: a store and a dataset spec.

Every function of ``provenance.api`` takes a store the way the commands find one
(``open_store``) and reads data from the same keyword arguments as the commands'
dataset flags (``dataset``); ``optional_path`` turns an optional path-like into the
``str`` the library takes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from provenance.sources.interface import DatasetSpec
    from provenance.store.store import Store
    from provenance.trust.pins import Pins

    # what a ``pins=`` argument takes: a Pins, or public key files as ``--signer`` takes them
    PinsLike: TypeAlias = Pins | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def as_pins(pins: PinsLike | None) -> Pins | None:
    """``pins`` as :class:`Pins`: a public key file, or a list of them, is pinned as ``--signer``
    pins it (``Pins.load``); an empty list pins nothing (never the environment's ``PROV_SIGNERS``:
    a caller who passed pins meant those). None stays None.

    Raises:
        TypeError: anything else, naming what to pass.
        InputError: a key file that cannot be read (exit 2, naming it).
    """
    from provenance.trust.pins import Pins

    if pins is None or isinstance(pins, Pins):
        return pins
    paths = [pins] if isinstance(pins, str | os.PathLike) else pins
    if isinstance(paths, Sequence) and all(isinstance(p, str | os.PathLike) for p in paths):
        return Pins.load(paths) if paths else Pins.unpinned()
    raise TypeError(
        f"pins must be a prov.Pins or public key files (pins='keys/maintainer.pub', pins=[...], "
        f"or prov.Pins.load(roots=[...]) for a root file), not {type(pins).__name__}"
    )


def store_and_name(function: str, args: tuple, store: object, named: object, keyword: str) -> tuple:
    """The ``(store, name)`` of a call to ``verify`` or ``load`` written either way the API takes them:
    ``f(store, "v1", ...)``, store first as ``commit``, ``diff`` and ``check`` take it, or ``f("v1", store=..., ...)``,
    as a training job writes ``load`` (newcomer review 19, H11: a newcomer who copied one guessed the other wrong).

    ``args``: the call's positional arguments (none, the name, or the store and the name); ``store``: its
    ``store=`` (None: not given, and then the store ``open_store(None)`` finds); ``named``: the name given by
    keyword as ``keyword`` (``target=``, ``version=``), else None. Raises ``TypeError`` when the store or the
    name is given twice, the name not at all, or more than two positional arguments."""
    if len(args) > 2:
        raise TypeError(f"{function}() takes the store and the {keyword} ({len(args)} positional arguments given)")
    if len(args) == 2 or (len(args) == 1 and named is not None):
        if store is not None:
            raise TypeError(f"{function}() got the store twice: positionally, and as store=")
        if len(args) == 2 and named is not None:
            raise TypeError(f"{function}() got the {keyword} twice: positionally, and as {keyword}=")
        return args[0], args[1] if len(args) == 2 else named
    if args:
        return store, args[0]
    if named is None:
        raise TypeError(
            f"{function}() missing the {keyword}: {function}(store, {keyword}, ...) or {function}({keyword}, store=...)"
        )
    return store, named


def open_store(store: Store | str | os.PathLike[str] | None, pins: PinsLike | None = None) -> Store:
    """``store`` itself, the store in the folder ``store``, or (``None``) the nearest one above the working directory.

    ``PROV_STORE`` overrides the search, as for the commands. ``pins`` (the verifier's
    :class:`~provenance.trust.pins.Pins`, e.g. ``Pins.load(["maintainer.pub"])``) is what
    the store handle checks signatures against from then on; without it, a handle keeps
    the pins it has (a new one: nothing pinned, the store's cached keys, said in every
    report); key files are pinned as ``as_pins`` says. Raises ``InputError`` if there is no store
    (with ``store`` None, saying how a job run in another folder names it).
    """
    from provenance.errors import InputError
    from provenance.store.store import Store, find_store

    pins = as_pins(pins)

    if store is None:
        try:
            find_store()
        except InputError as exc:  # a training job run from another folder: 'prov init' alone misleads it (H3)
            raise InputError(
                f"{exc} (a job run outside the store's folder: pass store='FOLDER', the folder holding .prov/, or set PROV_STORE=FOLDER)"
            ) from exc
    opened = store if isinstance(store, Store) else Store.open(os.fspath(store) if store is not None else None)
    if pins is not None:
        opened.pins = pins
    return opened


def dataset(
    data: str | os.PathLike[str] | DatasetSpec,
    *,
    label_column: str = "label",
    source_column: str | None = None,
    id_column: str | None = None,
    metadata: Sequence[str] = (),
    schema: Mapping[str, str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    kind: str = "auto",
    rev: str | None = None,
    encoding: str | None = None,
    tree_reader: str = "imagefolder",
) -> DatasetSpec:
    """How to read ``data``: the :class:`DatasetSpec` the commands build from their dataset flags.

    ``data`` is a table file (Parquet, CSV, JSON Lines), a folder of them, a file tree
    (``root/<label>/<file>``), or an fsspec URL; ``rev`` reads it at a git revision
    through DVC; ``encoding`` is a CSV/JSON Lines file's text encoding (``--encoding``) and
    ``tree_reader`` whose rules list a file tree (``--tree-reader``: imagefolder, files,
    hf-imagefolder). A ``DatasetSpec`` is returned as it is. Raises ``InputError`` for a
    ``kind`` other than table, tree or auto, an unknown ``tree_reader``, or a ``schema`` for a local
    Parquet file or folder with no CSV or JSON Lines file (Parquet carries its own types: cast the
    columns in the file; ``sources.schema_scope``).
    """
    from provenance.errors import InputError
    from provenance.sources.interface import DatasetSpec
    from provenance.sources.tables import TableOptions

    if isinstance(data, DatasetSpec):
        return data
    if kind not in ("auto", "table", "tree"):
        raise InputError(f"kind {kind!r}: expected table, tree or auto")
    from provenance.sources.trees import READERS

    if tree_reader not in READERS:
        raise InputError(f"tree_reader {tree_reader!r}: expected one of {', '.join(READERS)}")
    options = TableOptions(
        label_column,
        source_column,
        id_column,
        tuple(metadata),
        dict(schema or {}),
        encoding=encoding,
        tree_reader=tree_reader,
    )
    if kind != "tree":  # at a rev too, listed through DVC (attack review 32a, A32a-3)
        from provenance.sources.schema_scope import refuse_schema_without_text

        refuse_schema_without_text(os.fspath(data), options.schema, "schema=", rev)
    csv = os.fspath(labels_csv) if labels_csv is not None else None
    return DatasetSpec(path=os.fspath(data), kind=kind, options=options, labels_csv=csv, rev=rev)


def optional_path(path: str | os.PathLike[str] | None) -> str | None:
    """``path`` as a ``str`` (``os.fspath``), or ``None`` when it is ``None``."""
    return os.fspath(path) if path is not None else None


def kept_paths(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None) -> list[str]:
    """``kept_log_state=`` as a list of ``str`` paths: one path, a sequence of them, or none (``[]``)."""
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]
