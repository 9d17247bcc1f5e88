"""Commands for signing at source and lineage: sign, trust, add, withdraw, lineage, sources, quarantine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from provenance.cli._app import JsonFlag, app, command, echo, emit_json, note
from provenance.cli._dataset import DatasetFlags, dataset_flags
from provenance.cli._trust import KeptCheckpointOpt, echo_kept, kept_path, note_unpinned, trust_flags
from provenance.errors import InputError
from provenance.escaping import visible
from provenance.trust.pins import Pins

if TYPE_CHECKING:
    from provenance.store import Store
    from provenance.store.checkpoints import CheckpointKey

# Library modules are imported inside each command (lazy start-up: `prov sign` does not load
# the commit pipeline or the store's sqlite-utils, `prov trust list` no pyarrow).


def _open_store(pins: Pins | None = None) -> Store:
    from provenance.store import Store

    return Store.open(pins=pins)


trust_app = typer.Typer(help="Which keys may sign batches for which source.", no_args_is_help=True)
app.add_typer(trust_app, name="trust")

SourceOpt = typer.Option(..., "--source", help="Name of the source (vendor, crowd batch, scraper).")
CheckpointKeyOpt = typer.Option(
    None,
    "--checkpoint-key",
    envvar="PROV_KEY",
    help="Private key (KEY.key) that signs an audit checkpoint over the log after this change (else it is pending).",
)


def _checkpoint(path: str | None) -> CheckpointKey | None:
    from provenance.store.checkpoints import CheckpointKey

    return CheckpointKey.load(path) if path else None


@command("sign")
@dataset_flags
def sign(
    data: str = typer.Argument(..., help="Table file, folder of tables, or file tree to sign."),
    source: str = SourceOpt,
    key: str = typer.Option(..., "--key", envvar="PROV_SOURCE_KEY", help="The source's private key (KEY.key)."),
    out: str | None = typer.Option(None, "--out", help="Envelope path (default DATA.prov.json; - for stdout)."),
    captured_at: str | None = typer.Option(None, "--captured-at", help="Capture time, ISO (default now)."),
    force: bool = typer.Option(False, "--force", help="Replace an envelope already at the output path."),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    json_out: bool = JsonFlag,
) -> None:
    """Sign a batch at source (no store, no network): writes DATA.prov.json.

    An envelope already at that path is left as it is (exit 2) unless --force replaces it.
    """
    spec = flags.spec(data)
    from provenance.lineage import batch_sign

    result = batch_sign.sign_batch(spec, source, key, out, captured_at, replace=force)
    if out == "-":  # the envelope itself went to stdout
        return
    if json_out:
        emit_json(result.to_dict())
        return
    echo(f"Signed {result.records} records of {data} as source {result.source!r}: wrote {result.envelope}")
    echo(f"  Merkle root {result.merkle_root[:16]}…, key {result.keyid[:16]}, captured {result.captured_at}")


@command("add", group=trust_app)
@trust_flags
def trust_add(
    source: str = typer.Argument(..., help="Source name."),
    public_key: str = typer.Argument(..., help="The source's public key (KEY.pub)."),
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
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Trust a public key to sign batches for SOURCE (several keys per source rotate).

    The entry must be signed with --key MAINTAINER.key (a key verifiers pin); --unsigned records one they
    ignore. Run it again with --key to sign an entry added without one.
    """
    from provenance.trust import source_keys as trustlib

    checkpoint = _checkpoint(checkpoint_key)  # a bad key fails before anything is written
    store = _open_store(pins)
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
            f"(--signer, PROV_SIGNERS, --root) ignore it; sign it with `prov trust add {source} KEY.pub --key "
            "MAINTAINER.key`"
        )
        return
    new = "" if known else " (a new source: no batch or trust entry is under that name yet)"
    echo(f"Trusted key {entry.keyid[:16]} for source {source!r}{window}{new}")


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
def trust_revoke(
    source: str = typer.Argument(..., help="Source name."),
    key: str | None = typer.Option(None, "--key", help="Key id (prefix) to revoke; default every key of SOURCE."),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit log."),
    checkpoint_key: str | None = CheckpointKeyOpt,
    out: str | None = KeptCheckpointOpt,
    json_out: bool = JsonFlag,
) -> None:
    """Revoke one key of SOURCE, or all of them. Revocation is final and fails closed.

    With --checkpoint-key, the checkpoint over the revocation is also written outside .prov/ (--out): keep it
    where CI reads the kept log state, or a .prov/ writer can roll the revocation back unseen.
    """
    from provenance.store import checkpoints as cps
    from provenance.trust import source_keys as trustlib

    signer = _checkpoint(checkpoint_key)
    kept = kept_path(signer, out, f"{source}-{key}" if key else source)  # a bad path fails before any write
    store = _open_store()
    revoked = trustlib.revoke(store, source, key, reason, signer)
    if kept is not None:
        assert signer is not None
        cps.keep_checkpoint(store, signer, kept)
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
    if kept is not None:
        echo_kept(kept)


@command("list", group=trust_app)
@trust_flags
def trust_list(pins: Pins = Pins(), json_out: bool = JsonFlag) -> None:
    """List trusted keys per source with their status (active, revoked, expired) and whether your pins count them."""
    from provenance.trust import source_keys as trustlib

    store = _open_store(pins)
    counted = {(k.source, k.keyid) for k in pins.source_keys(store)} if pins.pinned else None
    rows = [
        k.to_dict() | {"counted": None if counted is None else (k.source, k.keyid) in counted}
        for k in trustlib.entries(store)
    ]
    if json_out:
        emit_json({"keys": rows, "trust": pins.to_dict()})
        return
    if not rows:
        echo("No trusted keys. Add one with `prov trust add SOURCE KEY.pub --key MAINTAINER.key`.")
    for r in rows:
        mark = "" if r["counted"] is None else ("  counted" if r["counted"] else "  NOT counted (unsigned or unpinned)")
        echo(
            f"{r['source']:<16} {r['keyid'][:16]}  {r['status']:<13} valid {r['valid_from'] or '-'} .. "
            f"{r['valid_until'] or '-'}" + (f"  revoked {r['revoked_at']}" if r["revoked_at"] else "") + mark
        )
    note_unpinned(pins)


@command("add")
@dataset_flags
@trust_flags
def add(
    data: str = typer.Argument(..., help="The batch: table file, folder of tables, or file tree."),
    source: str = SourceOpt,
    envelope: str | None = typer.Option(
        None, "--envelope", help="Its signed envelope (default DATA.prov.json if present)."
    ),
    unsigned: bool = typer.Option(
        False, "--unsigned", help="Register an unsigned batch (needed when there is no envelope; never implied)."
    ),
    checkpoint_key: str | None = CheckpointKeyOpt,
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Register a batch and its records; a signed batch is verified first against the keys trusted for its source."""
    from provenance.lineage import register

    spec = flags.spec(data)
    checkpoint = _checkpoint(checkpoint_key)  # a bad key fails before any data is read
    result = register.add_batch(_open_store(pins), spec, source, envelope, unsigned, checkpoint=checkpoint)
    if json_out:
        emit_json(result.to_dict())
        return
    how = f"signed by key {(result.keyid or '')[:16]}" if result.signed else "UNSIGNED"
    echo(f"Added batch {result.batch}: {result.records} records from {source!r}, {how}")


@command("withdraw")
@trust_flags
def withdraw(
    batch: str = typer.Argument(..., help="The registered batch, SOURCE@ROOT12 as prov add and prov sources print it."),
    reason: str = typer.Option(..., "--reason", help="Why it is not shipped, for a later reader."),
    key: str | None = typer.Option(None, "--key", envvar="PROV_KEY", help="Maintainer key (role commit) that signs."),
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Sign that a registered batch is not shipped, so its missing records do not block unsigned additions."""
    if not key:
        raise InputError(
            "withdraw needs --key KEY.key (or PROV_KEY): a withdrawal counts only if a commit key signs it"
        )
    from provenance.lineage.withdraw import withdraw_batch

    result = withdraw_batch(_open_store(pins), batch, key, reason)
    if json_out:
        emit_json(result)
        return
    echo(
        f"Withdrew batch {visible(batch)}: signed by key {result['keyid'][:16]}, withdrawal {result['withdrawal'][:16]}"
    )


@command("lineage")
@trust_flags
def lineage_cmd(
    digest: str = typer.Argument(..., help="A record digest (hex, a unique prefix is enough)."),
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Where a record came from: source, batch, signing key, and its label in every version."""
    from provenance.lineage import classify as lineage
    from provenance.lineage import queries

    info = queries.record_lineage(_open_store(pins), digest)
    note_unpinned(pins)
    if json_out:
        emit_json(info)
        return
    echo(f"Record {info['digest']}")
    if not info["batches"]:
        echo("  in no registered batch")
    for b in info["batches"]:
        signer = f"signed by key {b['keyid'][:16]} ({b['key_status']})" if b["signed"] else "unsigned"
        echo(f"  batch {b['batch']} from {b['source']!r}, {signer}, label {visible(b['label'])}")
    echo(f"  first in version {info['first_version'] or '(none)'}")
    for v in info["versions"]:
        if v["present"]:
            extra = f" (signed {visible(v['signed_label'])})" if v["status"] == lineage.RELABELED else ""
            echo(f"  {v['version']:<12} label {visible('/'.join(v['labels']))}  {v['status']}{extra}")
        else:
            echo(f"  {v['version']:<12} absent")


@command("sources")
@trust_flags
def sources(
    version: str | None = typer.Option(None, "--version", help="Version to count lineage in (default latest)."),
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Each source with its batches, records, signed fraction and relabels."""
    from provenance.lineage import queries
    from provenance.store import Store

    info = queries.source_summary(Store.open_snapshot(pins=pins), version)  # one state for lineage and withdrawals
    note_unpinned(pins)
    if json_out:
        emit_json(info)
        return
    if not info["sources"]:
        echo("No sources yet. Register batches with `prov add DATA --source S`.")
    echo(
        f"{'source':<16} {'batches':>7} {'records':>8} {'signed':>7}  in {info['version'] or '-'}: "
        "attested / relabeled / unattributed"
    )
    for s in info["sources"]:
        frac = f"{100 * s['signed_fraction']:.0f}%" if s["signed_fraction"] is not None else "-"
        echo(
            f"{visible(s['source']):<16} {s['batches']:>7} {s['records']:>8} {frac:>7}  "
            f"{s['attested']} / {s['relabeled_after_source']} / {s['unattributed']}"
        )
    if info["unattributed_without_source"]:
        echo(f"(no batch) {info['unattributed_without_source']} unattributed records")
    from provenance.lineage.standing import not_trusted_line

    for item in info["lineage_not_trusted"]:
        echo(f"under your pins, {not_trusted_line(item)}")
    from provenance.lineage.withdraw import withdrawal_line

    for w in info["withdrawals"]:
        echo(withdrawal_line(w))


@command("quarantine")
@trust_flags
def quarantine(
    from_tag: str = typer.Option(..., "--from", help="Version to start from."),
    tag: str = typer.Option(..., "--tag", help="Name of the new version."),
    source: str | None = typer.Option(None, "--source", help="Source whose records are cut out."),
    findings: str | None = typer.Option(None, "--findings", help="Findings JSON (prov diff --detect --format json)."),
    base: str | None = typer.Option(
        None, "--base", help="With --findings: the base the detectors re-run against (default the one the file names)."
    ),
    fpr: float | None = typer.Option(
        None, "--fpr", help="With --findings: false-positive rate the re-run combines at (default 0.01, as prov diff)."
    ),
    key: str | None = typer.Option(None, "--key", envvar="PROV_KEY", help="Private key that signs the new version."),
    out: str | None = typer.Option(
        None, "--out", help="Where to write the filtered dataset (default beside the original)."
    ),
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """A new signed version without one source's (or the flagged) records.

    With --findings the detectors run again on the signed versions; only records that run flags are cut.
    """
    if not key:
        raise InputError("quarantine needs --key KEY.key (or PROV_KEY) to sign the new version")
    from provenance.lineage.quarantine import quarantine as quarantine_version

    store = _open_store(pins)
    result = quarantine_version(store, from_tag, tag, key, source, findings, out, base=base, fpr=fpr)
    for line in result.notes:
        note(line)
    if json_out:
        emit_json(result.to_dict())
        return
    what = f"source {source!r}" if source else f"findings in {findings}"
    echo(f"Quarantined {what}: {result.removed} records removed, {result.kept} kept")
    detection = result.reason.get("detection")
    if detection:
        echo(
            f"  re-ran {len(detection['detectors'])} detectors on {detection['version']} against {detection['base']} "
            f"at fpr {detection['fpr']:g}: {detection['flagged']} of {detection['scored']} records flagged"
        )
    echo(f"  wrote {result.output}; committed {tag} (parent {from_tag}), root {result.commit['merkle_root'][:16]}…")
    same = _same_records(store, tag, result.commit["merkle_root"])
    if same:  # as prov commit says "identical to V" (newcomer review 8, finding 21)
        echo(f"  identical to {', '.join(same)} (same records and labels): the quarantine lands back on it")


def _same_records(store: Store, tag: str, root: str) -> list[str]:
    """Other versions whose *signed* Merkle root is ``root`` (a row's root is only where to look)."""
    from provenance.errors import VerificationError
    from provenance.signing import subject_root
    from provenance.version_facts import verified_statement

    rows = store.db.execute("select * from versions where merkle_root = ? and tag != ?", [root, tag])
    names = [d[0] for d in rows.description]
    out = []
    for row in (dict(zip(names, r)) for r in rows.fetchall()):
        try:
            if subject_root(verified_statement(store, row)).hex() == root:
                out.append(row["tag"])
        except VerificationError:
            continue  # a row that does not verify under the pins names nothing here
    return out
