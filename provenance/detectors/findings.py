"""Findings of detector runs: stored per run in the store, read back for ``prov findings``.

A run stores one row per detector in ``detector_runs`` (its status: "ran" means it ran,
"error" means it crashed) plus the combined verdict as the row of detector
``combined``. Every scored record's finding (the combined verdict and each detector's
own score and flag) goes into **one** JSON object per run, the shape of
``prov findings --all --json`` (``schemas/findings.schema.json``), named in the run's
audit entry (``detail.findings``); only the records the combined verdict flags are
also rows of ``findings``, one row each (detector ``combined``: score, explanation), for
queries with sqlite3 and ``prov quarantine --findings``. So storing a run costs one object
and a row per flagged record, not a row per scored record and detector. ``prov findings``
reads the object (re-hashed against its name); runs stored before it existed are read
from their rows (which then also held a row per detector of each flagged record).
"""

from __future__ import annotations

import json
import math
import secrets
from json.encoder import encode_basestring
from typing import Any

from provenance import clock
from provenance.detectors.base import COMBINED, ColumnFindings, DetectorResult
from provenance.detectors.combine import Verdicts

# a ``findings`` row, in the order save_findings writes it
FINDING_COLUMNS = (
    "run",
    "version",
    "base",
    "position",
    "digest",
    "label",
    "detector",
    "score",
    "flagged",
    "explanation",
)


def flagged_count(result: DetectorResult) -> int:
    """``len(result.flagged)``, counted from the flags without making a ``Finding`` per flagged record.

    ``DetectorResult.flagged`` makes the flagged records' findings of a ``ColumnFindings`` (~13,000 in a
    1% delta of 1 M over 7 detectors, for two counts: the stored run's and the report's), and every later
    read of the columns then checks each finding made against them (``ColumnFindings._changed_at``).
    The count is that of the same flags ``flagged`` reads: the columns as the findings hold them now,
    or each finding's own flag in a plain list."""
    findings = result.findings
    if isinstance(findings, ColumnFindings):
        return sum(findings.columns()[2])
    return sum(1 for f in findings if f.flagged)


def _detector_columns(results: list[DetectorResult]) -> list[tuple[str, list[float], list[bool]]]:
    """Each detector's name, scores and flags (delta order), detectors by name."""
    return [(r.detector, *r.columns()) for r in sorted(results, key=lambda r: r.detector)]


def findings_document(
    run: str,
    base: str,
    new: str,
    detectors: list[dict],
    results: list[DetectorResult],
    labels: list[str] | None,
    verdicts: Verdicts | None,
    columns: list[tuple[str, list[float], list[bool]]] | None = None,
    written: dict | None = None,
) -> dict:
    """Every scored record of a run, worst first: ``{"version", "run", "base", "detectors", "findings"}`` and the
    keys of ``written`` (:func:`run_facts`: the prov that wrote it, the classes a check judged class-free).

    A finding is ``{"digest", "label", "flagged", "score", "explanation", "detectors":
    [{"detector", "score", "flagged"}, ...]}`` (detectors by name), with its ``position``
    in the delta; records are ordered by combined score (highest first), then position.
    Each finding's keys (and its detectors' keys) are in sorted order, so ``document_bytes``
    can write the findings without sorting every object again.
    """
    # column by column: each detector's scores and flags read once (10,000 records x 7
    # detectors in a 1% delta of 1 M), then one dict per record
    columns = _detector_columns(results) if columns is None else columns
    records = verdicts.records if verdicts is not None else []
    findings: list[dict[str, Any]] = [
        {
            "detectors": [
                {"detector": name, "flagged": flags[i], "score": scores[i]}
                for name, scores, flags in columns
                if i < len(scores)
            ],
            "digest": v.digest,
            "explanation": v.explanation,
            "flagged": bool(v.flagged),
            "label": labels[i] if labels else None,
            "position": i,
            "score": float(v.score),
        }
        for i, v in enumerate(records)
    ]
    findings.sort(key=lambda f: (-f["score"], f["position"]))
    return {"version": new, "run": run, "base": base, "detectors": detectors, "findings": findings} | (written or {})


def document_bytes(document: dict) -> bytes:
    """The findings object's bytes: ``document`` as compact JSON, keys sorted, UTF-8.

    The findings (thousands of records, each with a list of detectors) are written as
    ``findings_document`` built them, keys already in order; the rest with ``sort_keys``.
    The bytes are those of ``json.dumps(document, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` (tested)."""
    parts = [
        json.dumps(key, ensure_ascii=False)
        + ":"
        + json.dumps(document[key], sort_keys=key != "findings", separators=(",", ":"), ensure_ascii=False)
        for key in sorted(document)
    ]
    return ("{" + ",".join(parts) + "}").encode()


def findings_object_bytes(
    run: str,
    base: str,
    new: str,
    detectors: list[dict],
    results: list[DetectorResult],
    labels: list[str] | None,
    verdicts: Verdicts | None,
    columns: list[tuple[str, list[float], list[bool]]] | None = None,
    written: dict | None = None,
) -> tuple[bytes, list[int]]:
    """``document_bytes(findings_document(...))`` and the findings' positions in that order,
    written from the columns without building a dict per record and detector (tested
    byte for byte against it).

    In a 1% delta of 1 M (10,000 records x 7 detectors) the dicts and the JSON encoder's
    walk over them took ~0.13 s of CPU, each detector's entry text is here one f-string
    per record. Values are encoded as ``json.dumps`` encodes them (``encode_basestring``
    for strings: ``ensure_ascii=False``; ``float.__repr__`` for finite floats); a non-finite
    score (never a detector's: they are checked to lie in [0, 1]) takes the reference path.
    ``columns``: ``results``' columns as ``_detector_columns`` reads them, when the caller read them already;
    ``written``: :func:`run_facts`, kept beside the run's other keys.
    """
    columns = _detector_columns(results) if columns is None else columns
    records = verdicts.records if verdicts is not None else []
    scores = [float(v.score) for v in records]
    order = sorted(range(len(records)), key=lambda i: (-scores[i], i))  # as findings_document sorts
    if not all(map(math.isfinite, scores)) or not all(all(map(math.isfinite, c[1])) for c in columns):
        document = findings_document(run, base, new, detectors, results, labels, verdicts, columns, written)
        return document_bytes(document), [f["position"] for f in document["findings"]]
    text = encode_basestring
    entries = [
        [f'{head}{"true" if flag else "false"},"score":{score!r}}}' for score, flag in zip(col_scores, col_flags)]
        for head, col_scores, col_flags in ((f'{{"detector":{text(name)},"flagged":', s, f) for name, s, f in columns)
    ]
    label_text = [text(label) if isinstance(label, str) else json.dumps(label) for label in labels] if labels else None
    n = len(records)
    if all(len(e) >= n or not e for e in entries):  # each detector scored every record, or failed (none)
        # each record's detector list joined at C speed, one tuple per record
        listed = [e for e in entries if e]
        scored = [",".join(t) for t in zip(*listed)] if listed else [""] * n
    else:
        scored = [",".join(e[i] for e in entries if i < len(e)) for i in range(n)]
    findings = ",".join(
        '{"detectors":['
        + scored[i]
        + f'],"digest":{text(records[i].digest)},"explanation":{text(records[i].explanation)},'
        + f'"flagged":{"true" if records[i].flagged else "false"},'
        + f'"label":{label_text[i] if label_text else "null"},"position":{i},"score":{scores[i]!r}}}'
        for i in order
    )
    head = {"version": new, "run": run, "base": base, "detectors": detectors} | (written or {})
    parts = [
        json.dumps(key) + ":" + json.dumps(head[key], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for key in sorted(head)
    ]
    at = sorted([*head, "findings"]).index("findings")
    # one join of the pieces and one encoding: each copy of the ~5 MB text is memory touched for
    # the first time (page faults), and concatenating around it made five
    pieces = ["{", ",".join(parts[:at]), "," if at else "", '"findings":[', findings, "]"]
    pieces += ["," if at < len(parts) else "", ",".join(parts[at:]), "}"]
    return "".join(pieces).encode(), order


def run_facts(class_free: list[str] | None = None) -> dict:
    """What a stored run says of how it was made, beside its findings: ``prov_version``, the prov that wrote it
    (``prov findings --recompute`` tells a wording change between versions from an edited run by it), and, for a
    check that judged the added records of expected new classes on class-free evidence (``gate.class_free``),
    ``class_free``: those classes, so the run holds the verdicts the check judged by and a recompute judges them
    the same way. Both are what ``.prov/`` says: neither is trusted for a verdict, a score or a flag."""
    from provenance import __version__

    return {"prov_version": __version__} | ({"class_free": sorted(class_free)} if class_free else {})


def save_findings(
    store,
    base: str,
    new: str,
    results: list[DetectorResult],
    fpr: float,
    labels: list[str] | None = None,
    verdicts: Verdicts | None = None,
    columns: list[tuple[list[float], list[bool]]] | None = None,
    class_free: list[str] | None = None,
) -> str:
    """Store one run: per-detector statuses, one object with every scored record's
    finding, and rows for the records the combined verdict flags. Returns the run id.

    ``columns``: each result's ``columns()`` (scores, flags), in ``results``' order, when the caller read
    them already (``pipeline.run_detection``); else they are read here, once. ``class_free``: the classes whose
    added records the check judged on class-free evidence (:func:`run_facts`)."""
    now = clock.now_iso()
    run = secrets.token_hex(8)  # two runs in the same second are still two runs
    # each detector's columns read once, for its row's count and the object: a read checks every finding made
    # so far against them (``ColumnFindings._changed_at``: ~15 ms for 7 detectors once the combined verdict read
    # 10,000 explanations)
    if columns is None or len(columns) != len(results):
        columns = [r.columns() for r in results]
    read = [(r, scores, flags) for r, (scores, flags) in zip(results, columns)]
    rows: list[dict[str, Any]] = [
        {
            "run": run,
            "version": new,
            "base": base,
            "detector": r.detector,
            "status": r.status,
            "error": r.error,
            "threshold": r.threshold,
            "scored": len(r.findings),
            "flagged": sum(flags) if isinstance(r.findings, ColumnFindings) else flagged_count(r),
            "fpr": fpr,
            "created_at": now,
        }
        for r, _, flags in read
    ]
    if verdicts is not None:
        rows.append(
            {
                "run": run,
                "version": new,
                "base": base,
                "detector": COMBINED,
                "status": "ran",
                "error": None,
                "threshold": 1.0 - fpr,
                "scored": len(verdicts.records),
                "flagged": len(verdicts.flagged),
                "fpr": fpr,
                "created_at": now,
            }
        )
    rows.sort(key=lambda r: r["detector"])
    by_name = [(r.detector, scores, flags) for r, scores, flags in sorted(read, key=lambda c: c[0].detector)]
    data, order = findings_object_bytes(run, base, new, rows, results, labels, verdicts, by_name, run_facts(class_free))
    # one tuple per row (FINDING_COLUMNS): the combined verdict of every flagged record, worst
    # first; each detector's score and flag are in the object (a row per detector and flagged
    # record, with explanations no command read, grew prov.db by ~13 MB per 10,000 findings)
    records = verdicts.records if verdicts is not None else []
    finding_rows = [
        (
            run,
            new,
            base,
            i,
            records[i].digest,
            labels[i] if labels else None,
            COMBINED,
            float(records[i].score),
            1,
            records[i].explanation,
        )
        for i in order
        if records[i].flagged
    ]
    with store.write():
        oid = store.put_object(data, "json")
        store.db["detector_runs"].insert_all(rows)
        if finding_rows:  # one executemany: sqlite-utils' per-value conversions cost ~10 us a value here
            store.db.conn.executemany(
                f"insert into findings ({', '.join(FINDING_COLUMNS)}) values ({', '.join('?' * len(FINDING_COLUMNS))})",
                finding_rows,
            )
        store.audit(
            "detect",
            new,
            {
                "base": base,
                "run": run,
                "fpr": fpr,
                "detectors": {r.detector: r.status for r in results},
                "flagged": len(verdicts.flagged) if verdicts is not None else sum(len(r.flagged) for r in results),
                "findings": oid,
            },
        )
    return run


# A ``detect`` entry's detail as SQLite's JSON functions read it: NULL unless it is valid JSON, so an entry a
# ``.prov/`` writer planted malformed or nested past SQLite's depth limit reads as naming no run (skipped, as a
# detail naming no run is) instead of making json_extract raise ("malformed JSON": exit 3; attack review 23c)
_DETAIL = "(case when json_valid(detail) then detail end)"


def findings_object(store, run: str) -> str | None:
    """The object holding every finding of ``run`` (from its audit entry), or None for a run stored before there was one."""
    row = store.db.execute(
        f"select json_extract({_DETAIL}, '$.findings') from audit where action = 'detect' "
        f"and json_extract({_DETAIL}, '$.run') = ?",
        [run],
    ).fetchone()
    return row[0] if row else None


def stored_findings(store, version: str, flagged_only: bool = True, base: str | None = None) -> dict:
    """The latest detector run of ``version``: per-detector status and one finding per record.

    Returns {"version", "run", "base", "detectors": [one row per detector, and the
    ``combined`` row], "findings": [{"digest", "label", "flagged", "score",
    "explanation", "detectors": [{"detector", "score", "flagged"}]}], "from_rows", "audit_entry", "bases"}, worst first;
    with ``flagged_only`` only records the combined verdict flags, else every scored
    record. The run is the one the newest ``detect`` audit entry of ``version`` names (with ``base``, the newest
    against that base: ``prov findings V --base B``), never the newest ``detector_runs`` row (a ``.prov/`` writer
    can add a run there with no entry: attack review 9, F1). It is read from the findings object that entry
    names, re-hashed and checked to name that run, version and base; a run stored before there was one, from
    its rows (flagged records only), with ``from_rows`` true: not verified. ``bases`` lists every base a run of
    ``version`` is stored against (by its audit entries), the newest run's first.

    Raises:
        InputError: ``base`` given and no run of ``version`` against it is stored (naming the bases there are).
        VerificationError: the object names another run, version or base, or is not shaped as a stored run
            (``stored_run_shape.check_run_shape``: a mistyped ``class_free``, a finding without its explanation).
    """
    from provenance.errors import InputError, VerificationError

    store.version(version)
    entries = store.db.execute(
        f"select json_extract({_DETAIL}, '$.run'), json_extract({_DETAIL}, '$.base'), "
        f"json_extract({_DETAIL}, '$.findings'), seq from audit where action = 'detect' and subject = ? order by seq desc",
        [version],
    ).fetchall()
    entries = [e for e in entries if isinstance(e[0], str)]
    bases = list(dict.fromkeys(str(e[1]) for e in entries if isinstance(e[1], str)))
    entry = next((e for e in entries if base is None or e[1] == base), None)
    if entry is None and base is not None:
        import shlex

        raise InputError(
            f"no detector run of {version} against {base} is stored; "
            + (
                f"runs of {version} are stored against {', '.join(bases)} (prov findings {shlex.quote(version)} "
                f"--base {shlex.quote(bases[0])})"
                if bases
                else f"none is stored for {version} (prov diff {shlex.quote(base)} {shlex.quote(version)} --detect "
                "stores one)"
            )
        )
    if entry is None:
        return {
            "version": version,
            "run": None,
            "base": None,
            "detectors": [],
            "findings": [],
            "from_rows": False,
            "bases": [],
        }
    run, base, oid, seq = entry
    if oid is not None:
        from provenance.detectors.stored_run_shape import check_run_shape

        try:
            document = json.loads(store.objects.get(oid, f"findings of run {run}"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError: bytes a .prov/ writer stored
            document = None
        check_run_shape(document, run, version)  # what .prov/ says, read before a key of it is trusted (A32c-4)
        if document.get("run") != run or document.get("version") != version or document.get("base", base) != base:
            raise VerificationError(
                f"findings of run {run}: the object its audit entry names is of run {document.get('run')} "
                f"of version {document.get('version')} against {document.get('base')}, not of {version} "
                f"against {base}"
            )
        findings = [
            {k: v for k, v in f.items() if k != "position"}
            for f in document["findings"]
            if f["flagged"] or not flagged_only
        ]
        return {
            "version": version,
            "run": run,
            "base": document.get("base"),
            "detectors": document["detectors"],
            "findings": findings,
            "from_rows": False,
            "audit_entry": seq,
            "bases": bases,
        } | {key: document[key] for key in ("prov_version", "class_free") if key in document}
    detectors = list(store.db["detector_runs"].rows_where("run = ?", [run], order_by="detector"))
    for d in detectors:  # runs stored before "ran" replaced "ok" (which meant only that it ran)
        d["status"] = "ran" if d["status"] == "ok" else d["status"]
    where = "run = ? and detector = ?" + (" and flagged = 1" if flagged_only else "")
    combined = list(store.db["findings"].rows_where(where, [run, COMBINED], order_by="score desc, position"))
    per_detector: dict[int, list[dict]] = {}
    positions = [f["position"] for f in combined]
    for start in range(0, len(positions), 500):
        chunk = positions[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for f in store.db.execute(
            f"select position, detector, score, flagged from findings where run = ? and detector != ? "
            f"and position in ({marks}) order by detector",
            [run, COMBINED, *chunk],
        ):
            per_detector.setdefault(f[0], []).append({"detector": f[1], "score": f[2], "flagged": bool(f[3])})
    findings = [
        {
            "digest": f["digest"],
            "label": f["label"],
            "flagged": bool(f["flagged"]),
            "score": f["score"],
            "explanation": f["explanation"],
            "detectors": per_detector.get(f["position"], []),
        }
        for f in combined
    ]
    return {
        "version": version,
        "run": run,
        "base": base,
        "detectors": detectors,
        "findings": findings,
        "from_rows": True,
        "audit_entry": seq,
        "bases": bases,
    }
