"""`prov commit` of the 20,000-PNG image tree (profile included) with two code trees, alternated:
OLD (a folder holding the code before a change: ``git archive REV provenance | tar -x -C OLD``, plus
the compiled ``provenance/_fast*.so`` built from that code) against this tree. Each run commits into a
fresh store on a 3-file parent, as ``core_bench.py --tree digits_png`` does; CPU is user + system of the
command (``core_bench.timed``), the sides swap order every round (``alternation.recorded_rounds``: the
first of a pair tends to run slower), and the load is read before and after each run. The stores'
content-addressed Parquet objects (manifest, lineage) are compared across every run: a speed change must
leave them byte-identical (same names = same SHA-256). The reference profile (``.npz``) cannot be
compared this way: its sample is keyed by the commit's signature (``profiles.sample.sample_key``), which
covers the commit's time, so two commits of the same files by the same code store different profiles;
compare a profile change with a fixed sample instead.

With ``--dvc``, each round also runs ``dvc add`` on the same tree (``core_bench.dvc_add``, a fresh
git + DVC repository, CPU of the command and its children) as a third side, so the ratio to ``dvc add``
is of runs made in the same minutes: a ratio computed across sessions mixes loads.

    python bench/image_tree_ab.py OLD_TREE [--rounds 8] [--names old,new] [--dvc] [--out image-tree-ab]

Results in bench/results/OUT.{json,md}. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from alternation import ab_parser, ab_result, code_trees, recorded_rounds, write_ab  # noqa: E402
from core_bench import CPU_SECONDS, CPU_SPLIT, dvc_add, make_digits_tree, prov_commit, warm_up  # noqa: E402

DVC = "dvc add"  # the third side's name with --dvc
FIELDS = [("cpu_s", "CPU s"), ("wall_s", "wall s"), ("peak_mib", "peak MiB")]


def signed_objects(store: Path) -> frozenset[str]:
    """Names (SHA-256 of the bytes) of the store's Parquet objects (manifest, lineage), which nothing
    time-dependent enters. Envelopes, checkpoints and the signature-keyed profile differ run to run."""
    return frozenset(p.name for p in (store / ".prov" / "objects").iterdir() if p.suffix == ".parquet")


def main() -> None:
    ap = ab_parser(__doc__, 20_000, 8, "image-tree-ab", "commit")
    ap.add_argument("--dvc", action="store_true", help="run `dvc add` on the same tree in every round too")
    args = ap.parse_args()
    trees = code_trees(args.old, args.names, HERE.parent)
    if args.dvc:
        trees[DVC] = ""
    work = Path(tempfile.mkdtemp(prefix="prov-image-ab-"))
    objects: dict[str, set[frozenset[str]]] = {name: set() for name in trees if name != DVC}

    def run(name: str, tree: str) -> dict:
        if name == DVC:
            wall = dvc_add(work, data)
            user, system = CPU_SPLIT["dvc"]
            return {"wall_s": round(wall, 3), "cpu_s": round(CPU_SECONDS["dvc"], 3), "user_system_s": [user, system]}
        os.environ["PYTHONPATH"] = tree
        wall, peak = prov_commit(work, data, 2)
        objects[name].add(signed_objects(work / "store"))
        return {"wall_s": round(wall, 3), "cpu_s": round(CPU_SECONDS["prov"], 3), "peak_mib": round(peak / 2**20)}

    try:
        data = work / "digits"
        make_digits_tree(data, args.rows)
        for name, tree in trees.items():
            if name != DVC:
                os.environ["PYTHONPATH"] = tree
                warm_up(work)  # each tree's bytecode cached (core_bench.compiled_env), as after a user's first run
        runs, stamps = recorded_rounds(trees, run, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    same = len(set().union(*objects.values())) == 1
    result = ab_result(trees, runs, stamps, [k for k, _ in FIELDS], rows=args.rows, rounds=args.rounds)
    result["objects_identical"] = same
    if args.dvc:  # each code's CPU and wall medians against dvc add's: the aim is >= 10x
        dvc = result["medians"][DVC]
        for name in objects:
            mine = result["medians"][name]
            mine["dvc_add_cpu_ratio"] = round(dvc["cpu_s"] / mine["cpu_s"], 2)
            mine["dvc_add_wall_ratio"] = round(dvc["wall_s"] / mine["wall_s"], 2)
    paragraph = (
        f"`bench/image_tree_ab.py` on {args.rows:,} PNGs (scikit-learn's digits rendered, `core_bench."
        f"make_digits_tree`), `prov commit` with 2 workers onto a 3-file parent, profile included, {args.rounds} "
        f"rounds, sides alternated{' with `dvc add` on the same tree' if args.dvc else ''}. {result['machine']}. "
        "CPU = user + system of the command and its children. Manifest and lineage objects identical across "
        f"every prov run: {'yes' if same else 'NO'}."
    )
    write_ab(args.out, result, "Image-tree commit", paragraph, FIELDS)
    print(json.dumps({"medians": result["medians"], "objects_identical": same}))


if __name__ == "__main__":
    main()
