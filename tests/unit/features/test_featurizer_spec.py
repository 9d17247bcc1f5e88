"""A featuriser's identity is (name, options), and the registry rebuilds it from that."""

from __future__ import annotations

import pyarrow as pa
import pytest

from provenance.errors import InputError
from provenance.features import FeatureError, FeaturizerSpec, get_featurizer, register_featurizer
from provenance.features.registry import build, legacy_spec, rebuild, spec_of
from provenance.features.text import HashedTextFeaturizer


@pytest.mark.parametrize(
    "spec",
    [
        FeaturizerSpec("numeric", {"columns": ["a", "b"]}),
        FeaturizerSpec("embedding", {"column": "emb"}),
        FeaturizerSpec("image", {"size": 8, "mode": "RGB"}),
        FeaturizerSpec("image", {"size": 16, "mode": "L", "resample": "box"}),
        FeaturizerSpec("text", {"dim": 64, "ngram_min": 2, "ngram_max": 4, "column": "body"}),
    ],
)
def test_built_ins_rebuild_from_their_spec_and_identify_the_same(spec):
    first = build(spec)
    again = FeaturizerSpec.from_dict(spec_of(first, spec).to_dict())
    assert rebuild(again, first.name).name == first.name
    assert legacy_spec(first.name) == FeaturizerSpec(spec.name, dict(again.options))


def test_a_resolved_featuriser_records_what_it_chose():
    schema = pa.schema([("x", pa.float64()), ("body", pa.string()), ("label", pa.string())])
    numeric = build(FeaturizerSpec("numeric", {"exclude": ["label"]})).resolve(schema)
    assert spec_of(numeric, FeaturizerSpec("numeric")) == FeaturizerSpec("numeric", {"columns": ["x"]})
    text = build(FeaturizerSpec("text")).resolve(schema.remove(schema.get_field_index("label")))
    assert spec_of(text, FeaturizerSpec("text")).options["column"] == "body"


def test_cli_options_parse_as_json_or_text():
    spec = FeaturizerSpec.parse("text", ["dim=64", "column=body", "ngram_min=2"])
    assert spec == FeaturizerSpec("text", {"dim": 64, "column": "body", "ngram_min": 2})
    assert str(spec) == 'text:column="body",dim=64,ngram_min=2'
    with pytest.raises(InputError, match="expected KEY=VALUE"):
        FeaturizerSpec.parse("text", ["dim"])


def test_a_plugin_that_now_identifies_differently_is_refused():
    class Versioned(HashedTextFeaturizer):
        model = "v2"

        @property
        def name(self):
            return f"my-model/{self.model}"

    register_featurizer("my-model-rebuild-test", Versioned)
    with pytest.raises(FeatureError, match="now builds 'my-model/v2'.*made with 'my-model/v1'"):
        rebuild(FeaturizerSpec("my-model-rebuild-test"), "my-model/v1")


def test_unknown_names_and_options_are_input_errors():
    with pytest.raises(InputError, match="unknown featuriser 'nope'"):
        rebuild(FeaturizerSpec("nope"), "nope/v1")
    with pytest.raises(InputError, match="does not take options"):
        get_featurizer("embedding", colour="red")
    with pytest.raises(FeatureError, match="not a featuriser spec"):
        FeaturizerSpec.from_dict({"options": {}})
