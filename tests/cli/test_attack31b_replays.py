"""Attack review 31b: replays against session 31's changes (sec31's signed-type check, numeric column types and far
value hold, reverted; tidy31's verified-predicate memo and re-key pairing). A strict xfail is a finding, named in its reason;
the plain test beside it shows the attack's setup is otherwise right."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_attack25a_replays import PIN, vendor_signs_schema
from test_attack28d_replays import _commit

from support import commit_signed, one_line, store_fingerprint

# --- A31b-1: profiles.reference.without_far_values and a rare honest value ----------------------------------------


def _rare_value_table(n: int, rare: int, seed: int) -> pa.Table:
    """``n`` records of eight normal features and a label, and a column ``bonus`` that is 0 except in ``rare`` records,
    where it is about 500: an honest feature a few records hold (an amount, a count), far beyond 40 of the median
    column's spreads."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    bonus = np.zeros(n)
    bonus[rng.choice(n, rare, replace=False)] = 500.0 + rng.normal(size=rare)
    columns: dict[str, object] = {f"f{i}": X[:, i] for i in range(8)}
    return pa.table({**columns, "bonus": bonus, "label": np.where(X[:, 0] + X[:, 1] > 0, "a", "b")})


def _extreme_verdict(prov, keypair, base_rare: int) -> tuple[int, str]:
    """A 1,000-record base with ``base_rare`` bonus records, then 200 new records of the same kind (2 of them bonus
    records): ``prov check``'s exit code and detectors.extreme's verdict."""
    base = _rare_value_table(1000, base_rare, 1)
    candidate = pa.concat_tables([base, _rare_value_table(200, 2, 2)])
    pq.write_table(base, "base.parquet")
    pq.write_table(candidate, "cand.parquet")
    commit_signed(prov, keypair, "base", "base.parquet")
    commit_signed(prov, keypair, "cand", "cand.parquet")
    r = prov("check", "cand", "--base", "base", "--signer", keypair.public_path, "--format", "json")
    assert r.exit_code in (0, 1), r.output
    rules = json.loads(r.stdout)["rules"]
    return r.exit_code, next(rule["status"] for rule in rules if rule["rule"] == "detectors.extreme")


def test_control_a_base_whose_rare_value_reaches_the_core_passes_a_delta_of_the_same_kind(
    prov, workdir, store, keypair
):
    # 30 of 1,000 base records hold the value: more than the core's 1% at the top end, so nothing is held
    code, extreme = _extreme_verdict(prov, keypair, 30)
    assert (code, extreme) == (0, "pass"), (code, extreme)


# A31b-1 (medium, fixed by reverting sec31's far-value hold): profiles.reference.without_far_values set every value
# more than 40 units beyond a column's core (1% of records at each end, at least 5) to the core's end; a feature that 6
# of 1,000 base records hold honestly at ~500 (the median column's spread ~1) was then constant in the profile, and the
# next delivery's 2 records of the same kind were blocked by detectors.extreme (exit 1). The hold was reverted in
# session 31 (it only moved A30b-2's bound: k + 1 waived glitches, A31b-4, still set the scale), so this guards it.
def test_a31b_1_a_rare_honest_value_in_the_base_does_not_block_a_delta_of_the_same_kind(prov, workdir, store, keypair):
    code, extreme = _extreme_verdict(prov, keypair, 6)
    assert (code, extreme) == (0, "pass"), (code, extreme)


# --- A31b-4 (seven waived glitches set a column's scale despite the far-value hold) became A30b-2 again when the hold
# was reverted: tests/cli/test_attack30b_replays.py keeps its strict xfail (three glitches).


# --- A31b-2: prov verify and a signed types object that is not one of type names ----------------------------------


def test_control_prov_verify_passes_a_batch_signed_with_its_own_types(prov, workdir, store):
    vendor_signs_schema(prov, lambda p: None)
    r = prov("verify", "vendor.parquet", *PIN)
    assert r.exit_code == 0, r.output


# A31b-2 (low, fixed in session 31): lineage.batches._types_match_data leaves types that are not an object of strings "to the schema's
# shape check" (schema_delta.schema_problem), which prov add runs (exit 2, "not the shape prov sign writes") but prov
# verify DATA does not: a source key's envelope signing px00: 5 (or any non-string) verifies "ok", exit 0, and no type
# of it is compared with the data.
@pytest.mark.parametrize("value", [5, ["int64"]])
def test_a31b_2_prov_verify_refuses_signed_types_that_are_not_type_names(prov, workdir, store, value):
    vendor_signs_schema(prov, lambda p: p["schema"]["types"].__setitem__("px00", value))
    r = prov("verify", "vendor.parquet", *PIN)
    assert r.exit_code in (1, 2), r.output
    assert one_line(r).startswith("Error: vendor.parquet.prov.json: its signed schema"), r.output


# --- A31b-3: a numeric exclude list that leaves no feature column ---------------------------------------------------


def _two_numbers(n: int = 50) -> pa.Table:
    """A string column s, double columns y and z, a label."""
    rng = np.random.default_rng(0)
    return pa.table(
        {"s": ["p", "q"] * (n // 2), "y": rng.normal(size=n), "z": rng.normal(size=n), "label": ["a", "b"] * (n // 2)}
    )


def test_control_an_exclude_list_leaving_a_numeric_column_commits_with_a_profile(prov, workdir, store, keypair):
    pq.write_table(_two_numbers(), workdir / "e.parquet")
    r = _commit(prov, keypair, "e.parquet", "v1", "--featurizer", "numeric", "--featurizer-option", 'exclude=["y"]')
    assert r.exit_code == 0 and "no reference profile" not in r.output, r.output


# A31b-3 (low, fixed in session 31): sec31 refuses columns=[...] naming a column of no numbers, and check_options refuses columns=[] ("a
# profile of no features"), but exclude=[...] naming every numeric column still commits a version of no reference
# profile, exit 0 ("the numeric featuriser found no numeric feature columns ... excluded: y, z"): the same flag's
# mistake A30a-3 / A30c-2 refuse, by the other option.
def test_a31b_3_an_exclude_list_leaving_no_numeric_column_is_refused(prov, workdir, store, keypair):
    pq.write_table(_two_numbers(), workdir / "e.parquet")
    before = store_fingerprint(workdir / ".prov")
    option = 'exclude=["y","z"]'
    r = _commit(prov, keypair, "e.parquet", "v1", "--featurizer", "numeric", "--featurizer-option", option)
    assert r.exit_code == 2 and store_fingerprint(workdir / ".prov") == before, r.output
    assert one_line(r).startswith("Error: e.parquet: "), r.output
