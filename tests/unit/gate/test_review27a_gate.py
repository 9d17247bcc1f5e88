"""Attack review 27a, gate side, on a real store (the gate world: ``relabeled`` flips labels of a signed base,
``crowd`` floods it): a plug-in that clears its plug-in mark (R27a-2), one whose result's name equals every
name (R27a-3), and what held of R26i-2's AfterRun order."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from provenance.cli import app
from provenance.detectors.base import Detector, DetectorResult, Finding
from provenance.detectors.registry import BUILT_IN_DETECTORS
from provenance.gate import detection
from support import (
    crashing_detector,
    crashing_spectral,
    detector_as,
    masking_plug_in,
    unmarkable_result_type,
    zero_reference_plug_in,
)

BUILT_INS = sorted(cls.name for cls in BUILT_IN_DETECTORS)


class _Silent(Detector):
    """A plug-in that runs and scores nothing against the reference (no p-values)."""

    name, families = "zz_silent", ("outlier",)

    def run(self, profile, delta, fpr):
        findings = [Finding(h, self.name, 0.0, False, "nothing") for h in delta.hexes]
        return DetectorResult(self.name, "ran", None, 0.5, findings)


def _statuses(world, tag: str, run: list[str]) -> dict[str, str]:
    results = detection.rules({"detectors": {"run": run}}).evaluate(world.context(tag))
    return {r.rule: r.status for r in results}


def _runs(world) -> set[str]:
    """The detector runs stored for ``crowd`` in ``world``'s prov.db (sqlite3)."""
    import sqlite3

    with sqlite3.connect(world.root / ".prov" / "prov.db") as db:
        return {run for (run,) in db.execute("select run from detector_runs where version = 'crowd'")}


def _with(name: str, factory, world, tag: str, run: list[str]) -> dict[str, str]:
    with detector_as(name, factory):
        return _statuses(world, tag, run)


@pytest.mark.parametrize("tag", ["relabeled", "crowd"])
def test_a_plug_in_that_clears_its_mark_leaves_detectors_combined_blocking(gate_world, tag):
    assert _statuses(gate_world, tag, BUILT_INS)["detectors.combined"] == "block"
    beside = _with("zz_sly", zero_reference_plug_in("zz_sly"), gate_world, tag, [*BUILT_INS, "zz_sly"])
    assert beside["detectors.zz_sly"] == "pass"
    assert beside["detectors.combined"] == "block"


def test_a_crashed_built_in_is_an_error_beside_a_plug_in_whose_name_equals_any(gate_world):
    with detector_as("spectral", crashing_spectral()):
        statuses = _with("aa_mask", masking_plug_in("aa_mask"), gate_world, "clean", ["aa_mask", "spectral"])
    assert statuses["detectors.spectral"] == "error"


def test_every_built_in_crashing_beside_a_silent_plug_in_is_an_error(gate_world):
    """Held (R26i-2's AfterRun): a plug-in that ran without p-values makes detectors.run pass (one ran), but each
    crashed built-in's own rule is an error, so the gate fails closed; the verdict rules, evaluated on the
    plug-in's empty evidence, flag nothing and do not crash."""
    with crashing_detector("out of memory", "broken_a") as a, crashing_detector("disk full", "broken_b") as b:
        statuses = _with("zz_silent", _Silent, gate_world, "crowd", [a, b, "zz_silent"])
    assert statuses["detectors.run"] == "pass"
    assert statuses[f"detectors.{a}"] == "error" and statuses[f"detectors.{b}"] == "error"
    assert statuses["detectors.zz_silent"] == "pass"
    assert "error" in statuses.values()  # the gate's overall status is the worst: exit 3


def test_the_built_ins_alone_block_the_relabel_and_crowd_versions(gate_world):
    """The baseline R27a-2's replay needs: detectors.combined blocks both without the plug-in."""
    for tag in ("relabeled", "crowd"):
        assert _statuses(gate_world, tag, BUILT_INS)["detectors.combined"] == "block"


class _Vanishing(DetectorResult):
    """A result whose ``extreme_p`` reads as ones once (the runner's check), then as NaN (the combined verdict)."""

    @property  # type: ignore[override]
    def extreme_p(self):
        self._reads = getattr(self, "_reads", 0) + 1
        return self._extreme if self._reads == 1 or self._extreme is None else np.full(len(self._extreme), np.nan)

    @extreme_p.setter
    def extreme_p(self, value):
        self._extreme = value


class _Eraser(Detector):
    """A plug-in (marked one: a plain result type but this) whose extreme evidence turns NaN after the check."""

    name, families = "zz_eraser", ("outlier",)

    def run(self, profile, delta, fpr):
        findings = [Finding(h, self.name, 0.0, False, "nothing") for h in delta.hexes]
        return _Vanishing(self.name, "ran", None, 0.5, findings, extreme_p=np.ones(len(delta)))


class _Ghost(Detector):
    """Both at once: a result that keeps plug_in False (R27a-2) with reference p-values of 0, and whose extreme
    evidence turns NaN after the runner's check (R27a-5)."""

    name, families = "zz_ghost", ("outlier",)

    def run(self, profile, delta, fpr):
        class Ghost(_Vanishing, unmarkable_result_type()):  # type: ignore[misc]
            pass

        n, m = len(delta), len(profile.sample_batches)
        findings = [Finding(h, self.name, 0.0, False, "nothing") for h in delta.hexes]
        return Ghost(
            self.name, "ran", None, 0.5, findings, p_values=np.ones(n), reference_p=np.zeros(m), extreme_p=np.ones(n)
        )


def test_a_marked_plug_in_cannot_erase_the_built_ins_extreme_evidence(gate_world):
    assert _statuses(gate_world, "outlier", BUILT_INS)["detectors.extreme"] == "block"
    beside = _with("zz_eraser", _Eraser, gate_world, "outlier", [*BUILT_INS, "zz_eraser"])
    assert beside["detectors.extreme"] == "block"


def test_one_plug_in_cannot_pass_every_detector_rule_on_a_flood(gate_world):
    alone = _statuses(gate_world, "crowd", BUILT_INS)
    assert alone["detectors.combined"] == "block" and alone["detectors.extreme"] == "block"
    beside = _with("zz_ghost", _Ghost, gate_world, "crowd", [*BUILT_INS, "zz_ghost"])
    assert {s for rule, s in beside.items()} - {"pass", "warn"}, beside


def test_diff_detect_counts_agree_with_the_stored_run_and_its_findings(copy_world, monkeypatch):
    """Held (perf27: flagged counts from the flags, Detection.columns kept, save_findings reading columns once):
    through the real CLI on a copy of the store, each detector's ``flagged`` in ``prov diff --detect``'s JSON
    equals its ``detector_runs`` row in prov.db (sqlite3) and the records whose stored finding says that detector
    flagged them (``prov findings --all --json``); the combined count equals the stored findings rows."""
    import json
    import sqlite3

    from typer.testing import CliRunner

    from provenance.cli import app
    from support import validate_output

    world = copy_world()  # the session's gate world holds other tests' runs: this diff's is the one added
    monkeypatch.chdir(world.root)
    before = _runs(world)
    runner = CliRunner()
    diff = runner.invoke(app, ["diff", "v1", "crowd", "--detect", "--format", "json", "--out", "d.json"])
    assert diff.exit_code == 0, diff.output
    report = json.loads((world.root / "d.json").read_text())
    validate_output("diff", report)
    listed = runner.invoke(app, ["findings", "crowd", "--all", "--json"])
    assert listed.exit_code == 0, listed.output
    stored = json.loads(listed.stdout)
    validate_output("findings", stored)
    (run,) = _runs(world) - before
    with sqlite3.connect(world.root / ".prov" / "prov.db") as db:
        runs = dict(db.execute(f"select detector, flagged from detector_runs where run = '{run}'").fetchall())
        rows = db.execute(f"select count(*) from findings where run = '{run}'").fetchone()[0]
    by_report = {d["detector"]: d["flagged"] for d in report["detectors"]}
    by_records: dict[str, int] = {}
    for f in report["findings"]:
        for d in f["detectors"]:
            by_records[d["detector"]] = by_records.get(d["detector"], 0) + bool(d["flagged"])
    assert by_report == {k: v for k, v in runs.items() if k != "combined"}
    assert by_report == {k: by_records.get(k, 0) for k in by_report}
    assert runs["combined"] == report["detection"]["flagged"] == rows > 0
    assert any(v > 0 for v in by_report.values())
    assert stored  # the stored run lists what the report did (schema-valid above)


class _Honest(Detector):
    """A well-behaved plug-in: uniform p-values on the delta and its reference, no extreme evidence."""

    name, families = "zz_honest", ("outlier",)

    def run(self, profile, delta, fpr):
        n, m = len(delta), len(profile.sample_batches)
        p = np.random.default_rng(4).uniform(size=n)
        findings = [Finding(h, self.name, float(1 - v), bool(v <= fpr), "honest") for h, v in zip(delta.hexes, p)]
        reference = np.random.default_rng(5).uniform(size=m)
        return DetectorResult(self.name, "ran", None, 0.5, findings, p_values=p, reference_p=reference)


def test_diff_detect_beside_a_plug_in_is_schema_valid_and_names_it(copy_world, monkeypatch):
    """Held: with a plug-in registered (run by default: every installed detector), ``prov diff --detect``'s JSON
    and the stored run keep their schemas; the verdict's method says a plug-in joined, its row is there, and
    the combined count equals the stored findings rows."""
    import json
    import sqlite3

    from typer.testing import CliRunner

    from provenance.cli import app
    from support import validate_output

    world = copy_world()  # the session's gate world holds other tests' runs: this diff's is the one added
    monkeypatch.chdir(world.root)
    before = _runs(world)
    runner = CliRunner()
    with detector_as("zz_honest", _Honest):
        diff = runner.invoke(app, ["diff", "v1", "crowd", "--detect", "--format", "json", "--out", "d.json"])
    assert diff.exit_code == 0, diff.output
    report = json.loads((world.root / "d.json").read_text())
    validate_output("diff", report)
    assert "beside 1 plug-in(s)" in report["detection"]["method"]
    assert "zz_honest" in {d["detector"] for d in report["detectors"]}
    listed = runner.invoke(app, ["findings", "crowd", "--all", "--json"])
    assert listed.exit_code == 0, listed.output
    validate_output("findings", json.loads(listed.stdout))
    (run,) = _runs(world) - before
    with sqlite3.connect(world.root / ".prov" / "prov.db") as db:
        rows = db.execute(f"select count(*) from findings where run = '{run}'").fetchone()[0]
    assert report["detection"]["flagged"] == rows > 0


def _signed_outliers(world) -> None:
    """Version ``so``: the clean version plus the outlier version's far records, signed by the trusted vendor
    (so no lineage rule blocks them: only the detectors judge them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    clean = pq.read_table("clean.parquet")
    pq.write_table(pq.read_table("outlier.parquet").slice(clean.num_rows), "far.parquet")
    pq.write_table(pa.concat_tables([clean, pq.read_table("far.parquet")]), "signed-outlier.parquet")
    for args in (
        ("sign", "far.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("add", "far.parquet", "--source", "vendor", "--envelope", "far.parquet.prov.json", *PIN),
        ("commit", "signed-outlier.parquet", "--tag", "so", "--parent", "v1", "--key", "maintainer.key", *PIN),
    ):
        done = CliRunner().invoke(app, list(args))
        assert done.exit_code == 0, done.output


PIN = ("--signer", "maintainer.pub")


def test_prov_check_blocks_signed_outliers_beside_a_plug_in_that_erases_extreme_evidence(copy_world, monkeypatch):
    import json

    from support import validate_output

    world = copy_world()
    monkeypatch.chdir(world.root)
    _signed_outliers(world)
    check = ["check", "so", "--base", "v1", *PIN, "--format", "json", "--no-save"]
    alone = CliRunner().invoke(app, check)
    validate_output("check", json.loads(alone.stdout))
    blocking = {r["rule"] for r in json.loads(alone.stdout)["rules"] if r["status"] == "block"}
    assert alone.exit_code == 1 and blocking == {"detectors.extreme"}
    with detector_as("zz_eraser", _Eraser):
        beside = CliRunner().invoke(app, check)
    validate_output("check", json.loads(beside.stdout))
    assert "detectors.zz_eraser" in {r["rule"] for r in json.loads(beside.stdout)["rules"]}  # it ran
    assert beside.exit_code == 1, beside.stdout[:400]
