"""The examples in examples/ run for real: a DVC pipeline under `dvc repro`, a git
pre-commit hook under `git commit`, and the shell lines of the GitHub Actions workflow,
each against a real prov store, real keys and real Parquet data.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from examples_support import EXAMPLES, Project, run, tool

from support import rule_verdicts


@pytest.fixture
def project(project: Project) -> Project:
    """The trusted project with nothing pinned in the environment: the examples must pin the key
    themselves (params.yaml, git config), as a user following their README would."""
    del project.env["PROV_SIGNERS"]
    return project


# --- DVC pipeline: commit -> check -> train --------------------------------------------------


def dvc_project(project: Project) -> Project:
    """The trusted project as a git + DVC repository holding the example pipeline."""
    for name in ("dvc.yaml", "params.yaml", "policy.toml", "train.py", ".gitignore"):
        shutil.copyfile(EXAMPLES / "dvc-pipeline" / name, project.root / name)
    project.git("init", "-q")
    run([tool("dvc"), "init", "-q"], project.root, project.env)
    return project


def dvc_repro(project: Project):
    return run([tool("dvc"), "repro"], project.root, project.env, check=False)


def test_dvc_pipeline_trains_on_a_clean_version(project):
    started = time.monotonic()
    p = dvc_project(project)
    p.use_candidate("clean")
    r = dvc_repro(p)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "prov check v2 --base v1: passed" in r.stdout
    assert (p.root / "models" / "model.pkl").stat().st_size > 0
    metrics = json.loads((p.root / "metrics.json").read_text())
    assert metrics["version"] == "v2" and metrics["records"] == 1797 and metrics["accuracy"] > 0.9
    commit = json.loads((p.root / "prov-commit.json").read_text())
    assert commit["tag"] == "v2"
    # the attestation the train stage required is the real, signed one
    assert (
        "release attestation ok"
        in p.prov(
            "verify", "v2", "--attestation", "release.attestation.json", "--no-data", "--signer", "keys/maintainer.pub"
        ).stdout
    )
    assert "up to date" in dvc_repro(p).stdout  # nothing changed: nothing reruns
    print(f"dvc clean pipeline: {time.monotonic() - started:.1f}s")


def test_dvc_pipeline_stops_before_training_on_a_backdoored_version(project):
    started = time.monotonic()
    p = dvc_project(project)
    p.use_candidate("backdoor")
    r = dvc_repro(p)
    assert r.returncode != 0
    assert "failed to reproduce 'check'" in r.stderr, r.stderr
    assert not (p.root / "models" / "model.pkl").exists()
    assert not (p.root / "metrics.json").exists()
    assert not (p.root / "release.attestation.json").exists()
    report = (p.root / "prov-check.txt").read_text()
    assert report.startswith("prov check v2 --base v1: BLOCKED")
    blocked = [rule for rule, verdict in rule_verdicts(report).items() if verdict == "blocked"]
    assert "detectors.combined" in blocked and "detectors.extreme" in blocked, report
    readme = (
        EXAMPLES / "dvc-pipeline" / "README.md"
    ).read_text()  # the example's README shows this report: keep it true
    sample = readme.split("no model:\n\n```\n", 1)[1].split("```", 1)[0]
    flowing = " ".join(report.split())  # the report wraps at the terminal's width: compare the words
    for line in sample.splitlines():
        assert line == "..." or " ".join(line.split()) in flowing, line
    assert rule_verdicts(r.stdout)["detectors.combined"] == "blocked"  # the stage prints the report where dvc shows it
    print(f"dvc backdoor pipeline: {time.monotonic() - started:.1f}s")


def test_dvc_pipeline_refuses_to_recommit_a_changed_dataset_under_an_old_tag(project):
    """Data changed but prov.candidate was not bumped: the commit stage stops the run (exit 2)."""
    p = dvc_project(project)
    p.use_candidate("clean")
    p.prov(
        "commit", "data/train.parquet", "--tag", "v2", "--key", "keys/maintainer.key", "--signer", "keys/maintainer.pub"
    )
    p.use_candidate("relabeled")
    r = dvc_repro(p)
    assert r.returncode != 0 and "failed to reproduce 'commit'" in r.stderr
    assert "v2: a version of that name already exists; choose another name" in r.stderr + r.stdout
    assert not (p.root / "models" / "model.pkl").exists()


def train_stage_commands(p: Project) -> list[str]:
    """The train stage's commands as dvc.yaml gives them, with params.yaml's values put in."""
    import re

    import yaml

    params = yaml.safe_load((p.root / "params.yaml").read_text())
    cmd = yaml.safe_load((p.root / "dvc.yaml").read_text())["stages"]["train"]["cmd"]

    def value(m: re.Match) -> str:
        section, name = m.group(1).split(".")
        return str(params[section][name])

    return [re.sub(r"\$\{([\w.]+)\}", value, c) for c in ([cmd] if isinstance(cmd, str) else cmd)]


def test_dvc_pipeline_train_stage_refuses_a_data_file_swapped_after_the_check(project):
    """Attack review 14, A14-5: the train stage ran `prov verify` and then train.py, which read the file again
    with pyarrow: a file swapped between the two was trained on. Replayed for real: the check passes and
    attests v2, then whoever writes the data folder swaps in a table with one vendor label flipped right
    before the train stage's last command runs (after any check the stage makes first)."""
    p = dvc_project(project)
    p.use_candidate("clean")
    r = run([tool("dvc"), "repro", "check"], p.root, p.env, check=False)
    assert r.returncode == 0 and (p.root / "release.attestation.json").exists(), r.stdout + r.stderr
    *checks, last = train_stage_commands(p)
    for c in checks:
        run(["sh", "-c", c], p.root, p.env)
    p.use_candidate("relabeled")  # the swap: between the stage's check and its read
    r = run(["sh", "-c", last], p.root, p.env, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "data/train.parquet#" in r.stderr and "relabeled since it was signed" in r.stderr, r.stderr
    assert not (p.root / "models" / "model.pkl").exists() and not (p.root / "metrics.json").exists()


def test_dvc_pipeline_trains_with_the_label_column_the_version_was_committed_with(tmp_path):
    """Newcomer review 14, finding 19: a table whose label column is `target`; v1 committed with
    `--label-column target`, the commit stage takes it from v1, and train.py died with KeyError 'label'.
    It now reads the label column from the signed version."""
    import pyarrow.parquet as pq
    from examples_support import clean_env, pinned_env

    from support import digits_table

    root, home = tmp_path / "project", tmp_path / "home"
    (root / "data").mkdir(parents=True)
    home.mkdir()
    p = Project(root, tmp_path, pinned_env(clean_env(home), root))
    table = digits_table().rename_columns([*digits_table().column_names[:-1], "target"])
    pq.write_table(table.slice(0, 1000), root / "data" / "train.parquet")
    p.prov("init")
    p.prov("keys", "generate", "keys/maintainer")
    p.prov("commit", "data/train.parquet", "--tag", "v1", "--key", "keys/maintainer.key", "--label-column", "target")
    del p.env["PROV_SIGNERS"]  # the pipeline pins its key itself (params.yaml)
    dvc_project(p)
    pq.write_table(table, root / "data" / "train.parquet")  # the next delivery: 797 more records
    r = dvc_repro(p)
    assert r.returncode == 0, r.stdout + r.stderr
    metrics = json.loads((root / "metrics.json").read_text())
    assert metrics["version"] == "v2" and metrics["records"] == 1797 and metrics["label_column"] == "target"
    assert metrics["accuracy"] > 0.9


# --- git pre-commit hook ---------------------------------------------------------------------


def hooked_repo(project: Project) -> Project:
    """The trusted project as a git repository with v1 committed and the example hook installed."""
    p = project
    p.git("init", "-q")
    (p.root / ".gitignore").write_text("keys/*.key\n")
    p.git("add", ".")
    p.git("commit", "-q", "-m", "trusted base v1")
    hook = p.root / ".git" / "hooks" / "pre-commit"
    shutil.copyfile(EXAMPLES / "pre-commit" / "prov-pre-commit", hook)
    hook.chmod(0o755)
    p.git("config", "prov.base", "v1")
    p.git("config", "prov.signers", "keys/maintainer.pub")
    return p


def commit_delivery(p: Project, candidate: str, tag: str):
    p.use_candidate(candidate)
    p.prov(  # with a message: the hook took its first word for the newest version (newcomer review 11, finding 3)
        "commit", "data/train.parquet", "--tag", tag, "--key", "keys/maintainer.key", "--signer", "keys/maintainer.pub",
        "-m", f"vendor drop {tag}",
    )  # fmt: skip
    p.git("add", "data", ".prov")
    return p.git("commit", "-m", f"dataset {tag}", check=False)


def head(p: Project) -> str:
    return p.git("rev-parse", "HEAD").stdout.strip()


def test_pre_commit_hook_lets_a_clean_version_in_and_blocks_a_relabeled_one(project):
    started = time.monotonic()
    p = hooked_repo(project)
    before = head(p)
    r = commit_delivery(p, "clean", "v2")
    assert r.returncode == 0, r.stderr
    assert "checking v2 against v1" in r.stderr and "prov check v2 --base v1: passed" in r.stderr
    assert head(p) != before
    # the hook's check only reads (--no-save): the store committed is the store staged (newcomer review 10, 20)
    assert p.git("status", "--porcelain", "--untracked-files=all", ".prov").stdout == ""

    # the next delivery relabels a record its vendor signed: the commit is refused
    before = head(p)
    r = commit_delivery(p, "relabeled", "v3")
    assert r.returncode != 0
    assert "prov check v3 --base v1: BLOCKED" in r.stderr
    assert rule_verdicts(r.stderr)["lineage.max_relabeled_after_source"] == "blocked"
    assert "source vendor" in r.stderr and "v3 is BLOCKED against v1; commit refused" in r.stderr
    assert head(p) == before and p.git("diff", "--cached", "--name-only").stdout.strip()  # still staged, not committed
    print(f"pre-commit hook, clean + relabeled: {time.monotonic() - started:.1f}s")


def test_pre_commit_hook_skips_unrelated_commits_and_fails_closed_without_its_settings(project):
    p = hooked_repo(project)
    (p.root / "NOTES.md").write_text("no data here\n")
    p.git("add", "NOTES.md")
    r = p.git("commit", "-q", "-m", "notes")
    assert r.returncode == 0 and r.stderr == ""  # the dataset is untouched: prov is not even run

    p.git("config", "--unset", "prov.base")
    r = commit_delivery(p, "clean", "v2")
    assert r.returncode != 0 and "no trusted base version; set PROV_BASE or run: git config prov.base v1" in r.stderr

    p.git("config", "prov.base", "v1")
    p.git("config", "--unset", "prov.signers")
    r = p.git("commit", "-m", "dataset v2", check=False)
    assert r.returncode != 0
    assert "no pinned key; set PROV_SIGNERS or run: git config prov.signers keys/maintainer.pub" in r.stderr
    p.git("config", "--unset", "prov.base")
    p.git("config", "prov.signers", "keys/maintainer.pub")

    # a file changed after `git add`: the check would see other bytes than the commit holds
    p.env["PROV_BASE"] = "v1"
    p.use_candidate("backdoor")
    r = p.git("commit", "-m", "dataset v2", check=False)
    assert r.returncode != 0 and "unstaged changes in the dataset" in r.stderr and "data/train.parquet" in r.stderr

    # a policy that needs a detector which is not installed: bad input (exit 2), refused
    p.use_candidate("clean")
    (p.root / "strict.toml").write_text('[detectors]\nrun = ["knn_label", "not-installed"]\n')
    p.env["PROV_POLICY"] = "strict.toml"
    r = p.git("commit", "-m", "dataset v2", check=False)
    assert r.returncode != 0
    assert "Error: strict.toml:2: detectors.run: unknown detector 'not-installed'" in r.stderr
    assert "bad input (see the message above); commit refused" in r.stderr


def test_pre_commit_hook_refuses_when_git_cannot_list_what_is_staged(project, tmp_path):
    """Newcomer review 24: a mistyped pathspec in prov.watch made `git diff --cached` fail, the hook read its empty
    output as "this commit does not touch the dataset" and let a relabeled version in; run by hand outside a git
    work tree it printed git's usage and exited 0 too."""
    p = hooked_repo(project)
    p.git("config", "prov.watch", ":(nonsense)data .prov")
    before = head(p)
    r = commit_delivery(p, "relabeled", "v2")
    assert r.returncode != 0 and head(p) == before
    assert "prov pre-commit: git diff --cached -- :(nonsense)data .prov failed" in r.stderr and "refused" in r.stderr
    p.git("config", "prov.watch", ".prov data")  # the same commit, the pathspec fixed: the check runs and blocks
    r = p.git("commit", "-m", "dataset v2", check=False)
    assert r.returncode != 0 and "v2 is BLOCKED against v1; commit refused" in r.stderr

    outside = run(["sh", str(EXAMPLES / "pre-commit" / "prov-pre-commit")], tmp_path, project.env, check=False)
    assert outside.returncode == 2 and "prov pre-commit: not inside a git work tree" in outside.stderr


def test_pre_commit_hook_checks_the_newest_version_whatever_its_rows_parent_column_says(project):
    """Attack review 14, A14-2: whoever wrote .prov/ put a newline and a version line named `--help` into the
    relabeled v2's parent column; the hook took `--help` from prov log and ran `prov check --help`, which exits
    0, letting the commit in. prov log prints the column escaped and the hook gives the version after `--`."""
    import sqlite3

    p = hooked_repo(project)
    p.use_candidate("relabeled")
    p.prov(
        "commit", "data/train.parquet", "--tag", "v2", "--key", "keys/maintainer.key", "--signer", "keys/maintainer.pub"
    )
    with sqlite3.connect(p.root / ".prov" / "prov.db") as db:
        db.execute(
            "update versions set parent = 'v1' || char(10) || '--help  2026-12-02 05:58  600 records' where tag = 'v2'"
        )
    p.git("add", "data", ".prov")
    before = head(p)
    r = p.git("commit", "-m", "dataset v2", check=False)
    assert r.returncode != 0 and "checking v2 against v1" in r.stderr and "v2 is BLOCKED against v1" in r.stderr
    assert head(p) == before


def test_pre_commit_hook_installed_before_the_store_is_committed_says_how_to_commit_the_base(project):
    """Newcomer review 19, H1: a platform engineer installs the hook, then commits the new store holding only its
    base; the hook refused with "commit the changed data first", which is not what to do with a base. It is still
    refused (nothing to check, so it fails closed), and the message names the way to commit the base itself."""
    p = project
    p.git("init", "-q")
    (p.root / ".gitignore").write_text("keys/*.key\n")
    hook = p.root / ".git" / "hooks" / "pre-commit"
    shutil.copyfile(EXAMPLES / "pre-commit" / "prov-pre-commit", hook)
    hook.chmod(0o755)
    p.git("config", "prov.base", "v1")
    p.git("config", "prov.signers", "keys/maintainer.pub")
    p.git("add", ".")
    r = p.git("commit", "-m", "the store and its base v1", check=False)
    assert r.returncode != 0 and p.git("rev-parse", "--verify", "-q", "HEAD", check=False).returncode != 0
    assert "the newest version is the base v1, so there is nothing to check it against" in r.stderr
    assert "if the data changed, commit it first: prov commit DATA --tag NAME" in r.stderr
    assert "adds the store with only its base (the first commit of .prov/), review it and commit with git commit" in (
        r.stderr
    )
    assert p.git("commit", "-q", "--no-verify", "-m", "the store and its base v1").returncode == 0


def test_pre_commit_framework_config_runs_the_script_on_dataset_paths():
    import re

    import yaml

    config = yaml.safe_load((EXAMPLES / "pre-commit" / ".pre-commit-config.yaml").read_text())
    (hook,) = config["repos"][0]["hooks"]
    assert config["repos"][0]["repo"] == "local" and hook["language"] == "script"
    assert hook["entry"].endswith("prov-pre-commit") and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for staged in (".prov/prov.db", "data/train.parquet", "data.dvc", "raw/images.dvc"):
        assert files.search(staged), staged
    for staged in ("README.md", "src/train.py", "metadata/x.parquet"):
        assert not files.search(staged), staged


def test_the_repository_root_offers_the_hook_to_the_pre_commit_framework():
    """`.pre-commit-hooks.yaml` at the root: the hook other repositories use with `repo: <this repository>`."""
    import os
    import re

    import yaml

    root = EXAMPLES.parent
    (hook,) = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    local = yaml.safe_load((EXAMPLES / "pre-commit" / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"][0]
    assert hook["id"] == "prov-check" and hook["language"] == "script" and hook["pass_filenames"] is False
    entry = root / hook["entry"]
    assert entry.is_file() and os.access(entry, os.X_OK), "language: script runs the entry from this repository"
    assert entry.read_bytes() == (EXAMPLES / "pre-commit" / "prov-pre-commit").read_bytes()
    assert hook["files"] == local["files"]  # the same paths trigger it as in the local example
    files = re.compile(hook["files"])
    assert files.search(".prov/prov.db") and files.search("images.dvc") and not files.search("src/train.py")


def test_every_example_names_the_maintainer_key_alike():
    """Newcomer review 19, H10: the examples' README, the DVC pipeline and the hook pinned keys/committer.pub while
    the workflow read keys/maintainer.pub, so a project set up from one example failed the next. One name now, the
    project README's; the workflow's PROV_SIGNER_PUB still overrides the file."""
    texts = {p: p.read_text() for p in EXAMPLES.rglob("*") if p.is_file()} | {
        EXAMPLES.parent / "README.md": (EXAMPLES.parent / "README.md").read_text()
    }
    named = {p.relative_to(EXAMPLES.parent).as_posix() for p, text in texts.items() if "keys/maintainer." in text}
    assert not [p for p, text in texts.items() if "keys/committer" in text]
    assert {
        "README.md",
        "examples/README.md",
        "examples/dvc-pipeline/params.yaml",
        "examples/dvc-pipeline/README.md",
        "examples/pre-commit/prov-pre-commit",
        "examples/github-actions/prov-check.yml",
    } <= named, named
    assert "PROV_SIGNER_PUB" in texts[EXAMPLES / "github-actions" / "prov-check.yml"]
