"""Newcomer review 21: the README's Commands table and its "Commands in detail" paragraph show one usage per
subcommand. The table's ``prov trust retire`` left out ``--yes``, which a retirement at a past ``--at`` needs
(the paragraph below and ``--help`` show it), so a maintainer rotating a stolen source key out from the table
hit exit 2."""

from __future__ import annotations

import re

from support import doc_section


def test_the_trust_row_and_its_paragraph_show_the_same_usage_for_each_subcommand():
    [row] = [line for line in doc_section("Commands").splitlines() if line.startswith("| `prov trust add ")]
    detail_lines = doc_section("Commands in detail").splitlines()  # the README's link, and docs/commands.md
    [paragraph] = [line for line in detail_lines if line.startswith('<a id="trust"></a>')]
    table = re.findall(r"`([^`]+)`", row.split(" | ")[0])
    detail = re.findall(r"`([^`]+)`", paragraph.split(": Which keys")[0])
    assert [s.split()[0] for s in table] == ["prov", "retire", "revoke", "list"], table
    assert table == detail
    assert any(s.startswith("retire ") and "[--yes]" in s for s in table)


def test_a_stolen_keys_revocation_bullet_names_the_way_back_for_genuine_records():
    """The condensed "A stolen key" said only to quarantine the source or withdraw the batch, both of which drop
    the vendor's genuine records; the full text (docs/reference.md) and the step by step have it sign them again."""
    text = doc_section("A stolen key")  # docs/security-model.md since the README's split (session 29)
    section = text[: text.index('<a id="revoking-step-by-step"></a>')]
    bullet = section[section.index("- **Revocation**") :].split("\n- ")[0]
    assert "sign them again with a" in " ".join(bullet.split()), bullet
    assert "[step by step](#revoking-step-by-step)" in bullet, bullet
