"""Roots of trust end to end, and hostile trust input: exit 2, one line naming the file and the problem, store unchanged."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jsonschema import Draft202012Validator

from provenance import keys, signing
from provenance.trust.root import document_digest
from support import store_fingerprint

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def one_line(r) -> str:
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def make_root(prov, out: str, *extra: str, root_keys=("root",), threshold: int = 1, sign=("root",)) -> None:
    """``out``: a root giving the maintainer every maintainer role and the vendor its source, signed by ``sign``."""
    args = [a for k in root_keys for a in ("--root-key", f"{k}.pub")]
    roles = ["--commit", "maintainer.pub", "--attest", "maintainer.pub", "--waive", "maintainer.pub"]
    r = prov("root", "new", out, *args, "--threshold", threshold, *roles, "--source", "vendor=vendor.pub", *extra)
    assert r.exit_code == 0, r.output
    for k in sign:
        assert prov("root", "sign", out, "--key", f"{k}.key").exit_code == 0


def test_a_root_file_gives_the_roles_and_a_new_root_revokes_a_key(prov, template_trust, workdir):
    for name in ("root", "root2"):
        keys.generate(workdir / name)
    make_root(prov, "root.json")
    doc = json.loads(base64.b64decode(json.loads(Path("root.json").read_text())["payload"]))
    Draft202012Validator(json.loads((SCHEMAS / "root.schema.json").read_text())).validate(doc)
    pinned = ("--signer", "root.pub", "--root", "root.json")
    r = prov("root", "show", *pinned)
    assert r.exit_code == 0 and "Root v1 (root.json) ok" in r.stdout
    # newcomer review 5: the file as an argument, as `prov root sign FILE` takes it
    r = prov("root", "show", "root.json", "--signer", "root.pub")
    assert r.exit_code == 0 and "Root v1 (root.json) ok" in r.stdout
    r = prov("root", "show", "root.json", *pinned)
    assert r.exit_code == 2 and "as arguments or with --root, not both" in one_line(r)
    r = prov("check", "v2", "--base", "v1", "--policy", "policy.toml", "--format", "json", *pinned)
    assert r.exit_code == 0, r.output
    r = prov("verify", "v2", "--attestation", "v2.attestation.json", "--no-data", *pinned)
    assert r.exit_code == 0 and "root v1 (root.json" in r.stdout

    # rotation: v2 of the root, signed by the old root key and the new one, leaves the maintainer out
    r = prov(
        "root", "new", "root-v2.json", "--root-key", "root2.pub", "--version", "2", "--source", "vendor=vendor.pub"
    )
    assert r.exit_code == 0
    for k in ("root", "root2"):
        assert prov("root", "sign", "root-v2.json", "--key", f"{k}.key").exit_code == 0
    chain = ("--signer", "root.pub", "--root", "root.json", "--root", "root-v2.json")
    r = prov("verify", "v2", "--no-data", *chain)
    assert r.exit_code == 1 and "no key may sign for role commit (root v2" in one_line(r)
    # the new root alone, pinned by its own key, says the same; the old key cannot vouch for it alone
    r = prov("verify", "v2", "--no-data", "--signer", "root2.pub", "--root", "root-v2.json")
    assert r.exit_code == 1
    r = prov("verify", "v2", "--no-data", "--signer", "root.pub", "--root", "root-v2.json")
    assert r.exit_code == 2 and "root-v2.json: none of its root keys is pinned" in one_line(r)


def test_hostile_trust_input_is_exit_2_naming_the_file(prov, template_trust, workdir):
    for name in ("root", "r2", "stranger"):
        keys.generate(workdir / name)
    Path("garbage.pub").write_text("not a key\n")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    Path("rsa.pub").write_bytes(
        rsa_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    Path("broken.json").write_text("{not json")
    make_root(prov, "expired.json", "--expires", "2020-01-01T00:00:00Z")
    make_root(prov, "below.json", root_keys=("root", "r2"), threshold=2, sign=("root",))
    make_root(prov, "role.json")
    env = json.loads(Path("role.json").read_text())
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["roles"]["deploy"] = {"keyids": [], "threshold": 1}
    stmt["subject"][0]["digest"]["sha256"] = document_digest(stmt["predicate"])
    env["payload"] = base64.b64encode(signing.canonical_json(stmt)).decode()
    Path("role.json").write_text(json.dumps(env))
    make_root(prov, "stranger-signed.json", root_keys=("stranger",), sign=("stranger",))
    cases = [
        (("--signer", "garbage.pub"), "garbage.pub: not a PEM public key"),
        (("--signer", "rsa.pub"), "rsa.pub: not an Ed25519 public key"),
        (("--signer", "maintainer.key"), "maintainer.key: a private key; pin its public key (maintainer.pub)"),
        (("--signer", "missing.pub"), "missing.pub: cannot read public key"),
        (("--signer", "root.pub", "--root", "broken.json"), "broken.json (root file): envelope is not JSON"),
        (("--signer", "root.pub", "--root", "expired.json"), "expired.json: root v1 expired at 2020-01-01"),
        (("--signer", "root.pub", "--signer", "r2.pub", "--root", "below.json"), "below.json: signed by 1 of the 2"),
        (("--signer", "root.pub", "--root", "role.json"), "role.json: unknown role 'deploy'"),
        (("--signer", "root.pub", "--root", "stranger-signed.json"), "none of its root keys is pinned"),
        (("--root", "role.json"), "a root file needs its root keys pinned"),
    ]
    before = store_fingerprint(workdir / ".prov")
    for flags, expected in cases:
        for command in (("check", "v2", "--base", "v1"), ("verify", "v2", "--no-data")):
            r = prov(*command, *flags)
            assert r.exit_code == 2 and expected in one_line(r), (command, flags, r.output)
    r = prov("check", "v2", "--base", "v1", env={"PROV_SIGNERS": "garbage.pub"})
    assert r.exit_code == 2 and "garbage.pub: not a PEM public key" in one_line(r)
    r = prov("check", "v2", "--base", "v1", env={"PROV_SIGNERS": "maintainer.pub", "PROV_ROOT_THRESHOLD": "zero"})
    assert r.exit_code == 2 and "PROV_ROOT_THRESHOLD='zero'" in one_line(r)
    assert store_fingerprint(workdir / ".prov") == before


def test_a_job_that_trusted_a_newer_root_refuses_the_older_one(prov, template_trust, workdir):
    """Security review, finding 7: root v2 is served to a job once; an attacker who later serves
    only root v1 (where a key v2 rotated out is still trusted) is refused, as TUF's client refuses
    a lower root version. The job's release state records the root version it trusted."""
    for name in ("root", "root2"):
        keys.generate(workdir / name)
    make_root(prov, "root.json")
    make_root(prov, "root-v2.json", "--version", "2", root_keys=("root2",), sign=("root", "root2"))
    attested = ("v2", "--attestation", "v2.attestation.json", "--no-data", "--release-state", "state.json")
    r = prov("verify", *attested, "--signer", "root.pub", "--root", "root.json", "--root", "root-v2.json")
    assert r.exit_code == 0, r.output
    state = json.loads(Path("state.json").read_text())
    # newcomer review 5: the line says what the state now records, the root version included
    size = state["auditLog"]["treeSize"]
    assert f"newest release this job has accepted: 2, under root v2, audit log at {size} entries (state.json)" in (
        r.stdout
    )
    Draft202012Validator(json.loads((SCHEMAS / "release-state.schema.json").read_text())).validate(state)
    assert state["rootVersion"] == 2
    for older in (("--signer", "root.pub", "--root", "root.json"), ("--signer", "maintainer.pub")):
        before = Path("state.json").read_bytes()
        r = prov("verify", *attested, *older)
        assert r.exit_code == 1, r.output
        assert "this job already trusted root v2 (root rollback refused" in one_line(r)
        assert Path("state.json").read_bytes() == before


def test_trusting_a_key_whose_window_already_ended_warns(prov, store, keypair):
    """``prov trust add`` with an end of validity in the past records the entry but says it attests nothing new
    (newcomer review 3 and 5: a window that ended in 2020 was accepted without a word)."""
    r = prov("trust", "add", "vendor", keypair.public_path, "--valid-until", "2020-01-01T00:00:00", "--unsigned")
    assert r.exit_code == 0 and "validity window ended at 2020-01-01" in r.stderr
    r = prov("trust", "add", "crowd", keypair.public_path, "--valid-until", "2999-01-01T00:00:00+00:00", "--unsigned")
    assert r.exit_code == 0 and "validity window ended" not in r.stderr


def test_an_unsigned_trust_entry_needs_asking_for(prov, store, keypair, workdir):
    """``prov trust add SOURCE KEY.pub`` without --key said "Trusted key ..." (exit 0) and wrote an entry that every
    verifier who pins keys ignores. Now it is exit 2 saying the entry must be signed; --unsigned records one and
    says verifiers will ignore it; --key signs one that a pinned verifier counts."""
    vendor = keys.generate(workdir / "vendor")
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "add", "vendor", vendor.public_path)
    assert r.exit_code == 2, r.output  # exit 0 with "Trusted key ..." before
    assert one_line(r) == (
        f"Error: {vendor.public_path}: a trust entry must be signed by a maintainer key verifiers pin: "
        "give --key MAINTAINER.key (or PROV_KEY); --unsigned records one that verifiers who pin keys ignore"
    )
    assert r.stdout == "" and store_fingerprint(workdir / ".prov") == before
    r = prov("trust", "add", "vendor", vendor.public_path, "--unsigned", "--key", keypair.private_path)
    assert r.exit_code == 2 and "--unsigned and --key (or PROV_KEY) contradict each other" in one_line(r)
    assert store_fingerprint(workdir / ".prov") == before
    r = prov("trust", "add", "vendor", vendor.public_path, "--unsigned")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"Recorded key {vendor.keyid[:16]} for source 'vendor' UNSIGNED: verifiers who pin keys")
    assert "Trusted key" not in r.stdout

    def counted() -> list[bool]:
        listed = json.loads(prov("trust", "list", "--json", "--signer", keypair.public_path).stdout)["keys"]
        return [k["counted"] for k in listed if k["keyid"] == vendor.keyid]

    assert counted() == [False]  # a pinned verifier ignores it, as the output said
    r = prov("trust", "add", "vendor", vendor.public_path, "--key", keypair.private_path)  # signs the same entry
    assert r.exit_code == 0 and r.stdout.startswith(f"Trusted key {vendor.keyid[:16]} for source 'vendor'"), r.output
    assert counted() == [True]
    # newcomer review 9, finding 11: "vendor  b9f99f42cdf7843b  active  valid - .. -  counted" had no header
    lines = prov("trust", "list", "--signer", keypair.public_path).stdout.splitlines()
    assert lines[0].split() == ["source", "key", "status", "validity", "(under", "your", "pins)"]
    row = next(line for line in lines if line.startswith("vendor "))
    assert row.split()[1:] == [vendor.keyid[:16], "active", "no", "validity", "window", "counted"], row
    # newcomer review 19: "(under your pins)" sat beside "validity", two columns left of what it heads
    assert row.index("counted") == lines[0].index("(under your pins)"), lines


def test_a_mistyped_source_is_named_beside_an_untrusted_key(prov, store, keypair, workdir):
    """Newcomer review 8, finding 10: `prov add --source vendr` with a key not yet trusted said only that the
    signature verifies under no trusted key, and `prov trust add vendr` took the typo without a word."""
    import pyarrow.parquet as pq

    from support import digits_table

    vendor, rotated = keys.generate(workdir / "vendor"), keys.generate(workdir / "vendor2")
    pq.write_table(digits_table(20), "batch.parquet")
    assert prov("sign", "batch.parquet", "--source", "vendor", "--key", rotated.private_path).exit_code == 0
    pin = ("--signer", keypair.public_path)
    r = prov("trust", "add", "vendor", vendor.public_path, "--key", keypair.private_path, *pin)
    assert r.stdout.startswith(f"Trusted key {vendor.keyid[:16]} for source 'vendor' (a new source: no batch")
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "batch.parquet", "--source", "vendr", *pin)
    assert r.exit_code == 1 and one_line(r).endswith(
        f"(trusted: {vendor.keyid[:16]}; a new key of the source is trusted with prov trust add vendor KEY.pub "
        "--key MAINTAINER.key); and it names source 'vendor', not 'vendr'"
    )
    assert store_fingerprint(workdir / ".prov") == before
    r = prov("trust", "add", "vendor", rotated.public_path, "--key", keypair.private_path, *pin)
    assert r.exit_code == 0 and r.stdout.rstrip().endswith("for source 'vendor'")  # a source it knows: no note


def test_a_new_release_state_file_is_named_and_release_options_need_an_attestation(prov, template_trust, workdir):
    """Newcomer review 10, finding 16: the first run with --release-state created the file and printed what the
    second prints, so a job whose path had a typo (state.jsn) started from nothing, accepting any older release,
    and said nothing; and --release-state without --attestation named the Python parameter (release_state)."""
    import provenance as prov_api
    from provenance.errors import InputError

    attested = ("v2", "--attestation", "v2.attestation.json", "--no-data", "--signer", "maintainer.pub")
    r = prov("verify", *attested, "--release-state", "state.json", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["attestation"]["release_state"]["created"] is True
    assert "Note: state.json: created; no earlier release was recorded, so nothing older was refused" in r.stderr
    r = prov("verify", *attested, "--release-state", "state.json")
    assert r.exit_code == 0 and "created" not in r.stderr, r.output  # the file was there: it refused older ones

    before = store_fingerprint(workdir)
    r = prov("verify", "v2", "--no-data", "--signer", "maintainer.pub", "--release-state", "state.json")
    assert r.exit_code == 2
    assert one_line(r) == "Error: --release-state is checked against a release attestation: give --attestation FILE too"
    assert store_fingerprint(workdir) == before
    try:
        prov_api.verify(None, "v2", release_state="state.json", read_data=False, pins="maintainer.pub")
    except InputError as exc:
        assert str(exc) == "release_state= is checked against a release attestation: give attestation= too"
    else:
        raise AssertionError("release_state without an attestation was accepted")


def test_trust_revoke_takes_a_key_id_a_reason_and_yes_for_registered_batches(prov, template_trust, workdir):
    """Newcomer review 10, finding 7: `--key` meant a key id here and the maintainer's key file in `trust add`,
    and `prov trust revoke vendor` revoked every key of the vendor, whose batches were registered, with no
    reason and no question (its records then stop being attested for good), where `prov keys revoke` asks."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    before = store_fingerprint(workdir)
    r = prov("trust", "revoke", "vendor", "--key", "maintainer.key", "--reason", "stolen")
    assert r.exit_code == 2 and "takes --key-id ID (as prov trust list shows it), not a key file" in one_line(r)
    r = prov("trust", "revoke", "vendor")
    assert r.exit_code == 2 and "Missing option '--reason'" in r.stderr, r.output
    for which in (("--key-id", vendor[:12]), ("--key", vendor[:12]), ()):  # --key: the old name, hidden
        r = prov("trust", "revoke", "vendor", *which, "--reason", "stolen")
        assert r.exit_code == 2, r.output
        line = one_line(r)
        assert f"key {vendor[:16]} of vendor signed 1 registered batch(es): vendor@" in line and "--yes" in line
    assert store_fingerprint(workdir) == before
    r = prov("trust", "revoke", "vendor", "--key-id", vendor[:12], "--reason", "stolen", "--yes", "--json")
    assert r.exit_code == 0, r.output
    Draft202012Validator(json.loads((SCHEMAS / "trust-revoke.schema.json").read_text())).validate(json.loads(r.stdout))
    assert json.loads(r.stdout)["revoked"][0]["revoked_reason"] == "stolen"
    shown = prov("trust", "revoke", "--help").stdout
    assert "--key-id" in shown and "--key " not in shown


def test_a_mistyped_source_beside_a_trusted_envelope_is_bad_input(prov, template_trust, workdir):
    """Newcomer review 10, finding 10: `prov add batch --source vendr` with the vendor's valid envelope was exit 1
    ("cannot attest", the exit code of tampering). A name the store does not know is a typo: exit 2, naming the
    envelope's source. A source the store knows stays exit 1 (an envelope replayed for another source's batch)."""
    before = store_fingerprint(workdir)
    r = prov("add", "vendor-batch.parquet", "--source", "vendr", "--signer", "maintainer.pub")
    assert r.exit_code == 2, r.output
    assert one_line(r) == (
        "Error: vendor-batch.parquet.prov.json: was signed for source 'vendor'; --source 'vendr' names no source "
        "this store knows (did you mean 'vendor'? the envelope names it)"
    )
    r = prov("add", "vendor-batch.parquet", "--source", "crowd", "--signer", "maintainer.pub")
    assert r.exit_code == 1 and "it cannot attest a batch of 'crowd'" in one_line(r)
    assert store_fingerprint(workdir) == before
