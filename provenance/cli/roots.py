"""``prov root``: write, sign and inspect a root-of-trust file (``provenance.trust.root``)."""

from __future__ import annotations

import typer

from provenance.cli._app import JsonFlag, app, command, echo, emit_json, note
from provenance.errors import InputError
from provenance.signing import canonical_json
from provenance.store.objects import atomic_write
from provenance.trust.pins import Pins
from provenance.trust.root_files import DEFAULT_VALID_DAYS, new_document, sign_root

root_app = typer.Typer(
    help="Root-of-trust files: which keys hold which role, signed by root keys.", no_args_is_help=True
)
app.add_typer(root_app, name="root")


def _pairs(items: list[str], flag: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"{flag} {item!r}: expected NAME=KEY.pub")
        out.setdefault(name, []).append(path)
    return out


@command("new", group=root_app)
def root_new(
    out: str = typer.Argument(..., metavar="OUT", help="Where to write the unsigned root document (JSON)."),
    root_key: list[str] = typer.Option([], "--root-key", help="A root key (KEY.pub; repeatable)."),
    threshold: int = typer.Option(1, "--threshold", min=1, help="How many root keys must sign a root."),
    commit: list[str] = typer.Option([], "--commit", help="A key that may sign versions (repeatable)."),
    attest: list[str] = typer.Option([], "--attest", help="A key that may sign release attestations (repeatable)."),
    waive: list[str] = typer.Option([], "--waive", help="A key that may sign waivers (repeatable)."),
    source: list[str] = typer.Option([], "--source", help="SOURCE=KEY.pub: a key that may sign SOURCE's batches."),
    version: int = typer.Option(1, "--version", min=1, help="The root's version (a rotation is the previous + 1)."),
    expires: str | None = typer.Option(
        None, "--expires", help=f"Expiry, ISO 8601 (default {DEFAULT_VALID_DAYS} days)."
    ),
    store_id: str | None = typer.Option(
        None, "--store-id", metavar="ID", help="The store id the root pins (prov init prints it)."
    ),
    json_out: bool = JsonFlag,
) -> None:
    """Write an unsigned root document; sign it with `prov root sign` by a threshold of its root keys.

    Give --store-id (the id `prov init` printed) so the root names its store (its `store` field): checks and
    commits under the root then refuse a version, trust entry or attestation signed for another store.
    """
    roles = {role: paths for role, paths in (("commit", commit), ("attest", attest), ("waive", waive)) if paths}
    doc = new_document(root_key, threshold, roles, _pairs(source, "--source"), version, expires, store=store_id)
    from pathlib import Path

    target = Path(out)
    if target.exists():
        raise InputError(f"{out}: already exists; choose another name or remove it first")
    if not target.parent.is_dir():
        raise InputError(f"{out}: folder {target.parent} does not exist")
    atomic_write(target, canonical_json(doc) + b"\n")
    if json_out:
        emit_json(
            {"root": out, "version": version, "expires": doc["expires"], "roles": doc["roles"], "store": store_id}
        )
        return
    echo(
        f"Wrote {out}: root v{version}, expires {doc['expires']}, {len(doc['keys'])} keys; sign it with 'prov root sign'"
    )
    if store_id:
        echo(f"  it pins store id {store_id}: checks under it expect every version to sign that id")
    else:  # prov init points here; a root that names no store leaves that pin to PROV_STORE_ID (newcomer review 19)
        note(
            f"{out} names no store: --store-id ID (the id prov init printed) makes checks under it refuse "
            "another store's versions; else pin it with PROV_STORE_ID"
        )


@command("sign", group=root_app)
def root_sign(
    root: str = typer.Argument(..., metavar="FILE", help="An unsigned root document or a root file."),
    key: str = typer.Option(..., "--key", help="One root key's private key (KEY.key)."),
    out: str | None = typer.Option(None, "--out", help="Where to write the signed root (default: ROOT itself)."),
    json_out: bool = JsonFlag,
) -> None:
    """Add one root key's signature to a root (repeat with each key up to the threshold)."""
    result = sign_root(root, key, out)
    if json_out:
        emit_json(result.to_dict())
        return
    echo(
        f"Signed {result.path} (root v{result.version}) with key {result.keyid[:16]}: {len(result.signatures)} signature(s)"
    )


@command("show", group=root_app)
def root_show(
    files: list[str] = typer.Argument(None, metavar="FILE", help="Root files, oldest first (the same as --root)."),
    signer: list[str] = typer.Option([], "--signer", help="A pinned root key (default PROV_SIGNERS)."),
    root: list[str] = typer.Option([], "--root", help="Root files, oldest first (default PROV_ROOT)."),
    root_threshold: int | None = typer.Option(None, "--root-threshold", min=1, help="Pinned root threshold."),
    json_out: bool = JsonFlag,
) -> None:
    """Verify the root files against the pinned keys and show the root in force (exit 2 if it does not hold).

    The files come as arguments or with --root (not both: their order is the chain's).
    """
    if files and root:
        raise InputError("give the root files as arguments or with --root, not both (their order is the chain's)")
    pins = Pins.load(signer, files or root, root_threshold)
    if pins.root is None:
        raise InputError("no root file given: pass --root FILE or set PROV_ROOT")
    info = pins.root.to_dict()
    if json_out:
        emit_json(info)
        return
    echo(f"Root v{info['version']} ({info['path']}) ok, expires {info['expires']}")
    for role, d in info["roles"].items():
        echo(f"  {role:<8} {d['threshold']} of {', '.join(k[:16] for k in d['keyids']) or '(none)'}")
    for name, d in info["sources"].items():
        echo(f"  source {name}: {d['threshold']} of {', '.join(k[:16] for k in d['keyids'])}")
    if info["store"]:
        echo(f"  store    {info['store']}")
