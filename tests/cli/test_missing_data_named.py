"""A data path that does not exist is said first, by name, for every command that reads one (newcomer review 14,
findings 14 and 15): `prov add nosuch.parquet --source vendor` sent the user after the envelope of a file that was
not there, and `commit`, `sign` and `add` named a mistyped path without the did-you-mean `verify` gives."""

from __future__ import annotations

import hashlib


def store_digest(world) -> str:
    return hashlib.sha256((world.root / ".prov" / "prov.db").read_bytes()).hexdigest()


def one_error_line(r) -> str:
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_add_of_a_missing_data_file_says_the_file_is_missing_not_its_envelope(prov, world):
    before = store_digest(world)
    for extra in ([], ["--unsigned"], ["--envelope", "vendor.parquet.prov.json"]):
        line = one_error_line(prov("add", "nosuch.parquet", "--source", "vendor", *extra))
        assert line.startswith("Error: nosuch.parquet: no such file or folder") and "envelope" not in line, extra
    assert store_digest(world) == before


def test_a_mistyped_data_path_gets_the_close_name(prov, world):
    line = one_error_line(prov("add", "vendr.parquet", "--source", "vendor"))
    assert line == "Error: vendr.parquet: no such file or folder (did you mean 'vendor.parquet'?)"
    line = one_error_line(prov("commit", "vendor_parquet", "--tag", "v1", "--key", world.owner.private_path))
    assert line == "Error: vendor_parquet: no such file or folder (did you mean 'vendor.parquet'?)"
    line = one_error_line(prov("sign", "crowd.parqet", "--source", "crowd", "--key", world.owner.private_path))
    assert line == "Error: crowd.parqet: no such file or folder (did you mean 'crowd.parquet'?)"
