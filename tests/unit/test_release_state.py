"""A training job's release state (``provenance.trust.releases``): the attest key it records and the counter floor
a rotated-out key's release stops setting (attack review 35l, A35l-2; TUF 5.3.11 fast-forward recovery)."""

from __future__ import annotations

import json

import pytest

from provenance.errors import InputError, VerificationError
from provenance.store.log_state import LogState
from provenance.trust import releases

LOG = LogState(7, "a" * 64, "b" * 64)
OLD_KEY, NEW_KEY = "1" * 64, "2" * 64


def _kept(tmp_path, attest_key: str | None = OLD_KEY) -> releases.AcceptedRelease:
    """The state a job wrote after accepting release 1,000,000 of v2 under root v1, read back from its file."""
    path = tmp_path / "job.json"
    accepted = releases.AcceptedRelease(1_000_000, "v2", "c" * 64, "d" * 64, "", 1, LOG, attest_key)
    releases.record(path, accepted)
    known = releases.read_state(path)
    assert known is not None
    return known


def test_the_state_file_keeps_the_attest_key(tmp_path):
    known = _kept(tmp_path)
    assert (known.attest_key, known.release, known.audit_log) == (OLD_KEY, 1_000_000, LOG)
    assert json.loads((tmp_path / "job.json").read_text())["attestKey"] == OLD_KEY


def test_a_malformed_attest_key_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "job.json"
    raw = releases.AcceptedRelease(1, "v1", "c" * 64, "d" * 64, "t").to_dict() | {"attestKey": 5}
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match="job.json: attestKey must be a string"):
        releases.read_state(path)


def _release_3(root_version: int | None = 2) -> releases.AcceptedRelease:
    return releases.AcceptedRelease(3, "v3", "e" * 64, "f" * 64, root_version=root_version, attest_key=NEW_KEY)


def test_a_key_still_trusted_keeps_its_counter_as_the_floor(tmp_path):
    known = _kept(tmp_path)
    floor = releases.after_rotation(known, {OLD_KEY, NEW_KEY})
    assert floor == known
    with pytest.raises(VerificationError, match="older than release 1000000"):
        releases.check_fresh(_release_3(), floor, None, "v3.attestation.json")


def test_a_rotated_out_keys_counter_is_no_floor_but_the_root_and_log_floors_stay(tmp_path):
    floor = releases.after_rotation(_kept(tmp_path), {NEW_KEY})
    assert floor is not None and (floor.release, floor.root_version, floor.audit_log) == (0, 1, LOG)
    releases.check_fresh(_release_3(), floor, None, "v3.attestation.json")  # taken
    with pytest.raises(VerificationError, match="root rollback refused"):
        releases.check_fresh(_release_3(root_version=None), floor, None, "v3.attestation.json")


def test_a_state_from_before_attest_keys_or_a_job_that_pins_nothing_keeps_the_floor(tmp_path):
    older = _kept(tmp_path, attest_key=None)
    assert releases.after_rotation(older, {NEW_KEY}) == older
    known = _kept(tmp_path)
    assert releases.after_rotation(known, None) == known
