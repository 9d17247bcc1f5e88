"""The examples in examples/ run for real: a DVC pipeline under `dvc repro`, a git
pre-commit hook under `git commit`, and the shell lines of the GitHub Actions workflow,
each against a real prov store, real keys and real Parquet data.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from conftest import EXAMPLES, Project, run, tool

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
    assert "release attestation ok" in p.prov("verify", "v2", "--attestation", "release.attestation.json",
                                              "--no-data").stdout
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
    blocked = [line.split("]")[1].split(":")[0].strip() for line in report.splitlines() if "[BLOCK]" in line]
    assert "detectors.spectral" in blocked and "detectors.knn_label" in blocked, report
    assert "[BLOCK] detectors.spectral" in r.stdout  # the stage prints the report where dvc shows it
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
