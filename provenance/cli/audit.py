"""Commands of the audit log: verify it, and sign a checkpoint over it."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, app, command, echo, emit_json
from provenance.cli._kept_log import KeptStateOpt, extends_lines, held_states
from provenance.cli._trust import refuse_unpinned_checkpoint, trust_flags
from provenance.errors import VerificationError
from provenance.store import Store, coverage
from provenance.store import checkpoints as cps
from provenance.trust.pins import Pins

audit_app = typer.Typer(help="Check the store's audit log and sign checkpoints over it.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@command("verify", group=audit_app)
@trust_flags
def audit_verify(
    checkpoint: list[str] = typer.Option(
        [],
        "--checkpoint",
        help="A checkpoint or release attestation you kept earlier outside .prov/ (its JSON file): the log must "
        "extend the log state it signed (repeatable).",
    ),
    store_keys: bool = typer.Option(
        False,
        "--store-keys",
        help="With nothing pinned: check signatures against the keys found in .prov/ only. Not a trust "
        "decision (whoever can write .prov/ can plant a key); exit 0 says only that the log is consistent.",
    ),
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Check the hash chain, every signed checkpoint (and consistency between them) and every version's signed head; show pending entries.

    It also names the store's id of record (the id the earliest id-signing version signed), the id to pin
    with --store-id or PROV_STORE_ID.

    Signatures are checked against the keys you pin (--signer, PROV_SIGNERS, --root); with nothing pinned it
    exits 2, unless --store-keys asks for a check against the store's own keys, which decides nothing. A signed
    trust entry the log names whose statement is missing, altered or not verifying, or whose trust rows are
    gone, is exit 1 (prov fsck --repair writes deleted rows back).
    """
    store = Store.open_snapshot(pins=pins)  # one state for the chain, the checkpoints and what is reported
    pins.require_trust_decision("prov audit verify", store_keys)
    pinned = pins.maintainer_keys(store)
    # a kept file may be signed by any key you pin, one this store revokes too (attack review 14, A14-4)
    held = cps.trusted_keys(store, pins.known_keys(store))
    from provenance.gate.attestation_verify import kept_log_head

    heads = [(path, kept_log_head(store, path, held)) for path in checkpoint]
    kept = [head for _, head in heads if head is not None]
    names = {head.object: path for path, head in heads if head is not None}  # a mismatch names the file (F5)
    report = coverage.verify_log(store, pinned, kept, pins.known_keys(store), pins.retired_keys(store), names)
    # said on success, as prov commit --checkpoint says it: a kept state checked is not silent (newcomer review 19)
    report["extends"] = [{"path": path, "treeSize": head.size if head is not None else 0} for path, head in heads]
    # the id to pin, read from the signed history (prov init printed it once; newcomer review 20)
    from provenance.store import identity

    record = identity.of_record(store)
    report["store_id"] = None if record is None else {"id": record.store_id, "version": record.tag, "seq": record.seq}
    # the trust entries the log names (attack review 15, A15-4): a statement missing, altered or not verifying,
    # or its rows gone, is damage the gate acts on, so the log does not pass with it
    from provenance.trust.statements import log_problems

    problems = log_problems(store, pins.role_keys("commit", store))
    if problems:
        more = f" (and {len(problems) - 1} more: run prov fsck)" if len(problems) > 1 else ""
        raise VerificationError(f"audit log: {problems[0]}{more}")
    if json_out:
        emit_json(report)
        return
    from provenance.report.verify_text import audit_lines

    for line in audit_lines(report):
        echo(line)


@command("checkpoint", group=audit_app)
@trust_flags
def audit_checkpoint(
    key: str = typer.Option(..., "--key", envvar="PROV_KEY", help="Private key that signs the checkpoint (KEY.key)."),
    out: str | None = typer.Option(
        None,
        "--out",
        help="Write the checkpoint's envelope here instead, to keep outside the store: it signs the log as it is and "
        "writes nothing to .prov/ (no key registration, no stored checkpoint).",
    ),
    kept_state: list[str] = KeptStateOpt,
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Sign a checkpoint (RFC 9162 signed tree head) over the whole audit log now.

    With keys pinned, the key must be one of them (a maintainer's: commit, attest or waive): verifiers rely
    only on checkpoints by keys they pin, so another key's is refused (exit 2) before anything is written.
    Without --out the checkpoint is stored in .prov/ (the key is registered there on first use, an audit entry
    the checkpoint covers). With --out it is only written to that file, over exactly the log as it is: nothing
    is appended, so a CI runner keeps the log as pushed, not one with an entry of its own (attack review 18,
    F18-1); whoever reads the file must pin the key.
    """
    store = Store.open(pins=pins)
    signer = cps.CheckpointKey.load(key)
    refuse_unpinned_checkpoint(store, pins, signer, key)
    if out is not None:  # as prov commit --checkpoint-out: outside .prov/, no link, only a checkpoint replaced
        cps.checkpoint_out_path(store, out, "--out")
    held = held_states(store, kept_state, "checkpoint")  # a log cut back is not signed over (exit 1)
    if out is None:
        cp = cps.checkpoint_now(store, signer, held)
    else:  # the numbers shown are the file's, read back and checked against the log now (F17-1); on that same
        # reading the log must still hold each kept state, or nothing is written
        holds = [(k.path, k.head) for k in held.states if k.head is not None] if held is not None else []
        cp = cps.write_checkpoint_out(store, signer, out, "--out", holds)
    if json_out:
        emit_json(cp.to_dict())
        return
    echo(f"Checkpoint {cp.object[:12]}: {cp.size} entries, root {cp.root[:16]}, signed by key {cp.keyid[:16]}")
    if out is not None:
        echo(f"  wrote {out}")
    for line in extends_lines(held):
        echo(line)
