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


def test_a35l_1_a_rollback_below_the_attestations_own_log_state_is_refused(prov, template_trust, workdir):
    """A35l-1 (medium), fixed: the attestation's signed audit-log state is a kept state the store's log must
    extend, so a .prov/ writer who rolls the store back below a revocation is refused by a job without a release
    state, on the CLI and in the loader."""
    size = _revoke_then_release(prov, workdir)
    roll_back_log(workdir / ".prov" / "prov.db", workdir / "before-revoke.db")  # the thief: revocation gone
    r = prov(*JOB)
    pins = prov_api.Pins.load([str(workdir / "maintainer.pub")])
    assert size > 0
    assert r.exit_code == 1 and "audit log has" in r.stderr, r.output  # before the fix: exit 0, "signature ok"
    with warnings.catch_warnings(), pytest.raises(VerificationError, match="audit log has"):
        warnings.simplefilter("ignore")  # before the fix: the job trained on the revoked key's records
        prov_api.load("v3q", store=workdir, pins=pins, attestation="v3q.attestation.json", fail_on_revoked=True)


ROOT1 = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": "root1.json"}
CHAIN = {"PROV_SIGNERS": "rootk.pub", "PROV_ROOT": "root1.json:root2.json"}


def _v2_released_by_att1(prov, workdir: Path) -> None:
    """Root v1: maint commits, att1 attests (root v2 gives attest to att2). v1, v2 and v3.parquet (150, 160, 170
    digits, labels "0".."9") written; v1 and v2 committed and v2 released against v1 by att1."""
    import pyarrow.parquet as pq

    from support import attest_rotation_roots, digits_table

    attest_rotation_roots(prov, workdir)
    for tag, n in (("v1", 150), ("v2", 160), ("v3", 170)):
        pq.write_table(digits_table(n), workdir / f"{tag}.parquet")
    for args in (
        ["init"],
        ["commit", "v1.parquet", "--tag", "v1", "--key", "maint.key"],
        ["commit", "v2.parquet", "--tag", "v2", "--key", "maint.key"],
        ["check", "v2", "--base", "v1", "--attest", "--key", "att1.key"],
    ):
        r = prov(*args, env=ROOT1)
        assert r.exit_code == 0, (args, r.output)


def _fast_forwarded_job(prov, workdir: Path) -> None:
    """Root v1 gives attest to att1 (stolen), root v2 to att2. The thief re-signs v2's genuine release with att1 under
    release counter 1,000,000; the training job (release state ``job.json``) accepts it, as it must while root v1 is in
    force. The maintainer rotates att1 out (root v2) and releases v3 with att2 against v1."""
    from provenance import keys, signing

    _v2_released_by_att1(prov, workdir)
    stmt = payload(json.loads(Path("v2.attestation.json").read_text()))
    stmt["predicate"][EXT]["release"] = 1_000_000
    Path("forged.json").write_bytes(signing.canonical_json(signing.sign(stmt, keys.load_private(workdir / "att1.key"))))
    r = prov("verify", "v2", "--attestation", "forged.json", "--no-data", "--release-state", "job.json", env=ROOT1)
    assert r.exit_code == 0 and json.loads(Path("job.json").read_text())["release"] == 1_000_000, r.output
    for args in (
        ["commit", "v3.parquet", "--tag", "v3", "--parent", "v2", "--key", "maint.key"],
        ["check", "v3", "--base", "v1", "--attest", "--key", "att2.key"],
    ):
        r = prov(*args, env=CHAIN)
        assert r.exit_code == 0, (args, r.output)


def test_a35l_2_control_rotation_refuses_the_stolen_key_and_a_fresh_job_takes_the_new_release(prov, workdir):
    """Control: under the new root the thief's attestation is refused, and a job with no state takes v3's release."""
    _fast_forwarded_job(prov, workdir)
    r = prov("verify", "v2", "--attestation", "forged.json", "--no-data", env=CHAIN)
    assert r.exit_code == 1, r.output
    r = prov(
        "verify", "v3", "--attestation", "v3.attestation.json", "--no-data", "--release-state", "new.json", env=CHAIN
    )
    assert r.exit_code == 0, r.output


def test_a35l_2_a_rotated_out_attest_keys_fast_forward_does_not_freeze_the_job(prov, workdir):
    """A35l-2 (low-medium), fixed: the job's state records the key that signed the newest release it accepted
    (``attestKey``); once the root in force no longer trusts it for attest, its counter is no floor (TUF 5.3.11),
    while the root version and log-state floors stay: v3's genuine release is taken and recorded."""
    _fast_forwarded_job(prov, workdir)
    from provenance import keys

    att1 = keys.key_id(keys.load_private(workdir / "att1.key").public_key())
    assert json.loads(Path("job.json").read_text())["attestKey"] == att1  # the thief's counter, under its key
    r = prov(
        "verify", "v3", "--attestation", "v3.attestation.json", "--no-data", "--release-state", "job.json", env=CHAIN
    )
    assert r.exit_code == 0, r.output  # before the fix: exit 1, "release 3 (v3) is older than release 1000000 (v2)"
    state = json.loads(Path("job.json").read_text())
    assert state["release"] < 1_000_000 and (state["version"], state["rootVersion"]) == ("v3", 2), state
    assert state["attestKey"] != att1


def _released_under_split_roles(prov, workdir: Path):
    """:func:`_v2_released_by_att1`; returns the job's pins (root v1) and v2's labels as the file holds them (ints)."""
    import pyarrow.parquet as pq

    _v2_released_by_att1(prov, workdir)
    pins = prov_api.Pins.load(["rootk.pub"], roots=["root1.json"])
    return pins, [int(v) for v in pq.read_table("v2.parquet").column("label").to_pylist()]


def _job_targets(workdir: Path, pins) -> list[int]:
    """What a training job reads through the verifying loader with v2's release attestation: y of arrays(), mapped
    to the digit each index stands for when the job takes the class order it trained on (v1's: "0".."9")."""
    data = prov_api.load("v2", store=workdir, pins=pins, attestation="v2.attestation.json")
    _, y = data.arrays()
    return [int(v) for v in y]


def test_a35l_3_control_the_released_version_gives_the_job_its_signed_labels(prov, workdir):
    pins, labels = _released_under_split_roles(prov, workdir)
    assert _job_targets(workdir, pins) == labels  # class i is digit i: the sorted labels


def _permute_classes(predicate: dict) -> None:
    """The thief's 'classes' list for the table: 0<->9, 1<->8, ..."""
    predicate["schema"]["classes"] = [str(d) for d in range(9, -1, -1)]


def _phantom_label(predicate: dict) -> None:
    """The thief's extra label with no record ("00"): the sorted labels, which index y without a 'classes' list, shift
    every digit from 1 up by one."""
    predicate["labels"]["00"] = 0


@pytest.mark.parametrize("change", [_permute_classes, _phantom_label], ids=["classes", "labels"])
def test_a35l_3_a_commit_key_cannot_change_what_a_release_gives_the_job(prov, workdir, change):
    """A35l-3 (medium-high), fixed: the attestation signs the version's statement digest (``versionStatement``), so
    a commit key alone re-signing a released table version with a permuted 'classes' list or a label no record holds
    is refused by the loader instead of handing the job flipped y indices."""
    from support import resign_version

    pins, _ = _released_under_split_roles(prov, workdir)
    resign_version(workdir, "v2", workdir / "maint.key", change)  # the thief of maint.key (commit only)
    with pytest.raises(VerificationError, match="another signed statement of v2"):
        _job_targets(workdir, pins)  # before the fix: 9 - digit ('classes'), digit + 1 from 1 up ('labels')
