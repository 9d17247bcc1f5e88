"""The release gate: the policy, its rules, waivers and the release attestation."""
