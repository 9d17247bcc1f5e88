"""The statement cache keys on the first-id-commit leniency (``version_facts.first_id_commit``).

Under a pinned store id, a version that signs no id (made before ids) is refused while no version of the audit log
signs one yet, except when read by the commit that will be the store's first to sign it. Inside one
``statement_cache`` block, a version verified under that leniency must not be answered from the cache to a reader
outside it (a check, a note): it is verified again, and refused. Real legacy store (``tests/data/legacy-store``),
real keys; nothing stands in for the verification.
"""

from __future__ import annotations

import pytest

from provenance.errors import VerificationError
from provenance.store.store import Store
from provenance.trust.pins import Pins
from provenance.version_facts import first_id_commit, statement_cache, verified_statement

MINE = "cd" * 16  # the id this store's maintainer pins for it (no version signs one yet)
REFUSED = "signs no store id, and no version of this store's audit log signs one yet"


@pytest.fixture
def pinned_legacy(legacy):
    """The legacy store (v1, v2 signing no store id) opened with maintainer.pub and the store id pinned."""
    store = Store.open(legacy)
    store.pins = Pins.load([str(legacy / "maintainer.pub")], store_id=MINE)
    yield store
    store.close()


def test_a_statement_verified_for_the_first_id_commit_is_refused_outside_it_in_the_same_block(pinned_legacy):
    row = pinned_legacy.version("v2")
    with statement_cache():
        with first_id_commit():  # the commit that will sign the id reads its parent
            assert verified_statement(pinned_legacy, row)["predicate"]["version"] == "v2"
        with pytest.raises(VerificationError, match=REFUSED):  # a reader outside the leniency, same block
            verified_statement(pinned_legacy, row)
        with first_id_commit():  # the refusal was not kept: the commit still reads it
            assert verified_statement(pinned_legacy, row)["predicate"]["version"] == "v2"


def test_outside_any_block_the_leniency_alone_decides(pinned_legacy):
    row = pinned_legacy.version("v2")
    with pytest.raises(VerificationError, match=REFUSED):
        verified_statement(pinned_legacy, row)
    with first_id_commit():
        assert verified_statement(pinned_legacy, row)["predicate"]["version"] == "v2"
