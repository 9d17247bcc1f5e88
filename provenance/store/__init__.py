"""The embedded store: ``.prov/prov.db`` (SQLite via sqlite-utils) plus content-addressed objects.

``store.py`` holds the lock and the write protocol, ``opening.py`` finding a store and
opening its database, ``schema.py`` every table, ``objects.py`` the content-addressed
files and ``audit.py`` the hash-chained log.
"""

from provenance.store.store import Store, find_store

__all__ = ["Store", "find_store"]
