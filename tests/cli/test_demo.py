"""`prov demo` runs end to end on real data and shows every check catching what it should."""

from __future__ import annotations

import json


def test_demo_end_to_end(prov, workdir):
    r = prov("demo", "--dir", "d", "--json")
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout)
    assert facts["versions"]["v2"]["records"] == 1797
    assert facts["tamper_detected"][0].startswith("relabeled ")
    assert facts["lineage"]["relabeled_after_source"] == 1
    gate = facts["gate"]
    for kind, (caught, planted) in gate["caught"].items():
        assert caught >= 0.9 * planted, kind
    assert gate["rc1"] == "blocked" and gate["rc2"] == "pass" and gate["attestation"]
    # the demo folder is a working store a user can explore
    import os

    os.chdir(workdir / "d")
    log = json.loads(prov("log", "--json").stdout)["versions"]
    assert {"v1", "v2", "r1", "rc1", "rc2"} <= {v["tag"] for v in log}
    r = prov("verify", "rc2", "--attestation", "rc2.attestation.json")
    assert r.exit_code == 2 and "--signer" in r.stderr  # an attestation is checked only against a pinned key
    r = prov("verify", "rc2", "--attestation", "rc2.attestation.json", "--signer", "maintainer.pub")
    assert r.exit_code == 0, r.output
    assert prov("audit", "verify").exit_code == 0
    # running it again replaces the old demo folder, and refuses to clobber anything else
    assert prov("demo", "--dir", str(workdir / "d"), "--json").exit_code == 0
    (workdir / "mine").mkdir()
    (workdir / "mine" / "notes.txt").write_text("keep me")
    r = prov("demo", "--dir", str(workdir / "mine"))
    assert r.exit_code == 2 and "is not a previous prov demo" in r.stderr
