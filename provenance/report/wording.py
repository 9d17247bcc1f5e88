"""Wording shared by the human-readable formats (text, Markdown, HTML, JUnit).

One place for how a source, a signal's subject, a statistic, a verdict or a gate
record reads, so every format says the same thing the same way.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

from provenance.names import short_digest

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
"""The diff summary's counts, in the order reports list them: (summary key, label)."""

DECISION = {
    "pass": "passed",
    "warned": "passed with warnings (released; read them)",
    "blocked": "BLOCKED",
    "error": "could not be evaluated (fails closed)",
}
"""The gate's decision as the check reports' headline words it."""

RULE_WORD = {"pass": "passed", "warn": "warned", "block": "blocked", "error": "error"}
"""A gate rule's status in the words every report uses: a rule *passed*, *warned* or *blocked*."""

DETECTOR_WORD = {"ok": "ran", "ran": "ran", "error": "error"}
"""A detector's status in report words: it *ran* (its flags alone decide nothing) or hit an *error*."""

LINEAGE_WORD = {
    "attested": "attested",
    "relabeled_after_source": "relabeled after source",
    "unattributed": "unattributed",
}
"""A record's lineage status in words (``DESIGN.md``, Lineage)."""


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 record"``, ``"2 records"`` (``many`` for an irregular plural)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def bytes_text(n: int) -> str:
    """A size for people: ``"0 bytes"``, ``"812 bytes"``, ``"48.0 KB"``, ``"1.6 MB"`` (powers of 1000, as ``ls -l --si``)."""
    size, unit = float(n), "bytes"
    for bigger in ("KB", "MB", "GB", "TB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return plural(n, "byte") if unit == "bytes" else f"{size:.1f} {unit}"


_ISO_UTC = re.compile(r"\b(\d{4}-\d\d-\d\d)T(\d\d:\d\d):\d\d(?:\.\d+)?\+00:00\b")


def short_times(text: str) -> str:
    """``text`` with each UTC timestamp as people read one, to the minute: ``2026-12-01T19:46:36+00:00`` reads
    ``2026-12-01 19:46 UTC`` (lines that name a checkpoint then fit 80 columns)."""
    return _ISO_UTC.sub(r"\1 \2 UTC", text)


def lineage_text(status: str) -> str:
    """A lineage status in words: ``"relabeled after source"`` for ``relabeled_after_source``."""
    return LINEAGE_WORD.get(status, status.replace("_", " "))


TEXT_FIRST_LINE = {".csv": 2, ".tsv": 2, ".jsonl": 1, ".ndjson": 1, ".json": 1}
"""Line of row 0 in a text table: a CSV's header takes line 1, a JSON Lines file has none."""


def text_line(path: str, row: int) -> int | None:
    """The line of row ``row`` in the text table at ``path`` (1-based, as an editor counts), or None for a
    Parquet file or a tree's file, where a line means nothing."""
    start = next((line for ext, line in TEXT_FIRST_LINE.items() if path.lower().endswith(ext)), None)
    return None if start is None else row + start


def location_text(location: dict | None, locator: Any = None) -> str:
    """Where a record is: ``"row 12"`` in a single Parquet file, ``"part-1.parquet row 3"`` in a folder,
    ``"line 14"`` / ``"scrape-3.jsonl line 20"`` in a CSV or JSON Lines file (newcomer review 12, finding 11:
    "row 19" was line 20 in an editor), a tree's relative path, or ``"-"`` when the report does not say."""
    if locator is None and location:
        locator = location.get("locator")
    if locator is None or locator == "":
        return "-"
    text = str(locator)
    file, sep, row = text.rpartition("#")
    if text.isdigit() or (sep and row.isdigit()):
        path = file if sep else str((location or {}).get("path") or "")
        line = text_line(path, int(row if sep else text))
        where = f"line {line}" if line is not None else f"row {row if sep else text}"
        return f"{file} {where}" if sep else where
    return text


KEY_REVOKED = "key revoked"  # a named_by of a source whose signed batch lost standing to a revoked key


def source_name(source: Any, named_by: str | list[str] | None = None) -> str:
    """A source as reports name it: ``"(no source)"`` for a missing or empty one.

    ``named_by`` says how a report learned the name (``delta.attribution``): a record's one
    way (a string) or a source's ways (a list). A name that came from a lineage batch, not
    the data's source column, says which kind of batch, because an unsigned batch's source
    is only what ``prov add --unsigned`` declared: ``"scraper (unsigned batch)"``,
    ``"vendor (signed batch)"``, ``"vendor (signed and unsigned batches)"``.
    """
    if source in (None, ""):
        return "(no source)"
    ways = {named_by} if isinstance(named_by, str) else set(named_by or ())
    if KEY_REVOKED in ways:  # its signed batch attests nothing now: the Sources row's words (gate.context.report)
        return f"{source} (key revoked)"
    batches = sorted(w for w in ways if w.endswith("batch"))
    if not batches or "source column" in ways:
        return str(source)
    return f"{source} ({batches[0] if len(batches) == 1 else 'signed and unsigned batches'})"


def subject_text(subject: dict | None) -> str:
    """What a diff signal is about: ``"source S"``, ``"class C"``, ``"old → new"``, or ``"all"``."""
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
    """A signal's p-value in two significant digits; ``"-"`` when it has none, ``"<1e-300"`` when it underflowed."""
    p = statistic.get("p_value")
    if p is None:
        return "-"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def stat_text(statistic: dict) -> str:
    """A signal's statistic in a few words (chi-square with df and Cohen's w, Poisson observed vs expected, a count)."""
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


def side_text(side: dict) -> str:
    """One side of a diff: its name, the git commit it was read at (if any) and its record count, and the
    version whose signed manifest was read for a revision (newcomer review 10, finding 5: said in JSON only)."""
    extra = f" at {side['commit'][:10]}" if side.get("commit") else ""
    reused = f"; {side['reused_version']}'s signed manifest" if side.get("reused_version") else ""
    return f"{side['name']}{extra} ({plural(side['records'], 'record')}{reused})"


def diff_command(report: dict) -> str:
    """``prov diff BASE NEW`` as the user can run it again from here: with ``--path P`` when a side is a
    git revision (without it, the revisions would be looked up as prov versions)."""
    command = f"prov diff {report['base']['name']} {report['new']['name']}"
    git = next((s for s in (report["base"], report["new"]) if s.get("kind") == "git" and s.get("path")), None)
    if git is None:
        return command
    path = os.path.join(git["repo"], git["path"]) if git.get("repo") else git["path"]
    shown = os.path.relpath(path) if os.path.isabs(path) else path
    return f"{command} --path {shlex.quote(path if shown.startswith('..') else shown)}"


def relabel_text(item: dict) -> str:
    """A relabeled record's change, ``"old → new"`` (labels of a record with several joined by ``|``)."""
    text = f"{'|'.join(item['old_labels'])} → {'|'.join(item['new_labels'])}"
    if "codepoints" in item:  # two labels that look alike (diff/schema.py): show what they are
        text += f" [{item['codepoints']['old']} → {item['codepoints']['new']}]"
    return text


def change_text(kind: str, c: dict) -> str:
    """What one listed change of a diff (``changes[kind][i]``) says: ``"old → new"`` for a relabel,
    the labels of a conflict, a duplicate's copies, a source change's old and new sources, else the label."""
    if kind == "relabeled":
        return relabel_text(c)
    if kind == "conflicting":
        return " / ".join(c["labels"])
    if kind == "duplicates":
        return f"{c['copies']} copies (base {c['base_copies']})"
    if kind == "source_changed":
        return f"{', '.join(map(source_name, c['old_sources']))} → {', '.join(map(source_name, c['new_sources']))}"
    return c["label"]


def waived_elsewhere_text(findings: list[dict], version: str) -> str | None:
    """The line for flagged records a reviewer waived on another version (``waived_on``; newcomer review 12,
    finding 11: waived on txt-v3, flagged again on the txt-v4 cut from it, with no word), or None."""
    marked = [f for f in findings if f.get("waived_on")]
    if not marked:
        return None
    tags = ", ".join(sorted({t for f in marked for t in f["waived_on"]}))
    return (
        f"{plural(len(marked), 'flagged record')} waived on {tags} (not this version): a waiver counts only for "
        f"the version it names; if still accepted, waive again on {version} (prov waive DIGEST --version {version} "
        "--detector combined --reason R --key K)"
    )


def record_text(rec: dict) -> str:
    """One record a gate rule names: short digest, then label, source, detector, signed label, score and detail."""
    parts = [short_digest(rec.get("digest", ""))]
    for key in ("label", "source", "detector"):
        if rec.get(key):
            value = source_name(rec[key], rec.get("source_named_by")) if key == "source" else rec[key]
            parts.append(f"{key} {value}")
    if rec.get("signed_label"):
        parts.append(f"signed as {rec['signed_label']}")
    if rec.get("score") is not None:
        parts.append(f"score {rec['score']:.3f}")
    if rec.get("explanation"):
        parts.append(rec["explanation"])
    if rec.get("detail"):
        parts.append(rec["detail"])
    if rec.get("locator") is not None:  # where to find it (newcomer review 12, finding 6: a tree's file to move back)
        parts.append(f"at {location_text(rec.get('location'), rec['locator'])}")
    return " ".join(p for p in parts if p)


def drift_text(drift: list[dict] | None, shift: dict | None = None) -> str:
    """The delta as a batch against the base's own batches, in one line (``detect`` only), with
    the move its classes share when its mean shifted (``shift``, the diff's ``detection.shared_shift``)."""
    if not drift:
        return "batch drift: not measured"
    if drift[0].get("signal") == "error":
        return f"batch drift: could not be measured ({drift[0].get('error')})"
    shifted = [d for d in drift if d["shifted"]]
    if not shifted:
        return "batch drift: within the range of the base's own batches"
    words = "; ".join(
        f"{d['signal']} {d['value']:.3g} (base batches up to {d['base_max']:.3g}, {d['effect']:.1f}x)" for d in shifted
    )
    moved = ""
    if shift and shift.get("whole_batch"):
        moved = f"; its classes moved together by {shift['size']:.1f} times the base's spread within a class: {shift['why']}"
    return f"batch drift: WARNING, shifted beyond the base's own batches (not a verdict on records): {words}{moved}"


WAIVED_NAMED = 10  # waived records the Waivers line names before "and N more"


def waivers_text(honoured: list[dict]) -> str:
    """The line a check report gives its honoured waivers, naming the records they waived:
    ``"Waivers: 2 flagged records waived by 3 honoured waivers (cec8c79e1df0, 0dde430cd3ae); 1 of
    them waived nothing"`` (newcomer review 9, finding 4: it named none).

    The records count is the waivers whose ``effect`` is "waived": each waived record once,
    however many waivers name it (``provenance.gate.waivers.with_effects``, the README's
    definition); the JSON's ``waivers.honoured`` holds the same effects. When the detectors
    did not run (no ``effect``) only the waivers are counted. Empty for no honoured waiver.
    """
    if not honoured:
        return ""
    waivers = plural(len(honoured), "honoured waiver")
    effects = [w.get("effect") for w in honoured]
    if all(e is None for e in effects):
        return f"Waivers: {waivers}; the detectors did not run, so none waived a record"
    took = effects.count("waived")
    idle = len(effects) - took
    waived = [short_digest(str(w["digest"])) for w in honoured if w.get("effect") == "waived"]
    named = ", ".join(waived[:WAIVED_NAMED]) + (
        f" and {len(waived) - WAIVED_NAMED} more" if len(waived) > WAIVED_NAMED else ""
    )
    return (
        f"Waivers: {plural(took, 'flagged record')} waived by {waivers}"
        + (f" ({named})" if named else "")
        + (f"; {idle} of them waived nothing" if idle else "")
    )


def ignored_waivers_text(ignored: list[dict]) -> str:
    """The headline's line for waivers a check did not honour, by the key that signed them: ``"4 waivers
    ignored (key 26db48c8544a8e54: 4); each says why at the end"`` ("" for none). A reviewer's waivers
    signed with a key CI does not pin were said only at the bottom of a blocked report (closing note 11)."""
    if not ignored:
        return ""
    keys: dict[str, int] = {}
    for w in ignored:
        key = str(w.get("reviewer") or "unknown")[:16]
        keys[key] = keys.get(key, 0) + 1
    by = ", ".join(f"{'key ' + k if k != 'unknown' else 'no readable key'}: {n}" for k, n in keys.items())
    return f"{plural(len(ignored), 'waiver')} ignored ({by}); each says why at the end"


def idle_waiver_text(waiver: dict) -> str:
    """Why one honoured waiver waived nothing: ``"stored waiver 2615404fa8ff (knn_label, record
    0dde430cd3ae) waived nothing: record 0dde430cd3ae was already waived by stored waiver 2ab840b3a186"``."""
    what = f"{waiver['detector']}, record {str(waiver['digest'])[:12]}"
    return f"{waiver['origin']} ({what}) waived nothing: {waiver['why']}"


def featurizer_text(featurizer: str, shown: int = 3) -> str:
    """A featuriser id as a one-line message gives it: ``numeric/v1:cols=px00,...,px63``
    becomes ``numeric/v1 over 64 columns (px00, px01, px02, ..., px63)``, so 64 column
    names do not make a 400-character line. Ids with at most ``shown`` + 1 columns, or
    without a ``cols=`` list, are returned whole."""
    head, sep, cols = featurizer.partition(":cols=")
    names = cols.split(",") if sep else []
    if len(names) <= shown + 1:
        return featurizer
    return f"{head} over {len(names)} columns ({', '.join(names[:shown])}, ..., {names[-1]})"


# What a reader does with a ``detectors.drift`` warning (``gate.detection.BatchDrift``): its reason
# gives each shifted signal as "Nx", which says nothing alone; this says what N measures and what to
# do, without repeating the reason (the Rules table shows it).
DRIFT_GUIDE = (
    "detectors.drift warned (it does not block): N is the batch's shift over the largest shift between the "
    "base's own batches, so a base whose batches are alike gives large N. Expected when the batch is new data "
    "on purpose (another collection, period or class); otherwise check where it came from (Sources) before release"
)


def batch_shift_line(report: dict) -> str | None:
    """A check's headline sentence when the whole batch moved (its ``detectors.drift`` rule's
    ``shared_shift``; newcomer review 11, finding 6), no final stop: ``"The whole batch moved
    together (mean_shift 12.3x the largest shift between the base's batches, its classes 2.9 times
    the base's spread within a class): the detectors scored the records that moved with it without
    that shift, so a flag is a record that stands out within its batch"``. None when the mean did not move."""
    rule = next((r for r in report.get("rules") or [] if r.get("rule") == "detectors.drift"), None)
    statistic = (rule or {}).get("statistic") or {}
    shift = statistic.get("shared_shift")
    if not shift or not shift.get("whole_batch"):
        return None  # the mean moved with some records, not as a whole: the rule's reason says so
    mean = next((s for s in statistic.get("signals") or [] if s.get("signal") == "mean_shift"), None)
    size = f"mean_shift {mean['effect']:.1f}x the largest shift between the base's batches, " if mean else ""
    head = (
        f"The whole batch moved together ({size}its classes {shift['size']:.1f} times the base's spread within a class)"
    )
    if shift.get("removed"):
        return (
            head
            + ": the detectors scored the records that moved with it without that shift, so a flag is a record that "
            "stands out within its batch"
        )
    return f"{head}: {shift['why']}"


def drift_warned(report: dict) -> bool:
    """Whether a check report's ``detectors.drift`` rule warned (then reports print ``DRIFT_GUIDE``)."""
    return any(r.get("rule") == "detectors.drift" and r.get("status") == "warn" for r in report.get("rules") or [])


def rekeyed_text(summary: dict) -> str | None:
    """The diff's sentence about records a schema change re-keyed (``summary["rekeyed"]``): paired with
    base records by content (re-encoded under the base's signed types) or, when that cannot be done
    (``summary["rekeyed_note"]`` says why), by locator; None when none was."""
    n = summary.get("rekeyed")
    if not n:
        return None
    relabeled = summary.get("rekeyed_relabeled")
    if summary.get("rekeyed_by") == "content":
        text = (
            f"{plural(n, 'record')} re-keyed by the schema change, each paired with its base record by content "
            "(re-encoded under the base's signed types without loss)"
        )
        unchanged = n - (relabeled or 0)
        text += f": {unchanged} unchanged" + (f", {relabeled} relabeled (scored as relabels)" if relabeled else "")
        return text
    text = f"{plural(n, 'record')} re-keyed by the schema change (same locator, new digest; scored as changed records)"
    if relabeled:
        text += (
            f", {relabeled} of them with another label than the base record at their locator "
            "(relabeled; the row order is the writer's, so this count is a hint)"
        )
    if summary.get("rekeyed_note"):
        text += f"; not paired by content: {summary['rekeyed_note']}"
    return text


_RETYPED = re.compile(r"column (?P<name>'.*'|\".*\") changed type: (?P<old>.+) -> (?P<new>.+)")


def grouped_schema_changes(changes: list[str], shown: int = 6) -> list[str]:
    """A diff's schema changes (``summary["schema_changes"]``), columns retyped alike on one line per
    (old type -> new type) naming the first ``shown`` of them (newcomer review 11, finding 9: 64 lines
    for one cast); other changes one line each, in order."""
    order: list[str | tuple[str, str]] = []  # each change, or the first retype of each (old, new) pair
    retyped: dict[tuple[str, str], list[str]] = {}
    for change in changes:
        m = _RETYPED.fullmatch(change)
        if m is None:
            order.append(change)
            continue
        pair = (m["old"], m["new"])
        if pair not in retyped:
            order.append(pair)
        retyped.setdefault(pair, []).append(m["name"])
    out = []
    for item in order:
        names = [] if isinstance(item, str) else retyped[item]
        if isinstance(item, str):
            out.append(item)
        elif len(names) == 1:
            out.append(f"column {names[0]} changed type: {item[0]} -> {item[1]}")
        else:
            listed = ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
            out.append(f"{len(names)} columns changed type {item[0]} -> {item[1]}: {listed}")
    return out


def schema_change_lines(summary: dict) -> list[str]:
    """The lines a text or HTML report prints for a diff's schema changes: one per change, columns
    retyped alike on one line (:func:`grouped_schema_changes`), then :func:`rekeyed_text` when records
    were re-keyed."""
    out = [f"schema change: {line}" for line in grouped_schema_changes(summary.get("schema_changes") or [])]
    rekeyed = rekeyed_text(summary)
    return out + ([rekeyed] if rekeyed else [])
