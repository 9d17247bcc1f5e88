"""``prov keys``: generate a key pair (no store needed), register, revoke and list maintainer keys."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, app, command, echo, emit_json, note
from provenance.cli._kept_log import KeptStateOpt, extends_lines, held_states
from provenance.cli._trust import (
    KeptCheckpointOpt,
    echo_kept,
    kept_path,
    refuse_unpinned_checkpoint,
    revocation_keeper,
    trust_flags,
)
from provenance.errors import InputError
from provenance.escaping import visible
from provenance.store import Store, vouched
from provenance.trust.pins import Pins

keys_app = typer.Typer(
    help="Generate signing keys (no store needed); register, revoke or list them.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@command("generate", group=keys_app)
def keys_generate(
    name: str = typer.Argument(..., metavar="NAME", help="Writes NAME.key (0600) and NAME.pub."),
    json_out: bool = JsonFlag,
) -> None:
    """Generate an Ed25519 key pair. Set PROV_PASSPHRASE to encrypt the private key.

    Inside a git work tree, a private key git does not already ignore is added to the .gitignore beside it
    (said on stderr), so `git add -A` does not commit it; a .gitignore that is a symbolic link is not written
    through, and a key git still does not ignore is named in a warning.
    """
    from pathlib import Path

    from provenance import keys as keylib
    from provenance.workspace import ignore_private_key

    Path(name).parent.mkdir(parents=True, exist_ok=True)  # `prov keys generate keys/committer` makes keys/
    pair = keylib.generate(name)
    ignore = ignore_private_key(pair.private_path)  # in a git work tree: keep it from `git add -A`
    if ignore.written is not None and ignore.warning is None:
        note(
            f"{ignore.written}: added /{pair.private_path.name}, so git does not commit the private key (commit the .pub)"
        )
    if ignore.warning is not None:  # the key is written all the same: say what git would do with it
        typer.echo(f"Warning: {visible(ignore.warning)}", err=True)
    if json_out:
        emit_json({"private_key": str(pair.private_path), "public_key": str(pair.public_path), "keyid": pair.keyid})
    else:
        import os

        # say it is unencrypted: a vendor learnt only from an error later that PROV_PASSPHRASE encrypts it
        # (newcomer review 11, finding 20.4)
        locked = "encrypted" if os.environ.get("PROV_PASSPHRASE") else "unencrypted: set PROV_PASSPHRASE to encrypt it"
        echo(f"Wrote {pair.private_path} (private, mode 0600, {locked}) and {pair.public_path}")
        echo(f"Key id: {pair.keyid[:16]}")  # 16 hex, as every message and prov log name keys


@command("register", group=keys_app)
@trust_flags
def keys_register(
    public_key: str = typer.Argument(..., metavar="KEY.pub", help="A reviewer's or committer's KEY.pub."),
    name: str = typer.Option(..., "--name", help="Who holds the key."),
    kept_state: list[str] = KeptStateOpt,
    pins: Pins = Pins(),  # filled by @trust_flags: they verify the kept states given
    json_out: bool = JsonFlag,
) -> None:
    """Register a public key in the store (committers are registered by their first commit)."""
    from provenance import versions

    store = Store.open(pins=pins)
    held = held_states(store, kept_state, "key registration")  # a log cut back is not extended (exit 1)
    result = versions.register_key(store, public_key, name, held)
    if json_out:
        emit_json(result)
        return
    echo(f"Registered key {result['keyid'][:16]} for {name}")
    for line in extends_lines(held):
        echo(line)


@command("revoke", group=keys_app)
@trust_flags
def keys_revoke(
    keyid: str = typer.Argument(
        ..., metavar="KEYID", help="The key id (at least 8 hex characters) of a committer, reviewer or attester."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit log."),
    checkpoint_key: str | None = typer.Option(
        None,
        "--checkpoint-key",
        help="Another maintainer's private key (KEY.key) that signs an audit checkpoint over the revocation "
        "(else it is pending, and whoever can write .prov/ could rewrite it).",
    ),
    out: str | None = KeptCheckpointOpt,
    kept_state: list[str] = KeptStateOpt,
    yes: bool = typer.Option(
        False, "--yes", help="Revoke even though versions this key signed then stop verifying (it cannot be undone)."
    ),
    pins: Pins = Pins(),  # filled by @trust_flags: the --checkpoint-key must be a key they pin
    json_out: bool = JsonFlag,
) -> None:
    """Revoke a key in this store: prov stops committing with it and stops trusting what it signed.

    A key that signed versions is revoked only with --yes: those versions stop verifying and every check of
    them blocks, for good (re-commit their data with another key, into a new store). Verifiers that pin the key elsewhere must
    drop it too: take it out of PROV_SIGNERS, or publish a new root without it. With --checkpoint-key, the
    checkpoint over the revocation is also written outside .prov/ (--out): keep it where CI reads the kept log state.
    """
    from provenance.store.checkpoints import CheckpointKey, require_signed_revocation
    from provenance.trust.maintainer_keys import key_to_revoke, revoke_key

    checkpoint = CheckpointKey.load(checkpoint_key, True) if checkpoint_key else None  # a bad key: before any write
    store = Store.open(pins=pins)
    kept = kept_path(store, checkpoint, out, keyid)  # and a bad --out (-, inside .prov/, there already)
    refuse_unpinned_checkpoint(store, pins, checkpoint, checkpoint_key)  # a checkpoint no verifier relies on
    held = held_states(store, kept_state, "revocation")  # a log cut back is not signed over (exit 1)
    # judged from the log: a row that says revoked is no revocation the log holds, a .prov/ writer plants it (A21c-1)
    row = key_to_revoke(store, keyid)
    signed = [v["tag"] for v in store.versions() if v["keyid"] == row["keyid"]]
    if signed and not yes:
        raise InputError(
            f"key {row['keyid'][:16]} ({row['name']}) signed {len(signed)} version(s): {', '.join(signed)}; revoking it "
            "makes them stop verifying and every check of them block, and no command undoes it (recover by "
            "committing their data again with another key into a new store); pass --yes to revoke it"
        )
    # kept inside the revocation's write, before its lock is released: no .prov/ writer cuts it first (F19b-1)
    keep = revocation_keeper(checkpoint, kept, f"key {row['keyid'][:16]} ({row['name']})", "prov keys list")
    result = revoke_key(store, keyid, reason, checkpoint, keep, held)
    require_signed_revocation(store, checkpoint, f"key {row['keyid'][:16]} ({row['name']})")  # made, pending
    left = vouched.left_pending_note(store)  # signed over, not vouched for: they stay pending
    if left is not None:
        note(left)
    if json_out:
        emit_json(result | {"kept_checkpoint": None if kept is None else str(kept)})
        return
    echo(f"Revoked key {result['keyid'][:16]} ({result['name']}) at {result['revoked_at']}")
    if result["versions"]:
        echo(f"  versions it signed no longer verify: {', '.join(result['versions'])}")
    echo("  verifiers that pin it must drop it too (PROV_SIGNERS, or a new root without it)")
    for line in extends_lines(held):
        echo(line)
    if result["versions"]:
        # in this store a commit or check whose history holds one fails (newcomer review 20): docs/security-model.md, A stolen key
        echo("  to recover them: commit their data again, oldest first, with another key verifiers pin, into a new")
        echo("  store (prov init in a fresh checkout): here a commit or check whose history holds one fails")
    if kept is not None:
        echo_kept(kept)


@command("list", group=keys_app)
@trust_flags
def keys_list(pins: Pins = Pins(), json_out: bool = JsonFlag) -> None:
    """List the maintainer keys registered in this store (committers, reviewers, attesters), revoked ones too.

    Read from the store, not a trust decision: the keys a check trusts are the ones you pin
    (--signer, PROV_SIGNERS, --root). Source keys are in 'prov trust list'. A revocation is read from the audit
    log's key.revoke entry (with its --reason) as well as the row: a row that says revoked while the log holds no
    such entry is marked "row says revoked, log does not" (the log was rolled back past the revocation); under your
    pins, one whose entry no checkpoint a pinned key signed covers is marked "log entry pending, no checkpoint you pin
    covers it", as prov trust list marks a source key's: if you revoked it, revoke it again with prov keys revoke;
    if you did not, a .prov/ writer appended it: restore .prov/ from a copy you trust.
    """
    from provenance.trust.logged_revocations import logged_maintainer_revocations, signed_revocation, signed_through
    from provenance.trust.revocations import ROW_ONLY, entries_text, pending_advice, revocation_entries, shown_reason

    store = Store.open(pins=pins)
    logged = logged_maintainer_revocations(store)
    # as prov keys revoke judges "already revoked": only under a head a pinned key signed (A22a-3; review 24a)
    through = signed_through(store) if pins.pinned else None
    rows = []
    for r in store.db["keys"].rows_where(order_by="registered_at"):
        entry = logged.get(r["keyid"])  # a revocation counts wherever it is found: the row or the log
        # the time the log's entry holds, not the row's, which a .prov/ writer edits (attack review 21c, A21c-2)
        revoked_at = (entry["revoked_at"] or "?") if entry is not None else r["revoked_at"]
        rows.append(
            {k: r[k] for k in ("keyid", "name", "registered_at")}
            | {"revoked_at": revoked_at, "reason": None if entry is None else entry["reason"]}
            | {"revoked_in_log": entry is not None}
            | {"revocation_signed": signed_revocation(entry, through) if pins.pinned and entry is not None else None}
            # every entry of the key, none picked as the maintainer's (A23a-2, A23a-6); pending marked under pins
            | {"revocation_entries": revocation_entries(entry, through, pins.pinned) if entry is not None else []}
        )
    if json_out:
        emit_json({"keys": rows})
        return
    if not rows:
        echo(
            "No keys registered yet: a committer's key registers on its first commit ('prov keys register' for others)."
        )
        return
    echo(f"{'key':<16}  {'status':<8} {'registered':<25} name")
    for r in rows:
        status = "revoked" if r["revoked_at"] else "active"
        why = f", reason {shown_reason(r['reason'])}" if r["reason"] else ""
        several = entries_text(r["revocation_entries"])
        revoked = f"  (revoked {visible(str(r['revoked_at']))}{why}{several})" if r["revoked_at"] else ""
        if r["revoked_at"] and not r["revoked_in_log"]:
            revoked += (
                f"  {ROW_ONLY}: if you revoked it, the log was rolled back: revoke it again (prov keys revoke "
                f"{visible(r['keyid'][:16])} --yes, which cannot be undone); if you did not, the row was edited: "
                "restore .prov/ from a copy you trust"
            )
        if r["revocation_signed"] is False:
            revoked += "  " + pending_advice(
                f"prov keys revoke {visible(r['keyid'][:16])} --reason R --checkpoint-key K"
            )  # asks first, as ROW_ONLY's does (A24a-3)
        echo(f"{r['keyid'][:16]}  {status:<8} {r['registered_at'] or '-':<25} {visible(r['name'] or '-')}{revoked}")
