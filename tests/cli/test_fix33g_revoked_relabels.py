"""fix33g: a relabel signed by a key revoked since is still evidence for blocking (attack review 33c, A33c-6). With
the vendor's key revoked, the base's lineage re-judged under the pins gives its own records to no source, so its
relabels of them count on ``relabels.max_relabels_of_others_records`` too: a thief's flips of the vendor's own records
block as its flips of others' do. Through the real CLI, keys and store."""

from __future__ import annotations

from test_fix33b_others_relabels import RULE, _blocking, _relabel_check, _rule
from test_newcomer31_schema_advice import PINS

from support import check_report


def _revoke_vendor_and_check(prov) -> dict:

    r = prov("trust", "revoke", "vendor", "--reason", "laptop stolen", "--yes", *PINS)
    assert r.exit_code == 0, r.output
    return check_report(prov, "v3", "v2", *PINS)


def test_control_the_vendors_own_corrections_pass_while_its_key_stands(prov, workdir, store):
    report = _relabel_check(prov, [250, 251])
    assert report["exit_code"] == 0 and _rule(report)["count"] == 0, _blocking(report)


def test_the_vendors_own_corrections_signed_by_its_revoked_key_block(prov, workdir, store):
    _relabel_check(prov, [250, 251])
    report = _revoke_vendor_and_check(prov)
    rule = _rule(report)
    assert report["exit_code"] == 1 and RULE in _blocking(report), _blocking(report)
    assert rule["count"] == 2, rule
    for record in rule["records"]:
        assert record["detail"].endswith("; signed by source 'vendor', whose key is revoked"), record
        assert "the base's lineage gives it to no source" in record["detail"], record
