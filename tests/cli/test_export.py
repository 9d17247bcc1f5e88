"""`prov export V`: the version's exact records at a new path (re-hashed to the signed root), or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from jsonschema import Draft202012Validator
from PIL import Image

from support import store_fingerprint

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "export.schema.json").read_text())


def test_a_table_version_exports_record_for_record(prov, workdir, digits_parquet):
    prov("init")
    prov("keys", "generate", "k")
    v1 = json.loads(
        prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key", "--signer", "k.pub", "--json").stdout
    )
    r = prov("export", "v1", "--out", "v1.parquet", "--signer", "k.pub", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    Draft202012Validator(SCHEMA).validate(out)
    assert out == {
        "version": "v1",
        "records": 600,
        "merkle_root": v1["merkle_root"],
        "output": "v1.parquet",
        "kind": "table",
        "release": {  # a first version: no check can release it (as provenance.load warns)
            "released": False,
            "standing": "first_version",
            "last_check": None,
            "note": "it is a first version (no signed parent), which no check releases: its signature and records "
            "are checked",
        },
    }
    assert r.stderr.startswith("Note: v1 exported without a release attestation: it is a first version"), r.stderr
    assert pq.read_table("v1.parquet").equals(pq.read_table(digits_parquet))
    # the copy is v1: committing it says so
    again = json.loads(
        prov("commit", "v1.parquet", "--tag", "v1-copy", "--key", "k.key", "--signer", "k.pub", "--json").stdout
    )
    assert again["merkle_root"] == v1["merkle_root"] and again["identical_to"] == "v1"
    exists = prov("export", "v1", "--out", "v1.parquet", "--signer", "k.pub")
    assert exists.exit_code == 2 and exists.stderr.startswith("Error: v1.parquet: already exists")
    # newcomer review 10, finding 27: `--out v1dir/` wrote a Parquet file named v1dir
    folder = prov("export", "v1", "--out", "v1dir/", "--signer", "k.pub")
    assert folder.exit_code == 2 and folder.stderr == (
        "Error: v1dir/: a folder (it ends in '/'), but v1 is a table, exported as one Parquet file: "
        "give --out v1dir/v1.parquet\n"
    )
    assert not Path("v1dir").exists()


def test_a_table_export_named_csv_or_jsonl_is_refused_before_writing(prov, workdir, digits_parquet):
    """Newcomer review 24: `--out v1.csv` wrote Parquet bytes under a .csv name, read them back as CSV and
    failed with `header is not UTF-8 text; pass --encoding`, an error about a file the user never had."""
    prov("init")
    prov("keys", "generate", "k")
    assert prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key", "--signer", "k.pub").exit_code == 0
    for name in ("v1.csv", "v1.jsonl"):
        r = prov("export", "v1", "--out", name, "--signer", "k.pub")
        suffix = Path(name).suffix
        assert r.exit_code == 2 and r.stderr == (
            f"Error: {name}: the copy of a table is written as Parquet (every typed row, so every digest, kept), "
            f"and a {suffix} name would be read back as another format; give a name ending in .parquet "
            "(v1.parquet)\n"
        ), r.stderr
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith((".v1", "v1"))) == []
    assert prov("export", "v1", "--out", "v1.parquet", "--signer", "k.pub").exit_code == 0


def test_a_tree_exports_its_files_and_changed_data_exports_nothing(prov, workdir):
    for i in range(12):
        folder = workdir / "tree" / str(i % 3)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (np.random.default_rng(i).random((8, 8, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    prov("init")
    prov("keys", "generate", "k")
    assert prov("commit", "tree", "--tag", "v1", "--key", "k.key", "--signer", "k.pub").exit_code == 0
    assert prov("export", "v1", "--out", "copy", "--signer", "k.pub").exit_code == 0
    originals = sorted(p.relative_to(workdir / "tree") for p in (workdir / "tree").rglob("*.png"))
    assert sorted(p.relative_to(workdir / "copy") for p in (workdir / "copy").rglob("*.png")) == originals
    assert all((workdir / "copy" / p).read_bytes() == (workdir / "tree" / p).read_bytes() for p in originals)

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(workdir / "tree" / "0" / "0.png")  # changed after signing
    before = store_fingerprint(workdir / ".prov")
    r = prov("export", "v1", "--out", "copy2", env={"PROV_SIGNERS": "k.pub"})
    assert r.exit_code == 1 and "no longer matches its signed manifest (1 changed)" in r.stderr
    assert not (workdir / "copy2").exists() and not list(workdir.glob(".copy2*"))
    assert store_fingerprint(workdir / ".prov") == before
    missing = prov("export", "v1", "--out", "nofolder/copy3", "--signer", "k.pub")
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1 and "nofolder" in missing.stderr


def test_export_of_an_unknown_version_is_exit_2(prov, workdir):
    prov("init")
    prov("keys", "generate", "k")
    r = prov("export", "v9", "--out", "x.parquet", "--signer", "k.pub")
    assert r.exit_code == 2 and "v9: no such version in" in r.stderr and not (workdir / "x.parquet").exists()
