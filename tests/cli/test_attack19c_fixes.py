"""Attack review 19c: replays of what gave way after fix19e/fix19g, kept as regression tests (both fixed in session 19).

Real store (the template_trust world), real keys, real SQLite edits as a ``.prov/`` writer would make them.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from provenance import keys, signing
from provenance.errors import VerificationError
from provenance.gate.release_history import store_attestations
from provenance.store import Store
from provenance.trust.pins import Pins
from provenance.version_facts import verified_statement
from support import plant_attestation, plant_checkpoint_copy

PINNED = ("--signer", "maintainer.pub")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _dress_trailing_bits(text: str) -> str:
    """The same bytes under another base64 spelling: the last symbol before '=' padding carries 2 or 4 bits no
    byte uses; RFC 4648 section 3.5 says an encoder sets them to zero, Python's decoder (validate=True too)
    ignores them, strict decoders (Rust's base64 crate by default, Go's Strict) reject them."""
    body = text.rstrip("=")
    assert len(body) != len(text), "no padding: every bit is used"
    last = _B64.index(body[-1])
    return body[:-1] + _B64[last | (0b11 if len(text) - len(body) == 2 else 0b1111)] + text[len(body) :]


def _plant_respelled_copy(prov_dir: Path) -> None:
    """As a ``.prov/`` writer: the stored checkpoint covering the whole log, its signature respelled (same bytes),
    plus a second entry with the genuine spelling; stored as a new object with the newest ``checkpoints`` row."""

    def dress(env: dict) -> dict:
        genuine = env["signatures"][0]
        env["signatures"] = [{"keyid": genuine["keyid"], "sig": _dress_trailing_bits(genuine["sig"])}, genuine]
        return env

    plant_checkpoint_copy(prov_dir, dress)


# F19c-1 (low): fix19g's _own_envelope (F19b-2) keeps "only the signatures that verify, duplicates dropped, canonical
# JSON", but it keeps each signature's *string* as the stored copy spells it and drops duplicates by string. Ed25519's
# 64-byte signature ends in '==' and its last base64 symbol has 4 bits no byte uses: a .prov/ writer stores a copy of
# the maintainer's genuine covering checkpoint with the signature respelled in those bits (plus the genuine spelling
# as a second entry), under a newer row. `prov audit checkpoint --out` (the CI keep-log-state job; also revoke --out
# and --checkpoint-out through log_state_now) writes both entries: the kept artifact is not prov's own envelope, the
# same signature appears twice, and a strict base64 decoder (RFC 4648 3.5: the bits must be zero; Rust's base64
# crate rejects them by default) fails the first entry. prov itself still verifies it. Fix idea: re-encode each
# verifying signature (base64.b64encode of its bytes) and drop duplicates by those bytes.
def test_audit_checkpoint_out_writes_each_signature_once_in_canonical_base64(prov, template_trust, workdir):
    _plant_respelled_copy(workdir / ".prov")
    r = prov("audit", "checkpoint", "--key", "maintainer.key", "--out", "ci.cp", *PINNED)
    assert r.exit_code == 0, r.output
    env = json.loads(Path("ci.cp").read_bytes())
    public = keys.load_public("maintainer.pub")
    message = signing.pae(env["payloadType"], base64.b64decode(env["payload"]))
    seen = [base64.b64decode(s["sig"]) for s in env["signatures"]]
    for s, raw in zip(env["signatures"], seen, strict=True):
        public.verify(raw, message)
        assert base64.b64encode(raw).decode() == s["sig"], f"signature kept as the store spelled it: {s['sig']!r}"
    assert len(set(seen)) == len(seen), "one signature kept twice under two spellings"


def _store_id_of(folder: Path) -> str:
    """The store id in ``folder``'s ``meta`` row (the other project's own, never this store's)."""
    db = sqlite3.connect(folder / ".prov" / "prov.db")
    (value,) = db.execute("select value from meta where key = 'store_id'").fetchone()
    db.close()
    return str(value)


def _ok(prov, *args: str) -> None:
    r = prov(*args)
    assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"


# F19c-2 (low): fix19e (F19-2) says another store's release attestation is not counted in the release counter, yet
# release_history.store_attestations keeps one whenever this store's version of that tag does not verify under the
# pins (of_this_store returns True on VerificationError, "kept, as before ids"). After an honest root rotation of
# `commit` (root v2 gives it to a new key; what the old key signed stops verifying, B13-1) every older version is
# such a version. A .prov/ writer plants the release attestation of another store holding the same data (a mirror,
# a staging store) whose attest key is still pinned: it counts as this store's release of v2 in next_release (the
# counter jumps to the other store's number) and in base_release's map, and can make require_extends_attested refuse.
# A check on such a base should still fail on its integrity rule (v2 does not verify; not replayed here), so the
# harm seen is a wrong counter and standing, and a refusal, not a pass.
# Fix idea: an attestation naming a store counts only when the version's signed id (verified under the fact keys
# identity reads the id with, Pins.fact_role_keys) is that store's; when it cannot be told, count it for
# require_extends_attested only, never for the counter or the standing.
def test_another_store_s_release_is_not_counted_where_the_version_no_longer_verifies(
    prov, template_trust, workdir, tmp_path_factory, monkeypatch
):
    other = tmp_path_factory.mktemp("other_project")
    for name in ("maintainer.key", "maintainer.pub", "vendor.pub", "policy.toml", "v1.parquet", "v2.parquet"):
        shutil.copy(workdir / name, other / name)
    for name in ("vendor-batch.parquet", "vendor-batch.parquet.prov.json"):
        shutil.copy(workdir / name, other / name)
    monkeypatch.chdir(other)
    for args in (
        ("init",),
        ("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key"),
        ("add", "vendor-batch.parquet", "--source", "vendor", *PINNED),
        ("commit", "v1.parquet", "--tag", "v1", "--key", "maintainer.key", *PINNED),
        ("commit", "v2.parquet", "--tag", "v2", "--key", "maintainer.key", *PINNED),
        ("check", "v2", "--base", "v1", "--policy", "policy.toml", "--attest", "--key", "maintainer.key", *PINNED),
    ):
        _ok(prov, *args)
    monkeypatch.chdir(workdir)
    plant_attestation(other, workdir, "v2")

    # the maintainers rotate commit to a new key (root v2); attest stays with maintainer
    for name in ("rootk", "new2"):
        _ok(prov, "keys", "generate", name)
    for version, committer in ((1, "maintainer.pub"), (2, "new2.pub")):
        out = f"root{version}.json"
        _ok(prov, "root", "new", out, "--root-key", "rootk.pub", "--commit", committer, "--attest", "maintainer.pub",
            "--source", "vendor=vendor.pub", "--version", str(version))  # fmt: skip
        _ok(prov, "root", "sign", out, "--key", "rootk.key")
    store = Store.open(workdir, Pins.load(["rootk.pub"], ["root1.json", "root2.json"]))
    try:
        with pytest.raises(VerificationError):  # the precondition: v2 no longer verifies under today's root
            verified_statement(store, store.version("v2"))
        counted = [facts for _, facts in store_attestations(store)]
    finally:
        store.close()
    other_id = _store_id_of(other)
    counted_for = [(f.get("version"), f.get("release")) for f in counted if f.get("store") == other_id]
    assert counted_for == [], f"store {other_id[:16]}'s releases counted as this store's: {counted_for}"


# Noticed in attack review 19c: a `.prov/` writer who puts a FIFO where a version's envelope object was made every
# command that reads it hang (a CI job until its timeout). An object's file is a regular file or none.
def test_a_fifo_planted_as_an_object_reads_as_missing_not_as_a_hang(committed, workdir):
    import os
    import subprocess
    import sys

    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    (envelope,) = db.execute("select envelope_object from versions where tag = 'v1'").fetchone()
    db.close()
    (path,) = (workdir / ".prov" / "objects").glob(f"{envelope}.*")
    path.unlink()
    os.mkfifo(path)
    prov = str(Path(sys.executable).parent / "prov")
    r = subprocess.run(
        [prov, "verify", "v1", "--no-data", "--signer", "owner.pub"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    assert "missing from the store" in r.stderr and envelope[:16] in r.stderr
