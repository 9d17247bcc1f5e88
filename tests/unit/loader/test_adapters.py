"""The loader's adapters: what torch's DataLoader and Hugging Face ``datasets`` accept, neither imported by prov."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import InputError, VerificationError
from support import digits_table


@pytest.fixture
def digits_version(workdir, store, keypair, pins):
    pq.write_table(digits_table(200), workdir / "train.parquet", row_group_size=64)
    prov.commit(store, "train.parquet", tag="v1", key=keypair.private_path)
    return prov.load("v1", store=store, pins=pins)


@pytest.fixture
def tree_version(workdir, store, keypair, pins):
    """An ImageFolder-style tree of real PNG images (digits drawn as 8x8 greyscale)."""
    from PIL import Image

    table = digits_table(40)
    for i in range(40):
        label = table.column("label")[i].as_py()
        pixels = np.array([table.column(f"px{j:02d}")[i].as_py() for j in range(64)], dtype=np.uint8) * 16
        (workdir / "tree" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.reshape(8, 8)).save(workdir / "tree" / label / f"{i:03d}.png")
    prov.commit(store, "tree", tag="t1", key=keypair.private_path)
    return prov.load("t1", store=store, pins=pins)


def test_a_table_is_a_map_style_dataset_of_rows_and_class_indices(digits_version):
    mapped = digits_version.torch(transform=lambda x: x / 16.0)
    assert len(mapped) == 200 and mapped.classes == [str(d) for d in range(10)]
    sample, target = mapped[3]
    expected = digits_table(200)
    assert target == int(expected.column("label")[3].as_py())
    assert np.allclose(sample * 16.0, [expected.column(f"px{j:02d}")[3].as_py() for j in range(64)])
    assert mapped[-1][1] == int(expected.column("label")[199].as_py())
    with pytest.raises(IndexError):
        mapped[200]


def test_a_tree_file_changed_after_loading_is_refused_when_read(tree_version, workdir):
    mapped = tree_version.torch()
    assert len(mapped) == 40 and mapped.class_to_idx["0"] == 0
    sample, target = mapped[0]
    assert sample.startswith(b"\x89PNG") and mapped.classes[target] == "0"
    first = sorted((workdir / "tree" / "0").iterdir())[0]
    first.write_bytes(first.read_bytes() + b"trigger")
    with pytest.raises(VerificationError, match=r"0/000.png: changed since it was verified against version t1"):
        mapped[0]


def test_hugging_face_datasets_builds_from_the_verified_records(digits_version, tmp_path):
    datasets = pytest.importorskip("datasets")
    hf = datasets.Dataset.from_generator(digits_version.hf_generator(), cache_dir=str(tmp_path / "hf"))
    assert hf.num_rows == 200 and hf[7]["label"] == digits_table(200).column("label")[7].as_py()
    assert set(hf.column_names) == {*digits_version.columns, "label"}


def test_a_torch_data_loader_trains_on_the_verified_records(digits_version):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(
        digits_version.torch(transform=lambda x: x.astype(np.float32) / 16.0), batch_size=32, shuffle=True
    )
    model = torch.nn.Linear(64, 10)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(20):
        for X, y in loader:
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X), y)
            loss.backward()
            optimiser.step()
    X, y = digits_version.arrays(np.float32)
    accuracy = (model(torch.from_numpy(X / 16.0)).argmax(1).numpy() == y).mean()
    assert accuracy > 0.9


def test_arrays_of_a_tree_says_how_to_read_its_files(tree_version):
    """Newcomer review 24: the README's `X, y = data.arrays()` on an image tree raised `version t1 is a file
    tree: its content is file bytes, not columns`, with no way forward."""
    with pytest.raises(TypeError) as raised:
        tree_version.arrays()
    assert str(raised.value) == (
        "version t1 is a file tree: its content is file bytes, not columns; arrays() and numpy_batches() need a "
        "table: decode each file in torch(transform=...), or read record.content and record.label in "
        "`for record in data`"
    )
    record = next(iter(tree_version))  # the way on works
    assert record.content.startswith(b"\x89PNG") and record.label in tree_version.classes


def test_arrays_of_a_text_column_names_the_version_and_column_and_the_way_on(workdir, store, keypair, pins):
    """Newcomer review 12, finding 11: ``arrays()`` on a JSON Lines text set raised numpy's "could not convert string to
    float: '<a record's text>'", naming no version and no way forward."""
    import pyarrow as pa

    rows = [{"text": f"record {i} says {'yes' if i % 2 else 'no'}", "n": i, "label": str(i % 2)} for i in range(20)]
    pq.write_table(pa.Table.from_pylist(rows), workdir / "text.parquet")
    prov.commit(store, "text.parquet", tag="txt", key=keypair.private_path)
    data = prov.load("txt", store=store, pins=pins)
    with pytest.raises(TypeError, match=r"^version txt: content column 'text' is string, not numeric; arrays\(\)"):
        data.arrays()
    with pytest.raises(TypeError, match=r"use to_table\(\), batches\(\) or torch\(\)$"):
        next(data.numpy_batches())
    assert data.to_table().num_rows == 20  # the way on works


def test_arrays_reads_the_columns_given_in_their_order(workdir, store, keypair, pins):
    """Newcomer review 31, finding 2: the README's ``X, y = data.arrays()`` raised TypeError on any table with a
    text column (palmerpenguins' 'island'), with no way to choose columns. ``columns=`` reads those given, in
    that order; without it every content column is read in name order, not the file's."""
    import pyarrow as pa

    rows = [{"species": "A" if i % 2 else "B", "island": f"isle {i % 3}", "year": 2007 + i % 2, "bill": 30.0 + i}
            for i in range(20)]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), workdir / "peng.parquet")
    prov.commit(store, "peng.parquet", tag="p1", key=keypair.private_path, label_column="species")
    data = prov.load("p1", store=store, pins=pins)
    assert data.columns == ["bill", "island", "year"]  # name order, not the file's (island, year, bill)
    assert data.to_table().column_names == ["bill", "island", "year", "species"]
    with pytest.raises(TypeError) as raised:
        data.arrays()
    assert str(raised.value) == (
        "version p1: content column 'island' is string, not numeric; arrays() and numpy_batches() need numbers: "
        "pass the numeric ones, e.g. arrays(columns=['bill', 'year']), or use to_table(), batches() or torch()"
    )
    X, y = data.arrays(columns=["year", "bill"])
    by_bill = {row["bill"]: row for row in rows}
    assert X.shape == (20, 2)
    assert all(by_bill[b]["year"] == year for year, b in X)  # each row's year beside its own bill
    assert [data.classes[i] for i in y] == [by_bill[b]["species"] for _, b in X]
    batches = list(data.numpy_batches(columns=["bill"], batch_size=8))
    assert [len(x) for x, _ in batches] == [8, 8, 4] and batches[0][0].shape[1] == 1
    with pytest.raises(InputError) as refused:
        data.arrays(columns=["species", "bill", "bill"])
    assert str(refused.value) == (
        "version p1: columns= names 'species', not a content column; and 'bill' more than once; its content "
        "columns: 'bill', 'island', 'year' (the label is y, not a column)"
    )
    # an empty list read X of shape (0, 0) beside y's 20 labels, which fit refused far from the cause (newcomer 31)
    for call in (lambda: data.arrays(columns=[]), lambda: next(data.numpy_batches(columns=()))):
        with pytest.raises(InputError) as empty:
            call()
        assert str(empty.value) == (
            "version p1: columns= is empty; name at least one content column ('bill', 'island', 'year'), or leave "
            "columns= out to read them all"
        )
