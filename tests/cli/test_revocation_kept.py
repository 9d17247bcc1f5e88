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
