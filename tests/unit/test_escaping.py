"""The one escaping module: what a terminal, a Markdown viewer and a browser show for untrusted text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from provenance.escaping import hidden, html, markdown, name_in_sentence, refuse_hidden, visible

HOSTILE = [
    "\x1b[2K\rdata ok",  # ANSI: erase the line, return, print a fake verdict
    "vendor\u202egnp.exe",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066cat\u2069",  # LEFT-TO-RIGHT ISOLATE ... POP DIRECTIONAL ISOLATE
    "ca\u200bt",  # ZERO WIDTH SPACE
    "\ufeffdog",  # BOM
    "two\nlines",
    "tab\there",
    "nul\x00byte",
    "del\x7f",
    "c1\x9bcsi",  # C1 control (8-bit CSI)
    "para\u2029graph",
    "tag\U000e0041",  # TAG LATIN CAPITAL LETTER A
    "vendorA (signed batch)\u2003",  # EM SPACE: reads as prov's own wording (attack review 5, finding 7)
    "no\u00a0break",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_visible_leaves_no_hidden_character_and_keeps_one_line(text):
    shown = visible(text)
    assert shown.isprintable()  # no control, format, separator or private-use character left
    assert "\n" not in shown and "\x1b" not in shown and "\u202e" not in shown


def test_visible_escapes_as_python_does_and_keeps_ordinary_text():
    assert visible("\x1b[2K\rdata ok") == "\\x1b[2K\\x0ddata ok"
    assert visible("vendor\u202egnp") == "vendor\\u202egnp"
    assert visible("tag\U000e0041") == "tag\\U000e0041"
    for ordinary in ("cat", "café", "東京", "a b", r"C:\data\x", "3.5", "[/]", "<b>"):
        assert visible(ordinary) == ordinary
    assert visible(7) == "7"
    assert visible("vendorA (signed batch)\u2003") == "vendorA (signed batch)\\u2003"


def test_nfc_and_nfd_stay_distinct_and_readable():
    nfc, nfd = "caf\u00e9", "cafe\u0301"  # the combining accent is a mark, shown as itself
    assert visible(nfc) != visible(nfd)


def test_markdown_turns_markup_into_text():
    assert markdown("<script>alert(1)</script>") == "\\<script\\>alert(1)\\</script\\>"
    assert markdown("[click](http://evil)") == "\\[click\\](http://evil)"
    assert markdown("a|b") == "a\\|b"
    assert (
        markdown("**bold** `code` ~~x~~ $x$ &#x202e;") == "\\*\\*bold\\*\\* \\`code\\` \\~\\~x\\~\\~ \\$x\\$ \\&#x202e;"
    )
    assert markdown("two\nlines") == "two\\\\x0alines"
    assert markdown("vendor-a (3.5)") == "vendor-a (3.5)"


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize(
    "text", ['<img src=x onerror="alert(1)">', "</td></tr><script>x</script>", "a & b", "'\"", *HOSTILE]
)
def test_html_is_text_to_a_parser(text):
    parser = _Collect()
    parser.feed(f"<td>{html(text)}</td>")
    parser.close()
    assert parser.tags == ["td"]
    assert "".join(parser.text) == visible(text)


def test_refuse_hidden_names_the_character():
    assert refuse_hidden("vendor-a") is None
    assert refuse_hidden("vendor\u202ea") == "U+202E RIGHT-TO-LEFT OVERRIDE"
    assert refuse_hidden("a\tb") == "U+0009 control character"
    assert hidden("\u200d") and not hidden("é") and not hidden(" ")


@pytest.mark.parametrize(
    "path",
    ["plain/d.parquet", "it's here/d.parquet", "new\u00a0dir/d.parquet", "a'b\\c\u202e d\n$(touch x)", "bad\udcffname"],
)
def test_shell_word_pastes_back_as_the_same_bytes_and_prints_nothing_hidden(path, tmp_path):
    """shell_word (attack review 19b, F19b-5): bash reads the word back as the path's own bytes (os.fsencode), nothing
    in it runs, and visible() prints it unchanged, so the command shown is the command that runs."""
    import os
    import subprocess

    from provenance.escaping import shell_word

    word = shell_word(path)
    assert visible(word) == word
    r = subprocess.run(["bash", "-c", f"printf %s {word}"], cwd=tmp_path, capture_output=True, check=True)
    assert r.stdout == os.fsencode(path)
    assert not (tmp_path / "x").exists()


def test_name_in_sentence_keeps_plain_names_and_quotes_the_others_as_one_visible_word():
    """The bytes ``column_names_text`` and the schema lines printed before one helper did both (schema review 25)."""
    assert name_in_sentence("px00") == "px00" and name_in_sentence("a.b-c_d") == "a.b-c_d"
    assert name_in_sentence("px00", quote_plain=True) == "'px00'"
    assert name_in_sentence("note' added (string)") == '"note\' added (string)"'
    assert name_in_sentence("a, b") == "'a, b'" and name_in_sentence("vendor\u202e") == "'vendor\\u202e'"
    assert name_in_sentence("x\ny\x1b[8m") == "'x\\ny\\x1b[8m'"


def test_name_in_sentence_escapes_every_hidden_character():
    """``repr`` escapes all that :func:`hidden` names (``str.isprintable`` refuses a superset), so a quoted name is
    one visible line: held over every code point, so a Python whose ``repr`` changed would fail here."""
    missed = [hex(c) for c in range(0x110000) if hidden(chr(c)) and chr(c) in name_in_sentence(chr(c))]
    assert not missed, missed[:10]
