"""prov: signed, record-level dataset versions, lineage and poisoning checks."""

__version__ = "0.1.0"
