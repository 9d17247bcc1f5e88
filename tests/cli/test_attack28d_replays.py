"""Attack review 28d: replays against fix28d (the newcomer fixes of session 28: a commit's requested featuriser
signed as featurizerRequested and carried to later commits, the NaN refusal's exclude advice, a retyped feature
column named, no FLAGGED diff headline for unattributed additions alone in a store with no signed sources, status's
commit_refusal) and the lead's 'Your own data' README section. A plain test pins an attack that held; a strict
xfail is a finding, named in its reason."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import (
    build_trust_world,
    digits_table,
    new_records,
    resign_version,
    set_column,
    store_fingerprint,
    validate_output,
)


def _commit(prov, keypair, data: str, tag: str, *args: str):
    return prov("commit", data, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *args)


def _with_nan(t: pa.Table, column: str, rows: list[int]) -> pa.Table:
    """``t`` with ``column`` as doubles, NaN in ``rows``."""
    doubles = t.column(column).cast(pa.float64())
    t = t.set_column(t.schema.get_field_index(column), column, doubles)
    return set_column(t, column, [float("nan") if i in rows else v for i, v in enumerate(doubles.to_pylist())])


EXCLUDE_PX05 = ("--featurizer", "numeric", "--featurizer-option", 'exclude=["px05"]')


# --- the carried request: who chooses it ------------------------------------------------------------------------


def test_no_row_holds_the_request_and_an_edited_envelope_is_not_carried(prov, workdir, store, keypair):
    # the request lives only in the signed statement: no prov.db cell names it, and a .prov/ writer who edits the
    # envelope object (the request dropped, not signed again) makes the next commit carry nothing from it
    pq.write_table(_with_nan(digits_table(300), "px05", [3]), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1", *EXCLUDE_PX05).exit_code == 0
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
        for col in [r[1] for r in db.execute(f"pragma table_info({table})")]:
            hits = db.execute(f"select count(*) from {table} where cast({col} as text) like '%exclude%'").fetchone()
            assert hits[0] == 0, (table, col)
    [oid] = db.execute("select envelope_object from versions where tag = 'v1'").fetchone()
    env = json.loads((workdir / ".prov" / "objects" / f"{oid}.json").read_bytes())
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["featurizerRequested"] = {
        "name": "numeric",
        "options": {"exclude": [f"px{i:02d}" for i in range(64)]},
    }
    env["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    data = json.dumps(env).encode()
    new = hashlib.sha256(data).hexdigest()
    (workdir / ".prov" / "objects" / f"{new}.json").write_bytes(data)
    with db:
        db.execute("update versions set envelope_object = ? where tag = 'v1'", [new])
    db.close()
    pq.write_table(_with_nan(digits_table(320), "px05", [3, 310]), workdir / "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 1, r.output  # the parent does not verify: refused as any tampered statement is
    assert "px00" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "v1" in r.stderr, r.stderr
    assert store_fingerprint(workdir / ".prov") == before


# --- a stolen commit key signs the parent's request --------------------------------------------------------------

MALFORMED = {
    "string": "numeric",
    "list": ["numeric"],
    "no-name": {"options": {}},
    "options-list": {"name": "numeric", "options": ["exclude"]},
}


def _v1_resigned(prov, workdir, keypair, request_) -> None:
    """v1 (300 digits) committed, then signed again by the commit key's holder with ``request_`` as its
    featurizerRequested; train.parquet then holds 320 digits for the next commit."""
    pq.write_table(digits_table(300), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    resign_version(workdir, "v1", keypair.private_path, lambda p: p.__setitem__("featurizerRequested", request_))
    pq.write_table(digits_table(320), workdir / "train.parquet")


@pytest.mark.parametrize("shape", MALFORMED)
def test_a_malformed_signed_request_is_refused_at_commit_in_one_line_naming_the_parent(
    prov, workdir, store, keypair, shape
):
    _v1_resigned(prov, workdir, keypair, MALFORMED[shape])
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().startswith("Error: v1's featuriser: not a featuriser spec"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert store_fingerprint(workdir / ".prov") == before


# A28d-3 was a strict xfail ("prov show of a version whose signed featurizerRequested is not a {name, options} object
# prints half its report and exits 2 with 'Error: featuriser: not a featuriser spec' (no version named), and show
# --json exits 0 with featurizer_requested {} which show.schema.json refuses"); fixed in session 29 (fix29b): show is a
# display of a version that verifies, so it is exit 0 with one warning line naming the version, and the JSON says it
@pytest.mark.parametrize("shape", MALFORMED)
def test_show_of_a_version_with_a_malformed_signed_request_says_so_and_fits_its_schema(
    prov, workdir, store, keypair, shape
):
    _v1_resigned(prov, workdir, keypair, MALFORMED[shape])
    r = prov("show", "v1", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    assert "attested:" in r.stdout, r.stdout  # the whole report, not half of it
    (line,) = [x for x in r.stdout.splitlines() if "featuriser request" in x]
    assert line.startswith("  warning: v1's signed featuriser request: not a featuriser spec"), line
    assert line.endswith("a commit on v1 refuses to carry it (give --featurizer)"), line
    r = prov("show", "v1", "--signer", "alice.pub", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    validate_output("show", doc)
    assert doc["featurizer_requested"] is None and "v1's signed" in doc["featurizer_request_problem"], doc


def test_show_gives_a_well_formed_request_without_options_in_its_schemas_shape(prov, workdir, store, keypair):
    _v1_resigned(prov, workdir, keypair, {"name": "no-such-featuriser"})
    doc = json.loads(prov("show", "v1", "--signer", "alice.pub", "--json").stdout)
    validate_output("show", doc)
    assert doc["featurizer_requested"] == {"name": "no-such-featuriser", "options": {}}, doc
    assert doc["featurizer_request_problem"] is None


# A28d-4 was a strict xfail ("a signed request naming no featuriser prov has, or an option it does not take, is
# carried without a word: the maintainer's next commit (their own key, no --featurizer) exits 0 with 'no reference
# profile (unknown featuriser ...)', so no later check can use it as a base; a malformed shape is refused (exit 2
# naming v1), this is not"); fixed in session 29 (fix29b): a carried request is built first, and refused naming v1
@pytest.mark.parametrize(
    "request_",
    [{"name": "no-such-featuriser"}, {"name": "numeric", "options": {"no_such_option": 1}}],
    ids=["unknown-name", "unknown-option"],
)
def test_a_carried_request_that_builds_no_featuriser_is_refused_naming_the_parent(
    prov, workdir, store, keypair, request_
):
    _v1_resigned(prov, workdir, keypair, request_)
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 2 and "v1" in r.stderr, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"Error: v1's signed featuriser request {request_['name']}"), line
    assert "builds no featuriser here" in line and "give --featurizer" in line, line
    assert store_fingerprint(workdir / ".prov") == before
    # the way on it names: choosing the features on the command line is not a carried request
    r = _commit(prov, keypair, "train.parquet", "v2", "--featurizer", "numeric", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["profile"]["status"] == "ok", r.stdout


def _outliers(table: pa.Table, rows: int) -> pa.Table:
    """``table`` and ``rows`` copies of its first records with px20..px40 at 200 (digits hold 0..16)."""
    one = table.slice(0, rows)
    for i in range(20, 41):
        name = f"px{i:02d}"
        one = one.set_column(one.schema.get_field_index(name), name, pa.array([200] * rows, pa.int64()))
    return pa.concat_tables([table, one])


ONLY_PX00 = {"name": "numeric", "options": {"exclude": ["label", *[f"px{i:02d}" for i in range(1, 64)]]}}


def _honest_v1_resigned_to_read_px00(prov, workdir, keypair) -> pa.Table:
    """v1 (300 digits, its profile reads every pixel) signed again by the thief with ONLY_PX00 as its request; 600
    digits returned."""
    t = digits_table(600)
    pq.write_table(t.slice(0, 300), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    resign_version(workdir, "v1", keypair.private_path, lambda p: p.__setitem__("featurizerRequested", ONLY_PX00))
    pq.write_table(t.slice(0, 400), workdir / "train.parquet")
    return t


# A28d-1 (medium; fixed by the lead: commit_defaults._request_fits_profile) was a strict xfail: the carried
# featurizerRequested was not held against the parent's own signed profile
def test_a_request_that_does_not_resolve_to_the_parents_profile_is_not_carried(prov, workdir, store, keypair):
    _honest_v1_resigned_to_read_px00(prov, workdir, keypair)
    r = _commit(prov, keypair, "train.parquet", "v2", "--json")
    assert r.exit_code == 2 or json.loads(r.stdout)["featurizer"] != "numeric/v1:cols=px00", r.output


def test_a_stolen_keys_request_is_refused_at_the_maintainers_next_commit(prov, workdir, store, keypair):
    # what A28d-1 stood on: the maintainer's own v2 carried v1's re-signed request (px00 alone) and every check
    # against v2 scored one constant column (30 outliers passed). Now the commit refuses it, one line naming v1,
    # store unchanged; a featuriser the maintainer gives is used, as before
    _honest_v1_resigned_to_read_px00(prov, workdir, keypair)
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert "v1's signed featuriser request does not match its signed profile" in line, line
    assert store_fingerprint(workdir / ".prov") == before
    r = _commit(prov, keypair, "train.parquet", "v2", "--featurizer", "numeric", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["featurizer"] != "numeric/v1:cols=px00"


# --- the diff headline in a store 'with no signed sources' --------------------------------------------------------


def _unattributed_on_v1_with_rows_deleted(prov, workdir) -> None:
    """The trust world (a vendor signs batches, trust entries signed by the maintainer), v1x: v1 and 40 records no
    batch holds; then a .prov/ writer deletes every batches and trust row with sqlite3."""
    build_trust_world(prov, workdir)
    new_records("extra.parquet", 40)
    pq.write_table(pa.concat_tables([pq.read_table("v1.parquet"), pq.read_table("extra.parquet")]), "v1x.parquet")
    pinned = ("--key", "maintainer.key", "--signer", "maintainer.pub")
    assert prov("commit", "v1x.parquet", "--tag", "v1x", "--parent", "v1", *pinned).exit_code == 0
    head = prov("diff", "v1", "v1x", "--signer", "maintainer.pub").stdout.splitlines()[1]
    assert head.startswith("FLAGGED: 1 signal flagged: unattributed_additions"), head
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("delete from batches")
        db.execute("delete from trust")


# A28d-2 was a strict xfail; fixed by fix29a: store_has_signed_sources reads the audit log's batch.add entries and
# the pinned trust, never the batches or trust rows. Its reason, kept:
# reason="A28d-2 (low): the diff headline's 'no signed sources' is read from prov.db's batches and trust rows: a "
# ".prov/ writer who deletes them turns 'FLAGGED ... (unattributed_additions)' into 'NOTHING FLAGGED' while the "
# "audit line still says every entry is signed (prov check still blocks: it reads the signed trust)",
def test_deleting_batch_and_trust_rows_does_not_quiet_the_diff_headline(prov, workdir):
    _unattributed_on_v1_with_rows_deleted(prov, workdir)
    r = prov("diff", "v1", "v1x", "--signer", "maintainer.pub")
    assert r.stdout.splitlines()[1].startswith("FLAGGED: 1 signal flagged: unattributed_additions"), r.stdout
    doc = json.loads(prov("diff", "v1", "v1x", "--signer", "maintainer.pub", "--format", "json").stdout)
    validate_output("diff", doc)
    assert doc["lineage"]["signed_sources"] is True, doc["lineage"]


def test_deleting_batch_and_trust_rows_does_not_change_checks_outcome(prov, workdir):
    _unattributed_on_v1_with_rows_deleted(prov, workdir)
    r = prov("check", "v1x", "--base", "v1", "--signer", "maintainer.pub")
    assert r.exit_code == 1 and "lineage.unattributed_beside_signed" in r.stdout.splitlines()[0], r.output


# --- the README's 'Your own data' section, tried ------------------------------------------------------------------


def _v1_reads_px05_v2_leaves_it_out(prov, workdir, keypair) -> None:
    """v1: 300 digits, its profile reads px05; v2: the same data committed leaving px05 out of the features (the
    commit notes it left them); train.parquet then holds 320 digits with NaN in px05."""
    t = digits_table(320)
    pq.write_table(t.slice(0, 300), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    assert _commit(prov, keypair, "train.parquet", "v2", *EXCLUDE_PX05).exit_code == 0
    pq.write_table(_with_nan(t, "px05", [3, 310]), workdir / "train.parquet")


def test_readme_a_column_left_out_stays_out_of_later_commits(prov, workdir, store, keypair):
    """A28d-5 (low, docs; fixed by the lead in the README): 'Your own data' said a check of every later delivery reads
    a column once an earlier version's profile read it; the code asks the parent alone, and a column left out stays
    out through the carried featuriser. The README now says so, and this pins it: v3 with NaN in px05 commits."""
    _v1_reads_px05_v2_leaves_it_out(prov, workdir, keypair)
    r = _commit(prov, keypair, "train.parquet", "v3")
    assert r.exit_code == 0, r.output


def test_readme_missing_values_refused_naming_file_columns_rows_store_unchanged(prov, workdir, store, keypair):
    pq.write_table(digits_table(300), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    pq.write_table(_with_nan(digits_table(300), "px05", [7]), workdir / "train.parquet")
    before = store_fingerprint(workdir / ".prov")
    r = _commit(prov, keypair, "train.parquet", "v2")
    assert r.exit_code == 2, r.output
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and line.startswith("Error: train.parquet: ") and "px05" in line
    assert "rows 7" in line and "exclude" not in line  # v1's profile reads px05: no exclusion offered
    assert store_fingerprint(workdir / ".prov") == before


# A28d-6 was a strict xfail; fixed by fix29a: only a batch registered with a source's signed envelope (or a trusted
# batch-signing key, or signed attested lineage) makes a signed source. Its reason, kept:
# reason="A28d-6 (low, naming): a store whose only registered batch is declared unsigned (prov add --unsigned) "
# "reports lineage.signed_sources true though no source signs anything: store_has_signed_sources counts any "
# "batches row (the headline then flags additions in no batch, as the README's 'No signed sources' implies; "
# "the field's name and docstring say otherwise)",
def test_an_unsigned_registered_batch_is_not_a_signed_source(prov, workdir, store, keypair):
    t = digits_table(440)
    pq.write_table(t.slice(0, 300), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    pq.write_table(t.slice(300, 100), workdir / "crowd.parquet")
    r = prov("add", "crowd.parquet", "--source", "crowd", "--unsigned", "--signer", "alice.pub")
    assert r.exit_code == 0, r.output
    pq.write_table(pa.concat_tables([t.slice(0, 400), t.slice(400, 40)]), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v2").exit_code == 0
    doc = json.loads(prov("diff", "v1", "v2", "--signer", "alice.pub", "--format", "json").stdout)
    validate_output("diff", doc)
    assert doc["lineage"]["signed_sources"] is False, doc["lineage"]


def test_status_commit_refusal_reads_the_signed_profile_not_a_row(prov, workdir, store, keypair):
    # a .prov/ writer renames px05 in every prov.db cell naming it: status still says commit refuses the NaN
    t = digits_table(300)
    pq.write_table(t, workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
            for col in [r[1] for r in db.execute(f"pragma table_info({table})")]:
                db.execute(
                    f"update {table} set {col} = replace({col}, 'px05', 'px99') "
                    f"where typeof({col}) = 'text' and {col} like '%px05%'"
                )
        assert db.total_changes > 0  # the profile's row names its columns
    pq.write_table(_with_nan(t, "px05", [7]), workdir / "train.parquet")
    r = prov("status", "--signer", "alice.pub", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    validate_output("status", doc)
    assert "px05, which v1's profile reads" in (doc["commit_refusal"] or ""), doc


# A28d-7 was a strict xfail ("(low, not a regression; fails closed): a parent committed before featurizerRequested was
# signed (an older prov) with --featurizer numeric and an exclude list carries nothing: parent_defaults counts any
# resolved numeric spec as the automatic one, so the next commit reads the excluded column again and refuses its NaN
# (exit 2), newcomer 28's finding 2 as it was for every store made before fix28d"); fixed in session 29 (fix29b): the
# numeric columns of the parent's signed schema its signed profile does not read are carried as an exclude list
def test_a_parent_signed_before_the_request_carries_its_profiles_resolved_featuriser(prov, workdir, store, keypair):
    # an older prov's statement (no featurizerRequested; replayed by signing v1 again without it): the next commit
    # carries the profile's resolved columns, so the NaN in the excluded px05 is still not read
    pq.write_table(_with_nan(digits_table(300), "px05", [3]), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1", *EXCLUDE_PX05).exit_code == 0
    resign_version(workdir, "v1", keypair.private_path, lambda p: p.pop("featurizerRequested"))
    assert json.loads(prov("show", "v1", "--signer", "alice.pub", "--json").stdout)["featurizer_requested"] is None
    pq.write_table(_with_nan(digits_table(320), "px05", [3, 310]), workdir / "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "v2", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    validate_output("commit", doc)
    assert "px05" not in doc["featurizer"] and doc["from_parent"]["featurizer"], doc
    assert doc["featurizer_requested"] == {"name": "numeric", "options": {"exclude": ["px05"]}}, doc


def test_a_parent_signed_before_the_request_carries_its_exclusions_exactly_when_a_column_name_holds_a_comma(
    prov, workdir, store, keypair
):
    # the data's writer names the columns; the identity string joins them with ',', the profile's list does not
    def table(n: int) -> pa.Table:
        t = _with_nan(digits_table(n), "px05", [3])
        return t.append_column("x,y", pa.array([float(i % 7) for i in range(n)]))

    pq.write_table(table(300), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1", *EXCLUDE_PX05).exit_code == 0
    resign_version(workdir, "v1", keypair.private_path, lambda p: p.pop("featurizerRequested"))
    pq.write_table(table(320), workdir / "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "v2", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["featurizer_requested"] == {"name": "numeric", "options": {"exclude": ["px05"]}}, doc
    assert "x,y" in doc["featurizer"], doc["featurizer"]  # still read


def test_a_parent_signed_before_the_request_that_read_every_numeric_column_carries_nothing(
    prov, workdir, store, keypair
):
    # the automatic featuriser's parent: nothing to carry, so a column the next version adds is read
    pq.write_table(digits_table(300), workdir / "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "v1").exit_code == 0
    resign_version(workdir, "v1", keypair.private_path, lambda p: p.pop("featurizerRequested", None))
    t = digits_table(320)
    pq.write_table(t.append_column("extra", pa.array([float(i % 7) for i in range(320)])), workdir / "train.parquet")
    r = _commit(prov, keypair, "train.parquet", "v2", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["from_parent"]["featurizer"] is None and "extra" in doc["featurizer"], doc
