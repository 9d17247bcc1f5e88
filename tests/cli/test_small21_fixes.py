"""Open items of attack review 20b and newcomer review 20 (session small21), replayed for real in the trust
world (``support.build_trust_world``: the vendor's records signed with ``vendor.key``, committed in v1..v3
under ``--signer maintainer.pub``)."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import clock, keys
from support import second_vendor_delivery

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
