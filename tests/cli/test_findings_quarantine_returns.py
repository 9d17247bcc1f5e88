"""Records a ``prov quarantine --findings`` cut may not come back unnoticed (attack review 7b, finding 3).

The maintainer cuts v2's flagged records (``--findings``) into v2q. The data writer puts them back on top of
the quarantine; checked against a base that still holds them (a release that shipped them, say with waivers),
they are in no delta, so no detector sees them, and only ``--source`` quarantines' removed records were
remembered: the check passed. ``lineage.block_quarantined_sources`` now remembers what signed findings
quarantines removed too (recomputed: the quarantine's signed parent minus the quarantine); a reviewer's waiver
of the combined verdict on the candidate lets a record back.
"""

from __future__ import annotations

import json

from support import check_rules, ok

PINNED = ("--signer", "maintainer.pub")
RULE = "lineage.block_quarantined_sources"


def test_records_a_findings_quarantine_cut_block_when_put_back(prov, template_trust, workdir):
    ok(prov, "diff", "v1", "v2", "--detect", "--format", "json", "--out", "d2.json", *PINNED)
    r = prov("quarantine", "--from", "v2", "--findings", "d2.json", "--tag", "v2q", "--out", "v2q.parquet",
             "--key", "maintainer.key", "--json", *PINNED)  # fmt: skip
    assert r.exit_code == 0, r.output
    cut = json.loads(r.stdout)["removed"]
    assert 0 < cut <= 20, cut
    assert check_rules(prov, "v2q", "v2", *PINNED)[RULE]["status"] == "pass"

    # the data writer puts v2's data back, flagged records and all, as the next version on top of the quarantine
    ok(prov, "commit", "v2.parquet", "--tag", "v4", "--parent", "v2q", "--key", "maintainer.key", *PINNED)
    rule = check_rules(prov, "v4", "v2", *PINNED)[RULE]
    assert rule["status"] == "block" and rule["count"] == cut, rule  # passed before: in no delta against v2
    assert f"{cut} of them removed by a signed `prov quarantine --findings`" in rule["reason"], rule
    assert {r["detail"] for r in rule["records"]} == {
        "removed by v2q, the signed quarantine of the records the detectors flagged in v2"
    }
    assert check_rules(prov, "v4", "v2q", *PINNED)[RULE]["status"] == "block"  # and as additions, against v2q

    # the way back is a reviewer's signed decision: a waiver of each record's combined verdict on v4
    for record in rule["records"]:
        ok(prov, "waive", record["digest"], "--version", "v4", "--detector", "combined", "--reason", "reviewed",
           "--key", "maintainer.key", *PINNED)  # fmt: skip
    rule = check_rules(prov, "v4", "v2", *PINNED)[RULE]
    assert rule["status"] == "pass" and rule["count"] == 0, rule
