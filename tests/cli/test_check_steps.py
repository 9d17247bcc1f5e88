"""A check over several signed versions judges each version's delivery on its own (``detectors.combined``'s
``step_budget``, ``provenance.gate.steps``).

Attack review 13, G13-1, replayed: a daily pipeline commits v1 (800 clean digits), v2 (a delivery of 200
with 30 flipped labels, which ``prov check v2 --base v1`` blocks), then v3 and v4 (clean deliveries of 380
and 417) on top of it. ``prov check v4 --base v1 --attest`` judged the whole delta with one flag budget,
which the clean deliveries widened, and released v2's flips. Real Parquet files, a real key, a real store.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from provenance import keys
from support import build_template, digits_table, erase_last_version

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SIZES = {"v1": 800, "v2": 200, "v3": 380, "v4": 417}  # v1's records, then each delivery's


def plausible_flips(table: pa.Table, n_base: int, delivery: range, count: int) -> dict[int, str]:
    """``count`` label flips in ``delivery`` (row numbers) that a reviewer would not spot at a glance: each
    record's 40 nearest base records (squared distance in pixels) hold another label, and the flip is to
    the most common such label (ties to the smallest). Records ranked by how many of those neighbours
    disagree; ranks 80 to 80 + count are taken: flagged often enough to block on their own, never so
    plainly that ``detectors.extreme`` blocks them whatever the budget."""
    pixels = np.stack([table.column(c).to_numpy() for c in table.column_names if c.startswith("px")], 1)
    labels = table.column("label").to_pylist()
    base = pixels[:n_base].astype(np.float64)
    ranked = []
    for i in delivery:
        nearest = np.argsort(((base - pixels[i]) ** 2).sum(1), kind="stable")[:40]
        other = Counter(labels[j] for j in nearest if labels[j] != labels[i])
        if other:
            most = max(other.values())
            ranked.append((sum(other.values()), i, min(lab for lab, c in other.items() if c == most)))
    ranked.sort(key=lambda x: (-x[0], -x[1]))
    return {i: label for _, i, label in ranked[80 : 80 + count]}


def build_daily(prov, folder: Path) -> dict:
    """v1..v4 as the module says, each version's data in its own folder, committed by maintainer.key."""
    table = digits_table()
    table = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    start = SIZES["v1"]
    flips = plausible_flips(table, start, range(start, start + SIZES["v2"]), 30)
    labels = table.column("label").to_pylist()
    labels = [flips.get(i, label) for i, label in enumerate(labels)]
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    keys.generate(folder / "maintainer")
    assert prov("init").exit_code == 0
    end = 0
    for tag, size in SIZES.items():
        end += size
        (folder / tag).mkdir()
        pq.write_table(table.slice(0, end), folder / tag / "digits.parquet")
        r = prov("-q", "commit", f"{tag}/digits.parquet", "--tag", tag, "--key", "maintainer.key",
                 "--signer", "maintainer.pub")  # fmt: skip
        assert r.exit_code == 0, r.output
    return {"flipped_rows": sorted(flips)}


@pytest.fixture(scope="session")
def template_daily(tmp_path_factory):
    return build_template(tmp_path_factory, "daily", build_daily, PROV_WORKERS="1")


def pinned(template, workdir: Path, monkeypatch) -> dict:
    """The template's facts, with maintainer.pub pinned and one worker, as each world's fixture sets them."""
    monkeypatch.setenv("PROV_SIGNERS", str(workdir / "maintainer.pub"))
    monkeypatch.setenv("PROV_WORKERS", "1")
    return dict(template.facts)


@pytest.fixture
def daily(template_daily, workdir, monkeypatch) -> dict:
    return pinned(template_daily, workdir, monkeypatch)


def check(prov, *args: str) -> tuple[int, dict[str, dict], dict]:
    """``prov check ... --format json``, valid under ``schemas/check.schema.json``: (exit code, rule name -> result,
    the report)."""
    r = prov("check", *args, "--format", "json")
    report = json.loads(r.stdout)
    Draft202012Validator(json.loads((SCHEMAS / "check.schema.json").read_text())).validate(report)
    return r.exit_code, {rule["rule"]: rule for rule in report["rules"]}, report


def day_2_blocks(prov, new: str, workdir: Path, flipped_rows: list[int]) -> tuple[dict, dict[str, dict]]:
    """Check v2 against v1 (it blocks), then ``new`` against v1 with ``--attest``: it blocks on ``step_budget``
    alone, writes no attestation, and names v2's flips; returns (``detectors.combined``'s result, step name -> row).
    """
    code, rules, _ = check(prov, "v2", "--base", "v1", "--no-save")
    assert code == 1 and rules["detectors.combined"]["status"] == "block"  # day 2: the delivery blocks

    code, rules, report = check(prov, new, "--base", "v1", "--attest", "--key", "maintainer.key")
    assert code == 1 and report["decision"] == "blocked" and not (workdir / f"{new}.attestation.json").exists()
    combined = rules["detectors.combined"]
    # the whole delta is within the budget the clean deliveries widened: that alone released v2 (G13-1, A14-6)
    assert combined["status"] == "block" and combined["statistic"]["blocked_by"] == ["step_budget"]
    assert combined["statistic"]["flagged"] <= combined["statistic"]["allowed"]
    judged = {s["version"]: s for s in combined["statistic"]["steps"]}
    assert judged["v2"]["blocked_by"] and not any(judged[t]["blocked_by"] for t in judged if t != "v2")
    assert judged["v2"]["n"] == SIZES["v2"] and judged["v2"]["flagged"] > judged["v2"]["allowed"]
    # the records it names are v2's delivery, each said to be added in v2, and its flips alone break the allowance
    assert combined["records"] and {r["added_in"] for r in combined["records"]} == {"v2"}
    rows = {f["digest"]: f["location"]["row"] for f in report["findings"]}  # new's data: v1's rows, then each day's
    named = {rows[r["digest"]] for r in combined["records"]}
    assert named <= set(range(SIZES["v1"], SIZES["v1"] + SIZES["v2"]))
    assert len(named & set(flipped_rows)) > judged["v2"]["allowed"]

    text = " ".join(prov("check", new, "--base", "v1", "--no-save").stdout.split())  # as wrapped at any width
    assert "Blocked by detectors.combined: " in text and " records added in v2 flagged, more than the " in text
    assert "prov check v2 --base v1" in text  # the delivery's own check, to see it judged on its own
    assert "--detector combined" in text  # a waiver of the combined verdict is the way through
    return combined, judged


def test_a_delivery_blocked_on_its_own_is_not_released_by_a_check_over_several_versions(prov, daily, workdir):
    combined, judged = day_2_blocks(prov, "v4", workdir, daily["flipped_rows"])
    assert combined["reason"].startswith("added in v2: ")
    assert list(judged) == ["v2", "v3", "v4"]
    assert [judged[t]["parent"] for t in judged] == ["v1", "v2", "v3"]
    assert all(step["in_history"] for step in judged.values())


def test_a_check_against_the_parent_is_one_step_and_reports_as_before(prov, daily):
    for new, base in (("v2", "v1"), ("v3", "v2")):
        code, rules, report = check(prov, new, "--base", base, "--no-save")
        statistic = rules["detectors.combined"]["statistic"]
        assert "steps" not in statistic and "step_budget" not in statistic["blocked_by"]
        assert "added_in" not in json.dumps(report)  # nothing of the per-step judgement in a one-step report
    assert code == 0 and report["decision"] in ("pass", "warned")


def test_clean_steps_pass_each_within_its_own_allowance(prov, daily):
    code, rules, _ = check(prov, "v4", "--base", "v2", "--no-save")
    assert code == 0, rules
    combined = rules["detectors.combined"]
    assert combined["status"] == "pass" and combined["records"] == []
    assert [s["version"] for s in combined["statistic"]["steps"]] == ["v3", "v4"]
    assert not any(s["blocked_by"] for s in combined["statistic"]["steps"])


# Attack review 14, A14-6: the same days, each candidate committed on top of the last release (--parent v1), so
# the candidate's signed history is one step and the blocked v2 is beside it, not in it.
REPARENTED = {"v2": "v1", "v3r": "v1", "v4r": "v1"}


def build_reparented(
    prov, folder: Path, flipped: int, plant: Callable[[str], None] | None = None, keep: bool = False
) -> dict:
    """v1 and v2 as in :func:`build_daily` (with ``flipped`` flips on day 2), then v3r (days 2-3) and v4r (days
    2-4), each committed with ``--parent v1``, as a pipeline that branches from its last release does.
    ``plant(tag)``, when given, runs before each commit after v1 (a ``.prov/`` writer's turn between the pipeline's runs),
    and the maintainer then signs the log as it is (``prov audit checkpoint``).
    ``keep``: each commit also writes its log state to ``TAG.checkpoint.json`` (``--checkpoint-out``), as CI keeps
    it outside the checkout."""
    table = digits_table()
    table = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    start = SIZES["v1"]
    flips = plausible_flips(table, start, range(start, start + SIZES["v2"]), flipped) if flipped else {}
    labels = [flips.get(i, label) for i, label in enumerate(table.column("label").to_pylist())]
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    keys.generate(folder / "maintainer")
    assert prov("init").exit_code == 0
    end = 0
    for tag, size in zip(("v1", *REPARENTED), SIZES.values()):
        end += size
        (folder / tag).mkdir()
        pq.write_table(table.slice(0, end), folder / tag / "digits.parquet")
        parent = ("--parent", REPARENTED[tag]) if tag in REPARENTED else ()
        kept = ("--checkpoint-out", f"{tag}.checkpoint.json") if keep else ()
        if plant is not None and tag != "v1":  # before v1 the log is empty
            plant(tag)
            # since attack review 26e's A26e-5 a commit refuses to sign a planted version entry: here the maintainer
            # signs the log without looking (prov audit checkpoint), so the gate still judges what a head covers
            assert prov("audit", "checkpoint", "--key", "maintainer.key", "--signer", "maintainer.pub").exit_code == 0
        r = prov("-q", "commit", f"{tag}/digits.parquet", "--tag", tag, *parent, "--key", "maintainer.key",
                 "--signer", "maintainer.pub", *kept)  # fmt: skip
        assert r.exit_code == 0, r.output
    return {"flipped_rows": sorted(flips)}


@pytest.fixture(scope="session")
def template_reparented(tmp_path_factory):
    return build_template(tmp_path_factory, "reparented", lambda p, f: build_reparented(p, f, 30), PROV_WORKERS="1")


@pytest.fixture(scope="session")
def template_reparented_clean(tmp_path_factory):
    return build_template(  # each commit's log state kept (it adds no audit entry: the commit signed it)
        tmp_path_factory, "reparented_clean", lambda p, f: build_reparented(p, f, 0, keep=True), PROV_WORKERS="1"
    )


@pytest.fixture
def reparented(template_reparented, workdir, monkeypatch) -> dict:
    return pinned(template_reparented, workdir, monkeypatch)


@pytest.fixture
def reparented_clean(template_reparented_clean, workdir, monkeypatch) -> dict:
    return pinned(template_reparented_clean, workdir, monkeypatch)


def test_a_blocked_delivery_committed_again_beside_it_is_judged_on_its_own(prov, reparented, workdir):
    # v4r's signed history is v1 -> v4r: one step, whose budget (29 of 997) the day-2 delivery fits inside
    combined, judged = day_2_blocks(prov, "v4r", workdir, reparented["flipped_rows"])
    assert combined["reason"].startswith("added in v2 (committed beside this history, from v1): ")
    assert list(judged) == ["v2", "v3r", "v4r"]  # in the order they were committed
    assert [(s["parent"], s["in_history"]) for s in judged.values()] == [("v1", False), ("v1", False), ("v1", True)]
    assert judged["v3r"]["n"] == SIZES["v2"] + SIZES["v3"]  # each delivery on all it brought in: they overlap


def test_a_delivery_beside_the_history_that_cannot_be_read_blocks(prov, reparented, workdir):
    """v2's manifest object deleted from ``.prov/``: its delivery cannot be judged, and the check fails closed."""
    import sqlite3

    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    (manifest,) = db.execute("select manifest_object from versions where tag = 'v2'").fetchone()
    db.close()
    (workdir / ".prov" / "objects" / f"{manifest}.parquet").unlink()
    code, rules, report = check(prov, "v4r", "--base", "v1", "--no-save")
    assert code == 1 and report["decision"] == "blocked"
    combined = rules["detectors.combined"]
    assert combined["status"] == "block" and f"manifest of v2 {manifest[:16]} is missing" in combined["reason"]


def test_clean_days_committed_beside_each_other_pass(prov, reparented_clean):
    """The honest pipeline: the same days with no flips, each candidate committed on top of v1."""
    for new in ("v3r", "v4r"):
        code, rules, _ = check(prov, new, "--base", "v1", "--no-save")
        assert code == 0, rules
        combined = rules["detectors.combined"]
        steps = combined["statistic"]["steps"]
        assert [s["in_history"] for s in steps] == [False] * (len(steps) - 1) + [True]
        assert combined["status"] == "pass" and not any(s["blocked_by"] for s in steps)


# Attack review 15b: the commit entries up to the candidate's signed head are a .prov/ writer's to extend before the
# candidate is committed (a hash chain needs no key). A version is committed once, so a second entry of a tag fails
# the check closed, whichever of the two was planted.


def plant_commit_entry(tag: str, detail: dict) -> None:
    """Append a ``commit`` entry for ``tag`` with prov's own code, correctly chained, as any ``.prov/`` writer may."""
    from provenance.store import Store

    writer = Store.open()
    with writer.write():
        writer.audit("commit", tag, detail)
    writer.close()


def commit_detail(tag: str) -> dict:
    """The detail of ``tag``'s (first) commit entry, as the store holds it."""
    import sqlite3

    db = sqlite3.connect(Path(".prov") / "prov.db")
    (detail,) = db.execute(
        "select detail from audit where action = 'commit' and subject = ? order by seq", [tag]
    ).fetchone()
    db.close()
    return json.loads(detail)


def commit_seqs(workdir: Path, tag: str) -> list[int]:
    import sqlite3

    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    seqs = [
        seq
        for (seq,) in db.execute("select seq from audit where action = 'commit' and subject = ? order by seq", [tag])
    ]
    db.close()
    return seqs


def plant_parentless_v2(tag: str) -> None:
    """Before the blocked day-2 delivery is committed, a commit entry for ``v2`` with no parent (v1's detail
    otherwise): taken as v2's, it took v2 out of v1's descendants, so v2 was never judged again (A15b-1)."""
    if tag == "v2":
        plant_commit_entry("v2", commit_detail("v1") | {"parent": None})


@pytest.fixture(scope="session")
def template_reparented_planted(tmp_path_factory):
    return build_template(
        tmp_path_factory,
        "reparented_planted",
        lambda p, f: build_reparented(p, f, 30, plant=plant_parentless_v2),
        PROV_WORKERS="1",
    )


@pytest.fixture
def reparented_planted(template_reparented_planted, workdir, monkeypatch) -> dict:
    return pinned(template_reparented_planted, workdir, monkeypatch)


NO_AUDIT = '[integrity]\nverify_signatures = false\nacknowledge_disabled = "replaying attack review 15b"\n'


def planted_twice(prov, workdir: Path, tag: str, *args: str) -> tuple[dict, dict]:
    """Check v4r against v1 (``args`` added) twice: as the default policy has it, then with ``integrity.verify_signatures``
    off (acknowledged, so a pass could be attested), so the deliveries' own judgement meets the plant. Each blocks and
    names ``tag``'s two commit entries as one planted, and neither writes an attestation. Returns each report's rules."""
    seqs = commit_seqs(workdir, tag)
    assert len(seqs) == 2
    entries = ", ".join(map(str, seqs))
    code, rules, report = check(prov, "v4r", "--base", "v1", *args)
    assert code == 1 and report["decision"] == "blocked", rules
    integrity = " ".join(rules["integrity.verify_signatures"]["reason"].split())
    assert integrity == (
        f"audit log is broken: version {tag} is committed by 2 audit entries (entries {entries}); a version is "
        "committed once, so one was not written by prov commit"
    )
    assert not (workdir / "v4r.attestation.json").exists()

    (workdir / "no-audit.toml").write_text(NO_AUDIT)
    code, unchecked, report = check(prov, "v4r", "--base", "v1", "--policy", "no-audit.toml", *args)
    assert code == 1 and report["decision"] == "blocked", unchecked
    combined = unchecked["detectors.combined"]
    assert combined["status"] == "block" and "step_budget" not in json.dumps(combined)
    assert " ".join(combined["reason"].split()) == (
        f"version {tag}: 2 commit entries of the audit log before v4r's signed head commit it (entries {entries}); a "
        "version is committed once, so one was planted and which versions were committed before it is unknown; run "
        "prov audit verify, and restore the store from a copy you trust"
    )
    assert not (workdir / "v4r.attestation.json").exists()
    return rules, unchecked


def test_a_planted_parentless_entry_before_a_blocked_delivery_fails_the_check_closed(prov, reparented_planted, workdir):
    """A15b-1: before, ``prov check v4r --base v1 --attest`` passed (exit 0) and wrote v4r.attestation.json, under
    either policy: v2's first commit entry named no parent, so v2 did not descend from v1 and was never judged."""
    planted_twice(prov, workdir, "v2", "--attest", "--key", "maintainer.key")
    r = prov("audit", "verify")  # the advice the check gives finds the plant
    assert r.exit_code == 1
    assert " ".join(r.output.split()).startswith("Error: audit log is broken: version v2 is committed by 2 audit")


def plant_flagged_rows_entry(prov, tag: str, as_tag: str) -> None:
    """Before v4r is committed (``tag``, the pipeline's next commit), a commit entry for ``as_tag`` naming parent v1
    and a manifest object of the few rows of v3r's delta that its own check flags."""
    import hashlib
    import io

    if tag != "v4r":
        return
    r = prov("check", "v3r", "--base", "v1", "--no-save", "--format", "json", "--signer", "maintainer.pub")
    flagged = {bytes.fromhex(f["digest"]) for f in json.loads(r.stdout)["findings"]}
    assert flagged
    detail = commit_detail("v3r")
    manifest = pq.read_table(Path(".prov") / "objects" / f"{detail['manifest']}.parquet")
    small = manifest.filter(pa.array([d in flagged for d in manifest.column("digest").to_pylist()]))
    out = io.BytesIO()
    pq.write_table(small, out)
    oid = hashlib.sha256(out.getvalue()).hexdigest()
    (Path(".prov") / "objects" / f"{oid}.parquet").write_bytes(out.getvalue())
    plant_commit_entry(as_tag, detail | {"manifest": oid})


def plant_small_copy_of_v3r(prov, tag: str) -> None:
    """A second commit entry for the signed v3r naming that small manifest: judged as a delivery of its own, it
    blocked an honest v4r (A15b-3)."""
    plant_flagged_rows_entry(prov, tag, "v3r")


@pytest.fixture(scope="session")
def template_reparented_clean_planted(tmp_path_factory):
    return build_template(
        tmp_path_factory,
        "reparented_clean_planted",
        lambda p, f: build_reparented(p, f, 0, plant=lambda tag: plant_small_copy_of_v3r(p, tag)),
        PROV_WORKERS="1",
    )


@pytest.fixture
def reparented_clean_planted(template_reparented_clean_planted, workdir, monkeypatch) -> dict:
    return pinned(template_reparented_clean_planted, workdir, monkeypatch)


def test_a_planted_copy_of_a_signed_versions_entry_is_named_not_judged_as_a_delivery(
    prov, reparented_clean_planted, workdir
):
    """A15b-3: before, the honest v4r was blocked by ``step_budget`` for a false reason ("added in v3r (committed
    beside this history, from v1): 4 of 5 flagged (at most 2)", the planted manifest judged as v3r's delivery)."""
    planted_twice(prov, workdir, "v3r", "--no-save")


def rechain_v2s_entry(tag: str, edit: Callable[[dict], dict]) -> None:
    """Before v3r is committed, v2's one commit entry is edited (``edit`` returns the entry changed) and the log
    re-chained from it (no key needed); the checkpoint v2's commit signed over it, which no longer matches, is
    deleted (its entries become pending). v3r's and v4r's signed heads then cover the edited entry."""
    import hashlib
    import sqlite3

    from provenance.store import audit

    if tag != "v3r":
        return
    db = sqlite3.connect(Path(".prov") / "prov.db")
    (seq,) = db.execute("select seq from audit where action = 'commit' and subject = 'v2'").fetchone()
    log = audit.entries(db)
    prev = log[seq - 2]["hash"]
    for entry in log[seq - 1 :]:
        if entry["seq"] == seq:
            entry = edit(entry)
        entry["prev_hash"] = prev
        prev = hashlib.sha256(audit.entry_bytes(entry)).hexdigest()
        db.execute(
            "update audit set action = ?, subject = ?, detail = ?, prev_hash = ?, hash = ? where seq = ?",
            [entry["action"], entry["subject"], entry["detail"], entry["prev_hash"], prev, entry["seq"]],
        )
    db.execute("delete from checkpoints where size >= ?", [seq])
    db.commit()
    db.close()


def with_detail(entry: dict, **changes: object) -> dict:
    detail = json.loads(entry["detail"]) | changes
    return entry | {"detail": json.dumps(detail, sort_keys=True, separators=(",", ":"))}


def edit_v2s_entry_to_no_parent(tag: str) -> None:
    """v2's one commit entry edited to name no parent (:func:`rechain_v2s_entry`)."""
    rechain_v2s_entry(tag, lambda entry: with_detail(entry, parent=None))


@pytest.fixture(scope="session")
def template_reparented_edited(tmp_path_factory):
    return build_template(
        tmp_path_factory,
        "reparented_edited",
        lambda p, f: build_reparented(p, f, 30, plant=edit_v2s_entry_to_no_parent),
        PROV_WORKERS="1",
    )


@pytest.fixture
def reparented_edited(template_reparented_edited, workdir, monkeypatch) -> dict:
    return pinned(template_reparented_edited, workdir, monkeypatch)


def test_an_edited_parent_in_a_blocked_deliverys_one_entry_fails_the_check_closed(prov, reparented_edited, workdir):
    """The same escape with no second entry: v2's own entry edited to name no parent. Before, ``prov audit verify``
    passed and ``prov check v4r --base v1 --attest`` passed (exit 0) and attested: nothing compared a commit entry
    with what its version signed."""
    (seq,) = commit_seqs(workdir, "v2")
    r = prov("audit", "verify")
    assert r.exit_code == 1
    broken = (
        f"audit log is broken: the commit entry of version v2 (entry {seq}) names another parent or manifest object "
        "than the version signed (edited, and the log re-chained after it)"
    )
    assert " ".join(r.output.split()) == f"Error: {broken}"
    code, rules, report = check(prov, "v4r", "--base", "v1", "--attest", "--key", "maintainer.key")
    assert code == 1 and report["decision"] == "blocked", rules
    assert " ".join(rules["integrity.verify_signatures"]["reason"].split()) == broken
    assert not (workdir / "v4r.attestation.json").exists()

    (workdir / "no-audit.toml").write_text(NO_AUDIT)
    code, rules, report = check(
        prov, "v4r", "--base", "v1", "--policy", "no-audit.toml", "--attest", "--key", "maintainer.key"
    )
    assert code == 1 and report["decision"] == "blocked", rules
    reason = " ".join(rules["detectors.combined"]["reason"].split())
    assert reason.startswith(
        f"version v2: its commit entry (audit entry {seq}, before v4r's signed head) names parent None and manifest "
    )
    assert ", but the version signed parent 'v1' and manifest " in reason and "the entry was edited" in reason
    assert not (workdir / "v4r.attestation.json").exists()


# Attack review 16, F3: with the integrity rule off, v2's one entry hidden rather than edited: renamed to a tag with
# no row (and no parent), or to another action. Each entry then named its own tag once and no entry named v2, so
# nothing compared v2 with an entry and ``prov check v4r --base v1 --attest`` passed and attested.
HIDDEN = {
    "renamed_tag": lambda entry: with_detail(entry, parent=None) | {"subject": "v2."},
    "renamed_action": lambda entry: entry | {"action": "note"},
}


@pytest.fixture(scope="session", params=sorted(HIDDEN))
def template_reparented_hidden(tmp_path_factory, request):
    shape = HIDDEN[request.param]
    return build_template(
        tmp_path_factory,
        f"reparented_hidden_{request.param}",
        lambda p, f: build_reparented(p, f, 30, plant=lambda tag: rechain_v2s_entry(tag, shape)),
        PROV_WORKERS="1",
    )


@pytest.fixture
def reparented_hidden(template_reparented_hidden, workdir, monkeypatch) -> dict:
    return pinned(template_reparented_hidden, workdir, monkeypatch)


def release_steps(prov, *args: str) -> list[str]:
    """The "To release:" lines of ``prov check ARGS``'s text report, rich's wrapping undone."""
    r = prov("check", *args, env={"COLUMNS": "200"})
    assert r.exit_code == 1 and "\nTo release:\n" in r.stdout, r.output
    block = r.stdout.split("\nTo release:\n", 1)[1].split("\nPolicy ", 1)[0]
    return [" ".join(step.split()) for step in re.split(r"(?:^|\n)\s*- ", block) if step.strip()]


def audit_step_first(prov, *args: str) -> None:
    """The integrity rule blocks on the audit log: "To release:" leads to ``prov audit verify`` (which names the
    break), not to ``prov verify V`` (which passes: v4r's signature is good)."""
    steps = release_steps(prov, *args)
    assert steps[0] == (
        "see where the audit log breaks: prov audit verify; restore .prov/ from a copy you trust (an entry planted, "
        "edited or deleted)"
    ), steps
    assert not any("prov verify" in step for step in steps), steps
    assert prov("verify", "v4r").exit_code == 0  # why the old advice was a dead end


def test_a_blocked_deliverys_one_entry_renamed_away_fails_the_check_closed(prov, reparented_hidden, workdir):
    """F3: before, with integrity off ``prov check v4r --base v1 --attest`` exited 0, judged only v3r and v4r and
    wrote v4r.attestation.json; v2 signed a head before v4r's, so it must have its one entry there."""
    import sqlite3

    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    (seq,) = db.execute("select audit_seq from versions where tag = 'v2'").fetchone()
    db.close()
    r = prov("audit", "verify")  # the advice the check gives finds the break
    broken = "audit log is broken: the commit entry of version v2 is missing"
    assert r.exit_code == 1 and " ".join(r.output.split()) == f"Error: {broken}"
    code, rules, report = check(prov, "v4r", "--base", "v1", "--attest", "--key", "maintainer.key")
    assert code == 1 and report["decision"] == "blocked", rules
    assert " ".join(rules["integrity.verify_signatures"]["reason"].split()) == broken
    audit_step_first(prov, "v4r", "--base", "v1", "--no-save")

    (workdir / "no-audit.toml").write_text(NO_AUDIT)
    code, rules, report = check(
        prov, "v4r", "--base", "v1", "--policy", "no-audit.toml", "--attest", "--key", "maintainer.key"
    )
    assert code == 1 and report["decision"] == "blocked", rules
    combined = rules["detectors.combined"]
    assert combined["status"] == "block" and "step_budget" not in json.dumps(combined)
    assert " ".join(combined["reason"].split()).startswith(
        "version v2: it was committed before v4r (it signed the audit-log head after entry "
    )
    assert (
        f"but no commit entry up to v4r's signed head commits it (its row names entry {seq}): the entry was renamed or "
        "removed and the log re-chained" in " ".join(combined["reason"].split())
    )
    assert not (workdir / "v4r.attestation.json").exists()


# Attack review 16, F5: a commit entry planted before v4r for a tag never committed (no row), naming a small manifest
# of records v3r's own check flags. It was judged as a delivery and blocked the honest v4r for a false reason
# ("added in v3s (committed beside this history, from v1): 3 of 4 flagged"), and the integrity rule's advice,
# prov verify v4r, passed.


def plant_uncommitted_v3s(prov, tag: str) -> None:
    """A commit entry for ``v3s`` (never committed) naming that small manifest (attack review 16, F5)."""
    plant_flagged_rows_entry(prov, tag, "v3s")


@pytest.fixture(scope="session")
def template_reparented_clean_uncommitted(tmp_path_factory):
    return build_template(
        tmp_path_factory,
        "reparented_clean_uncommitted",
        lambda p, f: build_reparented(p, f, 0, plant=lambda tag: plant_uncommitted_v3s(p, tag)),
        PROV_WORKERS="1",
    )


@pytest.fixture
def reparented_clean_uncommitted(template_reparented_clean_uncommitted, workdir, monkeypatch) -> dict:
    return pinned(template_reparented_clean_uncommitted, workdir, monkeypatch)


def test_a_planted_entry_for_a_version_never_committed_is_named_not_judged(prov, reparented_clean_uncommitted, workdir):
    (seq,) = commit_seqs(workdir, "v3s")
    broken = f"audit log is broken: version v3s (commit entry {seq}) is missing from the store"
    r = prov("audit", "verify")
    assert r.exit_code == 1 and " ".join(r.output.split()) == f"Error: {broken}"
    code, rules, report = check(prov, "v4r", "--base", "v1", "--no-save")
    assert code == 1 and " ".join(rules["integrity.verify_signatures"]["reason"].split()) == broken
    audit_step_first(prov, "v4r", "--base", "v1", "--no-save")

    (workdir / "no-audit.toml").write_text(NO_AUDIT)
    code, rules, report = check(prov, "v4r", "--base", "v1", "--policy", "no-audit.toml", "--no-save")
    assert code == 1 and report["decision"] == "blocked", rules
    combined = rules["detectors.combined"]
    assert combined["status"] == "block" and "step_budget" not in json.dumps(combined)
    assert " ".join(combined["reason"].split()) == (
        f"audit entry {seq} commits version v3s, which has no version row: planted, or the version was deleted; run "
        "prov audit verify, and restore the store from a copy you trust"
    )


def test_a_version_row_pointing_at_another_entry_fails_the_check_closed(prov, reparented_clean, workdir):
    """A version signed before the candidate's head is committed by the entry at its row's ``audit_seq``: a row
    pointing elsewhere (edited with sqlite3) fails closed with integrity off, as ``prov audit verify`` fails."""
    import sqlite3

    (seq,) = commit_seqs(workdir, "v3r")
    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    db.execute("update versions set audit_seq = 1 where tag = 'v3r'")
    db.commit()
    db.close()
    assert prov("audit", "verify").exit_code == 1
    (workdir / "no-audit.toml").write_text(NO_AUDIT)
    code, rules, report = check(prov, "v4r", "--base", "v1", "--policy", "no-audit.toml", "--no-save")
    assert code == 1 and report["decision"] == "blocked", rules
    assert " ".join(rules["detectors.combined"]["reason"].split()) == (
        f"version v3r: its commit entry is audit entry {seq}, but its row names entry 1; run prov audit verify, and "
        "restore the store from a copy you trust"
    )


# Attack review 16, F1: between the pipeline's runs a .prov/ writer deletes the blocked v2 entirely (its versions row,
# its commit entry, the log's last, the checkpoints over it, its per-version rows); v3r and v4r are then committed
# honestly and nothing in the store shows v2 was ever committed. The log state the pipeline kept outside the store
# at v2's commit (--checkpoint-out) does.


def erase_v2(tag: str) -> None:
    """Before v3r is committed: v2 deleted from ``.prov/`` with sqlite3 (no key), as the attack review replayed it."""
    if tag == "v3r":
        erase_last_version(Path(".prov") / "prov.db", "v2")


@pytest.fixture(scope="session")
def template_reparented_erased(tmp_path_factory):
    return build_template(
        tmp_path_factory,
        "reparented_erased",
        lambda p, f: build_reparented(p, f, 30, plant=erase_v2, keep=True),
        PROV_WORKERS="1",
    )


@pytest.fixture
def reparented_erased(template_reparented_erased, workdir, monkeypatch) -> dict:
    return pinned(template_reparented_erased, workdir, monkeypatch)


def test_a_blocked_delivery_erased_from_the_store_is_caught_by_the_log_state_kept_at_its_commit(
    prov, reparented_erased, workdir
):
    import provenance

    assert prov("audit", "verify").exit_code == 0  # the store alone cannot tell (the rollback class)
    code, rules, _ = check(prov, "v4r", "--base", "v1", "--no-save")  # without the kept state: as before
    assert code == 0 and [s["version"] for s in rules["detectors.combined"]["statistic"]["steps"]] == ["v3r", "v4r"]
    kept = json.loads((workdir / "v2.checkpoint.json").read_text())  # v2's commit entry is inside it
    size = json.loads(__import__("base64").b64decode(kept["payload"]))["predicate"]["treeSize"]

    code, rules, report = check(
        prov, "v4r", "--base", "v1", "--checkpoint", "v2.checkpoint.json", "--attest", "--key", "maintainer.key",
        "--base-unreleased",
    )  # fmt: skip
    assert code == 1 and report["decision"] == "blocked" and report["attestation"] is None
    assert not (workdir / "v4r.attestation.json").exists()
    held = rules["integrity.kept_log_state"]
    assert held["status"] == "block" and list(rules) == ["integrity.kept_log_state"]  # nothing else is judged
    entries = held["statistic"]["entries"]
    assert entries >= size - 1 and held["reason"].startswith(
        f"the store's audit log's first {size} entries are not the {size} of the log state kept in v2.checkpoint.json"
    )

    text = " ".join(
        prov("check", "v4r", "--base", "v1", "--checkpoint", "v2.checkpoint.json", "--no-save").stdout.split()
    )
    assert "To release:" in text and "prov audit verify --checkpoint v2.checkpoint.json" in text
    assert "log state kept in v2.checkpoint.json" in text

    # the library's check, as the command's
    result = provenance.check(
        None, "v4r", "v1", kept_log_state="v2.checkpoint.json", pins=["maintainer.pub"], save=False
    )
    assert result.decision == "blocked" and [r.rule for r in result.rules] == ["integrity.kept_log_state"]
    # the state kept after the erasure (v3r's commit) is held: which state CI passes matters (the one kept before)
    code, rules, _ = check(prov, "v4r", "--base", "v1", "--checkpoint", "v3r.checkpoint.json", "--no-save")
    assert code == 0 and rules["integrity.kept_log_state"]["status"] == "pass"


def test_a_log_cut_back_below_a_kept_state_is_named_with_its_entry_count(prov, reparented_clean, workdir):
    """The honest pipeline passes with every state it kept; a log cut back below one (the last commit's entry
    deleted) blocks, naming the file and both entry counts."""
    kept = ["--checkpoint", "v2.checkpoint.json", "--checkpoint", "v3r.checkpoint.json"]
    code, rules, _ = check(prov, "v4r", "--base", "v1", *kept, "--no-save")
    assert code == 0 and rules["integrity.kept_log_state"]["status"] == "pass"
    assert "v2.checkpoint.json" in rules["integrity.kept_log_state"]["reason"]

    import sqlite3

    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    (last,) = db.execute("select max(seq) from audit").fetchone()
    db.execute("delete from audit where seq = ?", [last])
    db.execute("delete from checkpoints where size >= ?", [last])
    db.commit()
    db.close()
    code, rules, report = check(prov, "v3r", "--base", "v1", "--checkpoint", "v4r.checkpoint.json", "--no-save")
    assert code == 1 and report["decision"] == "blocked"
    assert rules["integrity.kept_log_state"]["reason"].startswith(
        f"the store's audit log has {last - 1} entries, 1 fewer than the {last} of the log state kept in "
        "v4r.checkpoint.json"
    )


def test_a_kept_state_signed_by_a_key_not_pinned_fails_closed(prov, reparented_clean, workdir):
    keys.generate(workdir / "other")
    r = prov("audit", "checkpoint", "--key", "other.key", "--out", "other.checkpoint.json", "--signer", "other.pub")
    assert r.exit_code == 0, r.output
    r = prov("check", "v4r", "--base", "v1", "--checkpoint", "other.checkpoint.json", "--attest", "--key",
             "maintainer.key", "--base-unreleased")  # fmt: skip
    assert r.exit_code == 1 and not (workdir / "v4r.attestation.json").exists()
    message = " ".join(r.stderr.split())
    assert "other.checkpoint.json: audit checkpoint signed by key" in message and "did not pin" in message


def test_a_checkpoint_out_inside_the_store_is_refused_before_the_commit(prov, reparented_clean, workdir):
    before = (workdir / ".prov" / "prov.db").read_bytes(), sorted(p.name for p in (workdir / ".prov").rglob("*"))
    for out in (".prov/v5.checkpoint.json", ".prov/objects/v5.checkpoint.json"):
        r = prov("commit", "v4r/digits.parquet", "--tag", "v5", "--key", "maintainer.key", "--checkpoint-out", out)
        assert r.exit_code == 2, r.output
        assert " ".join(r.stderr.split()).startswith(f"Error: --checkpoint-out {out}: is inside the store")
    (workdir / "elsewhere.txt").write_text("not prov's\n")
    (workdir / "link.json").symlink_to("elsewhere.txt")  # never written through: prov was not asked for that file
    keys.generate(workdir / "other")
    refused = {
        ("--checkpoint-out", "link.json"): "link.json: is a symbolic link to elsewhere.txt",
        ("--checkpoint-key", "maintainer.key"): "--checkpoint-key signs the checkpoint --checkpoint-out writes",
        ("--checkpoint-out", "v5.cp", "--checkpoint-key", "other.key"): "other.key: key ",
    }
    for args, said in refused.items():
        r = prov("commit", "v4r/digits.parquet", "--tag", "v5", "--key", "maintainer.key", *args)
        assert r.exit_code == 2 and said in " ".join(r.stderr.split()), r.output
    assert (workdir / "elsewhere.txt").read_text() == "not prov's\n" and not (workdir / "v5.cp").exists()
    assert (workdir / ".prov" / "prov.db").read_bytes() == before[0]
    assert sorted(p.name for p in (workdir / ".prov").rglob("*")) == before[1]

    r = prov("commit", "v4r/digits.parquet", "--tag", "v5", "--key", "maintainer.key", "--checkpoint-out", "v5.cp",
             "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    written = json.loads(r.stdout)["checkpoint_out"]
    Draft202012Validator(json.loads((SCHEMAS / "commit.schema.json").read_text())).validate(json.loads(r.stdout))
    (last,) = (
        __import__("sqlite3").connect(workdir / ".prov" / "prov.db").execute("select max(seq) from audit").fetchone()
    )
    assert written["path"] == "v5.cp" and written["treeSize"] == last  # the whole log, v5's commit entry included
    assert prov("audit", "verify", "--checkpoint", "v5.cp").exit_code == 0


def test_a_commit_onto_a_log_that_lost_a_kept_state_is_refused(prov, reparented_erased, workdir):
    """``prov commit --checkpoint PREV``: CI passes the state the previous run kept; a commit onto a log cut back
    below it would sign the cut, and its own ``--checkpoint-out`` would keep a state that hides the cut (as v3r's
    does above), so the commit is refused before any work, nothing written."""
    import provenance
    from provenance.errors import VerificationError

    db = workdir / ".prov" / "prov.db"
    before = db.read_bytes()
    r = prov("commit", "v4r/digits.parquet", "--tag", "v5", "--key", "maintainer.key", "--checkpoint",
             "v2.checkpoint.json", "--checkpoint-out", "v5.checkpoint.json")  # fmt: skip
    assert r.exit_code == 1, r.output
    said = " ".join(r.output.split())
    assert "log state kept in v2.checkpoint.json" in said and "nothing was committed" in said
    assert "prov audit verify --checkpoint v2.checkpoint.json" in said
    assert db.read_bytes() == before and not (workdir / "v5.checkpoint.json").exists()
    with pytest.raises(VerificationError, match="log state kept in v2.checkpoint.json"):
        provenance.commit(None, "v4r/digits.parquet", tag="v5", key="maintainer.key",
                          kept_log_state=["v2.checkpoint.json"], pins=["maintainer.pub"])  # fmt: skip
    assert db.read_bytes() == before
    # the state kept by the last run is held: the commit goes through and keeps its own
    r = prov("-q", "commit", "v4r/digits.parquet", "--tag", "v5", "--key", "maintainer.key", "--checkpoint",
             "v4r.checkpoint.json", "--checkpoint-out", "v5.checkpoint.json")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (workdir / "v5.checkpoint.json").exists()


# Newcomer review 16, finding 4: a base beside the candidate's history (v1b, committed with --parent v1 after v4)


def _side_base(prov) -> str:
    """v1's data committed again as v1b with --parent v1 (v4 is the newest); the commit's stderr, unwrapped."""
    r = prov("commit", "v1/digits.parquet", "--tag", "v1b", "--parent", "v1", "--key", "maintainer.key")
    assert r.exit_code == 0, r.output
    return " ".join(r.stderr.split())


def test_a_commit_beside_the_newest_says_it_becomes_the_default_parent(prov, daily):
    """The note said only that v1 is not the newest; the next commit then took v1b as its parent unannounced."""
    note = _side_base(prov)
    assert "parent v1 is not the newest version (v4)" in note, note
    assert "the next commit's default parent will be v1b (give --parent v4 to build on v4)" in note, note
    r = prov("commit", "v4/digits.parquet", "--tag", "v5", "--key", "maintainer.key")  # what the note foretold
    assert r.exit_code == 0 and "parent v1b" in " ".join(r.stdout.split()), r.output


def test_attest_against_a_base_not_in_the_history_names_the_ancestors_first(prov, daily, workdir):
    """Was: "base v1b was never released ... or pass --base-unreleased", and with --base-unreleased "v1b is not an
    ancestor of v4" naming no base that works. Now the ancestry is asked first, with or without the option, and
    the error names v4's ancestors; nothing is written."""
    from support import store_fingerprint

    _side_base(prov)
    before = store_fingerprint(workdir)
    for extra in ((), ("--base-unreleased",)):
        r = prov("check", "v4", "--base", "v1b", "--attest", "--key", "maintainer.key", *extra)
        assert r.exit_code == 2, r.output
        error = " ".join(r.stderr.split())
        assert error == (
            "Error: --attest: v1b is not an ancestor of v4 (v4's ancestors: v3, v2, v1); an attestation's base must "
            "be one"
        ), error
        assert not (workdir / "v4.attestation.json").exists()
    assert store_fingerprint(workdir) == before


def test_a_check_against_a_base_not_in_the_history_says_no_attestation_can_take_it(prov, daily):
    """A plain check against v1b runs (it judges the records) and says up front that v1b cannot be an
    attestation's base, naming the ancestors; the JSON says so too (``base_release.ancestor``)."""
    _side_base(prov)
    text = " ".join(prov("check", "v4", "--base", "v1b", "--no-save").stdout.split())
    assert (
        "v1b is not an ancestor of v4 (v4's ancestors: v3, v2, v1), so no attestation can take it as its base" in text
    ), text
    _, _, report = check(prov, "v4", "--base", "v1b", "--no-save")
    assert report["base_release"]["ancestor"] is False and report["base_release"]["ancestors"] == ["v3", "v2", "v1"]
    _, _, report = check(prov, "v4", "--base", "v1", "--no-save")  # an ancestor: nothing said
    assert report["base_release"]["ancestor"] is True
    assert "no attestation can take it" not in " ".join(prov("check", "v4", "--base", "v1", "--no-save").stdout.split())


def test_the_hint_to_check_a_delivery_against_its_parent_says_why(prov, daily):
    """v2 (the blocked delivery) checked against v1b: the hint read "see the delivery added in v2 judged on its
    own: prov check v2 --base v1"; it now says that v2's parent is v1, not v1b."""
    _side_base(prov)
    text = " ".join(prov("check", "v2", "--base", "v1b", "--no-save").stdout.split())
    assert "v2's parent is v1, not v1b: prov check v2 --base v1 judges only what v2 added" in text, text
