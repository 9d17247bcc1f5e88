"""Newcomer 34, finding 2: a rejected batch's signed label on the team's unchanged record blocked every later release.

The team's record (penguin 5, in every version since v1, registered ``--unsigned`` as ``inhouse``) is also in the
crowd's signed batch under another species (a real duplicate: ``diamonds`` holds such stones). v2 holds both rows;
the batch is rejected and withdrawn, v3 holds the team's rows only. ``lineage.max_relabeled_after_source`` must not
count the team's row: a signed ancestor of the base held it under its label before the crowd's batch carried it.
The controls keep the rule's purpose: a label changed after the source signed its own record blocks. Through the
real CLI, keys and store.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
from test_newcomer31_schema_advice import PINS, _penguins

from support import blocking_rules, check_report, ok

RULE = "lineage.max_relabeled_after_source"
TEAM = range(0, 200)  # the team's penguins, in-house and unsigned
CROWD = range(200, 250)  # the crowd's own delivery
DUPLICATE = 5  # the team's record whose content the crowd's batch also holds, under another species
OWN = 210  # one of the crowd's own records


def _other_species(table: pa.Table) -> pa.Table:
    """``table`` with each label moved to the next species (Adelie -> Chinstrap -> Gentoo -> Adelie)."""
    nxt = {"Adelie": "Chinstrap", "Chinstrap": "Gentoo", "Gentoo": "Adelie"}
    labels = [nxt[x] for x in table.column("label").to_pylist()]
    return table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))


def _team_then_crowd(prov) -> str:
    """v1: the team's penguins (registered --unsigned as inhouse); the crowd signs crowd.parquet (its own penguins
    200-249 and penguin 5 under another species), the maintainer trusts it and registers it; v2 holds both files.
    Returns the crowd batch's id."""
    pq.write_table(_penguins(TEAM), "team.parquet")
    crowd = pa.concat_tables([_penguins(CROWD), _other_species(_penguins(range(DUPLICATE, DUPLICATE + 1)))])
    pq.write_table(crowd, "crowd.parquet")
    pq.write_table(pa.concat_tables([_penguins(TEAM), crowd]), "v2.parquet")
    for args in (
        ("keys", "generate", "m"),
        ("add", "team.parquet", "--source", "inhouse", "--unsigned", *PINS),
        ("commit", "team.parquet", "--tag", "v1", "--key", "m.key", *PINS),
        ("keys", "generate", "crowd"),
        ("sign", "crowd.parquet", "--source", "crowd", "--key", "crowd.key"),
        ("trust", "add", "crowd", "crowd.pub", "--key", "m.key", *PINS),
    ):
        ok(prov, *args)
    added = ok(prov, "add", "crowd.parquet", "--source", "crowd", *PINS)
    ok(prov, "commit", "v2.parquet", "--tag", "v2", "--key", "m.key", *PINS)
    return re.search(r"Added batch (\S+):", added).group(1)


def _rule(report: dict) -> dict:
    return next(x for x in report["rules"] if x["rule"] == RULE)


# Newcomer 34, finding 2 (medium, availability): the crowd's rejected batch signed the team's record 5 under another
# species; v3 drops the batch and keeps the team's row unchanged, yet max_relabeled_after_source blocked ("label
# Gentoo, source crowd signed as Adelie"), and `prov withdraw` of the batch changed nothing.
def test_a_rejected_batchs_label_on_the_teams_unchanged_record_does_not_block(prov, workdir, store):
    batch = _team_then_crowd(prov)
    ok(prov, "withdraw", batch, "--reason", "batch rejected", "--key", "m.key", *PINS)
    pq.write_table(_penguins(TEAM), "v3.parquet")
    ok(prov, "commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    for base in ("v1", "v2"):
        report = check_report(prov, "v3", base, *PINS)
        assert _rule(report)["status"] == "pass" and _rule(report)["count"] == 0, (base, _rule(report))
    assert check_report(prov, "v3", "v1", *PINS)["exit_code"] == 0, blocking_rules(
        check_report(prov, "v3", "v1", *PINS)
    )


def test_control_the_crowds_own_record_relabelled_afterwards_blocks(prov, workdir, store):
    """The crowd's own record 210, delivered in v2 under its signature, relabelled in v3: tampering after the source
    signed it."""
    _team_then_crowd(prov)
    v2 = pq.read_table("v2.parquet")
    row = len(TEAM) + OWN - CROWD.start
    flipped = pa.concat_tables([v2.slice(0, row), _other_species(v2.slice(row, 1)), v2.slice(row + 1)])
    pq.write_table(flipped, "v3.parquet")
    ok(prov, "commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    report = check_report(prov, "v3", "v2", *PINS)
    assert report["exit_code"] == 1 and RULE in blocking_rules(report), blocking_rules(report)
    flipped_210 = {"label": "Chinstrap", "signed_label": "Adelie", "source": "crowd"}
    assert any(flipped_210.items() <= r.items() for r in _rule(report)["records"]), _rule(report)["records"]


def test_control_the_crowds_copy_relabelled_to_the_teams_label_still_counts(prov, workdir, store):
    """v3 keeps the team's record 5 and the crowd's copy of it, the copy relabelled to the team's species: two rows
    under the team's label where the base's ancestry held one before the crowd signed it, so one counts."""
    _team_then_crowd(prov)
    pq.write_table(pa.concat_tables([_penguins(TEAM), _penguins(CROWD), _penguins(range(5, 6))]), "v3.parquet")
    ok(prov, "commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    report = check_report(prov, "v3", "v2", *PINS)
    assert report["exit_code"] == 1 and RULE in blocking_rules(report), blocking_rules(report)
    assert _rule(report)["count"] == 1, _rule(report)
    assert "(not counted: 1 the base's signed ancestry held under the same label" in _rule(report)["reason"], _rule(
        report
    )
