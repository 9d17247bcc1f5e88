"""Attack review 35l: the release path (attestations, the training job's verifying loader, CI's pull requests).

Each finding is a strict xfail (``reason="A35l-N (severity): ..."``) beside a control that passes today.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

import provenance as prov_api
from provenance.errors import VerificationError
from support import payload, roll_back_log

PINNED = ("--signer", "maintainer.pub")
POLICY = ("--policy", "policy.toml")
EXT = "https://prov.dev/release/v1"


def ok(prov, *args):
    r = prov(*args)
    assert r.exit_code == 0, (args, r.output)
    return r


def _revoke_then_release(prov, workdir: Path) -> int:
    """The trust world's vendor key revoked (stolen), then v3q (which holds the vendor's records, signed as attested
    when v3q was committed) checked and attested after it; ``.prov/`` copied before the revocation to
    ``before-revoke.db``. Returns the audit-log size v3q's attestation signs (it covers the revocation)."""
    shutil.copy(workdir / ".prov" / "prov.db", workdir / "before-revoke.db")
    ok(prov, "trust", "revoke", "vendor", "--reason", "stolen", "--yes", "--checkpoint-key", "maintainer.key")
    ok(prov, "check", "v3q", "--base", "v2", *POLICY, "--attest", "--key", "maintainer.key", *PINNED)
    return payload(json.loads(Path("v3q.attestation.json").read_text()))["predicate"][EXT]["auditLog"]["treeSize"]


JOB = ("verify", "v3q", "--attestation", "v3q.attestation.json", "--no-data", "--fail-on-revoked", *PINNED)


def test_a35l_1_control_the_revoked_records_refuse_the_release_and_a_kept_state_catches_the_rollback(
    prov, template_trust, workdir
):
    """Control: before any rollback the job's --fail-on-revoked refuses v3q's release (the vendor key is revoked);
    after the rollback, a job that had accepted an earlier release (v2's, before the revocation) is refused, and so
    is one given the release attestation itself as a kept log state (--checkpoint)."""
    job = ("--no-data", "--release-state", "job.json", *PINNED)
    ok(prov, "verify", "v2", "--attestation", "v2.attestation.json", *job)
    _revoke_then_release(prov, workdir)
    r = prov(*JOB)
    assert r.exit_code == 1 and "no longer attested" in r.stderr, r.output
    roll_back_log(workdir / ".prov" / "prov.db", workdir / "before-revoke.db")
    r = prov(*JOB, "--release-state", "job.json")
    assert r.exit_code == 1 and "the log" in r.stderr, r.output
    r = prov(*JOB, "--checkpoint", "v3q.attestation.json")
    assert r.exit_code == 1, r.output


@pytest.mark.xfail(
    strict=True,
    reason="A35l-1 (medium): a release attestation signs the audit log's state (after a revocation), yet prov verify "
    "--attestation / prov.load(attestation=) never require the store's log to extend the attestation's own signed "
    "log: a .prov/ writer who rolls the store back to before the revocation makes --fail-on-revoked pass for a job "
    "with no release state yet (its first release) or none kept",
)
def test_a35l_1_a_rollback_below_the_attestations_own_log_state_is_refused(prov, template_trust, workdir):
    size = _revoke_then_release(prov, workdir)
    roll_back_log(workdir / ".prov" / "prov.db", workdir / "before-revoke.db")  # the thief: revocation gone
    r = prov(*JOB)
    pins = prov_api.Pins.load([str(workdir / "maintainer.pub")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prov_api.load("v3q", store=workdir, pins=pins, attestation="v3q.attestation.json", fail_on_revoked=True)
            loaded = True
        except VerificationError:
            loaded = False
    assert size > 0
    assert r.exit_code == 1 and "audit log" in r.stderr, r.output  # today: exit 0, "signature ok"
    assert not loaded  # today: the job trains on the revoked key's records
