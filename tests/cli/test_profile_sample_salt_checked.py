"""`prov verify` and `prov check` check the profile sample's salt; `prov verify` draws the sample again
(attack review 10, G10-1).

The profile sample is keyed by a salt the committer's deterministic signature draws, so no source can
grind its records into it (attack review 9, G1). The signature, its parent root and the salt are signed
into the profile facts, but only a test checked them: a committer build that drew the salt with another
key, or kept another sample, went unnoticed. Replayed with real keys: the version's statement is signed
again by the pinned maintainer key (a stolen key, or a committer build that draws otherwise), stored as an
object and put in the versions row with sqlite3.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.profiles.reference import ReferenceProfile
from provenance.profiles.sample import DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, salt_message, sample_manifest
from support import resign_version

PINNED = ("--signer", "alice.pub")


@pytest.fixture
def two_versions(prov, keypair, workdir) -> None:
    """v1 and v2 (v1 + 500 rows) of one class, more records than the sample keeps (2,000 per class)."""
    rng = np.random.default_rng(3)
    n = 3_000
    table = pa.table({"a": rng.normal(size=n), "b": rng.normal(size=n), "label": ["x"] * n})
    pq.write_table(table.slice(0, 2_500), "v1.parquet")
    pq.write_table(table, "v2.parquet")
    assert prov("init").exit_code == 0
    for tag in ("v1", "v2"):
        r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path, *PINNED)
        assert r.exit_code == 0, r.output


def _verifies(prov, *args: str) -> None:
    r = prov("verify", *args, *PINNED)
    assert r.exit_code == 0, r.output


def _fails(prov, tag: str, said: str, *args: str) -> None:
    r = prov("verify", tag, *args, *PINNED)
    assert r.exit_code == 1 and f"version {tag}" in r.stderr and said in r.stderr, r.output


def test_a_sample_salt_drawn_by_a_key_nobody_pinned_fails_verify_and_check(prov, keypair, workdir, two_versions):
    report = json.loads(prov("verify", "v2", "--json", *PINNED).stdout)
    assert report["profile_sample"] == "ok", report
    attacker = keys.generate(workdir / "attacker")

    def salted_by_the_attacker(predicate: dict) -> None:
        facts = predicate["profile"]
        parent = bytes.fromhex(facts["sampleSaltParent"])
        signature = keys.load_private(attacker.private_path).sign(salt_message(parent, "v2"))
        facts["sampleSaltSignature"] = signature.hex()
        facts["sampleSalt"] = hashlib.sha256(signature).hexdigest()

    resign_version(workdir, "v2", keypair.private_path, salted_by_the_attacker)
    _fails(prov, "v2", "the profile sample's salt does not verify")
    _fails(prov, "v2", "the profile sample's salt does not verify", "--no-data")
    r = prov("check", "v2", "--base", "v1", "--format", "json", *PINNED)
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert r.exit_code == 1 and rules["integrity.verify_signatures"]["status"] == "block", r.output
    assert "salt does not verify" in rules["integrity.verify_signatures"]["reason"]
    _verifies(prov, "v1")


def test_a_salt_that_is_not_its_signatures_hash_fails_verify(prov, keypair, workdir, two_versions):
    resign_version(workdir, "v2", keypair.private_path, lambda p: p["profile"].update(sampleSalt="00" * 32))
    _fails(prov, "v2", "salt is not its signature's hash", "--no-data")


def test_a_profile_that_keeps_another_sample_fails_verify(prov, keypair, workdir, two_versions):
    """The salt verifies, but the profile keeps the smallest digests (as builds before the salt drew it)."""
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    [manifest_oid] = db.execute("select manifest_object from versions where tag = 'v2'").fetchone()
    db.close()
    from provenance.manifest import Manifest

    manifest = Manifest.from_bytes((workdir / ".prov" / "objects" / f"{manifest_oid}.parquet").read_bytes(), "m")
    unsalted = sample_manifest(manifest, DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, None).table
    digests = np.frombuffer(b"".join(unsalted.column("digest").to_pylist()), np.uint8).reshape(-1, 32)

    def another_sample(predicate: dict) -> None:
        facts = predicate["profile"]
        profile = ReferenceProfile.from_bytes((workdir / ".prov" / "objects" / f"{facts['sha256']}.npz").read_bytes())
        assert len(digests) == len(profile.sample_digests) == DEFAULT_MAX_PER_CLASS
        data = dataclasses.replace(profile, sample_digests=digests.copy()).to_bytes()
        facts["sha256"] = hashlib.sha256(data).hexdigest()
        (workdir / ".prov" / "objects" / f"{facts['sha256']}.npz").write_bytes(data)

    resign_version(workdir, "v2", keypair.private_path, another_sample)
    _fails(prov, "v2", "its profile's sample is not the one its signed salt draws")
    _verifies(prov, "v2", "--no-data")  # the salt itself is the committer's: only drawing the sample again shows it
