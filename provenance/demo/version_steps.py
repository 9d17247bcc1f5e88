"""The first part of ``prov demo``: data, a store, a key, two signed versions, verification,
the audit log, and a label flipped after commit that ``prov verify`` catches."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys, versions
from provenance.demo.data import commit_summary, digits, quoted
from provenance.errors import VerificationError
from provenance.report.verify_text import audit_lines, version_lines
from provenance.sources.interface import DatasetSpec
from provenance.store import Store
from provenance.store.coverage import verify_log
from provenance.trust.pins import Pins


def demo_step(store: Store, workdir: Path, echo: Callable[[str], None]) -> dict:
    """Commit v1 (60% of the digits) and v2 (all), verify both, then catch a flipped label.

    Writes ``data/``, ``maintainer.key`` and ``maintainer.pub`` in ``workdir`` (the
    current folder). Returns ``{"versions": {tag: commit facts}, "tamper_detected": [lines]}``.
    """
    table = digits()
    n = table.num_rows
    base_n = int(n * 0.6)
    (workdir / "data").mkdir()
    pq.write_table(table.slice(0, base_n), "data/digits-v1.parquet", row_group_size=256)
    pq.write_table(table, "data/digits-v2.parquet", row_group_size=256)
    echo(f"Data: scikit-learn's handwritten digits, {n} real 8x8 images (64 pixel columns + label).")
    echo(f"  data/digits-v1.parquet holds the first {base_n}; data/digits-v2.parquet all {n}.")

    echo("\n$ prov init")
    echo(f"  store {store.root.relative_to(workdir)}/ (SQLite + content-addressed objects)")
    pair = keys.generate(workdir / "maintainer")
    echo("$ prov keys generate maintainer")
    mode = f"{os.stat(pair.private_path).st_mode & 0o777:04o}"  # 0600, as ls and chmod write it, not 0o600
    echo(f"  maintainer.key (mode {mode}), key id {pair.keyid[:16]}…")
    # Trust is pinned by whoever checks, never taken from the store: every later step checks against this key.
    store.pins = Pins.load([os.path.relpath(pair.public_path)])  # named as PROV_SIGNERS=maintainer.pub names it
    echo("$ export PROV_SIGNERS=maintainer.pub     # the key every check below trusts (never one from the store)")

    results = {}
    for tag, path in (("v1", "data/digits-v1.parquet"), ("v2", "data/digits-v2.parquet")):
        r = versions.commit(store, DatasetSpec(path), tag, str(pair.private_path))
        results[tag] = r
        echo(f"$ prov commit {path} --tag {tag} --key maintainer.key")
        echo(commit_summary(r))
    for tag in results:  # each command's own words (provenance.report.verify_text), indented under it
        echo(f"$ prov verify {tag}")
        echo(quoted(version_lines(tag, versions.verify_version(store, tag), store.pins.describe())))
    pins = store.pins
    audit = verify_log(store, pins.maintainer_keys(store), [], pins.known_keys(store), pins.retired_keys(store))
    echo("$ prov audit verify")
    echo(quoted(audit_lines(audit)))
    facts: dict = {"versions": {t: r.to_dict() for t, r in results.items()}}

    # Tampering between storage and training: flip one label in v2's file, verify catches it.
    t2 = pq.read_table("data/digits-v2.parquet")
    labels = t2.column("label").to_pylist()
    victim = base_n + 7
    labels[victim] = "1" if labels[victim] != "1" else "7"
    pq.write_table(
        t2.set_column(t2.schema.get_field_index("label"), "label", pa.array(labels)), "data/digits-v2.parquet"
    )
    echo(f"\nSomeone flips the label of row {victim} in data/digits-v2.parquet after it was committed:")
    echo("$ prov verify v2")
    try:
        versions.verify_version(store, "v2")
        raise RuntimeError("demo: tampering was not detected")  # would be a bug in prov
    except VerificationError as exc:
        echo(f"  exit 1: {exc}")
        for line in exc.details:
            echo(f"    {line}")
        facts["tamper_detected"] = exc.details
    pq.write_table(t2, "data/digits-v2.parquet")
    echo("  (file restored)")
    return facts
