"""What every source reads from: a dataset spec (plain, JSON-able data) and the hashed result.

A spec is stored with each version so ``prov verify`` can read the same records again
and recompute every digest. A hashed dataset carries, beside its manifest, the facts a
version signs about how it was read: the content columns' types, the label's type, the
file listing the loader saw and (for ImageFolder-style trees) the class list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from provenance.manifest import Manifest
from provenance.sources.listing import Listing
from provenance.sources.tables import TableOptions

if TYPE_CHECKING:
    from provenance.sources.sample_capture import CapturedSample


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset is and how to read it: a path (or URL), its kind, and the read options.

    ``path`` is a local file or folder or an fsspec URL (``s3://``, ``memory://``, ...);
    ``kind`` is ``table``, ``tree`` or ``auto`` (decided by ``build.resolve_kind``);
    ``options`` are the ``TableOptions`` (they also carry a tree's reader); ``labels_csv``
    labels a file tree from a CSV; ``rev``/``repo`` read the path as of a git revision
    through DVC (``dvc.py``). A value: frozen, compared by fields.
    """

    path: str
    kind: str = "auto"  # "table" | "tree" | "auto"
    options: TableOptions = field(default_factory=TableOptions)
    labels_csv: str | None = None
    rev: str | None = None  # a git revision, read through DVC
    repo: str | None = None  # the git + DVC repository for ``rev`` (default: found from path)

    def to_dict(self) -> dict:
        """Plain JSON-able data (stored with each version)."""
        return {
            "path": self.path,
            "kind": self.kind,
            "options": self.options.to_dict(),
            "labels_csv": self.labels_csv,
            "rev": self.rev,
            "repo": self.repo,
        }

    @classmethod
    def from_dict(cls, d: dict) -> DatasetSpec:
        """The spec ``to_dict`` wrote (older specs read with reader version 1).

        Raises ``KeyError`` without ``path`` and ``TypeError``/``ValueError``/``AttributeError``
        for values of the wrong shape; callers reading a signed spec turn these into
        ``VerificationError`` (``version_facts.dataset_from_predicate``).
        """
        return cls(
            path=d["path"],
            kind=d.get("kind", "auto"),
            options=TableOptions.from_dict(d.get("options", {})),
            labels_csv=d.get("labels_csv"),
            rev=d.get("rev"),
            repo=d.get("repo"),
        )


@dataclass
class HashedDataset:
    """A dataset read and hashed: its manifest and the facts about the reading that are signed.

    ``kind`` is ``table`` or ``tree``; ``columns`` the content columns, sorted (none for a
    tree); ``files`` the number of files read (a tree: the number of records);
    ``types`` maps each content column to its type name (``encoding.type_name``);
    ``label_type``/``label_kind`` are the label column's type name and kind; ``listing`` is
    what the loader saw (``listing.py``); ``classes`` the class list a tree loader indexes.
    """

    manifest: Manifest
    kind: str
    columns: list[str]
    files: int
    spec: DatasetSpec | None = None  # what the records were read with (commit hooks re-read a few)
    types: dict[str, str] = field(default_factory=dict)
    label_type: str = "string"
    label_kind: str = "string"
    listing: Listing | None = None
    classes: list[str] | None = None
    sample: CapturedSample | None = None  # the profile sample's candidates kept while hashing (tables), if any

    def schema_fact(self) -> dict:
        """The ``schema`` a version signs: kind, columns and their types, the label, the encoding."""
        options = self.spec.options if self.spec is not None else None
        fact: dict = {
            "kind": self.kind,
            "columns": self.columns,
            "digestAlgorithm": self.manifest.digest_algorithm,
            "labelColumn": options.label_column if options is not None and self.kind == "table" else None,
            "types": dict(self.types),
            "label": {"type": self.label_type, "kind": self.label_kind},
        }
        if self.classes is not None:
            fact["classes"] = list(self.classes)
        return fact

    def listing_fact(self) -> dict | None:
        """The ``listing`` a version signs (None when the reader made none)."""
        return self.listing.fact() if self.listing is not None else None
