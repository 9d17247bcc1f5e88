"""``provenance.load(..., attestation=...)`` requires the release as ``prov verify V --attestation A`` does."""

from __future__ import annotations

import base64
import json

import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import InputError, VerificationError
from support import digits_table


@pytest.fixture
def released(workdir, store, keypair, pins):
    """v1 and v2 (the same digits, another file) committed; v2 checked against v1 and attested."""
    table = digits_table(300)
    pq.write_table(table, workdir / "v1.parquet")
    prov.commit(store, "v1.parquet", tag="v1", key=keypair.private_path)
    pq.write_table(table, workdir / "v2.parquet")
    prov.commit(store, "v2.parquet", tag="v2", key=keypair.private_path, parent="v1")
    result = prov.check(store, "v2", "v1", attest=True, key=keypair.private_path, attestation_out="v2.json", pins=pins)
    assert result.exit_code == 0, result.to_dict()
    return workdir / "v2.json"


def test_a_released_version_loads_and_its_attestation_vouches_for_no_other(released, store, pins):
    data = prov.load("v2", store=store, pins=pins, attestation=released)
    assert len(list(data)) == 300 and data.attestation["base"]["version"] == "v1"
    with pytest.raises(VerificationError, match="v1"):
        prov.load("v1", store=store, pins=pins, attestation=released)


def test_a_tampered_attestation_is_refused(released, store, pins):
    envelope = json.loads(released.read_text())
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[10] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    released.write_text(json.dumps(envelope))
    with pytest.raises(VerificationError):
        prov.load("v2", store=store, pins=pins, attestation=released)


def test_check_from_python_refuses_an_attestation_already_there_as_the_command_does(released, store, pins, keypair):
    """Newcomer review 10, finding 18: ``prov.check(attest=True)`` replaced an existing attestation silently
    (``replace_attestation`` defaulted to True) where ``prov check --attest`` refuses without ``--force``; and
    the refusal names the Python parameters, not the command's flags."""
    from provenance.errors import InputError

    first = released.read_bytes()
    with pytest.raises(InputError) as refused:
        prov.check(store, "v2", "v1", attest=True, key=keypair.private_path, attestation_out=released, pins=pins)
    assert str(refused.value) == (
        f"{released}: already exists; give replace_attestation=True (prov check --force) to replace it, "
        "or attestation_out= to write another"
    )
    assert released.read_bytes() == first
    with pytest.raises(InputError, match=r"^check v2: nothing is pinned; give pins= \(e.g. prov.Pins.load"):
        prov.check(prov.Store.open(store.root), "v2", "v1")  # not "pass --signer KEY.pub"
    with pytest.raises(InputError, match=r"^attest=True needs key=, the private key"):
        prov.check(store, "v2", "v1", attest=True, attestation_out="other.json", pins=pins)
    result = prov.check(
        store, "v2", "v1", attest=True, key=keypair.private_path, attestation_out=released, replace_attestation=True,
        pins=pins,
    )  # fmt: skip
    assert result.attestation == str(released) and released.read_bytes() != first


def test_a_job_keeping_a_release_state_refuses_an_older_release_as_prov_verify_does(
    released, workdir, store, keypair, pins
):
    """Rollback protection through ``load`` (newcomer review 9, finding 2): ``release_state``,
    ``min_release`` and ``base`` are checked as ``prov verify V --attestation A`` checks them."""
    pq.write_table(digits_table(300), workdir / "v3.parquet")
    prov.commit(store, "v3.parquet", tag="v3", key=keypair.private_path, parent="v2")
    result = prov.check(store, "v3", "v2", attest=True, key=keypair.private_path, attestation_out="v3.json", pins=pins)
    assert result.exit_code == 0, result.to_dict()
    state = workdir / "job-release.json"
    with pytest.raises(InputError, match="release_state is checked against a release attestation"):
        prov.load("v3", store=store, pins=pins, release_state=state)
    with pytest.raises(VerificationError, match="v1"):  # v3 was checked against v2, not v1
        prov.load("v3", store=store, pins=pins, attestation=workdir / "v3.json", base="v1")
    with pytest.warns(RuntimeWarning, match="job-release.json: created; no earlier release was recorded"):
        newer = prov.load("v3", store=store, pins=pins, attestation=workdir / "v3.json", base="v2", release_state=state)
    assert json.loads(state.read_text())["release"] == newer.attestation["release"]
    # the older release, attested and signed, is refused once the job has accepted a newer one
    with pytest.raises(VerificationError, match="older|release"):
        prov.load("v2", store=store, pins=pins, attestation=released, release_state=state)
    with pytest.raises(VerificationError, match="release"):
        prov.load("v2", store=store, pins=pins, attestation=released, min_release=newer.attestation["release"])
    assert len(prov.load("v2", store=store, pins=pins, attestation=released)) == 300  # no state: it loads
