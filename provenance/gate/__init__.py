"""The release gate: rules as policy objects, the policy file, the check, waivers and the release attestation."""
