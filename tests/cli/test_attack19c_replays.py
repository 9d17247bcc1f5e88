"""Attack review 19c: replays of what still gives way after fix19e/fix19g (each fails until fixed).

Real store (the template_trust world), real keys, real SQLite edits as a ``.prov/`` writer would make them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

from provenance import keys, signing

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


def _plant_respelled_copy(db_path: Path, objects: Path) -> None:
    """As a ``.prov/`` writer: the stored checkpoint covering the whole log, its signature respelled (same bytes),
    plus a second entry with the genuine spelling; stored as a new object with the newest ``checkpoints`` row."""
    db = sqlite3.connect(db_path)
    (size,) = db.execute("select max(seq) from audit").fetchone()
    row = db.execute(
        "select object, size, root, head, keyid from checkpoints where size = ? order by created_at desc", [size]
    ).fetchone()
    env = json.loads((objects / f"{row[0]}.json").read_bytes())
    genuine = env["signatures"][0]
    env["signatures"] = [{"keyid": genuine["keyid"], "sig": _dress_trailing_bits(genuine["sig"])}, genuine]
    data = json.dumps(env).encode()
    oid = hashlib.sha256(data).hexdigest()
    (objects / f"{oid}.json").write_bytes(data)
    db.execute("insert into checkpoints values (?, ?, ?, ?, ?, ?)", [oid, *row[1:], "9999-12-31T00:00:00+00:00"])
    db.commit()
    db.close()


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
    _plant_respelled_copy(workdir / ".prov" / "prov.db", workdir / ".prov" / "objects")
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
