"""Detection wired to the store: profiles at commit, delta records read back and checked."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.delta import merge as diff_lib
from provenance.delta import sides as diff_sides
from provenance.detectors.base import DetectorResult, Finding
from provenance.detectors.combine import RecordVerdict, Verdicts
from provenance.detectors.findings import (
    document_bytes,
    findings_document,
    findings_object,
    findings_object_bytes,
    stored_findings,
)
from provenance.detectors.pipeline import run_detection
from provenance.encoding import table_digests
from provenance.errors import InputError, VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.store import Store
from provenance.versions import commit
from support import Prov, build_template, crashing_detector, digits_table


def _changes(store, base, new):
    a, b = diff_sides.version_side(store, base, with_history=True), diff_sides.version_side(store, new)
    ch = diff_lib.merge(a.open_batches(), b.open_batches(), base, new, 10)
    return ch.array("added", "digests"), ch.array("relabeled", "digests")


def build_versions(prov: Prov, folder: Path) -> set[str]:
    """v1: 60% of the digits; v2: v1 and 300 more, ten of them with a wrong label; both by alice.
    Returns the digests (hex) of the ten planted flips."""
    store = Store.init(folder)
    alice = keys.generate(folder / "alice")
    full = digits_table()
    base_n = int(full.num_rows * 0.6)
    pq.write_table(full.slice(0, base_n), folder / "v1.parquet", row_group_size=200)
    new = full.slice(0, base_n + 300)
    labels = new.column("label").to_pylist()
    flipped = list(range(base_n, base_n + 10))  # ten added records with wrong labels
    for i in flipped:
        labels[i] = str((int(labels[i]) + 5) % 10)
    new = new.set_column(new.schema.get_field_index("label"), "label", pa.array(labels))
    pq.write_table(new, folder / "v2.parquet", row_group_size=200)
    commit(store, DatasetSpec(str(folder / "v1.parquet")), "v1", str(alice.private_path))
    commit(store, DatasetSpec(str(folder / "v2.parquet")), "v2", str(alice.private_path))
    store.close()
    digests = table_digests(new, [c for c in new.schema.names if c != "label"])
    return {digests[i].hex() for i in flipped}


@pytest.fixture(scope="session")
def template_versions(tmp_path_factory):
    return build_template(tmp_path_factory, "pipeline_versions", build_versions)


@pytest.fixture
def versions(template_versions, workdir) -> set[str]:
    """v1 and v2 (built once per session, copied here); the planted flips' digests."""
    return set(template_versions.facts)


def test_profile_is_bounded_signed_and_detection_flags_planted_flips(store, versions):
    row = store.db.execute("select featurizer, dim, sample from profiles where version = 'v1'").fetchone()
    assert row[0].startswith("numeric/v1:cols=px00") and row[1] == 64
    added, relabeled = _changes(store, "v1", "v2")
    assert len(added) == 300
    detection = run_detection(store, "v1", "v2", added, relabeled)
    results = detection.results
    assert {r.detector for r in results} >= {"knn_label", "outlier", "duplicates"}
    assert all(r.status == "ran" for r in results), [r.error for r in results]
    flagged = {v.digest for v in detection.verdicts.flagged}
    assert versions <= flagged  # every planted flip caught by the combined verdict
    # few of the 290 clean additions: these are the next writers in file order, the hardest
    # clean case (bench/results/detect.md reports the rate; 1% would be 3)
    assert len(flagged - versions) <= 18
    stored = stored_findings(store, "v2")
    assert stored["base"] == "v1" and {f["digest"] for f in stored["findings"]} == flagged
    flip = next(f for f in stored["findings"] if f["digest"] in versions)
    assert flip["flagged"] and 0.99 <= flip["score"] <= 1.0 and "knn_label" in flip["explanation"]
    assert {"detector": "knn_label", "score": pytest.approx(1.0, abs=0.01), "flagged": True} in flip["detectors"]


def test_delta_records_changed_after_commit_are_refused(workdir, store, versions):
    t = pq.read_table(workdir / "v2.parquet")
    px = t.column("px20").to_pylist()
    px[-1] += 3
    pq.write_table(t.set_column(t.schema.get_field_index("px20"), "px20", pa.array(px)), workdir / "v2.parquet")
    added, relabeled = _changes(store, "v1", "v2")
    with pytest.raises(VerificationError, match="differ from the signed manifest"):
        run_detection(store, "v1", "v2", added, relabeled)


def test_a_crashing_detector_is_reported_not_skipped(store, versions):
    added, relabeled = _changes(store, "v1", "v2")
    with crashing_detector("boom"):
        results = run_detection(store, "v1", "v2", added, relabeled, names=["broken", "knn_label"]).results
    broken = next(r for r in results if r.detector == "broken")
    assert broken.status == "error" and "boom" in broken.error
    assert next(r for r in results if r.detector == "knn_label").status == "ran"


def test_a_version_without_features_commits_but_cannot_be_a_detection_base(workdir, store, keypair):
    pq.write_table(pa.table({"text": ["a", "b", "c"], "label": ["x", "y", "x"]}), workdir / "t.parquet")
    commit(store, DatasetSpec(str(workdir / "t.parquet")), "t1", str(keypair.private_path))
    with pytest.raises(InputError, match="t1 has no reference profile.*no numeric feature columns"):
        run_detection(store, "t1", "t1", np.zeros(0, "S32"), np.zeros(0, "S32"))


def test_a_run_is_one_object_and_rows_for_flagged_records_only(store, versions):
    added, relabeled = _changes(store, "v1", "v2")
    detection = run_detection(store, "v1", "v2", added, relabeled)
    flagged = stored_findings(store, "v2")
    everything = stored_findings(store, "v2", flagged_only=False)
    assert len(everything["findings"]) == len(detection.verdicts.records) == 300
    assert [f for f in everything["findings"] if f["flagged"]] == flagged["findings"]  # same records, same order
    assert everything["detectors"] == flagged["detectors"]
    ok = [r for r in detection.results if r.status == "ran"]
    rows = store.db.execute("select count(*) from findings where run = ?", [flagged["run"]]).fetchone()[0]
    assert rows == len(flagged["findings"]) and ok  # the combined verdict's row, flagged records only
    # each detector's stored count and the report's are its flagged records (read from the columns once)
    counts = {d["detector"]: d["flagged"] for d in everything["detectors"]}
    assert detection.flagged_counts == [len(r.flagged) for r in detection.results]
    assert all(counts[r.detector] == len(r.flagged) for r in detection.results) and sum(counts.values()) > 0
    by_digest = {v.digest: v for v in detection.verdicts.records}
    for f in everything["findings"]:
        assert (f["score"], f["flagged"]) == (float(by_digest[f["digest"]].score), by_digest[f["digest"]].flagged)
    jsonschema.validate(
        everything, json.loads((Path(__file__).parents[3] / "schemas/findings.schema.json").read_text())
    )
    # the object is the document as compact JSON with every object's keys sorted, whichever
    # way it was written (document_bytes skips re-sorting the findings it built in order)
    data = store.objects.get(findings_object(store, flagged["run"]), "findings")
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    from provenance.fsck.check import fsck

    assert not [p for p in fsck(store.root).problems if "unreferenced" in str(p)]


def test_findings_object_bytes_are_the_sorted_compact_json():
    """document_bytes writes the findings as built (keys in order) and sorts the rest: the bytes
    of json.dumps with sort_keys, non-ASCII labels kept as UTF-8."""
    document = {
        "version": "v2",
        "run": "r1",
        "base": "v1",
        "detectors": [{"status": "ran", "detector": "knn_label", "error": None}],
        "findings": [
            {
                "detectors": [{"detector": "knn_label", "flagged": True, "score": 0.5}],
                "digest": "ab" * 32,
                "explanation": 'near "ζ"',
                "flagged": True,
                "label": "ζ",
                "position": 0,
                "score": 0.25,
            }
        ],
    }
    want = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert document_bytes(document) == want


def _result(name: str, scores: list[float], flags: list[bool]) -> DetectorResult:
    digests = [f"{i:064x}" for i in range(len(scores))]
    return DetectorResult(
        name, "ran", None, 0.99, [Finding(d, name, s, f, "x") for d, s, f in zip(digests, scores, flags)]
    )


def _verdicts(scores: list[float], explanations: list[str]) -> Verdicts:
    records = [
        RecordVerdict(f"{i:064x}", s > 0.9, s, 1.0 - s, e, []) for i, (s, e) in enumerate(zip(scores, explanations))
    ]
    return Verdicts(records, 0.01, "test", 0, [], 0.1)


@pytest.mark.parametrize("labels", [["ζ", 'quote "q"', "7", "tab\tand\u2028", "\x00", "a"], None, []])
def test_the_findings_object_written_from_columns_is_the_documents_bytes(labels):
    """save_findings writes the object from the detectors' columns, not from findings_document's dicts:
    the bytes must be the same, whatever the labels, explanations, ties, scores and failed detectors."""
    scores = [0.5, 1.0, 0.5, 1 / 3, 0.999999, 0.0]  # ties keep delta order
    explanations = ['near "ζ"\n', "", "\\ back", "\u00e9 \ud7ff", "ctrl \x1f", "x" * 300]
    results = [
        _result("outlier", [0.1, 1 / 7, 0.0, 1.0, 0.25, 2**-40], [False, False, True, True, False, True]),
        DetectorResult("broken", "error", "boom", None, []),  # no findings: left out of every record
        _result("knn_label", [0.3, 0.6, 0.9, 0.123456789, 1e-300, 0.5], [True] * 6),
    ]
    detectors = [{"detector": "knn_label", "status": "ran", "error": None, "scored": 6}]
    for verdict_scores in (scores, [*scores[:-1], float("nan")]):  # NaN: the reference path, same bytes
        verdicts = _verdicts(verdict_scores, explanations)
        document = findings_document("r1", "v1", "v2", detectors, results, labels, verdicts)
        data, order = findings_object_bytes("r1", "v1", "v2", detectors, results, labels, verdicts)
        assert data == document_bytes(document)
        assert order == [f["position"] for f in document["findings"]]
    short = [*results, _result("volume", [0.5, 0.25], [False, True])]  # scored only the first two records
    document = findings_document("r1", "v1", "v2", detectors, short, labels, verdicts)
    assert findings_object_bytes("r1", "v1", "v2", detectors, short, labels, verdicts)[0] == document_bytes(document)
    assert findings_object_bytes("r1", "v1", "v2", [], [], None, None)[0] == document_bytes(
        findings_document("r1", "v1", "v2", [], [], None, None)
    )


def test_the_relabel_null_is_computed_only_when_a_rule_reads_it(store, keypair):
    """`prov diff --detect` never reads the null of detectors.relabels (the base's sample scored once per
    held-out pseudo-batch): it is computed on first use, as the eager computation gave it, and kept."""
    from sklearn.datasets import load_breast_cancer

    from provenance.delta.compare import diff_versions
    from provenance.detectors.pipeline import detect_diff
    from provenance.detectors.registry import DEFAULT_FPR
    from provenance.detectors.relabel_scan import profile_null
    from provenance.profiles.stage import load_profile

    X, y = load_breast_cancer(return_X_y=True)
    y_new = y[:450].copy()
    y_new[[3, 40, 77, 150, 222]] ^= 1  # five base records relabeled, and 150 records added
    for rows, labels, tag in (
        (slice(0, 300), y[:300], "b"),
        (slice(0, 450), y_new, "n"),
        (slice(0, 450), y[:450], "a"),
    ):
        cols = {f"f{j:02d}": X[rows, j].astype(np.float32) for j in range(X.shape[1])}
        pq.write_table(pa.table({**cols, "label": [str(v) for v in labels]}), f"{tag}.parquet")
        commit(store, DatasetSpec(f"{tag}.parquet"), tag, str(keypair.private_path), parent=None if tag == "b" else "b")
    detection = detect_diff(store, "b", "n", diff_versions(store, "b", "n").delta, save=False)
    assert detection.kinds is not None and detection.kinds.count("relabeled") == 5
    assert "relabel_null" not in vars(detection)  # nothing computed yet
    null = detection.relabel_null
    assert null is not None and len(null.batches) > 0 and detection.relabel_null is null
    eager = profile_null(load_profile(store, "b"), detection.results, DEFAULT_FPR)
    assert np.array_equal(null.batches, eager.batches) and list(null.labels) == list(eager.labels)
    assert null.p.keys() == eager.p.keys()
    for source, p in eager.p.items():
        np.testing.assert_array_equal(null.p[source], p)
    added_only = detect_diff(store, "b", "a", diff_versions(store, "b", "a").delta, save=False)
    assert added_only.relabel_null is None  # no relabel: no null
