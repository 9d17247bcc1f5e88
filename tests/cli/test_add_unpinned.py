"""``prov add`` of a signed batch with nothing pinned (review 32e): refused, not verified against ``.prov/``'s keys.

A ``.prov/`` writer plants a trust entry for a key of their own (``prov trust add --unsigned``) and signs a batch
with it; with nothing pinned, ``prov add`` used to verify the envelope against that planted key and register the
batch as signed. Trust is pinned by the verifier (DESIGN.md), so ``add`` now fails closed: exit 2, one line naming
the batch and how to pin, the store byte for byte as it was. Pinned, the same batch is refused as untrusted (the
entry no pinned key signed), and the honest vendor's batch, its entry signed by the pinned maintainer, is added.
``--store-keys`` asks for the store's keys knowingly (as ``verify --store-keys`` does): registered, with a warning
that this decided nothing, and a check under pins re-judges the registration.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from support import digits_table, one_line, store_fingerprint


def _store_with_planted_vendor_key(prov) -> None:
    """A store whose trust list holds the attacker's key for ``vendor`` (an unsigned entry), and the attacker's
    signed ``batch.parquet``; ``maintainer`` and the honest ``vendor`` keys beside it."""
    pq.write_table(digits_table(60), "batch.parquet")
    for name in ("maintainer", "vendor", "attacker"):
        assert prov("keys", "generate", name).exit_code == 0
    assert prov("init").exit_code == 0
    planted = prov("trust", "add", "vendor", "attacker.pub", "--unsigned")
    assert planted.exit_code == 0, planted.output
    signed = prov("sign", "batch.parquet", "--source", "vendor", "--key", "attacker.key")
    assert signed.exit_code == 0, signed.output


def test_a_signed_batch_with_nothing_pinned_is_refused_and_the_store_is_unchanged(workdir, prov):
    _store_with_planted_vendor_key(prov)
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "batch.parquet", "--source", "vendor")
    assert r.exit_code == 2, r.output
    assert one_line(r) == (
        "Error: batch.parquet: prov add verifies a signed batch only against keys you pin: nothing is pinned; "
        "pass --signer KEY.pub, set PROV_SIGNERS, or give --root FILE; --store-keys checks the store's own keys "
        "instead (no trust decision)"
    )
    assert store_fingerprint(workdir / ".prov") == before
    sources = prov("sources", "--json")
    assert "vendor@" not in sources.output


def test_the_python_api_refuses_it_too(workdir, prov):
    import pytest

    import provenance
    from provenance.errors import InputError

    _store_with_planted_vendor_key(prov)
    before = store_fingerprint(workdir / ".prov")
    with pytest.raises(InputError, match="nothing is pinned; give pins="):
        provenance.add(".", "batch.parquet", source="vendor")
    assert store_fingerprint(workdir / ".prov") == before


def test_pinned_the_planted_key_is_untrusted_and_the_vendors_signed_entry_counts(workdir, prov):
    _store_with_planted_vendor_key(prov)
    pinned = ("--signer", "maintainer.pub")
    refused = prov("add", "batch.parquet", "--source", "vendor", *pinned)
    assert refused.exit_code == 1, refused.output  # the planted entry: no pinned key signed it
    assert prov("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned).exit_code == 0
    assert prov("sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key", "--force").exit_code == 0
    added = prov("add", "batch.parquet", "--source", "vendor", *pinned)
    assert added.exit_code == 0, added.output
    assert "signed by key" in added.output


def test_an_unsigned_batch_needs_no_pins(workdir, prov):
    _store_with_planted_vendor_key(prov)
    r = prov("add", "batch.parquet", "--source", "crowd", "--unsigned")
    assert r.exit_code == 0, r.output
    assert "UNSIGNED" in r.output


def test_store_keys_registers_it_knowingly_and_a_pinned_check_does_not_count_it(workdir, prov):
    _store_with_planted_vendor_key(prov)
    r = prov("add", "batch.parquet", "--source", "vendor", "--store-keys")
    assert r.exit_code == 0, r.output
    assert (
        "Warning: batch.parquet: signature checked only against keys found in .prov/: NOT a trust decision; a check "
        "re-judges it under the keys it pins"
    ) in r.stderr
    assert prov("commit", "batch.parquet", "--tag", "v1", "--key", "maintainer.key").exit_code == 0
    shown = prov("show", "v1", "--json", "--signer", "maintainer.pub")
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)  # under the maintainer's pin, the planted key attests nothing
    assert (report["attested"], report["unattributed"]) == (0, 60)
    assert [b["batch"] for b in report["lineage_not_trusted"]] == [r.stdout.split()[2].rstrip(":")]


def test_store_keys_beside_pins_is_refused(workdir, prov):
    _store_with_planted_vendor_key(prov)
    before = store_fingerprint(workdir / ".prov")
    r = prov("add", "batch.parquet", "--source", "vendor", "--store-keys", "--signer", "maintainer.pub")
    assert r.exit_code == 2, r.output
    assert "--store-keys checks against the store's keys instead of pinned ones" in one_line(r)
    assert store_fingerprint(workdir / ".prov") == before


def test_sources_says_a_store_keys_batch_is_signed_against_keys_not_pinned(workdir, prov):
    """``prov sources`` read "signed 100%" for a batch ``prov add --store-keys`` registered (attack review 33e): its
    signature was checked only against keys ``.prov/`` holds. Unpinned, the table marks the fraction, names the batch
    ``keys not pinned`` and says why in the words ``prov add`` used; ``--json`` says ``keys_pinned`` false. Pinned (the
    control), the same batch is judged under the pins: ``keys_pinned`` true, and it attests nothing, named why."""
    from support import validate_output

    _store_with_planted_vendor_key(prov)
    batch = prov("add", "batch.parquet", "--source", "vendor", "--store-keys").stdout.split()[2].rstrip(":")
    r = prov("sources")
    assert r.exit_code == 0, r.output
    row = next(line for line in r.stdout.splitlines() if line.startswith("vendor "))
    assert row.split()[3] == "100%*", row
    assert f"{batch}" in r.stdout and "keys not pinned" in r.stdout.split(batch, 1)[1].splitlines()[0], r.stdout
    words = " ".join(r.stdout.split())
    assert "* keys not pinned: NOT a trust decision (signatures checked only against keys found in .prov/)" in words
    assert all(len(line) <= 80 for line in r.stdout.splitlines()), r.stdout
    doc = json.loads(prov("sources", "--json").stdout)
    validate_output("sources", doc)
    [vendor] = [s for s in doc["sources"] if s["source"] == "vendor"]
    assert doc["keys_pinned"] is False and [b["keys_pinned"] for b in vendor["registered_batches"]] == [False]

    pinned = prov("sources", "--json", "--signer", "maintainer.pub")
    doc = json.loads(pinned.stdout)
    validate_output("sources", doc)
    assert doc["keys_pinned"] is True and [b["batch"] for b in doc["batches_not_attesting"]] == [batch]
    assert "100%*" not in prov("sources", "--signer", "maintainer.pub").stdout


def test_under_pins_a_store_keys_batch_counts_as_no_signature(workdir, prov):
    """Under pins, ``prov sources`` counted the batch ``prov add --store-keys`` registered under a key no pinned key
    vouched for as signed (``100%``, ``signed: true``; attack review 34f, A34f-3): its signature attests nothing
    there. It is now ``0%``, named ``untrusted`` in the batch lines, ``signed`` false with the reason beside it.
    Control: a batch of another source signed by a key the pinned maintainer vouched for stays ``100%``, signed."""
    from support import validate_output

    _store_with_planted_vendor_key(prov)
    batch = prov("add", "batch.parquet", "--source", "vendor", "--store-keys").stdout.split()[2].rstrip(":")
    pinned = ("--signer", "maintainer.pub")
    assert prov("keys", "generate", "lab").exit_code == 0
    assert prov("trust", "add", "lab", "lab.pub", "--key", "maintainer.key", *pinned).exit_code == 0
    pq.write_table(digits_table(40, seed=7), "lab.parquet")
    assert prov("sign", "lab.parquet", "--source", "lab", "--key", "lab.key").exit_code == 0
    assert prov("add", "lab.parquet", "--source", "lab", *pinned).exit_code == 0

    r = prov("sources", *pinned)
    assert r.exit_code == 0, r.output
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line.startswith(("vendor ", "lab "))}
    assert rows["vendor"][3] == "0%" and rows["lab"][3] == "100%", r.stdout
    assert r.stdout.split(batch, 1)[1].split()[0] == "untrusted", r.stdout
    assert f"under your pins, batch {batch} (vendor) attests nothing" in r.stdout
    doc = json.loads(prov("sources", "--json", *pinned).stdout)
    validate_output("sources", doc)
    by_source = {s["source"]: s for s in doc["sources"]}
    [vendor_batch] = by_source["vendor"]["registered_batches"]
    assert vendor_batch["signed"] is False and vendor_batch["keys_pinned"] is True, vendor_batch
    assert vendor_batch["signature_not_trusted"] == doc["batches_not_attesting"][0]["reason"], doc
    assert (by_source["vendor"]["signed_batches"], by_source["vendor"]["signed_fraction"]) == (0, 0.0)
    [lab_batch] = by_source["lab"]["registered_batches"]
    assert lab_batch["signed"] is True and lab_batch["signature_not_trusted"] is None, lab_batch
    assert (by_source["lab"]["signed_batches"], by_source["lab"]["signed_fraction"]) == (1, 1.0)
