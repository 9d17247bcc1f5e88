"""``prov export V --out PATH``: write a version's exact records to a new place, checked against its manifest.

The records are read from where the version *signed* its data was, with its signed read
options, and written as quarantine writes (tables as Parquet, which keeps every typed row
and so every digest; trees as a copied tree with its labels CSV). The written copy is then
hashed again with the same options: its Merkle root must be the version's signed root, or
the copy is removed and the export fails. So an export is the version, record for record,
or nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from provenance.errors import InputError, VerificationError
from provenance.store.store import Store


def export_version(store: Store, tag: str, out: str | os.PathLike[str], executor=None) -> dict:
    """Write version ``tag``'s records to the new path ``out``; what ``prov export V --out PATH`` does.

    The version's signature is checked first, against ``store.pins``: nothing pinned is an
    ``InputError`` (exit 2) before anything is read or written, because a key cached in
    ``.prov/`` is written by whoever can write the store (a ``.prov/`` writer re-signs a
    poisoned version with their own key, which ``prov commit`` caches), so an export checked
    against it would hand the poison to training as signed. Returns
    ``schemas/export.schema.json``'s shape: ``{"version", "records", "merkle_root", "output",
    "kind": "table" | "tree", "release"}``, ``release`` saying whether a release kept in the store covers
    the version under the pins (``loader.unreleased.ReleaseStanding.to_dict``: what ``provenance.load``
    warns of without ``attestation=``). Raises ``InputError`` (exit 2) when ``out`` exists (an
    export never overwrites) or its folder is missing, or ends in ``/`` for a table version, or names a table file
    ``.csv`` or ``.jsonl`` (the copy is Parquet), ``VerificationError`` (exit 1) when the
    data no longer matches the signed manifest (nothing is left at ``out``).
    """
    from provenance.changes import record_changes, summary
    from provenance.lineage.filtered_copy import write_without
    from provenance.sources.build import build_manifest
    from provenance.trust.pins import pins_of
    from provenance.version_facts import dataset_from_predicate, load_manifest, verified_statement

    pins_of(store).require_trust_decision(f"prov export {tag}")
    row = store.version(tag)
    stmt = verified_statement(store, row)
    spec = dataset_from_predicate(store, row, stmt["predicate"])
    target = Path(out)
    kind = stmt["predicate"].get("schema", {}).get("kind", row["kind"])
    if os.fspath(out).endswith(("/", os.sep)) and kind == "table":  # Path() drops the slash that said "a folder"
        raise InputError(
            f"{os.fspath(out)}: a folder (it ends in '/'), but {tag} is a table, exported as one Parquet file: "
            f"give --out {os.path.join(os.fspath(out), tag + '.parquet')}"
        )
    if os.path.lexists(target):
        raise InputError(f"{target}: already exists; an export writes a new path only")
    if not target.parent.is_dir():
        raise InputError(f"{target}: its folder {target.parent} does not exist")
    _, kept, written = write_without(spec, set(), target)
    try:
        copy = build_manifest(written, executor=executor).manifest
        if copy.root.hex() != row["merkle_root"]:
            signed = load_manifest(store, row)
            changes = record_changes(signed, copy)
            raise VerificationError(
                f"version {tag}: data at {spec.path} no longer matches its signed manifest "
                f"({summary(changes, signed, copy)}); "
                "nothing exported"
            )
    except BaseException:
        _remove(target)
        raise
    from provenance.loader.unreleased import release_standing

    return {
        "version": tag,
        "records": kept,
        "merkle_root": row["merkle_root"],
        "output": str(target),
        "kind": written.kind,
        # an export hands records to training as load does: whether a release covers them (attack review 32b, A32b-4)
        "release": release_standing(store, tag, first=not stmt["predicate"].get("parent")).to_dict(tag),
    }


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()
