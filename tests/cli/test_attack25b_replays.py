"""Attack review 25b of nc25 (newcomer review 25): the replays, each run for real (real files, keys, store), each
asserting the fixed behaviour (fix25b)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys
from support import digits_table, ok, one_line, validate_output

PINNED = ("--signer", "maintainer.pub")


def _store(prov) -> None:
    ok(prov, "init")
    ok(prov, "keys", "generate", "maintainer")


def test_a25b_1_status_says_an_edited_file_is_the_data_an_older_version_signed(prov, workdir):
    """The README's own workflow: one file, edited and committed again (v1, v2 from train.parquet). Edited once
    more, `prov status train.parquet` says "train.parquet is the data v1 signed" -- it is not: v1 and v2 only
    signed that path; its records are neither's. data_of matches the signed *location*, not the records."""
    table = digits_table(400)
    pq.write_table(table.slice(0, 300), "train.parquet")
    _store(prov)
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v1", "--key", "maintainer.key", *PINNED)
    pq.write_table(table.slice(0, 340), "train.parquet")
    ok(prov, "-q", "commit", "train.parquet", "--tag", "v2", "--key", "maintainer.key", *PINNED)
    pq.write_table(table.slice(0, 380), "train.parquet")  # the next edit, not yet committed

    out = ok(prov, "status", "train.parquet", *PINNED)
    assert out.startswith("train.parquet: 40 added since v2"), out
    doc = json.loads(ok(prov, "status", "train.parquet", "--json", *PINNED))
    validate_output("status", doc)
    # the lie: v1 is named as the version whose data the file is, and the command offered does not say unchanged
    assert doc["data_of"] == [], doc["data_of"]
    assert "is the data v1 signed" not in out, out

    # a poisoner's label flip on the same file: every record relabeled 7, and still "the data v1 signed"
    flipped = table.slice(0, 340)
    labels = flipped.schema.get_field_index("label")
    flipped = flipped.set_column(labels, "label", pa.array([7] * 340).cast(flipped.schema.field("label").type))
    pq.write_table(flipped, "train.parquet")
    out = ok(prov, "status", "train.parquet", *PINNED)
    assert "relabeled since v2" in out.splitlines()[0], out
    assert "is the data v1 signed" not in out, out


def _revoked_vendor(prov) -> str:
    """A vendor's signed batch.parquet in a store whose maintainer trusted, then revoked (stolen), the vendor's key;
    its key id."""
    pq.write_table(digits_table(60), "batch.parquet")
    for name in ("maintainer", "vendor"):
        ok(prov, "keys", "generate", name)
    ok(prov, "sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "init")
    ok(prov, "trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", "--signer", "maintainer.pub")
    kid = keys.key_id(keys.load_public("vendor.pub"))
    revoke = ("trust", "revoke", "vendor", "--key-id", kid[:16], "--reason", "stolen", "--yes")
    ok(prov, *revoke, "--signer", "maintainer.pub")
    return kid


def test_a25b_2_verify_advice_to_leave_the_store_drops_a_revocation_the_store_holds(prov, workdir, monkeypatch):
    """The maintainer revoked the vendor's key (stolen) in the store. A user verifying the vendor's batch there with
    `--signer vendor.pub` is told, with no word of the revocation, to "run this prov verify from a folder with no
    .prov/ in it or above" -- where the batch then verifies "ok" under the revoked key alone. Advice prov prints must
    not lead around a revocation it can see: name the revocation, and give no leave-the-store advice for that key."""
    _revoked_vendor(prov)
    r = prov("verify", "batch.parquet", "--signer", "maintainer.pub")
    assert r.exit_code == 1 and "revoked" in one_line(r), r.output  # the maintainer's pins see it

    r = prov("verify", "batch.parquet", "--signer", "vendor.pub")
    line = one_line(r)
    assert r.exit_code == 1, r.output
    assert "revoked" in line and "stolen" in line, line
    assert "no .prov/" not in line, line  # no advice that leads around the revocation


def test_a25b_2_a_revocation_only_the_log_holds_still_takes_the_advice_away(prov, workdir):
    """A .prov/ writer clears the key's trust row (sqlite3, revoked_at NULL); the audit log's trust.revoke entry still
    revokes it: the refusal names that entry and gives no leave-the-store advice (fail closed on either)."""
    kid = _revoked_vendor(prov)
    with sqlite3.connect(Path(".prov") / "prov.db") as db:
        db.execute("UPDATE trust SET revoked_at = NULL, revoked_reason = NULL WHERE keyid = ?", (kid,))
    db.close()
    r = prov("verify", "batch.parquet", "--signer", "vendor.pub")
    line = one_line(r)
    assert r.exit_code == 1, r.output
    assert "its audit log revokes it" in line and '"stolen"' in line, line
    assert "no .prov/" not in line, line


def test_a25b_3_a_version_option_after_a_command_is_not_prov_own_option_to_move(prov, workdir):
    """`prov status`, `prov check` and `prov waive` take `--version V`; typed on a command that does not
    (`prov diff --version v1 v2`), the new hint says "--version is prov's own option: put it before the command,
    prov --version diff" -- which prints prov's program version and compares nothing. Only -q/-v are options that
    modify a command from before it."""
    pq.write_table(digits_table(300), "a.parquet")
    _store(prov)
    ok(prov, "-q", "commit", "a.parquet", "--tag", "v1", "--key", "maintainer.key", *PINNED)
    r = prov("diff", "--version", "v1", "v1")
    assert r.exit_code == 2, r.output
    assert "put it before the command, prov --version diff" not in one_line(r), one_line(r)


def test_a25b_4_data_of_names_a_planted_version_the_audit_log_never_held(prov, workdir, monkeypatch):
    """A .prov/ writer copies into this store a version row (and its objects) that the same maintainer key signed in
    another store. `prov status` picks its version by the hash-chained audit log (a version not in it is not the
    last one), but data_of reads every row of `versions`: "a.parquet is the data v9 signed" names a version this
    store's history never held. (Under --store-id it is left out, as verify leaves it out.)"""
    here = Path.cwd()
    table = digits_table(400)
    pq.write_table(table.slice(0, 300), "a.parquet")
    pq.write_table(table.slice(0, 340), "b.parquet")
    _store(prov)
    ok(prov, "-q", "commit", "a.parquet", "--tag", "v1", "--key", "maintainer.key", *PINNED)
    ok(prov, "-q", "commit", "b.parquet", "--tag", "v2", "--key", "maintainer.key", *PINNED)
    other = here.parent / f"{here.name}-other"
    other.mkdir()
    for name in ("a.parquet", "maintainer.key", "maintainer.pub"):
        (other / name).write_bytes((here / name).read_bytes())
    (other / "maintainer.key").chmod(0o600)
    monkeypatch.chdir(other)
    ok(prov, "init")
    ok(prov, "-q", "commit", "a.parquet", "--tag", "v9", "--key", "maintainer.key", *PINNED)
    monkeypatch.chdir(here)
    for obj in (other / ".prov" / "objects").rglob("*"):  # content-addressed: copying adds, never replaces
        target = here / ".prov" / "objects" / obj.relative_to(other / ".prov" / "objects")
        if obj.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            target.write_bytes(obj.read_bytes())
    with sqlite3.connect(here / ".prov" / "prov.db") as db:
        db.execute("ATTACH ? AS o", (str(other / ".prov" / "prov.db"),))
        db.execute("INSERT INTO versions SELECT * FROM o.versions WHERE tag = 'v9'")
        db.execute("UPDATE versions SET audit_seq = NULL WHERE tag = 'v9'")
    db.close()

    out = ok(prov, "status", "a.parquet", *PINNED)
    assert "since v2" in out.splitlines()[0], out  # the last version, by the audit log: not v9
    doc = json.loads(ok(prov, "status", "a.parquet", "--json", *PINNED))
    assert "v9" not in doc["data_of"], doc["data_of"]


def test_a25b_5_a_file_name_in_the_featuriser_advice_cannot_start_a_line(prov, workdir):
    """Whoever writes the data folder names its files. The new advice prints the probed file's path raw, a second
    time (the first, from `_named`, is older): a name holding a newline starts a line of its own in the commit's
    output ("ok: all good.txt; the image featuriser ..."). Paths are passed through `visible` by the caller."""
    for label in "ab":
        folder = workdir / "docs" / label
        folder.mkdir(parents=True)
        for i in range(10, 41):
            (folder / f"{i}\nok: all good.txt").write_text(f"word {label} {i}\n")
    _store(prov)
    out = ok(prov, "commit", "docs", "--tag", "t1", "--key", "maintainer.key", "--tree-reader", "files", *PINNED)
    assert "--featurizer text" in out, out
    assert not [line for line in out.splitlines() if line.startswith("ok: all good")], out


def test_a25b_6_held_data_of_leaves_out_a_version_of_an_unpinned_or_revoked_key(prov, workdir):
    """Held: a .prov/ writer's own key (registered in the store, not pinned) signs a version of a.parquet, and a
    stolen key, since revoked, signed v1: under the maintainer's pins neither is named as the version the file is."""
    table = digits_table(400)
    pq.write_table(table.slice(0, 300), "a.parquet")
    pq.write_table(table.slice(0, 340), "b.parquet")
    _store(prov)
    for name in ("stolen", "writer"):
        ok(prov, "keys", "generate", name)
    both = (*PINNED, "--signer", "stolen.pub")
    ok(prov, "-q", "commit", "a.parquet", "--tag", "v1", "--key", "stolen.key", *both)
    ok(prov, "-q", "commit", "b.parquet", "--tag", "v2", "--key", "maintainer.key", *both)
    ok(
        prov,
        "-q",
        "commit",
        "a.parquet",
        "--tag",
        "w1",
        "--parent",
        "v2",
        "--key",
        "writer.key",
        *both,
        "--signer",
        "writer.pub",
    )
    # w1's entry is under the writer's checkpoint only, a key these pins do not hold: a commit refuses to sign over
    # it (A26e-5), so the maintainer signs the log as it is first, knowingly; w1 itself still verifies under no pin
    ok(prov, "audit", "checkpoint", "--key", "maintainer.key", *both)
    ok(prov, "-q", "commit", "b.parquet", "--tag", "v3", "--parent", "v2", "--key", "maintainer.key", *both)
    doc = json.loads(ok(prov, "status", "a.parquet", "--version", "v3", "--json", *both))
    assert doc["data_of"] == ["v1"], doc["data_of"]  # the writer's w1 is not named: its key is not pinned
    ok(prov, "keys", "revoke", keys.key_id(keys.load_public("stolen.pub"))[:16], "--yes", "--reason", "stolen")
    doc = json.loads(ok(prov, "status", "a.parquet", "--version", "v3", "--json", *both))
    assert doc["data_of"] == [], doc["data_of"]  # nor v1 once its key is revoked


def test_a25b_7_the_leave_the_store_advice_does_not_hold_with_prov_store_set(prov, workdir, monkeypatch):
    """With $PROV_STORE set (a CI job's usual way to name the store), the advice "run this prov verify from a folder
    with no .prov/ in it or above", followed, gives the same error again: prov finds the store by the variable
    first (store.opening.find_store). The advice names the variable too (unset PROV_STORE), and only when it is set."""
    pq.write_table(digits_table(60), "batch.parquet")
    for name in ("maintainer", "vendor"):
        ok(prov, "keys", "generate", name)
    ok(prov, "sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key")
    ok(prov, "init")
    here = Path.cwd()
    monkeypatch.setenv("PROV_STORE", str(here))
    first = one_line(prov("verify", "batch.parquet", "--signer", "vendor.pub"))
    assert "unset PROV_STORE and run this prov verify from a folder with no .prov/ in it or above" in first, first
    elsewhere = here.parent / f"{here.name}-elsewhere"
    elsewhere.mkdir()
    monkeypatch.delenv("PROV_STORE")  # the whole advice, followed: the batch checks against its source's key alone
    monkeypatch.chdir(elsewhere)
    again = prov("verify", str(here / "batch.parquet"), "--signer", str(here / "vendor.pub"))
    monkeypatch.chdir(here)
    assert again.exit_code == 0, again.output
    assert "PROV_STORE" not in one_line(prov("verify", "batch.parquet", "--signer", "vendor.pub")), "only when set"
