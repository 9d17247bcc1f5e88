"""The README's Commands table brackets an option exactly when the command does not require it (newcomer review 20).

`prov keys revoke KEYID --reason R ...` read as if a reason were required, as `prov trust revoke`'s is, while the
command revokes without one (the audit entry's reason is then null): a maintainer revoking a stolen key in a hurry
cannot tell from the README which of the two forms needs what.
"""

from __future__ import annotations

import re

import pytest
import typer.main

from provenance.cli import app
from support import doc_section

COMMANDS = doc_section("Commands")


def usage(start: str) -> str:
    """The code span of the Commands table that starts with ``start`` (its first cell)."""
    spans = [
        span for line in COMMANDS.splitlines() if line.startswith("| `prov ") for span in re.findall(r"`([^`]+)`", line)
    ]
    found = [span for span in spans if span.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def shown_optional(span: str, option: str) -> bool:
    """Whether ``option`` sits inside brackets in ``span`` (asserts it is shown there)."""
    match = re.search(rf"{re.escape(option)}(?![\w-])", span)
    assert match is not None, (option, span)
    before = span[: match.start()]
    return before.count("[") > before.count("]")


def required(path: str, option: str) -> bool:
    command = typer.main.get_command(app)
    ctx = command.context_class(command)
    for word in path.split():
        command = command.get_command(ctx, word)  # type: ignore[attr-defined]
        ctx = command.context_class(command, parent=ctx)
    (param,) = [p for p in command.params if option in p.opts]
    return bool(param.required)


@pytest.mark.parametrize(
    ("path", "start", "option"),
    [
        ("keys revoke", "prov keys revoke KEYID", "--reason"),
        ("keys revoke", "prov keys revoke KEYID", "--checkpoint-key"),
        ("trust revoke", "revoke SOURCE", "--reason"),
        ("trust revoke", "revoke SOURCE", "--key-id"),
        ("withdraw", "prov withdraw BATCH", "--reason"),
        ("waive", "prov waive DIGEST", "--reason"),
        ("waive", "prov waive DIGEST", "--label"),
    ],
)
def test_the_commands_table_brackets_an_option_the_command_does_not_require(path, start, option):
    assert shown_optional(usage(start), option) == (not required(path, option)), (path, option)
