"""Rotating a source's key (newcomer review 12, finding 2), replayed for real in the trust world
(``support.build_trust_world``: the vendor's 600 records, signed with ``vendor.key``, registered and
committed in v1..v3 under ``--signer maintainer.pub``).

The vendor moves to a new key. Before, the old key could never be retired: ``prov trust add vendor
vendor.pub --valid-until T`` exited 2 "already trusted", both keys stayed active for good, and a batch the
old key signed after the rotation was registered as before. ``prov trust retire`` now ends the old key's
window with a maintainer's signature: what it signed and a maintainer's signature shows registered by then
stays attested; a batch it signs later is refused like one of an expired key, whatever capture time its
holder writes, and putting the longer entry back in ``.prov/`` with sqlite3 does not bring the key back.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import clock, keys
from support import (
    new_records,
    one_line,
    second_vendor_delivery,
    store_fingerprint,
    succeeded,
    validate_output,
    vendor_registered_at,
)

PINNED = ("--signer", "maintainer.pub")


def _thief_batch(prov, captured_at: str) -> None:
    """40 new records (in no version) signed with the vendor's OLD key, capture time ``captured_at``."""
    new_records("old-key.parquet")
    succeeded(
        prov, "sign", "old-key.parquet", "--source", "vendor", "--key", "vendor.key", "--captured-at", captured_at
    )


def test_a_retired_source_key_keeps_what_it_signed_and_signs_nothing_new(prov, template_trust, workdir):
    n_vendor = template_trust.facts["n_vendor"]
    old = keys.key_id(keys.load_public("vendor.pub"))
    succeeded(prov, "keys", "generate", "vendor-2027")
    succeeded(prov, "trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)  # the new key
    retire_at = vendor_registered_at(workdir)  # the end of the old key's window: the vendor's batch is in by then

    # what the newcomer tried: a window for an already trusted key; the error now says how
    r = prov("trust", "add", "vendor", "vendor.pub", "--valid-until", retire_at, "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 2 and f"prov trust retire vendor --key-id {old[:16]}" in one_line(r), r.output
    r = succeeded(prov, "trust", "retire", "vendor", "--key-id", old[:16], "--at", retire_at, "--key", "maintainer.key")
    assert f"Retired key {old[:16]} of source 'vendor': valid until {retire_at}" in r.stdout
    listed = json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]
    mine = {k["keyid"]: k for k in listed}
    assert (mine[old]["valid_until"], mine[old]["status"], mine[old]["counted"]) == (retire_at, "expired", True)
    assert mine[keys.key_id(keys.load_public("vendor-2027.pub"))]["status"] == "active"

    # what the old key signed before stays attested, in the versions and in a new commit of the same data
    succeeded(prov, "commit", "v2.parquet", "--tag", "v4", "--parent", "v3q", "--key", "maintainer.key", *PINNED)
    for version in ("v2", "v4"):
        info = json.loads(succeeded(prov, "sources", "--version", version, "--json", *PINNED).stdout)
        vendor = next(s for s in info["sources"] if s["source"] == "vendor")
        assert (vendor["attested"], vendor["not_trusted"]) == (n_vendor, []), (version, vendor)

    # a batch the old key signs after the rotation is refused, even back-dated to before the window's end
    early = clock.iso(clock.parse(retire_at, "t") - dt.timedelta(days=30))
    _thief_batch(prov, early)
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "old-key.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code == 1, r.output  # was 0: "Added batch vendor@...: 40 records from 'vendor', signed by key ..."
    assert f"signed by key {old[:16]} of vendor, which is expired (valid - .. {retire_at})" in one_line(r)
    assert store_fingerprint(workdir / ".prov") == before

    # a .prov/ writer puts the old key's first, unbounded entry back (statement row and trust row): still refused
    db = sqlite3.connect(".prov/prov.db")
    [first] = db.execute(
        "select detail from audit where action = 'trust.add' and subject = 'vendor' order by seq limit 1"
    ).fetchone()
    db.execute("update trust_statements set object = ? where keyid = ?", [json.loads(first)["statement"], old])
    db.execute("update trust set valid_until = null where keyid = ?", [old])
    db.commit()
    db.close()
    r = prov("add", "old-key.parquet", "--source", "vendor", *PINNED)
    assert r.exit_code == 1 and "which is expired" in one_line(r), r.output


def test_a_retirement_needs_a_pinned_maintainer_key_and_only_shortens(prov, template_trust, workdir):
    old = keys.key_id(keys.load_public("vendor.pub"))
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], *PINNED)
    assert r.exit_code == 2 and "give --key MAINTAINER.key" in one_line(r), r.output
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], "--key", "attacker.key", *PINNED)
    assert r.exit_code == 2 and "attacker.key" in one_line(r), r.output
    # a past end that would take attestation from a batch registered since: named, and only with --yes
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], "--at", "2020-01-01", "--key", "maintainer.key")
    assert r.exit_code == 2 and "signed 1 registered batch(es) a maintainer's signature shows" in one_line(r), r.output
    assert store_fingerprint(workdir / ".prov") == before
    succeeded(prov, "trust", "retire", "vendor", "--key-id", old[:16], "--at", "2999-01-01", "--key", "maintainer.key")
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], "--at", "3000-01-01", "--key", "maintainer.key")
    assert r.exit_code == 2 and "a retirement only shortens a window" in one_line(r), r.output
    fsck = prov("fsck", *PINNED)  # the row's shorter window is the one its audit entries describe
    assert "valid_until" not in fsck.output, fsck.output


def test_a_batch_registered_just_before_the_retirement_stays_attested(prov, template_trust, workdir):
    """Attack review 13, T13-1: a batch the old key signed, registered (no signature covers its entry yet) just
    before `prov trust retire --checkpoint-key K` ending the window now, lost its attestation: the retirement's
    own checkpoint, signed after the end, was the first to date it. The log is now signed before the end, and
    without --checkpoint-key the retirement is refused, naming the batch."""
    n_vendor = template_trust.facts["n_vendor"]
    old = keys.key_id(keys.load_public("vendor.pub"))
    batch = second_vendor_delivery(prov)  # 40 records signed with the old key, registered, pending
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 2 and f"no maintainer's signature dates yet ({batch})" in one_line(r), r.output
    signed = ("--key", "maintainer.key", "--checkpoint-key", "maintainer.key", *PINNED)
    succeeded(prov, "trust", "retire", "vendor", "--key-id", old[:16], *signed)
    v4 = pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("vendor2.parquet")])
    pq.write_table(v4, "v4.parquet")
    succeeded(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    info = json.loads(succeeded(prov, "sources", "--version", "v4", "--json", *PINNED).stdout)
    vendor = next(s for s in info["sources"] if s["source"] == "vendor")
    assert (vendor["attested"], vendor["not_trusted"]) == (n_vendor + 40, []), vendor  # was 600 and the batch


def test_a_retirement_never_signs_the_public_key_a_trust_row_holds(prov, template_trust, workdir):
    """Attack review 16b, B16-1: a `.prov/` writer swaps the vendor's `trust` row's public key for the attacker's
    (the key id kept) and moves its start to 2000. `prov trust retire` run with nothing pinned built its new signed
    statement from the row, so the maintainer's key signed the attacker's key as the vendor's; one appended
    `trust.sign` entry naming it made the gate count that key under the pins, and batches the attacker signed passed
    as the vendor's. The retirement now re-signs the statement a maintainer signed (verified under the pins, or
    under the retiring key itself when nothing is pinned): the new statement carries the vendor's key and its
    signed start, whatever the row says."""
    import base64

    vendor_id = keys.key_id(keys.load_public("vendor.pub"))
    with sqlite3.connect(".prov/prov.db") as db:
        (oid,) = db.execute("select object from trust_statements where keyid = ?", [vendor_id]).fetchone()
        db.execute(
            "update trust set public_pem = ?, valid_from = '2000-01-01T00:00:00Z' where keyid = ?",
            [keys.public_pem(keys.load_public("attacker.pub")), vendor_id],
        )

    def predicate(oid: str) -> dict:
        envelope = json.loads((workdir / ".prov" / "objects" / f"{oid}.json").read_text())
        return json.loads(base64.b64decode(envelope["payload"]))["predicate"]

    signed_from = predicate(oid)["validFrom"]
    retire = ("trust", "retire", "vendor", "--key-id", vendor_id[:16], "--key", "maintainer.key")
    r = prov(*retire, "--at", "2027-06-30T00:00:00Z", env={"PROV_SIGNERS": ""})  # nothing pinned, as in the replay
    assert r.exit_code == 0, r.output
    with sqlite3.connect(".prov/prov.db") as db:
        (new,) = db.execute("select object from trust_statements where keyid = ?", [vendor_id]).fetchone()
    assert new != oid
    assert predicate(new)["publicKey"] == keys.public_pem(keys.load_public("vendor.pub"))  # was attacker.pub's
    assert predicate(new)["validFrom"] == signed_from != "2000-01-01T00:00:00Z"
    assert predicate(new)["validUntil"].startswith("2027-06-30")


def test_a_retirement_never_signs_a_window_longer_than_the_signed_one(prov, template_trust, workdir):
    """Attack review 16c, C16-1: a key trusted until 2027 by a maintainer's signed entry; a `.prov/` writer clears its
    `trust` row's end. `prov trust retire --at 2030` with nothing pinned checked "a retirement only shortens" against
    the row and signed a statement valid until 2030, which no maintainer had signed. The window checked is now the
    signed one: refused, exit 2, nothing written, as it already was under the pins."""
    succeeded(prov, "keys", "generate", "vendor2")
    succeeded(
        prov,
        "trust",
        "add",
        "vendor",
        "vendor2.pub",
        "--key",
        "maintainer.key",
        "--valid-until",
        "2027-01-01T00:00:00Z",
    )
    vendor2 = keys.key_id(keys.load_public("vendor2.pub"))
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("update trust set valid_until = NULL where keyid = ?", [vendor2])
    planted = store_fingerprint(workdir)
    retire = ("trust", "retire", "vendor", "--key-id", vendor2[:16], "--key", "maintainer.key")
    r = prov(*retire, "--at", "2030-01-01T00:00:00Z", env={"PROV_SIGNERS": ""})  # nothing pinned, as in the replay
    assert r.exit_code == 2, r.output
    assert "is valid only until 2027-01-01" in one_line(r) and "only shortens" in one_line(r)
    assert store_fingerprint(workdir) == planted


def test_a_key_retired_now_is_no_longer_active_at_once(prov, template_trust, workdir):
    """Newcomer review 20, finding 14: ``trust retire`` without ``--at`` ends the window now, to the microsecond,
    and ``trust list`` (and ``prov add``, which signs with active keys only) compared it with now in whole seconds,
    so the retired key stayed ``active`` for the rest of that second."""
    old = keys.key_id(keys.load_public("vendor.pub"))
    succeeded(prov, "keys", "generate", "vendor-2027")
    succeeded(prov, "trust", "add", "vendor", "vendor-2027.pub", "--key", "maintainer.key", *PINNED)
    succeeded(prov, "trust", "retire", "vendor", "--key-id", old[:16], "--key", "maintainer.key", *PINNED)
    listed = {k["keyid"]: k for k in json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]}
    assert listed[old]["status"] == "expired", listed[old]


def test_a_backdated_retirement_names_the_batches_it_takes_attestation_from(prov, template_trust, workdir):
    """Review 24a, item 4: ``prov trust retire --at PAST`` before batches the key signed takes their attestation away,
    as a revocation does. It asked ``--yes`` only by the ``batches`` rows' ``added_at`` (a ``.prov/`` writer back-dates
    it, and the question is gone), and once done said "what it signed before stays attested". It now judges the
    batches as ``prov show`` will (a maintainer's signature dating their registration), names them as ``prov trust
    revoke`` names its batches, wants ``--yes`` as revoke does, and says their records are no longer attested."""
    n_vendor = template_trust.facts["n_vendor"]
    old = keys.key_id(keys.load_public("vendor.pub"))
    [batch] = [b for (b,) in sqlite3.connect(".prov/prov.db").execute("select batch from batches where signed")]
    with sqlite3.connect(".prov/prov.db") as db:  # a .prov/ writer back-dates the row: the log says otherwise
        db.execute("update batches set added_at = '2019-01-01T00:00:00+00:00'")
    retire = (
        "trust",
        "retire",
        "vendor",
        "--key-id",
        old[:16],
        "--at",
        "2020-01-01T00:00:00Z",
        "--key",
        "maintainer.key",
    )
    before = store_fingerprint(workdir / ".prov")
    r = prov(*retire, *PINNED)
    assert r.exit_code == 2, r.output  # was 0: retired with no question, the row's time being before the end
    assert one_line(r) == (
        f"Error: --at 2020-01-01T00:00:00+00:00: key {old[:16]} of vendor signed 1 registered batch(es) a maintainer's "
        "signature shows registered after it (or none yet), or whose signature names no capture time or a later one: "
        f"{batch}; retiring it then makes their records "
        "unattributed in every version and no command lengthens the window again; pass --yes to retire it"
    )
    assert store_fingerprint(workdir / ".prov") == before

    r = succeeded(prov, *retire, "--yes", *PINNED)
    assert " ".join(r.stdout.split()) == (
        f"Retired key {old[:16]} of source 'vendor': valid until 2020-01-01T00:00:00+00:00, before 1 registered "
        f"batch(es) it signed: {batch} (a maintainer's signature shows them registered after it, or none yet, or their "
        "signature names no capture time or a later one); their "
        "records are no longer attested in any version, and batches it signs that are registered later are refused"
    )  # was: "..., what it signed before stays attested"
    info = json.loads(succeeded(prov, "sources", "--version", "v2", "--json", *PINNED).stdout)
    vendor = next(s for s in info["sources"] if s["source"] == "vendor")
    assert vendor["attested"] == 0 and [x["batch"] for x in vendor["not_trusted"]] == [batch]  # as it said
    assert n_vendor == vendor["unattributed"]


def test_a_retirement_after_every_batch_names_none_and_says_they_stay_attested(prov, template_trust, workdir):
    old = keys.key_id(keys.load_public("vendor.pub"))
    retire_at = vendor_registered_at(workdir)  # past, but after a signature dated the vendor's batch
    r = succeeded(prov, "trust", "retire", "vendor", "--key-id", old[:16], "--at", retire_at, "--key", "maintainer.key",
            "--json", *PINNED)  # fmt: skip
    validate_output("trust-retire", json.loads(r.stdout))
    assert json.loads(r.stdout)["no_longer_attested"] == []
    info = json.loads(succeeded(prov, "sources", "--version", "v2", "--json", *PINNED).stdout)
    assert next(s for s in info["sources"] if s["source"] == "vendor")["not_trusted"] == []


def test_an_end_not_before_now_waits_for_a_signature_over_the_batches_it_signed(prov, template_trust, workdir):
    """Attack review 24a (low): ``retire --at T`` with T not before now asked nothing about a batch the key signed
    that no maintainer's signature dates yet, while an end now is refused for it: the next signature may come after
    T and date the batch after the end. Refused alike, naming the batch, ``--checkpoint-key`` or not (the
    retirement's own checkpoint is signed after the end it writes); once the log is signed it goes through and the
    batch stays attested."""
    n_vendor = template_trust.facts["n_vendor"]
    old = keys.key_id(keys.load_public("vendor.pub"))
    batch = second_vendor_delivery(prov)  # 40 records signed with the old key, registered, pending
    retire = ("trust", "retire", "vendor", "--key-id", old[:16], "--at", "2999-01-01T00:00:00Z", "--key",
              "maintainer.key", *PINNED)  # fmt: skip
    before = store_fingerprint(workdir / ".prov")
    for extra in ((), ("--checkpoint-key", "maintainer.key"), ("--yes",)):
        r = prov(*retire, *extra)
        assert r.exit_code == 2, (extra, r.output)  # was 0
        assert one_line(r) == (
            f"Error: --at 2999-01-01T00:00:00+00:00: key {old[:16]} of vendor signed 1 batch(es) no maintainer's "
            f"signature dates yet ({batch}): a signature made after that time would date them after the end, "
            "unattested; sign the log first (prov audit checkpoint --key K), then retire"
        )
        assert store_fingerprint(workdir / ".prov") == before
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", *PINNED)
    succeeded(prov, *retire)
    v4 = pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("vendor2.parquet")])
    pq.write_table(v4, "v4.parquet")
    succeeded(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    info = json.loads(succeeded(prov, "sources", "--version", "v4", "--json", *PINNED).stdout)
    vendor = next(s for s in info["sources"] if s["source"] == "vendor")
    assert (vendor["attested"], vendor["not_trusted"]) == (n_vendor + 40, []), vendor


def test_a_retirement_names_a_batch_whose_signature_records_no_capture_time(prov, template_trust, workdir):
    """Noticed fixing attack review 24a: a batch whose envelope names no ``capturedAt`` attests under a key with no
    window, and under any window attests nothing (``verify_for_source``: nothing to check the window against).
    ``retire`` now, or ``--at T`` after its registration, dated it by the registration alone, named nothing, and took
    it."""
    import base64

    from provenance import signing

    old = keys.key_id(keys.load_public("vendor.pub"))
    new_records("nocap.parquet")
    succeeded(prov, "sign", "nocap.parquet", "--source", "vendor", "--key", "vendor.key")
    env = json.loads(Path("nocap.parquet.prov.json").read_text())
    stmt = json.loads(base64.b64decode(env["payload"]))
    del stmt["predicate"]["capturedAt"]  # the vendor signs a statement naming no capture time
    resigned = signing.sign(stmt, keys.load_private("vendor.key")) | {"manifest": env["manifest"]}
    Path("nocap.parquet.prov.json").write_text(json.dumps(resigned))
    batch = json.loads(succeeded(prov, "add", "nocap.parquet", "--source", "vendor", "--json", *PINNED).stdout)["batch"]
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", *PINNED)  # dates its registration
    before = store_fingerprint(workdir / ".prov")
    r = prov("trust", "retire", "vendor", "--key-id", old[:16], "--key", "maintainer.key", *PINNED)
    assert r.exit_code == 2, r.output  # was 0, "what a maintainer's signature shows registered by then stays attested"
    assert one_line(r).startswith(
        f"Error: ending its window now: key {old[:16]} of vendor signed 1 registered batch(es) whose signature names "
        f"no capture time, or one after now: {batch}; "
    ), r.output
    assert store_fingerprint(workdir / ".prov") == before
    retire_at = vendor_registered_at(workdir, batch)  # not before it: the registration alone keeps it
    retire = ("trust", "retire", "vendor", "--key-id", old[:16], "--at", retire_at, "--key", "maintainer.key", *PINNED)
    r = prov(*retire)
    assert r.exit_code == 2 and "signed 1 registered batch(es)" in one_line(r) and batch in one_line(r), r.output
    assert json.loads(succeeded(prov, *retire, "--yes", "--json").stdout)["no_longer_attested"] == [batch]
    v4 = pa.concat_tables([pq.read_table("v2.parquet"), pq.read_table("nocap.parquet")])
    pq.write_table(v4, "v4.parquet")
    succeeded(prov, "commit", "v4.parquet", "--tag", "v4", "--parent", "v2", "--key", "maintainer.key", *PINNED)
    info = json.loads(succeeded(prov, "sources", "--version", "v4", "--json", *PINNED).stdout)
    vendor = next(s for s in info["sources"] if s["source"] == "vendor")
    assert [x["batch"] for x in vendor["not_trusted"]] == [batch], vendor  # as it said
