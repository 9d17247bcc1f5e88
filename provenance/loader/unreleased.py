"""``provenance.load`` and ``prov export`` of a version no release covers: a warning, not silence (newcomer review 31).

Without ``attestation=`` a job loads any version signed under its pins, one the gate blocked too: that is
documented, and right for an experiment, but a job that meant to train on a release learnt nothing when the
version was never released. :func:`warn_if_unreleased` says so through the ``warnings`` module (a job that
means it filters :class:`UnreleasedVersionWarning`), and never refuses: the signature is what ``load`` checks,
and a release kept outside the store (``attestation=FILE``) is the job's to give. ``prov export`` hands records to
training too and says the same as a note (:func:`release_standing`, attack review 32b, A32b-4).

A version counts as released while a release attestation kept in the store verifies under the same pins as
``prov log`` marks it (``version_releases.kept_attestations``), has not expired (``expires`` after
``clock.now()``: a job that gives it refuses it afterwards; A32b-3) and still attests its records under the pins,
judged as ``prov log`` judges them (``version_releases.mark_lost_attestation``: a source key revoked since; A32b-2).
A blocked last check run here is named as the unsigned record it is (``gate.check_record``).
"""

from __future__ import annotations

import shlex
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from provenance.store.store import Store

Standing = Literal["released", "never_released", "first_version", "expired", "not_attested"]


class UnreleasedVersionWarning(UserWarning):
    """``provenance.load`` of a version, without ``attestation=``, that no release attestation kept in the store
    covers under the job's pins: none names it, or the one that does expired."""


@dataclass(frozen=True)
class ReleaseStanding:
    """Whether a release kept in the store covers a version now, and what to say when none does.

    Attributes:
        standing: ``released`` (a kept release verifies, has not expired and still attests its records);
            ``never_released`` (none verifies under the pins); ``first_version`` (none, and none can: it has no
            signed parent to be checked against); ``expired`` (the newest that verifies expired);
            ``not_attested`` (every unexpired one holds records no longer attested under the pins).
        last_check: the decision of the last ``prov check`` run here (``gate.check_record``: an unsigned
            record), None when none is recorded.
        said: what is true of the version, for people, as a clause (empty when released), e.g. ``its signature
            and records are checked, not that prov check passed it; the last check run here blocked it
            (unsigned record in .prov)``.
        base: the base to name in a ``prov check`` to run: the release's, or ``B`` when none is known.
    """

    standing: Standing
    last_check: str | None
    said: str
    base: str

    @property
    def released(self) -> bool:
        """Whether a release kept in the store covers the version now."""
        return self.standing == "released"

    def note(self, tag: str) -> str | None:
        """:attr:`said` and what to run, for people (``prov export``'s note), e.g. ``its signature and records are
        checked, not that prov check passed it; the last check run here blocked it (unsigned record in .prov); to
        release it: prov check v2 --base B --attest``; None when released."""
        if self.released:
            return None
        if self.standing in ("not_attested", "first_version"):  # the line says what to run again, or that nothing can
            return self.said
        again = " again" if self.standing == "expired" else ""
        return (
            f"{self.said}; to release it{again}: prov check {shlex.quote(tag)} --base {shlex.quote(self.base)} --attest"
        )

    def to_dict(self, tag: str) -> dict[str, Any]:
        """``{"released": bool, "standing", "last_check", "note": :meth:`note` of ``tag``}`` (``prov export
        --json``'s ``release``, schemas/export.schema.json)."""
        return {
            "released": self.released,
            "standing": self.standing,
            "last_check": self.last_check,
            "note": self.note(tag),
        }


def release_standing(store: Store, tag: str, first: bool = False) -> ReleaseStanding:
    """What covers version ``tag`` of ``store`` as a release under ``store.pins`` now (:class:`ReleaseStanding`);
    ``first``: the version has no signed parent (the caller read its verified statement), so no check can release it.

    Reads the store only. Raises what ``kept_attestations`` raises on a store it cannot read (``StoreError``)."""
    from provenance import clock
    from provenance.errors import InputError
    from provenance.gate.check_record import UNSIGNED, last_checks
    from provenance.version_releases import kept_attestations, mark_lost_attestation

    kept = {tag: [item for item in kept_attestations(store).get(tag, []) if item["verified"]]}
    now = clock.now()

    def unexpired(item: dict[str, Any]) -> bool:
        try:
            return item["expires"] is not None and clock.parse(item["expires"], "expires") > now
        except InputError:  # verified releases carry a parsed expiry; anything else is no release now
            return False

    live = [item for item in kept[tag] if unexpired(item)]
    if live:
        mark_lost_attestation(store, {tag: live})  # prov log's judgment of the release's lineage under the pins
    last = last_checks(store).get(tag)
    decision = last["decision"] if last is not None else None
    check = ""
    if decision in ("blocked", "error"):
        verb = "blocked it" if decision == "blocked" else "could not evaluate it"
        check = f"; the last check run here {verb} ({UNSIGNED})"
    if any(not item["warning"] for item in live):
        return ReleaseStanding("released", decision, "", str(live[-1]["base"] or "B"))
    if live:
        newest = live[-1]
        lost = str(newest["warning"]).removeprefix("warning: ")
        said = f"its release kept here ({_release_words(newest)}): {lost}"
        return ReleaseStanding("not_attested", decision, said, str(newest["base"] or "B"))
    if kept[tag]:
        newest = kept[tag][-1]
        said = (
            f"its release kept here ({_release_words(newest)}) expired at {newest['expires']}, so a job that gives "
            f"its attestation refuses it; its signature and records are checked, not that a release covers it now"
            f"{check}"
        )
        return ReleaseStanding("expired", decision, said, str(newest["base"] or "B"))
    if first:
        said = (
            "it is a first version (no signed parent), which no check releases: its signature and records are checked"
        )
        return ReleaseStanding("first_version", decision, said, "B")
    said = f"its signature and records are checked, not that prov check passed it{check}"
    return ReleaseStanding("never_released", decision, said, "B")


def _release_words(item: dict[str, Any]) -> str:
    return f"release {item['release']} against {item['base'] or '?'}"


def warn_if_unreleased(store: Store, tag: str, stacklevel: int, first: bool = False) -> None:
    """Warn, at ``stacklevel`` from here, when no release kept in ``store`` covers ``tag`` under ``store.pins``
    (:func:`release_standing`). Never released, e.g. (:class:`UnreleasedVersionWarning`) ``version v2 loaded
    without a release attestation: its signature and records are checked, not that prov check passed it; the last
    check run here blocked it (unsigned record in .prov). Give attestation=FILE (prov check v2 --base B --attest
    writes one) to load a release only``; its release expired (:class:`UnreleasedVersionWarning`) ``... its release
    kept here (release 2 against v1) expired at T, ...``; its release's records no longer attested under the pins
    (``RuntimeWarning``, as ``load`` with ``attestation=`` warns of it) ``version v2 loaded without a release
    attestation: its release kept here (release 2 against v1): 600 records of this release are no longer attested
    under your pins (...); re-check before training (prov check v2 --base v1)``; ``first`` (no signed parent):
    ``version v1 loaded without a release attestation: it is a first version (no signed parent), which no check
    releases: its signature and records are checked``. Reads the store only."""
    standing = release_standing(store, tag, first)
    if standing.released:
        return
    said = f"version {tag} loaded without a release attestation: {standing.said}"
    if standing.standing in ("not_attested", "first_version"):
        category = RuntimeWarning if standing.standing == "not_attested" else UnreleasedVersionWarning
        warnings.warn(said, category, stacklevel + 1)
        return
    warnings.warn(
        f"{said}. Give attestation=FILE (prov check {shlex.quote(tag)} --base {shlex.quote(standing.base)} --attest "
        "writes one) to load a release only",
        UnreleasedVersionWarning,
        stacklevel + 1,
    )
