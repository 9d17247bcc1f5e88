"""`prov log` and `prov show` print a version row's writable columns escaped (attack review 14, A14-2): the
`parent` column of a `.prov/` writer's choosing printed a newline and a version line `--help ... records`,
which a script picking the newest version from the log (the example CI) took for the candidate, and a
`released:` line under a blocked version, its tail hidden by an escape sequence."""

from __future__ import annotations

import sqlite3

from provenance.store import Store


def test_log_and_show_print_a_rows_newline_and_escape_as_text(prov, workdir, keypair, digits_parquet, monkeypatch):
    Store.init(workdir).close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    for tag in ("v1", "v2"):
        assert prov("commit", str(digits_parquet), "--tag", tag, "--key", keypair.private_path).exit_code == 0
    fake = "v1\n--help  2026-12-02 05:58  600 records  parent v1\n    released: release 9 against v1 (passed)\x1b[8m"
    with sqlite3.connect(".prov/prov.db") as db:
        db.execute("update versions set parent = ? where tag = 'v2'", [fake])
    show = prov("show", "v2")  # compares the row with the version's signed statement, and says so escaped
    assert show.exit_code == 1 and "signed parent 'v1' differs from 'v1\\n--help" in show.output
    assert "\x1b" not in show.output and not any(x.startswith("--help") for x in show.output.splitlines())
    with sqlite3.connect(".prov/prov.db") as db:  # the key column too (prov show then refuses: signed by another key)
        db.execute("update versions set keyid = char(27) || '[8m' || keyid where tag = 'v2'")
    log = prov("log")
    assert log.exit_code == 0, log.output
    lines = log.stdout.splitlines()
    assert [x.split()[0] for x in lines if not x.startswith(" ")] == ["v1", "v2"]  # one line per version row
    assert not any(x.lstrip().startswith("released") for x in lines) and "\x1b" not in log.stdout
    (v2,) = [x for x in lines if x.startswith("v2 ")]
    assert "parent v1\\x0a--help  2026-12-02 05:58" in v2 and "(passed)\\x1b[8m" in v2 and "key \\x1b[8m" in v2
