"""The lineage demo runs on real data and reports what it showed."""

from __future__ import annotations

from provenance.demo.lineage_steps import run_lineage_demo
from provenance.lineage import queries
from provenance.store import Store


def test_lineage_demo_facts(tmp_path, monkeypatch):
    monkeypatch.setenv("PROV_WORKERS", "1")
    lines: list[str] = []
    facts = run_lineage_demo(tmp_path, lines.append)
    assert (facts["attested"], facts["relabeled_after_source"], facts["unattributed"]) == (599, 1, 400)
    assert facts["sources"]["vendor"]["signed_fraction"] == 1.0 and facts["sources"]["crowd"]["signed_fraction"] == 0.0
    assert facts["transit_tamper_detected"][0].startswith("changed row 42")
    assert facts["quarantine"]["removed"] == 400
    store = Store.open(tmp_path)
    info = queries.record_lineage(store, facts["relabeled_digest"])
    assert info["batches"][0]["label"] == facts["relabeled_from"]
    assert info["versions"][0]["labels"] == [facts["relabeled_to"]]
    text = "\n".join(lines)
    assert "$ prov sign" in text and "relabeled_after_source" in text and "$ prov quarantine" in text
