"""README: "Every command but `prov completion` takes `--json` (or `--format`)" (newcomer review 3, item 9)."""

from __future__ import annotations

import typer

from provenance.cli import app


def leaf_commands(group, ctx, prefix: str = "") -> dict:
    out = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if hasattr(command, "list_commands"):  # a group (typer's own click, or the lazy group)
            out |= leaf_commands(command, type(ctx)(command, parent=ctx), f"{prefix}{name} ")
        else:
            out[f"{prefix}{name}"] = command
    return out


def test_every_command_but_completion_takes_json_or_format():
    root = typer.main.get_command(app)
    commands = leaf_commands(root, root.context_class(root))
    assert {"commit", "check", "waive", "keys generate", "audit verify", "completion"} <= set(commands)
    without = {
        name for name, c in commands.items() if not {"--json", "--format"} & {o for p in c.params for o in p.opts}
    }
    assert without == {"completion"}
