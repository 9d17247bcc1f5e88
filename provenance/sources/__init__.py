"""Reading datasets as records: every input kind prov signs, and the one pipeline that hashes it.

``interface.py`` (the dataset spec and the hashed result) and ``build.py`` (the one
dispatcher: list, partition, hash, external sort into the manifest) are the entry points.
Tables (Parquet, CSV, JSON Lines) are read by ``tables.py`` with ``table_files.py`` (which
files, as ``pyarrow.dataset`` reads a folder), ``text_tables.py`` (CSV/JSONL types) and
``table_labels.py`` (labels as the text a version signs);
file trees by ``trees.py`` (torchvision ``ImageFolder``/``DatasetFolder``, a labels CSV)
and ``hf_imagefolder.py`` (Hugging Face ``imagefolder``); git revisions through DVC by
``dvc.py``. ``listing.py`` and ``facts.py`` are what a version signs about the reading
beside its Merkle root; ``records.py`` reads a few committed records back, checked against
their signed digests; ``legacy_*.py`` keep reader version 1 so old versions still verify.
"""
