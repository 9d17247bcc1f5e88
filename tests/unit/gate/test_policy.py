"""Policy files: a schema generated from the rules, strict validation with errors that name
the line and key, a documented default whose digest does not drift."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from provenance.errors import InputError
from provenance.gate import policy

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schemas" / "policy.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())

# The default policy's digest goes into every release attestation a training job checks
# with --policy; a change to a default, a key or a section changes it, and must be deliberate.
# Issue 12 changed it deliberately: [integrity] acknowledge_disabled and [attestation] valid_for_days;
# issue 12's audit work added [lineage] allow_unsigned_from; issue 14 added [lineage] expected_new_classes and drift warnings;
# the security review's finding 4 added [lineage] unattributed_beside_signed; finding 9 max_conflicting_signed_labels;
# attack review 6, finding 8 signed_batches_incomplete; the unsigned-removals gap [removals] (max_unsigned_removed_rate);
# attack review 10, D10-1 [detectors] duplicates_tight_cluster (the rule stands down only by the policy);
# newcomer review 11, finding 13 [copies] (max_copies_rate, min_copies, copies_added);
# issue 14, session 14: [detectors] relabel_scan (the detectors.relabels rule); issue 14, session 26: [copies] anchor
# (unset by default: the copies rule's anchor test against the oldest signed ancestor, the ratchet, C12-1); attack
# review 28c, A28c-1: [removals] max_removed_fraction (a release that removed most of its base blocks); attack review
# 32e, A32e-2: [relabels] max_relabels_of_others_records (a source's signed relabels of records it never delivered).
DEFAULT_DIGEST = "eca90961eab8a5b242a7714ecf573db0a99846a45a5d283a61b8d89f74757796"


def test_the_published_schema_is_the_one_generated_from_the_rules():
    assert SCHEMA_FILE.read_text() == policy.schema_json(), (
        "schemas/policy.schema.json is out of date: python -m provenance.gate.policy > schemas/policy.schema.json"
    )
    Draft202012Validator.check_schema(SCHEMA)


def test_every_rule_key_is_in_the_schema_with_its_description():
    for rule_type in policy.RULE_TYPES:
        for setting in rule_type.settings:
            entry = SCHEMA["properties"][setting.section]["properties"][setting.key]
            assert entry["description"] == setting.description
            assert entry.get("default") == setting.default


def test_default_policy_round_trips_through_its_toml_and_schema():
    text = policy.default_policy_toml()
    parsed = policy.parse(text, "default.toml")
    assert parsed.settings == policy.defaults()
    Draft202012Validator(SCHEMA).validate(tomllib.loads(text))
    assert parsed.digest == policy.default_policy().digest == DEFAULT_DIGEST


def test_a_policy_overrides_only_what_it_names(tmp_path):
    p = tmp_path / "policy.toml"
    p.write_text(
        '[lineage]\nforbidden_sources = ["scraper"]\nmax_unattributed = 0\n\n[detectors]\nfpr = 0.05\nrun = ["knn_label"]\n'
    )
    pol = policy.load(str(p))
    assert pol["lineage"]["forbidden_sources"] == ["scraper"] and pol["lineage"]["max_unattributed"] == 0
    assert pol["detectors"]["fpr"] == 0.05 and pol["integrity"]["verify_data"] is True
    assert pol.digest != policy.default_policy().digest
    assert pol.path == str(p) and pol.name == str(p) and policy.default_policy().name == "default policy"
    Draft202012Validator(SCHEMA).validate(tomllib.loads(p.read_text()))


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "[lineage]\nmax_unatributed = 3\n",
            "policy.toml:2: lineage.max_unatributed: unknown rule (did you mean 'max_unattributed'?); known in [lineage]:",
        ),
        ("[relabels]\nmax_relabel_rate = 0.1\n", "policy.toml:2: relabels.max_relabel_rate: unknown rule"),
        (
            '[lineage]\n\nmax_unattributed = "3"\n',
            "policy.toml:3: lineage.max_unattributed: must be an integer, not str",
        ),
        (
            "[lineage]\nmax_unattributed = 3.0\n",
            "policy.toml:2: lineage.max_unattributed: must be an integer, not float",
        ),
        (
            "[detector]\nfpr = 0.1\n",
            "policy.toml:1: detector: unknown section (did you mean 'detectors'?); known: integrity, lineage,",
        ),
        ("lineage = 3\n", "policy.toml:1: lineage: must be a [section] table"),
        ("[detectors]\nfpr = 2.0\n", "policy.toml:2: detectors.fpr: must be between 0 and 1, not 2.0"),
        ("[detectors]\nalpha = 0\n", "policy.toml:2: detectors.alpha: must be between 0 and 1, not 0"),
        ("[detectors]\nrun = []\n", 'policy.toml:2: detectors.run: must be "all" or a non-empty list'),
        ('[detectors]\nrun = "some"\n', 'policy.toml:2: detectors.run: must be "all" or a non-empty list'),
        ("[integrity]\nverify_data = 1\n", "policy.toml:2: integrity.verify_data: must be true/false, not int 1"),
        ("[relabels]\nmax_relabels = -1\n", "policy.toml:2: relabels.max_relabels: must not be negative, not -1"),
        ("[class_mix]\nmin_p_value = 1.5\n", "policy.toml:2: class_mix.min_p_value: must be at most 1, not 1.5"),
        ('[lineage]\nforbidden_sources = ["a", ""]\n', "policy.toml:2: lineage.forbidden_sources: must be a list of"),
        ("[lineage\nx=1\n", "policy.toml: not valid TOML"),
    ],
)
def test_typos_and_wrong_types_name_the_line_and_key(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    Path("policy.toml").write_text(text)
    with pytest.raises(InputError) as err:
        policy.load("policy.toml")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_the_first_problem_in_the_file_is_reported():
    text = "[detectors]\nfpr = 0.01\nalpha = 7\n\n[lineage]\nmax_unattributed = -2\n[bogus]\n"
    with pytest.raises(InputError, match=r"^p.toml:3: detectors.alpha: must be between"):
        policy.parse(text, "p.toml")


def test_an_unreadable_policy_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read policy"):
        policy.load(str(tmp_path / "missing.toml"))


NUMBER_KEYS = [
    (s, k) for s, keys in policy.SETTINGS.items() for k, v in keys.items() if v.schema.get("type") == "number"
]


@pytest.mark.parametrize("section,key", NUMBER_KEYS)
def test_every_number_key_refuses_a_value_that_is_not_finite(section, key):
    # attack review 29a, A29a-4: TOML's nan passes JSON Schema's bounds (every comparison with NaN is false)
    assert len(NUMBER_KEYS) >= 9  # every fraction and probability the rules read
    for value in ("nan", "-nan", "+nan"):
        with pytest.raises(InputError) as err:
            policy.parse(f"# a comment\n[{section}]\n{key} = {value}\n", "p.toml")
        assert str(err.value) == f"p.toml:3: {section}.{key}: must be a finite number, not nan"
    for value in ("inf", "-inf"):  # every number key has bounds, which name them first
        with pytest.raises(InputError, match=rf"^p.toml:3: {section}\.{key}: must .*, not -?inf$"):
            policy.parse(f"# a comment\n[{section}]\n{key} = {value}\n", "p.toml")
