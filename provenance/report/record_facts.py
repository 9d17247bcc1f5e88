"""Name stored findings as the diff and check reports name them: source, lineage, locator.

A detector run stores each finding's digest, label, scores and explanation, not where the
record is or who contributed it. ``prov findings V`` reads those from version V's signed
manifest and signed lineage object (each hashed against the SHA-256 its signed statement
names before a row is read), so its source, lineage and locator columns say what
``prov diff`` and ``prov check`` say for the same records.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from provenance.delta.attribution import SIGNED_STATUSES, SOURCE_COLUMN
from provenance.delta.records import location
from provenance.delta.sides import LineageObject, ManifestObject
from provenance.detectors.findings import stored_findings
from provenance.errors import InputError
from provenance.store import Store
from provenance.version_facts import verified_statement


def findings_report(
    store: Store,
    version: str,
    flagged_only: bool = True,
    rerun: list[dict] | None = None,
    base: str | None = None,
    detector: str | None = None,
) -> dict:
    """``detectors.findings.stored_findings`` with each finding's ``source``, ``source_named_by``,
    ``lineage``, ``locator`` and ``location`` filled from ``version``'s signed manifest and lineage,
    and ``waived`` from its honoured waivers (``report.findings_waivers``). ``rerun``: the findings of
    ``prov findings --recompute``'s re-run (every scored record), listed instead of the stored run's. ``base``
    (``--base B``): the newest run against B, not the newest run. ``detector`` (``--detector NAME``): only the records
    that detector flags on its own (with ``flagged_only`` false, every record it scored), whatever the combined
    verdict, ordered by its score, highest first; ``detector`` is set in the result.

    Shape: ``schemas/findings.schema.json``. A finding whose digest the version does not hold
    (it cannot, unless the store was edited) keeps those keys unset.

    Raises:
        InputError: no version ``version``, no run against ``base``, or ``detector`` is not one the run ran
            (``no detector 'knn_lable' in run ... (did you mean 'knn_label'?)``; exit 2).
        VerificationError: the version's signature, manifest or lineage object does not verify (exit 1).
    """
    # one detector's flags are not the combined verdict's: every scored record is read, then filtered by its own
    result = stored_findings(store, version, flagged_only=flagged_only and detector is None, base=base)
    if rerun is not None:  # prov findings --recompute lists what the detectors say now, not what .prov/ kept
        result["findings"] = [f for f in rerun if f["flagged"] or not flagged_only or detector is not None]
    if detector is not None:
        result["findings"] = _by_detector(result, detector, flagged_only)
        result["detector"] = detector
    if result["findings"]:
        # by row: one digest under two labels is two records, each at its own row (attack review 10b, S10b-1)
        facts = record_facts(store, version, [(f["digest"], f.get("label")) for f in result["findings"]])
        for f in result["findings"]:
            f.update(facts.get((f["digest"], f.get("label"))) or facts.get((f["digest"], None)) or {})
    from provenance.report.findings_waivers import mark_waived

    mark_waived(store, version, result["findings"])
    return result


def _by_detector(result: dict, detector: str, flagged_only: bool) -> list[dict]:
    """``result``'s findings that ``detector`` flags (every one it scored unless ``flagged_only``), by its score.

    Raises:
        InputError: the run stored no detector of that name (exit 2), naming the close one and those it ran.
    """
    ran = [str(d.get("detector")) for d in result["detectors"] if d.get("detector") != "combined"]
    if result["run"] is not None and detector not in ran:
        from provenance.names import did_you_mean

        raise InputError(
            f"--detector {detector!r}: run {result['run']} of {result['version']} ran no detector of that name"
            f"{did_you_mean(detector, ran)}; it ran {', '.join(ran) or 'none'}"
        )

    from provenance.report.flagged import detector_entry, detector_flagged, detector_score

    # an entry without "flagged" or a numeric score (a planted findings object's) is not flagged, scored 0: listed as
    # prov findings lists the run, not an internal error (attack review 23a, A23a-4)
    kept = [
        (f, d)
        for f in result["findings"]
        if (d := detector_entry(f, detector)) is not None and (detector_flagged(d) or not flagged_only)
    ]
    kept.sort(key=lambda fd: (not detector_flagged(fd[1]), -detector_score(fd[1]), str(fd[0].get("digest"))))
    return [f for f, _ in kept]


def record_facts(store: Store, version: str, records: list[tuple[str, str | None]]) -> dict[tuple, dict]:
    """For ``records`` of ``version`` (hex digest and label): ``{"source", "source_named_by", "lineage",
    "locator", "location"}`` of each one's first manifest row, keyed ``(digest, label)``; a label None
    (a finding stored without one) is the digest's first row, keyed ``(digest, None)``. Records the
    version lacks are left out.

    The source is the data's source column where the row has one, else the source of the
    lineage batch that carries the record (``delta.attribution``), named ``"signed batch"``
    when the version's lineage attests it and ``"unsigned batch"`` otherwise. Reads the two
    objects in one pass each, keeping only the asked rows.
    """
    row = store.version(version)
    predicate = verified_statement(store, row)["predicate"]
    asked = {(bytes.fromhex(d), label) for d, label in records}
    wanted = pa.array(sorted({d for d, _ in asked}), pa.binary(32))
    manifest = ManifestObject(store, row)
    manifest.verify()
    assert manifest.parquet is not None
    rows: dict[tuple[bytes, str | None], int] = {}
    found: dict[int, tuple[str | None, str | None]] = {}
    offset = 0
    columns = ["digest", "label", "source", "locator"]
    for batch in manifest.parquet.iter_batches(columns=columns, use_threads=False):
        hit = np.flatnonzero(pc.is_in(batch.column(0), value_set=wanted).to_numpy(zero_copy_only=False))
        if len(hit):
            part = batch.take(pa.array(hit)).to_pydict()
            for i, d, label, s, loc in zip(hit.tolist(), *(part[c] for c in columns)):
                for key in ((d, label), (d, None)):  # the row of its label, and the digest's first row
                    if key in asked and key not in rows:
                        rows[key] = offset + i
                        found[offset + i] = (s, loc)
        offset += batch.num_rows
    manifest.close()
    lineage_of = _lineage_rows(store, version, predicate, row["records"], set(found))
    dataset = json.loads(row["dataset"]) if row.get("dataset") else {}
    spot = {"path": dataset.get("path"), "kind": (predicate.get("schema") or {}).get("kind")}
    out = {}
    for (digest, label), at in rows.items():
        source, locator = found[at]
        batch_source, status = lineage_of.get(at, (None, "unattributed"))
        if source is not None:
            named = SOURCE_COLUMN
        elif batch_source is not None:
            source, named = batch_source, "signed batch" if status in SIGNED_STATUSES else "unsigned batch"
        else:
            named = None
        out[(digest.hex(), label)] = {
            "source": source,
            "source_named_by": named,
            "lineage": status,
            "locator": locator,
            "location": location(spot, locator),
        }
    return out


def _lineage_rows(store: Store, version: str, predicate: dict, records: int, wanted: set[int]) -> dict:
    """``{manifest row: (batch source, lineage status)}`` for the ``wanted`` rows, from the signed lineage object."""
    oid = (predicate.get("lineage") or {}).get("object")
    if not oid or not wanted:
        return {}
    lineage = LineageObject(store, oid, f"lineage of {version}", records)
    reader = lineage.reader()
    out = {}
    offset = 0
    for batch in reader.iter_batches(columns=["source", "status"], use_threads=False):
        local = [r - offset for r in wanted if offset <= r < offset + batch.num_rows]
        if local:
            part = batch.take(pa.array(local)).to_pydict()
            for r, s, st in zip(local, part["source"], part["status"]):
                out[offset + r] = (s, st)
        offset += batch.num_rows
    lineage.close()
    return out
