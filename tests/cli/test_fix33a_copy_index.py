"""fix33a (A32e-1): a relabelled near copy of *any* base record blocks, sampled or not, through the copy index the
profile keeps (every base record's features, signed with the profile); a changed byte of it fails closed."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance import Store
from provenance.encoding.columns import table_digests
from provenance.profiles.stage import load_profile
from provenance.version_facts import verified_statement
from support import commit_signed

CONTENT = ("bill_length_mm", "body_mass_g", "flipper_length_mm")


def _penguins(counts: dict[str, int], rounded: bool = True) -> pa.Table:
    """Penguin-like rows, ``counts[label]`` of each label, the labels interleaved (another seed than review 32e's);
    ``rounded=False``: bill and flipper lengths unrounded. Rounded as review 32e's, a base of 23,000 holds so many
    honest near ties that a one-gram copy sits at the edge of the bar once its closeness is multiplied by the class's
    ten records a sampled one (``extreme.copy_density``; docs/reference.md, Known gaps in full)."""
    labels = np.concatenate([[name] * n for name, n in counts.items()])
    labels = labels[np.random.default_rng(7).permutation(len(labels))]
    rng = np.random.default_rng(3301)
    n = len(labels)
    return pa.table(
        {
            "bill_length_mm": rng.normal(44, 5, n).round(1 if rounded else 6) + 0.05,
            "flipper_length_mm": rng.normal(200, 14, n).round(0 if rounded else 6) + 0.5,
            "body_mass_g": rng.integers(2700, 6300, n).astype("int64"),
            "label": labels,
        }
    )


def test_a_relabelled_copy_of_an_unsampled_record_of_a_class_of_20000_blocks(prov, keypair, store):
    v1 = _penguins({"Chinstrap": 20_000, "Adelie": 1_500, "Gentoo": 1_500}, rounded=False)
    pq.write_table(v1, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    profile = load_profile(Store(".prov"), "v1")
    assert profile.copy_index is not None and len(profile.copy_index.keys) == len(v1)
    in_sample = {bytes(d) for d in profile.sample_digests}
    labels = v1.column("label").to_pylist()
    row = next(i for i, d in enumerate(table_digests(v1, CONTENT)) if labels[i] == "Chinstrap" and d not in in_sample)
    one = v1.slice(row, 1)
    mass = pa.array([one.column("body_mass_g")[0].as_py() + 1], pa.int64())
    copy = one.set_column(2, "body_mass_g", mass).set_column(3, "label", pa.array(["Adelie"]))
    pq.write_table(pa.concat_tables([v1, copy]), "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet")
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--no-save", "--format", "json")
    report = json.loads(r.stdout)
    assert r.exit_code == 1, r.output
    assert [x["rule"] for x in report["rules"] if x["status"] == "block"] == ["detectors.extreme"], report["rules"]
    # the signed facts say what the index holds
    s = Store(".prov")
    facts = verified_statement(s, s.version("v1"))["predicate"]["profile"]["copyIndex"]
    assert facts["rows"] == len(v1) and facts["radius"] > 0


def test_a_changed_byte_of_the_copy_index_fails_the_check_closed(prov, keypair, store):
    v1 = _penguins({"Chinstrap": 2_300, "Adelie": 2_300})
    pq.write_table(v1, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet")
    pq.write_table(pa.concat_tables([v1, v1.slice(0, 1).set_column(3, "label", pa.array(["Gentoo"]))]), "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet")
    s = Store(".prov")
    oid = verified_statement(s, s.version("v1"))["predicate"]["profile"]["sha256"]
    path = s.objects.path(oid)
    data = bytearray(path.read_bytes())
    data[-5] ^= 1  # the index's digest prefixes are the object's last bytes
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    r = prov("check", "v2", "--base", "v1", "--signer", keypair.public_path, "--no-save")
    assert r.exit_code == 1 and "altered" in r.output, r.output
