"""What every source reads from: a dataset spec (plain, JSON-able data) and the hashed result.

A spec is stored with each version so ``prov verify`` can read the same records again
and recompute every digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provenance.manifest import Manifest
from provenance.sources.tables import TableOptions


@dataclass(frozen=True)
class DatasetSpec:
    path: str
    kind: str = "auto"  # "table" | "tree" | "auto"
    options: TableOptions = field(default_factory=TableOptions)
    labels_csv: str | None = None
    rev: str | None = None  # a git revision, read through DVC
    repo: str | None = None  # the git + DVC repository for ``rev`` (default: found from path)

    def to_dict(self) -> dict:
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
    manifest: Manifest
    kind: str
    columns: list[str]
    files: int
    spec: DatasetSpec | None = None  # what the records were read with (commit hooks re-read a few)
