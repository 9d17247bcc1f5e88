"""Newcomer review 22: the interim actions README's Known gaps give a reviewer, run as written on the demo's store.

The reviewer ran each "Meanwhile" command on the demo's release candidate (``rc1`` against ``r1``: a signed
vendor batch and an unsigned scraper that grows class '2' with planted copies) and found three places where
the advice did not work as shown: the quarantine command signs a version but named no key (exit 2 in the
store the demo's last line explores, which exports no ``PROV_KEY``); "Classes that changed" counts every
source together, so it cannot say which source grew a class; and ``prov findings --all --wide`` titled its
blocks of unflagged records "Flagged records".
"""

from __future__ import annotations

import json
from pathlib import Path

from support import Prov


def test_findings_all_wide_titles_its_blocks_as_scored_not_flagged(prov: Prov, demo: Path):
    text = prov("findings", "rc1", "--all", "--wide").stdout
    flagged = json.loads(prov("findings", "rc1", "--json").stdout)
    scored = json.loads(prov("findings", "rc1", "--all", "--json").stdout)
    n, m = len(scored["findings"]), sum(1 for f in flagged["findings"] if f.get("flagged", True))
    assert 0 < m < n
    assert "\nFlagged records, each whole (" not in text
    assert f"\nScored records, each whole ({n}, {m} flagged, in the table's order; --wide)" in text
    only = prov("findings", "rc1", "--wide").stdout  # without --all every block is a flagged record
    assert f"\nFlagged records, each whole ({m}, in the table's order; --wide)" in only
