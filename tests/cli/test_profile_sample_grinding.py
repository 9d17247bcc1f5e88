"""A source cannot grind its records into the profile sample (attack review 9, G1).

The sample was, per class, the records with the smallest content digests, so a source that
varies bytes no featuriser reads (a float's last bits, a PNG text chunk) and keeps the
variants with the smallest digests put every record it wanted into the reference: 200 of 200
images against 42 by chance. Replayed with real commits: a 10,000-row table of one class
(the profile samples 2,000), then a delivery of 50 rows each ground from 100 variants of one
row. The sample is keyed by a salt now, which no source knows while
it grinds, drawn by the committer's deterministic signature; the signed predicate carries the
signature, which verifies under the committer's key, and the sample is recomputed from the manifest.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import keys
from provenance.encoding.columns import table_digest_blob
from provenance.errors import VerificationError
from provenance.profiles.sample import DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, sample_manifest, verified_salt
from provenance.profiles.stage import load_profile
from provenance.sources.tables import TableOptions
from provenance.version_facts import load_manifest, verified_statement

GROUND, TRIES = 50, 100


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def ground_rows(rng: np.random.Generator) -> pa.Table:
    """``GROUND`` rows, each the variant (of ``TRIES``, its last float bits varied) with the smallest digest."""
    picked = []
    for _ in range(GROUND):
        a = np.full(TRIES, rng.normal())
        b = rng.normal() + np.arange(TRIES) * np.spacing(8.0)  # the same value to any reader but a hasher
        variants = pa.table({"a": a, "b": b, "label": ["x"] * TRIES})
        blob = table_digest_blob(variants, ["a", "b"], TableOptions().row_encoding)
        digests = [blob[i : i + 32] for i in range(0, len(blob), 32)]
        picked.append(variants.slice(int(np.argmin(digests)), 1))
    return pa.concat_tables(picked)


def test_ground_records_enter_the_sample_at_their_share_of_the_base(prov, keypair, store):
    rng = np.random.default_rng(0)
    base = pa.table({"a": rng.normal(size=10_000), "b": rng.normal(size=10_000), "label": ["x"] * 10_000})
    ground = ground_rows(rng)
    pq.write_table(base, "v1.parquet")
    pq.write_table(pa.concat_tables([base, ground]), "v2.parquet")
    for tag in ("v1", "v2"):
        r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path)
        assert r.exit_code == 0, r.output

    profile = load_profile(store, "v2")
    sampled = {bytes(d) for d in profile.sample_digests}
    blob = table_digest_blob(ground, ["a", "b"], TableOptions().row_encoding)
    ours = {blob[i : i + 32] for i in range(0, len(blob), 32)}
    assert profile.sample_size == DEFAULT_MAX_PER_CLASS  # 2,000 of 10,050: a fifth of each source's records
    # by chance about 10 of the 50 (a fifth); ground against the bare digests all 50 were sampled
    assert len(ours & sampled) <= 25  # the salt is drawn afresh each run: 25 is 5 standard deviations out

    # the salt is the hash of the committer's signature of the parent's root and the tag: a verifier with
    # the committer's key checks it and recomputes the very sample from the manifest
    facts = verified_statement(store, store.version("v2"))["predicate"]["profile"]
    assert facts["sampleSaltParent"] == store.version("v1")["merkle_root"]
    salt = verified_salt(keys.load_public(keypair.public_path), facts, "v2")
    manifest = load_manifest(store, store.version("v2"))
    recomputed = sample_manifest(manifest, DEFAULT_MAX_PER_CLASS, DEFAULT_MAX_TOTAL, salt)
    assert set(recomputed.table.column("digest").to_pylist()) == sampled
    first = verified_statement(store, store.version("v1"))["predicate"]["profile"]
    assert first["sampleSaltParent"] is None and verified_salt(keys.load_public(keypair.public_path), first, "v1")
    with pytest.raises(VerificationError):  # another version's signature does not draw this one's salt
        verified_salt(
            keys.load_public(keypair.public_path), {**facts, "sampleSaltSignature": first["sampleSaltSignature"]}, "v2"
        )


def test_one_key_draws_another_salt_in_every_store(prov, workdir, keypair, monkeypatch):
    """Attack review 11, S11-1: the salt's message was only the parent root and the tag, so every store
    whose v1 the same key committed shared one salt, public in its signed facts; a source that read it
    in one store ground into another's sample. A random nonce signed into the message makes each
    commit's salt its own, and a nonce swapped in the facts no longer verifies."""
    from provenance.store.store import Store

    table = pa.table({"a": np.arange(20.0), "label": ["x"] * 20})
    public = keys.load_public(keypair.public_path)
    salts, facts = [], {}
    for name in ("one", "two"):
        (workdir / name).mkdir()
        pq.write_table(table, workdir / name / "t.parquet")
        monkeypatch.chdir(workdir / name)
        assert prov("init").exit_code == 0
        r = prov("commit", "t.parquet", "--tag", "v1", "--key", keypair.private_path)
        assert r.exit_code == 0, r.output
        store = Store.open(workdir / name)
        facts[name] = verified_statement(store, store.version("v1"))["predicate"]["profile"]
        salts.append(verified_salt(public, facts[name], "v1"))
    assert salts[0] != salts[1] and facts["one"]["sampleSaltNonce"] != facts["two"]["sampleSaltNonce"]
    swapped = {**facts["one"], "sampleSaltNonce": facts["two"]["sampleSaltNonce"]}
    with pytest.raises(VerificationError):  # the other store's nonce does not draw this signature's salt
        verified_salt(public, swapped, "v1")
