"""A featuriser is (name, options): whatever a base was committed with, `diff --detect` and `check` rebuild it.

Before featurisers had a stored identity, `--featurizer embedding` committed fine and
then `prov diff --detect` exited 2 and `prov check` exited 3 ("unknown featuriser
'embedding/v1:col=embedding'"); the same for text and plug-ins.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from support import digits_table, plugin_distribution

BASE, NEW = 400, 480  # records in v1; v2 adds the next 80, clean

PLUGIN = textwrap.dedent("""
    import numpy as np

    from provenance.features import Featurizer


    class ScaledPixels(Featurizer):
        def __init__(self, scale=1.0):
            self.scale = float(scale)

        @property
        def name(self):
            return f"scaled-pixels/v1:scale={self.scale}"

        def featurize(self, records):
            cols = sorted(c for c in records.schema.names if c.startswith("px"))
            X = np.column_stack([records.column(c).to_numpy() for c in cols]).astype(np.float32)
            return X * self.scale
""")


def _pixels(n: int) -> tuple[np.ndarray, list[str]]:
    t = digits_table(n)
    X = np.column_stack([t.column(f"px{i:02d}").to_numpy() for i in range(64)])
    return X, t.column("label").to_pylist()


def _tables(workdir: Path, make) -> list[str]:
    X, y = _pixels(NEW)
    for name, n in (("v1", BASE), ("v2", NEW)):
        pq.write_table(make(X[:n], y[:n]), workdir / f"{name}.parquet")
    return ["v1.parquet", "v2.parquet"]


def numeric(workdir: Path) -> list[str]:
    for name, n in (("v1", BASE), ("v2", NEW)):
        pq.write_table(digits_table(n), workdir / f"{name}.parquet")
    return ["v1.parquet", "v2.parquet"]


def embedding(workdir: Path) -> list[str]:
    def make(X, y):
        values = pa.array((X / 16.0).astype(np.float32).ravel())
        return pa.table({"emb": pa.FixedSizeListArray.from_arrays(values, 64), "label": y})

    return _tables(workdir, make)


def text(workdir: Path) -> list[str]:
    def make(X, y):
        words = np.array(["blank", "faint", "grey", "dark", "ink"])
        docs = [" ".join(f"{words[min(int(v) // 4, 4)]}{i % 8}" for i, v in enumerate(row)) for row in X]
        return pa.table({"body": docs, "note": ["scanned"] * len(docs), "label": y})

    return _tables(workdir, make)


def image_tree(workdir: Path) -> list[str]:
    X, y = _pixels(NEW)
    for name, n in (("v1", BASE), ("v2", NEW)):
        for i in range(n):
            folder = workdir / name / y[i]
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (X[i].reshape(8, 8) * 15).astype(np.uint8)
            Image.fromarray(pixels, "L").resize((16, 16)).save(folder / f"{i:04d}.png")
    return ["v1", "v2"]


def plugin(workdir: Path, monkeypatch) -> list[str]:
    folder = plugin_distribution(
        workdir / "site", "scaled_pixels", PLUGIN, {"scaled-pixels": "scaled_pixels:ScaledPixels"}
    )
    monkeypatch.syspath_prepend(str(folder))
    return numeric(workdir)


CASES = {
    # name: (make data, commit flags, the identity the profile records)
    "numeric": (numeric, ["--featurizer", "numeric"], "numeric/v1:cols=" + ",".join(f"px{i:02d}" for i in range(64))),
    "embedding": (
        embedding,
        ["--featurizer", "embedding", "--featurizer-option", "column=emb"],
        "embedding/v1:col=emb",
    ),
    "image tree": (
        image_tree,
        ["--featurizer", "image", "--featurizer-option", "size=8"],
        "image/v1:mode=L,size=8",
    ),
    "hashed text": (
        text,
        ["--featurizer", "text", "--featurizer-option", "dim=128", "--featurizer-option", "column=body"],
        "text/v1:ngram=3-5,dim=128,col=body",
    ),
    "plug-in": (
        plugin,
        ["--featurizer", "scaled-pixels", "--featurizer-option", "scale=0.5"],
        "scaled-pixels/v1:scale=0.5",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_featuriser_round_trips_through_diff_detect_and_check(prov, workdir, store, keypair, monkeypatch, case):
    make, flags, identity = CASES[case]
    data = make(workdir, monkeypatch) if make is plugin else make(workdir)
    for tag, path in zip(("v1", "v2"), data):
        r = prov(
            "commit",
            path,
            "--tag",
            tag,
            "--key",
            keypair.private_path,
            "--signer",
            keypair.public_path,
            *flags,
            "--json",
        )
        assert r.exit_code == 0, r.output
        result = json.loads(r.stdout)
        assert result["profile"]["status"] == "ok", result["profile"]
        assert result["featurizer"] == identity

    r = prov("diff", "v1", "v2", "--detect", "--format", "json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["summary"]["added"] == NEW - BASE
    assert {d["status"] for d in report["detectors"]} == {"ran"}
    assert len(report["findings"]) == NEW - BASE  # one combined verdict per added record

    # The gate evaluates (pass or blocked: calibration on a base this small is coarse),
    # and no rule or detector fails to run.
    r = prov("check", "v2", "--base", "v1", "--format", "json", "--signer", keypair.public_path)
    check = json.loads(r.stdout)
    assert r.exit_code in (0, 1) and check["decision"] != "error", r.output
    assert {d["status"] for d in check["detectors"]} == {"ran"}
    assert not [rule for rule in check["rules"] if rule["status"] == "error"]
