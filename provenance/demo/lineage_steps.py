"""The lineage part of ``prov demo``: a vendor that signs, an unsigned crowd batch, a relabel.

Real data (scikit-learn's handwritten digits as Parquet), real keys, a real store; every
step is the library call behind the command the demo prints.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys, versions
from provenance.demo.data import digits, quoted
from provenance.errors import InputError, VerificationError
from provenance.lineage import batch_sign, batches, queries, register
from provenance.lineage import classify as lineage
from provenance.lineage.quarantine import quarantine as quarantine_version
from provenance.report.verify_text import batch_lines
from provenance.sources.interface import DatasetSpec
from provenance.store import Store, find_store
from provenance.trust import source_keys as trust
from provenance.trust.pins import pins_of

LINEAGE_ROWS = 1000
"""Rows of the shuffled digits the lineage step uses; the release-gate step uses the rest."""

SHUFFLE_SEED = 0
"""The fixed order of the digits the lineage and release-gate steps share."""


def _next_tags(store: Store, n: int) -> list[str]:
    """The first ``n`` tags v1, v2, ... not yet taken in ``store``."""
    taken = {r["tag"] for r in store.versions()}
    out: list[str] = []
    i = 1
    while len(out) < n:
        if f"v{i}" not in taken:
            out.append(f"v{i}")
        i += 1
    return out


def run_lineage_demo(
    workdir: Path, echo: Callable[[str], None] = print, store: Store | None = None, committer_key: Path | None = None
) -> dict:
    """Build the signing-at-source scenario in ``workdir`` and return the facts it showed.

    Uses the store at ``workdir`` (or ``store``), creating one if there is none; files go
    under ``workdir/lineage/``.
    """
    workdir = Path(workdir).resolve()
    if store is None:
        try:
            store = Store(find_store(workdir)) if (workdir / ".prov" / "prov.db").is_file() else Store.init(workdir)
        except InputError:
            store = Store.init(workdir)
    here = workdir / "lineage"
    if here.exists():
        shutil.rmtree(here)
    here.mkdir(parents=True)
    rel = lambda p: Path(p).relative_to(workdir).as_posix()  # noqa: E731
    facts: dict = {}

    table = digits(SHUFFLE_SEED).slice(0, LINEAGE_ROWS)
    n_vendor = 600
    vendor_path, crowd_path = here / "vendor-batch.parquet", here / "crowd-batch.parquet"
    pq.write_table(table.slice(0, n_vendor), vendor_path)
    pq.write_table(table.slice(n_vendor), crowd_path)
    echo(
        f"\nSigning at source: a vendor ships {n_vendor} digits signed; a crowd platform ships "
        f"{table.num_rows - n_vendor} unsigned."
    )

    vendor_key = keys.generate(here / "vendor")
    echo(f"$ prov keys generate vendor            # at the vendor, key id {vendor_key.keyid[:16]}…")
    signed = batch_sign.sign_batch(DatasetSpec(str(vendor_path)), "vendor", vendor_key.private_path)
    echo(f"$ prov sign {rel(vendor_path)} --source vendor --key vendor.key")
    echo(
        f"  wrote {rel(signed.envelope)}: DSSE envelope, Merkle root {signed.merkle_root[:16]}…, "
        f"{signed.records} records, no store needed"
    )

    maintainer = workdir / "maintainer.key"
    signer = maintainer if maintainer.exists() else None
    entry = trust.add_key(store, "vendor", vendor_key.public_path, signer=signer, unsigned=signer is None)
    echo(
        f"$ prov trust add vendor {rel(vendor_key.public_path)} --key maintainer.key\n"
        f"  trusted key {entry.keyid[:16]} for 'vendor', the entry signed by the maintainer"
    )
    check = batches.check_batch(store, DatasetSpec(str(vendor_path)))
    echo(f"$ prov verify {rel(vendor_path)}")  # then the command's own words, as for every verify below
    echo(quoted(batch_lines(rel(vendor_path), check.report(), pins_of(store).describe())))

    # In transit, one pixel of one record changes: verify names the record.
    tampered = here / "vendor-batch-in-transit.parquet"
    t = table.slice(0, n_vendor)
    px = t.column("px20").to_numpy().copy()
    px[42] += 3
    pq.write_table(t.set_column(t.schema.get_field_index("px20"), "px20", pa.array(px)), tampered)
    echo(f"$ prov verify {rel(tampered)} --envelope {rel(signed.envelope)}   # one pixel changed in transit")
    try:
        batches.check_batch(store, DatasetSpec(str(tampered)), signed.envelope)
        raise RuntimeError("lineage demo: a changed record was not detected")  # would be a bug in prov
    except VerificationError as exc:
        echo(f"  exit 1: {exc.details[0] if exc.details else exc}")
        facts["transit_tamper_detected"] = exc.details
    tampered.unlink()

    # run on its own (no maintainer key, nothing pinned), prov add checks against the store's keys only when asked
    unpinned = not pins_of(store).pinned
    added_vendor = register.add_batch(
        store, DatasetSpec(str(vendor_path)), "vendor", signed.envelope, store_keys=unpinned
    )
    echo(
        f"$ prov add {rel(vendor_path)} --source vendor --envelope {rel(signed.envelope)}"
        f"{' --store-keys' if unpinned else ''}\n"
        f"  batch {added_vendor.batch}: {added_vendor.records} records, signed"
    )
    added_crowd = register.add_batch(store, DatasetSpec(str(crowd_path)), "crowd", unsigned=True)
    echo(
        f"$ prov add {rel(crowd_path)} --source crowd --unsigned\n  batch {added_crowd.batch}: {added_crowd.records} records, UNSIGNED"
    )

    # The training set: both batches, with one vendor record relabeled downstream.
    victim = 17
    labels = table.column("label").to_pylist()
    old_label = labels[victim]
    labels[victim] = "8" if old_label != "8" else "3"
    train = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    train_path = here / "train.parquet"
    pq.write_table(train, train_path)
    key = Path(committer_key) if committer_key else workdir / "maintainer.key"
    if not key.exists():
        key = keys.generate(here / "owner").private_path
    tag, quarantined_tag = _next_tags(store, 2)
    result = versions.commit(store, DatasetSpec(str(train_path)), tag, str(key))
    lin = result.lineage or {}
    echo(f"\nRow {victim} (a vendor digit labeled {old_label}) is relabeled {labels[victim]} before training.")
    echo(f"$ prov commit {rel(train_path)} --tag {tag} --key {key.name}")
    echo(
        f"  {result.records} records: {lin.get('attested')} attested, {lin.get('relabeled_after_source')} "
        f"relabeled after source, {lin.get('unattributed')} unattributed (signed in the version)"
    )

    table_lineage = lineage.version_lineage(store, tag)
    relabeled = [r for r in lineage.lineage_json(table_lineage) if r["status"] == lineage.RELABELED]
    digest = relabeled[0]["digest"]
    info = queries.record_lineage(store, digest[:12])
    echo(f"$ prov lineage {digest[:12]}")
    for b in info["batches"]:
        echo(f"  batch {b['batch']} from '{b['source']}', signed by key {b['keyid'][:16]}, label {b['label']}")
    for v in info["versions"]:
        if v["present"]:
            echo(f"  {v['version']}: label {'/'.join(v['labels'])}, {v['status']}")
    summary = queries.source_summary(store, tag)
    echo("$ prov sources")
    for s in summary["sources"]:
        frac = f"{100 * s['signed_fraction']:.0f}%" if s["signed_fraction"] is not None else "-"
        echo(
            f"  {s['source']:<8} {s['records']:>5} records, {frac} signed, {s['attested']} attested, "
            f"{s['relabels']} relabeled after source, {s['unattributed']} unattributed"
        )

    q = quarantine_version(store, tag, quarantined_tag, str(key), source="crowd")
    echo(
        f"\nThe crowd platform turns out to be compromised:\n"
        f"$ prov quarantine --from {tag} --source crowd --tag {quarantined_tag} --key {key.name}"
    )
    echo(f"  {q.removed} records removed, {q.kept} kept; wrote {rel(q.output)}; {quarantined_tag} is signed")

    facts.update(
        {
            "lineage_version": tag,
            "records": result.records,
            "attested": lin.get("attested"),
            "relabeled_after_source": lin.get("relabeled_after_source"),
            "unattributed": lin.get("unattributed"),
            "relabeled_digest": digest,
            "relabeled_from": old_label,
            "relabeled_to": labels[victim],
            "vendor_batch": added_vendor.batch,
            "crowd_batch": added_crowd.batch,
            "sources": {
                s["source"]: {k: s[k] for k in ("records", "signed_fraction", "attested", "relabels", "unattributed")}
                for s in summary["sources"]
            },
            "quarantine": {"version": quarantined_tag, "removed": q.removed, "kept": q.kept, "output": q.output},
        }
    )
    return facts


def demo_step(store: Store, workdir: Path, echo: Callable[[str], None]) -> dict:
    """The lineage step of ``prov demo``, in its store: ``{"lineage": facts}``."""
    return {"lineage": run_lineage_demo(workdir, echo, store=store)}
