"""Policy files: strict parsing, errors that name the line and key, a documented default."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from provenance.errors import InputError
from provenance.gate import policy

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "schemas" / "policy.schema.json").read_text())


def test_default_policy_round_trips_through_its_toml_and_schema():
    text = policy.default_policy_toml()
    parsed = policy.parse(text, "default.toml")
    assert parsed.settings == policy.defaults()
    Draft202012Validator(SCHEMA).validate(tomllib.loads(text))
    assert parsed.digest == policy.default_policy().digest


def test_a_policy_overrides_only_what_it_names(tmp_path):
    p = tmp_path / "policy.toml"
    p.write_text(
        '[lineage]\nforbidden_sources = ["scraper"]\nmax_unattributed = 0\n\n[detectors]\nfpr = 0.05\nrun = ["knn_label"]\n'
    )
    pol = policy.load(str(p))
    assert pol["lineage"]["forbidden_sources"] == ["scraper"] and pol["lineage"]["max_unattributed"] == 0
    assert pol["detectors"]["fpr"] == 0.05 and pol["integrity"]["verify_data"] is True
    assert pol.digest != policy.default_policy().digest
    Draft202012Validator(SCHEMA).validate(tomllib.loads(p.read_text()))


@pytest.mark.parametrize(
    "text,message",
    [
        ("[lineage]\nmax_unatributed = 3\n", "policy.toml:2: lineage.max_unatributed: unknown rule"),
        ('[lineage]\n\nmax_unattributed = "3"\n', "policy.toml:3: lineage.max_unattributed: must be an integer"),
        ("[detector]\nfpr = 0.1\n", "policy.toml:1: detector: unknown section"),
        ("[detectors]\nfpr = 2.0\n", "policy.toml:2: detectors.fpr: must be between 0 and 1"),
        ("[detectors]\nrun = []\n", 'policy.toml:2: detectors.run: must be "all" or a non-empty list'),
        ("[integrity]\nverify_data = 1\n", "policy.toml:2: integrity.verify_data: must be true/false"),
        ("[relabels]\nmax_relabels = -1\n", "policy.toml:2: relabels.max_relabels: must not be negative"),
        ("[lineage\nx=1\n", "policy.toml: not valid TOML"),
    ],
)
def test_typos_and_wrong_types_name_the_line_and_key(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    Path("policy.toml").write_text(text)
    with pytest.raises(InputError) as err:
        policy.load("policy.toml")
    assert str(err.value).startswith(message)
