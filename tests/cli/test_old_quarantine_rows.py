"""A quarantine made before quarantines kept their removed rows (attack review 8b, B5).

Such a quarantine signs no object of removed rows, so every check read them from its parent's data, and once
that data changed or was gone every later check with additions was an error (exit 3), with nothing to make
the copy. ``prov fsck`` now says so, and ``prov fsck --repair`` keeps them once (re-hashed against the signed
digests) as an object a ``quarantine.rows`` audit entry names; later checks read that copy, trusted only as its
rows re-hash to the removed digests, never for its unsigned entry. Checks only read (session 9's first check
kept the copy, so ``prov check`` wrote to the store).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance import versions
from provenance.lineage.filtered_copy import write_without
from provenance.lineage.quarantine import QuarantineFacts, digests_of_source
from provenance.store import Store
from provenance.trust.pins import Pins
from provenance.version_facts import version_dataset
from support import ok, vendor_and_crowd_v1, with_source

RULE = "lineage.block_quarantined_sources"


def _old_quarantine(root: Path, pub: Path, key: str) -> None:
    """v2: v1 without crowd, signed as `prov quarantine` signed it before it kept the removed rows (no
    ``removedRecords`` in its facts)."""
    store = Store.open(root, pins=Pins.load([pub]))
    spec = version_dataset(store, store.version("v1"))
    drop = digests_of_source(store, "v1", "crowd")
    removed, kept, new_spec = write_without(spec, drop, Path("a.v2.parquet"))
    facts = {"from": "v1", "source": "crowd", "removed": removed, "kept": kept, "output": "a.v2.parquet"}
    stages = [*versions.default_stages(), QuarantineFacts(facts)]
    versions.commit(store, new_spec, "v2", key, parent="v1", stages=stages)


def _rule(prov, new: str, base: str) -> tuple[int, dict]:
    r = prov("check", new, "--base", base, "--format", "json")
    return r.exit_code, {x["rule"]: x for x in json.loads(r.stdout)["rules"]}[RULE]


def test_fsck_repair_keeps_the_removed_rows_of_an_old_quarantine_for_later_checks(prov, store, keypair, monkeypatch):
    _, vendor, crowd, key = vendor_and_crowd_v1(prov, keypair, monkeypatch)
    _old_quarantine(store.root, keypair.public_path, key)
    near = crowd.slice(0, 5)
    near = with_source(
        near.set_column(near.schema.get_field_index("px10"), "px10", pc.add(near.column("px10"), 1)), "lab"
    )
    pq.write_table(pa.concat_tables([vendor, near]), Path("b.parquet"))
    ok(prov, "-q", "commit", "b.parquet", "--source-column", "source", "--tag", "v3", "--parent", "v2", "--key", key)
    code, rule = _rule(prov, "v3", "v2")
    assert code == 1 and rule["status"] == "block" and rule["count"] == 5, rule
    kept = "select count(*) from audit where action = 'quarantine.rows'"
    assert store.db.execute(kept).fetchone()[0] == 0  # a check keeps no copy: it stores only its detector run
    warned = json.loads(prov("fsck", "--json").stdout)["warnings"]
    assert any("version v2: a quarantine made before" in w["message"] and w["repairable"] for w in warned), warned
    repaired = json.loads(prov("fsck", "--repair", "--json").stdout)
    assert repaired["status"] == "ok" and len(repaired["kept"]) == 1 and repaired["warnings"] == [], repaired

    # v1's data is rewritten with the next release: the copy fsck --repair kept still judges the near copies
    pq.write_table(vendor, Path("a.parquet"))
    code, rule = _rule(prov, "v3", "v2")
    assert code == 1 and rule["status"] == "block" and rule["count"] == 5, rule  # exit 3 before: "changed or is gone"
    (entry,) = store.db.execute("select detail from audit where action = 'quarantine.rows' and subject = 'v2'")
    copy = store.objects.path(json.loads(entry[0])["removedRecords"])
    fsck = prov("fsck")
    assert "unreferenced" not in fsck.output and "not checked by fsck" not in fsck.output, fsck.output

    # the copy is signed by nobody: other bytes under its name are passed over, and the parent's data is gone
    copy.write_bytes(Path("b.parquet").read_bytes())
    code, rule = _rule(prov, "v3", "v2")
    assert code == 3 and rule["status"] == "error" and "changed or is gone" in rule["reason"], rule
