"""``prov.verify`` and ``prov.load`` take the store and the version's name the same two ways (newcomer review 19,
H11: verify took the store first and positional, load as ``store=``, so a newcomer who copied one guessed the other
wrong), on a real store, key and Parquet file."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance import keys
from provenance.errors import VerificationError
from support import digits_table


@pytest.fixture
def committed(workdir: Path) -> tuple[prov.Store, prov.Pins]:
    """A store in ``workdir`` with v1 (60 digits) committed by maintainer.key, and the pins naming its key."""
    keys.generate(workdir / "maintainer")
    pq.write_table(digits_table(60), workdir / "v1.parquet")
    store = prov.Store.init(workdir)
    prov.commit(store, "v1.parquet", tag="v1", key="maintainer.key")
    return store, prov.Pins.load(["maintainer.pub"])


def test_verify_and_load_take_the_store_first_or_as_store(committed, workdir):
    store, pins = committed
    first = prov.verify(store, "v1", pins=pins)
    assert first["version"] == "v1" and first["records"] == 60 and first["trust_decision"] is True
    for report in (
        prov.verify("v1", store=store, pins=pins),
        prov.verify("v1", store=str(workdir), pins=pins),  # the folder holding .prov/, as load takes it
        prov.verify(store=store, target="v1", pins=pins),  # every argument named, as before
        prov.verify("v1", pins=pins),  # no store: the one above the working directory
    ):
        assert report == first
    X, y = prov.load("v1", store=store, pins=pins).arrays()
    for dataset in (prov.load(store, "v1", pins=pins), prov.load(str(workdir), "v1", pins=pins)):
        X2, y2 = dataset.arrays()
        assert (X2 == X).all() and list(y2) == list(y) and len(y) == 60
    assert len(prov.load(version="v1", pins=pins).arrays()[1]) == 60


def test_both_forms_check_the_data_alike(committed, workdir):
    """A relabeled record is refused whichever form the job used: the form changes nothing of what is checked."""
    store, pins = committed
    table = pq.read_table(workdir / "v1.parquet")
    labels = table.column("label").to_pylist()
    labels[3] = "9" if labels[3] != "9" else "8"
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label", [labels]), workdir / "v1.parquet")
    for call in (lambda: prov.verify(store, "v1", pins=pins), lambda: prov.verify("v1", store=store, pins=pins)):
        with pytest.raises(VerificationError, match="relabeled"):
            call()
    for form in (lambda: prov.load(store, "v1", pins=pins), lambda: prov.load("v1", store=store, pins=pins)):
        with pytest.raises(VerificationError):
            form().arrays()


def test_a_store_or_name_given_twice_or_not_at_all_is_a_type_error(committed):
    store, pins = committed
    with pytest.raises(TypeError, match="got the store twice"):
        prov.verify(store, "v1", store=store, pins=pins)
    with pytest.raises(TypeError, match="got the store twice"):
        prov.load(store, "v1", store=store, pins=pins)
    with pytest.raises(TypeError, match="got the version twice"):
        prov.load(store, "v1", version="v1", pins=pins)
    with pytest.raises(
        TypeError, match=r"missing the target: verify\(store, target, \.\.\.\) or verify\(target, store="
    ):
        prov.verify(pins=pins)
    with pytest.raises(TypeError, match="3 positional arguments"):
        prov.load(store, "v1", "v2", pins=pins)
    with pytest.raises(TypeError, match="the version's name"):
        prov.load(store, store, pins=pins)  # type: ignore[arg-type]
