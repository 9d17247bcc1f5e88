"""The diff part of ``prov demo``: a new version with planted relabels and a suspicious source.

``demo_step`` is a step of ``prov demo`` (``provenance.demo.run.STEPS``); ``run_diff_demo``
diffs any two versions of a store, prints what a reviewer would read, and writes the HTML
and Markdown reports.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from provenance import versions
from provenance.delta.compare import diff_versions
from provenance.demo.data import commit_summary
from provenance.report import render
from provenance.report.wording import plural
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from provenance.store import Store
from provenance.version_facts import version_dataset

SUSPICIOUS = "crowd-7"
ORDINARY = "vendor-a"


def run_diff_demo(
    store: Store, base_tag: str, new_tag: str, echo: Callable[[str], None] = print, out_dir: Path | None = None
) -> dict:
    """Diff two versions, echo the verdict and the worst signals, write diff.html and diff.md."""
    report = diff_versions(store, base_tag, new_tag)
    data = report.to_dict()
    s = data["summary"]
    echo(f"\n$ prov diff {base_tag} {new_tag}")
    echo(
        f"  {s['added']} added, {s['removed']} removed, {s['relabeled']} relabeled, "
        f"{plural(s['conflicting_labels'], 'record')} with conflicting labels, "
        f"{plural(s['duplicates_added'], 'duplicate copy', 'duplicate copies')}, "
        f"{plural(s['source_changed'], 'record')} whose source changed"
    )
    for row in data["by_source"][:3]:
        if row["flagged_signals"]:
            echo(
                f"  suspicious source {row['source']}: {', '.join(row['flagged_signals'])} "
                f"({row['added']} added, {row['relabeled']} relabeled)"
            )
    for sig in [g for g in data["signals"] if g["flagged"]][:5]:
        echo(f"  [{sig['severity']}] {sig['explanation']}")
    for pair in data["relabel_pairs"][:3]:
        old = (
            pair["old"]
            if "|" not in pair["old"]
            else f"{' and '.join(pair['old'].split('|'))} (one record, both labels)"
        )
        new = (
            pair["new"]
            if "|" not in pair["new"]
            else f"{' and '.join(pair['new'].split('|'))} (one record, both labels)"
        )
        echo(f"  relabeled {old} -> {new}: {plural(pair['count'], 'record')}")
    written = {}
    if out_dir is not None:
        for fmt, name in (("html", "diff.html"), ("md", "diff.md")):
            path = Path(out_dir) / name
            path.write_text(render("diff", fmt, data), encoding="utf-8")
            written[fmt] = str(path)
        echo(f"  full reports: {written['html']} (open in a browser), {written['md']} (paste into a PR)")
    return {
        "diff": {
            "base": base_tag,
            "new": new_tag,
            "summary": s,
            "suspicious_sources": s["suspicious_sources"],
            "reports": written,
        }
    }


def planted_table(base: pa.Table, seed: int = 7) -> tuple[pa.Table, dict]:
    """The base table with known changes, and a ``source`` column (null where it was)."""
    rng = np.random.default_rng(seed)
    labels = base.column("label").to_pylist()
    n = base.num_rows
    sources: list[str | None] = [None] * n
    pixels = [c for c in base.column_names if c != "label"]
    ones = [i for i in range(n) if labels[i] == "1"][:30]
    for i in ones:  # relabeled 1 -> 7 by the suspicious source, which takes the records over
        labels[i], sources[i] = "7", SUSPICIOUS
    removed = set(rng.choice([i for i in range(n) if i not in ones], 20, replace=False).tolist())
    keep = [i for i in range(n) if i not in removed]

    def perturbed(rows: list[int], bump: int) -> dict:  # new scans: the same image, one pixel brighter
        out = {c: base.column(c).take(pa.array(rows)).to_numpy().copy() for c in pixels}
        out[pixels[bump]] = out[pixels[bump]] + 1
        return out

    vendor_rows = rng.choice(n, 120, replace=False).tolist()
    eights = [i for i in range(n) if labels[i] == "8"][:80]
    parts = [
        base.take(pa.array(keep))
        .set_column(base.column_names.index("label"), "label", pa.array([labels[i] for i in keep]))
        .append_column("source", pa.array([sources[i] for i in keep], pa.string()))
    ]
    for rows, bump, source, forced in ((vendor_rows, 5, ORDINARY, None), (eights, 9, SUSPICIOUS, "3")):
        cols = perturbed(rows, bump)
        cols["label"] = [forced or base.column("label")[i].as_py() for i in rows]
        cols["source"] = [source] * len(rows)
        parts.append(pa.table(cols).select(parts[0].column_names).cast(parts[0].schema))
    conflict = keep[3]
    other = "0" if labels[conflict] != "0" else "9"
    parts.append(
        base.take(pa.array([conflict]))
        .set_column(base.column_names.index("label"), "label", pa.array([other]))
        .append_column("source", pa.array([ORDINARY], pa.string()))
    )
    table = pa.concat_tables(parts)
    return table, {"relabeled": len(ones) + 1, "removed": len(removed), "added": 200, "conflicting_labels": 1}


def demo_step(store: Store, workdir: Path, echo: Callable[[str], None] = print) -> dict:
    """Called by ``prov demo``: commit a reviewed candidate against v2 and diff it."""
    base_tag = "v2"
    row = store.version(base_tag)
    base = pq.read_table(version_dataset(store, row).path)
    table, planted = planted_table(base.select([c for c in base.column_names if c != "source"]))
    path = Path(workdir) / "data" / "digits-candidate.parquet"
    pq.write_table(table, path, row_group_size=256)
    tag = "candidate"
    echo(
        f"\nA candidate version arrives: {planted['added']} new records from {ORDINARY} and {SUSPICIOUS}, "
        f"{planted['removed']} removed, relabels and a conflicting label planted."
    )
    committed = versions.commit(
        store,
        DatasetSpec(str(path), options=TableOptions(source_column="source")),
        tag,
        str(Path(workdir) / "maintainer.key"),
    )
    echo(f"$ prov commit data/digits-candidate.parquet --source-column source --tag {tag} --key maintainer.key")
    echo(commit_summary(committed))
    facts = run_diff_demo(store, base_tag, tag, echo, out_dir=Path(workdir))
    facts["diff"]["planted"] = planted
    return facts
