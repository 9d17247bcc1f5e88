"""DSSE envelopes: an independent implementation (securesystemslib) must accept ours."""

from __future__ import annotations

import base64
import copy
import json
import os
import stat

import pytest
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from provenance import keys, signing
from provenance.errors import InputError, KeyFileError, VerificationError


@pytest.fixture
def signed(workdir):
    pair = keys.generate(workdir / "k")
    private = keys.load_private(pair.private_path)
    stmt = signing.statement("v1", b"\x11" * 32, "https://prov.dev/dataset-version/v1", {"records": 3})
    return pair, private, signing.sign(stmt, private)


def _sslib_verify(env: dict, public) -> None:
    key = SSlibKey.from_crypto(public, keyid=keys.key_id(public))
    Envelope.from_dict(copy.deepcopy(env)).verify([key], 1)  # from_dict consumes its input


def test_securesystemslib_verifies_our_envelope(signed):
    pair, private, env = signed
    _sslib_verify(env, private.public_key())
    stmt = json.loads(base64.b64decode(env["payload"]))
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["subject"][0]["digest"]["rfc6962-sha256"] == "11" * 32
    assert env["signatures"][0]["keyid"] == pair.keyid


def test_tampered_payload_wrong_key_and_changed_type_all_fail(signed, workdir):
    pair, private, env = signed
    public = private.public_key()
    other = keys.load_private(keys.generate(workdir / "mallory").private_path).public_key()
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["records"] = 4
    tampered = dict(env, payload=base64.b64encode(signing.canonical_json(stmt)).decode())
    retyped = dict(env, payloadType="application/json")
    for bad, key in ((tampered, public), (env, other), (retyped, public)):
        with pytest.raises(Exception):  # noqa: B017  (securesystemslib raises its own types)
            _sslib_verify(bad, key)
        with pytest.raises(VerificationError):
            signing.verify(bad, {keys.key_id(key): key})
    assert signing.verify(env, {pair.keyid: public}).keyid == pair.keyid


def test_a_lying_keyid_fails_even_when_the_signature_is_good(signed, workdir):
    pair, private, env = signed
    liar = dict(env, signatures=[dict(env["signatures"][0], keyid="ab" * 32)])
    with pytest.raises(VerificationError, match="keyid claims"):
        signing.verify(liar, {pair.keyid: private.public_key()})


def test_no_trusted_keys_fails_closed(signed):
    _, _, env = signed
    with pytest.raises(VerificationError, match="fails closed"):
        signing.verify(env, {})


@pytest.mark.parametrize(
    "data,match",
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"payloadType": "x", "payload": "!!", "signatures": [{"keyid": "", "sig": "AA=="}]}', "bad base64"),
        (b'{"payloadType": "x", "signatures": []}', "'payload'"),
    ],
)
def test_malformed_envelopes_are_input_errors(data, match):
    with pytest.raises(InputError, match=match):
        signing.parse_envelope(data, "e.json")


def test_private_key_is_0600_pkcs8_and_encrypted_with_a_passphrase(workdir, monkeypatch):
    plain = keys.generate(workdir / "plain")
    assert stat.S_IMODE(os.stat(plain.private_path).st_mode) == 0o600
    assert plain.private_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    monkeypatch.setenv("PROV_PASSPHRASE", "correct horse")
    enc = keys.generate(workdir / "enc")
    assert enc.private_path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert keys.key_id(keys.load_private(enc.private_path).public_key()) == enc.keyid
    monkeypatch.setenv("PROV_PASSPHRASE", "wrong")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        keys.load_private(enc.private_path)
    monkeypatch.delenv("PROV_PASSPHRASE")
    with pytest.raises(KeyFileError, match="encrypted; set PROV_PASSPHRASE"):
        keys.load_private(enc.private_path)


def test_world_readable_or_garbage_keys_are_refused(workdir):
    pair = keys.generate(workdir / "k")
    os.chmod(pair.private_path, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        keys.load_private(pair.private_path)
    junk = workdir / "junk.key"
    junk.write_text("hello")
    os.chmod(junk, 0o600)
    with pytest.raises(KeyFileError, match="not a usable private key"):
        keys.load_private(junk)
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        keys.load_public(junk)
    with pytest.raises(InputError, match="already exists"):
        keys.generate(workdir / "k")


def test_a_remembered_verdict_answers_for_the_same_key_signature_and_message_only(signed, workdir):
    """``signature_verifies`` remembers verdicts for the process; an envelope verified once must still fail
    with its payload changed (same key and signature) or under another key given the signer's key id (a
    ``.prov/`` writer's ``keys`` row pairing the id with its own key), and still pass as it was."""
    pair, private, env = signed
    public = private.public_key()
    assert signing.verify(env, {pair.keyid: public}, "v1").keyid == pair.keyid
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["records"] = 4
    changed = dict(env, payload=base64.b64encode(signing.canonical_json(stmt)).decode())
    with pytest.raises(VerificationError, match="does not verify"):
        signing.verify(changed, {pair.keyid: public}, "v1")
    other = keys.load_private(keys.generate(workdir / "other").private_path).public_key()
    with pytest.raises(VerificationError, match="does not verify"):
        signing.verify(env, {pair.keyid: other}, "v1")
    assert signing.verify(env, {pair.keyid: public}, "v1").statement["predicate"] == {"records": 3}
