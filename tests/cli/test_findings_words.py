"""What `prov findings V` says when there is no run, and the combined verdict's flag budget after --recompute."""

from __future__ import annotations

import json

PIN = ("--signer", "alice.pub")


def test_no_run_names_both_commands_that_store_one(prov, three_versions):
    """Newcomer review 10, finding 27: the hint named prov diff only; prov check stores a run too."""
    r = prov("findings", "v3", *PIN)
    assert r.exit_code == 0 and r.stdout == (
        "No detector run stored for v3; prov diff BASE v3 --detect and prov check v3 --base BASE each store one.\n"
    )


def test_recompute_shows_the_combined_verdicts_flag_budget(prov, three_versions):
    """Newcomer review 9's leftover: the combined row of prov findings showed no budget ("expected at most -"),
    which a stored run cannot give; --recompute re-runs the detectors and shows the one prov diff shows."""
    diff = json.loads(prov("diff", "v2", "v3", "--detect", "--format", "json", *PIN).stdout)
    budget = diff["detection"]["expected_at_most"]
    assert isinstance(budget, int) and budget > 0

    def combined_row(args: tuple[str, ...]) -> list[str]:
        text = prov("findings", "v3", *args, *PIN, env={"COLUMNS": "160"}).stdout
        return next(line for line in text.splitlines() if line.startswith("combined")).split()

    assert combined_row(())[-2] == "-"  # the stored run alone does not keep it
    r = prov("findings", "v3", "--recompute", "--json", *PIN)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["recomputed"]["expected_at_most"] == budget
    assert combined_row(("--recompute",))[-2] == str(budget)
