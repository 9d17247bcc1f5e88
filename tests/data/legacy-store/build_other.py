"""Build ``world/other-project/``: a second store made with prov's code from before store ids, by the same maintainer.

Run from this folder with that code first on the path (as ``build.py``; ``world/`` must exist, its keys are used)::

    PYTHONPATH=/tmp/old-prov python build_other.py

It writes ``world/other-project/prov-store`` (its ``.prov/`` folder): one version, ``o1``, of ``other.parquet``
(150 digits ``world/`` does not hold), committed by ``world/maintainer.key`` and naming no store: another
project's version from before ids, which ``tests/cli/test_trust_store_id.py`` copies into the legacy store
with sqlite3 (same maintainer key reused across projects, attack review 19).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
WORLD = HERE / "world"
OTHER = WORLD / "other-project"


def prov(cwd: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "provenance", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    import provenance.trust.statements as old

    assert "store" not in old.entry_statement.__code__.co_varnames, "run this with prov's code from before store ids"
    shutil.rmtree(OTHER, ignore_errors=True)
    OTHER.mkdir()
    d = load_digits()
    cols = {f"px{i:02d}": d.data[:, i].astype("int64") for i in range(64)}
    t = pa.table({**cols, "label": [str(v) for v in d.target]})
    pq.write_table(t.slice(600, 150), OTHER / "other.parquet")
    prov(OTHER, "init")
    key = OTHER / "maintainer.key"  # git keeps no mode 600: prov refuses a key readable by others
    shutil.copy2(WORLD / "maintainer.key", key)
    key.chmod(0o600)
    prov(OTHER, "commit", "other.parquet", "--tag", "o1", "--key", str(key), "--signer", str(WORLD / "maintainer.pub"))
    key.unlink()
    (OTHER / ".prov").rename(OTHER / "prov-store")
    (OTHER / "prov-store" / "lock").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
