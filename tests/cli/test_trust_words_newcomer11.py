"""Newcomer review 11's trust findings, replayed in the trust world."""

from __future__ import annotations

from pathlib import Path

from support import one_line, store_fingerprint


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
