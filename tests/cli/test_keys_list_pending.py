"""``prov keys list`` marks a maintainer key's pending revocation entry as ``prov trust list`` marks a source key's
(review 24a, item 3).

A ``key.revoke`` entry no checkpoint or version head a key you pin signed covers is one a ``.prov/`` writer may have
appended (and may delete again): ``prov keys revoke`` revokes such a key again rather than say "already revoked"
(attack review 22a, finding 3), but ``prov keys list`` took no pins and could not say so. Replayed in the trust world
(``support.build_trust_world``) with real keys and an entry appended with sqlite3.
"""

from __future__ import annotations

import json

from provenance import keys
from provenance.trust.revocations import PENDING, pending_advice
from support import plant_pending_entry, succeeded, validate_output, words

PINNED = ("--signer", "maintainer.pub")


def listed(prov, keyid: str, *pins: str) -> tuple[dict, str]:
    """``keyid``'s row of ``prov keys list --json`` (validated against its schema) and its line of the text."""
    doc = json.loads(succeeded(prov, "keys", "list", "--json", *pins).stdout)
    validate_output("keys-list", doc)
    line = next(x for x in succeeded(prov, "keys", "list", *pins).stdout.splitlines() if x.startswith(keyid[:16]))
    return next(k for k in doc["keys"] if k["keyid"] == keyid), words(line)


def test_keys_list_marks_a_pending_revocation_entry_under_your_pins(prov, template_trust, workdir):
    succeeded(prov, "keys", "generate", "other")
    succeeded(prov, "keys", "register", "other.pub", "--name", "other", *PINNED)
    other = keys.key_id(keys.load_public("other.pub"))
    detail = {"name": "other", "reason": "planted", "revoked_at": "2026-01-01T00:00:00+00:00"}
    plant_pending_entry(workdir / ".prov" / "prov.db", "key.revoke", other, detail)

    row, line = listed(prov, other, *PINNED)
    assert row["revocation_signed"] is False and [e["pending"] for e in row["revocation_entries"]] == [True], row
    # asks first: the entry may be a .prov/ writer's, and a good key revoked stays revoked (A24a-3)
    assert pending_advice(f"prov keys revoke {other[:16]} --reason R --checkpoint-key K") in line, line
    # the words prov trust list uses for a source key's pending entry
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    plant_pending_entry(workdir / ".prov" / "prov.db", "trust.revoke", "vendor", {"keyid": vendor, "reason": "x"})
    trust_line = next(x for x in succeeded(prov, "trust", "list", *PINNED).stdout.splitlines() if vendor[:16] in x)
    command = f"prov trust revoke vendor --key-id {vendor[:16]} --reason R --checkpoint-key K"
    assert pending_advice(command) in words(trust_line), trust_line

    # nothing pinned: no head can be told to be a maintainer's, so nothing is marked either way (as trust list)
    row, line = listed(prov, other)
    assert row["revocation_signed"] is None and [e["pending"] for e in row["revocation_entries"]] == [None], row
    assert PENDING not in line, line

    # the maintainer revokes it again as the mark says: covered by the checkpoint, no longer pending
    succeeded(prov, "keys", "revoke", other[:16], "--reason", "stolen", "--checkpoint-key", "maintainer.key",
              "--out", "kept.json", *PINNED)  # fmt: skip
    row, line = listed(prov, other, *PINNED)
    assert row["revocation_signed"] is True and [e["pending"] for e in row["revocation_entries"]] == [False, False]
    assert PENDING not in line and "(revoked " in line, line
    maintainer = keys.key_id(keys.load_public("maintainer.pub"))
    row, line = listed(prov, maintainer, *PINNED)  # a key never revoked: nothing to mark
    assert (row["revocation_signed"], row["revocation_entries"]) == (None, []) and PENDING not in line
