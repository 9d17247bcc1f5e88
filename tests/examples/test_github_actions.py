"""The GitHub Actions example runs for real: each job's steps the way a runner would, in a
git repository whose base commit holds the trusted policy and key, against a real prov
store, real keys and real Parquet data; and the workflow file keeps trust out of the
pull request (pinned actions, trusted inputs from variables or the base commit, the
signing key only in a job on the protected branch).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
from examples_support import EXAMPLES, Project, run, tool

from support import erase_last_version, plugin_distribution, roll_back_log, validate_sarif

CRASHING = """
from provenance.detectors.base import Detector


class Crashing(Detector):
    name = "crashing"
    families = ("outlier",)

    def run(self, profile, delta, fpr):
        raise RuntimeError("model file missing")
"""

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
        self.skipped = False
        self.steps: dict[str, dict] = {}  # name -> {"ran": bool, "rc": int | None, "stdout", "stderr"}

    def ran(self, name: str) -> bool:
        return self.steps[name]["ran"]


def evaluate_if(cond: str, job: Job, workspace, event: str, ref: str = "refs/heads/main") -> bool:
    """The few expression forms the workflow uses; anything else fails the test, never passes it."""
    import re
    from types import SimpleNamespace

    expr = cond.strip()
    if expr.startswith("${{"):
        expr = expr[3:-2].strip()
    if not re.search(r"\b(always|success|failure|cancelled)\(\)", expr):
        expr = f"success() && ({expr})"  # GitHub's implied status check
    allowed = re.fullmatch(
        r"(?:\s|always\(\)|success\(\)|failure\(\)|hashFiles\('[^']*'\)|github\.event_name|github\.ref|"
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
        "github": SimpleNamespace(event_name=event, ref=ref),
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


def run_workflow(
    p: Project, tmp, provided: dict, event: str, job_name: str = "check", ref: str = "refs/heads/main"
) -> tuple[Job, Path]:
    """Run one job of the workflow in a fresh checkout of the project (a git repository), as a runner would.

    ``provided`` gives every ``${{ ... }}`` value (inputs, variables, secrets, event fields).
    A job whose ``if:`` is false runs no step (``Job.skipped``).
    """
    wf = load_workflow()
    assert wf["defaults"]["run"]["shell"] == "bash"
    job_def = wf["jobs"][job_name]
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
        "GITHUB_REF": ref,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
    }
    job = Job()
    if not evaluate_if(job_def.get("if", "success()"), job, workspace, event, ref):
        job.skipped = True
        return job, workspace
    for step in job_def["steps"]:
        name = step_name(step)
        record = job.steps[name] = {"ran": False, "rc": None, "stdout": "", "stderr": ""}
        if name in NOT_RUN_HERE or not evaluate_if(step.get("if", "success()"), job, workspace, event, ref):
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


def all_steps(wf: dict) -> list[tuple[str, dict]]:
    return [(name, step) for name, job in wf["jobs"].items() for step in job["steps"]]


def test_every_action_is_pinned_to_a_commit_and_trust_stays_out_of_the_pull_request():
    wf = load_workflow()
    text = WORKFLOW.read_text()
    triggers = wf[True] if True in wf else wf["on"]  # PyYAML reads the key `on` as True
    assert "pull_request_target" not in triggers and wf["permissions"] == {}
    # every action pinned to a full commit SHA (a tag can be moved by whoever controls the action)
    uses = [step["uses"] for _, step in all_steps(wf) if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert not re.search(r"uses:\s*\S+@(?![0-9a-f]{40}\b)", text)
    for _, step in all_steps(wf):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    check, attest = wf["jobs"]["check"], wf["jobs"]["attest"]
    # the check job: no secrets, read-only contents, policy and signer from variables or the base commit
    assert "secrets." not in json.dumps(check) and check["permissions"]["contents"] == "read"
    steps = {step_name(s): s for s in check["steps"]}
    trusted = steps["Trusted policy and signer"]
    assert trusted["env"] == {
        "PROV_POLICY": "${{ vars.PROV_POLICY }}",
        "PROV_SIGNER_PUB": "${{ vars.PROV_SIGNER_PUB }}",
    }
    assert (
        'git show "$BASE_SHA:policy.toml"' in trusted["run"]
        and 'git show "$BASE_SHA:keys/maintainer.pub"' in trusted["run"]
    )
    assert '"$RUNNER_TEMP/prov-trusted"' in trusted["run"] and "PROV_SIGNERS=$trusted/maintainer.pub" in trusted["run"]
    assert wf["env"]["BASE_SHA"].startswith("${{ github.event.pull_request.base.sha || github.event.before")
    for _, step in all_steps(wf):  # no step reads the checkout's policy
        assert "--policy policy.toml" not in step.get("run", "") and "--policy ./" not in step.get("run", "")
    check_cmd = steps["prov check"]["run"]
    assert (
        'prov check --base "$BASE" --policy "$PROV_POLICY_FILE" --no-save --format json --out prov-check.json'
        in check_cmd
    )
    assert 'exit "$rc"' in check_cmd
    assert '${PROV_BASE_ATTESTATION:+--base-attestation "$PROV_BASE_ATTESTATION"} -- "$CANDIDATE"' in check_cmd
    # every kept log state (the last release's and the newest push's) is held by the check and the audit log
    kept_states = '${PROV_KEPT:+--checkpoint "$PROV_KEPT"} ${PROV_KEPT_LOG:+--checkpoint "$PROV_KEPT_LOG"}'
    assert kept_states in check_cmd and steps["Audit log"]["run"] == f"prov audit verify {kept_states}"
    # the kept log state comes from a repository variable or a push run on main, never a pull request's run
    kept = steps["Kept audit-log state"]
    assert kept["env"] == {"GH_TOKEN": "${{ github.token }}", "PROV_KEPT_LOG_STATE": "${{ vars.PROV_KEPT_LOG_STATE }}"}
    assert "--branch main" in kept["run"] and "--event push" in kept["run"] and "--status success" in kept["run"]
    # the newest log state of any completed push run on main: a blocked push's run concludes "failure"
    assert "--event push --status completed" in kept["run"] and "--name prov-log-state" in kept["run"]
    # the gate runs once: SARIF and the summary are rendered from its JSON
    runs = [line.strip() for s in check["steps"] for line in s.get("run", "").splitlines()]
    assert len([line for line in runs if line.startswith("prov check ")]) == 1
    assert steps["SARIF from the check"]["run"] == "prov report prov-check.json --format sarif --out prov.sarif"
    sarif = steps["Upload SARIF"]
    assert sarif["uses"].startswith("github/codeql-action/upload-sarif@") and sarif["if"].startswith("always()")
    assert (
        steps["Job summary"]["if"].startswith("always()")
        and steps["Job summary"]["run"] == 'prov report prov-check.json --format md >> "$GITHUB_STEP_SUMMARY"'
    )
    # one run per pull request at a time, none cancelled on main; no job runs unbounded
    assert wf["concurrency"]["group"].startswith("prov-${{ github.workflow }}-")
    assert wf["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    assert all(0 < job["timeout-minutes"] <= 60 for job in wf["jobs"].values())
    assert wf["env"]["PROV_PIP_SPEC"] == "${{ vars.PROV_PIP_SPEC }}"
    # the attest job: only on a push to the protected branch, after the check, with the trusted inputs again
    assert attest["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert attest["needs"] == "check" and attest["permissions"] == {"contents": "read", "actions": "read"}
    a_steps = {step_name(s): s for s in attest["steps"]}
    assert a_steps["Trusted policy and signer"] == trusted and a_steps["Kept audit-log state"] == kept
    sign = a_steps["Sign a release attestation"]
    assert sign["env"]["PROV_SIGNING_KEY"] == "${{ secrets.PROV_SIGNING_KEY }}" and "--attest --key" in sign["run"]
    assert '--policy "$PROV_POLICY_FILE"' in sign["run"] and kept_states in sign["run"]
    assert a_steps["Upload the attestation"]["uses"].startswith("actions/upload-artifact@")
    # the keep-log-state job: every push to main, passed or blocked, reviewed code only, the key in its environment
    keep = wf["jobs"]["keep-log-state"]
    assert keep["if"] == "always() && github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert keep["needs"] == "check" and keep["environment"] == "release"
    assert keep["permissions"] == {"contents": "read", "actions": "read"}
    k_steps = {step_name(s): s for s in keep["steps"]}
    assert k_steps["Trusted policy and signer"] == trusted and k_steps["Kept audit-log state"] == kept
    assert k_steps["Audit log against the kept states"]["run"] == f"prov audit verify {kept_states}"
    signs = k_steps["Sign this push's log state"]
    assert signs["env"]["PROV_SIGNING_KEY"] == "${{ secrets.PROV_SIGNING_KEY }}" and "if" not in signs
    assert "prov audit checkpoint --key" in signs["run"] and "rm -rf prov-log-state" in signs["run"]
    upload = k_steps["Keep this push's log state for the next runs"]
    assert upload["with"]["name"] == "prov-log-state" and "if" not in upload
    # its policy is the DVC example's, so the two gates cannot drift apart
    assert (EXAMPLES / "github-actions" / "policy.toml").read_text() == (
        EXAMPLES / "dvc-pipeline" / "policy.toml"
    ).read_text()


def workflow_repo(project: Project, candidate: str) -> tuple[Project, str]:
    """The project as a git repository: the base commit holds the store with v1, the reviewed policy
    and the maintainer's public key; then the candidate v2 is committed on top. Returns the base SHA."""
    shutil.copyfile(EXAMPLES / "github-actions" / "policy.toml", project.root / "policy.toml")
    (project.root / ".gitignore").write_text("*.key\n")
    project.git("init", "-q", "-b", "main")
    project.git("add", "-A")
    project.git("commit", "-qm", "base: v1, policy, maintainer key")
    base_sha = project.git("rev-parse", "HEAD").stdout.strip()
    project.use_candidate(candidate)
    # with a message, as the tour commits: prov log prints it on an indented line under v2, and the
    # workflow took that line's first word ("plus") for the newest version (newcomer review 11, finding 3)
    project.prov("commit", "data/train.parquet", "--tag", "v2", "--key", "keys/maintainer.key", "-m", "plus the scrape")
    return project, base_sha


def no_vars(base_sha: str) -> dict:
    return {
        "BASE": "v1",
        "CANDIDATE": "",
        "BASE_SHA": base_sha,
        "PROV_POLICY": "",
        "PROV_SIGNER_PUB": "",
        "PROV_PIP_SPEC": "prov-data @ git+https://github.com/OWNER/prov@0123456789abcdef0123456789abcdef01234567",
        "PROV_KEPT_LOG_STATE": "",
        "PROV_STORE_ID": "",
        "GH_TOKEN": "",
    }


def test_a_pull_request_is_checked_under_the_base_commits_policy_and_never_attested(project, tmp_path):
    """The pull request brings a backdoored version, switches its policy.toml's checks off and swaps
    keys/maintainer.pub for its author's: the check still runs the reviewed policy and blocks."""
    p, base_sha = workflow_repo(project, "backdoor")
    (p.root / "policy.toml").write_text("[detectors]\nenabled = false\n[integrity]\nverify_data = false\n")
    reviewed_key = (p.root / "keys" / "maintainer.pub").read_bytes()
    shutil.copyfile(p.root / "keys" / "vendor.pub", p.root / "keys" / "maintainer.pub")
    p.git("add", "-A")
    p.git("commit", "-qm", "pull request: v2")
    job, ws = run_workflow(p, tmp_path, no_vars(base_sha), event="pull_request", ref="refs/pull/7/merge")
    assert not job.ok and job.steps["prov check"]["rc"] == 1, json.dumps(job.steps, indent=1, default=str)
    assert "::error::prov check: v2 is BLOCKED against v1" in job.steps["prov check"]["stdout"]
    sarif = json.loads(job.steps["Upload SARIF"]["uploaded"].read_text())
    assert "detectors.combined" in {x["ruleId"] for x in sarif["runs"][0]["results"]}
    md = summary(ws)
    assert md.startswith("### ⛔ prov check v2 --base v1: BLOCKED") and "| **blocked** | `detectors.combined` |" in md
    trusted = ws.parent / f"{ws.name}-runner" / "prov-trusted"
    assert (trusted / "policy.toml").read_text() == (EXAMPLES / "github-actions" / "policy.toml").read_text()
    assert (trusted / "maintainer.pub").read_bytes() == reviewed_key  # the base commit's, not the pull request's
    attest, _ = run_workflow(p, tmp_path, no_vars(base_sha), event="pull_request", job_name="attest")
    assert attest.skipped and not attest.steps


def test_a_push_to_main_passes_a_clean_version_and_attests_it_in_its_own_job(project, tmp_path):
    p, base_sha = workflow_repo(project, "clean")
    p.git("add", "-A")
    p.git("commit", "-qm", "v2")
    policy = (EXAMPLES / "github-actions" / "policy.toml").read_text()
    given = no_vars(base_sha) | {
        "PROV_POLICY": policy,
        "PROV_SIGNER_PUB": (p.root / "keys" / "maintainer.pub").read_text(),
    }
    job, ws = run_workflow(p, tmp_path, given, event="push")
    assert job.ok, json.dumps(job.steps, indent=1, default=str)
    assert "checking v2 against v1" in job.steps["Pick the candidate version"]["stdout"]  # the newest version
    assert "Audit log ok" in job.steps["Audit log"]["stdout"]
    assert "::notice::prov check: v2 may be released against v1" in job.steps["prov check"]["stdout"]
    assert summary(ws).startswith("### ✅ prov check v2 --base v1: passed")
    assert not (ws / "v2.attestation.json").exists()  # the check job has no key and attests nothing
    secrets = {"PROV_SIGNING_KEY": (p.root / "keys" / "maintainer.key").read_text(), "PROV_PASSPHRASE": ""}
    attest, ws = run_workflow(p, tmp_path, given | secrets, event="push", job_name="attest")
    assert attest.ok, json.dumps(attest.steps, indent=1, default=str)
    artifact = attest.steps["Upload the attestation"]["uploaded"]
    assert artifact.name == "v2.attestation.json"
    assert not list((ws.parent / f"{ws.name}-runner").glob("*.key"))  # the key file is gone after the step
    r = run([tool("prov"), "verify", "v2", "--attestation", str(artifact), "--no-data"], ws, p.env)
    assert "release attestation ok" in r.stdout
    # the same push to another branch attests nothing
    other, _ = run_workflow(p, tmp_path, given | secrets, event="push", job_name="attest", ref="refs/heads/feature")
    assert other.skipped


def test_the_check_job_fails_closed_when_it_cannot_evaluate_or_has_no_trusted_input(project, tmp_path):
    p, base_sha = workflow_repo(project, "clean")
    # exit 3: the trusted policy requires a detector, installed as a plug-in, that crashes
    site = plugin_distribution(
        tmp_path / "site", "crashing_detector", CRASHING, {"crashing": "crashing_detector:Crashing"}, "prov.detectors"
    )
    p.env = p.env | {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), p.env.get("PYTHONPATH")]))}
    policy = (
        (EXAMPLES / "github-actions" / "policy.toml")
        .read_text()
        .replace('run = "all"', 'run = ["knn_label", "crashing"]')
    )
    job, ws = run_workflow(p, tmp_path, no_vars(base_sha) | {"PROV_POLICY": policy}, event="push")
    assert not job.ok and job.steps["prov check"]["rc"] == 3
    assert "could not evaluate v2 (exit 3); the gate fails closed" in job.steps["prov check"]["stdout"]
    assert job.ran("Upload SARIF") and summary(ws).startswith("### ⚠️")
    # exit 2: a base that does not exist; no report to upload, the job still fails
    job, ws = run_workflow(p, tmp_path, no_vars(base_sha) | {"BASE": "v9", "CANDIDATE": "v2"}, event="push")
    assert not job.ok and job.steps["prov check"]["rc"] == 2 and not job.ran("Upload SARIF")
    assert not job.ran("Job summary")  # no report to render: the job fails on the check's exit 2
    assert "v9" in job.steps["prov check"]["stderr"]
    # no trusted policy anywhere: the base commit has none and no variable is set
    p.git("rm", "-q", "--cached", "policy.toml")
    p.git("commit", "-qm", "no policy")
    no_policy = p.git("rev-parse", "HEAD").stdout.strip()
    job, _ = run_workflow(p, tmp_path, no_vars(no_policy), event="pull_request")
    assert not job.ok and job.steps["Trusted policy and signer"]["rc"] == 2
    assert "no trusted policy" in job.steps["Trusted policy and signer"]["stdout"] and not job.ran("prov check")


def test_the_workflow_pins_the_store_id_from_a_repository_variable(project, tmp_path):
    """Newcomer review 19, H6: `prov init` says to pin its store id where checks run, and no example said where.
    The workflow takes it from the repository variable PROV_STORE_ID (never from the checkout): the project's own
    id passes, another store's id fails the job (exit 1 at its first step that reads the store's signed history), and unset changes nothing
    (every other test here runs with it unset)."""
    import sqlite3

    p, base_sha = workflow_repo(project, "clean")
    p.git("add", "-A")
    p.git("commit", "-qm", "v2")
    with sqlite3.connect(p.root / ".prov" / "prov.db") as db:
        (store_id,) = db.execute("select value from meta where key = 'store_id'").fetchone()
    given = no_vars(base_sha) | {"PROV_POLICY": (EXAMPLES / "github-actions" / "policy.toml").read_text()}
    job, _ = run_workflow(p, tmp_path, given | {"PROV_STORE_ID": store_id}, event="push")
    assert job.ok, json.dumps(job.steps, indent=1, default=str)

    job, _ = run_workflow(p, tmp_path, given | {"PROV_STORE_ID": "0" * 32}, event="push")
    assert not job.ok
    audit = job.steps["Audit log"]
    assert audit["rc"] == 1 and "0" * 32 in audit["stderr"] and "the pin is wrong" in audit["stderr"], audit
    assert not job.ran("prov check")


def test_the_pull_request_that_adds_the_store_with_only_its_base_is_told_what_to_do(project, tmp_path):
    """Newcomer review 19, H7: the first pull request of a platform engineer adds the store holding only its base
    v1; the job failed with "commit one with prov commit DATA --tag NAME", which says nothing of that case. It
    still fails closed (nothing is checked), and says both ways on."""
    shutil.copyfile(EXAMPLES / "github-actions" / "policy.toml", project.root / "policy.toml")
    (project.root / ".gitignore").write_text("*.key\n")
    project.git("init", "-q", "-b", "main")
    project.git("add", "-A")
    project.git("commit", "-qm", "the store with its base v1")
    base_sha = project.git("rev-parse", "HEAD").stdout.strip()
    job, _ = run_workflow(project, tmp_path, no_vars(base_sha), event="pull_request", ref="refs/pull/1/merge")
    pick = job.steps["Pick the candidate version"]
    assert not job.ok and pick["rc"] == 2 and not job.ran("prov check")
    assert (
        "::error::no candidate version to check against v1 (the store's newest version is the base)" in pick["stdout"]
    )
    assert "for the pull request that adds the store with only its base, merge it after review" in pick["stdout"]


# GitHub's CLI stands in for GitHub's service (the edge of this machine): it serves what earlier runs
# uploaded as artifacts, from FAKE_GH_RUNS/<run id>/<artifact name>/, newest run first.
FAKE_GH = """#!/bin/bash
case "$1 $2" in
  "run list") ls -1 "$FAKE_GH_RUNS" | sort -rn ;;
  "run download")
    run=$3; shift 3
    while [ $# -gt 0 ]; do case $1 in --name) name=$2; shift 2 ;; --dir) dir=$2; shift 2 ;; *) shift ;; esac; done
    [ -d "$FAKE_GH_RUNS/$run/$name" ] || { echo "no artifact $name in run $run" >&2; exit 1; }
    mkdir -p "$dir" && cp -R "$FAKE_GH_RUNS/$run/$name/." "$dir/" ;;
  *) echo "fake gh: $*" >&2; exit 2 ;;
esac
"""


def with_fake_gh(p: Project, tmp_path: Path, base_sha: str) -> tuple[Path, dict, dict]:
    """GitHub's CLI faked on the project's PATH (``FAKE_GH``): (the runs folder it serves, the trusted variables,
    the release secrets)."""
    gh = tmp_path / "gh-bin"
    gh.mkdir()
    (gh / "gh").write_text(FAKE_GH)
    (gh / "gh").chmod(0o755)
    runs = tmp_path / "gh-runs"
    runs.mkdir()
    p.env = p.env | {"PATH": f"{gh}:{p.env['PATH']}", "FAKE_GH_RUNS": str(runs)}
    given = no_vars(base_sha) | {
        "PROV_POLICY": (EXAMPLES / "github-actions" / "policy.toml").read_text(),
        "PROV_SIGNER_PUB": (p.root / "keys" / "maintainer.pub").read_text(),
    }
    secrets = {"PROV_SIGNING_KEY": (p.root / "keys" / "maintainer.key").read_text(), "PROV_PASSPHRASE": ""}
    return runs, given, secrets


def keep_release_state(attest: Job, runs: Path, run_id: int) -> Path:
    """What GitHub keeps of a passing attest run: its "prov-release-state" artifact, served by the fake gh."""
    kept = attest.steps["Keep the release's audit-log state for the next run"]["uploaded"]
    (runs / str(run_id) / "prov-release-state").mkdir(parents=True)
    return Path(shutil.copyfile(kept, runs / str(run_id) / "prov-release-state" / "last.attestation.json"))


def test_the_next_release_takes_the_kept_attestation_of_its_base(project, tmp_path):
    """report-fix12a, found and left: the attest job's `prov check --attest` refuses a base that is not the first
    version unless its release attestation is given, and a CI checkout keeps none in .prov/, so every release
    after the first needed the maintainer to pass it by hand. Both jobs now give the kept last release's
    attestation as --base-attestation when it attests $BASE (prov check verifies it)."""
    p, base_sha = workflow_repo(project, "clean")
    p.git("add", "-A")
    p.git("commit", "-qm", "v2")
    runs, given, secrets = with_fake_gh(p, tmp_path, base_sha)
    attest, _ = run_workflow(p, tmp_path, given | secrets, event="push", job_name="attest")  # v2 against v1
    assert attest.ok, json.dumps(attest.steps, indent=1, default=str)
    keep_release_state(attest, runs, 41)
    # the next delivery: v2 less three base rows, checked against v2, the last release
    pq.write_table(pq.read_table(project.candidates / "clean.parquet").slice(3), p.root / "data" / "train.parquet")
    p.prov("commit", "data/train.parquet", "--tag", "v3", "--key", "keys/maintainer.key", "-m", "three rows out")
    p.git("add", "-A")
    p.git("commit", "-qm", "v3")
    job, ws = run_workflow(p, tmp_path, given | {"BASE": "v2"}, event="push")
    assert job.ok, json.dumps(job.steps, indent=1, default=str)
    assert json.loads((ws / "prov-check.json").read_text())["base_release"]["standing"] == "released"
    attest, _ = run_workflow(p, tmp_path, given | secrets | {"BASE": "v2"}, event="push", job_name="attest")
    sign = attest.steps["Sign a release attestation"]
    assert attest.ok and sign["rc"] == 0, sign  # was exit 2: "--attest: base v2 was never released ..."
    statement = json.loads(
        base64.b64decode(json.loads(attest.steps["Upload the attestation"]["uploaded"].read_text())["payload"])
    )
    assert statement["predicate"]["https://prov.dev/release/v1"]["base"]["standing"] == "released"


def test_a_rolled_back_revocation_fails_the_check_against_the_kept_log_state(project, tmp_path):
    """Attack review 5, finding 3, in CI: after a revocation the maintainer pushes and the attest job
    keeps the release's attestation (its signed audit-log state) as an artifact; a pull request that
    rolls the revocation back (audit entries, checkpoint and trust rows, with sqlite3) leaves a store
    consistent with itself, and only the kept state catches it."""
    p, base_sha = workflow_repo(project, "clean")
    p.prov("keys", "generate", "keys/vendor2")
    p.prov("trust", "add", "vendor2", "keys/vendor2.pub", "--key", "keys/maintainer.key")
    shutil.copyfile(p.root / ".prov" / "prov.db", tmp_path / "before-revoke.db")
    p.prov("trust", "revoke", "vendor2", "--reason", "stolen", "--yes", "--checkpoint-key", "keys/maintainer.key")
    p.git("add", "-A")
    p.git("commit", "-qm", "v2; vendor2 revoked")
    runs, given, secrets = with_fake_gh(p, tmp_path, base_sha)
    attest, _ = run_workflow(p, tmp_path, given | secrets, event="push", job_name="attest")
    assert attest.ok, json.dumps(attest.steps, indent=1, default=str)
    assert "::warning::no kept audit-log state" in attest.steps["Kept audit-log state"]["stdout"]  # the first
    kept = keep_release_state(attest, runs, 41)

    # the pull request: the revocation rolled back, the store consistent with itself
    roll_back_log(p.root / ".prov" / "prov.db", tmp_path / "before-revoke.db")
    p.git("add", "-A")
    p.git("commit", "-qm", "pull request")
    job, _ = run_workflow(p, tmp_path, given, event="pull_request", ref="refs/pull/8/merge")
    assert not job.ok and job.steps["Audit log"]["rc"] == 1 and not job.ran("prov check")
    assert "the log lost or changed entries it covered (a rolled-back store" in job.steps["Audit log"]["stderr"]
    # the same state kept in the repository variable instead
    state = kept.read_text()
    job, _ = run_workflow(p, tmp_path, given | {"PROV_KEPT_LOG_STATE": state}, event="pull_request")
    assert not job.ok and job.steps["Audit log"]["rc"] == 1
    # with nothing kept (no artifact, no variable), the rolled-back store is consistent with itself
    shutil.rmtree(runs / "41")
    job, _ = run_workflow(p, tmp_path, given, event="pull_request", ref="refs/pull/8/merge")
    assert (
        job.steps["Audit log"]["rc"] == 0 and "no kept audit-log state" in job.steps["Kept audit-log state"]["stdout"]
    )


def test_a_pull_request_that_changes_only_data_is_blocked_not_passed_unchecked(project, tmp_path):
    """Newcomer review 11, finding 2: the workflow commits no version (committing needs a key a pull
    request must not have), so a pull request that changes the data and carries no version of its own is
    checked as the newest committed version, whose data no longer matches: integrity.verify_data blocks
    it, naming the data, and the README says a data change comes with a maintainer's version."""
    p, base_sha = workflow_repo(project, "clean")
    p.git("add", "-A")
    p.git("commit", "-qm", "v2")
    p.use_candidate("backdoor")  # new data, no prov commit
    p.git("add", "-A")
    p.git("commit", "-qm", "pull request: new data only")
    job, ws = run_workflow(p, tmp_path, no_vars(base_sha), event="pull_request", ref="refs/pull/8/merge")
    assert not job.ok and job.steps["prov check"]["rc"] == 1, json.dumps(job.steps, indent=1, default=str)
    report = json.loads((ws / "prov-check.json").read_text())
    rules = {x["rule"]: x for x in report["rules"]}
    assert report["version"] == "v2" and rules["integrity.verify_data"]["status"] == "block", report["rules"]


def test_a_pull_request_cannot_make_the_check_run_an_option_for_its_candidate(project, tmp_path):
    """Attack review 14, A14-2: the pull request writes .prov/, so the version rows are its author's. With a
    newline and a version line named `--help` in the poisoned v2's unsigned parent column, the workflow took
    `--help` from prov log's text for the candidate and ran `prov check --help ...`, which prints help and
    exits 0: the required check passed. The candidate now comes from prov log --json, is refused when it is
    no valid version name, and every command takes it after `--`."""
    import sqlite3

    p, base_sha = workflow_repo(project, "backdoor")
    with sqlite3.connect(p.root / ".prov" / "prov.db") as db:
        db.execute(
            "update versions set parent = 'v1' || char(10) || '--help  2026-12-02 05:58  760 records  parent v1' "
            "where tag = 'v2'"
        )
    p.git("add", "-A")
    p.git("commit", "-qm", "pull request: v2, its parent column edited")
    job, ws = run_workflow(p, tmp_path, no_vars(base_sha), event="pull_request", ref="refs/pull/9/merge")
    assert job.steps["Audit log"]["rc"] == 0  # the parent column is no fact the audit log's check covers
    assert not job.ok and job.steps["prov check"]["rc"] == 1, json.dumps(job.steps, indent=1, default=str)
    assert "::error::prov check: v2 is BLOCKED against v1" in job.steps["prov check"]["stdout"]
    assert json.loads((ws / "prov-check.json").read_text())["version"] == "v2"

    # the row's tag itself an option (the newest row by name: no commit entry names it): refused before any check
    with sqlite3.connect(p.root / ".prov" / "prov.db") as db:
        db.execute("update versions set tag = '--help' where tag = 'v2'")
    p.git("add", "-A")
    p.git("commit", "-qm", "pull request: v2 renamed --help")
    job, _ = run_workflow(p, tmp_path, no_vars(base_sha), event="pull_request", ref="refs/pull/9/merge")
    pick = job.steps["Pick the candidate version"]
    assert not job.ok and pick["rc"] == 2 and not job.ran("prov check"), json.dumps(job.steps, indent=1, default=str)
    assert "::error::the candidate version's name is not a valid version name" in pick["stdout"]


def keep_log_state(keep: Job, runs: Path, run_id: int) -> Path:
    """What GitHub keeps of a push run's keep-log-state job: its "prov-log-state" artifact, served by the fake gh."""
    kept = keep.steps["Keep this push's log state for the next runs"]["uploaded"]
    (runs / str(run_id) / "prov-log-state").mkdir(parents=True)
    return Path(shutil.copyfile(kept, runs / str(run_id) / "prov-log-state" / "last.checkpoint.json"))


def tree_size(path: Path) -> int:
    return json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))["predicate"]["treeSize"]


def audit_entries(p: Project) -> int:
    import sqlite3

    with sqlite3.connect(p.root / ".prov" / "prov.db") as db:
        return db.execute("select count(*) from audit").fetchone()[0]


def test_each_push_to_main_keeps_its_log_state_and_the_next_run_holds_the_log_to_it(project, tmp_path):
    """The per-push log state (attack review 17, F17-2): a push to main signs a checkpoint over the log as pushed
    (the keep-log-state job, with the release key) and uploads it; the next run's check and audit log hold the
    store to it (rule integrity.kept_log_state), and the next push's state extends it. A pull request keeps none."""
    p, base_sha = workflow_repo(project, "clean")
    p.git("add", "-A")
    p.git("commit", "-qm", "v2")
    runs, given, secrets = with_fake_gh(p, tmp_path, base_sha)
    job, _ = run_workflow(p, tmp_path, given, event="push")
    assert job.ok and "no kept log state of a push to main" in job.steps["Kept audit-log state"]["stdout"]
    keep, ws = run_workflow(p, tmp_path, given | secrets, event="push", job_name="keep-log-state")
    assert keep.ok, json.dumps(keep.steps, indent=1, default=str)
    first = keep_log_state(keep, runs, 41)
    assert tree_size(first) == audit_entries(p)  # the whole log as pushed, v2's commit entry included
    assert not list((ws.parent / f"{ws.name}-runner").glob("*.key"))  # the key file is gone after the step
    skipped, _ = run_workflow(p, tmp_path, given | secrets, event="pull_request", job_name="keep-log-state")
    assert skipped.skipped and not skipped.steps

    # the next push: v3 committed honestly on top
    pq.write_table(pq.read_table(project.candidates / "clean.parquet").slice(3), p.root / "data" / "train.parquet")
    p.prov("commit", "data/train.parquet", "--tag", "v3", "--key", "keys/maintainer.key", "-m", "three rows out")
    p.git("add", "-A")
    p.git("commit", "-qm", "v3")
    job, ws = run_workflow(p, tmp_path, given, event="push")
    assert job.ok, json.dumps(job.steps, indent=1, default=str)
    assert "no kept log state" not in job.steps["Kept audit-log state"]["stdout"]
    rules = {x["rule"]: x for x in json.loads((ws / "prov-check.json").read_text())["rules"]}
    held = rules["integrity.kept_log_state"]
    assert held["status"] == "pass" and "last.checkpoint.json" in held["reason"], held
    keep, _ = run_workflow(p, tmp_path, given | secrets, event="push", job_name="keep-log-state")
    assert keep.ok, json.dumps(keep.steps, indent=1, default=str)
    second = keep_log_state(keep, runs, 42)
    assert tree_size(second) == audit_entries(p) > tree_size(first)


def test_a_push_whose_store_lacks_the_release_keys_row_keeps_the_log_as_pushed(project, tmp_path):
    """Attack review 18, F18-1, in CI: a push whose store has no `keys` row for the release key (a .prov/ writer
    deleted it: a cache, so the check and the audit log pass on it). The keep-log-state job signed the log with the
    key's registration entry appended on its runner's checkout only, so every later run failed its audit log
    against a state the repository never held, and no keep job signed again: the gate wedged. The kept state is
    now the log as pushed; the next push's run passes and its keep job signs again."""
    import sqlite3

    p, base_sha = workflow_repo(project, "clean")
    with sqlite3.connect(p.root / ".prov" / "prov.db") as db:
        db.execute("delete from keys")
    p.git("add", "-A")
    p.git("commit", "-qm", "v2")
    runs, given, secrets = with_fake_gh(p, tmp_path, base_sha)
    job, _ = run_workflow(p, tmp_path, given, event="push")
    assert job.ok, json.dumps(job.steps, indent=1, default=str)
    keep, _ = run_workflow(p, tmp_path, given | secrets, event="push", job_name="keep-log-state")
    assert keep.ok, json.dumps(keep.steps, indent=1, default=str)
    first = keep_log_state(keep, runs, 41)
    assert tree_size(first) == audit_entries(p)  # the log the repository holds, nothing of the runner's own

    p.git("commit", "-qm", "a later push (the README)", "--allow-empty")
    job, ws = run_workflow(p, tmp_path, given, event="push")
    assert job.ok, json.dumps(job.steps, indent=1, default=str)
    rules = {x["rule"]: x for x in json.loads((ws / "prov-check.json").read_text())["rules"]}
    assert rules["integrity.kept_log_state"]["status"] == "pass"
    keep, _ = run_workflow(p, tmp_path, given | secrets, event="push", job_name="keep-log-state")
    assert keep.ok, json.dumps(keep.steps, indent=1, default=str)
    assert tree_size(keep_log_state(keep, runs, 42)) == audit_entries(p)


def test_a_blocked_delivery_erased_from_the_store_fails_the_runs_after_the_state_its_push_kept(project, tmp_path):
    """Attack review 17, F17-2, in CI: the maintainer pushes the vendor's backdoored delivery as v2; the check
    blocks it, and the workflow kept no state of a blocked push (was: release states only). A .prov/ writer then
    erases v2 with sqlite3 (row, commit entry, checkpoints, per-version rows) and the maintainer commits the clean
    delivery as v3 on top: with no state of v2's push the store alone cannot tell, and v3 passes. Now the blocked
    push's keep-log-state job kept its state, so the next run's audit log fails naming the lost entries, prov check
    never runs, and that run's keep job signs nothing (a cut log is never vouched for)."""
    p, base_sha = workflow_repo(project, "backdoor")
    p.git("add", "-A")
    p.git("commit", "-qm", "v2: the vendor's delivery")
    runs, given, secrets = with_fake_gh(p, tmp_path, base_sha)
    job, _ = run_workflow(p, tmp_path, given, event="push")
    assert not job.ok and job.steps["prov check"]["rc"] == 1  # blocked
    keep, _ = run_workflow(p, tmp_path, given | secrets, event="push", job_name="keep-log-state")
    assert keep.ok, json.dumps(keep.steps, indent=1, default=str)  # kept whatever the check decided
    blocked_state = keep_log_state(keep, runs, 41)

    erase_last_version(p.root / ".prov" / "prov.db", "v2")
    p.use_candidate("clean")
    p.prov("commit", "data/train.parquet", "--tag", "v3", "--key", "keys/maintainer.key", "--parent", "v1")
    p.git("add", "-A")
    p.git("commit", "-qm", "v3")
    job, _ = run_workflow(p, tmp_path, given, event="push")
    audit_log = job.steps["Audit log"]
    assert not job.ok and audit_log["rc"] == 1 and not job.ran("prov check"), json.dumps(job.steps, default=str)
    assert "the log lost or changed entries it covered" in audit_log["stderr"], audit_log["stderr"]
    keep, _ = run_workflow(p, tmp_path, given | secrets, event="push", job_name="keep-log-state")
    assert not keep.ok and keep.steps["Audit log against the kept states"]["rc"] == 1
    assert not keep.ran("Sign this push's log state") and not keep.ran("Keep this push's log state for the next runs")
    # the check itself holds the kept state too (the attest job's check, or a workflow without the audit step)
    r = run(
        [tool("prov"), "check", "v3", "--base", "v1", "--no-save", "--checkpoint", str(blocked_state)],
        p.root,
        p.env,
        check=False,
    )
    assert r.returncode == 1 and "integrity.kept_log_state" in r.stdout, r.stdout + r.stderr
    # with no state of the blocked push kept (the workflow before), the erased store passes
    shutil.rmtree(runs / "41")
    job, _ = run_workflow(p, tmp_path, given, event="push")
    assert job.ok and "::notice::prov check: v3 may be released against v1" in job.steps["prov check"]["stdout"]


def test_the_example_policy_writes_prov_defaults_and_names_every_section_it_leaves_out():
    """Newcomer review 19, H5: the example policy said it wrote out prov's defaults "so a reviewer sees what gates
    a release", yet had no [removals], [copies] or [attestation] section, which gate a release all the same. Each
    value it writes is the default, and its header names every default section it leaves out."""
    import tomllib

    from provenance.gate.policy import default_policy_toml

    text = (EXAMPLES / "github-actions" / "policy.toml").read_text()
    example, default = tomllib.loads(text), tomllib.loads(default_policy_toml())
    for section, values in example.items():
        for key, value in values.items():
            assert default[section][key] == value, f"[{section}] {key}"
    header = "\n".join(line for line in text.splitlines() if line.startswith("#") and "[" in line)
    for section in default.keys() - example.keys():
        assert f"[{section}]" in header, section
    assert "prov check --print-default-policy" in text
