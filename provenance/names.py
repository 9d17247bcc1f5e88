"""Names in messages: a mistyped name's close match, a list capped to one readable line, a short digest.

A table with 64 pixel columns made `no label column 'klass'` print all 65 names on one
line (newcomer review 8, finding 11); every "no such X (known: ...)" message goes through here.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence

SHOWN = 6  # names listed before "..."
SHORT_DIGEST = 12  # hex characters of a record digest in text: tables, messages, batch ids (vendor@dec58ecde302)


def short_digest(digest: str) -> str:
    """A record digest (hex) as every text output shows it: its first ``SHORT_DIGEST`` characters, which
    ``prov waive`` accepts as a prefix (newcomer review 8, finding 14: tables said 12, messages 16)."""
    return digest[:SHORT_DIGEST]


def is_row_number(text: str) -> bool:
    """Whether a manifest locator (or its part after the last ``#``, ``file#row``) names a row number: one or
    more ASCII digits, as prov writes them. Not ``str.isdigit``, which also takes ``"²"`` (``int`` refuses it: a
    signed locator, or a tree's file named ``x#²``, was exit 3, attack review 24b, finding 2) and other scripts'
    digits: those locators are text (a tree's path), wherever one is ranked, placed or shown."""
    return text.isascii() and text.isdigit()


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to a mistyped one, or nothing; a name that
    differs only in case is the closest (newcomer review 9, finding 10: ``V4`` got no ``v4``)."""
    same = [k for k in known if k.lower() == name.lower() and k != name]
    close = same[:1] or difflib.get_close_matches(name, list(known), n=1)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=1)]
    return f" (did you mean {close[0]!r}?)" if close else ""


def capped(names: Sequence[str], what: str = "columns") -> str:
    """``px00, px01, px02, px03, px04, ..., class (65 columns)``: every name when there are few."""
    if len(names) <= SHOWN + 1:
        return ", ".join(names)
    return f"{', '.join(names[: SHOWN - 1])}, ..., {names[-1]} ({len(names)} {what})"


def looks_like_file(name: str) -> bool:
    """Whether a command-line argument names a file rather than a version: it has a suffix or a folder."""
    return "/" in name or os.sep in name or bool(os.path.splitext(name)[1])


def no_such_file(path: str) -> str:
    """``batch.prquet: no such file (did you mean 'batch.parquet'?)``: the closest name in its folder."""
    return f"{path}: no such file{near_file(path)}"


def near_file(path: str, suffix: str | None = None) -> str:
    """`` (did you mean 'batch.parquet'?)`` for the closest name in a missing local ``path``'s folder, or nothing;
    with ``suffix`` (``.key``), only names ending in it are offered (a missing private key is never matched to
    a ``.pub``)."""
    folder, name = os.path.split(path)
    try:
        siblings = [s for s in os.listdir(folder or ".") if suffix is None or s.endswith(suffix)]
    except OSError:
        siblings = []
    close = difflib.get_close_matches(name, siblings, n=1)
    return f" (did you mean {os.path.join(folder, close[0])!r}?)" if close else ""
