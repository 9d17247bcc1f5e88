"""Which revocation entry's time and reason the lists show when the audit log holds several for one key (review 23).

A ``.prov/`` writer who holds a vendor's stolen key appends a pending ``trust.revoke`` entry of it with his own
reason (attack review 22a, finding 3); the maintainer revokes the key again, as prov trust list advises, and the
revocation's checkpoint signs over both entries. ``prov trust list`` and ``prov sources`` showed the first entry's
text: the planter's. Review 23 showed the entry a pinned key's head signed over as it was written, which attack
review 23a (A23a-2) showed can be the planter's too (one planted after a pending revocation). Revocation entries carry
no signature of their own, so which is the maintainer's cannot be told: the lists show every entry, in log order.
"""

from __future__ import annotations

import json
import sqlite3

from provenance import keys
from support import plant_pending_entry, succeeded

PINNED = ("--signer", "maintainer.pub")
PLANTED = {"reason": "rotated as planned; its batches stay good", "revoked_at": "2026-01-01T00:00:00+00:00"}


def listed(prov, vendor: str) -> tuple[dict, str]:
    """The vendor key's row of ``prov trust list --json`` and its line of the text list."""
    rows = json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]
    line = next(x for x in succeeded(prov, "trust", "list", *PINNED).stdout.splitlines() if vendor[:16] in x)
    return next(r for r in rows if r["keyid"] == vendor), line


def test_the_lists_show_the_maintainers_revocation_not_an_entry_planted_before_or_after_it(
    prov, template_trust, workdir
):
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    plant_pending_entry(db_path, "trust.revoke", "vendor", {"keyid": vendor, **PLANTED})
    row, line = listed(prov, vendor)  # pending: the planter's words, marked as such
    assert row["revocation_signed"] is False and "log entry pending" in line, line

    succeeded(prov, "trust", "revoke", "vendor", "--key-id", vendor, "--reason", "laptop stolen", "--yes",
              "--checkpoint-key", "maintainer.key", "--out", "kept.json", *PINNED)  # fmt: skip
    with sqlite3.connect(db_path) as db:
        (real_at,) = db.execute(
            "select json_extract(detail, '$.revoked_at') from audit where action = 'trust.revoke' order by seq desc"
        ).fetchone()
    row, line = listed(prov, vendor)
    planted_at = PLANTED["revoked_at"]
    # the first entry's time and reason (the planter's), and beside it every entry: the maintainer's is there too
    assert (row["revocation_signed"], row["revoked_reason"]) == (True, PLANTED["reason"])
    entries = [(e["revoked_at"], e["reason"], e["pending"]) for e in row["revocation_entries"]]
    assert entries == [(planted_at, PLANTED["reason"], False), (real_at, "laptop stolen", False)], entries
    several = "the log holds 2 revocation entries of this key, which carry no signature of their own: "
    assert f'{several}{planted_at} "rotated as planned; its batches stay good", {real_at} "laptop stolen")' in line, (
        line
    )

    # planted after it, then signed over by the maintainer's next checkpoint: three entries, all shown
    plant_pending_entry(db_path, "trust.revoke", "vendor", {"keyid": vendor, **PLANTED})
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", *PINNED)
    row, line = listed(prov, vendor)
    assert [e["reason"] for e in row["revocation_entries"]] == [PLANTED["reason"], "laptop stolen", PLANTED["reason"]]
    assert "the log holds 3 revocation entries of this key" in line, line

    # prov sources names the revocation of the key that signed the vendor's batch: every entry too
    sources = " ".join(succeeded(prov, "sources", *PINNED).stdout.split())
    assert "the log holds 3 revocation entries of this key" in sources and f'{real_at} "laptop stolen"' in sources
