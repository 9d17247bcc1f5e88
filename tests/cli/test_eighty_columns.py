"""At 80 columns, prov log, sources and audit verify print lines that fit (newcomer review 10, finding 26:
log printed 106 characters a line, sources' header 84, audit verify's checkpoint lines more)."""

from __future__ import annotations

import pytest

PIN = ("--signer", "alice.pub")


@pytest.mark.parametrize(
    "args",
    [("log",), ("sources", *PIN), ("audit", "verify", *PIN)],
    ids=["log", "sources", "audit-verify"],
)
def test_every_line_fits_80_columns(prov, three_versions, args):
    assert prov("diff", "v2", "v3", "--detect", *PIN).exit_code == 0  # a detector run in the log, as after a review
    assert prov("audit", "checkpoint", "--key", "alice.key").exit_code == 0  # audit verify names a checkpoint
    r = prov(*args, env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) >= 2 and max(map(len, lines)) <= 80, [line for line in lines if len(line) > 80]


def test_log_keeps_the_tag_first_and_the_message_under_it(prov, three_versions):
    lines = prov("log", env={"COLUMNS": "80"}).stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["v1", "v2", "v3"]
    assert all(line.endswith(" key " + lines[0].split()[-1]) for line in lines)  # 16 hex, as prov show names it
