"""A training pipeline written against the public API alone, run as a real Python process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from support import digits_table

SCRIPT = textwrap.dedent("""
    import json
    import sys

    import provenance as prov

    light = not any(name.startswith(("numpy", "pyarrow", "sqlite_utils")) for name in sys.modules)
    pins = prov.Pins.load(["maintainer.pub"])
    store = prov.Store.init(".")
    added = prov.add(store, "crowd.parquet", source="crowd", unsigned=True)
    v1 = prov.commit(store, "v1.parquet", tag="v1", key="maintainer.key")
    v2 = prov.commit(store, "v2.parquet", tag="v2", key="maintainer.key")
    verified = prov.verify(store, "v2", pins=pins)
    report = prov.diff(store, "v1", "v2", detect=True).to_dict()
    detection = prov.detect(store, "v1", "v2", save=False)
    gate = prov.check(store, "v2", "v1", pins=pins)
    json.dump(
        {
            "light": light,
            "batch": added.to_dict(),
            "v1": v1.to_dict(),
            "v2": v2.to_dict(),
            "verified": verified,
            "summary": report["summary"],
            "diff_detectors": {d["detector"]: d["status"] for d in report["detectors"]},
            "flagged": sorted(v.digest for v in detection.verdicts.flagged),
            "detectors": {r.detector: r.status for r in detection.results},
            "gate": {"decision": gate.decision, "exit_code": gate.exit_code,
                     "blocking": [r.rule for r in gate.rules if r.status == "block"]},
        },
        sys.stdout,
    )
""")


def test_a_script_using_only_the_public_api_commits_diffs_detects_and_gates(tmp_path):
    data = digits_table(1000)
    pq.write_table(data.slice(0, 700), tmp_path / "v1.parquet")
    crowd = data.slice(700, 300)
    labels = crowd.column("label").to_pylist()
    flipped = list(range(0, 300, 10))  # the crowd flips every tenth label
    for i in flipped:
        labels[i] = str((int(labels[i]) + 4) % 10)
    crowd = crowd.set_column(crowd.schema.get_field_index("label"), "label", pa.array(labels))
    pq.write_table(crowd, tmp_path / "crowd.parquet")
    pq.write_table(pa.concat_tables([data.slice(0, 700), crowd]), tmp_path / "v2.parquet")
    (tmp_path / "pipeline.py").write_text(SCRIPT)
    keys.generate(tmp_path / "maintainer")  # `prov keys generate maintainer`

    env = {k: v for k, v in os.environ.items() if k not in ("PROV_STORE", "PROV_KEY", "PROV_PASSPHRASE")}
    run = subprocess.run(
        [sys.executable, "pipeline.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)

    assert out["light"]  # `import provenance` imports none of the heavy libraries
    assert out["batch"]["records"] == 300 and out["batch"]["signed"] is False
    for tag, records in (("v1", 700), ("v2", 1000)):
        result = out[tag]
        assert result["records"] == records and result["profile"]["status"] == "ok"
        assert result["featurizer"].startswith("numeric/v1:cols=px00,")
    assert out["v1"]["lineage"]["unattributed"] == 700
    assert out["v2"]["lineage"]["unattributed"] == 1000  # an unsigned batch attests nothing
    assert out["v2"]["parent"] == "v1"
    assert out["verified"]["data"] == "ok"
    assert out["summary"]["added"] == 300 and out["summary"]["removed"] == 0
    assert set(out["diff_detectors"].values()) == {"ran"}
    flipped_digests = {d.hex() for d in _digests(crowd.take(flipped))}
    assert set(out["detectors"].values()) == {"ran"}
    assert len(flipped_digests & set(out["flagged"])) >= len(flipped) // 2
    assert out["gate"]["decision"] == "blocked" and out["gate"]["exit_code"] == 1
    assert out["gate"]["blocking"]


def _digests(table: pa.Table) -> list[bytes]:
    from provenance.encoding import table_digests

    return table_digests(table, sorted(c for c in table.column_names if c != "label"))
