"""Newcomer review 24: hints where a new user was left without a next step."""

from __future__ import annotations

import json


def test_log_of_an_empty_store_says_how_to_commit_the_first_version(prov, workdir, store):
    """`prov log` right after `prov init` said only `No versions yet.`, where `prov status` names the command."""
    r = prov("log")
    assert r.exit_code == 0 and r.stdout == "No versions yet: prov commit DATA --tag V --key K makes the first.\n"
    assert json.loads(prov("log", "--json").stdout)["versions"] == []
