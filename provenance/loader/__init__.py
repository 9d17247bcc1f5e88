"""The verifying loader: a training job reads a signed version's records through its manifest.

``provenance.load(version)`` (``api.load``) opens a version whose signature verifies
(``signed_version.py``) and returns a :class:`~provenance.loader.dataset.VerifiedDataset`;
``matcher.py`` checks every record read against the signed manifest, ``reading.py`` reads
the data as ``prov commit`` did, and ``adapters.py`` hands the records to PyTorch's
``DataLoader`` or Hugging Face ``datasets`` without importing either.
"""
