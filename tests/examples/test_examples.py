"""The examples in examples/ run for real: a DVC pipeline under `dvc repro`, a git
pre-commit hook under `git commit`, and the shell lines of the GitHub Actions workflow,
each against a real prov store, real keys and real Parquet data.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from examples_support import EXAMPLES, Project, run, tool

from support import rule_verdicts, validate_sarif

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
        in p.prov("verify", "v2", "--attestation", "release.attestation.json", "--no-data").stdout
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
    assert rule_verdicts(r.stdout)["detectors.combined"] == "blocked"  # the stage prints the report where dvc shows it
    print(f"dvc backdoor pipeline: {time.monotonic() - started:.1f}s")


def test_dvc_pipeline_refuses_to_recommit_a_changed_dataset_under_an_old_tag(project):
    """Data changed but prov.candidate was not bumped: the commit stage stops the run (exit 2)."""
    p = dvc_project(project)
    p.use_candidate("clean")
    p.prov("commit", "data/train.parquet", "--tag", "v2", "--key", "keys/committer.key")
    p.use_candidate("relabeled")
    r = dvc_repro(p)
    assert r.returncode != 0 and "failed to reproduce 'commit'" in r.stderr
    assert "version 'v2' already exists; choose a new tag" in r.stderr + r.stdout
    assert not (p.root / "models" / "model.pkl").exists()


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
    return p


def commit_delivery(p: Project, candidate: str, tag: str):
    p.use_candidate(candidate)
    p.prov("commit", "data/train.parquet", "--tag", tag, "--key", "keys/committer.key")
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

    # a file changed after `git add`: the check would see other bytes than the commit holds
    p.env["PROV_BASE"] = "v1"
    p.use_candidate("backdoor")
    r = p.git("commit", "-m", "dataset v2", check=False)
    assert r.returncode != 0 and "unstaged changes in the dataset" in r.stderr and "data/train.parquet" in r.stderr

    # a policy that needs a detector which is not installed: could not evaluate, exit 3, refused
    p.use_candidate("clean")
    (p.root / "strict.toml").write_text('[detectors]\nrun = ["knn_label", "not-installed"]\n')
    p.env["PROV_POLICY"] = "strict.toml"
    r = p.git("commit", "-m", "dataset v2", check=False)
    assert r.returncode != 0
    assert rule_verdicts(r.stderr)["detectors.not-installed"] == "error"
    assert "could not be evaluated (exit 3)" in r.stderr


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


# --- GitHub Actions workflow -----------------------------------------------------------------
# It cannot run here, so its steps run the way a runner would: each `run:` script with
# `bash --noprofile --norc -eo pipefail` (the workflow's `defaults.run.shell: bash`), its
# env resolved, GITHUB_ENV / GITHUB_STEP_SUMMARY / RUNNER_TEMP files provided and `if:`
# evaluated; each `uses:` action is replaced by a check of what it would receive.

WORKFLOW = EXAMPLES / "github-actions" / "prov-check.yml"
NOT_RUN_HERE = {"Install prov"}  # pip install from the registry: prov is already installed in this venv


def load_workflow() -> dict:
    import yaml

    return yaml.safe_load(WORKFLOW.read_text())


def step_name(step: dict) -> str:
    return step.get("name") or step.get("uses") or step["run"].splitlines()[0]


class Job:
    def __init__(self):
        self.ok = True
        self.steps: dict[str, dict] = {}  # name -> {"ran": bool, "rc": int | None, "stdout", "stderr"}

    def ran(self, name: str) -> bool:
        return self.steps[name]["ran"]


def evaluate_if(cond: str, job: Job, workspace, event: str) -> bool:
    """The few expression forms the workflow uses; anything else fails the test, never passes it."""
    import re
    from types import SimpleNamespace

    expr = cond.strip()
    if expr.startswith("${{"):
        expr = expr[3:-2].strip()
    if not re.search(r"\b(always|success|failure|cancelled)\(\)", expr):
        expr = f"success() && ({expr})"  # GitHub's implied status check
    allowed = re.fullmatch(
        r"(?:\s|always\(\)|success\(\)|failure\(\)|hashFiles\('[^']*'\)|github\.event_name|"
        r"'[^']*'|!=|==|&&|\|\||\(|\))*",
        expr,
    )
    assert allowed, f"the test's runner does not understand if: {cond!r}"
    py = expr.replace("&&", " and ").replace("||", " or ")
    names = {
        "always": lambda: True,
        "success": lambda: job.ok,
        "failure": lambda: not job.ok,
        "hashFiles": lambda p: "h" if (workspace / p).exists() else "",
        "github": SimpleNamespace(event_name=event),
    }
    return bool(eval(py, {"__builtins__": {}}, names))


def resolve_env(values: dict, provided: dict) -> dict:
    out = {}
    for k, v in values.items():
        if "${{" in str(v):
            assert k in provided, f"the test must give a value for {k} = {v}"
            out[k] = provided[k]
        else:
            out[k] = str(v)
    return out


def with_env(value, env: dict) -> str:
    import re

    value = re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], str(value))
    assert "${{" not in value, f"the test's runner does not understand {value!r}"
    return value


def check_sarif(path) -> None:
    sarif = json.loads(path.read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["tool"]["driver"]["name"]
    validate_sarif(sarif)


def run_workflow(p: Project, tmp, provided: dict, event: str) -> tuple[Job, Path]:
    """Run the workflow's job in a fresh checkout of the project, as a runner would."""
    wf = load_workflow()
    assert wf["defaults"]["run"]["shell"] == "bash"
    (job_def,) = wf["jobs"].values()
    workspace = tmp / f"checkout-{len(list(tmp.glob('checkout-*')))}"
    shutil.copytree(p.root, workspace, symlinks=True)
    runner_temp = workspace.parent / f"{workspace.name}-runner"
    runner_temp.mkdir()
    files = {k: runner_temp / k.lower() for k in ("GITHUB_ENV", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")}
    for f in files.values():
        f.touch()
    env = dict(p.env) | resolve_env(wf.get("env", {}), provided)
    env |= {k: str(f) for k, f in files.items()} | {
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_EVENT_NAME": event,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
    }
    job = Job()
    for step in job_def["steps"]:
        name = step_name(step)
        record = job.steps[name] = {"ran": False, "rc": None, "stdout": "", "stderr": ""}
        if name in NOT_RUN_HERE or not evaluate_if(step.get("if", "success()"), job, workspace, event):
            continue
        record["ran"] = True
        step_env = env | resolve_env(step.get("env", {}), provided)
        if "run" in step:
            assert "${{" not in step["run"], f"{name}: expressions in run: invite script injection; pass them as env"
            script = runner_temp / "step.sh"
            script.write_text(step["run"])
            r = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], workspace, step_env, check=False)
            record.update(rc=r.returncode, stdout=r.stdout, stderr=r.stderr)
            if r.returncode != 0 and not step.get("continue-on-error"):
                job.ok = False
        else:
            uses, args = step["uses"], {k: with_env(v, env) for k, v in step.get("with", {}).items()}
            if uses.startswith(("actions/checkout@", "actions/setup-python@")):
                pass  # the workspace is the checkout; this venv's Python is 3.11
            elif uses.startswith("github/codeql-action/upload-sarif@"):
                check_sarif(workspace / args["sarif_file"])
                record["uploaded"] = workspace / args["sarif_file"]
            elif uses.startswith("actions/upload-artifact@"):
                artifact = workspace / args["path"]
                assert args.get("if-no-files-found") == "error"
                if not artifact.exists():
                    record["rc"], job.ok = 1, False  # what if-no-files-found: error does
                record["uploaded"] = artifact
            else:
                raise AssertionError(f"the test's runner does not know the action {uses}")
        for line in files["GITHUB_ENV"].read_text().splitlines():  # what later steps see
            key, _, value = line.partition("=")
            env[key] = value
        files["GITHUB_ENV"].write_text("")
    return job, workspace


def summary(workspace) -> str:
    return (workspace.parent / f"{workspace.name}-runner" / "github_step_summary").read_text()


def test_workflow_has_the_steps_and_commands_the_gate_relies_on():
    wf = load_workflow()
    (job,) = wf["jobs"].values()
    steps = {step_name(s): s for s in job["steps"]}
    assert wf["permissions"]["security-events"] == "write"
    assert "python -m pip install" in steps["Install prov"]["run"]
    check = steps["prov check"]["run"]
    assert (
        'prov check "$CANDIDATE" --base "$BASE" --policy policy.toml --format sarif --out prov.sarif' in check
        and 'exit "$rc"' in check
    )
    sarif = steps["Upload SARIF"]
    assert sarif["uses"].startswith("github/codeql-action/upload-sarif@") and sarif["if"].startswith("always()")
    assert sarif["with"]["sarif_file"] == "prov.sarif"
    md = steps["Job summary"]
    assert md["if"] == "always()" and '--format md >> "$GITHUB_STEP_SUMMARY"' in md["run"]
    attest = steps["Sign a release attestation"]
    assert attest["if"].startswith("success()") and "--attest --key" in attest["run"]
    upload = steps["Upload the attestation"]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"] == attest["if"]
    names = list(steps)
    assert names.index("prov check") < names.index("Upload SARIF") < names.index("Sign a release attestation")
    # its policy is the DVC example's, so the two gates cannot drift apart
    assert (EXAMPLES / "github-actions" / "policy.toml").read_text() == (
        EXAMPLES / "dvc-pipeline" / "policy.toml"
    ).read_text()


def workflow_project(project: Project, candidate: str) -> Project:
    shutil.copyfile(EXAMPLES / "github-actions" / "policy.toml", project.root / "policy.toml")
    project.use_candidate(candidate)
    project.prov("commit", "data/train.parquet", "--tag", "v2", "--key", "keys/committer.key")
    return project


def test_workflow_passes_a_clean_version_and_uploads_its_attestation(project, tmp_path):
    started = time.monotonic()
    p = workflow_project(project, "clean")
    secrets = {"PROV_SIGNING_KEY": (p.root / "keys" / "committer.key").read_text(), "PROV_PASSPHRASE": ""}
    job, ws = run_workflow(p, tmp_path, {"BASE": "v1", "CANDIDATE": ""} | secrets, event="push")
    assert job.ok, json.dumps(job.steps, indent=1, default=str)
    assert "checking v2 against v1" in job.steps["Pick the candidate version"]["stdout"]  # the newest version
    assert "::notice::prov check: v2 may be released against v1" in job.steps["prov check"]["stdout"]
    assert job.ran("Upload SARIF") and summary(ws).startswith("### ✅ prov check v2 --base v1: passed")
    artifact = job.steps["Upload the attestation"]["uploaded"]
    assert artifact.name == "v2.attestation.json"
    assert not list((ws.parent / f"{ws.name}-runner").glob("*.key"))  # the key file is gone after the step
    r = run([tool("prov"), "verify", "v2", "--attestation", str(artifact), "--no-data"], ws, p.env)
    assert "release attestation ok" in r.stdout
    print(f"workflow, clean: {time.monotonic() - started:.1f}s")


def test_workflow_fails_on_a_backdoor_and_still_uploads_the_report(project, tmp_path):
    started = time.monotonic()
    p = workflow_project(project, "backdoor")
    job, ws = run_workflow(p, tmp_path, {"BASE": "v1", "CANDIDATE": "v2"}, event="pull_request")
    assert not job.ok and job.steps["prov check"]["rc"] == 1
    assert "::error::prov check: v2 is BLOCKED against v1" in job.steps["prov check"]["stdout"]
    sarif = json.loads(job.steps["Upload SARIF"]["uploaded"].read_text())
    assert "detectors.combined" in {x["ruleId"] for x in sarif["runs"][0]["results"]}
    md = summary(ws)
    assert md.startswith("### ⛔ prov check v2 --base v1: BLOCKED") and "| `detectors.combined` | BLOCK |" in md
    assert not job.ran("Sign a release attestation") and not job.ran("Upload the attestation")
    assert not (ws / "v2.attestation.json").exists()
    print(f"workflow, backdoor: {time.monotonic() - started:.1f}s")


def test_workflow_fails_closed_when_the_check_cannot_evaluate_or_the_input_is_bad(project, tmp_path):
    p = workflow_project(project, "clean")
    secrets = {"PROV_SIGNING_KEY": (p.root / "keys" / "committer.key").read_text(), "PROV_PASSPHRASE": ""}
    # exit 3: the policy requires a detector this installation lacks
    policy = (p.root / "policy.toml").read_text().replace('run = "all"', 'run = ["knn_label", "not-installed"]')
    (p.root / "policy.toml").write_text(policy)
    job, ws = run_workflow(p, tmp_path, {"BASE": "v1", "CANDIDATE": "v2"} | secrets, event="push")
    assert not job.ok and job.steps["prov check"]["rc"] == 3
    assert "could not evaluate v2 (exit 3); the gate fails closed" in job.steps["prov check"]["stdout"]
    assert job.ran("Upload SARIF") and summary(ws).startswith("### ⚠️")
    assert not job.ran("Sign a release attestation") and not (ws / "v2.attestation.json").exists()
    # exit 2: a base that does not exist; no report to upload, the job still fails
    job, ws = run_workflow(p, tmp_path, {"BASE": "v9", "CANDIDATE": "v2"} | secrets, event="push")
    assert not job.ok and job.steps["prov check"]["rc"] == 2 and not job.ran("Upload SARIF")
    assert "v9" in job.steps["prov check"]["stderr"]
