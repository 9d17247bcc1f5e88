"""A waiver's effect on ``detectors.counts`` (``waiver_judging.with_effects``'s ``count_rows``): a record no
detector flags but one counts at its own p <= 0.005 is taken out of that count by a waiver naming
``combined`` or that detector, so the waiver says "waived", not "nothing to waive"."""

from provenance.detectors.combine import RecordVerdict
from provenance.gate.waiver_judging import NOTHING_TO_WAIVE, with_effects


def _verdict(digest: str) -> RecordVerdict:
    detectors = [{"detector": "spectral", "score": 0.997, "flagged": False}]
    return RecordVerdict(digest, False, 0.98, 0.02, "", detectors, 1.0)


def _waiver(digest: str, detector: str, origin: str) -> dict:
    return {"digest": digest, "label": "0", "detector": detector, "origin": origin}


def test_a_counted_record_s_waiver_takes_effect_only_for_combined_or_its_detector():
    verdicts = [_verdict("a" * 64), _verdict("b" * 64)]
    report = {
        "honoured": [
            _waiver("a" * 64, "spectral", "w1"),
            _waiver("a" * 64, "combined", "w2"),
            _waiver("b" * 64, "knn_label", "w3"),
        ],
        "ignored": [],
    }
    counted = {("a" * 64, "0"): {"spectral"}, ("b" * 64, "0"): {"spectral"}}
    out = with_effects(report, verdicts, None, ["0", "0"], set(), counted)["honoured"]
    assert [w["effect"] for w in out] == ["waived", NOTHING_TO_WAIVE, NOTHING_TO_WAIVE]
    assert "already waived by w1" in out[1]["why"]  # one record, waived once
    assert "no detector flagged" in out[2]["why"]  # knn_label does not count record b
    before = with_effects(report, verdicts, None, ["0", "0"])["honoured"]  # no count rule: nothing to waive
    assert all(w["effect"] == NOTHING_TO_WAIVE for w in before)
