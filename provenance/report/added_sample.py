"""``prov diff A B --class C [--source S] [--sample N]``: a sample of the records one source added to one class.

README's Known gaps advise, when a source grows a class (a trigger patch on one class), to look at a sample of
that source's added records of that class. That took the whole diff as JSON and a filter over ``changes.added``
(newcomer review 22, item 7); this is the same list, filtered and cut to a sample, in one command.

The sample is the first N by a keyed hash: SHA-256(``SAMPLE_DOMAIN`` || salt || digest), the salt being the newer
version's ``sampleSalt``, read from its statement verified under the pins (``profiles.sample_verify.signed_salt``:
its signature under the committer's key), never from a row. The committer signs the salt when committing, after the
source delivered its records, so a source cannot grind record content into the sample's first places, as it can
under plain digest order (attack review 23a, A23a-3). A newer side with no signed salt (a revision, the workspace, a
version committed before salts) falls back to digest order, and the output says so (``"order": "digest"``). Every
other fact comes from the diff report (``delta``): the records, labels and locators of the signed versions.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from provenance.errors import InputError
from provenance.escaping import visible
from provenance.names import capped, did_you_mean, short_digest

if TYPE_CHECKING:
    from provenance.store.store import Store

DEFAULT_SAMPLE = 20
SAMPLE_DOMAIN = b"prov diff added sample v1\x00"


def signed_sample_salt(store: Store | None, new: dict) -> bytes | None:
    """The ``sampleSalt`` the newer side of a diff signed (``new``: the report's ``"new"``, ``delta.sides``), checked
    under the committer's key the pins trust (``version_facts.verified_statement``,
    ``profiles.sample_verify.signed_salt``); None when that side is not a version of ``store`` or signs no salt.

    Raises:
        VerificationError: the version's statement or its salt signature does not verify under the pins (exit 1).
    """
    if store is None or new.get("kind") != "version" or not isinstance(new.get("name"), str):
        return None
    from provenance.profiles.sample_verify import signed_salt
    from provenance.version_facts import verified_statement

    row = store.version(new["name"])
    return signed_salt(store, row, verified_statement(store, row)["predicate"])


def sample_order(digest: str, salt: bytes | None) -> bytes:
    """A record's place in the sample: SHA-256(``SAMPLE_DOMAIN`` || ``salt`` || digest bytes) with a salt, else the
    digest's own bytes (a source can grind those; the output says so)."""
    raw = bytes.fromhex(digest)
    return hashlib.sha256(SAMPLE_DOMAIN + salt + raw).digest() if salt is not None else raw


def added_sample(report: dict, label: str | None, source: str | None, size: int, salt: bytes | None = None) -> dict:
    """The records of diff ``report`` (``schemas/diff.schema.json``, listed with ``limit=0``) added with ``label``
    (None: any) from ``source`` (None: any), the ``size`` first by :func:`sample_order` under ``salt``
    (:func:`signed_sample_salt`; None: by digest).

    Returns ``{"base", "new", "path", "class", "source", "added", "order", "sample": [{"digest", "label", "source",
    "locator", "copies", "batch"}]}`` (``schemas/diff-sample.schema.json``): ``added`` counts every such record
    (distinct contents; ``copies`` says how many rows each is), ``order`` is ``"salted"`` or ``"digest"``,
    ``path`` is the new side's data file, which a locator's row number (0-based) indexes.

    Raises:
        InputError: ``label`` is no class of either side, or ``source`` is no source of either side (exit 2), with
            the closest name and the ones there are.
    """
    classes = [str(c["label"]) for c in report.get("by_class") or []]
    if label is not None and label not in classes:
        raise InputError(
            f"--class {label!r}: neither {report['base']['name']} nor {report['new']['name']} has that class"
            f"{did_you_mean(label, classes)}; classes: {capped(sorted(classes), 'classes')}"
        )
    sources = [str(s["source"]) for s in report.get("by_source") or [] if s.get("source") is not None]
    if source is not None and source not in sources:
        raise InputError(
            f"--source {source!r}: no record of {report['base']['name']} or {report['new']['name']} comes from that "
            f"source{did_you_mean(source, sources)}; sources: {capped(sorted(sources), 'sources') or 'none named'}"
        )
    added = [
        r
        for r in report["changes"]["added"]
        if (label is None or r.get("label") == label) and (source is None or r.get("source") == source)
    ]
    added.sort(key=lambda r: sample_order(r["digest"], salt))
    keys = ("digest", "label", "source", "locator", "copies", "batch")
    return {
        "base": report["base"]["name"],
        "new": report["new"]["name"],
        "path": report["new"].get("path"),
        "class": label,
        "source": source,
        "added": len(added),
        "order": "salted" if salt is not None else "digest",
        "sample": [{k: r.get(k) for k in keys} for r in added[:size]],
    }


def render_added_sample(sample: dict) -> str:
    """``added_sample``'s dict for people: a title line with the count, one line per sampled record (its digest,
    label, source, copies and locator), and which file the row numbers index. Every value from the data is
    escaped (``escaping.visible``)."""
    what = " ".join(
        part
        for part in (
            f"of class '{visible(sample['class'])}'" if sample["class"] is not None else "",
            f"from source {visible(sample['source'])}" if sample["source"] is not None else "",
        )
        if part
    )
    n, shown = sample["added"], len(sample["sample"])
    head = (
        f"Added to {visible(sample['new'])} since {visible(sample['base'])} {what}: {n} record{'' if n == 1 else 's'}"
    )
    lines = [head]
    if shown < n:
        lines[0] += f"; a sample of {shown} (--sample N for more)"
        if sample.get("order") == "salted":
            lines.append(
                f"Drawn by {visible(sample['new'])}'s signed sample salt, made at its commit after the records came: "
                "the same on every run, and no source can steer it."
            )
        else:
            lines.append(
                f"The first by digest: {visible(sample['new'])} signs no sample salt, so a source that grinds its "
                "records' content chooses which come first."
            )
    rows = [
        (
            short_digest(r["digest"]),
            visible("-" if r["label"] is None else r["label"]),
            visible("-" if r["source"] is None else r["source"]),
            str(r.get("copies") or 1),
            visible("-" if r["locator"] is None else r["locator"]),
        )
        for r in sample["sample"]
    ]
    if rows:
        header = ("digest", "label", "source", "copies", "locator")
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
        for row in (header, *rows):
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if sample["path"]:
            lines.append(f"A locator that is a number is the record's row (0-based) in {visible(sample['path'])}.")
    return "\n".join(lines) + "\n"
