"""Attack review 11b, R11-1: records a schema change re-keyed are paired with base records by content.

Pairing by locator let whoever writes the new table choose the pairs: retype one column, flip
labels and reorder the rows so each flipped record sits where the base had its new label, and
the diff counted no relabel; an honest retype written in another row order read as a thousand
relabels, and every clean schema change blocked (``duplicates`` flagged each record as a near
copy of its own base record). The new records are now re-encoded under the base's signed types
where the cast loses nothing, and matched by digest: a pair is unchanged or a relabel, whatever
row it sits at. A lossy cast, a varying added column, a removed column and data changed since
the commit do not pair by content.
"""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import check_rules, digits_table, ok

N = 600


def _set(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


def _retyped(table: pa.Table, columns=("px63",), to=pa.float64()) -> pa.Table:
    for c in columns:
        table = _set(table, c, table.column(c).cast(to))
    return table


def _swapped(table: pa.Table, k: int = 10) -> tuple[pa.Table, np.ndarray]:
    """Swap labels 3 <-> 8 on ``k`` records each (class counts unchanged), then reorder rows so every
    record sits where the base had the label it now carries (attack review 11b's r1 world)."""
    lab = np.array(table.column("label").to_pylist(), dtype=object)
    new = lab.copy()
    three, eight = np.flatnonzero(lab == "3")[:k], np.flatnonzero(lab == "8")[:k]
    new[three], new[eight] = "8", "3"
    perm = np.empty(len(lab), int)
    for c in np.unique(lab):
        perm[np.flatnonzero(lab == c)] = np.random.default_rng(2).permutation(np.flatnonzero(new == c))
    assert (new[perm] == lab).all()
    return _set(table, "label", pa.array(list(new))).take(pa.array(perm)), np.concatenate([three, eight])


def _store(prov, workdir, keypair, base: pa.Table, **candidates: pa.Table) -> tuple[str, ...]:
    pins = ("--signer", str(keypair.public_path))
    key = str(keypair.private_path)
    pq.write_table(base, workdir / "base.parquet")
    assert prov("init").exit_code == 0
    ok(prov, "commit", "base.parquet", "--tag", "base", "--key", key, *pins)
    for tag, table in candidates.items():
        pq.write_table(table, workdir / f"{tag}.parquet")
        ok(prov, "commit", f"{tag}.parquet", "--tag", tag, "--parent", "base", "--key", key, *pins)
    return pins


def _summary(prov, tag: str, pins) -> dict:
    return json.loads(ok(prov, "diff", "base", tag, "--json", *pins))["summary"]


def test_a_retype_with_reordered_rows_no_longer_hides_label_swaps(prov, workdir, keypair):
    """The attack: px63 int64 -> double, 20 labels swapped, rows reordered. The diff counted relabeled 0
    (and rekeyed_relabeled 0); the swaps are now 20 relabels found by content, scored as relabels."""
    base = digits_table(N)
    attack, swapped = _swapped(_retyped(base))
    pins = _store(prov, workdir, keypair, base, attack=attack)
    s = _summary(prov, "attack", pins)
    assert s["rekeyed_by"] == "content" and s["rekeyed"] == N
    assert s["relabeled"] == 20 and s["rekeyed_relabeled"] == 20  # was 0 and 0
    assert s["added"] == 0 and s["removed"] == 0 and s["unchanged"] == N - 20
    detected = json.loads(ok(prov, "diff", "base", "attack", "--detect", "--json", *pins))
    assert detected["detection"]["scored"] == 20  # the swaps, not 600 "new" records
    swapped_digests = {
        f["digest"] for f in detected["findings"] if f.get("old_label") in ("3", "8") and f["label"] in ("3", "8")
    }
    assert len(swapped_digests) == 20
    text = " ".join(ok(prov, "diff", "base", "attack", *pins).split())
    assert "paired with its base record by content" in text and "20 relabeled" in text


def test_an_honest_retype_in_another_row_order_is_unchanged_and_passes(prov, workdir, keypair):
    """Was: ~90% of records counted as relabels by the locator pairing, and the check blocked on 600
    near copies. Now: 600 unchanged, nothing to score, the check passes, naming the schema change."""
    base = digits_table(N)
    shuffled = _retyped(base).take(pa.array(np.random.default_rng(3).permutation(N)))
    pins = _store(prov, workdir, keypair, base, clean=shuffled)
    s = _summary(prov, "clean", pins)
    assert (s["rekeyed"], s["rekeyed_relabeled"], s["relabeled"], s["added"], s["removed"]) == (N, 0, 0, 0, 0)
    r = prov("check", "clean", "--base", "base", *pins)
    assert r.exit_code == 0, r.output
    words = " ".join(r.output.split())
    assert "column 'px63' changed type: int64 -> double" in words and f"{N} unchanged" in words


def test_a_lossy_cast_does_not_pair(prov, workdir, keypair):
    """px10 int64 -> double with 0.4 added to 15 records: truncated back they would equal their base
    records, but 0.4 is no integer, so those 15 are new content (added, scored) and the rest pair."""
    base = digits_table(N)
    lossy = _retyped(base, ("px10",))
    px = np.asarray(lossy.column("px10")).copy()
    px[:15] += 0.4
    lossy = _set(lossy, "px10", pa.array(px))
    pins = _store(prov, workdir, keypair, base, lossy=lossy)
    s = _summary(prov, "lossy", pins)
    assert s["rekeyed_by"] == "content" and s["rekeyed"] == N - 15
    assert s["added"] == 15 and s["removed"] == 15


@pytest.mark.parametrize("column", ["constant", "varying", "removed"])
def test_added_and_removed_columns(prov, workdir, keypair, column):
    """A constant added column is left out (the records pair by content), and a removed one leaves the columns
    both sides share, on which each record pairs with its base record (newcomer review 32); a varying added
    column could carry a trigger: those pair by locator, say why, and stay scored."""
    base = digits_table(N)
    if column == "constant":
        new = base.append_column("split", pa.array(["train"] * N))
    elif column == "varying":
        new = base.append_column("brightness", pa.array(np.arange(N) % 7))
    else:
        new = base.drop_columns(["px00"])
    pins = _store(prov, workdir, keypair, base, new=new)
    s = _summary(prov, "new", pins)
    assert s["rekeyed"] == N
    if column != "varying":
        assert s["rekeyed_by"] == "content" and s["unchanged"] == N and s["rekeyed_note"] is None
        assert s["added"] == s["removed"] == 0
    else:
        assert s["rekeyed_by"] == "locator" and "re-encodes without loss" in s["rekeyed_note"]


def test_a_renamed_column_with_reordered_rows_no_longer_hides_label_swaps(prov, workdir, keypair):
    """Attack review 12, R12-1: px07 renamed to pixel_7 (same signed type), 20 labels swapped, rows reordered:
    the records paired by locator and the diff counted no relabel. A one-to-one rename is now read under the
    base's name, so the swaps are 20 relabels found by content; two same-typed renames cannot be told apart
    and still pair by locator, saying which column is gone."""
    base = digits_table(N)
    attack, _ = _swapped(base.rename_columns(["pixel_7" if c == "px07" else c for c in base.column_names]))
    ambiguous = base.rename_columns([{"px07": "a", "px08": "b"}.get(c, c) for c in base.column_names])
    pins = _store(prov, workdir, keypair, base, attack=attack, ambiguous=ambiguous)
    s = _summary(prov, "attack", pins)
    assert s["rekeyed_by"] == "content" and s["rekeyed"] == N  # was "locator"
    assert s["relabeled"] == 20 and s["added"] == 0 and s["unchanged"] == N - 20  # was relabeled 0
    s = _summary(prov, "ambiguous", pins)
    assert s["rekeyed_by"] == "locator" and "column 'px07' removed" in s["rekeyed_note"]


def test_data_changed_since_the_commit_fails_the_diff(prov, workdir, keypair):
    """The new records are re-read from where the version signed its data and re-hashed first: a data file
    rewritten after the commit (its swaps undone) is tampering, exit 1 naming it, not a reason to fall back
    to the locator pairing, whose count a reorder hides relabels from (attack review 12, R12-2)."""
    base = digits_table(N)
    attack, _ = _swapped(_retyped(base))
    pins = _store(prov, workdir, keypair, base, attack=attack)
    pq.write_table(_retyped(base), workdir / "attack.parquet")
    r = prov("diff", "base", "attack", "--json", *pins)
    assert r.exit_code == 1 and "differ from the signed manifest" in r.stderr, r.output


def test_a_dtype_change_of_signed_data_blocks_and_says_why(prov, template_trust, workdir):
    """Newcomer review 11, finding 9: the team's ETL casts every pixel column int64 -> float. The records
    pair with v2's by content (unchanged), but their digests match no batch the vendor signed, so
    lineage still blocks; the reason names the cast and says to keep the signed types, not
    withdraw/quarantine. The diff groups the 64 retypes on one line."""
    pins = ("--signer", "maintainer.pub")
    v2 = pq.read_table("v2.parquet")
    pq.write_table(_retyped(v2, [c for c in v2.column_names if c.startswith("px")], pa.float32()), "f32.parquet")
    out = " ".join(
        ok(prov, "commit", "f32.parquet", "--tag", "f32", "--parent", "v2", "--key", "maintainer.key", *pins).split()
    )
    # the commit says why its records match no signed batch (it said only "0 attested ... 1600 unattributed")
    assert "1600 unattributed: signed batch vendor@" in out, out
    assert "64 columns changed type int64 -> float: 'px00', 'px01', 'px02' and 61 more" in out
    assert "keep the signed types" in out
    diff = " ".join(ok(prov, "diff", "v2", "f32", *pins).split())
    assert "schema change: 64 columns changed type int64 -> float: 'px00', 'px01'" in diff
    assert diff.count("schema change:") == 1
    rule = check_rules(prov, "f32", "v2", *pins)["lineage.unattributed_beside_signed"]
    assert rule["status"] == "block"
    # v1's 1000 records, unattributed in v2 too, are no additions (newcomer review 16, finding 2): the vendor's 600 are
    assert rule["count"] == 600 and rule["reason"].startswith(
        "600 records of v2 re-keyed by a schema change (64 columns changed"
    )
    assert "type int64 -> float" in rule["reason"]
    assert "Keep the signed types" in rule["reason"] and "edited and re-declared" not in rule["reason"]


@pytest.mark.parametrize("how", ["deleted", "truncated", "column dropped"])
def test_data_gone_or_unreadable_fails_the_diff(prov, workdir, keypair, how):
    """Data that is gone (deleted, moved, never fetched), truncated or missing a signed column cannot be
    re-read to pair by content: the diff cannot evaluate (exit 3) or finds the data changed (exit 1),
    naming the file; it does not fall back to the locator pairing, which counted the 20 swaps as 0
    relabels, exit 0, "nothing flagged" (attack review 13, R13-1)."""
    base = digits_table(N)
    attack, _ = _swapped(_retyped(base))
    pins = _store(prov, workdir, keypair, base, attack=attack)
    path = workdir / "attack.parquet"
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        pq.write_table(attack.drop_columns(["px01"]), path)
    r = prov("diff", "base", "attack", "--json", *pins)
    assert r.exit_code == (1 if how == "column dropped" else 3), r.output
    assert "attack.parquet" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
