"""Thin adapters to the loaders people train with, without importing them.

- :class:`MapDataset`: PyTorch's map-style dataset protocol (``__len__`` and
  ``__getitem__``, https://pytorch.org/docs/stable/data.html#map-style-datasets), which
  ``torch.utils.data.DataLoader`` accepts from any object; items are ``(sample,
  class_index)`` with ``classes`` and ``class_to_idx`` as torchvision's ``ImageFolder``
  has them.
- ``dataset.hf_records``: a generator for Hugging Face ``datasets.Dataset.from_generator``.

Neither torch nor datasets is a dependency of prov.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from provenance.errors import VerificationError
from provenance.loader.reading import read_tree_file


class MapDataset:
    """A verified version as a map-style dataset: ``dataset[i] -> (sample, class_index)``.

    Made from :meth:`VerifiedDataset.torch`. For a table, every record is read and
    verified when it is made and kept in memory (samples are numpy rows, ``float64`` when
    every content column is numeric, else ``{column: value}`` dicts). For a file tree, the
    files are read and verified once to list them, then each ``__getitem__`` reads the
    file again and checks its SHA-256 against the signed digest, raising
    ``VerificationError`` if it changed since. ``transform`` is applied to the sample,
    ``target_transform`` to the class index. Indices follow the data's order.
    """

    def __init__(
        self,
        dataset: Any,  # a VerifiedDataset (not imported: dataset.py imports this module)
        transform: Callable | None = None,
        target_transform: Callable | None = None,
    ):
        self.classes = list(dataset.classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.version = dataset.version
        self.transform = transform
        self.target_transform = target_transform
        self._matrix: np.ndarray | None = None
        self._rows: list[dict] | None = None
        self._files: list[tuple[str, bytes]] | None = None
        if dataset.kind == "tree":
            self._location = dataset.tree_location()
            files, labels = [], []
            for hashed in dataset.hashed_batches(verify_first=False):  # read whole before any item
                paths = hashed.locators.to_pylist()
                files += [(p, hashed.digests[32 * i : 32 * i + 32]) for i, p in enumerate(paths)]
                labels.append(hashed.labels)
            self._files = files
            self.targets = dataset.class_indices(pa.concat_arrays(labels) if labels else pa.array([], pa.string()))
        else:
            table, label_texts = dataset.table_and_labels()
            content = table.select(dataset.columns)
            if all(pa.types.is_integer(f.type) or pa.types.is_floating(f.type) for f in content.schema):
                self._matrix = np.column_stack([c.to_numpy().astype(np.float64) for c in content.columns])
            else:
                self._rows = content.to_pylist()
            self.targets = dataset.class_indices(label_texts)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} records")
        sample: Any
        if self._files is not None:
            rel, digest = self._files[index]
            fs, root = self._location
            sample = read_tree_file(fs, root, rel)
            if hashlib.sha256(sample).digest() != digest:
                raise VerificationError(f"{rel}: changed since it was verified against version {self.version}")
        elif self._matrix is not None:
            sample = self._matrix[index]
        else:
            assert self._rows is not None
            sample = self._rows[index]
        target = int(self.targets[index])
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target
