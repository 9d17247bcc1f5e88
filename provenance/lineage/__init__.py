"""Lineage: batches signed at source, their registration, and each record's status in a version."""
