"""Every command that signs an audit checkpoint refuses a key nobody pinned, as `prov audit checkpoint` does
(newcomer review 10, finding 13): `prov add`, `prov trust add`, `prov trust revoke` and `prov keys revoke`
with `--checkpoint-key` wrote the change and a checkpoint every verifier then listed as not relied on, so
the change stayed pending (a revocation a `.prov/` writer can roll back) without a word. Now: exit 2, one
line naming the key file, the store byte for byte as it was; the maintainer's pinned key still works."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support import ok, one_line, store_fingerprint

PINNED = ("--signer", "maintainer.pub")


def _new_delivery(prov) -> tuple[str, ...]:
    """The vendor signs 20 records no batch holds yet; `prov add` registers them."""
    crowd = pq.read_table("crowd-batch.parquet").slice(0, 20)
    pixels = [v + 5 for v in crowd.column("px20").to_pylist()]
    crowd = crowd.set_column(crowd.schema.get_field_index("px20"), "px20", pa.array(pixels, pa.int64()))
    pq.write_table(crowd, "vendor3.parquet")
    ok(prov, "sign", "vendor3.parquet", "--source", "vendor", "--key", "vendor.key")
    return ("add", "vendor3.parquet", "--source", "vendor")


def _spare_key(prov) -> tuple[str, ...]:
    """A second maintainer key, registered and never used: `prov keys revoke` revokes it."""
    ok(prov, "keys", "generate", "spare")
    ok(prov, "keys", "register", "spare.pub", "--name", "spare")
    listed = json.loads(ok(prov, "keys", "list", "--json"))["keys"]
    return ("keys", "revoke", next(k["keyid"] for k in listed if k["name"] == "spare")[:12], "--reason", "left")


COMMANDS = {
    "add": _new_delivery,
    "trust add": lambda prov: ("trust", "add", "newvendor", "attacker.pub", "--key", "maintainer.key"),
    "trust revoke": lambda prov: ("trust", "revoke", "vendor", "--reason", "stolen", "--yes"),
    "keys revoke": _spare_key,
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_checkpoint_key_nobody_pinned_is_refused_before_anything_is_written(prov, template_trust, workdir, command):
    args = COMMANDS[command](prov)
    before = store_fingerprint(workdir / ".prov")
    r = prov(*args, "--checkpoint-key", "attacker.key", *PINNED)
    assert r.exit_code == 2, r.output
    line = one_line(r)
    assert line.startswith("Error: attacker.key: key ") and "not among the keys you pinned" in line, line
    assert store_fingerprint(workdir / ".prov") == before
    ok(prov, *args, "--checkpoint-key", "maintainer.key", *PINNED)  # a pinned maintainer's key signs it
