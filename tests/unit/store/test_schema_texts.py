"""The list of ``CREATE`` statements prov has written (``provenance.store.schema_texts``) against what prov makes."""

from __future__ import annotations

import sqlite3

import pytest

from provenance.store.schema import expected_columns, expected_schema, on_demand_schema
from provenance.store.schema_texts import SQLITE_UTILS_3, SQLITE_UTILS_4, known_texts


def test_every_statement_this_install_makes_is_listed():
    """A sqlite-utils that writes prov's tables another way fails here, before a store made with it is refused
    by a prov whose list lacks its texts (after a downgrade, say): add its texts to schema_texts.py."""
    made = {key: sql for key, sql in (expected_schema() | on_demand_schema()).items() if sql}
    assert set(made) == set(known_texts())
    unlisted = {key: sql for key, sql in made.items() if sql not in known_texts()[key]}
    assert unlisted == {}, unlisted


@pytest.mark.parametrize("listing", [SQLITE_UTILS_4, SQLITE_UTILS_3], ids=["sqlite-utils 4", "sqlite-utils 3"])
def test_each_listed_era_is_a_whole_schema_that_sqlite_keeps_verbatim(listing):
    """Run as a script, each listing makes every table and index of prov's, with the columns prov reads, and
    SQLite keeps each statement as listed: the texts a store of that era holds, byte for byte."""
    db = sqlite3.connect(":memory:")
    db.executescript(listing)
    kept = {(kind, name): sql for kind, name, sql in db.execute("select type, name, sql from sqlite_master")}
    listed = {key: next(iter(texts & {kept.get(key)}), None) for key, texts in known_texts().items()}
    assert all(listed.values()), [key for key, sql in listed.items() if sql is None]
    columns = {t: {r[1] for r in db.execute(f"pragma table_info([{t}])")} for t in expected_columns()}
    assert columns == expected_columns()
