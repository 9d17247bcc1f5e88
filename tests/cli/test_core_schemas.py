"""Every JSON the core writes validates against its schema in schemas/."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from provenance.store import Store

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def validate(name: str, doc) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema).validate(doc)


def test_core_command_outputs_match_their_schemas(prov, workdir, digits_parquet):
    validate("init", json.loads(prov("init", "--json").stdout))
    validate("keys-generate", json.loads(prov("keys", "generate", "k", "--json").stdout))
    validate(
        "commit",
        json.loads(
            prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key", "--signer", "k.pub", "--json").stdout
        ),
    )
    prov("commit", digits_parquet, "--tag", "v2", "--key", "k.key", "--signer", "k.pub")
    validate("log", json.loads(prov("log", "--json").stdout))
    validate("verify-version", json.loads(prov("verify", "--store-keys", "v2", "--json").stdout))
    validate("audit-verify", json.loads(prov("audit", "verify", "--store-keys", "--json").stdout))


def test_stored_envelopes_and_statements_match_their_schemas(prov, workdir, digits_parquet):
    prov("init")
    prov("keys", "generate", "k")
    prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key", "--signer", "k.pub")
    prov("commit", digits_parquet, "--tag", "v2", "--key", "k.key", "--signer", "k.pub")
    store = Store.open()
    for tag in ("v1", "v2"):
        env = json.loads(store.objects.get(store.version(tag)["envelope_object"]))
        validate("dsse-envelope", env)
        validate("version-statement", json.loads(base64.b64decode(env["payload"])))


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.name)
def test_every_schema_is_itself_valid(path):
    Draft202012Validator.check_schema(json.loads(path.read_text()))


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    assert not repeated, f"duplicate keys {repeated} in one object (JSON keeps only the last)"
    return dict(pairs)


@pytest.mark.parametrize(
    "path",
    sorted(SCHEMAS.glob("*.json")) + sorted((SCHEMAS.parent / "tests" / "data" / "schemas").glob("*.json")),
    ids=lambda p: p.name,
)
def test_no_schema_repeats_a_key_in_one_object(path):
    # json.loads keeps the last of two equal keys and drops the first without a word, so a
    # property's description (or its type) can vanish unseen: check the parsed pairs instead.
    json.loads(path.read_text(), object_pairs_hook=_refuse_duplicate_keys)
