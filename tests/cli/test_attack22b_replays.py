"""Attack review 22b: floods of exact copies the copies rule (per class of how often the base holds the
record copied, ``provenance/gate/copies.py``) and the rest of the default gate let through, on DAAG's spam7
(real data that repeats rows). The attacker is a data source adding rows to the candidate; the base is
trusted. Each test fails on lead22b: issue 14 asks every flood shape to block, whatever records it copies.
fix22c's total's test (all copies against the classes' summed rate, counted on the rows that copy nothing)
blocks the first two; the ratchet with a flood the fixed rule accepts blocks since session 26's anchor test (every
copy of the oldest signed version's records added since it, against its rates: ``gate/copies_anchor.py``).

The floods are built the way an attacker tunes one against the rule's published quantiles: as many copies
per class as keep every class at its quantile less one, recomputed as the flood's own rows raise the rows
added (and so every class's expected copies). Copies are counted per content, as prov's digest is.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from provenance.gate.copies import Copies, copy_class
from support import commit_and_check, commit_table, spam7_table, validate_output

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


def flood_under_quantiles(base: pa.Table, batch: pa.Table, total: bool = False) -> list[int]:
    """Rows of ``base`` to append to ``batch``: per class of base records, copies of its records in turn,
    as many as keep the class one under its quantile (the held-once class one under its quantile plus the
    re-delivery slack), grown until no class has room. With ``total``, the attacker who knows the fix: also
    one under the total's quantile (plus the slack), the room spent on the most repeated classes first."""
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
        _, allowed, classes, all_ = copies_of(b, clean + flood).excess(RATE, LEAST)
        room = {c["class"]: c["quantile"] + (allowed if c["class"] == 0 else 0) - c["copies"] - 1 for c in classes}
        left = all_["quantile"] + allowed - all_["copies"] - 1 if total else len(b) * 10
        grown = False
        for k in sorted(room, reverse=total):
            for _ in range(max(min(room[k], left), 0) if k in members else 0):
                flood.append(members[k][taken[k] % len(members[k])])
                taken[k] += 1
                left -= 1
                grown = True
        if not grown:
            return [first[k] for k in flood]


def blocking(report: dict) -> list[str]:
    """The rules that block in a `prov check` JSON report."""
    return [r["rule"] for r in report["rules"] if r["status"] == "block"]


def test_a_flood_spread_over_every_class_just_under_its_quantile_blocks(prov, workdir, store, keypair):
    # Fixed by the total's test (fix22c): 510 copies where 253 rows that copy nothing bring about 190, at most 262
    # (plus 15 of slack). 400 clean spam7 rows bring 147 copies (37%); 363 more rows, each a copy of a base record, bring it to
    # 510 copies in 763 rows added (67%): every class sits one under its quantile, because the flood's own
    # rows raise the rows added and so each class's expected copies, and seven classes each get their
    # Bonferroni quantile (about 3.3 standard deviations) of room. The record the base holds 44 times gains
    # 32 rows (12 in the clean batch). Every default rule passes (exit 0 on lead22b).
    base, batch = spam7_table(slice(0, 2000)), spam7_table(slice(2000, 2400))
    flood = flood_under_quantiles(base, batch)
    assert len(flood) > 300, len(flood)
    code, report = commit_and_check(prov, keypair, base, pa.concat_tables([base, batch, base.take(flood)]))
    assert code == 1 and "copies.max_copies_rate" in blocking(report), (len(flood), report["decision"])
    rule = next(r for r in report["rules"] if r["rule"] == "copies.max_copies_rate")
    total = rule["statistic"]["total"]
    assert total["copies"] > 500 and total["unique_rows"] == 253 and total["quantile"] < 300, total
    assert f"{total['copies']} copies in all where at most" in rule["reason"], rule["reason"]
    validate_output("check", report)


def test_one_accepted_flood_does_not_double_the_next_one(prov, workdir, store, keypair):
    # The previous release accepted the flood above (it passed the default gate). The next delivery of 400
    # clean rows then carries a flood of 682 copies (against 305 on the base without the first flood), and
    # every default rule passes again: the accepted copies raise the base's rate for each class they went
    # to, and the rule's quantiles follow. Two releases took the top record from 44 rows to over 100.
    # Since the total's test (fix22c) the first flood blocks itself and this one blocks too; the ratchet that
    # remains, with a first flood the fixed rule accepts, is the strict xfail below.
    base, batch = spam7_table(slice(0, 2000)), spam7_table(slice(2000, 2400))
    accepted = pa.concat_tables([base, batch, base.take(flood_under_quantiles(base, batch))])
    nxt = spam7_table(slice(2400, 2800))
    flood = flood_under_quantiles(accepted, nxt)
    assert len(flood) > 600, len(flood)
    code, report = commit_and_check(prov, keypair, accepted, pa.concat_tables([accepted, nxt, accepted.take(flood)]))
    assert code == 1 and "copies.max_copies_rate" in blocking(report), (len(flood), report["decision"])


def copies_rule(report: dict) -> dict:
    """The copies rule's row of a `prov check` JSON report."""
    return next(r for r in report["rules"] if r["rule"] == "copies.max_copies_rate")


def anchor_of(report: dict) -> dict | None:
    """The copies rule's anchor test in a `prov check` JSON report (its statistic's ``anchor``)."""
    return copies_rule(report)["statistic"]["anchor"]


def check(prov, new: str, base: str, *options: str) -> tuple[int, dict]:
    """``prov check NEW --base BASE --format json``: (exit code, report)."""
    r = prov("check", new, "--base", base, "--format", "json", *options)
    return r.exit_code, json.loads(r.stdout)


def test_a_flood_the_fixed_rule_accepts_does_not_raise_the_next_ones_allowance(prov, workdir, store, keypair):
    # The attacker who knows the total's test: 124 copies (one under every class and the total, the most
    # repeated records first) on 400 clean rows pass the default gate, and the top record goes from 44 rows
    # to 65. On that base the next 400 clean rows can carry 113 such copies, on the base without the first
    # flood only 79: each accepted flood widens the next (C12-1). Strict xfail until session 26: the next flood
    # passed. The anchor test (the oldest signed version, base) counts both floods together against base's
    # rates: 541 copies on 1,027 rows since base, 59 over what its repetition explains.
    base, batch = spam7_table(slice(0, 2000)), spam7_table(slice(2000, 2400))
    accepted = pa.concat_tables([base, batch, base.take(flood_under_quantiles(base, batch, total=True))])
    code, report = commit_and_check(prov, keypair, base, accepted)
    assert code == 0, report["decision"]  # the first flood is within every quantile: accepted
    assert anchor_of(report) is None  # base has no signed parent: no anchor test
    nxt = spam7_table(slice(2400, 2800))
    flood = flood_under_quantiles(accepted, nxt, total=True)
    without = flood_under_quantiles(pa.concat_tables([base, batch]), nxt, total=True)
    assert len(flood) > len(without) + 20, (len(flood), len(without))
    commit_table(prov, keypair, "next", pa.concat_tables([accepted, nxt, accepted.take(flood)]))
    code, report = check(prov, "next", "cand")
    assert code == 1 and blocking(report) == ["copies.max_copies_rate"], report["decision"]
    anchor = anchor_of(report)
    assert anchor["version"] == "base" and anchor["chosen_by"] == "oldest signed ancestor", anchor
    assert anchor["excess"] > 0 and anchor["problem"] is None, anchor
    rule = next(r for r in report["rules"] if r["rule"] == "copies.max_copies_rate")
    assert rule["statistic"]["excess"] == 0  # against cand alone the flood is within every quantile
    assert "since the anchor base (oldest signed ancestor)" in rule["reason"], rule["reason"]
    validate_output("check", report)


def test_the_ratchet_over_three_releases_blocks_at_the_anchor(prov, workdir, store, keypair, tmp_path):
    # Three releases on spam7, each adding 400 clean rows and a flood tuned one under every class and the total of
    # the check against its own base (the attacker knows the rule and each base). The floods grow with what the
    # releases before let in: the copies rule against the base alone passes each. Release 1 is checked against a
    # base with no parent (no anchor test) and passes; releases 2 and 3 block on the anchor test (base, the oldest
    # signed ancestor), which counts every flood since base. With copies.anchor set to the previous release (the
    # anchor test off) release 3 passes: the anchor is what blocks it.
    tables = [spam7_table(slice(0, 2000))]
    commit_table(prov, keypair, "base", tables[0])
    floods, without = [], []  # each release's flood, and the flood the same rule allows on the clean history
    for k in (1, 2, 3):
        clean = spam7_table(slice(1600 + 400 * k, 2000 + 400 * k))
        floods.append(flood_under_quantiles(tables[-1], clean, total=True))
        without.append(flood_under_quantiles(spam7_table(slice(0, 1600 + 400 * k)), clean, total=True))
        tables.append(pa.concat_tables([tables[-1], clean, tables[-1].take(floods[-1])]))
        commit_table(prov, keypair, f"r{k}", tables[-1])
    # the ratchet: each flood larger than the clean history allows (124, 113, 172 copies where 124, 79, 118 pass without)
    assert len(floods[1]) > len(without[1]) + 20 and len(floods[2]) > len(without[2]) + 40, (
        [len(f) for f in floods],
        [len(f) for f in without],
    )
    code, report = check(prov, "r1", "base")
    assert code == 0 and anchor_of(report) is None, report["decision"]
    for k in (2, 3):
        code, report = check(prov, f"r{k}", f"r{k - 1}")
        # release 3's clean rows shift the class mix too (spam7 in file order): other rules block there as well
        assert code == 1 and "copies.max_copies_rate" in blocking(report), (k, report["decision"])
        anchor = anchor_of(report)
        assert anchor["version"] == "base" and anchor["excess"] > 0, (k, anchor)
        assert copies_rule(report)["statistic"]["excess"] == 0, k  # within every quantile against its own base
        validate_output("check", report)
    policy = tmp_path / "policy.toml"
    policy.write_text('[copies]\nanchor = "r2"\n')
    code, report = check(prov, "r3", "r2", "--policy", str(policy))
    assert copies_rule(report)["status"] == "pass" and anchor_of(report) is None, copies_rule(report)["reason"]
    policy.write_text('[copies]\nanchor = "r1"\n')  # an anchor named by the policy: r1's rates hold flood 1
    code, report = check(prov, "r3", "r2", "--policy", str(policy))
    assert anchor_of(report)["version"] == "r1" and anchor_of(report)["chosen_by"] == "policy", anchor_of(report)
