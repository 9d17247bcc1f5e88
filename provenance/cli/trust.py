"""``prov trust``: which keys may sign batches for which source (add, retire, revoke, list)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import typer

from provenance.cli._app import JsonFlag, app, command, echo, emit_json, note
from provenance.cli._kept_log import KeptStateOpt, extends_lines, held_states
from provenance.cli._trust import (
    CheckpointKeyOpt,
    KeptCheckpointOpt,
    RevocationCheckpointKeyOpt,
    echo_kept,
    echo_not_kept,
    given_on_command_line,
    kept_path,
    load_checkpoint_key,
    note_unpinned,
    open_store,
    refuse_unpinned_checkpoint,
    revocation_keeper,
    trust_flags,
)
from provenance.escaping import visible
from provenance.store import vouched
from provenance.trust.pins import Pins

if TYPE_CHECKING:
    import datetime as dt

    from provenance.store import Store
    from provenance.trust.source_keys import TrustedKey

trust_app = typer.Typer(help="Which keys may sign batches for which source.", no_args_is_help=True)
app.add_typer(trust_app, name="trust")


@command("add", group=trust_app)
@trust_flags
def trust_add(
    source: str = typer.Argument(..., metavar="SOURCE", help="Source name."),
    public_key: str = typer.Argument(..., metavar="KEY.pub", help="The source's public key (KEY.pub)."),
    valid_from: str | None = typer.Option(None, "--valid-from", help="Start of validity (ISO date/time)."),
    valid_until: str | None = typer.Option(None, "--valid-until", help="End of validity (ISO date/time)."),
    key: str | None = typer.Option(
        None,
        "--key",
        envvar="PROV_KEY",
        help="A maintainer's private key that signs the entry; verifiers pinning maintainer keys count only signed entries.",
    ),
    unsigned: bool = typer.Option(
        False,
        "--unsigned",
        help="Record the entry without a signature: verifiers who pin keys (--signer, PROV_SIGNERS, --root) ignore it.",
    ),
    checkpoint_key: str | None = CheckpointKeyOpt,
    kept_state: list[str] = KeptStateOpt,
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Trust a public key to sign batches for SOURCE (several keys per source rotate).

    The entry must be signed with --key MAINTAINER.key (a key verifiers pin); --unsigned records one they
    ignore. Run it again with --key to sign an entry added without one.
    """
    from provenance.trust import source_keys as trustlib

    checkpoint = load_checkpoint_key(checkpoint_key)  # a bad key fails before anything is written
    store = open_store(pins)
    refuse_unpinned_checkpoint(store, pins, checkpoint, checkpoint_key)  # and one no verifier relies on
    kept = held_states(store, kept_state, "trust entry")  # a log cut back is not signed over (exit 1)
    named = "select 1 from trust where source = ? union all select 1 from batches where source = ? limit 1"
    known = store.db.execute(named, [source, source]).fetchone() is not None  # a new name may be a typo
    entry = trustlib.add_key(
        store,
        source,
        public_key,
        valid_from,
        valid_until,
        signer=key,
        checkpoint=checkpoint,
        unsigned=unsigned,
        kept_log=kept,
    )
    if _window_ended(entry.valid_until):
        note(f"the key's validity window ended at {entry.valid_until}: it attests no batch captured after that")
    if json_out:
        emit_json(entry.to_dict() | {"signed": key is not None})
        return
    window = (
        f" valid {entry.valid_from or '-'} .. {entry.valid_until or '-'}"
        if entry.valid_from or entry.valid_until
        else ""
    )
    if key is None:
        echo(
            f"Recorded key {entry.keyid[:16]} for source {source!r}{window} UNSIGNED: verifiers who pin keys "
            f"(--signer, PROV_SIGNERS, --root) ignore it; sign it with `prov trust add {shlex.quote(source)} KEY.pub --key "
            "MAINTAINER.key`"
        )
    else:
        new = "" if known else " (a new source: no batch or trust entry is under that name yet)"
        echo(f"Trusted key {entry.keyid[:16]} for source {source!r}{window}{new}")
    for line in extends_lines(kept):
        echo(line)


def _window_ended(valid_until: str | None) -> bool:
    """Whether an ISO 8601 end of validity (naive = UTC) is already past."""
    from datetime import UTC, datetime

    if not valid_until:
        return False
    try:
        end = datetime.fromisoformat(valid_until)
    except ValueError:
        return False
    return (end if end.tzinfo else end.replace(tzinfo=UTC)) < datetime.now(UTC)


@command("revoke", group=trust_app)
@trust_flags
def trust_revoke(
    ctx: typer.Context,
    source: str = typer.Argument(..., metavar="SOURCE", help="Source name."),
    key_id: str | None = typer.Option(
        None, "--key-id", help="Key id (prefix, as prov trust list shows it) to revoke; default every key of SOURCE."
    ),
    key_alias: str | None = typer.Option(None, "--key", hidden=True),  # the old name of --key-id, for one release
    reason: str = typer.Option(..., "--reason", help="Why, for the audit log (required)."),
    yes: bool = typer.Option(
        False, "--yes", help="Revoke even though batches the key signed are registered (it cannot be undone)."
    ),
    checkpoint_key: str | None = RevocationCheckpointKeyOpt,
    out: str | None = KeptCheckpointOpt,
    kept_state: list[str] = KeptStateOpt,
    pins: Pins = Pins(),  # filled by @trust_flags: the --checkpoint-key must be a key they pin
    json_out: bool = JsonFlag,
) -> None:
    """Revoke one key of SOURCE, or all of them. Revocation is final and fails closed.

    When the key signed registered batches it is revoked only with --yes: their records stop being attested
    in every version, until the source signs the same records again with a new key prov trust add trusts: prov add
    registers them again (SOURCE@ROOT12.2) and the next commit attests them. With --checkpoint-key K on the command
    line (or --out F), the checkpoint over the revocation is also written outside .prov/: keep it where CI reads the
    kept log state, or a .prov/ writer can roll the revocation back unseen. PROV_KEY alone signs the checkpoint in
    .prov/ and writes no file.
    """
    from provenance.errors import InputError

    if key_alias is not None and key_id is not None and key_alias != key_id:
        raise InputError("--key is the old name of --key-id; give one of them")
    key = key_id if key_id is not None else key_alias
    if key_alias is not None and key_id is None and key_alias.endswith((".key", ".pub")):
        raise InputError(
            f"--key {key_alias!r}: prov trust revoke takes --key-id ID (as prov trust list shows it), not a key file"
        )
    from provenance.store.checkpoints import require_signed_revocation
    from provenance.trust import rowless

    signer = load_checkpoint_key(checkpoint_key, revocation=True)
    store = open_store(pins)  # the pins verify the logged entry of a key whose rows were deleted (F2)
    # a file only when asked for: --out, or --checkpoint-key typed, not PROV_KEY merely exported (newcomer finding)
    asked = given_on_command_line(ctx, "checkpoint_key")
    subject = f"{source}-{key}" if key else source
    kept = kept_path(store, signer, out, subject, asked)  # a bad path fails before any write
    refuse_unpinned_checkpoint(store, pins, signer, checkpoint_key)  # a checkpoint no verifier relies on
    held = held_states(store, kept_state, "revocation")  # a log cut back is not signed over (exit 1)
    if not yes:
        _refuse_signed_batches(store, source, key)
    what = f"{'key ' + key + ' of ' if key else 'the keys of '}source {source!r}"
    # kept inside the revocation's write, before its lock is released: no .prov/ writer cuts it first (F19b-1)
    keep = revocation_keeper(signer, kept, what, "prov trust list")
    revoked = rowless.revoke(store, source, key, reason, signer, keep, held)
    require_signed_revocation(store, signer, what)  # over a broken log: made, pending (exit 1)
    left = vouched.left_pending_note(store)  # signed over, not vouched for: they stay pending
    if left is not None:
        note(left)
    if json_out:
        emit_json(
            {
                "source": source,
                "revoked": [k.to_dict() for k in revoked],
                "kept_checkpoint": None if kept is None else str(kept),
            }
        )
        return
    for k in revoked:
        echo(f"Revoked key {k.keyid[:16]} of source {source!r} at {k.revoked_at}")
    for line in extends_lines(held):
        echo(line)
    if kept is not None:
        echo_kept(kept)
    elif signer is not None:
        echo_not_kept()


def _refuse_signed_batches(store: Store, source: str, key: str | None) -> None:
    """Refuse (exit 2) to revoke keys of ``source`` whose signed batches are registered, naming them, as
    ``prov keys revoke`` refuses a key that signed versions: the revocation cannot be undone. The keys are the ones
    the revocation would revoke (``trust.rowless.to_revoke``, which raises as the revocation would)."""
    from provenance.errors import InputError
    from provenance.trust import rowless

    ids = sorted(k.keyid for k in rowless.to_revoke(store, source, key))
    marks = ",".join("?" * len(ids))
    rows = store.db.execute(
        f"select batch, keyid from batches where source = ? and signed and keyid in ({marks}) order by batch",
        [source, *ids],
    ).fetchall()
    if rows:
        batches = _batch_names([b for b, _ in rows])
        keys = ", ".join(sorted({k[:16] for _, k in rows}))
        raise InputError(
            f"key {keys} of {source} signed {len(rows)} registered batch(es): {batches}; revoking it makes their "
            "records unattributed in every version and no command undoes it (the source may sign the same records "
            "again with a new key prov trust add trusts: prov add registers them again and the next commit attests "
            "them); pass --yes to revoke it"
        )


def _batch_names(batches: list[str]) -> str:
    """Batch ids as ``revoke`` and ``retire`` name them: the first five, then ``and N more``."""
    return ", ".join(batches[:5]) + (f" and {len(batches) - 5} more" if len(batches) > 5 else "")


@command("retire", group=trust_app)
@trust_flags
def trust_retire(
    source: str = typer.Argument(..., metavar="SOURCE", help="Source name."),
    key_id: str = typer.Option(..., "--key-id", help="Key id (prefix, as prov trust list shows it) to retire."),
    at: str | None = typer.Option(
        None, "--at", help="End of the key's validity (ISO date/time; default now). Batches registered later fail."
    ),
    key: str | None = typer.Option(
        None, "--key", envvar="PROV_KEY", help="A maintainer's private key (one your pins trust) that signs it."
    ),
    yes: bool = typer.Option(
        False,
        "--yes",
        help="Retire at a past --at even though batches the key signed were registered after it (they lose attestation).",
    ),
    checkpoint_key: str | None = CheckpointKeyOpt,
    kept_state: list[str] = KeptStateOpt,
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """End a source key's validity window (a rotation): batches registered by then stay attested, later ones fail.

    After `prov trust add SOURCE NEW.pub`, retire the old key: a batch it signs afterwards is refused like one of an
    expired key, judged by when a maintainer's signature (checkpoint or version) shows it registered, never by the
    capture time its holder writes. Unlike `prov trust revoke`, what was registered by then stays attested; a past
    --at before batches it signed takes their attestation away as a revocation does, so it names them and needs
    --yes, as revoke does (any end does so for a batch whose signature names no capture time). Final: no command
    lengthens the window again.
    """
    from provenance import clock
    from provenance.errors import InputError
    from provenance.lineage.standing import lost_by_window_end
    from provenance.trust import rowless
    from provenance.trust import source_keys as trustlib

    checkpoint = load_checkpoint_key(checkpoint_key)  # a bad key fails before anything is written
    store = open_store(pins)
    refuse_unpinned_checkpoint(store, pins, checkpoint, checkpoint_key)
    kept = held_states(store, kept_state, "retirement")  # a log cut back is not signed over (exit 1)
    trustlib.validate_source(source)
    known = pins.source_keys(store, source)  # the keys your pins count (all the store's with nothing pinned)
    if not pins.pinned:  # also a key the log trusts whose rows were deleted (attack review 16, F2)
        known = rowless.revocable(store, source)
    if not known:
        raise InputError(f"source {source!r} has no trusted keys (see `prov trust list`)")
    target = trustlib.resolve_keyid(known, key_id, source)
    end = None if at is None else clock.parse(at, "--at")
    lost: list[str] = []
    if not target.revoked_at:  # a revoked key attests nothing to ask about: source_keys.retire refuses it
        if (end is None and checkpoint is None) or (end is not None and end >= clock.now()):
            _refuse_undated(store, target, end)  # the next signature may date them after the end
        lost = lost_by_window_end(store, target, end)
    if lost and not yes:
        _refuse_lost(target, end, lost)
    entry = rowless.retire(store, target, key, at, checkpoint, kept)
    if json_out:
        emit_json(entry.to_dict() | {"no_longer_attested": lost})
        return
    if lost:  # what it takes away, said as revoke says it (review 24a, item 4)
        why = (
            "their signature names no capture time, or one after now"
            if end is None
            else "a maintainer's signature shows them registered after it, or none yet, or their signature names no "
            "capture time or a later one"
        )
        echo(
            f"Retired key {entry.keyid[:16]} of source {source!r}: valid until {entry.valid_until}, before {len(lost)} "
            f"registered batch(es) it signed: {_batch_names(lost)} ({why}); their records are no longer attested in "
            "any version, and batches it signs that are registered later are refused"
        )
    else:
        echo(
            f"Retired key {entry.keyid[:16]} of source {source!r}: valid until {entry.valid_until}; batches it signs "
            "that are registered later are refused, what a maintainer's signature shows registered by then stays "
            "attested"
        )
    for line in extends_lines(kept):
        echo(line)


def _refuse_undated(store: Store, target: TrustedKey, end: dt.datetime | None) -> None:
    """Refuse (exit 2) to end ``target``'s window now (``end`` None) or at a time not before now while batches it
    signed are registered by entries no maintainer's signature covers yet: the next signature may date them after
    the end, and they would lose their attestation with no one asked (attack review 13, T13-1; for an ``--at`` not
    before now, attack review 24a). ``--checkpoint-key`` with no ``--at`` signs the log before the end; a past
    ``--at`` names them among the batches it takes attestation from. Read from the hash-chained log
    (``lineage.standing.undated_registrations``), not from the ``batches`` rows a ``.prov/`` writer can mark unsigned
    (A24a-2)."""
    from provenance.errors import InputError
    from provenance.lineage.standing import undated_registrations
    from provenance.trust.source_keys import precise_iso

    undated = undated_registrations(store, target)
    if not undated:
        return
    head = (
        f"key {target.keyid[:16]} of {target.source} signed {len(undated)} batch(es) no maintainer's signature "
        f"dates yet ({_batch_names(undated)})"
    )
    if end is None:
        raise InputError(
            f"{head}: ending its window now would date them after it, unattested; give --checkpoint-key K, which signs "
            "the log before the end"
        )
    raise InputError(
        f"--at {precise_iso(end)}: {head}: a signature made after that time would date them after the end, "
        "unattested; sign the log first (prov audit checkpoint --key K), then retire"
    )


def _refuse_lost(target: TrustedKey, end: dt.datetime | None, lost: list[str]) -> None:
    """Refuse (exit 2) an end (``--at``, or now for ``end`` None) that takes attestation away from registered batches
    (``lineage.standing.lost_by_window_end``), naming them as ``_refuse_signed_batches`` names a revocation's."""
    from provenance import clock
    from provenance.errors import InputError

    if end is None:
        when, which = "ending its window now", "whose signature names no capture time, or one after now"
    else:
        when = f"--at {clock.iso(end)}"
        which = (
            "a maintainer's signature shows registered after it (or none yet), or whose signature names no capture "
            "time or a later one"
        )
    raise InputError(
        f"{when}: key {target.keyid[:16]} of {target.source} signed {len(lost)} registered batch(es) {which}: "
        f"{_batch_names(lost)}; retiring it then makes their records unattributed in every version and no command "
        "lengthens the window again; pass --yes to retire it"
    )


def _window(row: dict) -> str:
    """A trust entry's validity window in words: ``valid T to no end``, or ``no validity window``."""
    vf, vu = row["valid_from"], row["valid_until"]
    return f"valid {vf or 'from the start'} to {vu or 'no end'}" if vf or vu else "no validity window"


@command("list", group=trust_app)
@trust_flags
def trust_list(pins: Pins = Pins(), json_out: bool = JsonFlag) -> None:
    """List trusted keys per source with their status (active, revoked, expired) and whether your pins count them.

    Under your pins, a key they count whose trust rows were deleted from .prov/ is listed too, marked
    "rows missing (prov fsck --repair)": the gate reads its trust from the signed audit log. A revocation is read
    from the audit log's trust.revoke entry as well as the row: a row that says revoked while the log holds no such
    entry is marked "row says revoked, log does not" (the log was rolled back past the revocation); under your pins,
    one whose entry no checkpoint a pinned key signed covers is marked "log entry pending, no checkpoint you pin
    covers it": if you revoked it, revoke it again with prov trust revoke; if you did not, a .prov/ writer appended
    it: restore .prov/ from a copy you trust.
    """
    from provenance.trust import revocations
    from provenance.trust import source_keys as trustlib
    from provenance.trust.logged_revocations import logged_source_revocations, signed_revocation, signed_through

    store = open_store(pins)
    gate = pins.source_keys(store) if pins.pinned else []
    counted = {(k.source, k.keyid) for k in gate} if pins.pinned else None
    retired, revoked = revocations.retired_source_keys(store), revocations.revoked_source_keys(store)
    shown = [
        revocations.with_revocation(revocations.with_retirement(k, retired), revoked) for k in trustlib.entries(store)
    ]
    have = {(k.source, k.keyid) for k in shown}
    # every key the gate counts, also one whose rows a .prov/ writer deleted (attack review 16, F2: "No trusted
    # keys" while the gate trusted the key from the log)
    without_rows = [k for k in gate if (k.source, k.keyid) not in have]
    logged = logged_source_revocations(store)
    rows = [
        k.to_dict() | {"counted": None if counted is None else (k.source, k.keyid) in counted, "rows_missing": False}
        for k in shown
    ] + [k.to_dict() | {"counted": True, "rows_missing": True} for k in without_rows]
    through = signed_through(store) if pins.pinned else None
    for r in rows:
        entry = logged.get((r["source"], r["keyid"]))
        r["revoked_in_log"] = entry is not None
        # as prov trust revoke judges "already revoked": only under a head a pinned key signed (A22a-3)
        r["revocation_signed"] = signed_revocation(entry, through) if pins.pinned and entry is not None else None
        if entry is not None:  # the reason the log holds, not the row's (attack review 21a, A21a-4)
            r["revoked_reason"] = entry["reason"] if isinstance(entry["reason"], str) else None
        # every entry of the key: none can be told to be the maintainer's (attack review 23a, A23a-2)
        r["revocation_entries"] = (
            revocations.revocation_entries(entry, through, pins.pinned) if entry is not None else []
        )
    rows.sort(key=lambda r: (r["source"], r["added_at"], r["keyid"]))
    if json_out:
        emit_json({"keys": rows, "trust": pins.to_dict()})
        return
    windows = [_window(r) for r in rows]
    wide = max([len("validity"), *(len(w) for w in windows)])  # "(under your pins)" over its column, not beside
    if not rows:
        echo("No trusted keys. Add one with 'prov trust add SOURCE KEY.pub --key MAINTAINER.key'.")
    else:  # a header, and every column in words (newcomer review 9, finding 11: "valid - .. -  counted")
        # no padding after the last column: with nothing pinned "validity" ends the header (newcomer review 21, 17)
        echo(
            (
                f"{'source':<16} {'key':<16}  {'status':<13} {'validity':<{wide}}"
                + ("  (under your pins)" if counted is not None else "")
            ).rstrip()
        )
    for r, window in zip(rows, windows):
        if r["rows_missing"]:
            mark = (
                "  counted, from the root (no trust rows)"
                if pins.root is not None
                else "  counted, rows missing (prov fsck --repair)"
            )
        elif r["counted"] is None:
            mark = ""
        else:
            mark = (
                "  counted"
                if r["counted"]
                else "  NOT counted (an unsigned entry, signed by a key you did not pin, or for another store)"
            )
        # the revocation after the mark, so the mark stays under "(under your pins)"; a counted revoked entry is
        # one whose revocation counts, not a key still trusted (newcomer review 21: "revoked ... counted")
        why = f", reason {revocations.shown_reason(r['revoked_reason'])}" if r["revoked_reason"] else ""
        revocation = ""
        if r["revoked_at"]:
            held = "the revocation counts: " if r["counted"] and r["revoked_in_log"] else ""
            several = revocations.entries_text(r["revocation_entries"])
            revocation = f" ({held}revoked {visible(str(r['revoked_at']))}{why}{several})"
        if r["revoked_at"] and not r["revoked_in_log"]:
            revocation += (
                f"  {revocations.ROW_ONLY}: if you revoked it, the log was rolled back: revoke it again (prov trust "
                f"revoke {visible(shlex.quote(r['source']))} --key-id {visible(r['keyid'][:16])} --reason R); if you "
                "did not, the row was edited: restore .prov/ from a copy you trust"
            )
        if r["revocation_signed"] is False:
            revocation += (
                "  "
                + revocations.pending_advice(  # asks first, as ROW_ONLY's does (A24a-3)
                    f"prov trust revoke {visible(shlex.quote(r['source']))} --key-id {visible(r['keyid'][:16])} "
                    "--reason R --checkpoint-key K"
                )
            )
        echo(f"{r['source']:<16} {r['keyid'][:16]}  {r['status']:<13} {window:<{wide}}{mark}{revocation}".rstrip())
    if pins.pinned and pins.root is None:  # a maintainer's statement copied from another store (attack review 16c)
        from provenance.trust.statements import foreign_entries

        for f in foreign_entries(store, pins.role_keys("commit", store)):
            echo(f"WARNING: {f.line()} (prov audit verify fails on it)")
    note_unpinned(pins)
