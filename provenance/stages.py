"""The commit pipeline's stage interface: prepare outside the store's write lock, record inside it.

``versions.commit`` hashes the dataset, then asks every stage to *prepare* (read,
featurise, fit, classify: the expensive part, with no lock held, so other commands can
write meanwhile), then takes the lock once and asks every prepared stage to *record*
(re-check what may have changed since it prepared, put its objects, insert its rows and
add its facts to the predicate that is about to be signed). A stage whose prepared work
went stale recomputes the cheap part under the lock or raises; it never records stale facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from provenance.sources.interface import DatasetSpec, HashedDataset
from provenance.store.store import Store


@dataclass(frozen=True)
class CommitJob:
    """What every stage is given: the store, the new version's tag and its hashed dataset.

    ``spec`` says how the records were read (with local paths), so a stage can read a
    few of them again.
    """

    store: Store
    tag: str
    hashed: HashedDataset
    spec: DatasetSpec
    # the profile sample key's salt, the committer's signature it hashes and the parent root it signs (profiles.sample)
    sample_salt: bytes | None = None
    sample_salt_signature: bytes | None = None
    sample_salt_parent: bytes | None = None
    sample_salt_nonce: bytes | None = None


class PreparedStage(Protocol):
    """A stage's work, done; recorded under the store's write lock."""

    def record(self, store: Store, tag: str, predicate: dict) -> None:
        """Inside ``Store.write()``: re-check, put objects, insert rows, add facts to ``predicate``.

        Must be quick (bounded by the size of what it records, not by the dataset).
        Raising aborts the whole commit and leaves the store as it was.
        """


class CommitStage(Protocol):
    """One stage of a commit (lineage, reference profile, ...)."""

    name: str

    def prepare(self, job: CommitJob) -> PreparedStage:
        """Do the expensive work with no lock held; return what :meth:`PreparedStage.record` writes."""
        ...
