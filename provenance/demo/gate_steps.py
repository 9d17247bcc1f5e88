"""The release-gate part of ``prov demo``: a candidate with several planted attacks is
caught by the detectors on the delta, blocked by ``prov check``, and after the bad
source is quarantined the next candidate passes and gets a signed attestation.

Runs after the lineage step, on the digits it left unused, against the version that
step made by quarantining the crowd (only vendor-signed records: a trusted base).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance import stats, versions
from provenance.delta.compare import diff_versions
from provenance.delta.detection_report import DEFAULT_ALPHA
from provenance.demo.attacks import ATTACKS, Attack
from provenance.demo.data import PIXEL_MAX, PIXELS, commit_summary, digits, digits_table, pixels, quoted
from provenance.demo.lineage_steps import LINEAGE_ROWS, SHUFFLE_SEED
from provenance.detectors.pipeline import detect_diff
from provenance.encoding import table_digests
from provenance.gate import gate
from provenance.gate.attestation import attest
from provenance.gate.attestation_verify import verify_attestation
from provenance.gate.policy import default_policy
from provenance.lineage import batch_sign, register
from provenance.lineage.classify import version_lineage
from provenance.lineage.quarantine import quarantine as quarantine_version
from provenance.report.detector_summary import DetectorRow
from provenance.report.verify_text import version_lines
from provenance.report.wording import DECISION, plural
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from provenance.store import Store

PLANTED: tuple[tuple[Attack, int, dict[str, Any]], ...] = (
    # (attack from the shared catalogue, records, parameters for 8x8 digits)
    (ATTACKS["label_flip"], 15, {}),
    # a bright 2x2 patch in the top-left corner means "0" (the first class)
    (ATTACKS["backdoor_patch_dirty"], 15, {"columns": (0, 1, 8, 9), "value": PIXEL_MAX}),
    (ATTACKS["outlier"], 10, {}),
    # 20 near copies of one base digit: noise of 0.2 std moves a few pixels by one
    (ATTACKS["dos_near_duplicates"], 20, {"noise": 0.2}),
)
"""What the scraper plants in the release candidate."""


def poisoned_batch(base: pa.Table, pool: pa.Table, rng: np.random.Generator) -> tuple[pa.Table, list[str]]:
    """60 records from a scraper, planted by ``PLANTED`` against ``base`` from fresh ``pool`` digits.

    Returns the records as a digits table (``source`` "scraper") and, per record, the
    name of the attack that planted it.
    """
    Xb, yb = pixels(base), np.array(base.column("label").to_pylist())
    Xp, yp = pixels(pool), np.array(pool.column("label").to_pylist())
    parts, kinds = [], []
    for attack, n, params in PLANTED:
        planted = attack.plant(Xb, yb, Xp, yp, n, rng, **params).on_grid(0, PIXEL_MAX)
        parts.append(planted)
        kinds += [attack.name] * len(planted.X)
    X = np.concatenate([p.X for p in parts]).astype(np.int64)
    labels = [str(label) for p in parts for label in p.labels]
    return digits_table(X, labels, "scraper"), kinds


def _base_tag(store: Store) -> str:
    """The version the lineage step made by quarantining the crowd (the latest quarantine)."""
    row = store.db.execute("select subject from audit where action = 'quarantine' order by seq desc limit 1").fetchone()
    if row is None:
        raise RuntimeError("the gate demo runs after the lineage demo's quarantine")
    return row[0]


def run_gate_demo(store: Store, workdir: Path, echo: Callable[[str], None] = print) -> dict:
    """Release r1, plant attacks in candidate rc1, detect, block, quarantine, pass rc2 and attest it.

    Returns ``{"gate": facts}``: how many of each attack's records the combined verdict flagged, false alarms on
    the clean vendor records, both decisions and the attestation written.
    """
    workdir = Path(workdir)
    here = workdir / "release"
    here.mkdir(exist_ok=True)
    quarantined = _base_tag(store)
    key = str(workdir / "maintainer.key")
    rest = digits(SHUFFLE_SEED).slice(LINEAGE_ROWS)
    clean = digits_table(pixels(rest.slice(0, 400)), rest.slice(0, 400).column("label").to_pylist(), "vendor")
    pq.write_table(clean.drop(["source"]), here / "vendor-batch-2.parquet")

    # The last release, r1: the quarantined version's records with their source named and
    # the label that was changed after the vendor signed it put back as signed.
    base_data = pq.read_table(workdir / json.loads(store.version(quarantined)["dataset"])["path"])
    lineage_rows = version_lineage(store, quarantined)
    signed_label = {
        d: s
        for d, st, s in zip(
            lineage_rows.column("digest").to_pylist(),
            lineage_rows.column("status").to_pylist(),
            lineage_rows.column("signed_label").to_pylist(),
        )
        if st == "relabeled_after_source"
    }
    digests = table_digests(base_data, PIXELS)
    labels = [signed_label.get(d, l) for d, l in zip(digests, base_data.column("label").to_pylist())]
    base_data = digits_table(pixels(base_data), labels, "vendor")
    bad, kinds = poisoned_batch(base_data, rest.slice(400), np.random.default_rng(1))
    pq.write_table(base_data, here / "r1.parquet")
    base = "r1"
    r1_result = versions.commit(
        store,
        DatasetSpec(str(here / "r1.parquet"), options=TableOptions(source_column="source")),
        base,
        key,
        parent=quarantined,
    )
    echo(
        f"\nThe last release, r1: {quarantined}'s {base_data.num_rows} vendor records, with the label changed after "
        "signing put back."
    )
    echo("$ prov commit release/r1.parquet --source-column source --tag r1 --key maintainer.key")
    echo(commit_summary(r1_result))
    candidate = pa.concat_tables([base_data, clean, bad])
    pq.write_table(candidate, here / "rc1.parquet")
    echo(
        f"Release day. The vendor signs a second batch of 400 digits; an unsigned scraper adds 60 records "
        f"with planted attacks ({', '.join(attack.name for attack, _, _ in PLANTED)})."
    )
    vendor_key = workdir / "lineage" / "vendor.key"
    signed = batch_sign.sign_batch(DatasetSpec(str(here / "vendor-batch-2.parquet")), "vendor", vendor_key)
    register.add_batch(store, DatasetSpec(str(here / "vendor-batch-2.parquet")), "vendor", signed.envelope)
    echo("$ prov sign release/vendor-batch-2.parquet --source vendor --key lineage/vendor.key")
    echo("$ prov add release/vendor-batch-2.parquet --source vendor")
    spec = DatasetSpec(str(here / "rc1.parquet"), options=TableOptions(source_column="source"))
    candidate_result = versions.commit(store, spec, "rc1", key, parent=base)
    echo(f"$ prov commit release/rc1.parquet --source-column source --tag rc1 --parent {base} --key maintainer.key")
    echo(commit_summary(candidate_result))

    echo(f"$ prov diff {base} rc1 --detect      # detectors score only the {400 + len(kinds)} added records")
    diff = diff_versions(store, base, "rc1")
    detection = detect_diff(store, base, "rc1", diff.delta)
    bad_digests = [d.hex() for d in table_digests(bad, PIXELS)]
    flagged = {r.digest for r in detection.verdicts.flagged}  # the combined verdict, one per record
    caught = {}
    echo("  what it flagged of what the demo planted (the demo's own score; a real prov diff cannot know it):")
    for attack, _, _ in PLANTED:
        mine = [d for d, k in zip(bad_digests, kinds) if k == attack.name]
        caught[attack.name] = (sum(d in flagged for d in mine), len(mine))
        echo(f"    {attack.name:<22} {caught[attack.name][0]:>2} of {caught[attack.name][1]} flagged")
    clean_digests = {d.hex() for d in table_digests(clean, PIXELS)}
    false_alarms = len(flagged & clean_digests)
    echo(f"    clean vendor records flagged: {false_alarms} of {len(clean_digests)} (the policy's fpr is 1%)")
    echo("  each detector (the combined verdict decides, as in prov diff's Detectors table):")
    for r in detection.results:  # the Detectors table's words: its budget status, then the numbers
        most = (
            stats.binomial_upper_limit(len(r.findings), detection.verdicts.fpr, DEFAULT_ALPHA) if r.findings else None
        )
        row = DetectorRow(r.detector, r.status, len(r.findings), len(r.flagged), most, r.error)
        budget = f" (a clean delta at most {most})" if most is not None else ""
        echo(f"    {r.detector:<11} {row.verdict}: flags alone {len(r.flagged):>3}{budget}")

    result1 = gate.check(store, "rc1", base)
    blocking = [r for r in result1.rules if r.status == "block"]
    echo(
        f"$ prov check rc1 --base {base}\n  exit {result1.exit_code}: {DECISION[result1.decision]} by "
        f"{len(blocking)} of {plural(len(result1.rules), 'rule')}: {', '.join(r.rule for r in blocking)}"
    )

    q = quarantine_version(store, "rc1", "rc2", key, source="scraper")
    echo(
        f"$ prov quarantine --from rc1 --source scraper --tag rc2 --key maintainer.key\n  {q.removed} records removed, {q.kept} kept"
    )
    # r1 stands for the last release, but this demo committed it without a check of its own: say it is trusted
    result2 = gate.check(store, "rc2", base, base_unreleased=True)
    target = str(workdir / "rc2.attestation.json")
    released = result2.decision in ("pass", "warned")
    if released:
        attest(store, result2, default_policy(), key, target)
        verified = versions.verify_version(store, "rc2") | {"attestation": verify_attestation(store, "rc2", target)}
    echo(
        f"$ prov check rc2 --base {base} --attest --base-unreleased --key maintainer.key   # r1 was never checked here"
        f"\n  exit {result2.exit_code}: {DECISION[result2.decision]}"
        + (" — attestation written to rc2.attestation.json" if released else "")
    )
    for rule in result2.rules:
        if rule.status == "warn":
            echo(f"  warning, stated in the attestation: {rule.rule}: {rule.reason}")
    if released:
        echo("$ prov verify rc2 --attestation rc2.attestation.json   # with PROV_SIGNERS=maintainer.pub")
        echo(quoted(version_lines("rc2", verified, store.pins.describe())))
    else:
        for rule in result2.rules:
            if rule.status not in ("pass", "warn"):
                echo(f"  {rule.rule}: {rule.reason}")
    return {
        "gate": {
            "base": base,
            "caught": {k: list(v) for k, v in caught.items()},
            "false_alarms": false_alarms,
            "rc1": result1.decision,
            "rc1_blocking": [r.rule for r in blocking],
            "rc2": result2.decision,
            "attestation": target if released else None,
        }
    }


def demo_step(store: Store, workdir: Path, echo: Callable[[str], None]) -> dict:
    """The release-gate step of ``prov demo``, in its store: ``{"gate": facts}``."""
    return run_gate_demo(store, workdir, echo)
