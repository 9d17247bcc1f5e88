"""Attack review 26i (c3cfe16): with every detector the policy runs erroring, combine gives no verdicts, and
the gate's detector rules must still fail closed, each failed detector named: an error (exit 3), never a pass."""

from __future__ import annotations

from provenance.gate import detection
from support import crashing_detector


def test_every_detector_erroring_fails_closed_naming_each_and_never_passes(gate_world):
    """R26i-2: every detector erroring left combine's verdicts empty (c3cfe16), but detectors.run passed ("2
    detectors scored 0 records") and detectors.combined ran judge_steps with 0 digests and the delta's labels:
    steps.signed_steps raised ArrowInvalid, and prov check failed closed only through the CLI's internal-error
    catch (exit 3, no JSON report, the failed detectors unnamed). Fixed: detectors.run is an error naming each
    failed detector, each one's rule says why, and the rules on the verdict are not evaluated."""
    with crashing_detector("out of memory", "broken_a") as a, crashing_detector("disk full", "broken_b") as b:
        built = detection.rules({"detectors": {"run": [a, b]}})
        results = built.evaluate(gate_world.context("clean"))
    statuses = {r.rule: r.status for r in results}
    assert statuses[f"detectors.{a}"] == "error" and statuses[f"detectors.{b}"] == "error"
    assert statuses.get("detectors.run") != "pass"
    assert "pass" not in {statuses.get("detectors.combined"), statuses.get("detectors.extreme")}
    run = next(r for r in results if r.rule == "detectors.run")
    assert statuses["detectors.run"] == "error"
    assert "out of memory" in run.reason and "disk full" in run.reason and a in run.reason and b in run.reason
