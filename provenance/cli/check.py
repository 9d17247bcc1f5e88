"""``prov check``: the release gate for CI, and ``prov waive`` for reviewed exceptions."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from provenance import api, output_file
from provenance.cli._app import JsonFlag, command, echo, emit_json, note
from provenance.cli._kept_log import KeptStateOpt, extends_lines, held_states
from provenance.cli._trust import trust_flags
from provenance.errors import InputError, StoreError
from provenance.escaping import visible
from provenance.gate import policy as policy_lib

if TYPE_CHECKING:
    from provenance.kept_log import KeptLog
from provenance.report import Format, check_output, format_for, medium_for, render, verdict_for_log, write_output
from provenance.store import Store
from provenance.trust.pins import Pins


def _print_default_policy(value: bool) -> None:
    if value:
        echo(policy_lib.default_policy_toml())
        raise typer.Exit(0)


@command("check")
@trust_flags
def check(
    # optional only for --print-default-policy; the help says both are needed (newcomer review 9, finding 11)
    version: str | None = typer.Argument(None, metavar="VERSION", help="The candidate version (required)."),
    base: str | None = typer.Option(
        None, "--base", metavar="BASE", help="The trusted base version to check against (required)."
    ),
    policy: str | None = typer.Option(None, "--policy", help="Policy TOML (default: the built-in policy)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, json, md, sarif or junit."),
    out: str | None = typer.Option(None, "--out", "-o", help="Write the report to FILE instead of stdout."),
    wide: bool = typer.Option(
        False, "--wide", help="Text: also print each flagged record listed whole under its table."
    ),
    waiver: list[str] = typer.Option([], "--waiver", help="A file of signed waivers (repeatable)."),
    attest: bool = typer.Option(
        False, "--attest", help="On pass (warnings included), write a signed release attestation."
    ),
    key: str | None = typer.Option(None, "--key", envvar="PROV_KEY", help="Key that signs the attestation."),
    attest_out: str | None = typer.Option(
        None, "--attest-out", help="Attestation file (default VERSION.attestation.json)."
    ),
    force: bool = typer.Option(False, "--force", help="With --attest: replace an attestation file already there."),
    base_unreleased: bool = typer.Option(
        False,
        "--base-unreleased",
        help=(
            "Trust a BASE no release attestation names (--attest refuses it otherwise, unless BASE is a first version, "
            "with no parent: the starting point you chose); the attestation says so."
        ),
    ),
    base_attestation: str | None = typer.Option(
        None,
        "--base-attestation",
        metavar="FILE",
        help="BASE's release attestation kept outside the store (a CI artifact): it shows BASE was released.",
    ),
    checkpoint: list[str] = typer.Option(
        [],
        "--checkpoint",
        metavar="FILE",
        help="A log state kept outside the store (prov commit --checkpoint-out, prov audit checkpoint --out, or a "
        "release attestation): the audit log must still hold it, else the check blocks (repeatable).",
    ),
    no_save: bool = typer.Option(
        False,
        "--no-save",
        help="Leave the store as it was: do not store the detector run (for a pull request's check).",
    ),
    print_default_policy: bool = typer.Option(
        False,
        "--print-default-policy",
        help="Print the default policy as TOML and exit.",
        # before the pins are read: printing the policy needs no key (newcomer review 11, finding 19)
        is_eager=True,
        callback=_print_default_policy,
    ),
    pins: Pins = Pins(),  # filled by @trust_flags
) -> None:
    """Exit 0 if VERSION may be released against BASE, 1 if blocked, 2 for bad input, 3 if it could not be evaluated.

    Needs the keys you trust pinned (--signer KEY.pub or PROV_SIGNERS; or a --root file): nothing is taken from the store.
    """
    if version is None or base is None:
        raise InputError("prov check: needs a VERSION and --base BASE, e.g. prov check v4 --base v3")
    format_for("check", fmt)  # worded as prov diff words it (newcomer review 10, finding 25)
    if force and not attest:
        raise InputError("--force replaces an attestation file; it applies only with --attest")
    if no_save and attest:
        raise InputError("--no-save leaves the store as it was, and --attest records the attestation in it: give one")
    # a forgotten --attest would pass and write nothing, silently (newcomer review 10, finding 17); a key
    # from PROV_KEY is the environment's, not a request to attest
    typed_key = key if key != os.environ.get("PROV_KEY") else None
    asked = [flag for flag, value in (("--attest-out", attest_out), ("--key", typed_key)) if value is not None]
    if asked and not attest:
        verb = "applies" if len(asked) == 1 else "apply"
        raise InputError(f"{' and '.join(asked)} {verb} only with --attest (sign and write a release attestation)")
    if attest and not key:
        raise InputError("--attest needs --key KEY.key (or PROV_KEY) to sign the attestation")
    if out is not None:
        check_output(out)  # a device, FIFO or folder is refused before anything is evaluated
    target = attest_out or f"{version}.attestation.json"
    if attest:
        try:  # an attestation already there is refused before any work, as prov sign refuses an envelope
            output_file.check_output(target, "--attest-out", replace=force)
        except output_file.AlreadyExists:
            raise _exists(target) from None
    pins.require_trust_decision(f"prov check {version}")
    pol = policy_lib.load(policy)  # a bad policy is exit 2 before anything is evaluated
    store = Store.open(pins=pins)
    if not no_save:  # the findings (and --attest's release) are written after the whole check: refuse before it
        store.refuse_links("" if attest else ", or pass --no-save")
    if attest and not store.writable():
        raise StoreError(f"{store.root}: the store is read-only here; --attest records the attestation in it")
    from provenance.cli._progress import progress_shown

    with progress_shown():
        try:
            result = api.check(
                store,
                version,
                base,
                policy=pol,
                waivers=waiver,
                attest=attest,
                key=key,
                attestation_out=target,
                replace_attestation=force,
                save=not no_save,
                base_unreleased=base_unreleased,
                base_attestation=base_attestation,
                kept_log_state=checkpoint,
            )
        except output_file.AlreadyExists:  # created while the check ran: still never replaced
            raise _exists(target) from None
    # whether prov findings can list this check's flagged records: the next steps say how to see them otherwise
    report = result.to_dict() | {"findings_stored": result.detection_saved is not None}
    write_output(render("check", Format(fmt), report, medium_for(out, wide=wide)), out)
    if result.detectors and not store.writable() and not no_save:
        note(f"{store.root} is read-only: the detectors' findings were not saved (prov findings will not list them)")
    if attest and not result.attestation:
        why = "it could not be evaluated" if result.exit_code == 3 else "it did not pass"
        note(f"--attest: no attestation written ({version} against {base}: {why}, exit {result.exit_code})")
    from provenance.report.quarantine_notice import findings_cut_notice

    cut = findings_cut_notice(version, _quarantine_of(store, version))
    if cut:  # a findings quarantine passes on what the verdict missed: say so once (newcomer review 30)
        note(cut)
    # the report built once: its rules' records are deep-copied (dataclasses.asdict), 0.2 s of CPU at a 10,000-record delta
    logged = verdict_for_log("check", report, out)
    if logged:  # the report went to a file: the CI log's last line still says why the step passed or failed
        typer.echo(visible(logged), err=True)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _quarantine_of(store: Store, version: str) -> dict | None:
    """What ``version``'s signed predicate says a ``prov quarantine`` cut (``version_show.quarantine_facts``), read
    from its statement verified under the pins again; None for another version or one that does not verify (the
    check has said why)."""
    from provenance.errors import VerificationError
    from provenance.version_facts import verified_statement
    from provenance.version_show import quarantine_facts

    try:
        return quarantine_facts(verified_statement(store, store.version(version))["predicate"])
    except (InputError, VerificationError):
        return None


def _exists(path: str) -> InputError:
    """The refusal to attest over a file already there (a second run replaced the first one's release silently)."""
    link = output_file.link_refusal(path, "--attest-out")
    if link is not None:
        return link
    return InputError(f"{path}: already exists; give --force to replace it, or --attest-out FILE to write another")


@command("waive")
@trust_flags
def waive(
    digest: str | None = typer.Argument(
        None,
        metavar="[DIGEST]",
        help="Content digest (hex) of the flagged record: all 64, or a unique prefix of 8 or more.",
    ),
    findings: str | None = typer.Option(
        None,
        "--findings",
        help="Instead of DIGEST: a reviewed findings file (prov findings V --json, or prov check --format json); one "
        "waiver per flagged finding, each signing the file's SHA-256; refused whole if it lists a record the "
        "detectors, re-run now on the signed versions, do not flag.",
    ),
    base: str | None = typer.Option(
        None,
        "--base",
        help="With --findings: the base the detectors re-run against (default: the one FILE names, else the stored run's).",
    ),
    fpr: float | None = typer.Option(
        None, "--fpr", help="With --findings: the rate the re-run combines at (default 0.01; never read from FILE)."
    ),
    version: str = typer.Option(..., "--version", help="The version whose finding is accepted."),
    detector: str = typer.Option(..., "--detector", help="The detector whose flag is accepted."),
    reason: str = typer.Option(..., "--reason", help="Why the finding is acceptable."),
    key: str = typer.Option(..., "--key", envvar="PROV_KEY", help="The reviewer's key (one pinned to waive)."),
    label: str | None = typer.Option(
        None, "--label", help="The label of the row accepted (needed when the version holds the record under several)."
    ),
    kept_state: list[str] = KeptStateOpt,
    pins: Pins = Pins(),  # filled by @trust_flags
    json_out: bool = JsonFlag,
) -> None:
    """Accept one finding after review (or each flagged finding of a reviewed file, --findings): a signed waiver
    that `prov check` honours if its key may waive."""
    from provenance.gate.waivers import create_waiver
    from provenance.names import short_digest

    if (digest is None) == (findings is None):
        raise InputError("prov waive: give DIGEST or --findings FILE, one of them")
    if findings is not None and label is not None:
        raise InputError("prov waive: --label goes with DIGEST (--findings takes each finding's label from the file)")
    if findings is None and (base is not None or fpr is not None):
        raise InputError("prov waive: --base and --fpr go with --findings (the re-run that decides what is flagged)")
    store = Store.open(pins=pins)
    kept = held_states(store, kept_state, "waiver")  # a log cut back is not signed over (exit 1)
    if findings is not None:
        _waive_reviewed(store, version, findings, detector, reason, key, kept, json_out, base, fpr)
        return
    assert digest is not None
    result = create_waiver(store, version, digest, detector, reason, key, label, kept)
    for warning in result["warnings"]:  # recorded all the same (exit 0): the reviewer decides
        typer.echo(f"Warning: {visible(warning)}", err=True)
    if json_out:
        emit_json(result)
    elif result["already_waived"]:
        echo(
            f"Already waived: {detector} on {short_digest(result['digest'])} in {version} by key {result['keyid'][:16]} "
            f"with this reason (waiver {result['waiver'][:16]}); nothing written"
        )
    else:
        echo(
            f"Waiver {result['waiver'][:16]} recorded: {detector} on {short_digest(result['digest'])} in {version}, "
            f"signed by {result['keyid'][:16]}"
        )
        for line in extends_lines(kept):
            echo(line)


def _waive_reviewed(
    store: Store,
    version: str,
    path: str,
    detector: str,
    reason: str,
    key: str,
    kept: KeptLog | None,
    json_out: bool,
    base: str | None,
    fpr: float | None,
) -> None:
    """``prov waive --findings FILE``: one waiver per flagged finding of the reviewed file that the detectors, re-run
    now, flag (``gate.waivers_bulk``)."""
    from provenance import progress
    from provenance.cli._progress import progress_shown
    from provenance.gate.waivers_bulk import waive_reviewed

    with progress_shown(), progress.stage("detectors", unit="steps"):
        result = waive_reviewed(store, version, path, detector, reason, key, kept, base, fpr)
    if json_out:
        emit_json(result)
        return
    keyid = result["waivers"][0]["keyid"][:16]
    echo(
        f"Waived {detector} on {len(result['waivers'])} findings of {path} in {version} ({result['written']} "
        f"written, {result['already_waived']} already waived), signed by {keyid}, each naming the file's SHA-256 "
        f"{result['reviewedFile'][:16]}; each flagged by the detectors re-run on {version} against "
        f"{result['detection']['base']} at fpr {result['detection']['fpr']:g}"
    )
    for line in extends_lines(kept):
        echo(line)
