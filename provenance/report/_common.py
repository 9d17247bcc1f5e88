"""Small wording helpers shared by the human-readable formats."""

from __future__ import annotations

SUMMARY_ROWS = [
    ("added", "records added"),
    ("removed", "records removed"),
    ("relabeled", "records relabeled"),
    ("conflicting_labels", "records with conflicting labels"),
    ("duplicates_added", "duplicate copies added"),
    ("source_changed", "records whose source changed"),
    ("lineage_changed", "records whose lineage changed"),
    ("unattributed_added", "added records unattributed"),
    ("unchanged", "records unchanged"),
]


def source_name(source) -> str:
    return "(no source)" if source in (None, "") else str(source)


def subject_text(subject) -> str:
    if not subject:
        return "all"
    if "source" in subject:
        return f"source {source_name(subject['source'])}"
    if "class" in subject:
        return f"class {subject['class']}"
    if "old" in subject:
        return f"{subject['old']} → {subject['new']}"
    return ", ".join(f"{k}={v}" for k, v in subject.items())


def p_text(statistic: dict) -> str:
    p = statistic.get("p_value")
    if p is None:
        return "-"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def stat_text(statistic: dict) -> str:
    test = statistic.get("test", "")
    if test.startswith("chi-square"):
        return f"χ²={statistic['value']:.1f} df={statistic['df']} w={statistic.get('effect_w', 0):.2f}"
    if test == "poisson upper tail":
        if "ratio" in statistic:
            return f"{statistic['value']} vs {statistic['expected']:.1f} expected"
        return f"{statistic['value']}/{statistic['n']} vs {statistic['expected']:.1f} expected"
    if test == "count":
        return f"{statistic['value']}" + (f" of {statistic['of']}" if statistic.get("of") else "")
    return str(statistic.get("value", ""))


def verdict(report: dict) -> str:
    s = report["summary"]
    suspicious = [r for r in report["by_source"] if r["flagged_signals"]]
    if not s["signals_flagged"]:
        return "No signal flagged."
    names = "; ".join(f"{source_name(r['source'])} ({', '.join(r['flagged_signals'])})" for r in suspicious)
    head = f"Suspicious sources: {names}. " if suspicious else ""
    return f"{head}{s['signals_flagged']} signal(s) flagged."


def side_text(side: dict) -> str:
    extra = f" at {side['commit'][:10]}" if side.get("commit") else ""
    return f"{side['name']}{extra} ({side['records']} records)"


def relabel_text(item: dict) -> str:
    return f"{'|'.join(item['old_labels'])} → {'|'.join(item['new_labels'])}"
