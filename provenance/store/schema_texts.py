"""Every ``CREATE`` statement prov has written into a ``prov.db``: the only texts its tables and indexes may have.

SQLite keeps each object's ``CREATE`` statement in ``sqlite_master.sql`` as it was given (normalising only the
leading ``CREATE TABLE`` and dropping ``IF NOT EXISTS``: https://sqlite.org/schematab.html) and parses that text
at every open, so whoever can write ``.prov/`` can change a table by editing it (``pragma writable_schema``):
drop a ``NOT NULL`` or ``PRIMARY KEY``, add a ``UNIQUE ... ON CONFLICT IGNORE`` generated column that makes SQLite
drop an insert without an error. ``schema.changed_definitions`` refuses any text of a prov table or index that
is not listed here (nor the one this install of prov makes, which a test holds to the first list).

prov makes its tables with sqlite-utils (``schema.create_schema``), which writes the text, so the texts differ by
the sqlite-utils a store was made with, never by prov's version: no table's columns or constraints have changed
since it was added (checked at every commit that changed the schema code), and tables added later are made on
first use (``schema.ON_DEMAND_TABLES``), so a store made before lacks them rather than holding an older text.

- :data:`SQLITE_UTILS_4`: sqlite-utils 4.0 and later (names in double quotes, floats ``REAL``);
- :data:`SQLITE_UTILS_3`: sqlite-utils 3.37 and 3.38, which ``pyproject.toml`` allows (names in brackets, floats
  ``FLOAT``).

Each is the statements in the order ``prov init`` makes them, then the on-demand tables', one per ``;``-ended
line group, exactly as ``sqlite_master`` holds them. An object's ``sqlite_autoindex_`` indexes have no text.
"""

from __future__ import annotations

import functools
import re

SQLITE_UTILS_4 = """\
CREATE TABLE "meta" (
   "key" TEXT PRIMARY KEY,
   "value" TEXT
);
CREATE TABLE "versions" (
   "tag" TEXT PRIMARY KEY,
   "parent" TEXT,
   "created_at" TEXT NOT NULL,
   "merkle_root" TEXT NOT NULL,
   "records" INTEGER NOT NULL,
   "manifest_object" TEXT NOT NULL,
   "envelope_object" TEXT NOT NULL,
   "keyid" TEXT NOT NULL,
   "dataset" TEXT,
   "kind" TEXT,
   "audit_seq" INTEGER
);
CREATE TABLE "keys" (
   "keyid" TEXT PRIMARY KEY,
   "name" TEXT,
   "public_pem" TEXT,
   "registered_at" TEXT,
   "revoked_at" TEXT
);
CREATE TABLE "audit" (
   "seq" INTEGER PRIMARY KEY,
   "ts" TEXT NOT NULL,
   "action" TEXT NOT NULL,
   "subject" TEXT,
   "detail" TEXT,
   "prev_hash" TEXT NOT NULL,
   "hash" TEXT NOT NULL
);
CREATE TABLE "trust" (
   "source" TEXT,
   "keyid" TEXT,
   "name" TEXT,
   "public_pem" TEXT NOT NULL,
   "added_at" TEXT NOT NULL,
   "valid_from" TEXT,
   "valid_until" TEXT,
   "revoked_at" TEXT,
   "revoked_reason" TEXT,
   PRIMARY KEY ("source", "keyid")
);
CREATE TABLE "batches" (
   "batch" TEXT PRIMARY KEY,
   "source" TEXT NOT NULL,
   "signed" INTEGER NOT NULL,
   "keyid" TEXT,
   "merkle_root" TEXT NOT NULL,
   "records" INTEGER NOT NULL,
   "labels" TEXT,
   "manifest_object" TEXT NOT NULL,
   "envelope_object" TEXT,
   "captured_at" TEXT,
   "added_at" TEXT NOT NULL,
   "data" TEXT,
   "audit_seq" INTEGER
);
CREATE TABLE "batch_records" (
   "digest" BLOB NOT NULL,
   "label" TEXT NOT NULL,
   "batch" TEXT NOT NULL
);
CREATE INDEX "idx_batch_records_digest"
    ON "batch_records" ("digest");
CREATE TABLE "version_lineage" (
   "tag" TEXT PRIMARY KEY,
   "object" TEXT NOT NULL,
   "attested" INTEGER,
   "relabeled_after_source" INTEGER,
   "unattributed" INTEGER
);
CREATE TABLE "profiles" (
   "version" TEXT PRIMARY KEY,
   "object" TEXT,
   "featurizer" TEXT,
   "dim" INTEGER,
   "sample" INTEGER
);
CREATE TABLE "detector_runs" (
   "run" TEXT,
   "version" TEXT,
   "base" TEXT,
   "detector" TEXT,
   "status" TEXT,
   "error" TEXT,
   "threshold" REAL,
   "scored" INTEGER,
   "flagged" INTEGER,
   "fpr" REAL,
   "created_at" TEXT,
   PRIMARY KEY ("run", "detector")
);
CREATE TABLE "findings" (
   "run" TEXT,
   "version" TEXT,
   "base" TEXT,
   "detector" TEXT,
   "position" INTEGER,
   "digest" TEXT,
   "label" TEXT,
   "score" REAL,
   "flagged" INTEGER,
   "explanation" TEXT,
   PRIMARY KEY ("run", "detector", "position")
);
CREATE INDEX "idx_findings_version_flagged"
    ON "findings" ("version", "flagged");
CREATE TABLE "waivers" (
   "object" TEXT PRIMARY KEY,
   "version" TEXT,
   "digest" TEXT,
   "detector" TEXT,
   "keyid" TEXT,
   "created_at" TEXT
);
CREATE TABLE "attestations" (
   "object" TEXT PRIMARY KEY,
   "version" TEXT,
   "base" TEXT,
   "policy_digest" TEXT,
   "keyid" TEXT,
   "created_at" TEXT
);
CREATE TABLE "trust_statements" (
   "source" TEXT,
   "keyid" TEXT,
   "object" TEXT NOT NULL,
   "signer" TEXT NOT NULL,
   "added_at" TEXT,
   PRIMARY KEY ("source", "keyid")
);
CREATE TABLE "checkpoints" (
   "object" TEXT PRIMARY KEY,
   "size" INTEGER NOT NULL,
   "root" TEXT NOT NULL,
   "head" TEXT NOT NULL,
   "keyid" TEXT NOT NULL,
   "created_at" TEXT NOT NULL
);
"""
"""The statements as sqlite-utils 4.0 and later write them."""

SQLITE_UTILS_3 = re.sub(r'"([^"]+)"', r"[\1]", SQLITE_UTILS_4).replace(" REAL", " FLOAT")
"""The statements as sqlite-utils 3.37 and 3.38 write them: :data:`SQLITE_UTILS_4` with each name in brackets
instead of double quotes and ``FLOAT`` for ``REAL``, the only two ways they differ (names are always quoted,
so `` REAL`` is only ever a column's type)."""

_NAMED = re.compile(r'CREATE (TABLE|INDEX) (?:"([^"]+)"|\[([^\]]+)\])')


@functools.cache
def known_texts() -> dict[tuple[str, str], frozenset[str]]:
    """``(type, name) -> texts``: every ``sqlite_master.sql`` prov has written for each of its tables and indexes
    (``type`` is ``"table"`` or ``"index"``), from :data:`SQLITE_UTILS_4` and :data:`SQLITE_UTILS_3`."""
    texts: dict[tuple[str, str], set[str]] = {}
    for listing in (SQLITE_UTILS_4, SQLITE_UTILS_3):
        for statement in listing.split(";\n"):
            if statement.strip():
                [(kind, quoted, bracketed)] = _NAMED.findall(statement)[:1]
                texts.setdefault((kind.lower(), quoted or bracketed), set()).add(statement.rstrip(";\n"))
    return {key: frozenset(found) for key, found in texts.items()}
