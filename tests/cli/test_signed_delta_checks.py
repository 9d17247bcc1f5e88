"""How ``prov verify``, ``prov fsck``, ``prov diff`` and ``prov check`` treat the signed delta object
beyond the attack 21b replays: what the recompute needs of the parent, and what the delta path checks."""

from __future__ import annotations

from provenance.store import Store


def test_verify_names_a_missing_parent_manifest_as_needed_for_the_delta(prov, three_versions):
    # the child's delta is recomputed from the parent's manifest, checked against the root the child signed
    store = Store(".prov")
    store.objects.path(store.version("v2")["manifest_object"]).unlink()
    r = prov("verify", "v3", "--no-data", "--signer", "alice.pub")
    assert r.exit_code == 1, r.output
    assert "manifest of v2" in r.stderr and "needed to check the delta version v3 signed" in r.stderr, r.stderr
