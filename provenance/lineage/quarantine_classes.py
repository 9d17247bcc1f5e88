"""The note a quarantine prints when it cuts records of a class its parent version held almost none of.

A cut is a removal in the new version's signed ancestry, and from then on every check of a version built on it
judges the added records of ``[class_mix] expected_new_classes`` in full (``gate.ancestry_removed``: removed
records re-added under a new name are a relabel no digest pairs). Cutting a new class's flagged records therefore
makes that class unlistable for good, and only a later check said so (newcomer review 33, finding 4): the
quarantine says it when it cuts them.
"""

from __future__ import annotations

import shlex
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from provenance.gate.class_names import JUDGED_FROM
from provenance.store.store import Store
from provenance.version_facts import load_manifest


def new_class_cut_note(store: Store, row: dict, drop: set[bytes], new_tag: str) -> str | None:
    """``cut 58 records of class 'tropical wave', which v1 (v2's parent) holds fewer than 10 of: ...``: one line when
    the records ``drop`` (digests) cut from version ``row`` (a ``versions`` row) include classes its parent's manifest
    holds fewer than ``JUDGED_FROM`` records of; None when none do or the version has no parent. Both manifests
    are checked against their signed roots (``version_facts.load_manifest``: raises ``VerificationError``)."""
    parent = row.get("parent")
    if not parent or not drop:
        return None
    table = load_manifest(store, row).table
    cut = table.filter(pc.is_in(table.column("digest"), value_set=pa.array(sorted(drop), pa.binary(32))))
    held = Counter(load_manifest(store, store.version(parent)).table.column("label").to_pylist())
    counts = Counter(cut.column("label").to_pylist())
    new = {label: n for label, n in sorted(counts.items()) if held.get(label, 0) < JUDGED_FROM}
    if not new:
        return None
    one = len(new) == 1
    named = ", ".join(f"{label!r}" for label in new)
    return (
        f"cut {sum(new.values())} records of class{'' if one else 'es'} {named}, which {parent} ({row['tag']}'s "
        f"parent) holds fewer than {JUDGED_FROM} of: a version built on {new_tag} has a signed ancestor holding "
        f"records it lacks, so its checks judge added records of [class_mix] expected_new_classes in full, and no "
        f"order of commits makes {'this class' if one else 'these classes'} new again; to keep "
        f"{'it' if one else 'them'} listable, review and waive {'its' if one else 'their'} records instead (prov "
        f"waive DIGEST --version {shlex.quote(row['tag'])} --detector combined --reason R --key K)"
    )
