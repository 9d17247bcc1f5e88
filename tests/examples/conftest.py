"""Fixtures for the examples' tests: a real trusted project (a prov store whose base v1 is
committed and signed, a vendor batch signed at source and registered, and clean and
poisoned candidate tables from scikit-learn's digits), built once and copied per test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from examples_support import Project, build_trusted_project, clean_env, pinned_env


@pytest.fixture(scope="session")
def trusted_template(tmp_path_factory) -> tuple[Path, Path]:
    """Built once; tests copy it and never change it."""
    return build_trusted_project(tmp_path_factory.mktemp("trusted"))


@pytest.fixture
def project(trusted_template, tmp_path) -> Project:
    template, candidates = trusted_template
    root = tmp_path / "project"
    shutil.copytree(template, root, symlinks=True)
    (tmp_path / "home").mkdir()
    return Project(root, candidates, pinned_env(clean_env(tmp_path / "home"), root))
