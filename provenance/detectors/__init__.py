"""Poisoning detectors that run on the delta against a trusted base's reference profile."""

from provenance.detectors.base import FAMILIES, Delta, Detector, DetectorResult, Finding
from provenance.detectors.calibration import Calibration
from provenance.detectors.registry import (
    DEFAULT_FPR,
    ENTRY_POINT_GROUP,
    available_detectors,
    get_detector,
    register_detector,
    run_detectors,
)

__all__ = [
    "DEFAULT_FPR",
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "Calibration",
    "Delta",
    "Detector",
    "DetectorResult",
    "Finding",
    "available_detectors",
    "get_detector",
    "register_detector",
    "run_detectors",
]
