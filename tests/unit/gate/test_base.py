"""Composing rules: AllOf, AnyOf, Requires, and an empty rule set that fails closed."""

from __future__ import annotations

from provenance.gate.base import AllOf, AnyOf, Requires, Rule
from provenance.gate.results import RuleResult


class Fixed(Rule):
    """A rule with a fixed outcome, counting how often it was evaluated."""

    def __init__(self, key: str, status: str, records: int = 0):
        self.fixed_key, self.status, self.n, self.calls = key, status, records, 0

    @property
    def name(self) -> str:
        return self.fixed_key

    def check(self, ctx) -> RuleResult:
        self.calls += 1
        records = [{"digest": f"{i:064x}"} for i in range(self.n)]
        return RuleResult(self.fixed_key, self.status, f"{self.fixed_key} is {self.status}", records, self.n)


def statuses(results):
    return [(r.rule, r.status) for r in results]


def test_an_empty_rule_set_fails_closed():
    assert statuses(AllOf([]).evaluate(None)) == [("policy", "error")]
    assert statuses(AnyOf([]).evaluate(None)) == [("any_of()", "error")]


def test_all_of_reports_every_child_in_order():
    rules = AllOf([Fixed("a", "pass"), AllOf([Fixed("b", "block"), Fixed("c", "error")])])
    assert statuses(rules.evaluate(None)) == [("a", "pass"), ("b", "block"), ("c", "error")]
    assert rules.name == "all_of(a, all_of(b, c))"


def test_any_of_passes_on_the_first_child_that_passes_and_stops_there():
    late = Fixed("late", "block")
    result = AnyOf([Fixed("a", "block"), Fixed("b", "pass"), late]).evaluate(None)
    assert statuses(result) == [("any_of(a, b, late)", "pass")] and late.calls == 0


def test_any_of_blocks_with_every_failure_and_its_records():
    (result,) = AnyOf([Fixed("a", "block", 3), AllOf([Fixed("b", "pass"), Fixed("c", "block", 30)])]).evaluate(None)
    assert result.status == "block" and result.count == 33 and len(result.records) == 20
    assert "a: a is block" in result.reason and "c: c is block" in result.reason
    (result,) = AnyOf([Fixed("a", "error"), Fixed("b", "error")]).evaluate(None)
    assert result.status == "error"


def test_requires_stops_when_its_prerequisite_does_not_pass():
    then = Fixed("then", "pass")
    assert statuses(Requires(Fixed("first", "block"), then).evaluate(None)) == [("first", "block")]
    assert statuses(Requires(Fixed("first", "error"), then).evaluate(None)) == [("first", "error")]
    assert then.calls == 0
    assert statuses(Requires(Fixed("first", "pass"), then).evaluate(None)) == [("first", "pass"), ("then", "pass")]
