"""The release-gate section (the README's summary and docs/release-gate.md) cannot go stale: its default policy block is what
``prov check --print-default-policy`` prints, and its rules table names every rule, the policy
keys each reads with their defaults, and which rules the default policy runs (newcomer review 3,
items 4 and 9)."""

from __future__ import annotations

import json
import re

from provenance.detectors.registry import available_detectors
from provenance.gate import policy
from provenance.gate.base import Rule
from support import doc_section

MARKER = "<!-- rules table: checked by tests/unit/gate/test_readme_rules.py -->"


def readme() -> str:
    return doc_section("The release gate")


def rules_table() -> dict[str, list[str]]:
    """rule name -> its row's cells (policy keys, blocks when, in the default policy)."""
    lines = readme().split(MARKER, 1)[1].strip().split("\n")
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def leaf_names(rules) -> list[str]:
    """The names of the leaf rules a composed rule set evaluates."""
    if isinstance(rules, Rule):
        return [rules.name]
    out: list[str] = []
    for value in vars(rules).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Rule) or hasattr(item, "evaluate"):
                out += leaf_names(item)
    return out


def test_the_default_policy_block_is_what_print_default_policy_prints():
    block = readme().split("Without `--policy` the default below applies", 1)[1].split("```toml\n", 1)[1]
    assert block.split("\n```", 1)[0] + "\n" == policy.default_policy_toml().rstrip("\n") + "\n"


def test_the_rules_table_names_every_rule_its_keys_and_their_defaults():
    rows = rules_table()
    types = {t.key: t for t in policy.RULE_TYPES}
    assert set(rows) == set(types) | {"detectors.<name>"}
    for name, rule_type in types.items():
        keys = set(re.findall(r"`([^`]+)`", rows[name][0]))
        expected = {s.key if s.default is None else f"{s.key} = {json.dumps(s.default)}" for s in rule_type.settings}
        assert keys == expected, f"{name}: README says {sorted(keys)}, the code {sorted(expected)}"


def test_the_rules_table_says_which_rules_the_default_policy_runs():
    rows = rules_table()
    running = leaf_names(policy.rule_set(policy.default_policy()))
    detectors = [n for n in running if n not in rows]
    assert sorted(detectors) == sorted(f"detectors.{d}" for d in available_detectors())
    on = {name for name, cells in rows.items() if cells[2].startswith("yes")}
    assert on == set(running) - set(detectors), "the 'in the default policy' column is stale"
    assert rows["detectors.<name>"][2] == "one per detector"
    count = len(on) + len(detectors)
    assert f"{count} rules run under the default policy: the {len(on)} marked" in readme().replace("\n", " ")
    assert f"per installed detector ({len(detectors)})" in readme().replace("\n", " ")
