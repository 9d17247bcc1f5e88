"""What a file given as ``--checkpoint`` looks like when it is no log state (newcomer review 17, F6): one phrase for
each kind of file a user might pass by mistake, never a crash, never more than a line."""

from __future__ import annotations

import pytest

from provenance.gate.log_state_file import looks_like, not_a_log_state


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"[1, 2]", "a JSON list, not an object"),
        (b'"kept"', "a JSON string, not an object"),
        (b"{}", "an empty JSON object"),
        (b'{"format": "prov.release-state/v1", "release": 3}', "the release state prov verify --release-state keeps"),
        (
            b'{"size": 7, "root": "ab", "head": "cd", "keyid": "ef", "object": "01"}',
            "what prov audit checkpoint --json",
        ),
        (b"[detectors]\nfpr = 0.01\n", "a policy file (prov check --policy)"),
        (b'title = "notes"\n', "a TOML file, not JSON"),
        (b"PAR1\x00\x01", "a Parquet file"),
        (b"\x00\x01\x02garbage", "neither JSON nor text"),
        (b"not: [json", "text that is not JSON"),
        (b"[" * 100_000, "text that is not JSON"),  # nested past the recursion limit: said, not raised
    ],
)
def test_each_kind_of_file_is_named(data, said):
    assert said in looks_like(data)


def test_a_json_object_is_named_by_its_first_keys_each_shortened_and_escaped():
    said = looks_like(b'{"' + b"k" * 500 + b'": 1, "a\\u001b[31m": 2, "c": 3, "d": 4, "e": 5}')
    assert said == f"a JSON object with keys {'k' * 40}, a\\x1b[31m, c, d, ..."


def test_the_error_is_one_line_with_exit_2():
    error = not_a_log_state("report.json", "a 'prov diff --format json' report")
    assert error.exit_code == 2
    assert str(error) == (
        "report.json: not a log state kept by prov commit --checkpoint-out / prov audit checkpoint (it looks like a "
        "'prov diff --format json' report)"
    )
