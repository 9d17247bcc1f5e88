"""How ``prov verify``, ``prov fsck``, ``prov diff`` and ``prov check`` treat the signed delta object
beyond the attack 21b replays: what the recompute needs of the parent, and what the delta path checks."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from provenance.delta import signed_delta
from provenance.store import Store
from support import commit_v3_as_v4, diff_both_ways, drop_relabels


def test_verify_names_a_missing_parent_manifest_as_needed_for_the_delta(prov, three_versions):
    # the child's delta is recomputed from the parent's manifest, checked against the root the child signed
    store = Store(".prov")
    store.objects.path(store.version("v2")["manifest_object"]).unlink()
    r = prov("verify", "v3", "--no-data", "--signer", "alice.pub")
    assert r.exit_code == 1, r.output
    assert "manifest of v2" in r.stderr and "needed to check the delta version v3 signed" in r.stderr, r.stderr


def test_a_delta_written_with_other_bytes_but_the_same_table_verifies(prov, three_versions, monkeypatch):
    # verify compares the recomputed delta with the stored one by hash, else table by table, a few rows
    # at a time (another Arrow writes other bytes): another compression is the same delta, no failure

    honest = signed_delta.to_bytes

    def snappy(*args, **kwargs):
        sink = io.BytesIO()
        pq.write_table(pq.read_table(pa.BufferReader(honest(*args, **kwargs))), sink, compression="snappy")
        return sink.getvalue()

    monkeypatch.setattr(signed_delta, "to_bytes", snappy)
    commit_v3_as_v4(prov)
    monkeypatch.setattr(signed_delta, "to_bytes", honest)
    r = prov("verify", "v4", "--no-data", "--store-keys", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["delta"] == "ok"


def test_the_delta_path_refuses_a_missing_manifest_as_the_merge_does(prov, three_versions):
    # the delta path reads neither manifest, but a version whose manifest is gone is refused on both paths
    # alike (attack review 21b: a transplanted version without its manifest diffed exit 0)
    for tag in ("v3", "v2"):
        store = Store(".prov")
        path = store.objects.path(store.version(tag)["manifest_object"])
        kept = path.read_bytes()
        path.unlink()
        fast, merged = diff_both_ways(prov, "v2", "v3", "--format", "json")
        assert fast.exit_code == 1 and f"manifest of {tag}" in fast.stderr and "missing" in fast.stderr, fast.output
        assert (fast.stdout, fast.stderr) == ("", merged.stderr)
        path.write_bytes(kept)


def test_what_decides_merges_where_a_commit_key_signed_a_delta_hiding_a_relabel(prov, three_versions, monkeypatch):
    # prov diff shows what the delta signs (a display; verify, fsck and check catch it); the library's
    # diff()/detect() and prov findings --recompute merge both manifests, as prov check does
    import provenance

    honest = signed_delta.merge_parent
    monkeypatch.setattr(signed_delta, "merge_parent", lambda *a: drop_relabels(honest(*a)))
    commit_v3_as_v4(prov)
    monkeypatch.setattr(signed_delta, "merge_parent", honest)
    shown = json.loads(prov("diff", "v3", "v4", "--detect", "--format", "json").stdout)  # stores its run
    assert shown["summary"]["relabeled"] == 0
    assert provenance.diff(".prov", "v3", "v4").summary["relabeled"] == 1
    scored = {v.digest for v in provenance.detect(".prov", "v3", "v4", save=False).verdicts.records}
    assert len(scored) == len(shown["findings"]) + 1  # the relabeled record is scored too
    r = prov("findings", "v4", "--recompute")
    assert r.exit_code == 1, r.output  # the stored run, made from the signed delta, lacks the relabeled record


def test_prov_check_recomputes_the_candidates_delta_once_and_never_the_bases(prov, three_versions, monkeypatch):
    # attack review 21b (F21b-8): the candidate's delta was recomputed by both integrity rules and the base's too
    from provenance.delta import delta_check

    recomputed: list[str] = []
    honest = delta_check.check_signed_delta

    def counted(store, row, pred):
        recomputed.append(row["tag"])
        return honest(store, row, pred)

    monkeypatch.setattr(delta_check, "check_signed_delta", counted)
    r = prov("check", "v3", "--base", "v2", "--signer", "alice.pub", "--format", "json")
    assert r.exit_code in (0, 1) and json.loads(r.stdout)["decision"], r.output
    assert recomputed == ["v3"]


def test_verify_hashes_the_parent_manifest_once(prov, three_versions, monkeypatch):
    # recomputing v3's delta needs v2's manifest twice, for its Merkle root and for the merge: one hash (of
    # the file read through one descriptor) serves both. Counted by wrapping the two ways prov hashes an object.
    import hashlib

    from provenance.store.objects import ObjectStore

    parent = Store(".prov").version("v2")["manifest_object"]
    hashed: list[str] = []
    file_digest, get = hashlib.file_digest, ObjectStore.get

    def counted_file_digest(handle, name):
        digest = file_digest(handle, name)
        hashed.append(digest.hexdigest())
        return digest

    def counted_get(self, oid, what="object"):
        data = get(self, oid, what)
        hashed.append(oid)
        return data

    monkeypatch.setattr(hashlib, "file_digest", counted_file_digest)
    monkeypatch.setattr(ObjectStore, "get", counted_get)
    r = prov("verify", "v3", "--no-data", "--store-keys", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["delta"] == "ok", r.output
    assert hashed.count(parent) == 1, hashed
