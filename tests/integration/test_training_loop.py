"""A real training loop reads a signed version through ``provenance.load``: scikit-learn on the digits.

The model is trained batch by batch from ``VerifiedDataset.batches()`` and scores on held-out
digits; then the data is poisoned on disk after signing (labels flipped, as an attacker with
write access to the data folder would) and the same loop stops at the first flipped record,
before the model sees it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import VerificationError
from support import digits_table

TRAIN = 1400


def _train(data) -> object:
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(loss="log_loss", random_state=0)
    classes = np.arange(len(data.classes))
    for _ in range(5):  # epochs
        for X, y in data.numpy_batches():
            model.partial_fit(X / 16.0, y, classes=classes)
    return model


@pytest.fixture
def signed_digits(workdir, store, keypair):
    table = digits_table()
    pq.write_table(table.slice(0, TRAIN), workdir / "train.parquet", row_group_size=200)
    prov.commit(store, "train.parquet", tag="v1", key=keypair.private_path)
    held_out = table.slice(TRAIN)
    X = np.column_stack([held_out.column(f"px{i:02d}").to_numpy() for i in range(64)]) / 16.0
    y = np.array([int(v) for v in held_out.column("label").to_pylist()])
    return workdir / "train.parquet", X, y


def test_a_model_trained_through_the_loader_learns_the_digits(store, signed_digits, pins):
    _, X_test, y_test = signed_digits
    data = prov.load("v1", store=store, pins=pins)
    model = _train(data)
    predicted = np.array([int(data.classes[i]) for i in model.predict(X_test)])
    assert (predicted == y_test).mean() > 0.85


def test_labels_flipped_after_signing_never_reach_the_model(store, signed_digits, pins):
    path, _, _ = signed_digits
    table = pq.read_table(path)
    labels = table.column("label").to_pylist()
    flipped = [i for i in range(300, TRAIN) if labels[i] == "1"][:40]
    for i in flipped:
        labels[i] = "7"
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels)), path)
    seen = []
    with pytest.raises(
        VerificationError, match=rf"^\S*/train\.parquet#{flipped[0]}: record .* has label '7', signed as '1'"
    ):
        for batch in prov.load("v1", store=store, pins=pins).batches():
            seen += batch.column("label").to_pylist()
    assert seen == []  # verify_first (the default): nothing is handed out of a changed dataset


def test_a_training_loop_gets_the_batch_size_it_asks_for(store, signed_digits, pins):
    """Newcomer review 11, finding 17: `numpy_batches()` yielded the file's row groups (one batch of
    20,000 rows for a small file), whatever the loop wanted. With `batch_size` every batch but the
    last has that many records, the records and labels are the version's, each once, and a shuffled
    epoch is cut the same way."""
    data = prov.load("v1", store=store, pins=pins)
    X_all, y_all = data.arrays()
    pairs = list(data.numpy_batches(batch_size=256))
    assert [len(y) for y in (y for _, y in pairs)] == [256] * 5 + [TRAIN - 5 * 256]  # across the 200-row groups
    assert np.array_equal(np.concatenate([x for x, _ in pairs]), X_all)
    assert np.array_equal(np.concatenate([y for _, y in pairs]), y_all)
    shuffled = list(data.numpy_batches(batch_size=500, shuffle=True, seed=3))
    assert [len(y) for _, y in shuffled] == [500, 500, 400]
    rows = sorted(
        map(
            tuple, np.column_stack([np.concatenate([x for x, _ in shuffled]), np.concatenate([y for _, y in shuffled])])
        )
    )
    assert rows == sorted(map(tuple, np.column_stack([X_all, y_all])))
    batches = list(data.batches(batch_size=1000))
    assert [b.num_rows for b in batches] == [1000, 400]
    assert sum(b.column("label").to_pylist().count("3") for b in batches) == list(y_all).count(data.classes.index("3"))
    with pytest.raises(ValueError, match=r"batch_size=0: expected a positive number of records"):
        next(data.numpy_batches(batch_size=0))
    assert [len(y) for _, y in data.numpy_batches()] == [200] * 7  # without it: the file's row groups, as before
