"""The words ``prov verify`` and ``prov audit verify`` print when a check holds (and ``--json``'s failure document).

One module, so the command line and ``prov demo`` (which quotes these commands) say the
same; each function takes the library's report (``schemas/verify-version.schema.json``,
``schemas/audit-verify.schema.json``) and returns the lines, unindented where the command
starts a line and indented two spaces under it.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from provenance.escaping import visible
from provenance.report.wording import plural, short_times
from provenance.trust.pins import UNPINNED_SIGNATURE

if TYPE_CHECKING:
    from provenance.errors import VerificationError

# What a release's number is: not a count of releases (the tour's first attestation says "release 3"),
# and a training job's --release-state relies on it only growing. Said under it with --verbose only
# (newcomer review 8: 200 characters on every successful verify in a training job's log); the
# --attestation help says it in short.
RELEASE_COUNTER = (
    "  (release N is a counter, not a count of releases: at least the version's place in the store's "
    "history, so a fix committed after a bad release counts higher; a job keeping --release-state "
    "refuses a lower one)"
)


def batch_lines(target: str, report: dict, pinned: str | None) -> list[str]:
    """``prov verify DATA`` for a batch that matches what its source signed; ``pinned`` describes the
    keys it was checked against (``Pins.describe``), None when only the store's keys were (``--store-keys``)."""
    trusted = pinned or UNPINNED_SIGNATURE
    return [
        f"{target}: ok, {report['records']} records match the batch signed by {report['source']!r} "
        f"(key {report['keyid'][:16]}, captured {report['captured_at']}; {trusted})"
    ]


def version_lines(target: str, report: dict, pinned: str | None, explain: bool = False) -> list[str]:
    """``prov verify V``: the signature, manifest and data, then (with ``--attestation``) the release;
    ``pinned`` as for :func:`batch_lines`; ``explain`` (``--verbose``): what the release number is."""
    signature = f"signature ok ({pinned})" if pinned else UNPINNED_SIGNATURE
    out = [f"Version {target}: {signature}, manifest ok, data {report['data']} ({report['records']} records)"]
    if report.get("path"):
        out.append(f"  read {report['path']}")
    if report.get("attestation"):
        out += attestation_lines(report["attestation"], explain)
    return out


def attestation_lines(a: dict, explain: bool = False) -> list[str]:
    """The lines ``prov verify --attestation`` prints for an attestation that held (``explain``: what
    the release number is, ``RELEASE_COUNTER``)."""
    out = [
        f"  release attestation ok: release {a['release']} passed policy {a['policy']['digest'][:12]} against "
        f"{a['base']['version']} at {a['checked_at']}, "
        + (
            f"EXPIRED at {a['expires']} (--at-release: an audit of the past release, not a go-ahead to train today)"
            if a.get("expired")
            else f"valid until {a['expires']}"
        ),
    ]
    if explain:
        out.append(RELEASE_COUNTER.replace("release N", f"release {a['release']}"))
    off = a.get("checks_off") or []
    out.append(f"  checks that policy turned off: {', '.join(off) if off else 'none'}")
    for w in a.get("warnings") or []:
        out.append(f"  released with a warning: {w['rule']}: {visible(w['reason'])}")
    state = a.get("release_state")
    if state:
        root = f", under root v{state['root_version']}" if state.get("root_version") else ", with no root file"
        log = f", audit log at {state['audit_log_size']} entries" if state.get("audit_log_size") is not None else ""
        out.append(f"  newest release this job has accepted: {state['release']}{root}{log} ({state['path']})")
    return out


# A pending revocation only takes trust away, so checks honour it at once; what a signature adds is that
# whoever writes .prov/ cannot roll it back unnoticed (newcomer review 10, finding 15)
REVOCATIONS = ("key.revoke", "trust.revoke")
REVOCATION_NOTE = " (a revocation: in force already; a checkpoint keeps it from being rolled back)"


def audit_lines(report: dict) -> list[str]:
    """``prov audit verify``: the chain and its signed checkpoints, what is not relied on, what is pending."""
    out = [f"Audit log ok: {report['entries']} entries, head {report['head'][:16]}, root {report['root'][:16]}"]
    n, v = len(report["checkpoints"]), report["versions"]
    # one fact a line: 80 columns (newcomer review 10, finding 26)
    out.append(f"  {plural(n, 'signed checkpoint')} (consecutive ones consistent, RFC 9162)")
    out.append(f"  {plural(v, 'version')} whose signed head is in the log")
    for cp in report["not_relied_on"]:
        warning = "WARNING: " if cp["warning"] else ""  # a rotated-out key signed another log's checkpoint
        out.append(f"  {warning}checkpoint {cp['object'][:12]} (size {cp['size']}) not relied on: {cp['reason']}")
    if not report["pinned"]:
        out.append("  NOT a trust decision: signatures checked only against keys found in .prov/ (--store-keys)")
    unvouched = [e for e in report["pending"] if e["seq"] <= report["signed"]]
    if unvouched:  # under a waive or attest key's checkpoint, which vouches for no version entry (A27d-4)
        out.append(
            f"  {plural(len(unvouched), 'version entry', 'version entries')} PENDING under {report['signed_by']}:"
        )
        out.append("    no checkpoint or version by a commit key you pin vouches for them, and")
        out.append("    signing writes refuse them (a .prov/ writer put them there, or deleted")
        out.append("    their checkpoints):")
        out += [f"    #{e['seq']} {e['ts']} {e['action']} {e['subject']}" for e in unvouched]
    after = [e for e in report["pending"] if e["seq"] > report["signed"]]
    if after:
        revoking = any(e["action"] in REVOCATIONS for e in after)
        out.append(
            f"  {plural(len(after), 'entry', 'entries')} PENDING after "
            f"{report['signed_by'] or 'the start of the log'} (under no signature; no check relies on them"
            + (" to trust anything; the revocations among them are in force):" if revoking else "):")
        )
        out += [
            f"    #{e['seq']} {e['ts']} {e['action']} {e['subject']}"
            + (REVOCATION_NOTE if e["action"] in REVOCATIONS else "")
            for e in after
        ]
    elif not unvouched and report["entries"]:
        out.append(f"  nothing pending: all under {short_times(report['signed_by'])}")
    if report.get("store_id"):  # the id to pin, once prov init's output is gone (newcomer review 20)
        sid = report["store_id"]
        out.append(f"  store id {sid['id']} (signed by {visible(sid['version'])}, audit entry {sid['seq']})")
        out.append("    pin it where checks and commits run: PROV_STORE_ID or --store-id")
    if report.get("extends"):  # --checkpoint: said as prov commit says it, one state a line (80 columns)
        out.append("  extends each kept log state given (no entry deleted or rewritten since):")
        out += [f"    {visible(k['path'])} ({plural(k['treeSize'], 'entry', 'entries')})" for k in report["extends"]]
    return out


def failed_version_report(version: str, exc: VerificationError) -> dict:
    """``prov verify VERSION --json``'s document for a version that did not verify (exit 1).

    ``version`` is the name given; ``exc`` the ``VerificationError`` raised. Returns
    ``schemas/verify-version.schema.json``'s failure shape: ``{"version", "status": "failed", "error": the one line,
    "details": a line per difference, "count": records involved in all, "changes": the records named, each
    {"digest", "kind", "locator", "detail"}}``.
    """
    return {
        "version": version,
        "status": "failed",
        "error": str(exc),
        "details": list(exc.details),
        "count": exc.count,
        "changes": list(exc.records),
    }


def changed_data_next_step(version: str) -> str:
    """The line ``prov verify VERSION`` ends with when the version's data no longer matches its signed manifest
    (exit 1): restore it, or commit the edit as a new version and review it, and where every changed record is
    listed (newcomer review 30: a failed verification ended without a way on). ``version`` is the name given."""
    v = shlex.quote(version)
    return (
        f"next: restore the data {version} signed (from git, DVC or a backup); if the edit is wanted, commit it as a "
        f"new version and review it: prov commit DATA --parent {v} --tag NEW --key K, then prov diff {v} NEW "
        f"--detect; every record that changed: prov verify {v} --json"
    )
