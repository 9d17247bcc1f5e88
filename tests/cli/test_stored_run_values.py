"""A stored detector run whose values are not what prov writes is refused as a failed verification (exit 1).

fix32g's shape check (``detectors.stored_run_shape``) took any JSON number, and Python's JSON reader takes ``NaN`` and
``Infinity``: a ``.prov/`` writer's run with a NaN false-positive rate stopped ``prov findings`` as prov's own crash
(exit 3) and ``--recompute`` as a usage error (exit 2); a NaN detector score, a record listed twice or a detector row
twice passed ``--recompute`` (exit 0: the re-run is compared by record, and NaN differs from nothing by more than the
tolerance); a detector name no detector here has stopped ``--recompute`` as a usage error (exit 2). Each is now exit 1
with the stored run's words, naming what is wrong, whether the run is listed, recomputed or printed as JSON. Each run is
planted as a ``.prov/`` writer plants one (``support.plant_findings``: the object under its own SHA-256, a chain-valid
pending ``detect`` entry naming it).
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from support import plant_findings, words

PIN = ("--signer", "alice.pub")
STORED_RUN_WORDS = "the stored run is not what prov stores"
NAN, INF = float("nan"), float("inf")

Edit = Callable[[dict], object]


def _first(doc: dict) -> dict:
    return doc["findings"][0]


def _rows(doc: dict, **values: object) -> None:
    for row in doc["detectors"]:
        row.update(values)


def _renamed(doc: dict, old: str, new: str) -> None:
    """Detector ``old`` called ``new`` in the run's rows and in every finding's entries."""
    for row in doc["detectors"] + [e for f in doc["findings"] for e in f["detectors"]]:
        if row["detector"] == old:
            row["detector"] = new


def _run_v2_against_v1(prov) -> dict:
    """``prov diff v1 v2 --detect`` stores a run of v2 (200 added digits); that run's findings document, read from
    the object its ``detect`` entry names."""
    r = prov("diff", "v1", "v2", "--detect", *PIN)
    assert r.exit_code == 0, r.output
    assert prov("findings", "v2", "--recompute", *PIN).exit_code == 0  # as stored, it lists and recomputes
    with sqlite3.connect(".prov/prov.db") as db:
        (detail,) = db.execute("select detail from audit where action = 'detect' order by seq desc").fetchone()
    return json.loads(Path(".prov", "objects", f"{json.loads(detail)['findings']}.json").read_bytes())


def _plant(original: dict, edit: Edit) -> None:
    """Plant ``original`` (the run as prov stored it) changed by ``edit``, as a ``.prov/`` writer would."""

    def planted(doc: dict) -> None:
        doc.clear()
        doc.update(copy.deepcopy(original))
        edit(doc)

    plant_findings(Path.cwd(), "v2", planted)


def _refused(prov, original: dict, edits: dict[str, Edit]) -> dict[str, list[str]]:
    """Plant each of ``edits`` (applied to a copy of ``original``) in turn; for each, what ``prov findings v2`` said
    when it did not refuse the run with the stored run's words and exit 1 (listed, recomputed and as JSON). Empty when
    every one was refused."""
    wrong: dict[str, list[str]] = {}
    for name, edit in edits.items():
        _plant(original, edit)
        for extra in ((), ("--recompute",), ("--json",)):
            r = prov("findings", "v2", *PIN, *extra)
            said = words(r.output)
            if r.exit_code != 1 or STORED_RUN_WORDS not in said or "internal error" in said:
                wrong.setdefault(name, []).append(f"{' '.join(extra) or 'listed'}: exit {r.exit_code}: {said[:300]}")
    return wrong


def _said(prov) -> str:
    """What ``prov findings v2`` says of the run planted last."""
    return words(prov("findings", "v2", *PIN).output)


def test_a_score_that_is_not_a_number_in_0_1_is_refused(prov, three_versions, workdir):
    original = _run_v2_against_v1(prov)
    edits = {
        "score NaN": lambda doc: _first(doc).update(score=NAN),
        "score Infinity": lambda doc: _first(doc).update(score=INF),
        "score 1.5": lambda doc: _first(doc).update(score=1.5),
        "a detector's score NaN": lambda doc: _first(doc)["detectors"][0].update(score=NAN),  # passed --recompute
        "a detector's score -Infinity": lambda doc: _first(doc)["detectors"][0].update(score=-INF),
    }
    assert _refused(prov, original, edits) == {}
    entry = _first(original)["detectors"][0]["detector"]
    assert f"finding 0: the {entry!r} entry's score -inf is not a number in [0, 1]" in _said(prov)


def test_a_false_positive_rate_that_is_not_a_rate_is_refused(prov, three_versions, workdir):
    # NaN and Infinity were prov's own crash listed (exit 3) and a usage error recomputed (exit 2)
    original = _run_v2_against_v1(prov)
    edits = {
        "fpr NaN": lambda doc: _rows(doc, fpr=NAN),
        "fpr Infinity": lambda doc: _rows(doc, fpr=INF),
        "fpr 2": lambda doc: _rows(doc, fpr=2.0),
        "fpr 0": lambda doc: _rows(doc, fpr=0),
        "a threshold NaN": lambda doc: doc["detectors"][0].update(threshold=NAN),
        "one row's fpr another": lambda doc: doc["detectors"][-1].update(fpr=0.05),  # planted last: said below
    }
    assert _refused(prov, original, edits) == {}
    assert "the detectors rows disagree on fpr (0.01, 0.05)" in words(
        prov("findings", "v2", "--recompute", *PIN).output
    )


def test_a_record_or_a_detector_listed_twice_is_refused(prov, three_versions, workdir):
    # each passed --recompute (exit 0): the re-run is compared by record and by detector
    original = _run_v2_against_v1(prov)
    edits = {
        "the worst record again, last": lambda doc: doc["findings"].append(copy.deepcopy(_first(doc))),
        "the worst record again, first": lambda doc: doc["findings"].insert(0, copy.deepcopy(_first(doc))),
        "a detectors row again": lambda doc: doc["detectors"].append(copy.deepcopy(doc["detectors"][0])),
        "a detector entry again": lambda doc: _first(doc)["detectors"].append(
            copy.deepcopy(_first(doc)["detectors"][0])
        ),
    }
    assert _refused(prov, original, edits) == {}
    digest, label = _first(original)["digest"], _first(original)["label"]
    assert f"finding 0: the {_first(original)['detectors'][0]['detector']!r} entry is listed twice" in _said(prov)
    _plant(original, lambda doc: doc["findings"].append(copy.deepcopy(_first(doc))))
    said = _said(prov)
    assert f"record {digest[:12]} label {label!r} is listed again (finding 0)" in said, said


def test_a_detector_entry_of_no_detectors_row_is_refused(prov, three_versions, workdir):
    original = _run_v2_against_v1(prov)
    edit = {
        "an entry of no row": lambda doc: _first(doc)["detectors"].append(
            {"detector": "nosuch", "score": 0.5, "flagged": False}
        )
    }
    assert _refused(prov, original, edit) == {}
    assert "finding 0: the 'nosuch' entry is of no detectors row" in _said(prov)


def test_a_detector_this_prov_does_not_have_is_refused_by_the_recompute_and_listed(prov, three_versions, workdir):
    # the recompute was a usage error (exit 2: "unknown detector 'nosuch'"); it cannot re-run what the run names, so
    # it vouches for nothing (exit 1). The listing shows what .prov/ says, marked unsigned: a run may be a plug-in's
    # that this process has not registered (a library's register_detector; test_review27a_gate lists one)
    original = _run_v2_against_v1(prov)
    named = original["detectors"][0]["detector"]
    for edit in (
        lambda doc: _renamed(doc, named, "nosuch"),
        lambda doc: doc["detectors"].append({**doc["detectors"][0], "detector": "nosuch", "flagged": 0}),
    ):
        _plant(original, edit)
        r = prov("findings", "v2", "--recompute", *PIN)
        said = words(r.output)
        assert r.exit_code == 1 and STORED_RUN_WORDS in said, r.output
        assert "the detectors row 'nosuch' names no detector this prov has" in said, said
        assert "so it cannot be recomputed" in said, said
        r = prov("findings", "v2", *PIN)
        assert r.exit_code == 0 and "nosuch" in r.stdout and "Not signed:" in words(r.stdout), r.output


def test_scores_at_the_ends_of_0_1_are_a_stored_run_s(prov, three_versions, workdir):
    # the bounds are in: a real run holds detector scores of 0 and 1 (here volume's 0.0 and spectral's 1.0)
    original = _run_v2_against_v1(prov)
    assert {0.0, 1.0} <= {e["score"] for f in original["findings"] for e in f["detectors"]}
    digest = _first(original)["digest"]
    for value in (0, 1, 0.0, 1.0):
        _plant(original, lambda doc, value=value: _first(doc)["detectors"][0].update(score=value))
        r = prov("findings", "v2", *PIN, "--json")
        assert r.exit_code == 0, r.output
        (finding,) = [f for f in json.loads(r.stdout)["findings"] if f["digest"] == digest]
        assert finding["detectors"][0]["score"] == value, finding
