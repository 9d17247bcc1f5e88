"""A training job that runs outside the store's folder names the store (newcomer review 19, H3).

The README's snippets run in the tour's folder, where ``prov.load`` finds ``.prov/`` as the commands do. A job
started elsewhere (a repository root, a scheduler's working directory) got ``no prov store here or above; run
'prov init' first``, which is the wrong thing to do there: the error now says how to name the store, and both
ways it names (``store=`` and ``PROV_STORE``) load the version, its data read where it was committed.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import provenance as prov
from provenance.errors import InputError
from provenance.store.store import Store


@pytest.fixture
def elsewhere(workdir, keypair, monkeypatch):
    """v1 committed in ``project/`` (its data there too); the job's working directory is ``jobs/``."""
    project = workdir / "project"
    project.mkdir()
    pq.write_table(pa.table({"x": list(range(20)), "label": ["a", "b"] * 10}), project / "train.parquet")
    monkeypatch.chdir(project)
    prov.commit(Store.init(project), "train.parquet", tag="v1", key=keypair.private_path)
    (workdir / "jobs").mkdir()
    monkeypatch.chdir(workdir / "jobs")
    return project


def test_a_job_outside_the_stores_folder_is_told_how_to_name_the_store(elsewhere, keypair, monkeypatch):
    how = re.escape("(a job run outside the store's folder: pass store='FOLDER', the folder holding .prov/, or set")
    with pytest.raises(InputError, match=rf"no prov store here or above; run 'prov init' first {how} PROV_STORE"):
        prov.load("v1", pins=keypair.public_path)

    X, y = prov.load("v1", pins=keypair.public_path, store="../project").arrays()
    assert len(X) == len(y) == 20
    monkeypatch.setenv("PROV_STORE", str(elsewhere))
    assert len(prov.load("v1", pins=keypair.public_path).to_table()) == 20
