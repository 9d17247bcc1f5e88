"""Escaping of untrusted text (labels, sources, paths, versions) for every human-readable output.

Labels, source names and file names come from whoever supplied the data. Printed raw,
an ANSI escape in a label can erase prov's own error line on a terminal and print a
fake "data ok"; a right-to-left override makes ``vendor-a\\u202e`` read as another name;
``<script>`` or ``](http://...)`` in a label becomes markup in a pull-request comment
or the HTML report. Every renderer (text, Markdown, HTML, JUnit, SARIF messages) and the
CLI's own lines pass such values through this one module:

- :func:`visible` replaces every character a reader cannot see as itself with a Python-style
  escape (``\\x1b``, ``\\u202e``): control characters (Unicode category Cc, including
  tab and newline, so a value stays on its line), format characters (Cf: bidirectional
  overrides and isolates, zero-width spaces and joiners, the BOM, soft hyphen, tag
  characters), line and paragraph separators (Zl, Zp), surrogates (Cs) and private-use
  characters (Co), and every space but U+0020 (Zs). Unicode Technical Report #36 ("Unicode Security Considerations") and
  CVE-2021-42574 ("Trojan Source") describe the attacks.
- :func:`markdown` also backslash-escapes the ASCII punctuation that CommonMark and GitHub
  Flavored Markdown give a meaning inline (emphasis, code, links, images, raw HTML,
  entities, table cells), so a value is shown as its text, never as markup.
- :func:`html` also escapes ``& < > " '`` (``html.escape``).
- :func:`shell_word` quotes a value as one word of a command to paste into a shell: ``shlex.quote``,
  or, when it holds a hidden character, bash's ANSI-C quoting (``$'...'``, each byte of a hidden
  character as ``\\xHH``), which reads back as the same bytes and never prints the character itself.
- :func:`name_in_sentence` shows a name (a column's, a struct field's) inside prov's own words: bare when it is
  plain ASCII, else quoted as ``repr`` quotes it, so a comma, a quote or prov's own wording in it reads as one name.

Machine-readable outputs (JSON) keep values exact; JSON's own string escaping already
keeps control characters out of the text.
"""

from __future__ import annotations

import html as _html
import os
import re
import shlex
import unicodedata

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})
"""Unicode general categories whose characters are shown escaped."""

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def hidden(char: str) -> bool:
    """Whether ``char`` (one character) is shown escaped: a control, format, separator,
    surrogate or private-use character, or a space other than U+0020 (an EM SPACE or
    no-break space reads as a plain space, so ``"vendorA (signed batch)\u2003"`` would
    pass for prov's own wording: attack review 5, finding 7)."""
    category = unicodedata.category(char)
    return category in HIDDEN_CATEGORIES or (category == "Zs" and char != " ")


def _escape_char(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(value: object) -> str:
    """``str(value)`` with every hidden character (see :func:`hidden`) replaced by its escape.

    Printable text, spaces and backslashes are kept as they are, so ordinary labels and
    paths read unchanged; the result never holds a newline, a terminal escape or a
    direction override. ``None`` becomes ``"None"`` (callers choose their own wording).
    """
    text = str(value)
    if text.isprintable():  # fast path: nothing hidden (isprintable is false for every hidden category)
        return text
    return "".join(_escape_char(c) if hidden(c) else c for c in text)


def markdown(value: object) -> str:
    """``value`` as literal text in Markdown (CommonMark / GitHub Flavored Markdown), on one line.

    Hidden characters are escaped as by :func:`visible`, then every ASCII punctuation
    character that opens inline markup (``\\ ` * _ [ ] < > | ~ & $``: emphasis, code spans,
    links and images, raw HTML and autolinks, entities, table cells, strikethrough, math)
    is backslash-escaped, so no markup can come from a value. Values go inside lines,
    never at a line's start, so block markers (``#``, ``-``, ``1.``) need no escape.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", visible(value))


def html(value: object) -> str:
    """``value`` as HTML text or attribute content: :func:`visible`, then ``html.escape`` (quotes too)."""
    return _html.escape(visible(value), quote=True)


def refuse_hidden(value: str) -> str | None:
    """A description of the first hidden character in ``value`` (``"U+202E RIGHT-TO-LEFT OVERRIDE"``),
    or ``None`` if it has none. For names that must read as what they are (sources)."""
    for char in value:
        if hidden(char):
            name = unicodedata.name(char, "") or "control character"
            return f"U+{ord(char):04X} {name}"
    return None


def name_in_sentence(name: object, quote_plain: bool = False) -> str:
    """``name`` as it stands in a sentence: as it is when plain ASCII (letters, digits, ``_.-``), else quoted as
    ``repr`` does (``"note' added"``), so a name holding a comma, a quote, a space or prov's own words reads as one
    name (schema review 25: ``note' added (string)`` read as part of the sentence). ``repr`` escapes every character
    :func:`hidden` names (it escapes whatever ``str.isprintable`` refuses), so the result is one visible line.
    ``quote_plain``: quote every name, plain ones too (``column 'px00' removed``), where the sentence's words
    around it could run into a bare one."""
    text = str(name)
    return text if not quote_plain and _PLAIN_NAME.fullmatch(text) else repr(text)


def shell_word(value: str) -> str:
    """``value`` as one word of a command a user pastes into bash or zsh, that the shell reads back as the same
    bytes (a path as ``os.fsencode`` gives it) and that :func:`visible` prints unchanged.

    Without a hidden character it is ``shlex.quote(value)`` (POSIX single quotes). With one, a
    path printed through :func:`visible` would paste as a literal ``\\xa0`` (another path, attack review 19b,
    F19b-5), so it is bash's ANSI-C quoting, ``$'...'`` (the GNU Bash manual, "ANSI-C Quoting"; POSIX.1-2024
    dollar-single-quotes): each byte of a hidden character as ``\\xHH``, a backslash as ``\\\\`` and a
    single quote as ``\\'``, every other character as itself.
    """
    if not any(hidden(c) for c in value):
        return shlex.quote(value)
    out = []
    for char in value:
        if char in "\\'":
            out.append("\\" + char)
        elif hidden(char):
            try:
                raw = os.fsencode(char)
            except UnicodeEncodeError:  # a lone surrogate no file name decodes to: its UTF-8 form, as Python keeps it
                raw = char.encode("utf-8", "surrogatepass")
            out.extend(f"\\x{b:02x}" for b in raw)
        else:
            out.append(char)
    return "$'" + "".join(out) + "'"
