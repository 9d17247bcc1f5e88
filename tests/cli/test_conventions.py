"""Conventions people expect of a command line: one-line usage errors (exit 2), --version,
-q, completion scripts, --help grouped by workflow, commit -m, identical commits, status,
the store's ignore rules and a keys folder made on demand."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator

from provenance.changes import MAX_LISTED
from provenance.cli import _lazy
from support import store_fingerprint

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def validate(name: str, doc) -> None:
    Draft202012Validator(json.loads((SCHEMAS / f"{name}.schema.json").read_text())).validate(doc)


def prov_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``prov ARGS`` as its own process (what a shell runs), importing this tree's code."""
    env = {**os.environ, "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "provenance", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    "args, start",
    [
        (["commit"], "Error: prov commit: Missing argument 'DATA'."),
        (["nosuch"], "Error: prov: No such command 'nosuch'."),
        (["log", "--bogus"], "Error: prov log: No such option: --bogus"),
        (["keys", "generate"], "Error: prov keys generate: Missing argument 'NAME'."),
        (["check", "v2", "--base", "v1", "--format", "yaml"], "Error: --format 'yaml': expected one of"),
        # one wording for a format a command does not write (newcomer review 10, finding 25)
        (["check", "v2", "--base", "v1", "--format", "html"], "Error: --format 'html': not available for check (use"),
        (["diff", "v1", "v2", "--format", "sarif"], "Error: --format 'sarif': not available for diff (use"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(tmp_path, args, start):
    r = prov_process(*args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(start), r.stderr
    assert "╭" not in r.stderr and r.stdout == ""


def test_version_prints_the_installed_version(tmp_path):
    r = prov_process("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == f"prov {version('prov-data')}\n"


def test_help_groups_commands_by_workflow(tmp_path):
    listed = [n for names in _lazy.PANELS.values() for n in names]
    assert sorted(listed) == sorted(_lazy.COMMANDS), "every command in exactly one panel of prov --help"
    out = prov_process("--help", cwd=tmp_path).stdout
    positions = [out.index(f"\n{panel}:\n") for panel in _lazy.PANELS]
    assert positions == sorted(positions)
    for panel, names in _lazy.PANELS.items():
        section = out[out.index(f"\n{panel}:\n") :].split("\n\n")[0]
        assert [
            line.split()[0] for line in section.splitlines()[1:] if line.startswith("  ") and not line.startswith("   ")
        ] == list(names), panel


def test_completion_scripts_complete_commands_in_a_real_bash(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "prov"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m provenance "$@"\n')
    wrapper.chmod(0o755)
    script = 'source <(prov completion bash)\nCOMP_WORDS=(prov sta); COMP_CWORD=1; _prov_completion prov\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["status"]
    for shell in ("zsh", "fish"):
        assert "_PROV_COMPLETE=complete_" + shell in prov_process("completion", shell, cwd=tmp_path).stdout
    bad = prov_process("completion", "tcsh", cwd=tmp_path)
    assert (
        bad.returncode == 2
        and bad.stderr == "Error: shell 'tcsh': prov prints completion for bash, zsh, fish, powershell\n"
    )
    assert not (tmp_path / ".bashrc").exists() and not (Path.home() / ".bash_completions" / "prov.sh").exists()


def test_quiet_drops_notes_not_results(prov, workdir, digits_parquet):
    prov("init")
    prov("keys", "generate", "k")
    assert prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key").exit_code == 0
    loud = prov("show", "v1")
    assert "Note: signatures were checked only against keys found in the store" in loud.stderr
    quiet = prov("-q", "show", "v1")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == loud.stdout


def test_keys_generate_makes_the_folder(prov, workdir):
    r = prov("keys", "generate", "keys/committer")
    assert r.exit_code == 0, r.output
    assert (workdir / "keys" / "committer.pub").exists()
    assert (workdir / "keys" / "committer.key").stat().st_mode & 0o777 == 0o600


def test_commit_message_is_signed_and_identical_data_still_makes_the_version(prov, workdir, digits_parquet):
    prov("init")
    prov("keys", "generate", "k")
    r = prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key", "-m", "first delivery\nfrom vendor")
    assert r.exit_code == 0, r.output
    r = prov("commit", digits_parquet, "--tag", "v2", "--key", "k.key", "--signer", "k.pub", "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    validate("commit", out)
    assert out["identical_to"] == "v1" and out["message"] is None and out["parent"] == "v1"
    r = prov("commit", digits_parquet, "--tag", "v3", "--key", "k.key", "--signer", "k.pub")
    assert r.exit_code == 0 and "identical to v2" in r.stdout
    show = json.loads(prov("show", "v1", "--signer", "k.pub", "--json").stdout)
    validate("show", show)
    assert show["message"] == "first delivery\nfrom vendor"
    assert "message: first delivery\\x0afrom vendor" in prov("show", "v1", "--signer", "k.pub").stdout
    # newcomer 5 item 9: records with no source are "(no source)", as every report spells it, not "(none)"
    table = pq.read_table(digits_parquet)
    pq.write_table(table.append_column("source", pa.array([None] * 100 + ["crowd"] * 500, pa.string())), "src.parquet")
    assert (
        prov(
            "commit", "src.parquet", "--tag", "s1", "--key", "k.key", "--signer", "k.pub", "--source-column", "source"
        ).exit_code
        == 0
    )
    sources = next(line for line in prov("show", "s1", "--signer", "k.pub").stdout.splitlines() if "sources:" in line)
    assert "(no source)=100" in sources and "crowd=500" in sources and "(none)" not in sources
    from provenance.store import Store

    store = Store.open()
    envelope = json.loads(store.objects.get(store.version("v1")["envelope_object"]))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    validate("version-statement", statement)
    assert statement["predicate"]["message"] == "first delivery\nfrom vendor"  # under the signature
    before = store_fingerprint(workdir / ".prov")
    r = prov("commit", digits_parquet, "--tag", "v4", "--key", "k.key", "--signer", "k.pub", "-m", "  ")
    assert r.exit_code == 2 and r.stderr.startswith("Error: commit message:") and r.stderr.count("\n") == 1
    assert store_fingerprint(workdir / ".prov") == before


def test_status_compares_the_working_data_with_the_last_version(prov, workdir, digits_parquet):
    prov("init")
    prov("keys", "generate", "k")
    r = prov("status")
    assert r.exit_code == 2 and "no version yet" in r.stderr
    r = prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key")
    names = [c for c in pq.read_schema(digits_parquet).names if c != "label"]
    # newcomer 5 item 9: the featuriser's 64 column names made one 400-character line
    (profile,) = [line for line in r.stdout.splitlines() if "reference profile:" in line]
    assert len(names) == 64 and len(profile) < 120, r.stdout
    assert f"features numeric/v1 over 64 columns ({', '.join(names[:3])}, ..., {names[-1]})" in r.stdout
    before = store_fingerprint(workdir / ".prov")
    clean = json.loads(prov("status", "--signer", "k.pub", "--json").stdout)
    validate("status", clean)
    assert clean["clean"] and clean["version"] == "v1" and clean["records"] == 600
    assert "unchanged since v1 (600 records)" in prov("status", "--signer", "k.pub").stdout

    table = pq.read_table(digits_parquet)
    labels = table.column("label").to_pylist()
    labels[5] = "9" if labels[5] != "9" else "8"
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))
    pq.write_table(table.slice(0, 590), digits_parquet)  # one relabel, ten rows gone
    r = prov("status", "--signer", "k.pub", "--json")
    assert r.exit_code == 0
    report = json.loads(r.stdout)
    validate("status", report)
    assert not report["clean"] and report["counts"]["relabeled"] == 1 and report["counts"]["removed"] == 10
    assert {c["locator"] for c in report["changes"] if c["kind"] == "relabeled"} == {"5"}
    text = prov("status", "--signer", "k.pub").stdout
    assert "1 removed" not in text and "10 removed, 1 relabeled since v1 (590 records now)" in text
    # newcomer review 8, finding 19: a summary and 5 rows of each kind, as git status; no Markdown backticks printed.
    # Newcomer review 12, finding 11: the relabel first (5 additions hid 5 relabels after "... and 600 more")
    assert text.count("\n  removed ") == 5 and text.index("\n  relabeled row 5 ") < text.index("\n  removed ")
    more = "  ... and 5 more (--json lists 20 of each kind; prov diff v1 NEW lists every one once committed as NEW)"
    assert more in text.splitlines()
    assert text.endswith("\n  prov commit records them as a new version; prov diff then compares it with v1\n")
    assert "`" not in text
    pq.write_table(table.slice(0, 560), digits_parquet)
    report = json.loads(prov("status", "--signer", "k.pub", "--json").stdout)
    assert [c["kind"] for c in report["changes"]].count("removed") == MAX_LISTED and report["none_shared"] is None
    other = workdir / "other.parquet"
    pq.write_table(table.slice(0, 600), other)
    named = json.loads(prov("status", str(other), "--signer", "k.pub", "--json").stdout)
    assert named["counts"]["relabeled"] == 1 and named["counts"]["removed"] == 0
    missing = prov("status", "nothere.parquet")
    assert missing.exit_code == 2 and "nothere.parquet" in missing.stderr and missing.stderr.count("\n") == 1
    assert store_fingerprint(workdir / ".prov") == before  # status writes nothing


def test_a_wrong_file_is_named_as_one_not_as_records_changed_by_row(prov, workdir, digits_parquet):
    """Newcomer review 8, finding 7: another file's records were 'changed row 0, 1, ...', paired by place."""
    prov("init")
    prov("keys", "generate", "k")
    table = pq.read_table(digits_parquet)
    pq.write_table(table.slice(0, 500), "train.parquet")
    pq.write_table(table.slice(500, 60), "other.parquet")
    assert prov("commit", "train.parquet", "--tag", "v1", "--key", "k.key").exit_code == 0
    r = prov("status", "other.parquet", "--signer", "k.pub")
    assert r.exit_code == 0 and r.stdout == (
        "other.parquet: 60 added, 500 removed since v1 (60 records now)\n"
        "  none of the 60 records is in v1 (500 there): another file, or every record replaced\n"
    )
    report = json.loads(prov("status", "other.parquet", "--signer", "k.pub", "--json").stdout)
    validate("status", report)
    assert report["counts"]["changed"] == 0 and report["none_shared"].startswith("none of the 60 records is in v1")
    assert prov("sign", "train.parquet", "--source", "vendor", "--key", "k.key").exit_code == 0
    assert prov("trust", "add", "vendor", "k.pub", "--key", "k.key").exit_code == 0
    r = prov("verify", "other.parquet", "--envelope", "train.parquet.prov.json", "--signer", "k.pub")
    assert r.exit_code == 1 and "changed row" not in r.stderr
    assert r.stderr.startswith(
        "Error: other.parquet: does not match the batch 'vendor' signed with key "
    ) and r.stderr.splitlines()[0].endswith(
        "(60 added, 500 removed): none of the 60 records is in the signed batch (500 there): another file, or "
        "every record replaced"
    )
    pq.write_table(table.slice(0, 499), "train.parquet")  # one record gone: still an edit, named by row
    r = prov("status", "train.parquet", "--signer", "k.pub")
    assert r.stdout.startswith("train.parquet: 1 removed since v1 (499 records now)\n  removed row 499 (digest ")


def test_init_ignores_what_a_write_leaves_and_fsck_accepts_it(prov, workdir, digits_parquet):
    subprocess.run(["git", "init", "-q", "."], check=True)
    assert prov("init").exit_code == 0
    prov("keys", "generate", "k")
    assert prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key").exit_code == 0
    for leftover in ("prov.db-journal", ".prov.db.init", "objects/.tmp-abc"):
        (workdir / ".prov" / leftover).write_text("")
    ignored = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", ".prov"], capture_output=True, text=True
    ).stdout.splitlines()
    assert sorted(line for line in ignored if line.startswith("!!")) == [
        "!! .prov/.prov.db.init",
        "!! .prov/objects/.tmp-abc",
        "!! .prov/prov.db-journal",
    ]
    tracked = {line[3:] for line in ignored if line.startswith("??")}
    assert {".prov/prov.db", ".prov/lock", ".prov/.gitignore"} <= tracked  # a clone gets a store it can write
    for leftover in ("prov.db-journal", ".prov.db.init", "objects/.tmp-abc"):
        (workdir / ".prov" / leftover).unlink()
    report = json.loads(prov("fsck", "--signer", "k.pub", "--json").stdout)
    assert report["errors"] == [] and report["warnings"] == []


def test_help_wraps_at_the_terminal_not_mid_sentence_and_names_arguments_in_capitals(tmp_path):
    """Newcomer review 10, finding 24: `--help` kept the docstrings' line breaks ("with nothing pinned it⏎
    exits 2") and showed arguments as {data}, {base} {new}."""
    env = {**os.environ, "COLUMNS": "250"}
    run = [sys.executable, "-m", "provenance"]
    verify = subprocess.run([*run, "verify", "--help"], cwd=tmp_path, capture_output=True, text=True, env=env).stdout
    assert any("with nothing pinned it exits 2, unless --store-keys asks" in line for line in verify.splitlines())
    assert "Usage: prov verify [OPTIONS] VERSION|DATA" in verify
    diff = subprocess.run([*run, "diff", "--help"], cwd=tmp_path, capture_output=True, text=True, env=env).stdout
    assert "Usage: prov diff [OPTIONS] BASE NEW" in diff and "{" not in diff.split("Usage:")[1].splitlines()[0]
