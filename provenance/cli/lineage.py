"""Commands for signing at source and lineage: sign, trust, add, lineage, sources, quarantine."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, app, command, echo, emit_json
from provenance.cli._dataset import DatasetFlags, dataset_flags
from provenance.errors import InputError
from provenance.store import Store

# Library modules are imported inside each command (lazy start-up: `prov sign` does not load
# the commit pipeline, `prov trust list` no pyarrow).

trust_app = typer.Typer(help="Which keys may sign batches for which source.", no_args_is_help=True)
app.add_typer(trust_app, name="trust")

SourceOpt = typer.Option(..., "--source", help="Name of the source (vendor, crowd batch, scraper).")


@command("sign")
@dataset_flags
def sign(
    data: str = typer.Argument(..., help="Table file, folder of tables, or file tree to sign."),
    source: str = SourceOpt,
    key: str = typer.Option(..., "--key", envvar="PROV_SOURCE_KEY", help="The source's private key (KEY.key)."),
    out: str | None = typer.Option(None, "--out", help="Envelope path (default DATA.prov.json)."),
    captured_at: str | None = typer.Option(None, "--captured-at", help="Capture time, ISO (default now)."),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    json_out: bool = JsonFlag,
) -> None:
    """Sign a batch at source (no store, no network): writes DATA.prov.json."""
    spec = flags.spec(data)
    from provenance.lineage import batches

    result = batches.sign_batch(spec, source, key, out, captured_at)
    if json_out:
        emit_json(result.to_dict())
        return
    echo(f"Signed {result.records} records of {data} as source {result.source!r}: wrote {result.envelope}")
    echo(f"  Merkle root {result.merkle_root[:16]}…, key {result.keyid[:16]}, captured {result.captured_at}")


@command("add", group=trust_app)
def trust_add(
    source: str = typer.Argument(..., help="Source name."),
    public_key: str = typer.Argument(..., help="The source's public key (KEY.pub)."),
    valid_from: str | None = typer.Option(None, "--valid-from", help="Start of validity (ISO date/time)."),
    valid_until: str | None = typer.Option(None, "--valid-until", help="End of validity (ISO date/time)."),
    json_out: bool = JsonFlag,
) -> None:
    """Trust a public key to sign batches for SOURCE (several keys per source rotate)."""
    from provenance.trust import source_keys as trustlib

    entry = trustlib.add_key(Store.open(), source, public_key, valid_from, valid_until)
    if json_out:
        emit_json(entry.to_dict())
        return
    window = (
        f" valid {entry.valid_from or '-'} .. {entry.valid_until or '-'}"
        if entry.valid_from or entry.valid_until
        else ""
    )
    echo(f"Trusted key {entry.keyid[:16]} for source {source!r}{window}")


@command("revoke", group=trust_app)
def trust_revoke(
    source: str = typer.Argument(..., help="Source name."),
    key: str | None = typer.Option(None, "--key", help="Key id (prefix) to revoke; default every key of SOURCE."),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit log."),
    json_out: bool = JsonFlag,
) -> None:
    """Revoke one key of SOURCE, or all of them. Revocation is final and fails closed."""
    from provenance.trust import source_keys as trustlib

    revoked = trustlib.revoke(Store.open(), source, key, reason)
    if json_out:
        emit_json({"source": source, "revoked": [k.to_dict() for k in revoked]})
        return
    for k in revoked:
        echo(f"Revoked key {k.keyid[:16]} of source {source!r} at {k.revoked_at}")


@command("list", group=trust_app)
def trust_list(json_out: bool = JsonFlag) -> None:
    """List trusted keys per source with their status (active, revoked, expired)."""
    from provenance.trust import source_keys as trustlib

    rows = [k.to_dict() for k in trustlib.entries(Store.open())]
    if json_out:
        emit_json({"keys": rows})
        return
    if not rows:
        echo("No trusted keys. Add one with `prov trust add SOURCE KEY.pub`.")
    for r in rows:
        echo(
            f"{r['source']:<16} {r['keyid'][:16]}  {r['status']:<13} valid {r['valid_from'] or '-'} .. "
            f"{r['valid_until'] or '-'}" + (f"  revoked {r['revoked_at']}" if r["revoked_at"] else "")
        )


@command("add")
@dataset_flags
def add(
    data: str = typer.Argument(..., help="The batch: table file, folder of tables, or file tree."),
    source: str = SourceOpt,
    envelope: str | None = typer.Option(
        None, "--envelope", help="Its signed envelope (default DATA.prov.json if present)."
    ),
    unsigned: bool = typer.Option(
        False, "--unsigned", help="Register an unsigned batch (needed when there is no envelope; never implied)."
    ),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    json_out: bool = JsonFlag,
) -> None:
    """Register a batch and its records; a signed batch is verified first."""
    spec = flags.spec(data)
    from provenance.lineage import register

    result = register.add_batch(Store.open(), spec, source, envelope, unsigned)
    if json_out:
        emit_json(result.to_dict())
        return
    how = f"signed by key {(result.keyid or '')[:16]}" if result.signed else "UNSIGNED"
    echo(f"Added batch {result.batch}: {result.records} records from {source!r}, {how}")


@command("lineage")
def lineage_cmd(
    digest: str = typer.Argument(..., help="A record digest (hex, a unique prefix is enough)."),
    json_out: bool = JsonFlag,
) -> None:
    """Where a record came from: source, batch, signing key, and its label in every version."""
    from provenance.lineage import classify as lineage
    from provenance.lineage import queries

    info = queries.record_lineage(Store.open(), digest)
    if json_out:
        emit_json(info)
        return
    echo(f"Record {info['digest']}")
    if not info["batches"]:
        echo("  in no registered batch")
    for b in info["batches"]:
        signer = f"signed by key {b['keyid'][:16]} ({b['key_status']})" if b["signed"] else "unsigned"
        echo(f"  batch {b['batch']} from {b['source']!r}, {signer}, label {b['label']}")
    echo(f"  first in version {info['first_version'] or '(none)'}")
    for v in info["versions"]:
        if v["present"]:
            extra = f" (signed {v['signed_label']})" if v["status"] == lineage.RELABELED else ""
            echo(f"  {v['version']:<12} label {'/'.join(v['labels'])}  {v['status']}{extra}")
        else:
            echo(f"  {v['version']:<12} absent")


@command("sources")
def sources(
    version: str | None = typer.Option(None, "--version", help="Version to count lineage in (default latest)."),
    json_out: bool = JsonFlag,
) -> None:
    """Each source with its batches, records, signed fraction and relabels."""
    from provenance.lineage import queries

    info = queries.source_summary(Store.open(), version)
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
            f"{s['source']:<16} {s['batches']:>7} {s['records']:>8} {frac:>7}  "
            f"{s['attested']} / {s['relabeled_after_source']} / {s['unattributed']}"
        )
    if info["unattributed_without_source"]:
        echo(f"(no batch) {info['unattributed_without_source']} unattributed records")


@command("quarantine")
def quarantine(
    from_tag: str = typer.Option(..., "--from", help="Version to start from."),
    tag: str = typer.Option(..., "--tag", help="Name of the new version."),
    source: str | None = typer.Option(None, "--source", help="Source whose records are cut out."),
    findings: str | None = typer.Option(None, "--findings", help="Findings JSON (prov diff --detect --format json)."),
    key: str | None = typer.Option(None, "--key", envvar="PROV_KEY", help="Private key that signs the new version."),
    out: str | None = typer.Option(
        None, "--out", help="Where to write the filtered dataset (default beside the original)."
    ),
    json_out: bool = JsonFlag,
) -> None:
    """A new signed version without one source's (or the flagged) records."""
    if not key:
        raise InputError("quarantine needs --key KEY.key (or PROV_KEY) to sign the new version")
    from provenance.lineage.quarantine import quarantine as quarantine_version

    result = quarantine_version(Store.open(), from_tag, tag, key, source, findings, out)
    if json_out:
        emit_json(result.to_dict())
        return
    what = f"source {source!r}" if source else f"findings in {findings}"
    echo(f"Quarantined {what}: {result.removed} records removed, {result.kept} kept")
    echo(f"  wrote {result.output}; committed {tag} (parent {from_tag}), root {result.commit['merkle_root'][:16]}…")
