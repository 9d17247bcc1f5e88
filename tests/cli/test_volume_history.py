"""``source_volume_jump`` judges a source against a history it has, and only then (newcomer review 12, finding 5).

An image tree has no source column: its versions' signed counts hold every record under
"", while the diff names its sources from the signed batches. Those sources have no
counted history, so an ordinary delivery is "no history", not a jump over a mean of 1.0.
A table whose source column the versions count keeps its history, and a flood is flagged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from provenance import keys
from support import digits_table


def _images(folder: Path, prefix: str, rows: range) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    for i in rows:
        path = folder / str(d.target[i]) / f"{prefix}{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((d.images[i] * 15).astype(np.uint8)).resize((16, 16)).save(path)


def _ok(prov, *args) -> str:
    r = prov(*args)
    assert r.exit_code == 0, r.output
    return r.stdout


def _volume(prov, base: str, new: str) -> dict:
    report = json.loads(_ok(prov, "diff", base, new, "--json"))
    return {g["subject"]["source"]: g for g in report["signals"] if g["name"] == "source_volume_jump"}


def test_a_tree_vendors_ordinary_delivery_is_no_history_not_a_jump(prov, workdir, store, keypair, monkeypatch):
    monkeypatch.setenv("PROV_WORKERS", "1")
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    vendors = {name: keys.generate(workdir / name) for name in ("vendorA", "vendorB")}
    for name, pair in vendors.items():
        _ok(prov, "trust", "add", name, pair.public_path, "--key", keypair.private_path)
    deliveries = {"a1": ("vendorA", range(0, 40)), "b1": ("vendorB", range(40, 80)), "a2": ("vendorA", range(80, 120))}
    train = workdir / "train"
    for n, (batch, (source, rows)) in enumerate(deliveries.items(), start=1):
        _images(workdir / batch, batch, rows)
        _ok(prov, "sign", batch, "--source", source, "--key", vendors[source].private_path)
        _ok(prov, "add", batch, "--source", source)
        shutil.copytree(workdir / batch, train, dirs_exist_ok=True)
        _ok(prov, "commit", "train", "--tag", f"v{n}", "--key", keypair.private_path)
    assert json.loads(_ok(prov, "show", "v3", "--json"))["sources"] == {"": 120}  # the signed counts know no vendor

    volume = _volume(prov, "v2", "v3")
    assert set(volume) == {"vendorA"} and not volume["vendorA"]["flagged"], volume
    assert "no history to compare" in volume["vendorA"]["explanation"]
    text = _ok(prov, "diff", "v2", "v3")
    assert "suspicious source" not in text and "mean of 1.0" not in text, text


def test_a_flood_from_a_source_with_signed_history_is_still_flagged(prov, workdir, store, keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    digits = digits_table(900)
    sources = ["vendor-a"] * 100 + ["vendor-b"] * 100 + ["vendor-a"] * 50 + ["vendor-b"] * 50
    sizes = [200, 300, 400, 900]  # vendor-a then adds 50, then 50, then 450 with vendor-b's 50
    sources += ["vendor-a"] * 50 + ["vendor-b"] * 50 + ["vendor-a"] * 450 + ["vendor-b"] * 50
    table = digits.append_column("source", pa.array(sources))
    for n, size in enumerate(sizes, start=1):
        pq.write_table(table.slice(0, size), workdir / "train.parquet")
        _ok(
            prov,
            "commit",
            "train.parquet",
            "--tag",
            f"v{n}",
            "--key",
            keypair.private_path,
            "--source-column",
            "source",
        )
    usual = _volume(prov, "v2", "v3")
    assert not usual["vendor-a"]["flagged"] and not usual["vendor-b"]["flagged"]
    flood = _volume(prov, "v3", "v4")
    assert flood["vendor-a"]["flagged"] and not flood["vendor-b"]["flagged"]
    assert "its mean of 50.0 per version over 2 earlier version(s)" in flood["vendor-a"]["explanation"]
