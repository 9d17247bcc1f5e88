"""``prov log`` and ``prov show``: the versions, and one version's signed facts, with their releases.

Both say which versions were released (``version_releases``: the release attestations kept in
the store that verify under the pinned ``attest`` keys; a kept one that does not is listed as
such) and which version a quarantine was cut from (newcomer review 12, finding 9).
"""

from __future__ import annotations

import shlex

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json
from provenance.cli._trust import note_unpinned, trust_flags
from provenance.escaping import visible
from provenance.store import Store
from provenance.trust.pins import UNPINNED_VERSION, Pins

# Library modules are imported inside each command: `prov log` and `show` must not pay for numpy,
# pyarrow and the commit pipeline that `prov commit` needs.


@command("log")
@trust_flags
def log(pins: Pins = Pins(), json_out: bool = JsonFlag) -> None:
    """List versions, newest last, each with its releases and what a quarantine was cut from.

    A version is marked released by a release attestation kept in the store that verifies under the keys you
    pin (--signer, PROV_SIGNERS, --root); one that does not verify is listed as not relied on. The last prov
    check run here of a version (passed, blocked) is shown as what it is: an unsigned record in .prov.
    """
    from provenance import clock
    from provenance.gate.check_record import last_check_line, last_checks
    from provenance.version_facts import version_log
    from provenance.version_releases import kept_attestations, mark_lost_attestation, release_line

    store = Store.open(pins=pins)
    out = version_log(store)
    kept = kept_attestations(store)
    mark_lost_attestation(store, kept)  # a release whose source key was revoked since (newcomer review 22, item 9)
    checks = last_checks(store)  # unsigned audit entries, said as such (newcomer review 31)
    for r in out:
        r["attestations"] = kept.get(r["tag"], [])
        r["last_check"] = checks.get(r["tag"])
    if json_out:
        emit_json({"versions": out, "trust": pins.to_dict()})
        return
    if not out:
        echo("No versions yet: prov commit DATA --tag V --key K makes the first.")
    # 80 columns (newcomer review 10, finding 26: 106): the minute, not the offset (always UTC); the Merkle
    # root is in prov show and --json, which a log line cannot verify anyway
    # every column is a writable row's value, printed escaped as the message is (attack review 14, A14-2: a
    # newline in the parent column printed a version line of a script's choosing, `--help`, and a release mark)
    shown = [
        {k: visible(r[k] if r[k] is not None else "-") for k in ("tag", "parent", "records", "keyid")} for r in out
    ]
    tags = max((len(s["tag"]) for s in shown), default=0)
    counts = max((len(s["records"]) for s in shown), default=0)
    now = clock.now_iso()
    for r, s in zip(out, shown):
        when = visible(str(r["created_at"])[:16].replace("T", " "))
        echo(
            f"{s['tag']:<{tags}}  {when}  {s['records']:>{counts}} records  parent {s['parent'] or '-'}  "
            f"key {s['keyid'][:16]}"
        )
        if r["quarantine_of"]:
            echo(
                f"    quarantine of {visible(r['quarantine_of'])} (prov show {shlex.quote(s['tag'])} says what it cut out)"
            )
        for item in r["attestations"]:
            echo(f"    {visible(release_line(item, now))}")
            if item.get("warning"):
                echo(f"      {visible(item['warning'])}")
        if r["last_check"]:
            echo(f"    {last_check_line(r['last_check'])}")
        if r["message"]:  # as git log shows a commit's message (newcomer review 9, finding 11)
            echo(f"    {visible(r['message'])}")
    if any(r["attestations"] for r in out) and not pins.pinned:
        echo("Releases are marked only under keys you pin: pass --signer KEY.pub or set PROV_SIGNERS.")


@command("show")
@trust_flags
def show(
    tag: str = typer.Argument(..., metavar="VERSION"),
    pins: Pins = Pins(),
    json_out: bool = JsonFlag,
    batches: bool = typer.Option(
        False,
        "--batches",
        help="Also name the batches that attest the version's records (reads its signed lineage object).",
    ),
) -> None:
    """Show a version's signed facts (counts per label and source, lineage, what a quarantine cut out).

    A display: exit 0 with nothing pinned too, marked NOT a trust decision; pin keys (--signer) for one. Its
    releases are the release attestations kept in the store that verify under the keys you pin. --batches
    names the batches that attest its records (after a revocation and a new signature: SOURCE@ROOT12.2).
    """
    from provenance import clock
    from provenance.version_releases import kept_attestations, mark_lost_attestation, release_line
    from provenance.version_show import describe_version

    store = Store.open(pins=pins)
    info = describe_version(store, tag, batches=batches)
    kept = {tag: kept_attestations(store).get(tag, [])}
    # judged once: describe_version's lineage under the pins is the one the warning names (newcomer review 22, item 9)
    mark_lost_attestation(store, kept, {tag: info.get("lineage_not_trusted") or []})
    info["attestations"] = kept[tag]
    note_unpinned(pins)
    if json_out:
        emit_json(info)
        return
    signature = "signature ok" if info["trust_decision"] else UNPINNED_VERSION
    # escaped: without pins these are the writable row's values (attack review 14, A14-2)
    echo(
        f"Version {visible(tag)} (parent {visible(info['parent'] or '-')}), {visible(info['records'])} records; {signature}"
    )
    if info["trust_decision"]:  # on its own line: with a key path it made the first one 105 columns
        echo(f"  checked against {pins.describe()}")
    echo(f"  Merkle root {visible(info['merkle_root'])}")
    echo(f"  signed by key {visible(str(info['keyid'])[:16])}")  # 16 hex, as prov log and the messages
    if info.get("message"):
        echo(f"  message: {visible(info['message'])}")
    if info.get("quarantine"):
        from provenance.version_show import quarantine_line

        echo(f"  {quarantine_line(info['quarantine'])}")
    now = clock.now_iso()
    for item in info["attestations"]:
        echo(f"  {visible(release_line(item, now))}")
        if item.get("warning"):
            echo(f"    {visible(item['warning'])}")
    if not any(item["verified"] for item in info["attestations"]):
        echo(
            "  not released: no release attestation kept in this store names it under your pins "
            f"(one kept elsewhere: prov verify {shlex.quote(tag)} --attestation FILE)"
        )
    if info["last_check"]:
        from provenance.gate.check_record import last_check_line

        echo(f"  {last_check_line(info['last_check'], full=True)}")
    dataset = info["dataset"]
    echo(
        f"  data {visible(str(dataset.get('path', '(not recorded)')))}"
        + (f" at {visible(str(dataset['rev']))}" if dataset.get("rev") else "")
        + ("" if info["dataset_signed"] else " (not signed: committed by an older prov)")
    )
    echo("  labels: " + ", ".join(f"{visible(k)}={v}" for k, v in info["labels"].items()))
    if info.get("featurizer"):
        from provenance.report.wording import featurizer_origin, featurizer_text

        echo(
            f"  features {visible(featurizer_text(info['featurizer']))}{featurizer_origin(info['featurizer_requested'])}"
        )
    if info.get("featurizer_request_problem"):  # a signed request that is no featuriser spec (A28d-3)
        echo(f"  warning: {visible(info['featurizer_request_problem'])}")
    if any(info["sources"]):
        from provenance.report.wording import source_name

        echo("  sources: " + ", ".join(f"{visible(source_name(k))}={v}" for k, v in info["sources"].items()))
    for k in ("attested", "relabeled_after_source", "unattributed"):
        if k in info:
            signed = info.get("lineage_signed", {}).get(k, info[k])
            hint = f" (which batches: prov show {shlex.quote(tag)} --batches)"  # newcomer review 22
            echo(
                f"  {k.replace('_', ' ')}: {info[k]}"
                + (f" (signed: {signed})" if signed != info[k] else "")
                + (hint if k == "attested" and info[k] and not batches else "")
            )
            if k == "attested":
                for line in attested_by_lines(info.get("attested_by", [])):
                    echo(f"    {line}")
    if info.get("lineage_not_trusted"):
        from provenance.lineage.standing import not_trusted_line

        for item in info["lineage_not_trusted"]:
            echo(f"  under your pins: {not_trusted_line(item)}")
    from provenance.lineage.withdraw import withdrawal_line
    from provenance.report.audit_words import audit_line

    for w in info["withdrawals"]:
        echo(f"  {withdrawal_line(w)}")
    echo(f"  {audit_line(info['audit'])}")


SHOWN_BATCHES = 5  # show's text names at most this many attesting batches; --json lists every one


def attested_by_lines(items: list[dict]) -> list[str]:
    """Lines under show's ``attested: N``: ``400 by batch vendor@0123456789ab.2`` for each batch of ``attested_by``
    (at most :data:`SHOWN_BATCHES`, most records first), then ``and N more batches`` (newcomer review 21,
    finding 10: which registration attests the records after a source signed them again)."""
    lines = [f"{item['records']} by batch {visible(item['batch'])}" for item in items[:SHOWN_BATCHES]]
    rest = len(items) - SHOWN_BATCHES
    if rest > 0:
        lines.append(f"and {rest} more batch{'' if rest == 1 else 'es'} (--json lists every one)")
    return lines
