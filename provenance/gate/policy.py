"""Release policies: a small TOML file, validated strictly before anything is evaluated.

Every key has a type and a meaning; an unknown section or key, a wrong type, or a value
out of range is an input error naming the file, the line and the key. A policy is a
value: its digest (SHA-256 of the canonical JSON of its effective settings) goes into the
signed release attestation, so a training job can tell which policy a release passed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from provenance.errors import InputError

# section -> key -> (type(s), default, description). ``None`` in a default means "no bound".
SPEC: dict[str, dict[str, tuple]] = {
    "integrity": {
        "verify_signatures": (bool, True, "both versions' signatures, objects and the audit log must verify"),
        "verify_data": (bool, True, "re-read the new version's data and match every record digest"),
    },
    "lineage": {
        "max_unattributed": ((int, type(None)), None, "records no trusted signed batch carries"),
        "max_unattributed_fraction": ((float, int, type(None)), None, "the same, as a fraction of the version"),
        "max_unsigned_additions": ((int, type(None)), None, "added records from unsigned or unattributed batches"),
        "max_relabeled_after_source": (
            (int, type(None)),
            0,
            "records whose label differs from the one their source signed",
        ),
        "forbidden_sources": (list, [], "sources whose records may not be in a release"),
        "block_quarantined_sources": (bool, True, "sources cut out with `prov quarantine` may not come back"),
    },
    "relabels": {
        "max_relabel_rate_per_source": ((float, int, type(None)), 0.05, "share of a source's kept records relabeled"),
        "max_relabels": ((int, type(None)), None, "relabeled records in all"),
    },
    "class_mix": {
        "min_p_value": (
            (float, int, type(None)),
            1e-6,
            "block when the additions' class mix differs from the base with p below this",
        ),
    },
    "detectors": {
        "run": ((str, list), "all", 'detectors that must run: "all" or a list of names'),
        "fpr": ((float,), 0.01, "false-positive rate each detector's threshold is calibrated to"),
        "alpha": ((float,), 0.001, "block when a detector flags more records than its FPR explains at this level"),
        "max_flagged": ((int, type(None)), None, "a hard cap on flagged records per detector"),
        "enabled": (bool, True, "run the detectors at all"),
    },
}


@dataclass(frozen=True)
class Policy:
    settings: dict
    path: str | None = None

    def __getitem__(self, section: str) -> dict:
        return self.settings[section]

    @property
    def digest(self) -> str:
        body = json.dumps(self.settings, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(body).hexdigest()

    @property
    def name(self) -> str:
        return self.path or "default policy"


def defaults() -> dict:
    return {section: {k: copy.deepcopy(v[1]) for k, v in keys.items()} for section, keys in SPEC.items()}


def default_policy() -> Policy:
    return Policy(defaults())


def _line_of(text: str, section: str | None, key: str) -> int | None:
    """The line a key is written on (tomllib gives no positions for valid TOML)."""
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


def _fail(path: str, text: str, section: str | None, key: str, problem: str) -> InputError:
    line = _line_of(text, section, key)
    where = f"{path}:{line}" if line else path
    name = f"{section}.{key}" if section else key
    return InputError(f"{where}: {name}: {problem}")


def _type_name(types) -> str:
    names = {
        bool: "true/false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        type(None): "absent",
    }
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(names[t] for t in types if t is not type(None))


def parse(text: str, path: str = "policy.toml") -> Policy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from exc
    settings = defaults()
    for section, values in raw.items():
        if section not in SPEC:
            raise _fail(path, text, None, section, f"unknown section; known: {', '.join(SPEC)}")
        if not isinstance(values, dict):
            raise _fail(path, text, None, section, "must be a [section] table")
        for key, value in values.items():
            if key not in SPEC[section]:
                raise _fail(path, text, section, key, f"unknown rule; known in [{section}]: {', '.join(SPEC[section])}")
            types = SPEC[section][key][0]
            types = types if isinstance(types, tuple) else (types,)
            if isinstance(value, bool) and bool not in types:
                ok = False
            else:
                ok = isinstance(value, types)
            if not ok:
                raise _fail(
                    path, text, section, key, f"must be {_type_name(types)}, not {type(value).__name__} {value!r}"
                )
            _check_range(path, text, section, key, value)
            settings[section][key] = value
    return Policy(settings, path)


def _check_range(path: str, text: str, section: str, key: str, value) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise _fail(path, text, section, key, f"must not be negative, not {value}")
    if key in ("fpr", "alpha") and not 0 < value < 1:
        raise _fail(path, text, section, key, f"must be between 0 and 1, not {value}")
    if (
        key in ("max_unattributed_fraction", "max_relabel_rate_per_source", "min_p_value")
        and value is not None
        and value > 1
    ):
        raise _fail(path, text, section, key, f"is a fraction and must be at most 1, not {value}")
    if key == "forbidden_sources" and not all(isinstance(s, str) and s for s in value):
        raise _fail(path, text, section, key, "must list non-empty source names")
    if key == "run" and isinstance(value, list):
        if not value or not all(isinstance(s, str) and s for s in value):
            raise _fail(path, text, section, key, 'must be "all" or a non-empty list of detector names')
    elif key == "run" and value != "all":
        raise _fail(path, text, section, key, f'must be "all" or a list of detector names, not {value!r}')


def load(path: str | None) -> Policy:
    if path is None:
        return default_policy()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read policy ({getattr(exc, 'strerror', None) or exc})") from exc
    # Detector names are checked when the gate runs: one that is not installed there is
    # "could not evaluate" (exit 3), since the same policy may be right on another machine.
    return parse(text, path)


def default_policy_toml() -> str:
    """The default policy written out as TOML, for `prov check --print-default-policy` and docs."""
    lines = ["# prov default release policy", ""]
    for section, keys in SPEC.items():
        lines.append(f"[{section}]")
        for key, (_, default, description) in keys.items():
            if default is None:
                lines.append(f"# {key} = 0  # {description} (unset: no bound)")
            else:
                lines.append(f"{key} = {json.dumps(default)}  # {description}")
        lines.append("")
    return "\n".join(lines)
