"""Attack review 33e: replays against sec33 (prov add fails closed with nothing pinned, --store-keys) and ux33
(prov waive --findings, the new advice). A strict xfail is a finding, named in its reason; the plain test beside it
shows the attack's setup is otherwise right. Every replay here is deterministic in what it asserts: where a detector
run's flags vary with the profile sample's salt, the replay reads the flags the stored run holds and builds on them."""

from __future__ import annotations

import json
from pathlib import Path

from test_newcomer33_advice import _storms_versions, _waiver_predicates


def _reviewed_findings(prov, pinned: tuple[str, ...]) -> list[dict]:
    """v1, v2 as newcomer 33's storms (check v2 --base v1 stores a blocking run); v2's flagged findings, as
    ``prov findings v2 --json`` lists them (at least two)."""
    assert prov("check", "v2", "--base", "v1", *pinned).exit_code == 1
    r = prov("findings", "v2", "--json", *pinned)
    assert r.exit_code == 0, r.output
    flagged = [f for f in json.loads(r.stdout)["findings"] if f["flagged"]]
    assert len(flagged) >= 2, flagged
    return flagged


def _waive_file(prov, keypair, pinned: tuple[str, ...], path: str):
    return prov("waive", "--version", "v2", "--detector", "combined", "--reason", "reviewed", "--findings", path,
                "--key", keypair.private_path, *pinned)  # fmt: skip


def _last_label_edited(prov, keypair) -> tuple:
    """The reviewed file with its last flagged finding's label changed to one v2 does not hold, waived."""
    pinned = _storms_versions(prov, keypair)
    flagged = _reviewed_findings(prov, pinned)
    edited = [*flagged[:-1], flagged[-1] | {"label": "no such label"}]
    Path("edited.json").write_text(json.dumps({"version": "v2", "findings": edited}))
    return _waive_file(prov, keypair, pinned, "edited.json"), flagged


def test_control_a_finding_under_a_label_v2_does_not_hold_is_refused(prov, workdir, store, keypair):
    r, _ = _last_label_edited(prov, keypair)
    assert r.exit_code == 2 and "'no such label'" in r.output, r.output


# A33e-1 (low; fixed in session 33: every finding's label and the waive key are checked before the first write): prov
# waive --findings is "refused whole (exit 2) before any waiver is written" (waivers_bulk's docstring;
# docs/commands.md), but only the digests are checked against the stored run before writing: each waiver is then signed
# and stored in its own write (create_waiver per finding), so a finding that create_waiver refuses (a label the version
# does not hold under that digest; a digest held under several labels and no label in the file) exits 2 after every
# finding before it was waived: the store is changed by a refused command, and the reviewer's partial list stands
# signed. Fix: resolve every finding's label (choose_label) and the waive key before the first write, then write all
# waivers in one store.write().
def test_a_bulk_waiver_refused_on_its_last_finding_writes_nothing(prov, workdir, store, keypair):
    r, flagged = _last_label_edited(prov, keypair)
    assert r.exit_code == 2, r.output
    assert _waiver_predicates() == [], f"{len(_waiver_predicates())} of {len(flagged)} waivers written by a refusal"


def _check_json_waived(prov, keypair) -> tuple:
    """``prov check v2 --base v1 --format json --out F.json`` (the file the check's steps name F.json), then
    ``prov waive --findings F.json`` as docs/release-gate.md and the command's help give it."""
    pinned = _storms_versions(prov, keypair)
    r = prov("check", "v2", "--base", "v1", *pinned, "--format", "json", "--out", "F.json")
    assert r.exit_code == 1, r.output
    return _waive_file(prov, keypair, pinned, "F.json"), json.loads(Path("F.json").read_text())


# A33e-2 (low; fixed in session 33: a check report's findings are its flagged records): `prov waive --findings FILE`
# documents FILE as `prov findings V --json` "or prov check --format json" (the command's --help, docs/release-gate.md,
# docs/reference.md, waivers_bulk's docstring), and the new-class step says "prov waive --findings F.json" beside the
# quarantine step that writes F.json with `prov check ... --format json --out F.json`. A check's JSON lists only flagged
# records, without a `flagged` key (schemas/check.schema.json), and reviewed_findings keeps only findings whose
# `flagged` is true: the file exits 2, "no flagged finding to waive". Fails closed, but the documented way does not work
# as printed. Fix: read a check JSON's findings as flagged (its `decision`/`rules` keys tell it from a findings JSON),
# or say "prov findings V --json" only, in the help, the docs and the step.
def test_a_check_json_is_waived_as_documented(prov, workdir, store, keypair):
    r, report = _check_json_waived(prov, keypair)
    assert r.exit_code == 0, r.output
    assert len(_waiver_predicates()) == len(report["findings"])
    assert "each flagged by the detectors re-run on v2 against v1 at fpr 0.01" in " ".join(r.output.split())


def test_a_findings_file_of_another_rate_is_refused_naming_the_rate(prov, workdir, store, keypair):
    """The re-run's rate is the reviewer's (--fpr, default 0.01), never the file's: a findings JSON whose combined
    row says 0.01 waived with --fpr 0.05 is refused before the detectors run, naming --fpr 0.01; nothing written."""
    pinned = _storms_versions(prov, keypair)
    _reviewed_findings(prov, pinned)
    Path("reviewed.json").write_text(prov("findings", "v2", "--json", *pinned).stdout)
    r = prov("waive", "--version", "v2", "--detector", "combined", "--reason", "reviewed", "--findings",
             "reviewed.json", "--fpr", "0.05", "--key", keypair.private_path, *pinned)  # fmt: skip
    assert r.exit_code == 2 and "reviewed.json: its findings were combined at fpr 0.01" in r.output, r.output
    assert "never the file's" in r.output and "--fpr 0.01" not in r.output and _waiver_predicates() == []
    r = prov("waive", "x" * 64, "--version", "v2", "--detector", "combined", "--reason", "r", "--base", "v1",
             "--key", keypair.private_path, *pinned)  # fmt: skip
    assert r.exit_code == 2 and "--base and --fpr go with --findings" in r.output, r.output


def _plant_run_flagging_one_more() -> dict:
    """What a ``.prov/`` writer can do with the store's own code: copy v2's newest stored detector run (the object
    its ``detect`` audit entry names) with one record the run did not flag marked flagged, stored as a new object
    under a new run id and named by a new ``detect`` entry, as ``prov diff --detect`` appends one (pending, as every
    honest run's entry is until the next signature). Returns that record's finding as the honest run holds it."""
    from provenance.store import Store

    store = Store.open()
    try:
        seq, detail = store.db.execute(
            "select seq, detail from audit where action = 'detect' and subject = 'v2' order by seq desc limit 1"
        ).fetchone()
        facts = json.loads(detail)
        document = json.loads(store.objects.get(facts["findings"], "run"))
        extra = next(f for f in document["findings"] if not f["flagged"])
        honest = dict(extra)
        extra["flagged"] = True
        document["run"] = facts["run"] = "0123456789abcdef"
        with store.write():
            facts["findings"] = store.put_object(json.dumps(document).encode(), "json")
            store.audit("detect", "v2", facts)
    finally:
        store.close()
    return honest


def _waive_beside_planted_run(prov, keypair, plant: bool) -> tuple:
    """The reviewed file (v2's flagged findings) with one record the real run does not flag added as flagged (a
    line added after the review), waived; with ``plant``, after :func:`_plant_run_flagging_one_more`. Returns the
    waive result, the added finding, and ``prov check v2 --base v1 --no-save --format json``'s findings after."""
    pinned = _storms_versions(prov, keypair)
    flagged = _reviewed_findings(prov, pinned)
    everything = json.loads(prov("findings", "v2", "--json", "--all", *pinned).stdout)["findings"]
    extra = _plant_run_flagging_one_more() if plant else next(f for f in everything if not f["flagged"])
    Path("reviewed.json").write_text(json.dumps({"version": "v2", "findings": [*flagged, extra | {"flagged": True}]}))
    r = _waive_file(prov, keypair, pinned, "reviewed.json")
    check = prov("check", "v2", "--base", "v1", "--no-save", *pinned, "--format", "json")
    return r, extra, json.loads(check.stdout)["findings"]


def test_control_a_line_added_after_the_review_is_refused(prov, workdir, store, keypair):
    r, extra, _ = _waive_beside_planted_run(prov, keypair, plant=False)
    assert r.exit_code == 2 and "1 of its" in r.output and "nothing waived" in r.output, r.output
    assert _waiver_predicates() == []


# A33e-3 (low; fixed in session 34: prov waive --findings decides from the detectors re-run now on the signed
# versions, as prov quarantine --findings does): prov waive --findings refused "a line added after the review" (a
# record V's stored run does not flag) by reading V's newest stored detector run: the object its `detect` audit entry
# names, which nothing signs (a detect entry is pending until the next signature, as every honest `prov diff --detect`
# leaves it). A .prov/ writer who also edits the reviewed file planted a run, copied from the real one with one more
# record marked flagged, and the reviewer's waive key signed a `combined` waiver for a record the check, re-run, does
# not flag. Such a waiver takes the record out of detectors.combined and detectors.extreme in any later check of V
# that does flag it (another base, another policy), unreviewed.
def test_a_planted_run_does_not_let_a_line_added_after_the_review_be_waived(prov, workdir, store, keypair):
    r, extra, rerun = _waive_beside_planted_run(prov, keypair, plant=True)
    assert extra["digest"] not in {f["digest"] for f in rerun}, "the check re-run flags the added record"
    assert r.exit_code == 2 and "reviewed.json: 1 of its" in r.output and extra["digest"] in r.output, r.output
    assert _waiver_predicates() == []
