"""add, commit lineage, show, lineage DIGEST, sources, trust list: through the CLI, checked in the store."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from provenance.lineage import classify as lineage
from provenance.store import Store
from support import N_CROWD, N_VENDOR, World, flip_label, payload

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def train_with_relabel(world: World, row: int = 5) -> tuple[Path, str, str]:
    """Vendor + crowd records, with one vendor record relabeled downstream."""
    table = pa.concat_tables([flip_label(world.table(), row), pq.read_table(world.crowd_data)])
    path = world.write("train.parquet", table)
    return path, world.table().column("label")[row].as_py(), table.column("label")[row].as_py()


def test_add_records_batches_and_audit(prov, registered: World):
    store = Store.open(registered.root)
    rows = {r["source"]: r for r in store.db["batches"].rows}
    assert rows["vendor"]["signed"] == 1 and rows["crowd"]["signed"] == 0
    assert store.db["batch_records"].count == N_VENDOR + N_CROWD
    actions = [r[0] for r in store.db.execute("select action from audit order by seq")]
    assert actions.count("batch.add") == 2 and actions.count("trust.add") == 2
    assert prov("audit", "verify", "--store-keys").exit_code == 0
    before = registered.prov_fingerprint()
    r = prov("add", registered.vendor_data, "--source", "vendor", "--store-keys")
    assert r.exit_code == 2 and "already registered as batch vendor@" in r.stderr
    assert registered.prov_fingerprint() == before


def test_envelope_schema(registered: World):
    env = registered.envelope_json()
    jsonschema.validate(env, schema("batch-envelope"))
    full = schema("batch-envelope")
    jsonschema.validate(payload(env), {**full["$defs"]["statement"], "$defs": full["$defs"]})


def test_commit_classifies_every_record(prov, registered: World):
    train, signed_label, new_label = train_with_relabel(registered)
    r = prov("commit", train, "--tag", "v1", "--key", registered.owner.private_path)
    assert r.exit_code == 0, r.output
    show = prov("show", "v1", "--json")
    assert show.exit_code == 0
    info = json.loads(show.stdout)
    jsonschema.validate(info, schema("show"))
    assert (info["attested"], info["relabeled_after_source"], info["unattributed"]) == (N_VENDOR - 1, 1, N_CROWD)

    store = Store.open(registered.root)
    table = lineage.version_lineage(store, "v1")
    assert table.schema.names == ["digest", "label", "status", "source", "batch", "signed_label"]
    assert table.schema.field("digest").type == pa.binary(32) and table.num_rows == N_VENDOR + N_CROWD
    relabeled = table.filter(pc.equal(table.column("status"), "relabeled_after_source")).to_pylist()
    assert len(relabeled) == 1
    rec = relabeled[0]
    assert (rec["label"], rec["signed_label"], rec["source"]) == (new_label, signed_label, "vendor")
    crowd = table.filter(pc.equal(table.column("source"), "crowd"))
    assert set(crowd.column("status").to_pylist()) == {"unattributed"}
    assert set(crowd.column("signed_label").to_pylist()) == {None}

    r = prov("lineage", rec["digest"].hex()[:12], "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    jsonschema.validate(info, schema("lineage"))
    assert info["first_version"] == "v1" and info["digest"] == rec["digest"].hex()
    assert info["batches"][0]["source"] == "vendor" and info["batches"][0]["keyid"] == registered.vendor.keyid
    assert info["batches"][0]["label"] == signed_label
    assert info["versions"] == [
        {
            "version": "v1",
            "present": True,
            "labels": [new_label],
            "status": "relabeled_after_source",
            "signed_status": "relabeled_after_source",
            "not_trusted": None,
            "source": "vendor",
            "batch": rec["batch"],
            "signed_label": signed_label,
            "quarantined": None,
            "rekeyed": None,  # fix31b: the version a schema change re-keyed it from, when it did
        }
    ]
    text = prov("lineage", rec["digest"].hex()[:12])
    assert f"signed by key {registered.vendor.keyid[:16]} (trusted), label {signed_label}" in text.stdout
    assert f"label {new_label}  relabeled_after_source (signed {signed_label})" in text.stdout

    r = prov("sources", "--json")
    out = json.loads(r.stdout)
    jsonschema.validate(out, schema("sources"))
    by = {s["source"]: s for s in out["sources"]}
    assert by["vendor"]["signed_fraction"] == 1.0 and by["vendor"]["relabels"] == 1
    assert by["vendor"]["attested"] == N_VENDOR - 1
    assert by["crowd"]["signed_fraction"] == 0.0 and by["crowd"]["unattributed"] == N_CROWD
    assert by["other"]["records"] == 0 and by["other"]["signed_fraction"] is None
    text = prov("sources").stdout
    # newcomer review 9, finding 3: "relabeled" here is relabeled after source, not between versions
    assert "attested / relabeled after source / unattributed" in text.splitlines()[0]
    assert f"{N_VENDOR - 1} / 1 / 0" in next(line for line in text.splitlines() if line.startswith("vendor"))


def test_lineage_is_signed_and_checked(prov, registered: World):
    train, _, _ = train_with_relabel(registered)
    prov("commit", train, "--tag", "v1", "--key", registered.owner.private_path)
    store = Store.open(registered.root)
    obj = store.db.execute("select object from version_lineage where tag = 'v1'").fetchone()[0]
    row = store.version("v1")
    env = json.loads(store.objects.get(row["envelope_object"]))
    assert json.loads(base64.b64decode(env["payload"]))["predicate"]["lineage"]["object"] == obj
    # a lineage row pointed at another object is refused
    with store.write():
        store.db.execute("update version_lineage set object = ? where tag = 'v1'", ["0" * 64])
    with pytest.raises(Exception, match="lineage record differs from the lineage it signed"):
        lineage.version_lineage(store, "v1")


def test_version_without_batches_is_all_unattributed(prov, world: World):
    r = prov("commit", world.vendor_data, "--tag", "v1", "--key", world.owner.private_path, "--json")
    assert r.exit_code == 0, r.output
    table = lineage.version_lineage(Store.open(world.root), "v1")
    assert set(table.column("status").to_pylist()) == {"unattributed"}
    assert table.column("source").null_count == N_VENDOR
    info = json.loads(prov("show", "v1", "--json").stdout)
    assert info["unattributed"] == N_VENDOR and info["attested"] == 0


def test_revoked_key_attests_nothing_at_the_next_commit(prov, registered: World):
    train, _, _ = train_with_relabel(registered)
    prov("commit", train, "--tag", "v1", "--key", registered.owner.private_path)
    assert prov("trust", "revoke", "vendor", "--reason", "stolen", "--yes").exit_code == 0
    prov(
        "commit", train, "--tag", "v2", "--key", registered.owner.private_path, "--signer", registered.owner.public_path
    )
    info = json.loads(prov("show", "v2", "--json").stdout)
    assert (info["attested"], info["relabeled_after_source"], info["unattributed"]) == (0, 0, N_VENDOR + N_CROWD)
    listing = json.loads(prov("trust", "list", "--json").stdout)["keys"]
    assert {k["source"]: k["status"] for k in listing} == {"vendor": "revoked", "other": "active"}
    assert "revoked" in prov("trust", "list").stdout
    lin = json.loads(
        prov(
            "lineage",
            lineage.version_lineage(Store.open(registered.root), "v2").column("digest")[0].as_py().hex(),
            "--json",
        ).stdout
    )
    assert [v["present"] for v in lin["versions"]] == [True, True]


def test_rotation_old_and_new_keys_both_attest(prov, registered: World):
    from provenance import keys
    from provenance.lineage import batch_sign
    from provenance.sources.interface import DatasetSpec

    new = keys.generate(registered.root / "vendor-2025")
    assert prov("trust", "add", "vendor", new.public_path, "--valid-from", "2020-01-01", "--unsigned").exit_code == 0
    more = registered.write("vendor2.parquet", pq.read_table(registered.crowd_data).slice(0, 10))
    batch_sign.sign_batch(DatasetSpec(str(more)), "vendor", new.private_path)
    r = prov("add", more, "--source", "vendor", "--json", "--store-keys")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["keyid"] == new.keyid
    by = {s["source"]: s for s in json.loads(prov("sources", "--json").stdout)["sources"]}
    assert by["vendor"]["batches"] == 2 and len(by["vendor"]["keys"]) == 2


def test_lineage_digest_errors(prov, registered: World):
    assert prov("lineage", "zz").exit_code == 2
    r = prov("lineage", "00000000000000000000")
    assert r.exit_code == 2 and "no record with this digest" in r.stderr
