"""Wording shared by the human-readable formats (text, Markdown, HTML, JUnit).

One place for how a source, a signal's subject, a statistic, a verdict or a gate
record reads, so every format says the same thing the same way. Three topics have their
own modules: ``waiver_words.py`` (a check's waivers), ``drift_words.py`` (batch drift) and
``schema_words.py`` (a diff's schema changes).
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

from provenance.escaping import visible
from provenance.names import is_row_number, short_digest

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

ONE_OF = {"duplicates_added": "duplicate copy added"}
"""A summary label for a count of one, where the plural label would read ``1 duplicate copies added``."""


def base_to_new(base: int, new: int) -> str:
    """A count in both versions as the Sources tables show it: ``60 → 0``, and ``300 (same)`` where it did not
    change, not ``300 → 300`` (newcomer review 17, F10)."""
    return f"{base} (same)" if base == new else f"{base} → {new}"


def change_counts(summary: dict) -> list[str]:
    """The diff summary's nonzero counts as the one-line ``Changes:`` parts: ``60 added``, ``1 duplicate copy
    added``, ``700 unchanged`` (a label's leading ``records`` dropped; newcomer review 17, F10), and before the
    unchanged ones the records a schema change re-keyed (``120 re-keyed by the schema change``: a retyped column
    changes every digest, and a diff of such versions said "Changes: none"; newcomer review 27, finding 4)."""
    parts = [
        f"{summary[key]} {(ONE_OF.get(key, label) if summary[key] == 1 else label).removeprefix('records ')}"
        for key, label in SUMMARY_ROWS
        if summary.get(key) and key != "unchanged"
    ]
    if summary.get("rekeyed"):
        parts.append(f"{summary['rekeyed']} re-keyed by the schema change")
    if summary.get("unchanged"):
        parts.append(f"{summary['unchanged']} unchanged")
    return parts


DECISION = {
    "pass": "passed",
    # "released" here read as done on a check with no --attest, which releases nothing (newcomer review 25)
    "warned": "passed with warnings (may be released; read them)",
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
    """Where a record is: ``"row 12"`` in a single Parquet file, ``"part-1.parquet row 3"`` in a folder of them,
    ``"row 12 (line 14)"`` / ``"scrape-3.jsonl row 19 (line 20)"`` in a CSV or JSON Lines file, a tree's relative
    path, or ``"-"`` when the report does not say. ``row`` is 0-based over the data rows, as the JSON's
    ``location.row`` and the locator count; ``line`` is the 1-based line an editor shows, after a CSV's header
    (newcomer review 12, finding 11: "row 19" was line 20 in an editor; review 16, finding 5: ``prov diff`` said
    "row 176" and ``prov check`` "line 178" of one record, neither saying which convention it used).

    ``location``: ``{"path", "row"}`` (``delta.records.location``); its path tells a text table from a Parquet
    file when the locator is a bare row number. ``locator``: the manifest's (``"12"``, ``"file#12"``, a path)."""
    if locator is None and location:
        locator = location.get("locator")
    if locator is None or locator == "":
        return "-"
    text = str(locator)
    file, sep, row = text.rpartition("#")
    if is_row_number(text) or (sep and is_row_number(row)):
        n = int(row if sep else text)
        line = text_line(file if sep else str((location or {}).get("path") or ""), n)
        where = f"row {n}" + (f" (line {line})" if line is not None else "")
        return f"{file} {where}" if sep else where
    return text


def change_location(report: dict, kind: str, change: dict) -> str:
    """``location_text`` of one listed change of a diff (``changes[kind][i]``), whose items name a locator but
    no file: a removed record is in the base's data, the others in the new side's, so a CSV row reads
    ``row 176 (line 178)`` as ``prov check`` and ``prov findings`` name it (newcomer review 16, finding 5)."""
    side = report.get("base" if kind == "removed" else "new") or {}
    where = change.get("location") or {"path": side.get("path") or ""}
    return location_text(where, change.get("locator"))


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
        return NO_SOURCE
    ways = {named_by} if isinstance(named_by, str) else set(named_by or ())
    if KEY_REVOKED in ways:  # its signed batch attests nothing now: the Sources row's words (gate.context.report)
        return f"{source} (key revoked)"
    batches = sorted(w for w in ways if w.endswith("batch"))
    if not batches or "source column" in ways:
        return str(source)
    return f"{source} ({batches[0] if len(batches) == 1 else 'signed and unsigned batches'})"


NO_SOURCE = "(no source)"  # source_name's cell for a record of no source
NO_SOURCE_RECORDS = "records with no source"


def source_subject(source: Any, named_by: str | list[str] | None = None, quote: bool = False) -> str:
    """A source as a sentence about it names it: ``source scraper (unsigned batch)`` (``source 'scraper'`` with
    ``quote``, :func:`source_name` through ``repr``), and ``records with no source`` for a missing or empty one:
    records of no source are not a source, and "source (no source)" read as a suspicious one (newcomer review 29)."""
    if source in (None, ""):
        return NO_SOURCE_RECORDS
    name = source_name(source, named_by)
    return f"source {name!r}" if quote else f"source {name}"


def added_by(source: Any) -> str:
    """``added by source 'scraper'``, or ``added with no source`` for records of none (:func:`source_subject`)."""
    return "added with no source" if source in (None, "") else f"added by {source_subject(source, quote=True)}"


def subject_text(subject: dict | None) -> str:
    """What a diff signal is about: ``"source S"``, ``"class C"``, ``"old → new"``, or ``"all"``."""
    if not subject:
        return "all"
    if "source" in subject:
        return source_subject(subject["source"])
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


def check_command(report: dict) -> str:
    """``prov check V --base B`` for a check report, its names quoted as sh reads them: a version name may
    hold ``;`` or ``$`` (attack review 15b, A15b-5), and a reader pastes the command."""
    return f"prov check {shlex.quote(report['version'])} --base {shlex.quote(report['base'])}"


def diff_command(report: dict) -> str:
    """``prov diff BASE NEW`` as the user can run it again from here, its names quoted as sh reads them: with
    ``--path P`` when a side is a git revision (without it, the revisions would be looked up as prov versions)."""
    command = f"prov diff {shlex.quote(report['base']['name'])} {shlex.quote(report['new']['name'])}"
    git = next((s for s in (report["base"], report["new"]) if s.get("kind") == "git" and s.get("path")), None)
    if git is None:
        return command
    path = os.path.join(git["repo"], git["path"]) if git.get("repo") else git["path"]
    shown = os.path.relpath(path) if os.path.isabs(path) else path
    return f"{command} --path {shlex.quote(path if shown.startswith('..') else shown)}"


def relabel_text(item: dict) -> str:
    """A relabeled record's change, ``"old → new"`` (labels of a record with several joined by ``|``)."""
    text = f"{'|'.join(item['old_labels'])} → {'|'.join(item['new_labels'])}"
    if "codepoints" in item:  # two labels that look alike (delta/schema.py): show what they are
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


ALL_COLUMNS_SHOWN = 6  # featurizer_text names every column up to this many: "..." hid one name of five


def featurizer_text(featurizer: str, shown: int = 3) -> str:
    """A featuriser id as a one-line message gives it: ``numeric/v1:cols=px00,...,px63``
    becomes ``numeric/v1 over 64 columns (px00, px01, px02, ..., px63)``, so 64 column
    names do not make a 400-character line; up to ``ALL_COLUMNS_SHOWN`` columns are all named
    (``numeric/v1 over 5 columns (a, b, c, d, year)``; newcomer review 31, finding 4). Ids with at most
    ``shown`` + 1 columns, or without a ``cols=`` list, are returned whole."""
    head, sep, cols = featurizer.partition(":cols=")
    names = cols.split(",") if sep else []
    if len(names) <= shown + 1:
        return featurizer
    if len(names) <= max(ALL_COLUMNS_SHOWN, shown + 1):
        return f"{head} over {len(names)} columns ({', '.join(names)})"
    return f"{head} over {len(names)} columns ({', '.join(names[:shown])}, ..., {names[-1]})"


def featurizer_origin(requested: dict | None, origin: str | None = None) -> str:
    """The featuriser a commit was given or carried, after its features: `` (featuriser numeric:exclude=["x"], as
    v1)`` with ``origin`` ``"as v1"``; "" for the automatic one (newcomer review 28, finding 2: a carried exclude
    list was lost and nothing said which featuriser a commit used)."""
    if requested is None:
        return ""
    from provenance.features.registry import FeaturizerSpec

    spec = visible(str(FeaturizerSpec.from_dict(requested)))
    return f" (featuriser {spec}{', ' + origin if origin else ''})"
