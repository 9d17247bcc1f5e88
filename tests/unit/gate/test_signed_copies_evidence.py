"""gate.signed_copies.flagged_on_copies: a flagged record counts as "copies beyond signed" only when its flag rests on
its copies (attack review 32c, A32c-2), not when content evidence would block it anyway."""

from __future__ import annotations

import pytest

from provenance.detectors.combine import RecordVerdict
from provenance.gate.signed_copies import flagged_on_copies

EXTREME = 1e-6  # detectors.extreme's per-record threshold in these cases


def _verdict(alone: list[str], extreme_by: dict[str, float]) -> RecordVerdict:
    detectors = [{"detector": name, "score": 0.999, "flagged": name in alone} for name in ("duplicates", "outlier")]
    return RecordVerdict(
        "ab" * 32, True, 0.999, 0.001, "", detectors, min(extreme_by.values(), default=1.0), extreme_by
    )


@pytest.mark.parametrize(
    ("alone", "extreme_by", "threshold", "on_copies"),
    [
        (["duplicates"], {"duplicates": 1e-9}, EXTREME, True),  # the copies alone block it
        (["duplicates", "outlier"], {"duplicates": 1e-9}, EXTREME, True),  # outlier at the FPR: what 1 in 100 get
        (["duplicates", "outlier"], {"duplicates": 1e-9, "outlier": 1e-9}, EXTREME, False),  # its content blocks too
        (["outlier"], {"outlier": 1e-9}, EXTREME, False),  # the copies play no part
        (["duplicates"], {}, None, True),  # no extreme rule: the detectors that flag it alone
        (["duplicates", "outlier"], {}, None, False),
        ([], {}, EXTREME, False),  # flagged on combined evidence only: not on its copies
    ],
)
def test_a_record_is_flagged_on_its_copies_only_when_no_content_evidence_blocks_it(
    alone, extreme_by, threshold, on_copies
):
    assert flagged_on_copies(_verdict(alone, extreme_by), threshold) is on_copies
