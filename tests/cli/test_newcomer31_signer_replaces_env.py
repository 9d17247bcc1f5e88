"""Newcomer review 31, finding 3: ``prov verify station-2009.parquet --signer keys/station.pub`` with
``PROV_SIGNERS=keys/maintainer.pub`` set pinned only the --signer key (the flag replaces the variable; trust is
never widened silently) and failed "signed by key 59fa..., which you did not pin", naming neither. A message that
a key is not pinned now says that --signer replaced PROV_SIGNERS."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from provenance import keys

REPLACED = (
    "(--signer replaced PROV_SIGNERS=maintainer.pub, whose keys are then not pinned: give every key you trust as "
    "--signer, or drop --signer to pin PROV_SIGNERS)"
)


def test_a_signer_flag_beside_prov_signers_says_it_replaced_the_variable(prov, workdir):
    keys.generate(workdir / "maintainer")
    keys.generate(workdir / "station")
    pq.write_table(pa.table({"x": [float(i) for i in range(12)], "label": ["a", "b"] * 6}), "base.parquet")
    assert prov("init").exit_code == 0
    assert prov("commit", "base.parquet", "--tag", "v1", "--key", "maintainer.key", "--signer", "maintainer.pub")
    env = os.environ | {"PROV_SIGNERS": "maintainer.pub"}

    r = prov("verify", "v1", "--signer", "station.pub", env=env)
    assert r.exit_code == 1
    assert " ".join(r.output.split()).endswith(
        f"which is not among the keys you pinned ({keys.key_id(keys.load_public('station.pub'))[:16]} (station.pub)) {REPLACED}"
    ), r.output

    # the variable alone, or the flag naming both keys, verifies; the flag alone without the variable says nothing
    assert prov("verify", "v1", env=env).exit_code == 0
    assert prov("verify", "v1", "--signer", "station.pub", "--signer", "maintainer.pub", env=env).exit_code == 0
    r = prov("verify", "v1", "--signer", "station.pub")
    assert r.exit_code == 1 and "PROV_SIGNERS" not in r.output


def test_a_batch_checked_in_a_store_says_it_too(prov, workdir):
    """The newcomer's case: the station's signed batch checked in a store whose trust entry the maintainer signed."""
    keys.generate(workdir / "maintainer")
    keys.generate(workdir / "station")
    pq.write_table(pa.table({"x": [float(i) for i in range(12)], "label": ["a", "b"] * 6}), "station.parquet")
    assert prov("init").exit_code == 0
    r = prov("trust", "add", "station", "station.pub", "--key", "maintainer.key", "--signer", "maintainer.pub")
    assert r.exit_code == 0, r.output
    assert prov("sign", "station.parquet", "--source", "station", "--key", "station.key").exit_code == 0
    env = os.environ | {"PROV_SIGNERS": "maintainer.pub"}
    assert prov("verify", "station.parquet", env=env).exit_code == 0
    r = prov("verify", "station.parquet", "--signer", "station.pub", env=env)
    assert r.exit_code == 2  # the trust setting is the user's to fix (as before)
    assert f"which you did not pin {REPLACED}" in " ".join(r.output.split()), r.output
