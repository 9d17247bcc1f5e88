"""A waiver signed from a reviewed findings file binds the base and rate it was judged at (attack review 34f, A34f-1).

``prov waive --findings FILE`` re-ran the detectors against the base the file names: whoever edits the file names an
older base, against which more records are flagged, and the waive key signed ``combined`` waivers for them that held
in every later check. The base is now the reviewer's ``--base`` or the version's signed parent, never the file's;
each waiver signs ``judgedAgainst`` (the base's tag and Merkle root, the fpr), and a check honours it only at both.
Through the real CLI, keys and store (newcomer 33's storms: v0 1975-1981, v1 to 1984, v2 to 1987); what is asserted
does not depend on which records a run flags."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from test_newcomer33_advice import _waiver_predicates, storms

from support import validate_output


def _three_versions(prov, keypair) -> tuple[str, ...]:
    """v0, v1, v2 (each the parent of the next), and ``check v2 --base v0``'s JSON report in ``old.json`` (its
    findings are of v2 against v0). Returns the --signer flags that pin the committer."""
    pinned = ("--signer", keypair.public_path)
    for tag, last in (("v0", 1981), ("v1", 1984), ("v2", 1987)):
        pq.write_table(pa.concat_tables([storms(1975, last)]), f"{tag}.parquet")
        r = prov("commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path, *pinned)
        assert r.exit_code == 0, r.output
    r = prov("check", "v2", "--base", "v0", "--no-save", *pinned, "--format", "json", "--out", "old.json")
    assert r.exit_code in (0, 1), r.output
    assert json.loads(Path("old.json").read_text())["findings"], "check v2 --base v0 flagged nothing"
    return pinned


def _waive(prov, keypair, pinned: tuple[str, ...], *base: str):
    return prov("waive", "--version", "v2", "--detector", "combined", "--reason", "reviewed", "--findings", "old.json",
                *base, "--key", keypair.private_path, *pinned)  # fmt: skip


def test_a_file_naming_an_older_base_is_refused_without_base(prov, workdir, store, keypair):
    """The attack: the file names v0, v2's parent is v1; nothing is waived, the error names both."""
    pinned = _three_versions(prov, keypair)
    r = _waive(prov, keypair, pinned)
    assert r.exit_code == 2, r.output
    assert "old.json: its findings are of v2 against v0, not against v1 (--base, else v2's signed parent)" in r.output
    assert "nothing waived" in r.output and _waiver_predicates() == []


def test_waivers_judged_against_an_older_base_hold_only_in_a_check_against_it(prov, workdir, store, keypair):
    """The reviewer passes --base v0 knowingly: each waiver signs v0's root and the rate; a check against v0 at that
    rate honours them (the control), one against v1, or at another fpr, lists them ignored, saying why."""
    pinned = _three_versions(prov, keypair)
    r = _waive(prov, keypair, pinned, "--base", "v0")
    assert r.exit_code == 0, r.output
    preds = _waiver_predicates()
    assert preds and all(p["judgedAgainst"]["base"] == "v0" and p["judgedAgainst"]["fpr"] == 0.01 for p in preds)
    v0_root = json.loads(prov("show", "v0", "--json", *pinned).stdout)["merkle_root"]
    assert {p["judgedAgainst"]["baseRoot"] for p in preds} == {v0_root}

    def waivers(*args: str) -> dict:
        report = json.loads(prov("check", "v2", "--no-save", *pinned, "--format", "json", *args).stdout)
        validate_output("check", report)
        return report["waivers"]

    at_v0 = waivers("--base", "v0")
    assert len(at_v0["honoured"]) == len(preds) and at_v0["ignored"] == [], at_v0
    assert at_v0["honoured"][0]["judged_against"] == {"base": "v0", "fpr": 0.01}
    at_v1 = waivers("--base", "v1")
    assert at_v1["honoured"] == [] and len(at_v1["ignored"]) == len(preds), at_v1
    assert (
        "judged against v0" in at_v1["ignored"][0]["why"] and "this check runs against v1" in at_v1["ignored"][0]["why"]
    )
    Path("policy.toml").write_text("[detectors]\nfpr = 0.05\n")
    other_rate = waivers("--base", "v0", "--policy", "policy.toml")
    assert other_rate["honoured"] == [] and "at fpr 0.05" in other_rate["ignored"][0]["why"], other_rate
