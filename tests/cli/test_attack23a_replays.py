"""Attack review 23a: replays of what went wrong in this session's changes (nc23, review23). Each failed on the code it
attacked (xfail(strict=True) with the finding); fix23a fixed them, and each now asserts the fixed behaviour."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from support import digits_table, plant_findings, plant_pending_entry, succeeded

PINNED = ("--signer", "maintainer.pub")


def test_log_warns_under_a_release_after_keys_revoke_of_the_trust_signer_as_show_does(prov, workdir):
    """The vendor's trust entry is signed by ``other``, a second maintainer key of this store; v2 (v1 + the vendor's
    signed batch) is committed and released by ``maintainer``. ``other`` is stolen and revoked with ``prov keys
    revoke``: the trust entry no longer counts, so the vendor's 200 records of the release are no longer attested.
    ``prov show v2`` carries the warning line under the release; ``prov log`` must too (README: after ``prov trust
    revoke`` or ``prov keys revoke``, 'a release of such a version carries a line under it in show and log')."""
    t = digits_table(1000)
    pq.write_table(t.slice(0, 800), "v1.parquet")
    pq.write_table(t.slice(800), "batch.parquet")
    pq.write_table(t, "v2.parquet")
    for name in ("maintainer", "vendor", "other"):
        succeeded(prov, "keys", "generate", name)
    both = ("--signer", "maintainer.pub", "--signer", "other.pub")
    succeeded(prov, "sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key")
    succeeded(prov, "init")
    succeeded(prov, "keys", "register", "other.pub", "--name", "other", *both)
    succeeded(prov, "trust", "add", "vendor", "vendor.pub", "--key", "other.key", *both)
    succeeded(prov, "add", "batch.parquet", "--source", "vendor", *both)
    for tag in ("v1", "v2"):
        succeeded(prov, "commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", *both)
    succeeded(prov, "check", "v2", "--base", "v1", "--base-unreleased", "--attest", "--key", "maintainer.key", *both)
    other = keys.key_id(keys.load_public("other.pub"))
    succeeded(prov, "keys", "revoke", other[:16], "--reason", "stolen", "--yes",
              "--checkpoint-key", "maintainer.key", "--out", "kept.json", *both)  # fmt: skip

    shown = json.loads(succeeded(prov, "show", "v2", "--json", *both).stdout)["attestations"]
    assert [a["verified"] for a in shown] == [True] and shown[0]["warning"], shown  # show: warned
    logged = json.loads(succeeded(prov, "log", "--json", *both).stdout)["versions"]
    item = next(r for r in logged if r["tag"] == "v2")["attestations"][0]
    assert item["verified"] and item["warning"] == shown[0]["warning"], item
    text = succeeded(prov, "log", *both).stdout
    assert "warning: 200 records of this release are no longer attested" in text, text


def test_trust_list_and_sources_show_every_revocation_entry_after_one_planted_after_a_pending_revocation(
    prov, template_trust, workdir
):
    """The maintainer revokes the vendor's key without ``--checkpoint-key`` (``PROV_KEY`` unset: the entry is
    pending, as ``prov trust list`` says). A ``.prov/`` writer appends a second ``trust.revoke`` entry of the key,
    chain-valid, with his own reason ('rotated as planned; its batches stay good'). The maintainer's next signing
    write (``prov audit checkpoint``, or any command run with a key) signs a head over both. README: the lists show
    'the revocation made again over a planted pending entry, not the planter's text, nor that of one planted after
    it'."""
    vendor = keys.key_id(keys.load_public("vendor.pub"))
    db_path = workdir / ".prov" / "prov.db"
    succeeded(prov, "trust", "revoke", "vendor", "--key-id", vendor, "--reason", "laptop stolen", "--yes", *PINNED)
    pending = succeeded(prov, "sources", *PINNED).stdout  # the warning marks a pending entry, not states it as fact
    assert "(laptop stolen); log entry pending, no checkpoint you pin covers it" in pending, pending
    plant_pending_entry(db_path, "trust.revoke", "vendor", {
        "keyid": vendor, "reason": "rotated as planned; its batches stay good",
        "revoked_at": "2026-01-01T00:00:00+00:00"})  # fmt: skip
    succeeded(prov, "audit", "checkpoint", "--key", "maintainer.key", *PINNED)

    rows = json.loads(succeeded(prov, "trust", "list", "--json", *PINNED).stdout)["keys"]
    row = next(r for r in rows if r["keyid"] == vendor)
    assert row["revocation_signed"] is True
    assert row["revoked_reason"] == "laptop stolen", row
    # fixed: not a pick of the "true" one (which cannot be told), but every entry, in log order, none pending now
    entries = [(e["reason"], e["pending"]) for e in row["revocation_entries"]]
    assert entries == [("laptop stolen", False), ("rotated as planned; its batches stay good", False)], entries
    several = "the log holds 2 revocation entries of this key, which carry no signature of their own: "
    line = next(x for x in succeeded(prov, "trust", "list", *PINNED).stdout.splitlines() if vendor[:16] in x)
    assert several in line and '"laptop stolen", 2026-01-01T00:00:00+00:00 "rotated as planned;' in line, line
    sources = " ".join(succeeded(prov, "sources", *PINNED).stdout.split())
    assert "(laptop stolen)" in sources and several in sources and '"rotated as planned;' in sources, sources


def test_the_sample_of_added_records_escapes_a_hostile_label_and_json_keeps_it_exact(prov, workdir):
    """What held (kept as a guard): a data source's label carrying an OSC title sequence and a screen clear, and a
    class name given with control characters, are escaped in the sample's text and in the error's class list; the
    JSON keeps the label exact; a --sample below 1 is exit 2."""
    t = digits_table(600)
    hostile = "7\x1b]0;pwned\x07\x1b[2J"
    labels = [hostile if v == "7" else v for v in t.column("label").to_pylist()]
    t = t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels))
    pq.write_table(t.slice(0, 400), "v1.parquet")
    pq.write_table(t, "v2.parquet")
    succeeded(prov, "keys", "generate", "maintainer")
    succeeded(prov, "init")
    for tag in ("v1", "v2"):
        succeeded(prov, "commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", *PINNED)
    r = succeeded(prov, "diff", "v1", "v2", "--class", hostile, "--sample", "2", *PINNED)
    assert "\x1b" not in r.output and "\x07" not in r.output, repr(r.output)
    assert "7\\x1b]0;pwned\\x07\\x1b[2J" in r.stdout, r.stdout
    sample = json.loads(succeeded(prov, "diff", "v1", "v2", "--class", hostile, "--format", "json", *PINNED).stdout)
    assert {s["label"] for s in sample["sample"]} == {hostile} and sample["added"] == labels[400:].count(hostile)
    r = prov("diff", "v1", "v2", "--class", "\x1b[31mnope", *PINNED)
    assert r.exit_code == 2 and "\x1b" not in r.output, repr(r.output)
    r = prov("diff", "v1", "v2", "--class", "1", "--sample", "-5", *PINNED)
    assert r.exit_code == 2 and "--sample -5" in r.output, r.output


def test_a_source_cannot_choose_which_of_its_added_records_the_class_sample_shows(
    prov, workdir, tmp_path_factory, monkeypatch
):
    """A source adds 40 records of class 3: 20 genuine (decoys) and 20 with a trigger patch (px63 = 16, a backdoor
    on class 3). Before delivering it computes each record's digest (SHA-256 of its content, which any copy of prov
    shows: here a scratch store's own sample) over 17 variants of an always-blank pixel (px00 = 0..16) and keeps,
    per record, the variant with the smallest digest for a decoy and the largest for a patched one. ``prov diff v1
    v2 --class 3`` (default sample 20) listed exactly the 20 decoys under digest order; drawn by v2's signed
    sample salt (made at its commit, after delivery) it shows some of the patched ones."""
    t = digits_table(1000)
    labels = t.column("label").to_pylist()
    threes = [i for i in range(800, 1000) if labels[i] == "3"][:20]
    others = [i for i in range(800, 1000) if labels[i] != "3"][:20]
    v1 = t.slice(0, 800)
    decoys = t.take(threes)
    patched = t.take(others)
    patched = patched.set_column(patched.schema.get_field_index("px63"), "px63", pa.array([16] * 20, pa.int64()))
    patched = patched.set_column(patched.schema.get_field_index("label"), "label", pa.array(["3"] * 20))
    wanted = pa.concat_tables([decoys, patched])

    def with_px00(table: pa.Table, values: list[int]) -> pa.Table:
        return table.set_column(0, "px00", pa.array(values, pa.int64()))

    # the source's grinding, with prov itself in a scratch folder: every variant of every record, and its digest
    scratch = tmp_path_factory.mktemp("grind")
    variants = pa.concat_tables([with_px00(wanted, [v] * wanted.num_rows) for v in range(17)])
    pq.write_table(v1, scratch / "v1.parquet")
    pq.write_table(pa.concat_tables([v1, variants]), scratch / "cand.parquet")
    succeeded(prov, "keys", "generate", "maintainer")
    for name in ("maintainer.key", "maintainer.pub"):
        shutil.copy2(workdir / name, scratch / name)
    monkeypatch.chdir(scratch)
    succeeded(prov, "init")
    for tag in ("v1", "cand"):
        succeeded(prov, "commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", *PINNED)
    listed = json.loads(succeeded(prov, "diff", "v1", "cand", "--class", "3", "--sample", "1000", "--format",
                                  "json", *PINNED).stdout)["sample"]  # fmt: skip
    monkeypatch.chdir(workdir)
    digest_at = {int(r["locator"]) - 800: r["digest"] for r in listed}  # row in variants -> digest
    n = wanted.num_rows
    chosen = []
    for i in range(n):
        options = sorted((digest_at[v * n + i], v) for v in range(17))
        chosen.append((options[0] if i < 20 else options[-1])[1])  # decoys smallest, patched largest
    delivered = with_px00(wanted, chosen)
    decoy_digests = {digest_at[chosen[i] * n + i] for i in range(20)}

    pq.write_table(v1, "v1.parquet")
    pq.write_table(pa.concat_tables([v1, delivered]), "v2.parquet")
    succeeded(prov, "init")
    for tag in ("v1", "v2"):
        succeeded(prov, "commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", *PINNED)
    sample = json.loads(succeeded(prov, "diff", "v1", "v2", "--class", "3", "--format", "json", *PINNED).stdout)
    assert sample["added"] == 40, sample["added"]
    shown = {r["digest"] for r in sample["sample"]}
    assert len(shown) == 20
    assert shown != decoy_digests, "the sample shows only the source's decoys: none of its 20 patched records"
    assert sample["order"] == "salted", sample["order"]


def test_findings_detector_lists_a_planted_findings_object_whose_entry_lacks_flagged_not_a_crash(
    prov, template_trust, workdir
):
    """A ``.prov/`` writer copies the newest run's findings object, drops ``flagged`` and ``score`` from one record's
    ``knn_label`` entry, stores it under its own SHA-256 and appends a chain-valid pending ``detect`` entry naming
    it (no key needed). ``prov findings v2`` and ``--all`` list it; ``--detector knn_label`` must too, or refuse it
    as bad input (exit 2 naming the findings object), never exit 3."""
    succeeded(prov, "diff", "v1", "v2", "--detect", *PINNED)
    plant_findings(workdir, "v2", lambda d: d["findings"][0].update(detectors=[{"detector": "knn_label"}]))
    # fix23a listed it; since fix32g (A32c-4) the stored run's shape is checked first: every form refuses it alike,
    # exit 1 naming the run, never exit 3
    for extra in ((), ("--all",), ("--detector", "knn_label"), ("--detector", "knn_label", "--all", "--json")):
        r = prov("findings", "v2", *extra, *PINNED)
        assert r.exit_code == 1 and "internal error" not in r.output, (extra, r.output)
        assert "the stored run is not what prov stores" in r.output, (extra, r.output[-300:])


def test_a_blob_in_an_audit_entrys_subject_is_a_malformed_entry_not_an_internal_error(prov, template_trust, workdir):
    """A ``.prov/`` writer retypes the subject of the newest audit entry with ``cast(subject as blob)``: the bytes are
    the same, the type is not text. Every command that walks the chain must call the entry malformed (exit 1, as
    for a BLOB action), not crash."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        db.execute("update audit set subject = cast(subject as blob) where seq = (select max(seq) from audit)")
    for command in (("audit", "verify"), ("trust", "list"), ("log",)):
        r = prov(*command, *PINNED)
        assert "internal error" not in r.output and r.exit_code != 3, (command, r.output)
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        (last,) = db.execute("select max(seq) from audit").fetchone()
    r = prov("audit", "verify", *PINNED)
    assert r.exit_code == 1 and f"entry {last} is malformed" in r.output, r.output


def test_keys_list_shows_every_revocation_entry_after_one_planted_before_it(prov, template_trust, workdir):
    """A ``.prov/`` writer appends a pending ``key.revoke`` entry of the maintainer key ``other`` with his own reason
    and an old time; the maintainer revokes ``other`` (as ``prov keys list`` then advises for a pending entry),
    with ``--checkpoint-key``, which signs a head over both. ``prov keys list`` must show the maintainer's reason."""
    succeeded(prov, "keys", "generate", "other")
    succeeded(prov, "keys", "register", "other.pub", "--name", "other", *PINNED)
    other = keys.key_id(keys.load_public("other.pub"))
    plant_pending_entry(workdir / ".prov" / "prov.db", "key.revoke", other, {
        "name": "other", "reason": "planned rotation, harmless", "revoked_at": "2026-01-01T00:00:00+00:00"})  # fmt: skip
    succeeded(prov, "keys", "revoke", other[:16], "--reason", "stolen", "--checkpoint-key", "maintainer.key",
              "--out", "kept.json", *PINNED)  # fmt: skip
    row = next(k for k in json.loads(succeeded(prov, "keys", "list", "--json").stdout)["keys"] if k["keyid"] == other)
    # fixed: both entries, log order, the planter's not passed off as the only one (keys list takes no pins: no
    # pending mark)
    entries = [(e["reason"], e["pending"]) for e in row["revocation_entries"]]
    assert entries == [("planned rotation, harmless", None), ("stolen", None)], entries
    assert row["revocation_entries"][1]["revoked_at"] != "2026-01-01T00:00:00+00:00"
    line = next(x for x in succeeded(prov, "keys", "list").stdout.splitlines() if x.startswith(other[:16]))
    assert "the log holds 2 revocation entries of this key" in line and '"stolen"' in line, line
