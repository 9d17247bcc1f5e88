"""Commands of the core: init, keys, commit, log, show, verify, audit."""

from __future__ import annotations

import os

import typer

from provenance import api, versions
from provenance import keys as keylib
from provenance.cli._app import JsonFlag, app, command, echo, emit_json
from provenance.cli._dataset import DatasetFlags, dataset_flags
from provenance.errors import InputError
from provenance.features.registry import FeaturizerSpec
from provenance.lineage.batches import BatchMismatch
from provenance.store import Store
from provenance.version_facts import describe_version, is_version, version_log

keys_app = typer.Typer(help="Generate signing keys (no store needed).", no_args_is_help=True)
audit_app = typer.Typer(help="Check the store's hash-chained audit log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")


@command("init")
def init(json_out: bool = JsonFlag) -> None:
    """Create an empty store (.prov/) in this folder."""
    store = Store.init(".")
    if json_out:
        emit_json({"store": str(store.root)})
    else:
        echo(f"Initialised an empty prov store in {store.root}")


@command("generate", group=keys_app)
def keys_generate(
    name: str = typer.Argument(..., help="Writes NAME.key (0600) and NAME.pub."), json_out: bool = JsonFlag
) -> None:
    """Generate an Ed25519 key pair. Set PROV_PASSPHRASE to encrypt the private key."""
    pair = keylib.generate(name)
    if json_out:
        emit_json({"private_key": str(pair.private_path), "public_key": str(pair.public_path), "keyid": pair.keyid})
    else:
        echo(f"Wrote {pair.private_path} (private, mode 0600) and {pair.public_path}")
        echo(f"Key id: {pair.keyid}")


@command("register", group=keys_app)
def keys_register(
    public_key: str = typer.Argument(..., help="A reviewer's or committer's KEY.pub."),
    name: str = typer.Option(..., "--name", help="Who holds the key."),
    json_out: bool = JsonFlag,
) -> None:
    """Register a public key in the store (committers are registered by their first commit)."""
    result = versions.register_key(Store.open(), public_key, name)
    if json_out:
        emit_json(result)
    else:
        echo(f"Registered key {result['keyid'][:16]} for {name}")


@command("commit")
@dataset_flags
def commit(
    data: str = typer.Argument(..., help="Table file, folder of tables, or file tree."),
    tag: str = typer.Option(..., "--tag", help="Name of the new version."),
    parent: str | None = typer.Option(None, "--parent", help="Parent version (default: the latest)."),
    key: str | None = typer.Option(None, "--key", envvar="PROV_KEY", help="Private key that signs the version."),
    rev: str | None = typer.Option(None, "--rev", help="Read DATA as of this git revision through DVC."),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    featurizer: str = typer.Option(
        "auto",
        "--featurizer",
        help="Features for the reference profile: auto (numeric columns / image pixels), numeric, embedding, "
        "image, text, sentence, or a registered plug-in.",
    ),
    featurizer_option: list[str] = typer.Option(
        [],
        "--featurizer-option",
        help="KEY=VALUE option of the featuriser, e.g. column=emb (repeatable; VALUE is JSON if it parses).",
    ),
    executor: str | None = typer.Option(
        None,
        "--executor",
        help="Where hashing runs: local, local:N, or dask://HOST:PORT "
        "(default: PROV_EXECUTOR from your environment, then every local core; never a file in the checkout).",
    ),
    json_out: bool = JsonFlag,
) -> None:
    """Hash every record, classify lineage, build the reference profile, sign and record the version."""
    if not key:
        raise InputError("commit needs --key KEY.key (or PROV_KEY) to sign the version")
    if featurizer_option and featurizer == "auto":
        raise InputError("--featurizer-option needs --featurizer NAME")
    result = api.commit(
        Store.open(),
        flags.spec(data, rev),
        tag=tag,
        key=key,
        parent=parent,
        featurizer=FeaturizerSpec.parse(featurizer, featurizer_option),
        executor=executor,
    )
    if json_out:
        emit_json(result.to_dict())
        return
    echo(f"Committed {result.tag}: {result.records} records, Merkle root {result.merkle_root[:16]}…")
    echo(
        f"  parent {result.parent or '(none)'}, signed by key {result.keyid[:16]}"
        + (" (newly registered)" if result.key_registered else "")
    )
    if result.lineage:
        echo(
            f"  lineage: {result.lineage['attested']} attested, {result.lineage['relabeled_after_source']} "
            f"relabeled after source, {result.lineage['unattributed']} unattributed"
        )
    if result.profile:
        if result.profile.get("status") == "ok":
            echo(f"  reference profile: {result.profile['sample']} sampled records, features {result.featurizer}")
        else:
            echo(f"  no reference profile ({result.profile.get('reason')}); detectors cannot use it as a base")


@command("log")
def log(json_out: bool = JsonFlag) -> None:
    """List versions, newest last."""
    out = version_log(Store.open())
    if json_out:
        emit_json({"versions": out})
        return
    if not out:
        echo("No versions yet.")
    for r in out:
        echo(
            f"{r['tag']:<12} {r['created_at']}  {r['records']:>9} records  root {r['merkle_root'][:16]}  "
            f"parent {r['parent'] or '-'}  key {r['keyid'][:12]}"
        )


@command("show")
def show(tag: str = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show a version's signed facts (counts per label and source, lineage)."""
    info = describe_version(Store.open(), tag)
    if json_out:
        emit_json(info)
        return
    echo(f"Version {tag} (parent {info['parent'] or '-'}), {info['records']} records, signature ok")
    echo(f"  Merkle root {info['merkle_root']}")
    echo(f"  signed by {info['keyid']}")
    echo(f"  data {info['dataset']['path']}" + (f" at {info['dataset']['rev']}" if info["dataset"].get("rev") else ""))
    echo("  labels: " + ", ".join(f"{k}={v}" for k, v in info["labels"].items()))
    if any(info["sources"]):
        echo("  sources: " + ", ".join(f"{k or '(none)'}={v}" for k, v in info["sources"].items()))
    for k in ("attested", "relabeled_after_source", "unattributed"):
        if k in info:
            echo(f"  {k.replace('_', ' ')}: {info[k]}")


@command("verify")
@dataset_flags
def verify(
    target: str = typer.Argument(..., help="A version name, or a data path with --envelope."),
    envelope: str | None = typer.Option(
        None, "--envelope", help="Envelope of a signed batch (default DATA.prov.json)."
    ),
    no_data: bool = typer.Option(False, "--no-data", help="Check signatures and objects only; do not re-read data."),
    attestation: str | None = typer.Option(
        None, "--attestation", help="Also require this signed release attestation for the version."
    ),
    policy: str | None = typer.Option(
        None, "--policy", help="With --attestation: require that the check passed this policy file."
    ),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    json_out: bool = JsonFlag,
) -> None:
    """Verify a version (signature, objects, every record digest) or a signed batch."""
    store = Store.open()
    batch = envelope is not None or (os.path.exists(target) and not is_version(store, target))
    try:
        report = api.verify(
            store,
            flags.spec(target) if batch else target,
            envelope=envelope,
            read_data=not no_data,
            attestation=attestation,
            policy=policy,
        )
    except BatchMismatch as exc:
        if json_out:
            emit_json(exc.report)
        raise
    if json_out:
        emit_json(report)
    elif batch:
        echo(
            f"{target}: ok, {report['records']} records match the batch signed by {report['source']!r} "
            f"(key {report['keyid'][:16]}, captured {report['captured_at']})"
        )
    else:
        echo(f"Version {target}: signature ok, manifest ok, data {report['data']} ({report['records']} records)")
        if attestation:
            a = report["attestation"]
            echo(
                f"  release attestation ok: passed policy {a['policy']['digest'][:12]} against {a['base']} "
                f"at {a['checked_at']}"
            )
            for w in a["warnings"]:
                echo(f"  released with a warning: {w['rule']}: {w['reason']}")


@command("verify", group=audit_app)
def audit_verify(json_out: bool = JsonFlag) -> None:
    """Walk the hash chain and check every version's signed audit head is in it."""
    seq, head = versions.verify_audit(Store.open())
    if json_out:
        emit_json({"entries": seq, "head": head, "status": "ok"})
    else:
        echo(f"Audit log ok: {seq} entries, head {head[:16]}")
