"""Old code against new: does ``prov diff --detect`` give the same outputs? (not a timing)

A speed change to ``prov diff --detect`` must leave every output as it was. For each pair of
versions named, each code tree runs ``prov diff BASE NEW --detect`` on its own copy of the same
store (``.prov/`` copied from one pristine state), in each of the report's forms (JSON with every
scored record, JSON with ``--flagged-only``, text), and the two trees' results are compared:

- the report's bytes (``--out``) and what the command printed on stdout and stderr;
- the exit code;
- the stored run: ``prov findings NEW --all --json`` (its run id and times left out), and the
  ``detector_runs`` and ``findings`` rows of ``prov.db`` read with sqlite3 (run ids and times left out).

Usage: python bench/detect_outputs_same.py OLD_TREE NEW_TREE STORE_FOLDER BASE:NEW [BASE:NEW ...]
(a tree is a checkout of prov, e.g. ``git archive COMMIT | tar -x -C DIR``, with its compiled
extensions copied in; STORE_FOLDER holds a ``.prov/`` with those versions, e.g. one
``user_versions.two_versions`` built, or a ``prov demo`` folder). Prints one line per comparison
and exits 1 if any differs. The store folder is left as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from user_versions import PROV, bytecode_env  # noqa: E402

FORMS = {"json-all": ("--format", "json"), "json-flagged": ("--format", "json", "--flagged-only"), "text": ()}


def stored_rows(folder: Path) -> dict:
    """The detector runs and findings rows of the store, without run ids and times, in a fixed order."""
    with sqlite3.connect(folder / ".prov" / "prov.db") as db:
        runs = db.execute(
            "select version, base, detector, status, error, threshold, scored, flagged, fpr from detector_runs "
            "order by version, base, detector"
        ).fetchall()
        found = db.execute(
            "select version, base, position, digest, label, detector, score, flagged, explanation from findings "
            "order by version, base, detector, position"
        ).fetchall()
    return {"detector_runs": runs, "findings": found}


def one(tree: Path, cache: Path, folder: Path, pristine: Path, pair: tuple[str, str], form: str, out: Path) -> dict:
    """Everything one run of ``tree`` leaves: report bytes, stdout, stderr, exit code, stored run."""
    shutil.rmtree(folder / ".prov", ignore_errors=True)
    shutil.copytree(pristine, folder / ".prov")
    env = bytecode_env(cache) | {"PYTHONPATH": str(tree)}
    out.unlink(missing_ok=True)
    done = subprocess.run(
        [PROV, "diff", *pair, "--detect", *FORMS[form], "--out", str(out)],
        cwd=folder,
        env=env,
        capture_output=True,
    )
    listed = subprocess.run(
        [PROV, "findings", pair[1], "--all", "--json"], cwd=folder, env=env, capture_output=True, text=True
    )
    stored = json.loads(listed.stdout) if listed.returncode == 0 else {"error": listed.stderr}
    stored.pop("run", None)
    for d in stored.get("detectors", []):
        d.pop("run", None)
        d.pop("created_at", None)
    return {
        "report": out.read_bytes() if out.exists() else None,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "exit": done.returncode,
        "stored": stored,
        "rows": stored_rows(folder),
    }


def main() -> None:
    old, new, folder = (Path(a).resolve() for a in sys.argv[1:4])
    pairs = [tuple(p.split(":", 1)) for p in sys.argv[4:]]
    root = Path(tempfile.mkdtemp(prefix="prov-outputs-same-"))
    pristine = root / "pristine"
    shutil.copytree(folder / ".prov", pristine)
    differ = False
    try:
        for pair in pairs:
            for form in FORMS:
                got = {
                    name: one(tree, root / f"pycache-{name}", folder, pristine, pair, form, root / "report.out")
                    for name, tree in (("old", old), ("new", new))
                }
                same = {key: got["old"][key] == got["new"][key] for key in got["old"]}
                differ |= not all(same.values())
                size = len(got["new"]["report"] or b"")
                print(
                    f"{pair[0]} -> {pair[1]} {form}: exit {got['old']['exit']}/{got['new']['exit']}, report {size:,} "
                    f"bytes, flagged rows {len(got['new']['rows']['findings'])}; "
                    + ", ".join(f"{key} {'same' if ok else 'DIFFERS'}" for key, ok in same.items())
                )
    finally:
        shutil.rmtree(folder / ".prov", ignore_errors=True)
        shutil.copytree(pristine, folder / ".prov")
        shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    main()
