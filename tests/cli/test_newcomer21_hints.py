"""Newcomer review 21: a vendor whose key was stolen, and its maintainer, following what prov tells them next.

The trust world (``support.build_trust_world``): v1, v2 (v1 + the vendor's signed batch, released against v1 in
``v2.attestation.json``), v3 and v3q by ``maintainer``. The README's step by step has the vendor sign its genuine
batch again with a new key and ``prov add`` register it again; what ``trust revoke`` and a training job's ``prov
verify --attestation`` say must lead there, not away from it.
"""

from __future__ import annotations

from provenance import keys

PINNED = ("--signer", "maintainer.pub")


def _words(r) -> str:
    """The command's whole output with line wrapping undone."""
    return " ".join((r.stdout + r.stderr).split())


def test_trust_revoke_says_the_same_records_signed_again_are_registered_again(prov, template_trust, workdir):
    """Its help and its --yes refusal said prov add refuses the same records signed by a new key, which the README's
    step by step (and prov add) now contradict."""
    help_text = " ".join(prov("trust", "revoke", "--help").stdout.split())
    assert "prov add refuses the same records" not in help_text
    assert "prov add registers them again (SOURCE@ROOT12.2) and the next commit attests them" in help_text
    r = prov("trust", "revoke", "vendor", "--reason", "stolen", *PINNED)
    assert r.exit_code == 2, r.output
    said = _words(r)
    assert "prov add refuses" not in said
    assert "prov add registers them again and the next commit attests them); pass --yes to revoke it" in said


def test_the_revoked_release_warning_leads_to_a_new_version_not_a_new_attestation_of_the_old_one(
    prov, template_trust, workdir
):
    """The warning said "check v2 again (prov check --attest)"; but v2's signed lineage names the revoked batch, so
    a new attestation of v2 would warn the same, and here v2 checked again is blocked: the hint led nowhere. It now
    says to commit again; a version committed after the vendor's batch is registered again is released clean
    (--fail-on-revoked: exit 0)."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "stolen", "--yes", *PINNED)
    assert r.exit_code == 0, r.output
    r = prov("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", *PINNED)
    assert r.exit_code == 0, r.output
    warned = _words(r)
    assert "check v2 again" not in warned
    assert "commit the data again (prov commit) and check and attest that version (prov check --attest)" in warned
    assert "a new attestation of v2 holds them too" in warned

    # what the old hint led to: v2 checked again is blocked (its signed lineage still names the revoked batch)
    r = prov("check", "v2", "--base", "v1", "--policy", "policy.toml", "--attest", "--key", "maintainer.key",
             "--attest-out", "v2-again.json", *PINNED)  # fmt: skip
    assert r.exit_code == 1 and "lineage.unsigned_from_signing_sources" in r.stdout, r.output
    assert not (workdir / "v2-again.json").exists()

    # what the new hint leads to: the vendor signs again with a new key, prov add registers it again, commit, attest
    assert prov("keys", "generate", "vendor2").exit_code == 0
    for step in (
        ("trust", "add", "vendor", "vendor2.pub", "--key", "maintainer.key", *PINNED),
        ("sign", "vendor-batch.parquet", "--source", "vendor", "--key", "vendor2.key", "--force"),
        ("add", "vendor-batch.parquet", "--source", "vendor", *PINNED),
        ("commit", "v2.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED),
        ("check", "v4", "--base", "v2", "--policy", "policy.toml", "--attest", "--key", "maintainer.key", *PINNED),
    ):
        r = prov(*step)
        assert r.exit_code == 0, f"prov {' '.join(step)}: {r.output}"
    r = prov("verify", "v4", "--attestation", "v4.attestation.json", "--no-data", "--fail-on-revoked", *PINNED)
    assert r.exit_code == 0 and "no longer attested" not in r.stderr, r.output


def test_trust_list_keeps_a_revoked_keys_mark_under_its_header_and_says_what_counts(prov, template_trust, workdir):
    """`vendor  ...  revoked  no validity window  revoked T, reason "stolen"  counted`: the revocation pushed the
    mark two columns right of "(under your pins)", and "revoked ... counted" read as a stolen key still trusted."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    r = prov("trust", "revoke", "vendor", "--key-id", vendor[:16], "--reason", "stolen", "--yes", *PINNED)
    assert r.exit_code == 0, r.output
    lines = prov("trust", "list", *PINNED).stdout.splitlines()
    row = next(line for line in lines if vendor[:16] in line)
    assert row.index("counted") == lines[0].index("(under your pins)"), lines
    assert "counted (the revocation counts: revoked " in row and 'reason "stolen")' in row, row


def test_trust_list_with_nothing_pinned_ends_each_row_and_leaves_the_note_to_stderr(template_trust, workdir):
    """Finding 17: the stderr Note looked glued to the last row (`no validity windowNote: ...`). Every stdout line
    ends with its newline and no padding (the header padded "validity" to the window's width), and the Note is
    stderr's own line, so the two streams interleave at line boundaries."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    out = subprocess.run(
        [sys.executable, "-m", "provenance", "trust", "list"], cwd=workdir, capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("\n") and out.stderr.startswith("Note: ") and out.stderr.endswith("\n"), out
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["source", "key", "status", "validity"] and len(lines) >= 2, lines
    assert [line for line in lines if line != line.rstrip()] == [], lines
