"""``prov audit checkpoint --out F`` keeps the log as it is: it signs the store's audit log without appending to it
(attack review 18, F18-1), in the trust world (``support.build_trust_world``) with real keys, real stores edited by
sqlite3 and real processes.

Before, the command registered its key in the store on first use (a ``key.register`` audit entry) and signed a tree
over that entry too: the example workflow's keep-log-state job, on its throwaway checkout, kept a state one entry
longer than the repository's log, and every later run failed against it. The kept state is now the log as pushed,
and every reader checks it against the keys it pins, not the store's ``keys`` table (a cache).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from support import store_fingerprint, succeeded

PINNED = ("--signer", "maintainer.pub")
PROV = str(Path(sys.executable).parent / "prov")


def _entries(folder: Path = Path()) -> int:
    with sqlite3.connect(folder / ".prov" / "prov.db") as db:
        return db.execute("select count(*) from audit").fetchone()[0]


def _tree_size(path: Path | str) -> int:
    return json.loads(base64.b64decode(json.loads(Path(path).read_text())["payload"]))["predicate"]["treeSize"]


def _forget_keys() -> None:
    """The ``.prov/`` writer's push (or a store whose release key never wrote to it): no ``keys`` rows."""
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("delete from keys")


# F18-1 (attack review 18's replay, kept as a regression test): the keep-log-state job signs the log as pushed.
def test_the_log_state_ci_keeps_is_the_log_as_pushed_not_the_runners_own_entries(prov, template_trust, workdir):
    with sqlite3.connect(".prov/prov.db") as db:  # the .prov/ writer's push: the maintainer key's row deleted
        db.execute("delete from keys")
    pushed = _entries()
    succeeded(prov, "check", "v3q", "--base", "v2", "--policy", "policy.toml", "--no-save", *PINNED)  # the push passes
    succeeded(prov, "audit", "verify", *PINNED)

    # the keep-log-state job, on the runner's own checkout of that push (the workflow's two commands)
    runner = workdir / "runner-checkout"
    runner.mkdir()
    shutil.copytree(".prov", runner / ".prov")
    kept = workdir / "last.checkpoint.json"
    r = subprocess.run(
        [PROV, "audit", "checkpoint", "--key", str(workdir / "maintainer.key"), "--out", str(kept)],
        cwd=runner,
        env=os.environ | {"PROV_SIGNERS": str(workdir / "maintainer.pub")},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr

    # the state kept is the log the repository holds, so the next honest run on main is held to it and passes
    assert _tree_size(kept) == pushed, (_tree_size(kept), pushed)
    succeeded(prov, "audit", "verify", "--checkpoint", str(kept), *PINNED)


def test_out_writes_nothing_to_the_store_and_every_reader_checks_the_state_against_its_pins(
    prov, template_trust, workdir
):
    """With ``--out`` the store is left byte for byte as it was (no key registered, no checkpoint row or object),
    and ``audit verify``, ``check`` and ``commit --checkpoint`` hold the log to that state under the pinned key,
    though the store's ``keys`` table does not know it."""
    _forget_keys()
    before = store_fingerprint(workdir / ".prov")
    r = succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *PINNED, "--json")
    assert store_fingerprint(workdir / ".prov") == before
    doc = json.loads(r.stdout)
    assert doc["size"] == _tree_size("kept.cp") == _entries()

    succeeded(prov, "audit", "verify", "--checkpoint", "kept.cp", *PINNED)
    r = succeeded(prov, "check", "v3q", "--base", "v2", "--policy", "policy.toml", "--checkpoint", "kept.cp", "--no-save",
            "--format", "json", *PINNED)  # fmt: skip
    rules = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert rules["integrity.kept_log_state"]["status"] == "pass"
    r = succeeded(prov, "commit", "v3.parquet", "--tag", "n1", "--parent", "v3", "--key", "maintainer.key", *PINNED,
            "--checkpoint", "kept.cp", "--checkpoint-out", "n1.cp")  # fmt: skip
    assert "the audit log extends kept.cp" in " ".join(r.stdout.split())
    assert _tree_size("n1.cp") == _entries() > _tree_size("kept.cp")


def test_a_state_kept_with_a_key_the_reader_does_not_pin_still_fails_closed(prov, template_trust, workdir):
    """The store's ``keys`` never vouch for a kept state: one signed by a key the reader does not pin is exit 1,
    whether or not that key is registered in the store."""
    succeeded(prov, "audit", "checkpoint", "--key", "attacker.key", "--out", "planted.cp", "--signer", "attacker.pub")
    with sqlite3.connect(".prov/prov.db") as db:
        assert db.execute("select count(*) from keys where name = 'attacker'").fetchone()[0] == 0
    r = prov("audit", "verify", "--checkpoint", "planted.cp", *PINNED)
    assert r.exit_code == 1 and "planted.cp: audit checkpoint signed by key" in " ".join(r.stderr.split()), r.output
    r = prov("check", "v3q", "--base", "v2", "--policy", "policy.toml", "--checkpoint", "planted.cp", "--no-save",
             *PINNED)  # fmt: skip
    assert r.exit_code == 1 and "did not pin" in " ".join(r.stderr.split()), r.output
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "v3.parquet", "--tag", "n1", "--parent", "v3", "--key", "maintainer.key", *PINNED,
             "--checkpoint", "planted.cp")  # fmt: skip
    assert r.exit_code == 1 and "did not pin" in " ".join(r.stderr.split()), r.output
    assert store_fingerprint(workdir / ".prov") == before


def test_a_release_key_only_a_root_file_names_keeps_the_log_as_pushed(prov, template_trust, workdir):
    """An honest root-file setup: the CI key holds ``attest`` in the signed root and never wrote to the store. Its
    kept state covers exactly the log, and the next run under the same root holds the log to it."""
    succeeded(prov, "keys", "generate", "ci")
    succeeded(prov, "root", "new", "root.json", "--root-key", "maintainer.pub", "--commit", "maintainer.pub",
        "--attest", "ci.pub", "--source", "vendor=vendor.pub")  # fmt: skip
    succeeded(prov, "root", "sign", "root.json", "--key", "maintainer.key")
    under = (*PINNED, "--root", "root.json")
    pushed = _entries()
    succeeded(prov, "audit", "checkpoint", "--key", "ci.key", "--out", "kept.cp", *under)
    assert _tree_size("kept.cp") == _entries() == pushed
    succeeded(prov, "audit", "verify", "--checkpoint", "kept.cp", *under)
    succeeded(prov, "check", "v3q", "--base", "v2", "--policy", "policy.toml", "--checkpoint", "kept.cp", "--no-save",
        *under)  # fmt: skip


def test_without_out_the_checkpoint_is_stored_and_its_key_registered(prov, template_trust, workdir):
    """Unchanged without ``--out``: the key is registered on first use (an audit entry the checkpoint covers) and
    the checkpoint is stored, so the log's entries are no longer pending in the store."""
    _forget_keys()
    before = _entries()
    r = succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", *PINNED, "--json")
    assert json.loads(r.stdout)["size"] == _entries() == before + 1
    with sqlite3.connect(".prov/prov.db") as db:
        assert db.execute("select action from audit order by seq desc limit 1").fetchone() == ("key.register",)
        assert db.execute("select max(size) from checkpoints").fetchone() == (before + 1,)


def test_commit_checkpoint_out_with_another_key_covers_the_commit_and_nothing_after_it(prov, template_trust, workdir):
    """``prov commit --checkpoint-out --checkpoint-key K``: the kept state is the log the commit left (its own
    entries, which are pushed with it), not one with K's registration appended after the commit."""
    succeeded(prov, "keys", "generate", "release")
    pins = ("--signer", "maintainer.pub", "--signer", "release.pub")
    succeeded(prov, "commit", "v3.parquet", "--tag", "n1", "--parent", "v3", "--key", "maintainer.key", *pins,
        "--checkpoint-out", "n1.cp", "--checkpoint-key", "release.key")  # fmt: skip
    with sqlite3.connect(".prov/prov.db") as db:
        assert db.execute("select action from audit order by seq desc limit 1").fetchone() == ("commit",)
        assert db.execute("select count(*) from keys where name = 'release'").fetchone() == (0,)
    assert _tree_size("n1.cp") == _entries()
    succeeded(prov, "audit", "verify", "--checkpoint", "n1.cp", *pins)


def test_with_nothing_pinned_a_kept_state_by_a_key_the_store_never_saw_fails_closed(prov, template_trust, workdir):
    """With nothing pinned (``audit verify --store-keys``; ``check`` and ``commit`` then refuse to run) the store's
    ``keys`` are all a reader has: ``--out`` no longer registers its key, so a state kept with a key that never
    wrote to the store is refused (exit 1, naming the file and saying to pin the key), never passed over; pinned,
    the same file is taken."""
    succeeded(prov, "keys", "generate", "other")
    succeeded(prov, "audit", "checkpoint", "--key", "other.key", "--out", "other.cp")  # nothing pinned: any key signs
    r = prov("audit", "verify", "--store-keys", "--checkpoint", "other.cp")
    message = " ".join(r.stderr.split())
    assert r.exit_code == 1 and "other.cp: audit checkpoint signed by key" in message, r.output
    assert "pin that key with --signer" in message
    succeeded(prov, "audit", "verify", "--checkpoint", "other.cp", *PINNED, "--signer", "other.pub")


def test_audit_verify_says_which_kept_states_the_log_extends(prov, template_trust, workdir):
    """Newcomer review 19, H2: ``prov audit verify --checkpoint F`` printed the same lines with or without F, so a
    platform engineer wiring CI could not tell the kept state was read at all (``prov commit --checkpoint`` says
    it). It now names each state given and its size, in text and in ``--json`` (``extends``), and nothing without
    one."""
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *PINNED)
    r = succeeded(prov, "audit", "verify", "--checkpoint", "kept.cp", *PINNED)
    lines = r.stdout.splitlines()
    at = lines.index("  extends each kept log state given (no entry deleted or rewritten since):")
    assert lines[at + 1] == f"    kept.cp ({_tree_size('kept.cp')} entries)"
    assert max(len(line) for line in lines) <= 80
    doc = json.loads(succeeded(prov, "audit", "verify", "--checkpoint", "kept.cp", *PINNED, "--json").stdout)
    assert doc["extends"] == [{"path": "kept.cp", "treeSize": _tree_size("kept.cp")}]
    from jsonschema import Draft202012Validator

    schema = Path(__file__).resolve().parents[2] / "schemas" / "audit-verify.schema.json"
    Draft202012Validator(json.loads(schema.read_text())).validate(doc)

    assert "extends" not in succeeded(prov, "audit", "verify", *PINNED).stdout
    assert json.loads(succeeded(prov, "audit", "verify", *PINNED, "--json").stdout)["extends"] == []


def test_entries_a_kept_state_signs_are_not_listed_as_pending_under_no_signature(prov, template_trust, workdir):
    """Newcomer review 24: after ``prov audit checkpoint --out F``, ``audit verify --checkpoint F`` listed every entry
    F covers as ``PENDING ... (under no signature ...)``, read as if F had done nothing. A kept state a key you pin
    signed covers its entries as a stored checkpoint does (``signed``, ``signed_by``); one by a key you do not pin
    is refused, as before (test above); without F the store's own coverage is said."""
    import pyarrow.parquet as pq

    from support import digits_table

    pq.write_table(digits_table(30), "scraped.parquet")
    succeeded(prov, "add", "scraped.parquet", "--source", "scraper", "--unsigned")  # an entry no checkpoint covers yet
    before = json.loads(succeeded(prov, "audit", "verify", *PINNED, "--json").stdout)
    assert [e["action"] for e in before["pending"]] == ["batch.add"], before
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *PINNED)
    doc = json.loads(succeeded(prov, "audit", "verify", "--checkpoint", "kept.cp", *PINNED, "--json").stdout)
    assert doc["pending"] == [] and doc["signed"] == _tree_size("kept.cp") == _entries(), doc
    assert doc["signed_by"].startswith("kept log state kept.cp ("), doc["signed_by"]
    from support import validate_output

    validate_output("audit-verify", doc)
    r = succeeded(prov, "audit", "verify", "--checkpoint", "kept.cp", *PINNED)
    assert "PENDING" not in r.stdout and "nothing pending: all under kept log state kept.cp" in r.stdout, r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    # without the file the store's own checkpoints decide, as before
    assert json.loads(succeeded(prov, "audit", "verify", *PINNED, "--json").stdout)["pending"] == before["pending"]
