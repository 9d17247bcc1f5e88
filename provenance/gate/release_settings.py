"""Policy settings that no rule reads: they govern the release attestation a passing check may get.

- ``attestation.valid_for_days``: how long a release attestation stays valid; verifiers
  refuse it afterwards (freeze protection, after TUF's short-lived timestamp role).
- ``integrity.acknowledge_disabled``: why the policy turns off an integrity check. A policy
  that turns off ``integrity.verify_signatures`` or ``integrity.verify_data`` cannot be
  attested without it, and the attestation carries it with the list of checks that were off.

``provenance.gate.policy`` adds them to the generated schema and defaults like any rule's.
"""

from __future__ import annotations

from provenance.gate.base import Setting

VALID_FOR_DAYS = Setting(
    "attestation",
    "valid_for_days",
    {"type": "integer", "minimum": 1, "maximum": 3660},
    7,
    "days a release attestation stays valid; a training job refuses it afterwards",
)
ACKNOWLEDGE_DISABLED = Setting(
    "integrity",
    "acknowledge_disabled",
    {"type": "string", "minLength": 1},
    None,
    "why this policy turns off an integrity check; without it such a policy cannot be attested",
    expects="a non-empty reason",
)
SETTINGS: tuple[Setting, ...] = (ACKNOWLEDGE_DISABLED, VALID_FOR_DAYS)
