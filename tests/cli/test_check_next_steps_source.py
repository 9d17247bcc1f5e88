"""A block that is poisoning evidence against a source points at the source first (newcomer review 30, finding 2).

Six malignant labels flipped to benign in an unsigned crowd batch of 99 breast-cancer records: the combined
verdict flags some of them, and the step "cut the flagged records out" left the rest in a version that then
passed. The steps now offer cutting the source first, say why, and say what cutting only the flagged records
leaves, after the review that ranks every record's label doubt."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WIDE = {"COLUMNS": "200"}


def _breast_cancer(rows: np.ndarray, flip: list[int] | None = None) -> pa.Table:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    diagnosis = np.array(d.target_names)[d.target][rows]
    diagnosis[flip or []] = "benign"
    columns = {n.replace(" ", "_"): pa.array(d.data[rows, i]) for i, n in enumerate(d.feature_names)}
    return pa.table({**columns, "diagnosis": pa.array(diagnosis)})


def test_flipped_labels_in_an_unsigned_batch_point_at_cutting_the_source_first(prov, keypair, workdir):
    base = _breast_cancer(np.arange(470))
    crowd_rows = np.arange(470, 569)
    malignant = [
        i for i, label in enumerate(_breast_cancer(crowd_rows).column("diagnosis").to_pylist()) if label == "malignant"
    ]
    flipped = sorted(np.random.default_rng(1).choice(malignant, 6, replace=False).tolist())
    crowd = _breast_cancer(crowd_rows, flipped)
    pq.write_table(base, "v2.parquet")
    pq.write_table(crowd, "crowd.parquet")
    pq.write_table(pa.concat_tables([base, crowd]), "v3.parquet")
    key, pin = str(keypair.private_path), ("--signer", str(keypair.public_path))
    label = ("--label-column", "diagnosis")
    assert prov("init").exit_code == 0
    assert prov("-q", "commit", "v2.parquet", "--tag", "v2", "--key", key, *pin, *label).exit_code == 0
    assert prov("add", "crowd.parquet", "--source", "crowd", "--unsigned").exit_code == 0
    assert prov("-q", "commit", "v3.parquet", "--tag", "v3", "--key", key, *pin, *label).exit_code == 0
    r = prov("check", "v3", "--base", "v2", "--no-save", *pin, env=WIDE)
    assert r.exit_code == 1, r.output
    report = json.loads(prov("check", "v3", "--base", "v2", "--no-save", "--format", "json", *pin).stdout)
    flagged = [f for f in report["findings"] if f.get("flagged", True)]
    assert 0 < len(flagged) < 6, len(flagged)  # the trap: the verdict misses some of the flips
    steps = [
        line.strip().removeprefix("- ")
        for line in r.stdout.split("\nTo release:\n", 1)[1].split("\nPolicy ")[0].splitlines()
    ]
    whats = [s.split(": prov ", 1)[0] for s in steps]
    cut_source = next(i for i, s in enumerate(steps) if "--source crowd" in s)
    cut_flagged = next(i for i, s in enumerate(steps) if "--findings F.json" in s)
    review_all = next(
        i for i, s in enumerate(steps) if s.endswith("prov findings v3 --detector knn_label --all --wide")
    )
    assert cut_source < review_all < cut_flagged, steps
    assert "evidence against it; its records the verdict did not flag are suspect too" in whats[cut_source]
    assert whats[cut_flagged] == "or cut only the flagged records out (the records the verdict missed stay)"
