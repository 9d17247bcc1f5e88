"""Store tables for the lineage stage; created with the store by `_create_schema`."""

from __future__ import annotations


def create(db) -> None:
    """Create this stage's tables (called once, inside `prov init`)."""
