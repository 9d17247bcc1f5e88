"""``prov verify V`` of data edited in every record but one, with the code before and after session 27.

Session 27 made the pairing of ``provenance.changes.record_changes`` columnar (``change_pairing``):
before, each changed record became a Python dict (2.5 GiB at 1M rows edited, attack review 25d's
leftover). This commits N rows x 64 float columns once (``bench/verify_all_changed.py``'s data),
verifies the unchanged data (the baseline: same read and hash, no change list), then rewrites it
with every record edited in place but the first and runs ``prov verify v1`` in a fresh process
with the code of BEFORE (a commit, exported with ``git archive``) and with this checkout's code,
probing each process tree's peak PSS, and checking both said the same on stderr. Usage:
``python bench/verify_all_changed_s27.py BEFORE [ROWS]``; results go to
``bench/results/verify-all-changed-s27.md`` (and ``.json``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from user_versions import load, prov  # noqa: E402
from verify_all_changed import COLUMNS, verify_v1, write_rows  # noqa: E402

ROOT = HERE.parent


def _checkout(commit: str, into: Path) -> tuple[str, ...]:
    """The package at ``commit`` in ``into`` (with this checkout's compiled hashing extension), as a prov command."""
    archive = subprocess.run(["git", "archive", commit, "provenance"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    for ext in (ROOT / "provenance").glob("_fastsha*.so"):
        shutil.copy(ext, into / "provenance" / ext.name)
    code = (
        f"import sys; sys.path.insert(0, {str(into)!r}); from provenance.cli import main; sys.argv[0] = 'prov'; main()"
    )
    return (sys.executable, "-c", code)


def measure(before: str, rows: int) -> dict:
    with tempfile.TemporaryDirectory(dir=HERE / "results") as tmp:
        folder, code = Path(tmp) / "data", Path(tmp) / "before"
        folder.mkdir()
        code.mkdir()
        old_prov = _checkout(before, code)
        write_rows(folder / "data.parquet", rows, 0.0)
        prov(["init"], folder)
        prov(["keys", "generate", "maintainer"], folder)
        prov(["commit", "data.parquet", "--tag", "v1", "--key", "maintainer.key"], folder)
        unchanged = verify_v1(folder)
        write_rows(folder / "data.parquet", rows, 1.0, keep_first=True)  # every record edited in place but one
        after = verify_v1(folder)
        print(json.dumps({"after": after}), flush=True)
        old = verify_v1(folder, old_prov)
    return {
        "rows": rows,
        "columns": COLUMNS,
        "load": load(),
        "before_commit": before,
        "unchanged_baseline": unchanged,
        "all_but_one_edited_before": old,
        "all_but_one_edited_after": after,
    }


def main() -> None:
    before, rows = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    result = measure(before, rows)
    print(json.dumps(result), flush=True)
    (HERE / "results" / "verify-all-changed-s27.json").write_text(json.dumps(result, indent=1) + "\n")
    b, a, base = result["all_but_one_edited_before"], result["all_but_one_edited_after"], result["unchanged_baseline"]
    same = b["stderr_sha256"] == a["stderr_sha256"]
    lines = [
        "# `prov verify V` of data edited in every record but one: before and after session 27",
        "",
        f"{rows:,} rows x {COLUMNS} float columns, one Parquet file; `bench/verify_all_changed_s27.py {before} {rows}`;",
        f"load averages at the end {result['load']} (2 cores shared with other sessions: seconds are noisy).",
        "Peak memory: the PSS of the `prov verify` process tree, probed every 50 ms.",
        "",
        "| run | exit | seconds | peak PSS MiB | x baseline PSS |",
        "|---|---|---|---|---|",
        f"| unchanged data (baseline, after) | {base['exit']} | {base['seconds']} | {base['peak_mib']} | 1.00 |",
        f"| all but one edited, before ({before}) | {b['exit']} | {b['seconds']} | {b['peak_mib']} | "
        f"{b['peak_mib'] / base['peak_mib']:.2f} |",
        f"| all but one edited, after | {a['exit']} | {a['seconds']} | {a['peak_mib']} | "
        f"{a['peak_mib'] / base['peak_mib']:.2f} |",
        "",
        f"stderr before and after: {b['stderr_lines']} and {a['stderr_lines']} lines, "
        + ("byte-identical (same SHA-256)." if same else "DIFFERENT (SHA-256 differs)."),
    ]
    (HERE / "results" / "verify-all-changed-s27.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
