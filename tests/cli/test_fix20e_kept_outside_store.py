"""fix20e: where a revocation's kept log state may go (``prov trust revoke --out``, ``prov keys revoke --out``) and
what a keep failure after the revocation advises, in the trust world (``support.build_trust_world``) with real stores,
keys, processes and mounts. The replays of attack review 20 are tests/cli/test_attack20_replays.py; these cover the
cases around them: the default file name run from inside ``.prov/``, a bind mount of a folder above ``.prov/``,
``commit --checkpoint-out`` through a bind mount, and the advice after a keep failure (A20-4).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from provenance import keys
from provenance.cli._trust import revocation_keeper
from provenance.errors import InputError
from provenance.store import Store
from provenance.store.checkpoints import CheckpointKey
from provenance.trust import rowless
from provenance.trust.pins import Pins
from support import roll_back_log, run_bound, store_fingerprint

PINNED = ("--signer", "maintainer.pub")


@pytest.mark.parametrize("command", ["trust revoke", "keys revoke"])
def test_the_default_kept_file_is_refused_when_run_from_inside_prov(prov, template_trust, workdir, command):
    """Without --out the state goes to prov-revocation-SUBJECT.checkpoint.json in the current folder: run from
    .prov/ (prov finds the store above), that is inside the store, so nothing is revoked and nothing written."""
    if command == "keys revoke":
        assert prov("keys", "register", "attacker.pub", "--name", "leaver").exit_code == 0
        args = ["keys", "revoke", keys.key_id(keys.load_public("attacker.pub"))[:16]]
    else:
        args = ["trust", "revoke", "vendor", "--yes"]
    before = store_fingerprint(workdir / ".prov")
    os.chdir(workdir / ".prov")
    r = prov(*args, "--reason", "x", "--checkpoint-key", "../maintainer.key", "--signer", "../maintainer.pub")
    assert r.exit_code == 2 and "is inside the store" in r.output and "prov-revocation-" in r.output, r.output
    assert not list((workdir / ".prov").glob("prov-revocation-*"))
    assert store_fingerprint(workdir / ".prov") == before


def test_a_kept_state_under_a_bind_mount_of_the_project_is_refused(prov, template_trust, workdir, mount):
    """A bind mount of a folder above .prov/ (the project) shows .prov/ at MOUNT/.prov: a kept state there is
    refused when read (--checkpoint) and when written (commit-side --out), as one named .prov/... is."""
    assert prov("audit", "checkpoint", "--key", "maintainer.key", "--out", ".prov/kept.cp", *PINNED).exit_code == 2
    assert prov("audit", "checkpoint", "--key", "maintainer.key", "--out", "kept.cp", *PINNED).exit_code == 0
    shutil.copy2("kept.cp", workdir / ".prov" / "kept.cp")
    r = prov("audit", "verify", "--checkpoint", ".prov/kept.cp", *PINNED)  # by name: no mount to speak of
    assert r.exit_code == 2 and "is inside the store" in r.output and "mounted" not in r.output, r.output
    r = run_bound(workdir, workdir, mount, "audit", "verify", "--checkpoint", str(mount / ".prov" / "kept.cp"), *PINNED)
    assert r.returncode == 2 and "is inside the store" in r.stderr and "mounted there too" in r.stderr, r.stderr
    before = store_fingerprint(workdir / ".prov")
    out = str(mount / ".prov" / "new.cp")
    r = run_bound(workdir, workdir, mount, "audit", "checkpoint", "--key", "maintainer.key", "--out", out, *PINNED)
    assert r.returncode == 2 and "is inside the store" in r.stderr, r.stderr
    assert not (workdir / ".prov" / "new.cp").exists()
    assert store_fingerprint(workdir / ".prov") == before


def test_a_kept_state_under_a_bind_mount_of_a_folder_inside_prov_is_refused(prov, template_trust, workdir, mount):
    """A bind mount of .prov/objects (a folder under .prov/, not .prov/ itself) is the store all the same."""
    shutil.copy2(
        next((workdir / ".prov" / "objects").rglob("*.json")), workdir / ".prov" / "objects" / "kept.cp"
    )  # any file there: refused before it is read
    r = run_bound(
        workdir,
        workdir / ".prov" / "objects",
        mount,
        "audit",
        "verify",
        "--checkpoint",
        str(mount / "kept.cp"),
        *PINNED,
    )
    assert r.returncode == 2 and "is inside the store" in r.stderr, r.stderr


def test_a_keep_failure_after_a_revocation_advises_checking_it_first(prov, template_trust, workdir):
    """A20-4: keeping fails after the revocation committed (a file appeared at --out). The advice must not lead to
    keeping a log a .prov/ writer rolled back: it names the command that shows the revocation before the one that
    keeps a state, and on the rolled-back log that command shows the key active (so the user stops there)."""
    shutil.copy2(workdir / ".prov" / "prov.db", workdir / "before.db")
    Path("kept.cp").write_text("someone else's file\n")
    store = Store.open(pins=Pins.load(["maintainer.pub"]))
    signer = CheckpointKey.load("maintainer.key")
    try:
        with pytest.raises(InputError) as caught:
            keep = revocation_keeper(signer, Path("kept.cp"), "the keys of source 'vendor'", "prov trust list")
            rowless.revoke(store, "vendor", None, "key stolen", signer, keep)
    finally:
        store.close()
    said = str(caught.value)
    assert "\n" not in said
    check, keep_now = (
        said.index("check that prov trust list still shows it revoked"),
        said.index("prov audit checkpoint"),
    )
    assert check < keep_now and "only then" in said[check:keep_now], said
    shown = json.loads(prov("trust", "list", "--json", *PINNED).output)["keys"]
    assert [k["status"] for k in shown if k["source"] == "vendor"] == ["revoked"]  # the revocation stands
    roll_back_log(workdir / ".prov" / "prov.db", workdir / "before.db")  # the .prov/ writer undoes it
    shown = json.loads(prov("trust", "list", "--json", *PINNED).output)["keys"]
    assert [k["status"] for k in shown if k["source"] == "vendor"] == ["active"]  # the check the advice names
