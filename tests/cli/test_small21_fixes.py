"""Open items of attack review 20b and newcomer review 20 (session small21), replayed for real in the trust
world (``support.build_trust_world``: the vendor's records signed with ``vendor.key``, committed in v1..v3
under ``--signer maintainer.pub``)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import clock, keys
from provenance.store import Store
from support import payload, second_vendor_delivery

PINNED = ("--signer", "maintainer.pub")


def _ok(prov, *args: str):
    r = prov(*args)
    assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"
    return r


def _at(monkeypatch, t: dt.datetime) -> None:
    """The clock reads ``t`` (to the microsecond; ``now_iso`` truncates to the asked precision as the real one)."""
    monkeypatch.setattr(clock, "now", lambda: t)
    monkeypatch.setattr(clock, "now_iso", lambda timespec="seconds": clock.iso(t, timespec))


def test_a20b_2_a_version_signed_later_in_the_second_of_a_retirement_does_not_date_a_batch_before_it(
    prov, template_trust, workdir, monkeypatch
):
    """A20b-2: a version's signed createdAt is whole seconds (T for a version signed at T.9) and a retirement
    ends a window to the microsecond (T.5). A batch of the retired key registered after the end (here by a
    .prov/ writer whose clock says earlier), first covered by a version committed at T.9, was dated T.0 by that
    version, before the end, and stayed attested for good. A whole-second signed time now counts as the end of
    its second."""
    old = keys.key_id(keys.load_public("vendor.pub"))
    second = clock.now() + dt.timedelta(days=1)  # T, after everything the world holds
    end = clock.iso(second + dt.timedelta(microseconds=500000), "microseconds")  # T.5
    _ok(prov, "trust", "retire", "vendor", "--key-id", old[:16], "--at", end, "--key", "maintainer.key", *PINNED)
    with monkeypatch.context() as m:  # the writer's clock, a second before T: the key still looks valid to `add`
        _at(m, second - dt.timedelta(seconds=1))
        batch = second_vendor_delivery(prov)
    v4 = pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("vendor2.parquet")])
    pq.write_table(v4, "v4.parquet")
    with monkeypatch.context() as m:  # the maintainer commits at T.9: createdAt says T
        _at(m, second + dt.timedelta(microseconds=900000))
        _ok(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    info = json.loads(_ok(prov, "sources", "--version", "v4", "--json", *PINNED).stdout)
    vendor = next(s for s in info["sources"] if s["source"] == "vendor")
    assert [b["batch"] for b in vendor["not_trusted"]] == [batch], vendor  # was: [] (40 more records attested)
    assert "validity window closed before a maintainer's signature shows the batch registered" in json.dumps(vendor)


def test_a20b_3_trust_add_keeps_the_fraction_of_a_second_it_was_given(prov, template_trust, workdir):
    """A20b-3: `trust add --valid-from 2026-12-03T13:00:00.900Z` stored 13:00:00, so the window began up to a
    second earlier than asked (and --valid-until ended up to a second earlier). The fraction is kept, in the row
    and in the signed entry, as `trust retire --at` keeps it."""
    _ok(prov, "keys", "generate", "vendor-2027")
    start, end = "2026-12-03T13:00:00.900Z", "2999-01-01T00:00:00.250000+00:00"
    args = ("--valid-from", start, "--valid-until", end, "--key", "maintainer.key", *PINNED)
    _ok(prov, "trust", "add", "vendor", "vendor-2027.pub", *args)
    kid = keys.key_id(keys.load_public("vendor-2027.pub"))
    listed = {k["keyid"]: k for k in json.loads(_ok(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]}
    # was: 2026-12-03T13:00:00+00:00 and 2999-01-01T00:00:00+00:00
    assert (listed[kid]["valid_from"], listed[kid]["valid_until"]) == ("2026-12-03T13:00:00.900000+00:00", end)
    db = sqlite3.connect(".prov/prov.db")
    [oid] = db.execute("select object from trust_statements where keyid = ?", [kid]).fetchone()
    db.close()
    store = Store.open(workdir)
    try:
        predicate = payload(json.loads(store.objects.get(oid, "trust entry")))["predicate"]
    finally:
        store.close()
    assert (predicate["validFrom"], predicate["validUntil"]) == ("2026-12-03T13:00:00.900000+00:00", end)
