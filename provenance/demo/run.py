"""``prov demo``: a real end-to-end run on real data (scikit-learn's handwritten digits).

Every step goes through the same library calls the commands use, and the demo prints
the command a user would type for it, so the output doubles as a tutorial.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys, versions
from provenance.errors import InputError, VerificationError
from provenance.sources.interface import DatasetSpec
from provenance.store import Store

MARKER = ".prov-demo"


def digits_table() -> pa.Table:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise InputError("prov demo needs scikit-learn for its data: pip install 'prov-data[demo]'") from exc
    d = load_digits()
    cols = {f"px{i:02d}": d.data[:, i].astype(np.int64) for i in range(d.data.shape[1])}
    cols["label"] = [str(v) for v in d.target]
    return pa.table(cols)


def prepare(workdir: Path) -> Path:
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise InputError(f"{workdir}: folder exists and is not a previous prov demo; choose another --dir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text("made by prov demo\n")
    return workdir


def run_demo(workdir: Path, echo: Callable[[str], None] = print) -> dict:
    """Build a store, keys and versions in ``workdir`` and show what prov checks."""
    started = time.perf_counter()
    cwd = os.getcwd()
    workdir = Path(workdir).resolve()
    os.chdir(workdir.parent if workdir.parent.is_dir() else "/")  # the folder may be replaced, cwd included
    workdir = prepare(workdir)
    facts: dict = {"workdir": str(workdir)}
    os.chdir(workdir)
    try:
        table = digits_table()
        n = table.num_rows
        base_n = int(n * 0.6)
        (workdir / "data").mkdir()
        pq.write_table(table.slice(0, base_n), "data/digits-v1.parquet", row_group_size=256)
        pq.write_table(table, "data/digits-v2.parquet", row_group_size=256)
        echo(f"Data: scikit-learn's handwritten digits, {n} real 8x8 images (64 pixel columns + label).")
        echo(f"  data/digits-v1.parquet holds the first {base_n}; data/digits-v2.parquet all {n}.")

        store = Store.init(workdir)
        echo("\n$ prov init")
        echo(f"  store {store.root.relative_to(workdir)}/ (SQLite + content-addressed objects)")
        pair = keys.generate(workdir / "maintainer")
        echo("$ prov keys generate maintainer")
        echo(f"  maintainer.key (mode {oct(os.stat(pair.private_path).st_mode & 0o777)}), key id {pair.keyid[:16]}…")

        results = {}
        for tag, path in (("v1", "data/digits-v1.parquet"), ("v2", "data/digits-v2.parquet")):
            r = versions.commit(store, DatasetSpec(path), tag, str(pair.private_path), hooks=_commit_hooks())
            results[tag] = r
            echo(f"$ prov commit {path} --tag {tag} --key maintainer.key")
            echo(
                f"  {r.records} records, Merkle root {r.merkle_root[:16]}…, parent {r.parent or '-'}, signed DSSE envelope"
            )
        for tag in results:
            report = versions.verify_version(store, tag)
            echo(
                f"$ prov verify {tag}\n  signature ok, manifest ok, every record digest re-read and matched ({report['records']})"
            )
        seq, head = versions.verify_audit(store)
        echo(f"$ prov audit verify\n  {seq} hash-chained entries, head {head[:16]}…")
        facts["versions"] = {t: r.to_dict() for t, r in results.items()}

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

        for extension in _extensions():
            facts.update(extension(store, workdir, echo) or {})
        store.close()
    finally:
        os.chdir(cwd if os.path.isdir(cwd) else workdir)
    facts["seconds"] = round(time.perf_counter() - started, 2)
    echo(f"\nDone in {facts['seconds']} s. Everything is in {workdir}; try: cd {workdir} && prov log")
    return facts


def _commit_hooks() -> list:
    from provenance.cli.core import commit_hooks

    return commit_hooks()


def _extensions() -> list[Callable]:
    """The later parts of the demo, in order: lineage, diff, then the release gate."""
    from provenance.demo import diff_steps, gate_steps, lineage_steps

    return [lineage_steps.demo_step, diff_steps.demo_step, gate_steps.demo_step]
