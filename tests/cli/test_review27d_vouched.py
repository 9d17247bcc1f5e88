"""Attack review 27d: fix27f's commit-role restriction (``vouched.commit_keys``: only heads by keys holding the commit
role under the pins vouch for a commit or quarantine entry; a version's head only with its own commit entry after
it). Real stores, real keys, real roots; the ``.prov/`` writer edits with sqlite3."""

from __future__ import annotations

import base64
import json
import shutil

import pyarrow.parquet as pq
from test_attack27c_replays import _head_seq, _poison, _roll_back_and_put_back, _roots, _rows

from provenance import keys, signing
from provenance.trust.root import statement_for
from support import digits_table, one_line, store_fingerprint, validate_output


def _waive_key_checkpoint_over_put_back_v3(prov, workdir) -> dict:
    """A27c-1's world: root gives commit to maintainer, waive to reviewer; v1, v2; backup; v3 (poisoned); the
    maintainer restores the backup, a .prov/ writer puts v3's row and entries back, the reviewer's key signs a
    checkpoint over them. Returns the env pinning the root."""
    table = digits_table(400)
    keys.generate("maintainer")
    keys.generate("reviewer")
    (root,) = _roots(prov, ["maintainer.pub"], "reviewer.pub")
    env = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": root}
    assert prov("init").exit_code == 0
    for tag, n in (("v1", 300), ("v2", 340)):
        pq.write_table(table.slice(0, n), "train.parquet")
        assert prov("-q", "commit", "train.parquet", "--tag", tag, "--key", "maintainer.key", env=env).exit_code == 0
    shutil.copytree(".prov", "backup")
    kept = _head_seq(".prov/prov.db")
    _poison(table)
    assert prov("-q", "commit", "train.parquet", "--tag", "v3", "--key", "maintainer.key", env=env).exit_code == 0
    _roll_back_and_put_back(workdir, _rows({"versions": ("tag = 'v3'", []), "audit": ("seq > ?", [kept])}))
    r = prov("audit", "checkpoint", "--key", "reviewer.key", env=env)
    assert r.exit_code == 0, r.output
    return env


def test_audit_verify_and_show_name_the_entry_commit_refuses_as_pending(prov, workdir):
    """A27d-4: ``prov audit verify`` (which the refusal tells the user to run) and ``prov show`` took a waive-only
    key's checkpoint as covering v3's put-back commit entry (pending [], relied on) while ``prov commit`` refused it.
    Now every reader applies the one rule (``vouching.unvouched_entries``): the entry and what follows are pending."""
    env = _waive_key_checkpoint_over_put_back_v3(prov, workdir)
    r = prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key", env=env)
    assert r.exit_code == 1 and "version v3's commit entry" in r.stderr, r.output  # the refusal (fix27f) holds
    verify = prov("audit", "verify", "--json", env=env)
    doc = json.loads(verify.stdout)
    validate_output("audit-verify", doc)
    reviewer = [c for c in doc["checkpoints"] if c["keyid"] == keys.key_id(keys.load_public("reviewer.pub"))]
    assert reviewer  # the waive-only key's checkpoint, listed
    v3_entry = [e for e in doc["pending"] if (e["action"], e["subject"]) == ("commit", "v3")]
    assert v3_entry, "audit verify: v3's entry not pending, while commit refuses it as pending"
    assert doc["signed"] > v3_entry[0]["seq"], (
        doc
    )  # the reviewer's checkpoint covers the entries it signs, no version's
    shown = prov("show", "v3", "--json", env=env)
    assert shown.exit_code == 0, shown.output
    show = json.loads(shown.stdout)
    validate_output("show", show)
    assert v3_entry[0] in [{k: e[k] for k in v3_entry[0]} for e in show["audit"]["pending"]], show["audit"]
    text = prov("audit", "verify", env=env).stdout
    assert "1 version entry PENDING under checkpoint" in text and f"#{v3_entry[0]['seq']} " in text, text
    line = [ln for ln in prov("show", "v3", env=env).stdout.splitlines() if "audit log:" in ln]
    assert line and "1 commit entry under checkpoint" in line[0], line  # not "after" the head it is under
    assert "that no commit key vouches for" in line[0], line


def test_held_an_unpinned_commit_is_refused_before_the_stores_own_keys_vouch(prov, workdir):
    """Held: ``commit_keys`` returns None with nothing pinned (``coverage`` then takes the store's own keys, which a
    ``.prov/`` writer registers with ``prov audit checkpoint``), but a commit with nothing pinned is exit 2 first:
    the .prov/ writer's checkpoint over the put-back v3 vouches for no commit."""
    from test_attack26a_replays import plant_rolled_back_v3

    plant_rolled_back_v3(prov, workdir)
    assert prov("keys", "generate", "mallory").exit_code == 0
    assert prov("audit", "checkpoint", "--key", "mallory.key").exit_code == 0
    pq.write_table(digits_table(400).slice(0, 360), "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "train.parquet", "--tag", "v4", "--key", "maintainer.key")
    assert r.exit_code == 2 and "nothing is pinned" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_held_a_root_whose_commit_role_needs_two_keys_is_refused_so_one_commit_keys_head_is_the_role(prov, workdir):
    """Why vouching needs no threshold: a root cannot give the commit role a threshold above 1 (``prov commit`` signs a
    version with one key; ``root.UNSUPPORTED_THRESHOLDS``), so one commit key's head is the whole role. Hand-signed
    with the root key (``root sign`` refuses it first), such a root is refused wherever it is pinned, exit 2, store
    unchanged: no command reads a commit entry under it."""
    for name in ("rootk", "m1", "m2"):
        keys.generate(name)
    r = prov("root", "new", "root.json", "--root-key", "rootk.pub", "--commit", "m1.pub", "--commit", "m2.pub")
    assert r.exit_code == 0, r.output
    doc = json.loads(open("root.json").read())
    doc["roles"]["commit"]["threshold"] = 2
    with open("root.json", "w") as fh:
        json.dump(doc, fh)
    r = prov("root", "sign", "root.json", "--key", "rootk.key")
    assert r.exit_code == 2 and "role commit threshold 2 is not supported" in one_line(r), r.output
    payload = signing.canonical_json(statement_for(doc))
    private = keys.load_private("rootk.key")
    sig = private.sign(signing.pae(signing.PAYLOAD_TYPE, payload))
    env = {
        "payloadType": signing.PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keys.key_id(private.public_key()), "sig": base64.b64encode(sig).decode()}],
    }
    with open("root.json", "wb") as fh:
        fh.write(signing.canonical_json(env))
    assert prov("init").exit_code == 0
    before = store_fingerprint(workdir / ".prov")
    for args in (("root", "show"), ("audit", "verify")):
        r = prov(*args, "--signer", "rootk.pub", "--root", "root.json")
        assert r.exit_code == 2 and "role commit threshold 2 is not supported" in one_line(r), (args, r.output)
    assert store_fingerprint(workdir / ".prov") == before
