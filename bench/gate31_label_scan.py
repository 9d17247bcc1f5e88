"""Session 31 (gate31, issue 14): does a per-class scan of the delta's label evidence block more poisoned batches?

    python bench/gate31_label_scan.py collect     # runs the gate bench's batches once, keeps each test's p-value
    python bench/gate31_label_scan.py render      # the results file from what ``collect`` kept
    python bench/gate31_label_scan.py one DATASET START PER SEED ORDER   # one poisoned batch's scan, by hand

The gate bench's batches (bench/gate_pass_rate.py ``run`` with an ``inspect`` hook; 6 0, 10 0 and 12 1, 112 clean
and 112 poisoned batches per order, file order and shuffled) are scored once by the library (``gate``'s outcome
is the library's: every rule of the default policy's detector part and the copies rule). For each delta the hook
runs ``relabel_scan.scan_relabels`` (its drift-aware held-out null, per class, beta-binomial with the held-out
batches' overdispersion) on records the relabel scan does not read, and keeps the smallest tail p-value and the
number of tests:

- ``class-knn``: for each class the delta's records carry, its records (added and relabeled) scanned on
  ``knn_label``'s own p-values at the scan's levels; Bonferroni over the classes (label flips put records of
  one class among another's, which clean label noise does not do in a cluster).
- ``class-both``: the same on the combined verdict's p-values and ``knn_label``'s.
- ``all-knn``: every record of the delta at once on ``knn_label``'s p-values (session 14 tried the scan on all
  records with both sources; here the label source alone).
- ``added-class-knn``: as ``class-knn`` on added records only (relabels are the relabel scan's).
- ``class-knn-low``, ``all-knn-low``: as ``class-knn`` and ``all-knn`` at the levels ``LOW_LEVELS`` (0.0005-0.005)
  in place of the scan's (0.005-0.1): flips on breast cancer get ``knn_label`` p-values of 0-0.0005, beyond every
  base record, where the scan's lowest level counts the base's own held-out records too.

A variant blocks a batch at ``alpha`` when its smallest tail p-value is below ``alpha / tests``; the batch blocks
when the library's rules or the variant block it. Tuned on 6 0 and 10 0, reported on the held-out 12 1, with 95%
Wilson intervals. Kept data: /tmp/gate31-label-scan.pkl. Writes bench/results/gate31-label-scan.md.
"""

from __future__ import annotations

import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import gate_pass_rate as bench
from alternation import uptime

from provenance.detectors.relabel_scan import COMBINED_SOURCE, LABEL_DETECTOR, LEVELS, profile_null, scan_relabels

KEPT = Path("/tmp/gate31-label-scan.pkl")
CONFIGS = ((6, 0), (10, 0), (12, 1))
TUNING = ((6, 0), (10, 0))
VARIANTS = ("class-knn", "class-both", "all-knn", "added-class-knn", "class-knn-low", "all-knn-low")
LOW_LEVELS = (0.0005, 0.001, 0.002, 0.005)  # ``-low``: the tail where a flip beyond every base record lands
ALPHAS = (0.001, 0.0001)


def variant_tests(outcome, profile, delta) -> dict[str, tuple[float, int]]:
    """Per variant, ``(smallest tail p-value, tests)`` on one gate outcome (``gate_pass_rate.gate``'s dict)."""
    verdicts, results = outcome["verdicts"], outcome["results"]
    null = profile_null(profile, results, bench.FPR, verdicts.held_out)
    n = len(verdicts.records)
    p = {COMBINED_SOURCE: np.array([v.p_value for v in verdicts.records], dtype=np.float64)}
    for r in results:
        if r.detector == LABEL_DETECTOR and r.status == "ran" and r.p_values is not None and len(r.p_values) == n:
            p[LABEL_DETECTOR] = np.asarray(r.p_values, dtype=np.float64)
    labels = np.asarray(delta.labels, dtype=object)
    added = np.array([k == "added" for k in delta.kinds], dtype=bool)
    out: dict[str, tuple[float, int]] = {}
    for variant in VARIANTS:
        sources = p if variant == "class-both" else {LABEL_DETECTOR: p.get(LABEL_DETECTOR, np.full(n, np.nan))}
        pool = added if variant.startswith("added") else np.ones(n, dtype=bool)
        levels = LOW_LEVELS if variant.endswith("-low") else LEVELS
        if variant.startswith("all-knn"):
            groups = [pool]
        else:
            groups = [pool & (labels == c) for c in np.unique(labels[pool])]
        best, tests = 1.0, 0
        for group in groups:
            scan = scan_relabels(sources, labels, group, null, 1.0, levels)
            if scan.tests:
                best = min(best, scan.p_value * scan.tests)  # Bonferroni within the group's own tests
                tests += 1
        out[variant] = (best, max(tests, 1))
    return out


def batch_rows(configs, describe) -> list[dict]:
    """One row per bench batch of ``gate_pass_rate.run`` (in file order, then at random, for each (per, seed) of
    ``configs``): its order, config, dataset, start and attack, then what ``describe(batch)`` adds (a dict)."""
    rows: list[dict] = []
    for order in ("inorder", "random"):
        for per, seed in configs:

            def inspect(batch, per=per, seed=seed, order=order) -> None:
                rows.append(
                    {
                        "order": order,
                        "config": (per, seed),
                        "dataset": batch.dataset,
                        "start": batch.start,
                        "attack": batch.attack,
                    }
                    | describe(batch)
                )

            bench.run(
                bench.DEFAULT_DATASETS.split(","), per, seed, out=lambda *a, **k: None, order=order, inspect=inspect
            )
            print(order, per, seed, len(rows), flush=True)
    return rows


def keep(path: Path, rows: list[dict], before, cpu: float) -> None:
    """Write ``rows`` to ``path`` (pickle) with the load average before and now and the CPU seconds since ``cpu``."""
    path.write_bytes(
        pickle.dumps({"rows": rows, "uptime": [before, uptime()], "cpu_s": round(time.process_time() - cpu)})
    )


def collect() -> None:
    cpu, before = time.process_time(), uptime()
    rows = batch_rows(
        CONFIGS,
        lambda batch: {
            "poison_n": int(batch.poison.sum()),
            "clean_blocking": list(batch.clean_outcome["blocking"]),
            "poisoned_blocking": list(batch.poisoned_outcome["blocking"]),
            "clean": variant_tests(batch.clean_outcome, batch.profile, batch.clean),
            "poisoned": variant_tests(batch.poisoned_outcome, batch.profile, batch.poisoned),
        },
    )
    keep(KEPT, rows, before, cpu)


def blocks(row: dict, side: str, variant: str | None, alpha: float) -> bool:
    """Whether ``row``'s ``side`` ("clean" or "poisoned") blocks under the library, or-ed with ``variant`` at ``alpha``."""
    if row[f"{side}_blocking"]:
        return True
    if variant is None:
        return False
    p, tests = row[side][variant]
    return p < alpha / tests


RESULTS = Path(__file__).resolve().parent / "results" / "gate31-label-scan.md"


def reading(results: Path = RESULTS) -> list[str]:
    """The paragraphs written by hand between the "Collected" line and the first section of an earlier
    ``results`` file (the reading of the numbers), so a re-render keeps them."""
    if not results.exists():
        return []
    text = results.read_text()
    start, end = text.find("\n\n", text.find("Collected between")), text.find("\n## ")
    return [text[start:end].strip("\n"), ""] if 0 <= start < end else []


def render() -> None:
    kept = pickle.loads(KEPT.read_bytes())
    rows = kept["rows"]
    lines = [
        "# A per-class scan of the delta's label evidence (generated by bench/gate31_label_scan.py)",
        "",
        f"Collected between `{kept['uptime'][0]}` and `{kept['uptime'][1]}`; CPU time {kept['cpu_s']} s.",
        "",
        *reading(),
    ]
    for order in ("inorder", "random"):
        for part, configs in (("tuning (6 0, 10 0)", TUNING), ("held out (12 1)", ((12, 1),)), ("all", CONFIGS)):
            chosen = [r for r in rows if r["order"] == order and r["config"] in configs]
            n = len(chosen)
            lines += [
                f"## {order}, {part}: {n} clean + {n} poisoned batches",
                "",
                "| rule | clean passed (95% Wilson) | poisoned blocked (95% Wilson) | newly blocked poisoned (attacks) "
                "| newly blocked clean (datasets) |",
                "|---|---|---|---|---|",
            ]
            for variant, alpha in [(None, 0.0)] + [(v, a) for v in VARIANTS for a in ALPHAS]:
                cp = sum(not blocks(r, "clean", variant, alpha) for r in chosen)
                pb = sum(blocks(r, "poisoned", variant, alpha) for r in chosen)
                new_p = defaultdict(int)
                new_c = defaultdict(int)
                for r in chosen:
                    if blocks(r, "poisoned", variant, alpha) and not r["poisoned_blocking"]:
                        new_p[r["attack"]] += 1
                    if blocks(r, "clean", variant, alpha) and not r["clean_blocking"]:
                        new_c[r["dataset"]] += 1
                lo, hi = bench.wilson(cp, n)
                lo2, hi2 = bench.wilson(pb, n)
                name = "library" if variant is None else f"library + {variant} @ {alpha:g}"
                lines.append(
                    f"| {name} | {cp}/{n} ({lo:.2f}-{hi:.2f}) | {pb}/{n} ({lo2:.2f}-{hi2:.2f}) | "
                    f"{', '.join(f'{a} {k}' for a, k in sorted(new_p.items())) or '-'} | "
                    f"{', '.join(f'{d} {k}' for d, k in sorted(new_c.items())) or '-'} |"
                )
            lines.append("")
    lines += ["## What passes now (the library's rules, all sets): poisoned batches by attack and dataset", ""]
    for order in ("inorder", "random"):
        passing = [r for r in rows if r["order"] == order and not r["poisoned_blocking"]]
        datasets = sorted({r["dataset"] for r in rows})
        lines += [f"### {order}: {len(passing)} pass", "", "| attack | " + " | ".join(datasets) + " | all |"]
        lines.append("|---|" + "---|" * (len(datasets) + 1))
        for attack in sorted({r["attack"] for r in passing}):
            counts = [sum(r["attack"] == attack and r["dataset"] == d for r in passing) for d in datasets]
            lines.append(f"| {attack} | " + " | ".join(str(c) for c in counts) + f" | {sum(counts)} |")
        lines.append("")
    lines += ["## Passing poisoned batches and the clean batches' smallest p-values (all sets)", ""]
    for order in ("inorder", "random"):
        chosen = [r for r in rows if r["order"] == order]
        lines.append(f"### {order}")
        lines.append("")
        lines.append("| variant | clean: smallest p x tests (5 lowest) | passing poisoned: p x tests (5 lowest) |")
        lines.append("|---|---|---|")
        for variant in VARIANTS:
            clean = sorted(r["clean"][variant][0] * r["clean"][variant][1] for r in chosen if not r["clean_blocking"])
            missed = sorted(
                r["poisoned"][variant][0] * r["poisoned"][variant][1] for r in chosen if not r["poisoned_blocking"]
            )
            lines.append(
                f"| {variant} | {', '.join(f'{x:.1e}' for x in clean[:5])} | {', '.join(f'{x:.1e}' for x in missed[:5])} |"
            )
        lines.append("")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def one(dataset: str, start: int, per: int, seed: int, order: str) -> None:
    """Print one poisoned batch's ``knn_label`` p-values on its poison, its flags against the budget, and each
    class's scan with the held-out rate at 0.005 (the breast cancer case of the results file's reading)."""
    names = bench.DEFAULT_DATASETS.split(",")
    names = names[: names.index(dataset) + 1]  # the batches before it draw from the same generator

    def inspect(batch) -> None:
        if batch.dataset != dataset or batch.start != start:
            return
        o = batch.poisoned_outcome
        p = np.asarray(next(r for r in o["results"] if r.detector == LABEL_DETECTOR).p_values)
        labels = np.asarray(batch.poisoned.labels, dtype=object)
        print(f"{batch.attack}: knn_label p on the poison {np.round(p[batch.poison], 4).tolist()}")
        print(
            f"flags {int(o['flags'].sum())} ({int(o['flags'][batch.poison].sum())} poison) of {len(p)}; {o['budget']}"
        )
        null = profile_null(batch.profile, o["results"], bench.FPR, o["verdicts"].held_out)
        for c in np.unique(labels):
            group = labels == c
            held = null.p[LABEL_DETECTOR][null.labels == c]
            held = held[np.isfinite(held)]
            print(
                f"class {c}: {int(group.sum())} records, {int((group & batch.poison).sum())} poison, "
                f"{int((p[group] <= 0.005).sum())} at p <= 0.005; held-out base {len(held)} records, "
                f"{np.mean(held <= 0.005):.3f} there; {scan_relabels({LABEL_DETECTOR: p}, labels, group, null, 1.0)}"
            )

    bench.run(names, per, seed, out=lambda *a, **k: None, order=order, inspect=inspect)


if __name__ == "__main__":
    if sys.argv[1:2] == ["one"]:
        one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    elif sys.argv[1:] == ["collect"]:
        collect()
        render()
    elif sys.argv[1:] == ["render"]:
        render()
    else:
        raise SystemExit(__doc__)
