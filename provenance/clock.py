"""The one UTC clock: what time it is, and times written and read as ISO 8601 (RFC 3339).

Every time prov signs, stores or compares (``createdAt`` of a version, a key's validity
window, a batch's ``capturedAt``, an attestation's ``checkedAt``, audit entries, waivers,
detector runs) comes from here, so all of them are UTC, written the same way
(``2025-01-31T12:00:00+00:00``) and parsed by the same rule.
"""

from __future__ import annotations

import datetime as dt

from provenance.errors import InputError


def now() -> dt.datetime:
    """The current time: an aware ``datetime`` in UTC, truncated to whole seconds."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(t: dt.datetime, timespec: str = "seconds") -> str:
    """``t`` in UTC as ISO 8601, e.g. ``2025-01-31T12:00:00+00:00``.

    ``timespec`` is that of :meth:`datetime.isoformat` (``"seconds"`` by default;
    the audit log uses ``"microseconds"`` so entries written in one second stay ordered).
    A naive ``t`` is taken to be UTC.
    """
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat(timespec=timespec)


def now_iso(timespec: str = "seconds") -> str:
    """The current UTC time as ISO 8601 (``iso(now())``, at ``timespec`` precision)."""
    return iso(dt.datetime.now(dt.UTC), timespec)


def latest(value: str, what: str) -> dt.datetime:
    """The latest moment ``value`` (ISO 8601, as :func:`parse` reads it) can stand for: a time written to whole
    seconds is the last microsecond of its second, one with a fraction is itself.

    A version's signed ``createdAt`` is whole seconds, truncated, while a key's window can end to the
    microsecond (``prov trust retire``): a head signed at 12:00:00.9 says 12:00:00, so what it shows existing
    is known to have existed only by 12:00:00.999999 (attack review 20b, A20b-2). Raises
    :class:`~provenance.errors.InputError` like :func:`parse`.
    """
    t = parse(value, what)
    whole_seconds = "." not in value.split("T", 1)[-1] and t.microsecond == 0
    return t + dt.timedelta(seconds=1, microseconds=-1) if whole_seconds else t


def parse(value: str, what: str) -> dt.datetime:
    """An ISO 8601 date or date-time (``Z`` allowed) as an aware ``datetime``; naive values are UTC.

    Raises :class:`~provenance.errors.InputError` naming ``what`` (a flag, a field or a
    file) when ``value`` is not a date.
    """
    try:
        t = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError) as exc:
        raise InputError(
            f"{what} {value!r}: not an ISO date or date-time (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)"
        ) from exc
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
