"""Attack review 20b: replays of what still breaks after fix20e and 03d3941 (on main 39e6fb5), with real stores,
keys, processes and mounts; see /work/notes/report-attack20b.md.

Finding A20b-1 (low): a kept log state inside ``.prov/`` reached through a bind mount of that *file* (``mount --bind
.prov/revoked.cp /ci/kept.cp``, as ``docker run -v`` mounts one file) is not refused when read (``--checkpoint``,
``checkpoints.refuse_kept_in_store``). fix20e's ``_mounted_store_folder`` compares only folders' ``(st_dev,
st_ino)`` with ``.prov/``'s folders, and ``_hard_link_in_store`` looks only at a file with more than one name; a
bind-mounted file has one name, the same inode as the file in ``.prov/``, and a parent folder outside it. A
``.prov/`` writer rolls the revocation back and writes an older genuine state into the file in place, and ``prov
audit verify --checkpoint`` passes (A20-1 by the one route it left). Comparing the file's own ``(st_dev,
st_ino)`` with every file under ``.prov/`` (not only when ``st_nlink > 1``) would catch it.
"""

from __future__ import annotations

import shutil

from support import revoke_vendor_keeping_states, roll_back_log, run_bound

PINNED = ("--signer", "maintainer.pub")


def test_a20b_1_a_kept_state_read_through_a_bind_mount_of_one_file_in_prov_is_refused(
    prov, template_trust, workdir, mount
):
    """A20b-1: the kept state sits in ``.prov/revoked.cp``, shown at ``mount/kept.cp`` by a bind mount of the file;
    the ``.prov/`` writer rolled back the revocation it kept and wrote an older genuine state into that file. It
    must be refused as one inside the store, as the same file reached through a bind mount of ``.prov/`` is; today
    ``prov audit verify --checkpoint`` passes, exit 0, and the revoked vendor key counts again."""
    revoke_vendor_keeping_states(prov, workdir, PINNED)
    shutil.move(workdir / "revoked.cp", workdir / ".prov" / "revoked.cp")
    roll_back_log(workdir / ".prov" / "prov.db", workdir / "before.db")  # the .prov/ writer: revocation undone
    shutil.copyfile(workdir / "old.cp", workdir / ".prov" / "revoked.cp")  # older genuine state, written in place
    shown = mount / "kept.cp"
    shown.touch()  # a file's bind mount needs a file to cover
    r = run_bound(
        workdir, workdir / ".prov" / "revoked.cp", shown, "audit", "verify", "--checkpoint", str(shown), *PINNED
    )
    assert r.returncode == 2, (
        f"a kept state inside .prov/ (file bind mount) vouched for the rolled-back log: {r.stdout}"
    )
    assert "is inside the store" in r.stderr
