"""Release policies: a small TOML file, checked against a JSON Schema generated from the rules.

Each rule class declares the keys it reads (``provenance.gate.base.Setting``: section,
key, JSON Schema of the value, default, description). From those declarations this
module makes the policy file's JSON Schema (draft 2020-12, published as
``schemas/policy.schema.json``; ``python -m provenance.gate.policy`` prints it), its
defaults and the default TOML, and validates a file with ``jsonschema`` before anything
is evaluated: an unknown section or key, a wrong type, an out-of-range value or a number
that is not finite (TOML's ``nan``, which passes JSON Schema's bounds) is an ``InputError`` (exit 2) naming the file, the line and the key
(``policy.toml:2: relabels.max_relabel_rate: unknown rule; ...``).

A policy is a value: its digest (SHA-256 of the canonical JSON of its effective
settings) goes into the signed release attestation, so a training job can tell which
policy a release passed. ``rule_set`` turns it into the composed rules the gate evaluates.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import sys
import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance import input_file
from provenance.errors import InputError
from provenance.gate import detection, release_settings
from provenance.gate.base import AllOf, Requires, Rule, RuleSet, Setting
from provenance.gate.class_mix import MinClassMixPValue
from provenance.gate.conflicts import MaxConflictingSignedLabels
from provenance.gate.copies import MaxCopiesRate
from provenance.gate.relabel_owners import MaxRelabelsOfOthersRecords
from provenance.gate.relabel_rate import MaxRelabelRatePerSource
from provenance.gate.removals import MaxUnsignedRemovedRate
from provenance.gate.rules import MaxRelabels, VerifyData, VerifySignatures
from provenance.gate.rules_lineage import (
    BlockQuarantinedSources,
    ForbiddenSources,
    MaxRelabeledAfterSource,
    MaxUnattributed,
    MaxUnattributedFraction,
    MaxUnsignedAdditions,
)
from provenance.gate.unsigned import SignedBatchesIncomplete, UnattributedBesideSigned, UnsignedFromSigningSources
from provenance.names import did_you_mean

if TYPE_CHECKING:
    from jsonschema import ValidationError

SCHEMA_ID = "https://prov.dev/schemas/policy.schema.json"

# Every rule class, in the order the policy file lists their keys and the gate reports them.
RULE_TYPES: tuple[type[Rule], ...] = (
    VerifySignatures,
    VerifyData,
    MaxRelabeledAfterSource,
    MaxConflictingSignedLabels,
    MaxUnattributed,
    MaxUnattributedFraction,
    MaxUnsignedAdditions,
    UnsignedFromSigningSources,
    UnattributedBesideSigned,
    SignedBatchesIncomplete,
    ForbiddenSources,
    BlockQuarantinedSources,
    MaxUnsignedRemovedRate,
    MaxCopiesRate,
    MaxRelabelRatePerSource,
    MaxRelabels,
    MaxRelabelsOfOthersRecords,
    MinClassMixPValue,
    detection.DetectorsRun,
    detection.CombinedFlagBudget,
    detection.ExtremeRecords,
    detection.BatchDrift,
    detection.RelabelScanRule,
    detection.ImageScaling,
)


def declared_settings() -> dict[str, dict[str, Setting]]:
    """section -> key -> ``Setting``, from the rule classes in declaration order, then the
    release attestation's own settings (``provenance.gate.release_settings``).

    A key declared twice (two rules reading one setting) keeps its first declaration.
    """
    out: dict[str, dict[str, Setting]] = {}
    for s in [s for rule_type in RULE_TYPES for s in rule_type.settings] + list(release_settings.SETTINGS):
        out.setdefault(s.section, {}).setdefault(s.key, s)
    return out


SETTINGS = declared_settings()


def defaults() -> dict[str, dict[str, Any]]:
    """The default settings: section -> key -> value (None: no bound)."""
    return {section: {k: copy.deepcopy(s.default) for k, s in keys.items()} for section, keys in SETTINGS.items()}


@dataclass(frozen=True)
class Policy:
    """A parsed policy: its effective settings (defaults overridden by the file) and its file.

    ``policy["lineage"]["max_unattributed"]`` reads one setting.
    """

    settings: dict[str, dict[str, Any]]
    path: str | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # "section.key" -> its line in the file

    def __getitem__(self, section: str) -> dict[str, Any]:
        """The settings of one ``[section]`` (key -> value); ``KeyError`` for a section no rule declares."""
        return self.settings[section]

    @property
    def digest(self) -> str:
        """SHA-256 hex of the settings' canonical JSON (sorted keys, no spaces): the policy's identity."""
        body = json.dumps(self.settings, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(body).hexdigest()

    @property
    def name(self) -> str:
        """The file it came from, or ``default policy``."""
        return self.path or "default policy"


def default_policy() -> Policy:
    """The built-in policy (``prov check`` without ``--policy``)."""
    return Policy(defaults())


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy file as parsed TOML, generated from the rules.

    One object per section, one property per declared key (``Setting.json_schema``); no
    other section or key is allowed (``additionalProperties: false``). ``$id`` is ``SCHEMA_ID``.
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "prov release policy (policy.toml, as parsed TOML)",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            section: {
                "type": "object",
                "additionalProperties": False,
                "properties": {key: s.json_schema() for key, s in keys.items()},
            }
            for section, keys in SETTINGS.items()
        },
    }


def schema_json() -> str:
    """``schema()`` as the text of ``schemas/policy.schema.json`` (2-space indent, final newline)."""
    return json.dumps(schema(), indent=2) + "\n"


def _validator() -> Any:
    from jsonschema import Draft202012Validator, validators

    # TOML tells integers from floats; JSON Schema's "integer" would also take 3.0 (and
    # Python's bool is an int): a policy's integer is a TOML integer.
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, v: isinstance(v, int) and not isinstance(v, bool)
    )
    return validators.extend(Draft202012Validator, type_checker=checker)(schema())


def _line_of(text: str, section: str | None, key: str) -> int | None:
    """The line a key (or, with ``section`` None, a section) is written on; tomllib gives no positions."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[\s*([A-Za-z0-9_.\-]+)\s*\]", stripped)
        if header:
            current = header.group(1)
            if section is None and current == key:
                return number
            continue
        if current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return None


TYPE_WORDS = {
    "boolean": "true/false",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a table",
}


def _problems(error: ValidationError, raw: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(section or None, key, problem) for one schema violation (several for unknown keys)."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in known]
        if not path:
            return [(None, k, f"unknown section{did_you_mean(k, known)}; known: {', '.join(known)}") for k in unknown]
        return [
            (path[0], k, f"unknown rule{did_you_mean(k, known)}; known in [{path[0]}]: {', '.join(known)}")
            for k in unknown
        ]
    if len(path) == 1:
        return [(None, path[0], "must be a [section] table")]
    section, key = path[0], path[1]
    value = raw[section][key]
    setting = SETTINGS[section][key]
    sub = error.schema if isinstance(error.schema, dict) else {}
    if len(path) == 2 and error.validator == "type":
        types = [sub["type"]] if isinstance(sub["type"], str) else sub["type"]
        words = " or ".join(TYPE_WORDS.get(t, t) for t in types)
        return [(section, key, f"must be {words}, not {type(value).__name__} {value!r}")]
    if len(path) == 2 and error.validator == "minimum":
        low = sub["minimum"]
        problem = "must not be negative" if low == 0 else f"must be at least {low}"
        return [(section, key, f"{problem}, not {value!r}")]
    if len(path) == 2 and error.validator == "maximum":
        return [(section, key, f"must be at most {sub['maximum']}, not {value!r}")]
    if len(path) == 2 and error.validator in ("exclusiveMinimum", "exclusiveMaximum"):
        low, high = sub.get("exclusiveMinimum"), sub.get("exclusiveMaximum")
        return [(section, key, f"must be between {low} and {high}, not {value!r}")]
    return [(section, key, f"must be {setting.expects or setting.description}, not {value!r}")]


def _not_finite(raw: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(section, key, problem) for each number TOML wrote as ``nan``: JSON Schema's ``minimum`` and ``maximum`` pass
    NaN (every comparison with it is false), so ``max_removed_fraction = nan`` blocked any removal and
    ``max_unsigned_removed_rate = nan`` turned the rule off (attack review 29a, A29a-4). ``inf`` and ``-inf`` are
    refused too, though every number key's schema bounds them already (its words then come first)."""
    return [
        (section, key, f"must be a finite number, not {value!r}")
        for section, values in raw.items()
        if isinstance(values, dict)
        for key, value in values.items()
        if isinstance(value, float) and not math.isfinite(value)
    ]


def parse(text: str, path: str = "policy.toml") -> Policy:
    """Parse and validate a policy file's text.

    Args:
        text: the TOML text.
        path: the file name the error messages use.

    Returns:
        The ``Policy``: defaults overridden by what the file sets.

    Raises:
        InputError: not TOML, or the first problem in file order (unknown section or key,
            wrong type, value out of range or not finite) as ``FILE:LINE: section.key: problem``.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from exc
    found = [p for error in _validator().iter_errors(raw) for p in _problems(error, raw)] + _not_finite(raw)
    if found:
        placed = [(_line_of(text, section, key), section, key, problem) for section, key, problem in found]
        line, section, key, problem = min(placed, key=lambda p: (p[0] or sys.maxsize, p[1] or "", p[2]))
        where = f"{path}:{line}" if line else path
        raise InputError(f"{where}: {f'{section}.{key}' if section else key}: {problem}")
    settings = defaults()
    lines: dict[str, int] = {}
    for section, values in raw.items():
        settings[section].update(values)
        lines |= {f"{section}.{key}": line for key in values if (line := _line_of(text, section, key))}
    return Policy(settings, path, lines)


def require_known_detectors(policy: Policy) -> None:
    """Refuse a policy whose ``detectors.run`` names a detector this installation does not have.

    A name no detector here answers to is the policy's mistake or a plugin not installed,
    both fixed by the user (as a missing DVC extra is): bad input, exit 2, naming the file,
    line and the known names, before anything is evaluated. Checked by ``prov check``, not
    by ``parse``: a training job verifying a release attestation against the same policy
    file runs no detector and need not install the plugins it names.

    Raises:
        InputError: ``FILE:LINE: detectors.run: unknown detector 'x' (did you mean 'y'?); known here: ...``.
    """
    wanted = policy.settings.get("detectors", {}).get("run", "all")
    if wanted == "all" or not policy.settings.get("detectors", {}).get("enabled", True):
        return
    from provenance.detectors.registry import available_detectors

    known = available_detectors()
    unknown = [name for name in wanted if name not in known]
    if unknown:
        line = policy.lines.get("detectors.run")
        where = f"{policy.name}:{line}" if line else policy.name
        raise InputError(
            f"{where}: detectors.run: unknown detector {unknown[0]!r}{did_you_mean(unknown[0], known)}; "
            f"known here: {', '.join(known)} (a plugin detector is known once installed)"
        )


def load(path: str | None) -> Policy:
    """The policy in the TOML file at ``path``, or the default policy when ``path`` is None.

    Detector names are checked when the gate runs (``require_known_detectors``), not here:
    verifying an attestation against this policy runs no detector.

    Raises:
        InputError: the file cannot be read, or ``parse`` rejects it (exit 2).
    """
    if path is None:
        return default_policy()
    return parse(input_file.read_bounded_text(path, input_file.POLICY_BYTES, "policy"), path)


def default_policy_toml() -> str:
    """The default policy written out as TOML, for ``prov check --print-default-policy`` and docs."""
    lines = ["# prov default release policy", ""]
    for section, keys in SETTINGS.items():
        lines.append(f"[{section}]")
        for key, s in keys.items():
            if s.default is None and s.schema.get("type") == "string":
                lines.append(f'# {key} = "..."  # {s.description} (unset by default)')
            elif s.default is None:
                lines.append(f"# {key} = 0  # {s.description} (unset: no bound)")
            else:
                lines.append(f"{key} = {json.dumps(s.default)}  # {s.description}")
        lines.append("")
    return "\n".join(lines)


def rule_set(policy: Policy) -> RuleSet:
    """The rules ``policy`` turns on, composed: what the gate evaluates (sigstore-style ``AllOf``).

    Returns ``Requires(VerifySignatures, AllOf(rest))``, or ``AllOf(rest)`` when signature
    checking is off; a rule a setting switches off is left out (``from_settings`` gave None).

    ``integrity.verify_signatures`` (when on) is a prerequisite of everything else: if
    the versions' signatures do not verify, no other rule runs. The rest are all
    required (``AllOf``); the detector rules come from ``provenance.gate.detection``.
    """
    s = policy.settings
    built = [
        VerifyData.from_settings(s),
        MaxRelabeledAfterSource.from_settings(s),
        MaxConflictingSignedLabels.from_settings(s),
        MaxUnattributed.from_settings(s),
        MaxUnattributedFraction.from_settings(s),
        MaxUnsignedAdditions.from_settings(s),
        UnsignedFromSigningSources.from_settings(s),
        UnattributedBesideSigned.from_settings(s),
        SignedBatchesIncomplete.from_settings(s),
        ForbiddenSources.from_settings(s),
        BlockQuarantinedSources.from_settings(s),
        MaxUnsignedRemovedRate.from_settings(s),
        MaxCopiesRate.from_settings(s),
        MaxRelabelRatePerSource.from_settings(s),
        MaxRelabels.from_settings(s),
        MaxRelabelsOfOthersRecords.from_settings(s),
        MinClassMixPValue.from_settings(s),
        detection.rules(s),
    ]
    rest = AllOf([r for r in built if r is not None])
    signatures = VerifySignatures.from_settings(s)
    return rest if signatures is None else Requires(signatures, rest)


if (
    __name__ == "__main__"
):  # regenerate the published schema: python -m provenance.gate.policy > schemas/policy.schema.json
    sys.stdout.write(schema_json())
