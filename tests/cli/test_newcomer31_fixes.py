"""Newcomer review 30's low findings (session 31): reports that misled or left the user without a next step."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provenance.demo.data import digits
from support import tour_with_a_scrape, words


def _clean_vendor_batch(prov, pinned: tuple[str, ...], zeros: int = 22) -> None:
    """The tour, then 70 real digits the vendor signs, ``zeros`` of them 0s (a class mix p near 1e-5 against v3:
    flagged by the signal, passed by the gate's class_mix.min_p_value), committed as ``cv`` on v3."""
    pool = digits(shuffle_seed=0).slice(700)
    is_zero = pc.equal(pool.column("label"), "0")
    batch = pa.concat_tables(
        [pool.filter(is_zero).slice(0, zeros), pool.filter(pc.invert(is_zero)).slice(0, 70 - zeros)]
    )
    pq.write_table(batch, "clean.parquet")
    pq.write_table(pa.concat_tables([pq.read_table("train.parquet"), batch]), "train-clean.parquet")
    for args in (
        ("sign", "clean.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("add", "clean.parquet", "--source", "vendor", *pinned),
        ("-q", "commit", "train-clean.parquet", "--tag", "cv", "--parent", "v3", "--key", "maintainer.key", *pinned),
    ):
        r = prov(*args)
        assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"


def test_a_class_mix_the_gate_passes_reads_as_a_warning_in_the_diff_headline(prov, workdir):
    """Finding 1: `prov diff --detect` said FLAGGED on a clean, vendor-signed batch for a class-mix signal that `prov
    check` passes (it blocks below p 1e-06). The headline now says what the gate would do: a warning."""
    pinned = tour_with_a_scrape(prov)
    _clean_vendor_batch(prov, pinned)
    check = prov("check", "cv", "--base", "v3", *pinned)
    assert check.exit_code == 0, check.output
    r = prov("diff", "v3", "cv", "--detect", *pinned)
    assert r.exit_code == 0, r.output
    verdict = r.stdout.splitlines()[1]
    head = words(r.stdout.split("audit log:")[0])
    assert verdict.startswith("WARNING:") and "FLAGGED" not in head, head
    assert (
        "1 class-mix signal flagged (p=6.5e-06): a warning, as prov check blocks a class mix only below p 1e-06" in head
    )
