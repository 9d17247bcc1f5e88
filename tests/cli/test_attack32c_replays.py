"""Attack review 32c: replays against sec32 (the check's stored run with its class-free classes and prov version,
the signed-copies step, the base profile rebuilt without waived records) and perf32b. A strict xfail is a finding,
named in its reason; the plain test beside it shows the attack's setup is otherwise right."""

from __future__ import annotations

import json
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_check_next_steps_source import WIDE, _breast_cancer, _breast_cancer_new_class

from support import commit_signed, plant_pending_entry

BREAST_CANCER_LABEL = ("--label-column", "diagnosis")

# --- sec32 (1): the class-free classes a stored run names ----------------------------------------------------------


def _detect_entries(workdir) -> list[dict]:
    """The ``detect`` audit entries' details of ``workdir``'s store, oldest first."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        rows = db.execute("select detail from audit where action = 'detect' order by seq").fetchall()
    return [json.loads(detail) for (detail,) in rows]


def _new_cat_class_checked(prov, keypair, workdir) -> tuple[str, ...]:
    """v2: 400 breast-cancer records; v3: v2 plus 30 records of a new class "cat" (rows 400-429, 30% larger:
    ``_breast_cancer_new_class``), a class the base holds none of. An attacker (who can run prov and write .prov/)
    stores a check's run under a policy of their own listing "cat" in [class_mix] expected_new_classes; then the team
    checks v3 --base v2 under its policy (no class listed), which stores the newest run. Returns the pin."""
    base, cat = _breast_cancer(range(400)), _breast_cancer_new_class(range(400, 430))
    pq.write_table(base, "v2.parquet")
    pq.write_table(pa.concat_tables([base, cat]), "v3.parquet")
    (workdir / "mine.toml").write_text('[class_mix]\nexpected_new_classes = ["cat"]\n')
    assert prov("init").exit_code == 0
    for tag in ("v2", "v3"):
        commit_signed(prov, keypair, tag, f"{tag}.parquet", *BREAST_CANCER_LABEL)
    pin = ("--signer", str(keypair.public_path))
    assert prov("check", "v3", "--base", "v2", "--policy", "mine.toml", *pin).exit_code == 0
    team = prov("check", "v3", "--base", "v2", *pin, env=WIDE)
    assert team.exit_code == 1, team.output  # the team's check blocks: a new class, its records flagged
    return pin


def test_control_the_team_s_run_recomputes_with_the_cat_records_flagged(prov, keypair, workdir):
    # A32c-1's control: the newest run is the team's check's; recomputed, it flags the cat records
    pin = _new_cat_class_checked(prov, keypair, workdir)
    r = prov("findings", "v3", "--recompute", *pin, env=WIDE)
    assert r.exit_code == 0, r.output
    said = " ".join(r.stdout.split())
    assert "flag the same 30 of 30 records" in said and "Judged as its check did" not in said, said


# A32c-1 (medium): detectors.findings_trust.recompute takes the classes to judge class-free from the stored run
# (``class_free``, what .prov/ says) and checks only that the base's profile holds too few of them; it cannot know
# whether the check that stored the run listed them. The team's check of v3 (30 added records of a class "cat" the
# base holds none of, no class listed in its policy) blocks and stores a run flagging all 30; a .prov/ writer
# appends a pending detect entry (sqlite3, chain re-made, no key) naming a run that lists "cat" as class-free (made
# by prov check under a policy of their own), and prov findings v3 --recompute passes it, exit 0: "flag the same 0
# of 30 records ... Judged as its check did: added records of 'cat' on class-free evidence only, as the stored run
# says its check judged them (expected new classes)". The recompute, the only thing that vouches for an unsigned
# run, vouches for verdicts the detectors do not give under the team's policy (no sqlite3 is even needed: a prov
# check under a private policy run after the team's is the newest run, and it is a real check's). Fix:
# detectors.findings_trust.recompute should take the class-free classes from the verifier's policy
# (prov findings --policy, its [class_mix] expected_new_classes, as gate.class_mix does), not from the stored run,
# and fail (exit 1) when the stored run names a class that policy does not list.
# Fixed (fix32g): recompute keeps only the classes the verifier's policy lists (prov findings --recompute --policy P,
# default: the built-in policy, none listed) and fails naming the run and the class otherwise.
def test_a32c_1_recompute_does_not_take_class_free_classes_from_the_stored_run(prov, keypair, workdir):
    pin = _new_cat_class_checked(prov, keypair, workdir)
    attacker_s, _team_s = _detect_entries(workdir)
    plant_pending_entry(workdir / ".prov" / "prov.db", "detect", "v3", attacker_s)
    r = prov("findings", "v3", "--recompute", *pin, env=WIDE)
    said = " ".join(r.stdout.split())
    assert r.exit_code == 1 or "flag the same 30 of 30 records" in said, said


def test_a32c_1_a_run_judging_an_unlisted_class_is_named_and_one_under_the_policy_recomputes(prov, keypair, workdir):
    # the run the private policy's check stored: under the default policy (nothing listed) it is exit 1 naming the
    # run, the class and the policy; under the policy that lists "cat" it recomputes as its check judged it
    pin = _new_cat_class_checked(prov, keypair, workdir)
    attacker_s, _team_s = _detect_entries(workdir)
    plant_pending_entry(workdir / ".prov" / "prov.db", "detect", "v3", attacker_s)
    r = prov("findings", "v3", "--recompute", *pin)
    said = " ".join(r.output.split())
    assert r.exit_code == 1, r.output
    assert f"stored run {attacker_s['run']} judges the added records of 'cat' on class-free evidence" in said, said
    assert "the default policy does not list it in [class_mix] expected_new_classes" in said, said
    r = prov("findings", "v3", "--recompute", "--policy", "mine.toml", *pin, env=WIDE)
    said = " ".join(r.stdout.split())
    assert r.exit_code == 0 and "Judged as its check did: added records of 'cat'" in said, r.output
    assert "flag the same 0 of 30 records" in said, said


def test_a32c_1_policy_applies_only_with_recompute(prov, keypair, workdir):
    pin = _new_cat_class_checked(prov, keypair, workdir)
    r = prov("findings", "v3", "--policy", "mine.toml", *pin)
    assert r.exit_code == 2 and "--policy applies only with --recompute" in r.output, r.output
    r = prov("findings", "v3", "--recompute", "--policy", "missing.toml", *pin)
    assert r.exit_code == 2 and "missing.toml" in r.output, r.output


# A32c-4 (low): detectors.findings_trust.recompute reads the stored run's new keys without checking their shape: a
# .prov/ writer's run with "class_free": 5 (or a finding without its "explanation") stops prov findings v3
# --recompute with "Error: internal error (TypeError: 'int' object is not iterable)", exit 3 ("could not evaluate"),
# where a run that is not what a check stores is a failed verification (exit 1) naming the run, as every other edit
# is; "class_free": "cat" is read as the classes 'c', 'a', 't'. It fails closed, but as prov's own crash. Fix:
# detectors.findings.stored_findings (or recompute) should check the run's prov_version (a string) and class_free
# (a list of strings) and each finding's keys, as schemas/findings.schema.json gives them, and raise
# VerificationError naming the run when they do not hold.
# Fixed (fix32g): detectors.stored_run_shape checks the object in stored_findings; exit 1 naming the run.
@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: doc.update(class_free=5),
        lambda doc: doc.update(class_free="cat"),
        lambda doc: doc["findings"][0].pop("explanation"),
        lambda doc: doc["detectors"][0].update(fpr="x"),
    ],
    ids=["class_free-not-a-list", "class_free-a-string", "finding-without-explanation", "fpr-not-a-number"],
)
def test_a32c_4_a_malformed_stored_run_is_a_failed_verification(prov, keypair, workdir, edit):
    from support import plant_findings

    pin = _new_cat_class_checked(prov, keypair, workdir)
    plant_findings(workdir, "v3", edit)
    r = prov("findings", "v3", "--recompute", *pin)
    assert r.exit_code == 1 and "internal error" not in r.output, r.output
    assert "the stored run is not what prov stores" in " ".join(r.output.split()), r.output


# --- sec32 (3): the signed-copies step, for a thief's records delivered twice -----------------------------------------


def _thief_s_batch_delivered_twice(prov) -> str:
    """A thief with the vendor's (stolen) key signs 70 breast-cancer records with every value a thousandfold, each
    once, and delivers the batch twice (a re-delivery): v2 is v1's 400 records plus both deliveries
    (``test_attack31d_replays._vendor_delivery_held``). The "To release:" steps of prov check v2 --base v1."""
    from test_attack31d_replays import _vendor_delivery_held

    return _vendor_delivery_held(prov, 2, 1000.0)


def test_control_the_thief_s_records_are_flagged_on_their_content(prov, workdir):
    # A32c-2's control: the check blocks, its copies rule too (each record held twice), and each of the 70 is
    # flagged by outlier on its own content (a copy removed, each is still a thousandfold beyond the base); the
    # steps pointed at the copies before the fix
    steps = _thief_s_batch_delivered_twice(prov)
    assert "copies_added" in steps, steps
    r = prov("diff", "v1", "v2", "--detect", "--signer", "m.pub", "--format", "json")
    flagged = [f for f in json.loads(r.stdout)["findings"] if f["flagged"]]
    outlier = [f for f in flagged if any(d["detector"] == "outlier" and d["flagged"] for d in f["detectors"])]
    assert len(flagged) == len(outlier) == 70, (len(flagged), len(outlier))


# A32c-2 (low): report.next_steps._copied_beyond_signed replaces the "if vendor's key may be stolen ... cut vendor
# out" step whenever most of the source's flagged signed records are held more rows than its signed batches hold,
# whatever flagged them (gate.signed_copies counts rows, not evidence). A thief with the vendor's key signs 70
# records a thousandfold beyond the base, each once, and delivers the batch twice: prov check v2 blocks (the outlier
# detector flags all 70 on their content), and the steps say "as 70 of the flagged records are vendor's signed
# records held more times than vendor's signed batches hold them (copies whoever made v2 added, not what vendor
# signed), remove the copies and commit again", dropping the key step: the content the detectors flag is exactly
# what the vendor's key signed, and removing a copy leaves all 70 flagged. The thief buys a round trip that blames
# the version's maker. Fix: gate.signed_copies.flagged_beyond_signed should count a record as "beyond signed" only
# when its flag rests on its copies (the duplicates detector's evidence, or copies.max_copies_rate), and
# next_steps._steps keep the distrust step beside the copies step otherwise.
# Fixed (fix32g): gate.signed_copies.flagged_on_copies: duplicates flags it and no other detector's evidence is
# extreme; the outlier's is, so the key step stays.
def test_a32c_2_a_thief_s_records_delivered_twice_still_point_at_the_key(prov, workdir):
    steps = _thief_s_batch_delivered_twice(prov)
    assert "copies whoever made v2 added" not in steps, steps
    assert "if vendor's key may be stolen (most flagged records are its signed ones)" in steps, steps


# --- sec32 (4): the base profile without waived records, with and without pins --------------------------------------


def _glitches_waived_then_triggered(prov, workdir, keypair) -> None:
    """test_attack30b_replays' world: r2 holds three glitch records (px00 = 1e38) the pinned key waived on r2; r3 is
    r2 plus 30 digits carrying A29b-4's trigger (px00 = 16)."""
    from test_attack30b_replays import _commit, _glitches_waived_into_r2, _triggered

    t = _glitches_waived_into_r2(prov, workdir, keypair, 3)
    r2 = pq.read_table("train.parquet")
    pq.write_table(pa.concat_tables([r2, _triggered(t.slice(500, 30))]), "train.parquet")
    assert _commit(prov, keypair, "train.parquet", "r3").exit_code == 0


def _triggered_r3_flagged(prov, workdir, keypair, *pin: str) -> int:
    """How many records prov diff r2 r3 --detect (with ``pin``) flags in :func:`_glitches_waived_then_triggered`."""
    _glitches_waived_then_triggered(prov, workdir, keypair)
    r = prov("diff", "r2", "r3", "--detect", *pin, "--format", "json")
    assert r.exit_code == 0, r.output
    return sum(f["flagged"] for f in json.loads(r.stdout)["findings"])


def _check_s_cut(prov, workdir, keypair, *pin: str):
    """The check's own step to cut only the flagged records out, in :func:`_glitches_waived_then_triggered`: prov check
    r3 --base r2 (the key pinned) --format json --out F.json, then prov quarantine --from r3 --findings F.json --tag r4
    --key alice.key with ``pin``; the quarantine's result."""
    _glitches_waived_then_triggered(prov, workdir, keypair)
    check = prov("check", "r3", "--base", "r2", "--signer", keypair.public_path, "--format", "json", "--out", "F.json")
    assert check.exit_code == 1, check.output
    return prov(
        "quarantine", "--from", "r3", "--findings", "F.json", "--tag", "r4", "--key", keypair.private_path, *pin
    )


def test_control_pinned_diff_detect_flags_the_triggered_digits(prov, workdir, store, keypair):
    # A32c-3's control: with the key pinned, the waived glitches are out of r2's profile and all 30 are flagged
    assert _triggered_r3_flagged(prov, workdir, keypair, "--signer", str(keypair.public_path)) == 30


# A32c-3 (low): profiles.waived.waived_records leaves nothing out when nothing is pinned, so prov diff r2 r3 --detect
# without --signer (exit 0, "signatures were checked only against keys found in the store") judges r3 by r2's signed
# profile with the three waived glitches in it, the A30b-2 profile sec32 fixed: 3 of the 30 triggered digits flagged
# where the pinned diff and prov check flag 30. That run is stored, and prov findings r3 lists it ("3 of 30 records
# flagged") to the reviewer deciding waivers; prov findings r3 --recompute --signer alice.pub then says the honest
# run "differs from the detectors re-run ... in 30 record(s) ... look for who wrote .prov/" (a tamper alarm on a run
# prov itself wrote), while --recompute without --signer passes it. The profile a run was judged by depends on pins
# the run does not keep. Fix: profiles.waived.waived_records should judge waivers against the store's keys when
# nothing is pinned (as the unpinned diff judges every other signature, with its note), or the stored run
# (detectors.findings.run_facts) should keep which waived records left the profile, so --recompute re-judges by
# the same profile and says when its pins would leave out others.
# Fixed (fix32g): with nothing pinned, waived_records judges waivers against the store's keys (Pins.role_keys).
def test_a32c_3_unpinned_diff_detect_judges_by_the_same_profile(prov, workdir, store, keypair):
    assert _triggered_r3_flagged(prov, workdir, keypair) == 30


def test_control_the_pinned_cut_of_the_check_s_findings_removes_the_30(prov, workdir, store, keypair):
    # A32c-3's other control: pinned, the quarantine's re-run flags the check's 30 and cuts them
    r = _check_s_cut(prov, workdir, keypair, "--signer", str(keypair.public_path))
    assert r.exit_code == 0 and "30 records removed" in r.stdout, r.output


# A32c-3, the check's step: prov check r3 --base r2 --signer alice.pub blocks on 30 flagged records and says "or cut
# only the flagged records out ...: prov check r3 --base r2 --format json --out F.json; prov quarantine --from r3
# --findings F.json --tag NEW --key K"; run as shown (no --signer), the quarantine's re-run
# (lineage.findings_recheck -> detectors.pipeline.detect_diff -> profiles.waived.detection_profile, nothing pinned)
# judges by the profile with the waived glitches and refuses, exit 2: "F.json: 27 of its 30 flagged digests are not
# flagged when prov re-runs the detectors ...; quarantine only what `prov diff r2 r3 --detect` flagged" (which, run
# unpinned too, flags 3). Fails closed, but the step and the error send the reviewer to the blinded verdict.
def test_a32c_3_the_check_s_quarantine_step_cuts_what_the_check_flagged(prov, workdir, store, keypair):
    r = _check_s_cut(prov, workdir, keypair)
    assert r.exit_code == 0, r.output


def _thief_s_batch_of_base_copies(prov) -> str:
    """v1: 400 breast-cancer records. A thief with the vendor's (stolen) key signs a batch holding each of v1's first
    70 records 20 times (a flood that re-weights them); v2 is v1 plus that batch, row for row as signed. The "To
    release:" steps of prov check v2 --base v1 (on one line)."""
    base = _breast_cancer(range(400))
    pq.write_table(base, "base.parquet")
    pq.write_table(pa.concat_tables([base.slice(0, 70)] * 20), "vendor.parquet")
    pq.write_table(pa.concat_tables([base, pq.read_table("vendor.parquet")]), "v2.parquet")
    pin = ("--signer", "m.pub")
    for args in (
        ("init",),
        ("keys", "generate", "vendor"),
        ("keys", "generate", "m"),
        ("sign", "vendor.parquet", "--source", "vendor", "--key", "vendor.key", *BREAST_CANCER_LABEL),
        ("trust", "add", "vendor", "vendor.pub", "--key", "m.key", *pin),
        ("add", "vendor.parquet", "--source", "vendor", *pin),
        ("commit", "base.parquet", "--tag", "v1", "--key", "m.key", *pin, *BREAST_CANCER_LABEL),
        ("commit", "v2.parquet", "--tag", "v2", "--key", "m.key", *pin, *BREAST_CANCER_LABEL),
    ):
        assert prov(*args).exit_code == 0, args
    r = prov("check", "v2", "--base", "v1", *pin, "--no-save", env=WIDE)
    assert r.exit_code == 1, r.output
    return " ".join(r.stdout.split("\nTo release:\n", 1)[1].split("\nPolicy ", 1)[0].split())


def test_control_every_added_row_of_the_flood_is_the_vendor_s_signed_row(prov, workdir):
    # A32c-5's control: a detector rule blocks on the 70 flooded records, and the 1,400 copies the version adds are
    # the vendor's, named by its signed batch (the version adds no row the key did not sign)
    steps = _thief_s_batch_of_base_copies(prov)
    assert "prov check v2 --base v1 --format json --out F.json" in steps, steps  # a detector rule blocks
    r = prov("diff", "v1", "v2", "--signer", "m.pub", "--format", "json")
    vendor = next(row for row in json.loads(r.stdout)["by_source"] if row["source"] == "vendor")
    assert vendor["duplicates_added"] == 1400 and vendor["named_by"] == ["signed batch"], vendor


# A32c-5 (low): gate.signed_copies.flagged_beyond_signed compares the rows the new version holds of a flagged record
# (the base's rows included: max(base_copies, 1) + extra_copies) with the rows the source's signed batches hold, which
# never include the base's. A thief with the vendor's key signs a batch holding each of 70 base records 20 times; the
# version is the base plus that batch exactly (1,400 added rows, all attested). detectors.combined/extreme block on
# the 70 (duplicates' copies), and the steps say "as 70 of the flagged records are vendor's signed records held more
# times than vendor's signed batches hold them (copies whoever made v2 added, not what vendor signed), remove the
# copies and commit again", dropping "if vendor's key may be stolen ... cut vendor out": each record is held 21 times,
# 20 signed by the stolen key and 1 the base's own. Signing the flood is enough to have prov blame the version's
# maker. Fix: gate.signed_copies.flagged_beyond_signed should compare the rows the version adds (held minus the
# base's rows of the record) with the rows the source's signed batches hold.
# Fixed (fix32g): the rows the version adds (held minus the base's) are compared with the signed rows.
def test_a32c_5_a_signed_flood_of_base_copies_points_at_the_key(prov, workdir):
    steps = _thief_s_batch_of_base_copies(prov)
    assert "copies whoever made v2 added" not in steps, steps
    assert "if vendor's key may be stolen (most flagged records are its signed ones)" in steps, steps
