"""Small words from newcomer review 11 (findings 19 and 20) and session 11's leftovers: each is what a
user reads at a terminal, checked through the CLI on a real store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from support import digits_table, doc_section, ok

PIN = ("--signer", "alice.pub")


def test_printing_the_default_policy_needs_no_key_even_with_a_pin_that_does_not_resolve(prov, workdir):
    """Finding 19: `prov check --print-default-policy` read PROV_SIGNERS first, so a relative pin in a
    subfolder made it exit 2 though it needs no key at all."""
    r = prov("check", "--print-default-policy", env={"PROV_SIGNERS": "keys/nosuch.pub"})
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("# prov default release policy") and "[detectors]" in r.stdout


def test_the_readme_tours_pin_works_from_a_subfolder(prov, workdir):
    """Finding 19: the tour's `export PROV_SIGNERS=keys/maintainer.pub` broke in any subfolder (`cd data &&
    prov status`: cannot read public key). The line, as the README has it, now pins an absolute path."""
    export = next(line for line in doc_section("A tour").splitlines() if line.startswith("export PROV_SIGNERS="))
    export = export.split("#", 1)[0].strip()
    Path("keys").mkdir()
    ok(prov, "keys", "generate", "keys/maintainer")
    pq.write_table(digits_table(30), "d.parquet")
    ok(prov, "init")
    ok(
        prov,
        "-q",
        "commit",
        "d.parquet",
        "--tag",
        "v1",
        "--key",
        "keys/maintainer.key",
        "--signer",
        "keys/maintainer.pub",
    )
    Path("data").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    script = f'{export} && cd data && "{sys.executable}" -m provenance status'
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "unchanged since v1" in r.stdout


def test_a_new_key_says_whether_it_is_encrypted(prov, workdir):
    out = ok(prov, "keys", "generate", "plain")
    assert "(private, mode 0600, unencrypted: set PROV_PASSPHRASE to encrypt it)" in out
    r = prov("keys", "generate", "locked", env={"PROV_PASSPHRASE": "correct horse"})
    assert r.exit_code == 0 and "(private, mode 0600, encrypted)" in r.stdout


def test_sources_before_any_version_says_so(prov, workdir, keypair):
    pq.write_table(digits_table(20), "b.parquet")
    ok(prov, "init")
    ok(prov, "add", "b.parquet", "--source", "crowd", "--unsigned", *PIN)
    out = ok(prov, "sources", *PIN)
    assert out.startswith("Lineage: no version yet (prov commit makes one); batches registered so far:\n"), out
    assert "in -:" not in out


def test_fsck_and_show_fit_80_columns_and_count_in_words(prov, three_versions):
    fsck = prov("fsck", *PIN, env={"COLUMNS": "80"})
    assert fsck.exit_code == 0, fsck.output
    lines = fsck.stdout.splitlines()
    assert lines[0] == "fsck .prov: ok (0 errors, 0 warnings)", lines
    assert lines[1].startswith("  checked ") and "1 key," in lines[1] and "1 keys" not in lines[1]
    shown = prov("show", "v3", *PIN, env={"COLUMNS": "80"})
    first, second = shown.stdout.splitlines()[:2]
    assert first.startswith("Version v3 (parent v2), ") and first.endswith("; signature ok") and len(first) <= 80
    assert second.startswith("  checked against pinned key(s) ") and second.endswith("(alice.pub)")


def test_add_says_the_read_options_it_was_given_are_not_the_ones_it_reads_with(prov, workdir, keypair):
    """Finding 20.5: `prov add batch.csv --label-column label --metadata foo` of a signed batch read with
    the envelope's options (rightly) and said nothing about the options it was given."""
    pq.write_table(digits_table(40), "b.parquet")
    ok(prov, "keys", "generate", "vendor")
    ok(prov, "sign", "b.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "init")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "alice.key", *PIN)
    r = prov("add", "b.parquet", "--source", "vendor", "--metadata", "px00", "--label-column", "label", *PIN)
    assert r.exit_code == 0, r.output
    assert "Added batch vendor@" in r.stdout and "40 records" in r.stdout
    assert (
        "Note: a signed batch is read with the options its envelope signs; --label-column, --metadata given here "
        "not used" in r.stderr
    ), r.stderr
