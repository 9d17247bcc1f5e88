"""Attack review 32b: replays against session 32's ux32 (the ``check`` audit entry that ``prov log`` / ``prov show``
print as "last check here", and ``provenance.load``'s ``UnreleasedVersionWarning``). A strict xfail is a finding,
named in its reason; the plain test beside it shows the attack's setup is otherwise right; a "held" test keeps an
attack that failed. perf32's compiled tree hashing and PNG batches held (tests/unit/sources/test_attack32b_tree_hashing.py
and tests/unit/features/test_attack32b_png_batches.py keep what was tried there)."""

from __future__ import annotations

import json
import re
import sqlite3
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance as prov_api
from provenance.errors import VerificationError
from provenance.loader.unreleased import UnreleasedVersionWarning
from provenance.store import Store
from support import digits_table, validate_output, with_source

# --- ux32: the check audit entry, shown by prov log / prov show as an unsigned record -----------------------------

# what a verified release prints under a version in prov log (docs/commands.md): the planted base imitates it
RELEASE_WORDS = "released: release 1 against v1 (passed), valid until 2027-06-01"


def _two_versions_checked(prov, keypair, monkeypatch) -> None:
    """A store with v1 and v2 (the same 300 digit records, signed by alice, pinned through PROV_SIGNERS) and one
    genuine ``prov check v2 --base v1`` that passed and saved its record."""
    Store.init(".").close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    pq.write_table(with_source(digits_table(300), "vendor"), "v1.parquet")
    for tag in ("v1", "v2"):
        assert prov("-q", "commit", "v1.parquet", "--tag", tag, "--key", keypair.private_path).exit_code == 0
    r = prov("check", "v2", "--base", "v1")
    assert r.exit_code == 0, r.output


def _plant_check_entry(subject: str, detail: dict) -> None:
    """What a writer of ``.prov/`` can do: append a ``check`` audit entry, hash chain kept, through the store's own
    write (no key needed: the entry is unsigned by design)."""
    store = Store.open()
    with store.write():
        store.audit("check", subject, detail)
    store.close()


def _last_check_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "last check here" in line]


def test_control_a_genuine_check_is_shown_as_an_unsigned_record_naming_its_base(prov, workdir, keypair, monkeypatch):
    # A32b-1's control: the line prov check's own entry gives, and a planted entry of the same shape naming a real
    # base is shown the same way (unsigned, as documented)
    _two_versions_checked(prov, keypair, monkeypatch)
    assert _last_check_lines(prov("log").stdout) == ["last check here: passed against v1 (unsigned record in .prov)"]
    _plant_check_entry("v2", {"base": "v1", "decision": "blocked", "blocking": ["detectors.extreme"], "policy": None})
    assert _last_check_lines(prov("log").stdout) == ["last check here: blocked against v1 (unsigned record in .prov)"]
    assert fsck_passes(prov)


def fsck_passes(prov) -> bool:
    r = prov("fsck")
    return r.exit_code == 0


# A32b-1 (low): gate.check_record.last_checks takes a planted entry's ``base`` (and, for prov show, its ``blocking``
# rule names) as any string, escaped for hidden characters only, and last_check_line prints it inside the line. A
# writer of .prov/ appends (store.audit, hash chain kept; prov fsck passes) a check entry for v2 whose base is
# "v1; released: release 1 against v1 (passed), valid until 2027-06-01": prov log prints, under v2, which no release
# names, "last check here: passed against v1; released: release 1 against v1 (passed), valid until 2027-06-01
# (unsigned record in .prov)" -- the words of a verified release line, on a line past 80 columns (the line's own
# promise), and prov show the same with any text as the rules that "blocked". Fix: gate/check_record.py last_checks
# should skip (as it skips other shapes) an entry whose base is not a version of the store (store.version) and whose
# blocking names are not rule keys of the gate (gate.rules' registry), or last_check_line should quote the base
# (repr) and cap it, so no unsigned text reads as a release.
# Fixed (fix32e): last_checks skips an entry whose base is no other version of the store, whose blocking names are no
# rule keys (check_record.is_rule_key), or whose own hash or link to the entry before does not hold; the genuine
# check's line stays.
def test_a32b_1_a_planted_check_entry_cannot_print_release_words(prov, workdir, keypair, monkeypatch):
    _two_versions_checked(prov, keypair, monkeypatch)
    _plant_check_entry("v2", {"base": f"v1; {RELEASE_WORDS}", "decision": "pass", "blocking": [], "policy": None})
    assert fsck_passes(prov)  # the entry chains: nothing says it was planted
    log, show = prov("log"), prov("show", "v2")
    assert log.exit_code == 0 and show.exit_code == 0, log.output + show.output
    assert not any("released: release" in line for line in _last_check_lines(log.stdout + show.stdout)), (
        log.stdout + show.stdout
    )
    genuine = "last check here: passed against v1 (unsigned record in .prov)"
    assert _last_check_lines(log.stdout) == [genuine], log.stdout


@pytest.mark.parametrize(
    "planted",
    [
        {"base": "v1", "decision": "blocked", "blocking": [RELEASE_WORDS], "policy": None},
        {"base": "v1", "decision": "blocked", "blocking": ["detectors.extreme", ["nested"]], "policy": None},
        {"base": "v9", "decision": "blocked", "blocking": [], "policy": None},
        {"base": "v2", "decision": "blocked", "blocking": [], "policy": None},
        {"base": ["v1"], "decision": ["blocked"], "blocking": [], "policy": None},
    ],
    ids=["release words as a rule", "a rule that is no name", "no such base", "its own base", "lists"],
)
def test_a32b_1_a_check_entry_naming_no_rule_or_no_other_version_is_skipped(
    prov, workdir, keypair, monkeypatch, planted
):
    _two_versions_checked(prov, keypair, monkeypatch)
    _plant_check_entry("v2", planted)
    genuine = "last check here: passed against v1 (unsigned record in .prov)"
    assert _last_check_lines(prov("log").stdout) == [genuine]
    shown = _last_check_lines(prov("show", "v2").stdout)
    assert len(shown) == 1 and shown[0].startswith("last check here: passed against v1, "), shown


def test_a32b_1_a_check_entry_that_does_not_chain_is_skipped(prov, workdir, keypair, monkeypatch):
    # what a writer with sqlite3 alone appends: a well-formed detail, a hash that is not the entry's own
    _two_versions_checked(prov, keypair, monkeypatch)
    detail = '{"base":"v1","blocking":["detectors.extreme"],"decision":"blocked","policy":null}'
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        seq, head = db.execute("select seq, hash from audit order by seq desc").fetchone()
        db.execute(
            "insert into audit (seq, ts, action, subject, detail, prev_hash, hash) values (?, ?, 'check', 'v2', ?, ?, ?)",
            [seq + 1, "2030-01-01T00:00:00.000000+00:00", detail, head, "0" * 64],
        )
    assert _last_check_lines(prov("log").stdout) == ["last check here: passed against v1 (unsigned record in .prov)"]


def test_a32b_1_the_rule_keys_a_check_entry_may_name_are_the_gates(prov, workdir, keypair, monkeypatch):
    # the sections written out in check_record (prov log imports no rule) are the policy's, and every rule a real
    # check reports, each detector's included, is a key last_checks accepts
    from provenance.gate.check_record import RULE_SECTIONS, is_rule_key
    from provenance.gate.policy import SETTINGS

    assert RULE_SECTIONS == set(SETTINGS) - {"attestation"}
    _two_versions_checked(prov, keypair, monkeypatch)
    rules = [r["rule"] for r in json.loads(prov("check", "v2", "--base", "v1", "--format", "json").stdout)["rules"]]
    assert len(rules) > 10 and all(is_rule_key(rule) for rule in rules), rules
    assert not is_rule_key("detectors.extreme (passed)") and not is_rule_key("released.release_1")


def test_a32b_1_a_long_or_odd_base_is_cut_and_quoted_in_the_line():
    from provenance.gate.check_record import last_check_line

    item = {"decision": "pass", "blocking": [], "checked_at": None, "base": "b" * 100}
    assert last_check_line(item) == f"last check here: passed against {'b' * 37}... (unsigned record in .prov)"
    item["base"] = "v1;x"
    assert last_check_line(item) == "last check here: passed against 'v1;x' (unsigned record in .prov)"


# --- ux32: provenance.load's UnreleasedVersionWarning, silenced by a release prov log says to re-check ------------

PINNED = ("--signer", "maintainer.pub")


def test_control_load_of_a_revoked_sources_release_warns_with_its_attestation(prov, template_trust, workdir):
    # A32b-2's control: the trust world's v2 (v1 + the vendor's signed batch) is released against v1; after the
    # vendor's key is revoked, prov log says to re-check, and load with the attestation says why (RuntimeWarning)
    r = prov("trust", "revoke", "vendor", "--yes", "--reason", "key stolen", *PINNED)
    assert r.exit_code == 0, r.output
    log = prov("log", *PINNED)
    said = " ".join(log.stdout.split())
    assert "warning: 600 records of this release are no longer attested under your pins" in said, log.stdout
    assert "re-check before training (prov check v2 --base v1)" in said, log.stdout
    with pytest.warns(RuntimeWarning, match="no longer attested"):
        prov_api.load("v2", store=workdir, pins="maintainer.pub", attestation="v2.attestation.json")


# A32b-2 (low): loader.unreleased.warn_if_unreleased returns silently when any release attestation kept in the store
# verifies for the version (version_releases.kept_attestations, which judges the attestation, not the lineage it
# released). After prov trust revoke vendor, prov log prints under v2's release "warning: 600 records of this release
# are no longer attested under your pins (...); re-check before training (prov check v2 --base v1)", and
# provenance.load("v2", attestation=...) warns (RuntimeWarning) -- but provenance.load("v2") without attestation=,
# the call the new warning exists for, says nothing at all: the kept release silences UnreleasedVersionWarning and
# nothing else speaks. Fix: loader/unreleased.py warn_if_unreleased should treat a release whose records are no
# longer attested under the pins as prov log does (version_releases.mark_lost_attestation, or
# attestation_verify.revoked_warning on the kept attestation) and warn with that line instead of returning.
# Fixed (fix32e): loader.unreleased.release_standing judges the unexpired kept releases' lineage as prov log does
# (mark_lost_attestation) and load warns with prov log's line, a RuntimeWarning as with attestation=.
def test_a32b_2_load_without_attestation_warns_when_prov_log_says_re_check(prov, template_trust, workdir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # released, its source key standing: nothing to say
        prov_api.load("v2", store=workdir, pins="maintainer.pub")
    r = prov("trust", "revoke", "vendor", "--yes", "--reason", "key stolen", *PINNED)
    assert r.exit_code == 0, r.output
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prov_api.load("v2", store=workdir, pins="maintainer.pub")
    assert caught, "provenance.load('v2') said nothing"  # any warning (UnreleasedVersionWarning or RuntimeWarning)
    (warned,) = caught
    message = str(warned.message)
    assert warned.category is RuntimeWarning and warned.filename == __file__, warned
    assert re.fullmatch(
        r"version v2 loaded without a release attestation: its release kept here \(release \d+ against v1\): 600 "
        r"records of this release are no longer attested under your pins \(.*vendor.*\); re-check before training "
        r"\(prov check v2 --base v1\)",
        message,
    ), message


def _thirty_days_on(monkeypatch) -> None:
    """The clock 30 days after now: past the trust world's release of v2 (policy.toml keeps the default 7 days)."""
    import datetime as dt

    from provenance import clock

    later = clock.now() + dt.timedelta(days=30)
    monkeypatch.setattr(clock, "now", lambda: later)
    monkeypatch.setattr(clock, "now_iso", lambda timespec="seconds": clock.iso(later, timespec))


def test_control_an_expired_release_is_refused_by_a_training_job_and_said_expired(
    prov, template_trust, workdir, monkeypatch
):
    # A32b-3's control: 30 days on, prov log says the release expired, and a job that gives the attestation is refused
    _thirty_days_on(monkeypatch)
    log = prov("log", *PINNED)
    assert re.search(r"released: release \d+ against v1 \(passed\), expired ", log.stdout), log.stdout
    with pytest.raises(VerificationError, match="expired"):
        prov_api.load("v2", store=workdir, pins="maintainer.pub", attestation="v2.attestation.json")


# A32b-3 (low): version_releases.kept_attestations marks a release verified "expiry aside" (right for prov log, which
# then says "expired"), and loader.unreleased.warn_if_unreleased returns silently on it. 30 days after v2's release
# (valid_for_days = 7: "a training job refuses it afterwards"), provenance.load("v2", attestation=...) is refused,
# prov log prints "released: release 2 against v1 (passed), expired ...", but provenance.load("v2") without
# attestation= -- the call the new warning exists for -- says nothing: an expired release silences
# UnreleasedVersionWarning as a valid one does. Fix: loader/unreleased.py warn_if_unreleased should count only a kept
# release whose "expires" is after clock.now() (item["expires"] > clock.now_iso()), and say "its release expired at
# T" otherwise.
def test_a32b_3_load_without_attestation_warns_when_the_only_release_expired(
    prov, template_trust, workdir, monkeypatch
):
    _thirty_days_on(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prov_api.load("v2", store=workdir, pins="maintainer.pub")
    assert caught, "provenance.load('v2') said nothing"
    # fixed (fix32e): a kept release counts only until it expires (loader.unreleased.release_standing)
    (warned,) = caught
    assert warned.category is UnreleasedVersionWarning, warned
    assert re.fullmatch(
        r"version v2 loaded without a release attestation: its release kept here \(release \d+ against v1\) expired "
        r"at \S+, so a job that gives its attestation refuses it; its signature and records are checked, not that a "
        r"release covers it now\. Give attestation=FILE \(prov check v2 --base v1 --attest writes one\) to load a "
        r"release only",
        str(warned.message),
    ), warned.message


# --- ux32: the other way a version's records go to training, prov export -----------------------------------------


def _blocked_v2(prov, keypair, monkeypatch) -> None:
    """v1: 500 vendor digits; v2: v1 plus 100 crowd digits, which prov check v2 --base v1 blocks (ux32's own test's
    store); PROV_SIGNERS pins alice."""
    Store.init(".").close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    t = digits_table(600)
    vendor, crowd = with_source(t.slice(0, 500), "vendor"), with_source(t.slice(500), "crowd")
    pq.write_table(vendor, "v1.parquet")
    pq.write_table(pa.concat_tables([vendor, crowd]), "v2.parquet")
    for data, tag in (("v1.parquet", "v1"), ("v2.parquet", "v2")):
        r = prov("-q", "commit", data, "--tag", tag, "--key", keypair.private_path, "--source-column", "source")
        assert r.exit_code == 0, r.output
    assert prov("check", "v2", "--base", "v1").exit_code == 1


def test_control_load_of_a_blocked_version_warns_that_it_was_never_released(prov, workdir, keypair, monkeypatch):
    # A32b-4's control: the library's way to training says so
    _blocked_v2(prov, keypair, monkeypatch)
    with pytest.warns(UserWarning, match="without a release attestation.*last check run here blocked it"):
        prov_api.load("v2", store=workdir, pins=str(keypair.public_path))


# A32b-4 (low): ux32 made provenance.load of a version no kept release names warn (newcomer review 31: it was
# silent), but prov export -- "an export hands records to training, so it is always a trust decision"
# (docs/commands.md) -- writes the records of the same blocked, never released v2 and prints only "Exported v2: 600
# records to v2-out.parquet, Merkle root ... as signed" (exit 0; --json has no field for it either): the job that
# trains from the exported file learns nothing of the block. Fix: provenance/export.py export_version (or
# cli/export.py) should ask what loader/unreleased.py warn_if_unreleased asks and say it as a note on stderr (and a
# JSON field such as "released": false with the last check's decision), as load does.
def test_a32b_4_export_of_a_never_released_version_says_so(prov, workdir, keypair, monkeypatch):
    _blocked_v2(prov, keypair, monkeypatch)
    r = prov("export", "v2", "--out", "v2-out.parquet")
    assert r.exit_code == 0 and pq.read_table("v2-out.parquet").num_rows == 600, r.output
    assert "release" in r.output, r.output
    # fixed (fix32e): load's judgment (loader.unreleased.release_standing), as a note on stderr and in --json
    assert r.stdout.startswith("Exported v2: 600 records to v2-out.parquet") and "release" not in r.stdout
    assert r.stderr == (
        "Note: v2 exported without a release attestation: its signature and records are checked, not that prov check "
        "passed it; the last check run here blocked it (unsigned record in .prov); to release it: prov check v2 "
        "--base B --attest\n"
    ), r.stderr
    doc = json.loads(prov("export", "v2", "--out", "v2-again.parquet", "--json").stdout)
    validate_output("export", doc)
    assert doc["release"] == {
        "released": False,
        "standing": "never_released",
        "last_check": "blocked",
        "note": r.stderr.removeprefix("Note: v2 exported without a release attestation: ").rstrip("\n"),
    }


def test_a32b_4_export_of_a_release_says_nothing_and_of_an_expired_one_says_so(
    prov, template_trust, workdir, monkeypatch
):
    r = prov("export", "v2", "--out", "v2-out.parquet", "--json", *PINNED)
    assert r.exit_code == 0 and r.stderr == "", r.output
    assert json.loads(r.stdout)["release"] == {"released": True, "standing": "released", "last_check": "pass",
                                              "note": None}  # fmt: skip
    _thirty_days_on(monkeypatch)
    r = prov("export", "v2", "--out", "v2-later.parquet", *PINNED)
    assert r.exit_code == 0 and re.fullmatch(
        r"Note: v2 exported without a release attestation: its release kept here \(release \d+ against v1\) expired "
        r"at \S+, so a job that gives its attestation refuses it; its signature and records are checked, not that a "
        r"release covers it now; to release it again: prov check v2 --base v1 --attest\n",
        r.stderr,
    ), r.stderr


# --- held: -q / -v after a command (cli/_lazy.py accept_global_options) never take an argument's place ------------


def test_held_late_q_and_v_leave_values_and_operands_after_double_dash_alone(prov, workdir, keypair, monkeypatch):
    # a data folder named -q (after --) and a message "-v" (an option's value) are what they are; -q after -- is an
    # operand (a tag here), and -v after the command is prov's own flag, not a value
    Store.init(".").close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    (workdir / "-q").mkdir()
    pq.write_table(with_source(digits_table(200), "vendor"), workdir / "-q" / "part.parquet")
    r = prov("commit", "--tag", "v1", "--key", keypair.private_path, "--message", "-v", "--", "-q")
    assert r.exit_code == 0, r.output
    shown = prov("show", "v1", "-v").stdout
    assert "  message: -v" in shown and "  data -q" in shown, shown
    r = prov("show", "--", "-q")
    assert r.exit_code == 2 and "-q: no such version" in r.output, r.output
