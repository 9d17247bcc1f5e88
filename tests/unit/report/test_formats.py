"""The --format choices: each maps to one module's formatter, which writes the report kinds it supports."""

from __future__ import annotations

import pytest

from provenance.errors import InputError
from provenance.report import Format, format_for, formats_for, html, json_format, junit, markdown, render, sarif, text


def test_each_format_is_written_by_its_own_module():
    modules = {
        Format.TEXT: text,
        Format.JSON: json_format,
        Format.MD: markdown,
        Format.HTML: html,
        Format.SARIF: sarif,
        Format.JUNIT: junit,
    }
    assert set(modules) == set(Format)
    for fmt, module in modules.items():
        assert fmt.formatter() is module.FORMATTER


def test_diff_and_check_list_the_formats_they_can_be_written_in():
    assert [f.value for f in formats_for("diff")] == ["text", "json", "md", "html"]
    assert [f.value for f in formats_for("check")] == ["text", "json", "md", "sarif", "junit"]


def test_a_format_that_does_not_exist_or_does_not_fit_the_report_is_an_input_error():
    assert format_for("diff", "md") is Format.MD and format_for("check", Format.SARIF) is Format.SARIF
    with pytest.raises(InputError, match=r"--format 'sarif': not available for diff"):
        format_for("diff", "sarif")
    with pytest.raises(InputError, match=r"--format 'yaml': expected one of text, json, md, html"):
        render("diff", "yaml", {})
    with pytest.raises(InputError, match=r"--format 'sarif': not available for diff \(use text, json, md, html\)"):
        render("diff", "sarif", {})
    with pytest.raises(InputError, match=r"--format 'html': not available for check"):
        render("check", Format.HTML, {})
