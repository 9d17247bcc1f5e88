"""What a file given as a kept log state (``--checkpoint FILE``) is, when it is none, in one line.

``prov check``, ``prov commit``, ``prov quarantine``, ``prov verify`` and ``prov audit verify`` take ``--checkpoint
FILE``: a checkpoint (``prov commit --checkpoint-out``, ``prov audit checkpoint --out``) or a release attestation.
Given another of prov's files (a report, a policy, a release state, a waiver), each said something else before
(``not a release attestation``, ``envelope field 'payloadType' is missing``: newcomer review 17, F6). Now every
one says :func:`not_a_log_state`'s line, and what the file looks like, so the user knows which file to pass.
"""

from __future__ import annotations

import json
import tomllib

from provenance.errors import InputError
from provenance.escaping import visible

KEPT_BY = "prov commit --checkpoint-out / prov audit checkpoint"
"""The commands that write a log state file, as the message names them."""


def not_a_log_state(path: str, looks: str) -> InputError:
    """``FILE: not a log state kept by prov commit --checkpoint-out / prov audit checkpoint (it looks like ...)``,
    exit 2, for ``path`` that ``looks`` like something else (:func:`looks_like`, :func:`signed_kind`)."""
    return InputError(f"{path}: not a log state kept by {KEPT_BY} (it looks like {looks})")


def signed_kind(predicate_type: object) -> str:
    """What a signed statement of ``predicate_type`` is (``a signed waiver (prov waive)``), for a message about a file
    given as something else."""
    from provenance.gate.attestation import LEGACY_PREDICATE_TYPE
    from provenance.gate.waiver_judging import PREDICATE_TYPE as WAIVER
    from provenance.lineage.standing import PREDICATE_TYPE as BATCH
    from provenance.lineage.withdraw import PREDICATE_TYPE as WITHDRAWAL
    from provenance.trust.root import PREDICATE_TYPE as ROOT
    from provenance.trust.statements import PREDICATE_TYPE as TRUST_ENTRY
    from provenance.version_facts import PREDICATE_TYPE as VERSION

    names = {
        BATCH: "a signed batch envelope (prov sign)",
        VERSION: "a version's signed statement (prov commit)",
        WAIVER: "a signed waiver (prov waive)",
        WITHDRAWAL: "a signed batch withdrawal (prov withdraw)",
        TRUST_ENTRY: "a signed trust entry (prov trust add)",
        ROOT: "a root of trust file",
        LEGACY_PREDICATE_TYPE: "a release attestation written by an older prov, which keeps no log state",
    }
    return names.get(str(predicate_type), f"a signed statement of type {visible(repr(predicate_type))}")


def looks_like(data: bytes) -> str:
    """What the bytes of a file that is no DSSE envelope look like, in words: one of prov's reports
    (``report.formats.report_kind``), a release state (``prov verify --release-state``), the JSON ``prov audit
    checkpoint --json`` prints, a policy file, other JSON (its first keys), a Parquet file, or text."""
    from provenance.report.formats import report_kind

    if (kind := report_kind(data)) is not None:
        return kind
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        pass
    else:
        if isinstance(document, dict):
            return _json_kind(document)
        shape = {list: "list", str: "string", bool: "true or false", type(None): "null"}.get(type(document), "number")
        return f"a JSON {shape}, not an object"
    if data.startswith(b"PAR1"):
        return "a Parquet file"
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return "neither JSON nor text" if b"\0" in data[:4096] else "text that is not JSON"
    from provenance.gate.policy import SETTINGS

    if set(table) & set(SETTINGS):
        return "a policy file (prov check --policy)"
    return "a TOML file, not JSON"


def _json_kind(document: dict) -> str:
    """What a JSON object that is no envelope is (:func:`looks_like`)."""
    from provenance.trust.releases import FORMAT as RELEASE_STATE

    if document.get("format") == RELEASE_STATE:
        return "the release state prov verify --release-state keeps, not a log state"
    if {"size", "root", "head", "keyid", "object"} <= set(document):
        return "what prov audit checkpoint --json prints; pass the file its --out writes"
    keys = ", ".join(visible(str(k)[:40]) for k in list(document)[:4]) + (", ..." if len(document) > 4 else "")
    return f"a JSON object with keys {keys}" if document else "an empty JSON object"
