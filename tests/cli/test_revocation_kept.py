"""A revocation made after the last release, rolled back by a ``.prov/`` writer (attack review 6, finding 9), replayed.

The kept log state was the last release's attestation, older than the revocation, so a log
restored to before the revocation still extended it and ``prov audit verify --checkpoint``
passed. ``prov trust revoke`` / ``prov keys revoke`` with ``--checkpoint-key`` now also write
the checkpoint over the revocation outside ``.prov/`` and print the command that keeps it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from support import store_fingerprint

PINNED = ("--signer", "maintainer.pub")
KEPT = "prov-revocation-vendor.checkpoint.json"


def test_a_rolled_back_source_revocation_fails_against_the_checkpoint_it_kept(prov, template_trust, workdir):
    shutil.copy(".prov/prov.db", "before-revoke.db")  # what the .prov/ writer keeps to roll back to
    r = prov("trust", "revoke", "vendor", "--reason", "stolen", "--yes", "--checkpoint-key", "maintainer.key")
    assert r.exit_code == 0, r.output
    assert f"gh variable set PROV_KEPT_LOG_STATE < {KEPT}" in r.stdout
    kept = json.loads(Path(KEPT).read_text())
    assert kept["payloadType"] == "application/vnd.in-toto+json" and kept["signatures"]
    assert prov("audit", "verify", "--checkpoint", KEPT, *PINNED).exit_code == 0
    shutil.copy("before-revoke.db", ".prov/prov.db")  # the rollback: revocation, its entries and checkpoint gone
    assert prov("audit", "verify", "--checkpoint", "v2.attestation.json", *PINNED).exit_code == 0  # the old state
    r = prov("audit", "verify", "--checkpoint", KEPT, *PINNED)
    assert r.exit_code == 1 and "audit log is broken" in r.output, r.output


def test_a_kept_checkpoint_is_never_overwritten_and_nothing_is_revoked(prov, template_trust, workdir):
    Path(KEPT).write_text("the checkpoint of an earlier revocation\n")
    before = store_fingerprint(Path(".prov"))
    r = prov("trust", "revoke", "vendor", "--reason", "stolen", "--yes", "--checkpoint-key", "maintainer.key")
    assert r.exit_code == 2 and "never overwritten" in r.stderr, r.output
    assert store_fingerprint(Path(".prov")) == before
    assert Path(KEPT).read_text() == "the checkpoint of an earlier revocation\n"
    r = prov("trust", "revoke", "vendor", "--reason", "stolen", "--yes", "--out", "elsewhere.json")
    assert r.exit_code == 2 and "--checkpoint-key" in r.stderr
    r = prov(
        "trust",
        "revoke",
        "vendor",
        "--reason",
        "stolen",
        "--yes",
        "--checkpoint-key",
        "maintainer.key",
        "--out",
        "kept.json",
        "--json",
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["kept_checkpoint"] == "kept.json"
    assert prov("audit", "verify", "--checkpoint", "kept.json", *PINNED).exit_code == 0


def test_keys_revoke_keeps_its_checkpoint_too(prov, template_trust, workdir):
    keyid = json.loads(prov("keys", "generate", "reviewer", "--json").stdout)["keyid"]
    assert prov("keys", "register", "reviewer.pub", "--name", "reviewer").exit_code == 0
    r = prov("keys", "revoke", keyid[:12], "--reason", "left", "--checkpoint-key", "maintainer.key")
    assert r.exit_code == 0, r.output
    kept = f"prov-revocation-{keyid[:12]}.checkpoint.json"
    assert f"gh variable set PROV_KEPT_LOG_STATE < {kept}" in r.stdout
    assert prov("audit", "verify", "--checkpoint", kept, *PINNED).exit_code == 0


def test_a_training_job_given_the_kept_checkpoint_refuses_a_log_cut_back_before_the_revocation(
    prov, template_trust, workdir
):
    """Attack review 13b, V13b-1: the vendor's key was revoked with ``--checkpoint-key``; a ``.prov/`` writer then
    truncated the audit log to before the revocation and deleted the checkpoints over it (sqlite3), so the log is
    consistent with the checkpoints left. ``prov verify --attestation --fail-on-revoked`` and
    ``load(fail_on_revoked=True)`` passed: they had no kept log state to check against. Given the checkpoint the
    revocation kept (``--checkpoint F``, ``kept_log_state=F``), both refuse."""
    import warnings

    import pytest

    import provenance as prov_api
    from provenance.errors import VerificationError
    from support import roll_back_log

    shutil.copy(".prov/prov.db", "before-revoke.db")  # what the .prov/ writer keeps to roll back to
    r = prov("trust", "revoke", "vendor", "--reason", "stolen", "--yes", "--checkpoint-key", "maintainer.key")
    assert r.exit_code == 0, r.output
    released = ("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", "--fail-on-revoked", *PINNED)
    r = prov(*released, "--checkpoint", KEPT)
    assert r.exit_code == 1 and "no longer attested" in r.stderr, r.output  # the revocation is in force

    roll_back_log(
        Path(".prov/prov.db"), Path("before-revoke.db")
    )  # sqlite3: trust rows back, entries and checkpoints cut
    assert prov("audit", "verify", *PINNED).exit_code == 0  # consistent with itself: the store alone cannot tell
    assert prov(*released).exit_code == 0  # without a kept state the job trains on the revoked batch
    r = prov(*released, "--checkpoint", KEPT)
    assert r.exit_code == 1, r.output
    assert f"does not match its signed checkpoints and the log state kept in {KEPT}" in r.stderr
    assert prov(*released, "--checkpoint", "v2.attestation.json").exit_code == 0  # an older state proves nothing more

    store = dict(pins="maintainer.pub", store=workdir, attestation="v2.attestation.json", fail_on_revoked=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to warn about: the log says the key was never revoked
        prov_api.load("v2", **store)
    with pytest.raises(VerificationError, match=f"the log state kept in {KEPT}"):
        prov_api.load("v2", **store, kept_log_state=KEPT)
    with pytest.raises(VerificationError, match="the log state kept in"):
        prov_api.verify(workdir, "v2", read_data=False, **{k: v for k, v in store.items() if k != "store"},
                        kept_log_state=[KEPT])  # fmt: skip


def test_a_kept_log_state_is_checked_under_the_pins_and_needs_an_attestation(prov, template_trust, workdir):
    """``--checkpoint`` takes a log state only from a key the verifier pins (fail closed: a checkpoint signed by any
    other key is refused, not passed over), and is checked against a release attestation only."""
    r = prov("audit", "checkpoint", "--key", "attacker.key", "--signer", "attacker.pub", "--out", "planted.json")
    assert r.exit_code == 0, r.output
    released = ("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", *PINNED)
    r = prov(*released, "--checkpoint", "planted.json")
    assert r.exit_code == 1 and "planted.json" in r.stderr, r.output
    r = prov(*released, "--checkpoint", "vendor-batch.parquet.prov.json")
    assert r.exit_code == 2 and "not a log state kept by prov commit --checkpoint-out" in r.stderr, r.output
    r = prov("verify", "v2", "--no-data", "--checkpoint", "planted.json", *PINNED)
    assert r.exit_code == 2 and "--checkpoint is checked against a release attestation" in r.stderr, r.output
