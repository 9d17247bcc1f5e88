"""Session 30 (fix30b, A29b-4): detection with the profile's winsorised column scale against main's plain std.

    python bench/robust_scale_s30.py OLD_TREE NEW_TREE [--benches detect,inorder,combined] | --render-only

Each tree is a snapshot of prov (``git archive COMMIT | tar -x -C DIR``, with the compiled ``provenance/_fast*.so``
copied in). Runs, alternated and in one script, under each tree with ``uptime`` before and after every run:
``detect``, the detection bench's quick quality part (``detect_bench.py --quick --part quality``: one seed, digits /
breast cancer / wine / iris, every attack at 1, 5 and 10%); ``inorder``, the in-order false-alarm bench
(``inorder_fpr_s29.py --variants library``: the gate bench's clean and poisoned batches in file order and shuffled,
the library's verdict only); ``combined``, the detection bench at prov's operating point (``detect_bench.py --part
combined --prov-only``). All are deterministic (fixed seeds, one BLAS thread), so one run per tree compares them; the
sides run old, new for the first bench, new, old for the second, and so on. The raw outputs stay in ``$OUT`` (default
/tmp/robust-scale-s30; runs.json gathers the runs of every invocation); the summary, with how far the winsorised
scale moves each real dataset's column scales, goes to bench/results/robust-scale-s30.md (a re-render keeps the
paragraphs written by hand above its first section).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from alternation import uptime, utc_minute  # noqa: E402

SIDES = ("main", "robust")
BENCHES = ("detect", "inorder", "combined")


def run_once(tree: Path, out: Path, bench: str) -> dict:
    """One bench (``"detect"``, ``"combined"`` or ``"inorder"``) under ``tree``; its outputs copied into ``out``; wall and CPU
    seconds and ``uptime`` before and after."""
    out.mkdir(parents=True, exist_ok=True)
    # the detection bench's two parts: the quick quality part, and prov at its operating point
    detect_parts = {"detect": ["--quick", "--part", "quality"], "combined": ["--part", "combined", "--prov-only"]}
    if bench in detect_parts:
        command = [sys.executable, str(tree / "bench/detect_bench.py"), *detect_parts[bench], "--out", str(out)]
    else:
        command = [sys.executable, str(tree / "bench/inorder_fpr_s29.py"), "--variants", "library"]
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": os.environ["HOME"]}
    before, wall, cpu = uptime(), time.perf_counter(), os.times()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True)
    after = os.times()
    record = {
        "bench": bench,
        "uptime_before": before,
        "uptime_after": uptime(),
        "wall_s": round(time.perf_counter() - wall, 1),
        "cpu_s": round(after.children_user + after.children_system - cpu.children_user - cpu.children_system, 1),
    }
    (out / f"{bench}.stdout").write_text(done.stdout)
    if bench == "inorder":
        (out / "inorder-fpr-s29.md").write_text((tree / "bench/results/inorder-fpr-s29.md").read_text())
    return record


METHODS = ("prov_family", "prov_all")
METRICS = ("auroc", "flag_recall", "false_alarm_rate")


def quality_table(rows: dict[str, list[dict]]) -> list[str]:
    """Per attack (clean: the false-alarm rate only), each of prov's verdicts (``METHODS``) and metrics
    (``METRICS``) averaged over datasets and rates, main beside robust, and how many trials differ."""
    lines = ["| attack | verdict | metric | main | robust | trials differing |", "|---|---|---|---|---|---|"]
    attacks = sorted({r["attack"] for r in rows["main"]}, key=lambda a: (a != "clean", a))
    for attack in attacks:
        for method in METHODS:
            for metric in METRICS:
                values = {
                    s: [
                        r["methods"][method][metric]
                        for r in rows[s]
                        if r["attack"] == attack and metric in r["methods"][method]
                    ]
                    for s in SIDES
                }
                if not values["main"]:
                    continue
                differing = sum(abs(a - b) > 1e-12 for a, b in zip(values["main"], values["robust"]))
                cells = [f"{sum(values[s]) / len(values[s]):.3f}" for s in SIDES]
                lines.append(
                    f"| {attack} | {method} | {metric} | {cells[0]} | {cells[1]} | {differing} of {len(values['main'])} |"
                )
    return lines


def scale_moves() -> list[str]:
    """Per dataset of bench/real_datasets.py, at its first 30% (a small base) and whole: the median column's and the
    most-moved column's scale winsorised as ``build_profile`` does (held at ``bulk_ends``) over its plain std (both
    floored as ``build_profile`` floors)."""
    import numpy as np
    from real_datasets import LOADERS

    from provenance.profiles.reference import bulk_ends

    def floored(std: np.ndarray) -> np.ndarray:
        return np.maximum(std, max(0.05 * float(np.median(std)), 1e-6))

    lines = ["| dataset | records | columns | median ratio | smallest ratio |", "|---|---|---|---|---|"]
    for name in ("digits", "breast_cancer", "cells", "seattle_weather", "spam7", "doctor_aus", "attrition"):
        X = np.asarray(LOADERS[name]()[0], dtype=np.float64)
        for part in (X[: int(0.3 * len(X))], X):
            ratio = floored(np.clip(part, *bulk_ends(part)).std(axis=0)) / floored(part.std(axis=0))
            lines.append(f"| {name} | {len(part)} | {part.shape[1]} | {np.median(ratio):.3f} | {ratio.min():.2f} |")
    return lines


def kept_summary(path: Path) -> str:
    """The paragraphs written by hand between the runs table and the first section of an earlier ``path`` (the
    reading of the numbers), so a re-render keeps them; an empty line when there are none."""
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find("\n\n", text.find("| bench | code |"))
    end = text.find("\n## ")
    return text[start:end].strip("\n").join("\n\n") if 0 <= start < end else ""


def render(out: Path) -> None:
    runs = json.loads((out / "runs.json").read_text())
    rows = {s: json.loads((out / s / "detect.json").read_text())["quality"] for s in SIDES}
    lines = [
        "# Winsorised column scale (fix30b, A29b-4) against main (generated by bench/robust_scale_s30.py)",
        "",
        f"Started {runs['started']}, ended {runs['ended']}; 2-CPU machine shared with other sessions. Runs, in order:",
        "",
        "| bench | code | wall s | CPU s | uptime before | uptime after |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs["runs"]:
        lines.append(
            f"| {r['bench']} | {r['code']} | {r['wall_s']} | {r['cpu_s']} | {r['uptime_before']} | {r['uptime_after']} |"
        )
    lines += [kept_summary(HERE / "results/robust-scale-s30.md")]
    lines += ["## Detection bench, quick quality part (prov's delta detector)", "", *quality_table(rows), ""]
    for side in SIDES:
        text = (out / side / "inorder-fpr-s29.md").read_text()
        lines += [f"## In-order false-alarm bench, library verdict: {side}", "", text.split("\n", 2)[2].strip(), ""]
    for side in SIDES:
        if (out / side / "detect-bench-prov.md").exists():
            text = (out / side / "detect-bench-prov.md").read_text()
            body = text[text.index("## Clean deltas") :].replace("\n## ", "\n### ").removeprefix("## ")
            lines += [
                f"## Detection bench at prov's operating point (--part combined --prov-only): {side}",
                "",
                "### " + body.strip(),
                "",
            ]
    lines += [
        "## How far the winsorised scale moves a column's scale (robust / main, floors included)",
        "",
        *scale_moves(),
    ]
    (HERE / "results/robust-scale-s30.md").write_text("\n".join(lines))


def main(argv: list[str]) -> None:
    out = Path(os.environ.get("OUT", "/tmp/robust-scale-s30"))
    if "--render-only" in argv:
        render(out)
        return
    trees = dict(zip(SIDES, (Path(argv[0]).resolve(), Path(argv[1]).resolve())))
    benches = argv[argv.index("--benches") + 1].split(",") if "--benches" in argv else list(BENCHES)
    saved = json.loads((out / "runs.json").read_text()) if (out / "runs.json").exists() else {}
    runs, started = saved.get("runs", []), saved.get("started", utc_minute())
    for i, bench in enumerate(benches):
        for side in SIDES if i % 2 == 0 else SIDES[::-1]:
            record = {"code": side, **run_once(trees[side], out / side, bench)}
            print(json.dumps(record), flush=True)
            runs.append(record)
    (out / "runs.json").write_text(json.dumps({"started": started, "ended": utc_minute(), "runs": runs}, indent=1))
    render(out)


if __name__ == "__main__":
    main(sys.argv[1:])
