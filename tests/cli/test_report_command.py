"""`prov report`: a saved JSON report rendered in another format is what the command itself prints,
so CI runs the gate once and derives SARIF and the job summary from that run."""

from __future__ import annotations

import json


def test_a_saved_check_and_diff_render_as_the_commands_do(prov, workdir, three_versions, keypair):
    pin = ["--signer", str(keypair.public_path)]
    r = prov("check", "v2", "--base", "v1", *pin, "--format", "json", "--out", "check.json")
    assert r.exit_code in (0, 1), r.output
    for fmt in ("sarif", "junit", "md"):
        direct = prov("check", "v2", "--base", "v1", *pin, "--format", fmt).stdout
        rendered = prov("report", "check.json", "--format", fmt)
        assert rendered.exit_code == 0, rendered.output  # exit 0: the decision was the check's exit code
        if fmt == "sarif":
            assert json.loads(rendered.stdout) == json.loads(direct)
        elif fmt == "md":
            assert rendered.stdout.splitlines()[0] == direct.splitlines()[0]
    assert prov("diff", "v1", "v2", *pin, "--format", "json", "--out", "diff.json").exit_code == 0
    md = prov("report", "diff.json", "--format", "md", "--out", "diff.md")
    assert (
        md.exit_code == 0
        and (workdir / "diff.md").read_text() == prov("diff", "v1", "v2", *pin, "--format", "md").stdout
    )


def test_a_file_that_is_not_a_saved_report_is_one_line_and_exit_2(prov, workdir):
    (workdir / "notjson.txt").write_text("hello")
    (workdir / "other.json").write_text('{"format": "sarif"}')
    (workdir / "partial.json").write_text('{"format": "prov.check/v1"}')
    (workdir / "folder").mkdir()
    for name, says in (
        ("notjson.txt", "notjson.txt: report is not JSON"),
        ("other.json", "other.json: not a prov report"),
        ("partial.json", "partial.json: incomplete check report"),
        ("folder", "folder: report is a folder"),
        ("missing.json", "missing.json: cannot read report"),
    ):
        r = prov("report", name, "--format", "md")
        assert r.exit_code == 2 and r.stderr.startswith(f"Error: {says}") and r.stderr.count("\n") == 1, r.stderr


def test_a_report_edited_to_say_passed_is_refused(prov, workdir, three_versions, keypair):
    """Security review 2: a pull request can commit a prov-check.json saying "passed" over
    blocking rules; rendering it must not make CI's summary or SARIF look green."""
    pin = ["--signer", str(keypair.public_path)]
    assert prov("check", "v2", "--base", "v1", *pin, "--format", "json", "--out", "check.json").exit_code in (0, 1)
    report = json.loads((workdir / "check.json").read_text())
    report["rules"][0]["status"] = "block"
    report["decision"], report["exit_code"] = "pass", 0
    (workdir / "forged.json").write_text(json.dumps(report))
    r = prov("report", "forged.json", "--format", "md")
    assert r.exit_code == 2 and r.stdout == ""
    assert "forged.json: says decision 'pass' (exit 0) but its rules give 'blocked' (exit 1)" in r.stderr
