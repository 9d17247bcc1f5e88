"""Detector plug-ins of attack review 26f: what a team's plug-in may write, each a way to make a record a
detector flags read otherwise in the combined verdict, the report or the store.

Installed by the tests as a real distribution (``support.plugin_distribution``, entry points in
``prov.detectors``), never imported from here.
"""

import numpy as np

from provenance.detectors.outlier import OutlierDetector


class _EditedOutliers(OutlierDetector):
    """The outlier detector under the plug-in's name, its result changed by ``edit`` as the plug-in's run would."""

    def run(self, profile, delta, fpr):
        result = super().run(profile, delta, fpr)
        result.detector = self.name
        self.edit(result, delta)
        return result

    def edit(self, result, delta):
        raise NotImplementedError


class SortedOutliers(_EditedOutliers):
    """The outlier detector, its findings sorted worst first in place (``sort`` is a write fix26a supports).

    Named to sort before every built-in: the combined verdicts take their digests from the first detector
    that ran, by name."""

    name = "aa_sorted_outliers"

    def edit(self, result, delta):
        result.findings.sort(key=lambda f: -f.score)
        for f in result.findings:
            f.detector = self.name


class SortedOutliersLate(SortedOutliers):
    """The same, named after every built-in: its own flags land on other records."""

    name = "zz_sorted_outliers"


class NanPValues(_EditedOutliers):
    """The outlier detector with p-values it could not compute left NaN (scores all in [0, 1])."""

    name = "nan_p_outliers"

    def edit(self, result, delta):
        result.p_values = np.full(len(delta), np.nan)


class ShortPValues(_EditedOutliers):
    """The outlier detector with one p-value fewer than records."""

    name = "short_p_outliers"

    def edit(self, result, delta):
        result.p_values = np.asarray(result.p_values)[:-1]


class FlagAsText(_EditedOutliers):
    """The outlier detector with every flag set to the text "false" (truthy)."""

    name = "flag_as_text"

    def edit(self, result, delta):
        for f in result.findings:
            f.flagged = "false"


class _Lying(float):
    """A float whose value prints as itself but converts to 0.0."""

    def __float__(self):
        return 0.0


def _odd_score(kind, old):
    from decimal import Decimal
    from fractions import Fraction

    return {
        "neg_zero": -0.0,
        "true": True,
        "float32": np.float32(0.75),
        "float32_nan": np.float32("nan"),
        "inf": float("inf"),
        "nan": float("nan"),
        "huge_int": 10**400,
        "fraction": Fraction(1, 3),
        "decimal_equal": Decimal(old),  # equal to the column's float: not "changed"
        "decimal": Decimal("0.5"),
        "array0d_equal": np.array(old),  # a 0-d array equal to the column's value
        "lying": _Lying(0.99),
        "bool_np": np.True_,
    }[kind]


class OddScore(_EditedOutliers):
    """The outlier detector, record 3's score set in place to a value of ``kind``."""

    kind = "nan"

    def edit(self, result, delta):
        f = result.findings[3]
        f.score = _odd_score(self.kind, f.score)


ODD_KINDS = (
    "neg_zero",
    "true",
    "float32",
    "float32_nan",
    "inf",
    "nan",
    "huge_int",
    "fraction",
    "decimal_equal",
    "decimal",
    "array0d_equal",
    "lying",
    "bool_np",
)
for _kind in ODD_KINDS:
    globals()[f"OddScore_{_kind}"] = type(f"OddScore_{_kind}", (OddScore,), {"kind": _kind, "name": f"odd_{_kind}"})
