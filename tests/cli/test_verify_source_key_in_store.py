"""`prov verify DATA --signer vendor.pub` inside a store (newcomer review 16, finding 3).

The tour's vendor-side command works where there is no store. A maintainer running it in the store's
folder, even after `prov trust add`, got exit 1 ("failed verification") and "source 'vendor' has no
trusted keys ... run prov trust add" again: inside a store `--signer` pins maintainer keys, and the
trust entry is signed by the maintainer's key, which was not pinned. Nothing failed to verify: it is a
configuration problem (exit 2), and the message names the entry's signer and what to pin.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from provenance import keys
from support import digits_table, ok, one_line, store_fingerprint


@pytest.fixture
def vendor_batch(prov, workdir):
    """A vendor's signed batch in a maintainer's store, with no trust entry for the vendor yet."""
    pq.write_table(digits_table(60), "batch.parquet")
    for name in ("maintainer", "vendor"):
        ok(prov, "keys", "generate", name)
    ok(prov, "sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "init")


def _kid(name: str) -> str:
    return keys.key_id(keys.load_public(name))[:16]


def test_the_vendor_key_pinned_in_a_store_is_a_configuration_error_that_says_what_to_pin(
    prov, vendor_batch, monkeypatch
):
    before = store_fingerprint(Path.cwd())
    r = prov("verify", "batch.parquet", "--signer", "vendor.pub")
    assert r.exit_code == 2, r.output  # before: 1, as if the batch had been tampered with
    line = one_line(r)
    # the gist first, and short (newcomer review 32: a ~600-character line buried it)
    assert line.startswith(
        "Error: batch.parquet.prov.json: in a store --signer pins maintainer keys, not a source's (you pinned this "
        f"batch's signer, key {_kid('vendor.pub')}); source 'vendor' has no trusted key here (no trust entry: "
        "`prov trust add vendor KEY.pub --key MAINTAINER.key`)"
    ), line
    assert len(line) < 400, line
    assert store_fingerprint(Path.cwd()) == before
    # "or check the batch against its source's key alone outside the store" said not how (newcomer review 25)
    assert line.endswith("run this prov verify from a folder with no .prov/ in it or above"), line
    elsewhere = Path.cwd().parent / f"{Path.cwd().name}-elsewhere"
    elsewhere.mkdir()
    here = Path.cwd()
    monkeypatch.chdir(elsewhere)  # the advice holds: the vendor's key alone verifies the batch there
    out = ok(prov, "verify", str(here / "batch.parquet"), "--signer", str(here / "vendor.pub"))
    monkeypatch.chdir(here)
    assert "ok, 60 records match the batch signed by 'vendor'" in out and "no store here" in out, out

    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", "--signer", "maintainer.pub")
    before = store_fingerprint(Path.cwd())
    r = prov("verify", "batch.parquet", "--signer", "vendor.pub")
    assert r.exit_code == 2, r.output
    line = one_line(r)
    # before: "has no trusted keys ... (sign its trust entry with a pinned key: `prov trust add ...`)" once more
    assert f"its trust entries are signed by key {_kid('maintainer.pub')}, which you did not pin" in line, line
    assert "no trust entry" not in line
    assert store_fingerprint(Path.cwd()) == before
    out = ok(prov, "verify", "batch.parquet", "--signer", "maintainer.pub")  # the maintainer's key: it holds
    assert "ok" in out


def test_an_entry_signed_by_a_key_not_pinned_still_fails_verification_and_names_its_signer(prov, vendor_batch):
    # the batch's signer is not pinned either: the entry may be planted, so this stays a failed verification
    ok(prov, "keys", "generate", "auditor")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", "--signer", "maintainer.pub")
    r = prov("verify", "batch.parquet", "--signer", "auditor.pub")
    assert r.exit_code == 1, r.output
    line = one_line(r)
    assert "source 'vendor' has no trusted keys under your pins" in line, line
    assert f"signed by key {_kid('maintainer.pub')}, which you did not pin" in line


def test_verify_help_says_inside_a_store_the_source_key_comes_from_the_trust_list(prov):
    r = prov("verify", "--help")
    text = " ".join(r.stdout.replace("│", " ").split())
    assert "Inside a store, --signer pins maintainer keys" in text, text
    assert "source key comes from the store's trust list" in text
