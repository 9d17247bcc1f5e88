"""Every DSSE envelope prov writes verifies under an independent implementation (securesystemslib)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from provenance import keys


def sslib_verify(env: dict, *public_paths: str, threshold: int = 1) -> None:
    found = [keys.load_public(p) for p in public_paths]
    sslib = [SSlibKey.from_crypto(k, keyid=keys.key_id(k)) for k in found]
    Envelope.from_dict(copy.deepcopy(env)).verify(sslib, threshold)


def store_object(store_root: Path, oid: str) -> dict:
    return json.loads((store_root / "objects" / f"{oid}.json").read_bytes())


def test_securesystemslib_verifies_every_kind_of_envelope_we_write(prov, template_trust, workdir, store):
    prov("root", "new", "root.json", "--root-key", "maintainer.pub", "--root-key", "vendor.pub", "--threshold", "2")
    for k in ("maintainer", "vendor"):
        assert prov("root", "sign", "root.json", "--key", f"{k}.key").exit_code == 0
    from provenance.version_facts import load_manifest

    digest = load_manifest(store, store.version("v2")).digests[0].hex()  # a waiver must name a record of v2
    assert prov("waive", digest, "--version", "v2", "--detector", "combined", "--reason", "ok", "--key",
                "maintainer.key", "--signer", "maintainer.pub").exit_code == 0  # fmt: skip
    row = lambda q: store.db.execute(q).fetchone()[0]  # noqa: E731
    envelopes = {
        "version": (
            store_object(store.root, row("select envelope_object from versions where tag = 'v2'")),
            "maintainer.pub",
        ),
        "batch": (json.loads(Path("vendor-batch.parquet.prov.json").read_text()), "vendor.pub"),
        "attestation": (json.loads(Path("v2.attestation.json").read_text()), "maintainer.pub"),
        "waiver": (store_object(store.root, row("select object from waivers")), "maintainer.pub"),
        "trust entry": (store_object(store.root, row("select object from trust_statements")), "maintainer.pub"),
    }
    for kind, (env, public) in envelopes.items():
        sslib_verify(env, public)
        assert env["payloadType"] == "application/vnd.in-toto+json", kind
    sslib_verify(json.loads(Path("root.json").read_text()), "maintainer.pub", "vendor.pub", threshold=2)
