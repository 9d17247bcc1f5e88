"""Records detection cannot featurise are bad input: exit 2 naming them, never a silent skip.

A crashing detector is the other kind of failure (status error, the gate exits 3): see
test_check.py and test_diff_detect.py.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from support import commit_signed, digits_table, store_fingerprint


def _both_refuse(prov, workdir, needles: list[str]) -> None:
    before = store_fingerprint(workdir / ".prov")
    for args in (["diff", "v1", "v2", "--detect", "--format", "json"], ["check", "v2", "--base", "v1"]):
        r = prov(*args, "--signer", "alice.pub")
        assert r.exit_code == 2, (args, r.output)
        assert all(n in r.stderr for n in needles), r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    after = store_fingerprint(workdir / ".prov")
    assert {k: v for k, v in after.items() if "prov.db" not in k} == {
        k: v for k, v in before.items() if "prov.db" not in k
    }


def test_nan_in_a_feature_column_names_the_record_s_row(prov, workdir, store, keypair):
    t = digits_table().slice(0, 1100)
    pq.write_table(t.slice(0, 1000), workdir / "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    px = t.column("px20").cast(pa.float64()).to_pylist()
    px[1042] = px[1003] = float("nan")
    pq.write_table(t.set_column(t.schema.get_field_index("px20"), "px20", pa.array(px)), workdir / "v2.parquet")
    # refused where it enters (newcomer review 27, finding 2): the commit names the file, column and rows; v1's
    # profile reads the column, so leaving it out of the features is not offered (newcomer review 28, finding 1)
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", "v2.parquet", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path)
    assert r.exit_code == 2, r.output
    assert r.stderr == (
        "Error: v2.parquet: feature values null, NaN or infinite in column px20 in 2 record(s) (0-based rows 1003, 1042): "
        "no detector can score them; fill or drop them and commit again (v1's signed profile reads px20: a check of "
        "this version against v1 reads it too, so leaving it out of the features would not let it pass)\n"
    )
    assert store_fingerprint(workdir / ".prov") == before
    exclude = '["label","source","id","px20"]'
    commit_signed(
        prov, keypair, "v2", "v2.parquet", "--featurizer", "numeric", "--featurizer-option", f"exclude={exclude}"
    )
    # committed anyway with the column left out, v1's profile reads px20: its check meets the NaN, and names the records in row order once (newcomer review
    # 27: "...in 3 row(s); rows; records: 3, 198, 50"), the file they are in and what to do
    _both_refuse(prov, workdir, ["null, NaN or infinite in 2 row(s); records: 1003 (", "), 1042 ("])
    path = workdir / "v2.parquet"
    for args in (["check", "v2", "--base", "v1"], ["diff", "v1", "v2", "--detect"]):  # the same words on both
        r = prov(*args, "--signer", "alice.pub")
        assert "; rows;" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"Error: {path} (v2's data): new records of the delta cannot be scored: "), r.stderr
        assert r.stderr.endswith(f"; fill or drop them in {path}, commit it again and check that version\n"), r.stderr


def test_a_feature_dimension_that_differs_from_the_base_names_the_records(prov, workdir, store, keypair):
    def table(n: int, width: int) -> pa.Table:
        rows = [[float((i * 7 + j) % 13) for j in range(width)] for i in range(n)]
        return pa.table({"emb": pa.array(rows, pa.list_(pa.float64())), "label": [str(i % 3) for i in range(n)]})

    pq.write_table(table(300, 8), workdir / "v1.parquet")
    pq.write_table(pa.concat_tables([table(300, 8), table(330, 6).slice(300)]), workdir / "v2.parquet")
    featurizer = ("--featurizer", "embedding", "--featurizer-option", "column=emb")
    commit_signed(prov, keypair, "v1", "v1.parquet", *featurizer)
    commit_signed(prov, keypair, "v2", "v2.parquet", *featurizer)
    _both_refuse(prov, workdir, ["6 features each", "profile 8", "(and 20 more)"])


def test_an_undecodable_image_names_the_file(prov, workdir, store, keypair):
    def png(value: int) -> bytes:
        out = io.BytesIO()
        Image.new("L", (8, 8), value).save(out, format="PNG")
        return out.getvalue()

    for label in ("a", "b"):
        (workdir / "tree" / label).mkdir(parents=True)
        for i in range(12):
            (workdir / "tree" / label / f"{i}.png").write_bytes(png(10 * i + (0 if label == "a" else 120)))
    commit_signed(prov, keypair, "v1", "tree", "--tree-reader", "files")
    (workdir / "tree" / "b" / "broken.png").write_bytes(b"\x89PNG not really an image")
    # the ImageFolder reader refuses it at commit (named: v1's signed --tree-reader files is the default now);
    # read as plain files it is committed, and detection meets it
    r = prov("commit", "tree", "--tag", "v2", "--key", keypair.private_path, "--signer", keypair.public_path,
             "--tree-reader", "imagefolder")  # fmt: skip
    assert r.exit_code == 2 and "b/broken.png" in r.stderr, r.output
    commit_signed(prov, keypair, "v2", "tree", "--tree-reader", "files")
    _both_refuse(prov, workdir, ["cannot decode", "b/broken.png"])
