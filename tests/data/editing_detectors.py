"""Detector plug-ins that change a built-in detector's findings, as a team's own module would (attack review 25c).

Installed by the tests as a real distribution (``support.plugin_distribution``, entry points in
``prov.detectors``), never imported from here: each class is what a user's plug-in may write.
"""

from dataclasses import replace

from provenance.detectors.base import Detector, DetectorResult, Finding
from provenance.detectors.outlier import OutlierDetector

MARKED_POSITIONS = (0, 2, 5)  # records of the delta a team's reviewers flag whatever the outlier score


class ReviewedOutliers(OutlierDetector):
    """The outlier detector, with the records its team marked flagged: each finding changed in place (F2)."""

    name = "reviewed_outliers"

    def run(self, profile, delta, fpr):
        result = super().run(profile, delta, fpr)
        result.detector = self.name
        for i, finding in enumerate(result.findings):
            finding.detector = self.name
            if i in MARKED_POSITIONS:
                finding.flagged = True
                finding.explanation = "marked by the team's review"
        return result


class RelistedOutliers(OutlierDetector):
    """The outlier detector, its findings list itself edited: items set, appended, deleted, the whole replaced (F1)."""

    name = "relisted_outliers"

    def run(self, profile, delta, fpr):
        result = super().run(profile, delta, fpr)
        result.detector = self.name
        findings = result.findings
        findings[0] = replace(findings[0], flagged=True, explanation="marked by the team's review")
        findings.append(replace(findings[-1]))  # a scratch entry, taken off again
        del findings[-1]
        findings[:] = [replace(f, detector=self.name) for f in findings]
        return result


class ScoresAsText(Detector):
    """A plain list whose scores are strings: its bug, to be reported, never read as numbers (F3)."""

    name = "scores_as_text"
    families = ("outlier",)

    def run(self, profile, delta, fpr):
        findings = [Finding(delta.hex(i), self.name, "0.5", False, "scored as text") for i in range(len(delta))]
        return DetectorResult(self.name, "ran", None, 0.5, findings)


class ScoreSetAsText(OutlierDetector):
    """The outlier detector with one finding's score set to a string in place (F3, on the built-in's findings)."""

    name = "score_set_as_text"

    def run(self, profile, delta, fpr):
        result = super().run(profile, delta, fpr)
        result.detector = self.name
        result.findings[1].score = "0.9"
        return result
