"""Registered batch ids: ``SOURCE@ROOT12`` for a batch's first registration, ``SOURCE@ROOT12.N`` for its N-th.

A batch is named by its source and the first 12 hex digits of its RFC 6962 Merkle root, so the same
records signed again are the same batch. After every earlier registration stopped attesting them (the
key that signed them was revoked), the source may sign them again with a key the verifier trusts, and
``prov add`` registers that as the next registration (``lineage/reregister.py``): one id per
``batch.add`` audit entry, so each registration keeps its own standing, withdrawal and audit entry.
Plain string work, no store: the audit-log reader (``store/audit.py``) checks the numbering too.
"""

from __future__ import annotations

import re


def batch_id(source: str, root: bytes) -> str:
    """A batch's id: ``<source>@<first 12 hex digits of its Merkle root>``."""
    return f"{source}@{root.hex()[:12]}"


# ``SOURCE@ROOT12.N``: the N-th registration (N >= 2) of the records of ``SOURCE@ROOT12``, signed again by the
# source after every earlier registration stopped attesting them (a revoked key: ``lineage/reregister.py``).
_NTH = re.compile(r"^(?P<first>.*@[0-9a-f]{12})\.(?P<n>[2-9]|[1-9][0-9]+)\Z", re.DOTALL)


def registration_id(first: str, n: int) -> str:
    """The id of the ``n``-th registration of batch ``first`` (``SOURCE@ROOT12``): ``first`` itself for n = 1,
    else ``first.N``."""
    return first if n == 1 else f"{first}.{n}"


def first_registration(batch: str) -> tuple[str, int]:
    """``(SOURCE@ROOT12, n)`` of a registered batch id: ``(batch, 1)`` for a first registration, and
    ``(SOURCE@ROOT12, N)`` for ``SOURCE@ROOT12.N``. Never raises."""
    m = _NTH.match(batch)  # \Z, not $: an id ending in a newline is no registration number (A21a-5)
    return (m.group("first"), int(m.group("n"))) if m else (batch, 1)


def names_batch(batch: str, source: str, root: bytes) -> bool:
    """Whether registered id ``batch`` may carry the records ``source`` signed under Merkle ``root``: it is their
    batch id (:func:`batch_id`) or a later registration of it (:func:`registration_id`)."""
    return first_registration(batch)[0] == batch_id(source, root)
