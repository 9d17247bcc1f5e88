"""Attack review 22b: floods of exact copies the copies rule (per class of how often the base holds the
record copied, ``provenance/gate/copies.py``) and the rest of the default gate let through, on DAAG's spam7
(real data that repeats rows). The attacker is a data source adding rows to the candidate; the base is
trusted. Each test fails on lead22b: issue 14 asks every flood shape to block, whatever records it copies.

The floods are built the way an attacker tunes one against the rule's published quantiles: as many copies
per class as keep every class at its quantile less one, recomputed as the flood's own rows raise the rows
added (and so every class's expected copies). Copies are counted per content, as prov's digest is.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from provenance.gate.copies import Copies, copy_class
from support import commit_and_check, spam7_table

RATE, LEAST = 0.02, 10  # the default policy's copies.max_copies_rate and copies.min_copies


@pytest.fixture(autouse=True)
def pinned(keypair, monkeypatch):
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))


def contents(table: pa.Table) -> list[tuple]:
    """Each row's feature values (its content: what prov's record digest hashes, the label apart)."""
    names = [n for n in table.schema.names if n != "label"]
    return list(zip(*(table.column(n).to_pylist() for n in names), strict=True))


def copies_of(base: list[tuple], added: list[tuple]) -> Copies:
    """The copies rule's input for a candidate that adds rows ``added`` to ``base`` (contents)."""
    held, got = Counter(base), Counter(added)
    extra = [v - (0 if held[k] else 1) for k, v in got.items() if held[k] or v > 1]
    of = [held[k] for k, v in got.items() if held[k] or v > 1]
    new = sum(1 for k in got if not held[k])
    repeated = np.array([v for v in held.values() if v > 1], np.int64)
    return Copies(np.array(extra, np.int64), np.array(of, np.int64), new + sum(extra), len(base), repeated)


def flood_under_quantiles(base: pa.Table, batch: pa.Table) -> list[int]:
    """Rows of ``base`` to append to ``batch``: per class of base records, copies of its records in turn,
    as many as keep the class one under its quantile (the held-once class one under its quantile plus the
    re-delivery slack), grown until no class has room."""
    b, clean = contents(base), contents(batch)
    first: dict[tuple, int] = {}
    for i, k in enumerate(b):
        first.setdefault(k, i)
    held = Counter(b)
    members: dict[int, list[tuple]] = {}
    for k in first:
        members.setdefault(int(copy_class(np.array([held[k]]))[0]), []).append(k)
    flood: list[tuple] = []
    taken: Counter = Counter()
    while True:
        _, allowed, classes = copies_of(b, clean + flood).excess(RATE, LEAST)
        room = {c["class"]: c["quantile"] + (allowed if c["class"] == 0 else 0) - c["copies"] - 1 for c in classes}
        grown = False
        for k, r in room.items():
            for _ in range(max(r, 0) if k in members else 0):
                flood.append(members[k][taken[k] % len(members[k])])
                taken[k] += 1
                grown = True
        if not grown:
            return [first[k] for k in flood]


def blocking(report: dict) -> list[str]:
    return [r["rule"] for r in report["rules"] if r["status"] == "block"]


def test_a_flood_spread_over_every_class_just_under_its_quantile_blocks(prov, workdir, store, keypair):
    # 400 clean spam7 rows bring 147 copies (37%); 363 more rows, each a copy of a base record, bring it to
    # 510 copies in 763 rows added (67%): every class sits one under its quantile, because the flood's own
    # rows raise the rows added and so each class's expected copies, and seven classes each get their
    # Bonferroni quantile (about 3.3 standard deviations) of room. The record the base holds 44 times gains
    # 32 rows (12 in the clean batch). Every default rule passes (exit 0 on lead22b).
    base, batch = spam7_table(slice(0, 2000)), spam7_table(slice(2000, 2400))
    flood = flood_under_quantiles(base, batch)
    assert len(flood) > 300, len(flood)
    code, report = commit_and_check(prov, keypair, base, pa.concat_tables([base, batch, base.take(flood)]))
    assert code == 1 and "copies.max_copies_rate" in blocking(report), (len(flood), report["decision"])


def test_one_accepted_flood_does_not_double_the_next_one(prov, workdir, store, keypair):
    # The previous release accepted the flood above (it passed the default gate). The next delivery of 400
    # clean rows then carries a flood of 682 copies (against 305 on the base without the first flood), and
    # every default rule passes again: the accepted copies raise the base's rate for each class they went
    # to, and the rule's quantiles follow. Two releases took the top record from 44 rows to over 100.
    base, batch = spam7_table(slice(0, 2000)), spam7_table(slice(2000, 2400))
    accepted = pa.concat_tables([base, batch, base.take(flood_under_quantiles(base, batch))])
    nxt = spam7_table(slice(2400, 2800))
    flood = flood_under_quantiles(accepted, nxt)
    assert len(flood) > 600, len(flood)
    code, report = commit_and_check(prov, keypair, accepted, pa.concat_tables([accepted, nxt, accepted.take(flood)]))
    assert code == 1 and "copies.max_copies_rate" in blocking(report), (len(flood), report["decision"])
