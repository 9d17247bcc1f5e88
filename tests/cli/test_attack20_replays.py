"""Attack review 20: replays of what still breaks after session 20's fixes (fix20a-d), in the trust world
(``support.build_trust_world``) with real stores, keys, processes and mounts. Each test asserts what a user relies
on and fails on the code it was written against (5765dce); see /work/notes/report-attack20.md.

Finding A20-1 (low): a kept log state inside ``.prov/`` reached through a bind mount of ``.prov/`` is neither
refused when read (``--checkpoint``, ``refuse_kept_in_store``) nor when written (``trust revoke --out``,
``checkpoint_out_path``). Both compare resolved paths, and fix20a's hard-link check compares inodes only for a file
with more than one name: through a bind mount the path resolves outside ``.prov/`` and the file has one name. A
``.prov/`` writer then rolls the revocation back and swaps an older genuine state into the kept file, and ``prov
audit verify --checkpoint`` passes (attack review 18, F18-4, by another route). A bind mount's root has the same
``(st_dev, st_ino)`` as the folder it shows, so comparing each resolved parent of the path with ``.prov/``'s would
catch it.

Finding A20-2 (low): ``prov trust revoke --out`` and ``prov keys revoke --out`` write the kept state to a path
inside ``.prov/`` as given (``checkpoints.kept_checkpoint_path`` checks only that nothing is there), and then say
"keep it outside .prov/" and print ``gh variable set PROV_KEPT_LOG_STATE < .prov/...``. ``prov commit
--checkpoint-out`` and ``prov audit checkpoint --out`` refuse the same path (``checkpoint_out_path``), exit 2,
before writing. A ``.prov/`` writer rolls the revocation back and swaps an older genuine state into that file before
it is copied out, and CI then holds the older state (attack review 18, F18-4, on the write side). Not changed
by session 20, but on the path fix20a rewrote (``keep_checkpoint``).

Finding A20-3 (low, a regression of fix20a): ``prov trust revoke --out -`` (and ``keys revoke``) now writes the
kept state to standard output (``output_file.write_output`` reads ``-`` as stdout; ``open('-', 'xb')`` made a file
named ``-`` before), then reads the file ``-`` back, finds none, and exits 1 with a false tamper alarm: "A .prov/
writer may have erased the revocation: restore .prov/ from a copy you trust ... and revoke again" (and "nothing
was written to -", after printing it). Nothing was tampered with, the revocation stands, and revoking again is
exit 2 (already revoked). ``commit --checkpoint-out -`` and ``audit checkpoint --out -`` refuse ``-`` before any
write ("the log state is kept in a file").
"""

from __future__ import annotations

import shutil

import pytest

from provenance import keys
from support import revoke_vendor_keeping_states, roll_back_log, run_bound, store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def test_a20_1_a_kept_state_read_through_a_bind_mount_of_prov_is_refused(prov, template_trust, workdir, mount):
    """A20-1, read side: the kept state sits in ``.prov/`` (shown at ``mount``); the ``.prov/`` writer has
    rolled back the revocation it kept and swapped an older genuine state into the file. It must be refused as
    one inside the store, as the same file named ``.prov/revoked.cp`` or through a hard link is; today ``prov
    audit verify --checkpoint`` passes, exit 0, and the revoked vendor key counts again."""
    revoke_vendor_keeping_states(prov, workdir, PINNED)
    shutil.move(workdir / "revoked.cp", workdir / ".prov" / "revoked.cp")  # kept where the mount shows it
    assert prov("audit", "verify", "--checkpoint", ".prov/revoked.cp", *PINNED).exit_code == 2  # refused by name
    roll_back_log(workdir / ".prov" / "prov.db", workdir / "before.db")  # the .prov/ writer: revocation undone
    shutil.copy2(workdir / "old.cp", workdir / ".prov" / "revoked.cp")  # and an older genuine state swapped in
    r = run_bound(
        workdir, workdir / ".prov", mount, "audit", "verify", "--checkpoint", str(mount / "revoked.cp"), *PINNED
    )
    assert r.returncode == 2, f"a kept state inside .prov/ (bind mount) vouched for the rolled-back log: {r.stdout}"
    assert "is inside the store" in r.stderr


def test_a20_1_a_revocations_kept_state_is_not_written_into_prov_through_a_bind_mount(
    prov, template_trust, workdir, mount
):
    """A20-1, write side: ``trust revoke --out`` refuses a path inside ``.prov/`` before revoking (exit 2, store
    as it was); the same folder reached through a bind mount must be refused too. Today the revocation is made
    and its kept state lands in ``.prov/revoked.cp``, where the ``.prov/`` writer can swap it."""
    before = store_fingerprint(workdir / ".prov")
    r = run_bound(workdir, workdir / ".prov", mount, "trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key",
               "maintainer.key", "--out", str(mount / "revoked.cp"), *PINNED)  # fmt: skip
    assert not (workdir / ".prov" / "revoked.cp").exists(), "the kept state was written inside .prov/"
    assert r.returncode == 2 and "inside the store" in r.stderr, r.stdout + r.stderr
    assert store_fingerprint(workdir / ".prov") == before


def _revocation(command: str) -> tuple[str, ...]:
    """The arguments of ``command`` (``trust revoke``, ``keys revoke``) revoking a key in the trust world."""
    if command == "keys revoke":
        return ("keys", "revoke", keys.key_id(keys.load_public("attacker.pub"))[:16], "--reason", "left")
    return ("trust", "revoke", "vendor", "--reason", "key stolen", "--yes")


@pytest.mark.parametrize("command", ["trust revoke", "keys revoke"])
def test_a20_2_a_revocations_kept_state_is_not_written_inside_prov(prov, template_trust, workdir, command):
    """A20-2: ``--out .prov/revoked.cp`` is refused before anything is written (exit 2 naming the path, the store
    byte for byte as it was), as ``prov audit checkpoint --out`` refuses it. Today the revocation is made and the
    kept state is written inside ``.prov/``, exit 0."""
    r = prov("audit", "checkpoint", "--key", "maintainer.key", "--out", ".prov/ckpt.cp", *PINNED)
    assert r.exit_code == 2 and "is inside the store" in r.output, r.output  # the rule the revocations skip
    if command == "keys revoke":
        assert prov("keys", "register", "attacker.pub", "--name", "leaver").exit_code == 0
    before = store_fingerprint(workdir / ".prov")
    r = prov(*_revocation(command), "--checkpoint-key", "maintainer.key", "--out", ".prov/revoked.cp", *PINNED)
    assert not (workdir / ".prov" / "revoked.cp").exists(), f"{command} kept its state inside .prov/: {r.output}"
    assert r.exit_code == 2 and "inside the store" in r.output, r.output
    assert store_fingerprint(workdir / ".prov") == before


@pytest.mark.parametrize("command", ["trust revoke", "keys revoke"])
def test_a20_3_revoke_out_dash_raises_no_false_tamper_alarm(prov, template_trust, workdir, command):
    """A20-3: ``--out -`` is refused before the revocation (exit 2, store as it was), as ``audit checkpoint --out -``
    is; it must never end in exit 1 telling the maintainer a .prov/ writer may have erased the revocation."""
    r = prov("audit", "checkpoint", "--key", "maintainer.key", "--out", "-", *PINNED)
    assert r.exit_code == 2 and "kept in a file" in r.output, r.output  # the rule the revocations skip
    if command == "keys revoke":
        assert prov("keys", "register", "attacker.pub", "--name", "leaver").exit_code == 0
    before = store_fingerprint(workdir / ".prov")
    r = prov(*_revocation(command), "--checkpoint-key", "maintainer.key", "--out", "-", *PINNED)
    assert "may have erased the revocation" not in r.output, f"{command}: a false tamper alarm: {r.output}"
    assert r.exit_code == 2 and store_fingerprint(workdir / ".prov") == before, r.output
