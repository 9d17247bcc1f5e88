"""The stage-timed table commit (``commit_stages.py``, the call behind the README's read -> signed
manifest row) with two code trees, alternated on one file: OLD (a checkout of the code before a
change, with its compiled extensions) against this tree, in fresh processes, ``--rounds`` times
each (old, new, then new, old, ...), so a change of the machine's load falls on both alike.

    python bench/commit_stages_ab.py OLD_TREE --rows 2000000 --rounds 3 --out commit-stages-ab-2m

Per run: rows/s to the signed manifest (hashing + merge + Merkle root + signing, as
``scale_bench.py`` counts them), those stages' wall seconds (and the merge with its root, wall and
this process's CPU: since session 22 one pass does both), their CPU (user + system, the
hashing workers included), the whole call's CPU, peak PSS of the process tree, and the load
(``uptime``'s 1/5/15-minute averages) before and after; medians per code tree. Results in
bench/results/OUT.{json,md}. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from alternation import ab_parser, ab_result, code_trees, recorded_rounds, warm_table, write_ab  # noqa: E402
from scale_bench import PY, run_json  # noqa: E402

FIELDS = [  # (key, heading) of the per-run and median tables
    ("manifest_rows_per_s", "to manifest rows/s"),
    ("to_manifest_s", "to manifest s"),
    ("manifest_tree_cpu_s", "to manifest CPU s"),
    ("hash_s", "hash s"),
    ("merge_s", "merge s"),
    ("merkle_s", "Merkle s"),
    ("merge_root_s", "merge + Merkle s"),
    ("merge_root_cpu_s", "merge + Merkle CPU s"),
    ("profile_s", "profile s"),
    ("profile_cpu_s", "profile CPU s"),
    ("commit_s", "whole call s"),
    ("commit_tree_cpu_s", "whole call CPU s"),
    ("peak_mib", "peak MiB"),
]


def one_run(table: Path, work: Path, workers: int) -> Callable[[str, str], dict]:
    """What a round runs per code tree: one fresh ``commit_stages.py`` process timing the tree's code on ``table``."""

    def run(name: str, tree: str) -> dict:
        env_code = {"PROV_BENCH_CODE": tree}
        old_env = {k: os.environ.get(k) for k in env_code}
        os.environ.update(env_code)
        try:
            stages, peak = run_json([PY, HERE / "commit_stages.py", str(table), "--workers", str(workers)], work)
        finally:
            for k, v in old_env.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        to_manifest = stages["hash_s"] + stages["merge_s"] + stages["merkle_s"] + stages["sign_s"]
        stages.update(
            # the merge and its root, together: code since session 22 hashes the root inside the merge's one pass
            merge_root_s=round(stages["merge_s"] + stages["merkle_s"], 3),
            merge_root_cpu_s=round(stages["merge_cpu_s"] + stages["merkle_cpu_s"], 3),
            to_manifest_s=round(to_manifest, 3),
            manifest_rows_per_s=int(stages["records"] / to_manifest),
            peak_mib=round(peak / 2**20),
        )
        return stages

    return run


def main() -> None:
    ap = ab_parser(None, 2_000_000, 3, "commit-stages-ab", "commit")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    trees = code_trees(args.old, args.names, HERE.parent)
    work = Path(tempfile.mkdtemp(prefix="prov-stages-ab-"))
    try:
        table = warm_table(args.table, args.rows, work)
        runs, stamps = recorded_rounds(trees, one_run(table, work, args.workers), args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    facts = {"rows": runs[0]["records"], "workers": args.workers, "rounds": args.rounds}
    result = ab_result(trees, runs, stamps, [key for key, _ in FIELDS], **facts, sha256_path=runs[0]["sha256_path"])
    paragraph = (
        f"`bench/commit_stages_ab.py` on {result['rows']:,} rows x 64 float64 + label, {args.workers} workers, "
        f"{args.rounds} rounds (old and new code alternated, each in a fresh process, on one file; page cache "
        f"warm), on top of a 3-row parent version. {result['machine']}; {result['sha256_path']}. To manifest = "
        "hashing + merge + Merkle root + signing (`scale_bench.py`'s figure); CPU = user + system, the hashing "
        "workers included."
    )
    write_ab(args.out, result, "Stage-timed table commit", paragraph, FIELDS)
    print(json.dumps(result["medians"]))


if __name__ == "__main__":
    main()
