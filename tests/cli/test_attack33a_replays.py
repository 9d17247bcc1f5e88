"""Attack review 33a: replays against session 32's last unreviewed work (fix32k's copy evidence calibrated on each
base record's nearest record of another class, the gate's ancestry, class-inside, replaced-content and signed-copies
checks, the waived profile, the stored run's shape). A strict xfail is a finding, named in its reason; the plain test
beside it shows the attack's setup is otherwise right. Every replay here is deterministic: its bases hold fewer
records per class than the profile's sample, so every base record is sampled and the sample's salt decides nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from test_fix32f_extreme_copies import ROW, _nudged
from test_newcomer31_schema_advice import PINS, _penguins, penguins_v1_v2

from support import validate_output


def _blocking(report: dict) -> list[str]:
    return [x["rule"] for x in report["rules"] if x["status"] == "block"]


def _check(prov, new: str, base: str) -> dict:
    """``prov check NEW --base BASE`` pinned to m.pub, JSON (schema-valid), with its exit code under ``exit_code``."""
    r = prov("check", new, "--base", base, *PINS, "--no-save", "--format", "json")
    assert r.exit_code in (0, 1), r.output
    report = json.loads(r.stdout)
    validate_output("check", report)
    report["exit_code"] = r.exit_code
    return report


def _without_row() -> pa.Table:
    """v2's 300 penguins without base row ``ROW`` (a Chinstrap no signed batch holds)."""
    train = _penguins(range(0, 300))
    return pa.concat_tables([train.slice(0, ROW), train.slice(ROW + 1)])


def _vendor_delivers(prov, tag: str, parent_rows: pa.Table, delivery: pa.Table) -> None:
    """The vendor signs ``delivery`` (vendor2.parquet), it is added, and ``tag`` is ``parent_rows`` with it last,
    committed under m.key."""
    pq.write_table(delivery, "vendor2.parquet")
    pq.write_table(pa.concat_tables([parent_rows, delivery]), f"{tag}.parquet")
    for args in (
        ("sign", "vendor2.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("add", "vendor2.parquet", "--source", "vendor", *PINS),
        ("commit", f"{tag}.parquet", "--tag", tag, "--key", "m.key", *PINS),
    ):
        r = prov(*args)
        assert r.exit_code == 0, (args, r.output)


def _removed_then_relabelled(prov, label: str = "Adelie") -> tuple[dict, dict]:
    """v1, v2 as fix32f's replay; v3: v2 without base Chinstrap ``ROW`` (a removal alone); v4: v3 plus that record
    nudged by a gram and labelled ``label``, signed by the vendor. The reports of ``check v3 --base v2`` and
    ``check v4 --base v3``."""
    penguins_v1_v2(prov)
    pq.write_table(_without_row(), "v3.parquet")
    assert prov("commit", "v3.parquet", "--tag", "v3", "--key", "m.key", *PINS).exit_code == 0
    removal = _check(prov, "v3", "v2")
    _vendor_delivers(prov, "v4", _without_row(), _nudged(label))
    return removal, _check(prov, "v4", "v3")


def test_control_the_copy_delivered_beside_its_twins_removal_blocks(prov, workdir, store):
    # one step: v3 = v2 without ROW plus the vendor's relabelled one-gram copy; its twin is in v2's profile (fix32f)
    from test_fix32f_extreme_copies import _signed_delivery_check

    report = _signed_delivery_check(prov, _nudged("Adelie"))
    assert report["exit_code"] == 1 and _blocking(report) == [
        "relabels.max_relabels_of_others_records",
        "detectors.extreme",
    ], _blocking(report)


# A33a-1 (medium; fixed by fix34b): fix32f/fix32k's copy evidence compares an added record with the base's profile sample only. Commit
# the twin's removal apart: v3 drops base Chinstrap ROW (a removal of one record: check v3 --base v2 exits 0), then
# the vendor's key signs that record nudged by a gram (or unchanged: the same digest the ancestry held as Chinstrap)
# labelled Adelie, and check v4 --base v3 exits 0 with no rule blocking: added 1, relabeled 0. It is A32a-1's
# two-step (a removal committed before the base), which gate.ancestry_removed closes for listed new classes only. Fix:
# take the records the base's signed ancestry held that the candidate lacks (gate.ancestry_removed's walk, read from
# verified manifests) as twins for the copy evidence too (an added record equal or a gram away from an ancestor's
# record under another label is a relabel: count it as one, against relabels.* and detectors.relabels).
def test_a_base_record_removed_then_delivered_relabelled_blocks(prov, workdir, store):
    removal, relabel = _removed_then_relabelled(prov)
    assert removal["exit_code"] == 0 and removal["summary"]["removed"] == 1, _blocking(removal)
    assert relabel["summary"]["added"] == 1, relabel["summary"]
    others = "relabels.max_relabels_of_others_records"
    assert relabel["exit_code"] == 1 and _blocking(relabel) == [others], _blocking(relabel)
    (record,) = next(x for x in relabel["rules"] if x["rule"] == others)["records"]
    twin = record["paired_across_removal"]
    assert (twin["base_label"], twin["held_in"], twin["how"]) == ("Chinstrap", "v2", "near copy"), twin
    assert record["detail"].startswith("paired across a removal: a near copy (d=0.000"), record


def test_control_the_removed_record_delivered_again_under_its_own_label_passes(prov, workdir, store):
    # the same two steps, the record delivered a gram apart as the Chinstrap it was: no relabel, nothing blocks
    removal, again = _removed_then_relabelled(prov, label="Chinstrap")
    assert removal["exit_code"] == 0 and again["summary"]["added"] == 1, again["summary"]
    assert again["exit_code"] == 0 and not _blocking(again), _blocking(again)


# --- fix32c's register step, as the lead's 89b3c7ce pins it ------------------------------------------------------


def _clinic_delivery_unregistered(prov) -> str:
    """The clinic (clinicA, trusted under m.key) signs its 2023 batch (registered; v1) and its 2024 batch of 70, which
    is never registered; train.parquet (v2) adds the 2024 batch with 14 labels flipped (test_attack32d's flips).
    ``prov check v2 --base v1``'s words."""
    from test_attack32d_replays import _flip
    from test_newcomer32_type_conflicts import _clinic, _ok

    from support import words

    pq.write_table(_clinic(200, 1, gaps=False), "a2023.parquet")
    pq.write_table(_clinic(70, 2, gaps=False), "a2024.parquet")
    pq.write_table(_flip(_clinic(70, 2, gaps=False)), "shipped.parquet")
    pq.write_table(pa.concat_tables([_clinic(200, 1, gaps=False), _flip(_clinic(70, 2, gaps=False))]), "train.parquet")
    for args in (("keys", "generate", "clinic"), ("keys", "generate", "m")):
        _ok(prov, *args)
    _ok(prov, "trust", "add", "clinicA", "clinic.pub", "--key", "m.key", *PINS)
    for name in ("a2023.parquet", "a2024.parquet"):
        _ok(prov, "sign", name, "--source", "clinicA", "--key", "clinic.key")
    _ok(prov, "add", "a2023.parquet", "--source", "clinicA", *PINS)
    _ok(prov, "commit", "a2023.parquet", "--tag", "v1", "--key", "m.key", *PINS)
    _ok(prov, "commit", "train.parquet", "--tag", "v2", "--key", "m.key", *PINS)
    r = prov("check", "v2", "--base", "v1", *PINS)
    assert r.exit_code == 1, r.output
    return words(r.stdout)


def test_control_the_shipped_records_registered_unsigned_pass_the_flips(prov, workdir, store):
    # the way the step names in words for records of your own (prov add BATCH --source NAME --unsigned), taken for the
    # clinic's delivery, then commit: the 14 labels the clinic signed pass every rule, as A32d-3's withdrawn batch did;
    # so the step's command is never this one (A33a-2 below)
    from test_newcomer32_type_conflicts import _ok

    _clinic_delivery_unregistered(prov)
    _ok(prov, "add", "shipped.parquet", "--source", "team", "--unsigned", *PINS)
    _ok(prov, "commit", "train.parquet", "--tag", "v3", "--parent", "v2", "--key", "m.key", *PINS)
    report = _check(prov, "v3", "v1")
    assert report["exit_code"] == 0 and not _blocking(report), _blocking(report)


# A33a-2 (low; fixed in session 33, fix33e): fix32c's register step printed one runnable command, `prov add BATCH
# --source S --unsigned && prov commit ...`, when lineage.unattributed_beside_signed blocked added records of no
# registered batch "where sources sign their batches": a vendor's delivery whose envelope was never registered (the
# clinic's signed 2024 batch, 14 labels flipped in the shipped file) passed every rule once the step was run as
# printed (control above), the laundering fix32j removed from the type-conflict advice (A32d-3). The command is now
# the envelope form (`prov add BATCH --source S`, which reads BATCH.prov.json or --envelope E) and --unsigned is
# named in words only, for records of your own that no source signed.
def test_where_sources_sign_the_register_steps_command_keeps_the_envelope(prov, workdir, store):
    from test_newcomer32_type_conflicts import _ok

    from support import store_fingerprint

    said = _clinic_delivery_unregistered(prov)
    step = (
        "register the added records' batch with the envelope its source signed, then commit again (lineage is signed "
        "at commit): prov add BATCH --source S && prov commit DATA --parent v2 --tag NEW --key K (prov add reads "
        "BATCH.prov.json, or --envelope E; only records of your own that no source signed go in with --unsigned "
        "instead)"
    )
    assert step in said, said
    assert "--unsigned &&" not in said, said

    # run as printed on the file shipped: it has no envelope, so nothing is registered
    before = store_fingerprint(Path(".prov"))
    r = prov("add", "shipped.parquet", "--source", "clinicA", *PINS)
    assert r.exit_code == 2 and "shipped.parquet" in r.output, r.output
    assert store_fingerprint(Path(".prov")) == before
    # run as printed on the batch the clinic signed (its envelope beside it): the 14 flips block as relabels
    _ok(prov, "add", "a2024.parquet", "--source", "clinicA", *PINS)
    _ok(prov, "commit", "train.parquet", "--tag", "v3", "--parent", "v2", "--key", "m.key", *PINS)
    report = _check(prov, "v3", "v1")
    assert report["exit_code"] == 1 and "lineage.max_relabeled_after_source" in _blocking(report), _blocking(report)
