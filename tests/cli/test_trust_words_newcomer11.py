"""Newcomer review 11's trust findings, replayed in the trust world."""

from __future__ import annotations

import json
from pathlib import Path

from support import ok, one_line, relabel, store_fingerprint


def test_a_public_key_file_holding_two_keys_is_refused_not_cut_to_its_first(prov, template_trust, workdir):
    """Finding 11: one .pub with two PEM blocks pinned only the first key, silently, so the second key's
    signatures (a reviewer's waivers, a maintainer's versions) were not trusted and nothing said why."""
    both = Path("both.pub")
    both.write_bytes(Path("vendor.pub").read_bytes() + Path("maintainer.pub").read_bytes())
    before = store_fingerprint(workdir / ".prov")
    for command in (("verify", "v2", "--no-data"), ("check", "v2", "--base", "v1")):
        r = prov(*command, "--signer", "both.pub")
        assert r.exit_code == 2, r.output  # was: exit 1, 'not among the keys you pinned' (only vendor's was)
        assert "both.pub: holds 2 public keys; give one key per file" in one_line(r), r.output
    r = prov("verify", "v2", "--no-data", env={"PROV_SIGNERS": "both.pub"})
    assert r.exit_code == 2 and "holds 2 public keys" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before
    assert prov("verify", "v2", "--no-data", "--signer", "maintainer.pub").exit_code == 0


def test_a_sources_own_label_correction_is_no_conflict_between_sources(prov, template_trust, workdir):
    """Finding 5: the vendor re-signed its batch with 3 labels corrected; lineage.max_conflicting_signed_labels
    blocked every later release (the vendor's old and new batch 'disagree') and nothing cleared it. Only
    two *sources* signing one record differently is a conflict; the correction is the vendor's relabel."""
    pinned = ("--signer", "maintainer.pub")
    n_base = template_trust.facts["n_base"]
    rows = [0, 7, 11]
    relabel("vendor-batch.parquet", rows, "vendor-fix.parquet")
    relabel("v2.parquet", [n_base + i for i in rows], "v2c.parquet")
    ok(prov, "sign", "vendor-fix.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "add", "vendor-fix.parquet", "--source", "vendor", *pinned)
    ok(prov, "commit", "v2c.parquet", "--tag", "v2c", "--parent", "v2", "--key", "maintainer.key", *pinned)
    r = prov("check", "v2c", "--base", "v2", "--format", "json", *pinned)
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    conflict = rules["lineage.max_conflicting_signed_labels"]
    assert conflict["status"] == "pass" and conflict["count"] == 0, conflict  # was: block, 3
    relabels = rules["relabels.max_relabel_rate_per_source"]
    assert relabels["status"] == "pass" and "vendor" in relabels["reason"], relabels  # counted as the vendor's relabels
