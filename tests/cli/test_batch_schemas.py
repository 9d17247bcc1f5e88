"""The JSON of the commands a source and a maintainer run around a batch validates against its schema in
schemas/: `prov sign`, `prov verify DATA`, `prov trust add`/`list`/`retire`, `prov keys register`, `prov add`
and `prov root new`/`sign`/`show` with --json, and the files and objects they sign (the batch envelope a
vendor ships, the trust entry a maintainer signs, the root file), read from a real run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from jsonschema import Draft202012Validator

from provenance import keys
from provenance.store import Store
from provenance.trust.statements import TABLE

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def validate(name: str, doc: dict, part: str | None = None) -> None:
    """``doc`` against ``schemas/NAME.schema.json`` (its ``$defs/PART`` when given), the schema checked first."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    if part is not None:
        schema = {**schema["$defs"][part], "$defs": schema["$defs"]}
    Draft202012Validator(schema).validate(doc)


def payload(envelope: dict) -> dict:
    return json.loads(base64.b64decode(envelope["payload"]))


def test_a_vendors_batch_signed_verified_trusted_and_added_matches_the_schemas(prov, workdir, digits_parquet):
    for name in ("vendor", "maintainer"):
        keys.generate(workdir / name)
    r = prov("sign", digits_parquet, "--source", "vendor", "--key", "vendor.key", "--json")
    assert r.exit_code == 0, r.output
    signed = json.loads(r.stdout)
    validate("sign", signed)
    envelope = json.loads(Path(signed["envelope"]).read_text())
    validate("batch-envelope", envelope)
    validate("batch-envelope", payload(envelope), "statement")

    # the vendor checks its batch before shipping: no store, its own key pinned
    r = prov("verify", digits_parquet, "--signer", "vendor.pub", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    validate("verify-batch", report)
    assert report["status"] == "ok" and report["merkle_root"] == signed["merkle_root"]

    assert prov("init").exit_code == 0
    pin = ["--signer", "maintainer.pub"]
    r = prov("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pin, "--json")
    assert r.exit_code == 0, r.output
    validate("trust-add", json.loads(r.stdout))
    assert json.loads(r.stdout)["signed"] is True
    r = prov("keys", "register", "maintainer.pub", "--name", "maintainer", "--json")
    assert r.exit_code == 0, r.output
    validate("keys-register", json.loads(r.stdout))
    store = Store.open()
    (row,) = store.db[TABLE].rows
    validate("trust-entry", payload(json.loads(store.objects.get(row["object"]))))
    store.close()
    r = prov("trust", "list", *pin, "--json")
    listing = json.loads(r.stdout)
    validate("trust-list", listing)
    assert [k["counted"] for k in listing["keys"]] == [True]

    r = prov("add", digits_parquet, "--source", "vendor", *pin, "--json")
    assert r.exit_code == 0, r.output
    added = json.loads(r.stdout)
    validate("add", added)
    assert added["signed"] and added["keyid"] == signed["keyid"]

    crowd = pa.table({"x": [0.5, 1.5, 2.5], "label": ["a", "b", "a"]})
    pq.write_table(crowd, "crowd.parquet")
    r = prov("add", "crowd.parquet", "--source", "crowd", "--unsigned", *pin, "--json")
    assert r.exit_code == 0, r.output
    unsigned = json.loads(r.stdout)
    validate("add", unsigned)
    assert unsigned["signed"] is False and unsigned["keyid"] is None

    # the vendor rotates: its key's window ends now, what it signed by then stays attested
    retire = ["--key-id", signed["keyid"][:16], "--key", "maintainer.key", "--checkpoint-key", "maintainer.key"]
    r = prov("trust", "retire", "vendor", *retire, *pin, "--json")
    assert r.exit_code == 0, r.output
    retired = json.loads(r.stdout)
    validate("trust-retire", retired)
    assert retired["valid_until"] is not None


def test_a_batch_changed_since_signing_reports_every_record_in_the_schema(prov, workdir, digits_parquet):
    keys.generate(workdir / "vendor")
    assert prov("sign", digits_parquet, "--source", "vendor", "--key", "vendor.key").exit_code == 0
    table = pq.read_table(digits_parquet)
    labels = table.column("label").to_pylist()
    labels[3] = "9" if labels[3] != "9" else "8"  # a relabel
    table = table.set_column(
        table.schema.get_field_index("label"), "label", pa.array(labels, table.schema.field("label").type)
    )
    pq.write_table(table.slice(0, len(table) - 1), digits_parquet)  # and the last record dropped

    r = prov("verify", digits_parquet, "--signer", "vendor.pub", "--json")
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    validate("verify-batch", report)
    assert report["status"] == "mismatch"
    assert report["counts"] == {"changed": 0, "added": 0, "removed": 1, "relabeled": 1}
    assert report["changes"]["relabeled"][0]["locator"] == "3"


def test_a_root_of_trust_made_signed_and_shown_matches_the_schemas(prov, workdir):
    for name in ("root", "maintainer", "vendor"):
        keys.generate(workdir / name)
    roles = ["--commit", "maintainer.pub", "--attest", "maintainer.pub", "--waive", "maintainer.pub"]
    r = prov("root", "new", "root.json", "--root-key", "root.pub", *roles, "--source", "vendor=vendor.pub", "--json")
    assert r.exit_code == 0, r.output
    validate("root-new", json.loads(r.stdout))
    r = prov("root", "sign", "root.json", "--key", "root.key", "--json")
    assert r.exit_code == 0, r.output
    validate("root-sign", json.loads(r.stdout))
    r = prov("root", "show", "root.json", "--signer", "root.pub", "--json")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    validate("root-show", shown)
    assert list(shown["sources"]) == ["vendor"]
    validate("root", payload(json.loads(Path("root.json").read_text())))
