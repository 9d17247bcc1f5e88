"""A `.prov/` writer's waiver rows: a pending row whose object is missing is listed, never fatal (attack review 5b,
finding 2); a waiver a trusted signature covers whose object is gone still fails closed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from jsonschema import Draft202012Validator

PINNED = ("--signer", "maintainer.pub")


def _check(prov):
    return prov("check", "v2", "--base", "v1", "--policy", "policy.toml", "--format", "json", *PINNED)


def test_a_pending_waiver_row_without_its_object_is_ignored_and_a_covered_one_fails_closed(
    prov, template_trust, workdir
):
    db = sqlite3.connect(".prov/prov.db")
    db.execute(
        "insert into waivers (object, version, digest, detector, keyid, created_at) values (?, 'v2', ?, 'combined', ?, ?)",
        ["ab" * 32, "00" * 32, "cd" * 32, "2026-12-01T00:00:00+00:00"],
    )
    db.commit()
    r = _check(prov)
    assert r.exit_code == 0, r.output  # exit 1 ("waiver abab... is missing from the store") before
    ignored = json.loads(r.stdout)["waivers"]["ignored"]
    assert [w["why"].split(" (")[0] for w in ignored] == ["pending; its object is missing"], ignored
    assert ignored[0]["digest"] == "00" * 32 and ignored[0]["origin"] == f"stored waiver {'ab' * 8}"
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "check.schema.json").read_text())
    Draft202012Validator(schema).validate(json.loads(r.stdout))
    # a genuine waiver, covered by the maintainer's checkpoint, whose object is then deleted: fails closed
    from provenance.store import Store
    from provenance.version_facts import load_manifest

    store = Store.open()
    record = load_manifest(store, store.version("v2")).table.column("digest")[0].as_py().hex()
    store.close()
    w = prov("waive", record, "--version", "v2", "--detector", "combined", "--reason", "reviewed",
             "--key", "maintainer.key", "--json", *PINNED)  # fmt: skip
    assert w.exit_code == 0, w.output
    assert _check(prov).exit_code == 0
    Path(f".prov/objects/{json.loads(w.stdout)['waiver']}.json").unlink()
    r = _check(prov)
    assert r.exit_code == 1 and "is missing from the store" in r.stderr, r.output
