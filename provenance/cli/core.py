"""Commands of the core: init, commit, verify (``prov log`` and ``show`` are in ``log.py``, ``keys`` in ``keys.py``)."""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

import typer

from provenance.cli._app import JsonFlag, command, echo, emit_json, note, quiet, verbose
from provenance.cli._dataset import DatasetFlags, dataset_flags
from provenance.cli._kept_log import KeptLogFlags, kept_log_flags, kept_log_lines
from provenance.cli._trust import trust_flags
from provenance.errors import InputError
from provenance.escaping import visible
from provenance.store import Store
from provenance.trust.pins import Pins

if TYPE_CHECKING:
    from provenance.versions import CommitResult

# Library modules are imported inside each command: `prov init` must not
# pay for numpy, pyarrow and the commit pipeline that `prov commit` needs.


@command("init")
def init(json_out: bool = JsonFlag) -> None:
    """Create an empty store (.prov/) in this folder, and print its id to pin (--store-id / PROV_STORE_ID)."""
    from provenance.store.identity import store_id
    from provenance.workspace import init_notes, init_workspace

    notes = init_notes(".")  # before the store is made: nothing in them may fail a made store (A24c-2)
    store = init_workspace(".")
    sid = store_id(store)
    if json_out:
        emit_json({"store": str(store.root), "store_id": sid})
    elif quiet():  # a script's prov -q init (or prov init -q): the result, one line; the advice is in the README
        echo(f"Initialised an empty prov store in {store.root}; store id {sid}")
    else:
        echo(f"Initialised an empty prov store in {store.root}")
        echo(f"  store id {sid}: pin it where checks and commits run (PROV_STORE_ID={sid},")
        echo("  --store-id, or prov root new --store-id), so no .prov/ writer can make them sign for another project;")
        echo("  prov audit verify names it again once a commit has signed it")
        echo("  .prov/.gitignore keeps a write's temporary files out of git; see the README on sharing the store")
    for text in notes:
        note(text)


@command("commit")
@dataset_flags
@trust_flags
@kept_log_flags
def commit(
    data: str = typer.Argument(..., metavar="DATA", help="Table file, folder of tables, or file tree."),
    tag: str = typer.Option(..., "--tag", help="Name of the new version."),
    parent: str | None = typer.Option(None, "--parent", help="Parent version (default: the latest)."),
    key: str | None = typer.Option(None, "--key", envvar="PROV_KEY", help="Private key that signs the version."),
    rev: str | None = typer.Option(None, "--rev", help="Read DATA as of this git revision through DVC."),
    message: str | None = typer.Option(None, "--message", "-m", help="Why this version: signed into it."),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    pins: Pins = Pins(),  # filled by @trust_flags
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
    no_parent_defaults: bool = typer.Option(
        False,
        "--no-parent-defaults",
        help="Read DATA with only the read options given here, and the automatic featuriser, "
        "not the parent's (by default each one not given is the parent's, from its signature).",
    ),
    executor: str | None = typer.Option(
        None,
        "--executor",
        help="Where hashing runs: local, local:N, or dask://HOST:PORT "
        "(default: PROV_EXECUTOR from your environment, then every local core; never a file in the checkout).",
    ),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Commit DATA even when it holds no records (refused by default, exit 2)."
    ),
    kept: KeptLogFlags = KeptLogFlags(),  # filled by @kept_log_flags
    json_out: bool = JsonFlag,
) -> None:
    """Hash every record, classify lineage, build the reference profile, sign and record the version.

    Read options and the featuriser not given here are the parent's, as its signature says (as `prov status`
    reads the data), so a forgotten --metadata or --featurizer does not change every digest or lose detection.
    """
    if not key:
        raise InputError("commit needs --key KEY.key (or PROV_KEY) to sign the version")
    if featurizer_option and featurizer == "auto":
        raise InputError("--featurizer-option needs --featurizer NAME")
    from provenance import api
    from provenance.cli._progress import progress_shown
    from provenance.features.registry import FeaturizerSpec

    store = api.open_store(Store.open(), pins)
    from provenance.commit_checks import refuse_nothing_pinned

    refuse_nothing_pinned(store, tag)  # once the store holds a version (newcomer review 9, finding 1)
    spec = flags.spec(data, rev)  # a flag this data cannot take (--schema on Parquet) before any note
    if parent is not None:
        from provenance.version_facts import newest_commit_entry, verifies

        store.version(parent)  # an unknown parent is a one-line input error, before any warning
        entry = newest_commit_entry(store)  # named by the log even when its row is hidden
        newest = entry[1] if entry else None
        if newest not in (None, parent):
            # only a newest version that verifies under the pins can be built on (newcomer review 20)
            build_on = (
                f"give --parent {shlex.quote(newest)} to build on {shlex.quote(newest)}"
                if verifies(store, newest)
                else f"{shlex.quote(newest)} does not verify under your pins: it cannot be built on"
            )
            note(  # the default parent moves here too (newcomer review 16, finding 4)
                f"parent {parent} is not the newest version ({newest}); "
                "'prov check' still applies every signed source quarantine, wherever it sits; "
                f"the next commit's default parent will be {shlex.quote(tag)} ({build_on})"
            )
    from provenance.cli._dataset import flag_given, given_flags
    from provenance.commit_defaults import commit_on_parent

    if rev is None and flags.labels_csv is None and os.path.isdir(data):  # a labels CSV names the labels (A35p-4)
        from provenance.sources.trees import split_named_classes

        splits = split_named_classes(data, flags.tree_reader)
        if splits:  # every record would be labelled by its split (newcomer review 35, finding 6)
            first = next((s for s in splits if s.lower() in ("train", "training")), splits[0])
            note(
                f"{data}: its class folders are named like dataset splits ({', '.join(splits)}), so each image is "
                f"labelled by its split; commit one split's folder (prov commit {shlex.quote(os.path.join(data, first))} "
                "...), or read the splits' class folders with --tree-reader hf-imagefolder"
            )
    from provenance.executor import executor_from

    runner = executor_from(executor)
    try:
        with progress_shown():
            result = commit_on_parent(
                store,
                spec,
                tag,
                key,
                parent,
                given=given_flags(),
                featurizer=FeaturizerSpec.parse(featurizer, featurizer_option) if flag_given("featurizer") else None,
                carry=not no_parent_defaults,  # --no-parent-defaults: every option as given (a difference is said)
                executor=runner,
                message=message,
                checkpoint_out=kept.checkpoint_out,
                checkpoint_key=kept.checkpoint_key,
                kept_log_state=kept.kept_log_state,
                allow_empty=allow_empty,
            )
    finally:
        runner.close()
    if result.id_less_trust_entries:  # on stderr, --json or not: the first commit to sign a store id (17b)
        note(
            f"{result.tag} is the first version to sign this store's id, and it signs over "
            f"{result.id_less_trust_entries} trust entr{'y' if result.id_less_trust_entries == 1 else 'ies'} that "
            "name no store (made before store ids, or copied in by a .prov/ writer): review them with prov trust list"
        )
    if json_out:
        emit_json(result.to_dict())
        return
    _echo_commit(result, store)


def _echo_commit(result: CommitResult, store: Store) -> None:
    """``prov commit``'s lines for a person: what was committed, from what, and the checkpoint kept."""
    taken = result.from_parent or {}
    parent_tag = taken.get("version")
    echo(f"Committed {result.tag}: {result.records} records, Merkle root {result.merkle_root[:16]}…")
    if result.identical_to:
        echo(f"  identical to {result.identical_to} (same records and labels): a new name for the same data")
    echo(
        f"  parent {result.parent or '(none)'}, signed by key {result.keyid[:16]}"
        + (" (newly registered)" if result.key_registered else "")
    )
    if taken.get("read_options"):
        echo(f"  read options as {parent_tag}: {'; '.join(taken['read_options'])}")
    if taken.get("read_options_differing"):
        echo(
            f"  read options differ from {parent_tag}: {'; '.join(taken['read_options_differing'])}; "
            "records read another way get new digests"
        )
    if result.lineage:
        echo(
            f"  lineage: {result.lineage['attested']} attested, {result.lineage['relabeled_after_source']} "
            f"relabeled after source, {result.lineage['unattributed']} unattributed"
        )
        if result.retype_note:
            echo(f"  {result.lineage['unattributed']} unattributed: {result.retype_note}")
        # why signed records count as unattributed: a revoked or retired key (newcomer review 20; as prov show)
        from provenance.lineage.standing import not_trusted_line
        from provenance.version_show import lineage_under_pins

        for item in lineage_under_pins(store, result.tag, result.lineage).get("lineage_not_trusted", []):
            echo(f"    {not_trusted_line(item)}")
    if result.profile:
        if result.profile.get("status") == "ok":
            from provenance.report.wording import featurizer_origin, featurizer_text

            features = featurizer_text(result.featurizer or "?")
            echo(
                f"  reference profile: {result.profile['sample']} sampled records, features {features}"
                + featurizer_origin(
                    result.featurizer_requested, f"as {parent_tag}" if taken.get("featurizer") else "as given"
                )
            )
            no_index = (result.profile.get("copyIndex") or {}).get("reason")
            if no_index:  # a check's copy evidence is then the sample's: said, not left to be found (A33d-4)
                echo(
                    f"  no copy index ({no_index}): a relabelled near copy of a record outside the profile sample is "
                    "looked up among the sample only"
                )
        else:
            echo(f"  no reference profile ({result.profile.get('reason')}); detectors cannot use it as a base")
    if result.schema_note:  # beside the features note: the same retype, said as a change of every digest
        echo(f"  {result.schema_note}")
    if result.features_note:
        echo(f"  {result.features_note}")
    if result.unfeatured_note:
        echo(f"  {result.unfeatured_note}")
    for line in kept_log_lines(result.to_dict()):
        echo(line)


def _store_or_none(target: str, envelope: str | None, pins: Pins) -> Store | None:
    """The store to verify in (one snapshot for the signature checks and the report), or None when
    there is none here or above and TARGET is data: a batch is then checked against the pins alone."""
    from provenance.names import looks_like_file, no_such_file
    from provenance.store.store import find_store
    from provenance.version_facts import is_version

    # a mistyped data file is named as one (newcomer review 9, finding 5), not "run 'prov init'" or "no such version"
    missing = envelope is None and looks_like_file(target) and not os.path.exists(target)
    try:
        find_store()
    except InputError:
        if envelope is not None or os.path.exists(target):
            return None
        if missing:
            raise InputError(no_such_file(target)) from None
        raise
    store = Store.open_snapshot(pins=pins)
    if missing and not is_version(store, target):
        store.close()
        raise InputError(no_such_file(target))
    return store


@command("verify")
@dataset_flags
@trust_flags
def verify(
    target: str = typer.Argument(
        ...,
        metavar="VERSION|DATA",
        help="A version name, or a signed batch's data (its envelope DATA.prov.json, or --envelope E).",
    ),
    envelope: str | None = typer.Option(
        None, "--envelope", help="Envelope of a signed batch (default DATA.prov.json)."
    ),
    no_data: bool = typer.Option(False, "--no-data", help="Check signatures and objects only; do not re-read data."),
    attestation: str | None = typer.Option(
        None,
        "--attestation",
        help=(
            "Also require this signed release attestation for the version (needs a pinned key: --signer, PROV_SIGNERS "
            "or --root). Its release N is a "
            "counter that only grows, not a count of releases (-v says more)."
        ),
    ),
    policy: str | None = typer.Option(
        None, "--policy", help="With --attestation: require that the check passed this policy file."
    ),
    base: str | None = typer.Option(
        None, "--base", help="With --attestation: require that it was checked against BASE."
    ),
    release_state: str | None = typer.Option(
        None,
        "--release-state",
        envvar="PROV_RELEASE_STATE",
        help=(
            "With --attestation: a file recording the newest release this job accepted, the root version it "
            "was verified under (with --root) and the audit log's state it signed; an older release or root, or a "
            "log that lost entries since, is refused."
        ),
    ),
    min_release: int | None = typer.Option(
        None, "--min-release", min=1, help="With --attestation: refuse a release counter below N."
    ),
    fail_on_revoked: bool = typer.Option(
        False,
        "--fail-on-revoked",
        help="With --attestation: exit 1 when records of the release are no longer attested (a source key revoked "
        "since); without it, a warning.",
    ),
    at_release: bool = typer.Option(
        False,
        "--at-release",
        help="With --attestation: audit a past release as it was made: an expired attestation is reported, not "
        "refused (not a go-ahead to train today).",
    ),
    checkpoint: list[str] = typer.Option(
        [],
        "--checkpoint",
        help="With --attestation: a checkpoint or release attestation kept outside the store (as prov audit verify "
        "--checkpoint takes): the audit log must extend the log state it signed, so a log cut back to before a "
        "revocation is refused (repeatable).",
    ),
    store_keys: bool = typer.Option(
        False,
        "--store-keys",
        help="With nothing pinned: check signatures against the keys found in .prov/ only. Not a trust "
        "decision (whoever can write .prov/ can plant a key); exit 0 says only that the store is consistent.",
    ),
    flags: DatasetFlags = DatasetFlags(),  # filled by @dataset_flags
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Verify a version (signature, objects, every record digest, re-read from its signed location) or a signed batch.

    Signatures are checked against the keys you pin (--signer, PROV_SIGNERS, --root); with nothing pinned it
    exits 2, unless --store-keys asks for a check against the store's own keys, which decides nothing.

    With no store here (a vendor checking its batch before shipping it): prov verify DATA --signer vendor.pub.
    Inside a store, --signer pins maintainer keys and a batch's source key comes from the store's trust list
    (prov trust add SOURCE KEY.pub --key MAINTAINER.key): pin the maintainer's key, not the vendor's.
    """
    from provenance import api
    from provenance.errors import VerificationError
    from provenance.lineage.batches import BatchMismatch
    from provenance.report.verify_text import changed_data_next_step, failed_version_report
    from provenance.version_facts import is_version

    store = _store_or_none(target, envelope, pins)  # None: a vendor's folder, checking its own batch
    batch = envelope is not None or (os.path.exists(target) and (store is None or not is_version(store, target)))
    release_options = {
        "--attestation": attestation,
        "--policy": policy,
        "--base": base,
        "--release-state": release_state,
        "--min-release": min_release,
        "--fail-on-revoked": fail_on_revoked or None,
        "--at-release": at_release or None,
        "--checkpoint": checkpoint or None,
    }
    given = [flag for flag, value in release_options.items() if value is not None]
    if batch and given:
        raise InputError(f"{target}: {given[0]} applies to a version, not to a batch of data; drop it")
    if given and attestation is None:  # named as typed here, not as the Python parameter
        raise InputError(f"{given[0]} is checked against a release attestation: give --attestation FILE too")
    if not batch and flags != DatasetFlags():
        # a version is re-read exactly as it signed it was read; options here would be silently ignored
        raise InputError(f"{target}: a version is re-read with the reading options it signed; drop the dataset options")
    from provenance.cli._progress import progress_shown

    try:
        with progress_shown():
            report = api.verify(
                store,
                flags.spec(target) if batch else target,
                pins=pins if store is None else None,
                envelope=envelope,
                read_data=not no_data,
                attestation=attestation,
                policy=policy,
                base=base,
                release_state=release_state,
                min_release=min_release,
                store_keys=store_keys,
                fail_on_revoked=fail_on_revoked,
                at_release=at_release,
                kept_log_state=checkpoint or None,
            )
    except BatchMismatch as exc:
        if json_out:
            emit_json(exc.report)
        exc.details.append(exc.next_step)
        raise
    except VerificationError as exc:
        if json_out and not batch:  # a CI job reading --json gets the failure too, not an empty standard output
            emit_json(failed_version_report(target, exc))
        if not batch and exc.records:  # the data changed since it was signed: say what to do (people only)
            exc.details.append(changed_data_next_step(target))
        raise
    state = (report.get("attestation") or {}).get("release_state") or {}
    if state.get("created"):  # a typo in --release-state would otherwise silently start from nothing
        note(
            f"{state['path']}: created; no earlier release was recorded, so nothing older was refused this time "
            "(check the path if this job has verified releases before)"
        )
    released = report.get("attestation") or {}
    if released.get("expired"):  # --at-release: the audit of a past release (newcomer review 13, finding 2)
        note(
            f"{attestation}: expired at {released['expires']}; release {released['release']} of {target} was made "
            f"and checked at {released['checked_at']} (an audit of the past release, not a go-ahead to train today)"
        )
    if released.get("lineage_not_trusted"):  # a key revoked since the release (newcomer review 12, finding 3)
        from provenance.gate.attestation_verify import revoked_warning

        warning = revoked_warning(released["release"], target, released["lineage_not_trusted"])
        typer.echo(f"Warning: {visible(warning)} (--fail-on-revoked makes this an error)", err=True)
    if json_out:
        emit_json(report)
        return
    from provenance.report.verify_text import batch_lines, version_lines

    pinned = pins.describe() if report["trust_decision"] else None
    lines = batch_lines(target, report, pinned) if batch else version_lines(target, report, pinned, verbose())
    for line in lines:
        echo(line)
    if store is None:
        echo(f"  {report['trust_note']}; prov add checks them in the store that receives the batch")
    elif not report["trust_decision"]:
        echo(f"  {report['trust_note']}; pin the keys you trust (--signer KEY.pub or PROV_SIGNERS) to decide")
