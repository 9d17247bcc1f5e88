"""``provenance.load`` of a version no release names: a warning, not silence (newcomer review 31).

Without ``attestation=`` a job loads any version signed under its pins, one the gate blocked too: that is
documented, and right for an experiment, but a job that meant to train on a release learnt nothing when the
version was never released. :func:`warn_if_unreleased` says so through the ``warnings`` module (a job that
means it filters :class:`UnreleasedVersionWarning`), and never refuses: the signature is what ``load`` checks,
and a release kept outside the store (``attestation=FILE``) is the job's to give. A version counts as
released when a release attestation kept in the store verifies under the same pins as ``prov log`` marks
it (``version_releases.kept_attestations``); a blocked last check run here is named as the unsigned
record it is (``gate.check_record``).
"""

from __future__ import annotations

import shlex
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance.store.store import Store


class UnreleasedVersionWarning(UserWarning):
    """``provenance.load`` of a version, without ``attestation=``, that no release attestation kept in the store
    names under the job's pins."""


def warn_if_unreleased(store: Store, tag: str, stacklevel: int) -> None:
    """Warn (:class:`UnreleasedVersionWarning`, at ``stacklevel`` from here) when no release attestation kept in
    ``store`` verifies for ``tag`` under ``store.pins``, e.g. ``version v2 loaded without a release attestation:
    its signature and records are checked, not that prov check passed it; the last check run here blocked it
    (unsigned record in .prov). Give attestation=FILE (prov check v2 --base B --attest writes one) to load a
    release only``. Reads the store only."""
    from provenance.gate.check_record import UNSIGNED, last_checks
    from provenance.version_releases import kept_attestations

    if any(item["verified"] for item in kept_attestations(store).get(tag, [])):
        return
    last = last_checks(store).get(tag)
    said = ""
    if last is not None and last["decision"] in ("blocked", "error"):
        verb = "blocked it" if last["decision"] == "blocked" else "could not evaluate it"
        said = f"; the last check run here {verb} ({UNSIGNED})"
    warnings.warn(
        f"version {tag} loaded without a release attestation: its signature and records are checked, not that "
        f"prov check passed it{said}. Give attestation=FILE (prov check {shlex.quote(tag)} --base B --attest "
        "writes one) to load a release only",
        UnreleasedVersionWarning,
        stacklevel + 1,
    )
