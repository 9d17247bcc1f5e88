"""The "To release:" step of a blocking ``integrity.verify_signatures`` follows what broke (attack review 16, F5)."""

from __future__ import annotations

from provenance.report.next_steps import release_steps


def blocked(reason: str) -> dict:
    rule = {"rule": "integrity.verify_signatures", "status": "block", "reason": reason, "records": []}
    return {"decision": "blocked", "version": "v4r", "base": "v1", "rules": [rule]}


def test_a_broken_audit_log_leads_to_prov_audit_verify_not_prov_verify():
    """``prov verify v4r`` passes when only the log broke (a commit entry planted for a tag never committed):
    the step names the command that finds the entry."""
    steps = release_steps(blocked("audit log is broken: version v3s (commit entry 9) is missing from the store"))
    assert [s.text for s in steps] == [
        "see where the audit log breaks: prov audit verify; restore .prov/ from a copy you trust (an entry planted, "
        "edited or deleted)"
    ]


def test_a_signature_that_does_not_verify_still_leads_to_prov_verify():
    steps = release_steps(blocked("version v4r: signed by key 0123456789abcdef, which is not trusted for commit"))
    assert [s.text for s in steps] == [
        "see what does not verify: prov verify v4r; pin the keys that signed it (--signer KEY.pub)"
    ]


def _vendor_flagged(n: int) -> dict:
    """A check blocked on ``detectors.extreme`` by ``n`` flagged records of a source whose 160 added records its
    signed batches all attest."""
    rule = {"rule": "detectors.extreme", "status": "block", "reason": f"{n} records beyond the bar", "records": []}
    findings = [
        {"digest": f"{i:064x}", "detector": "combined", "score": 1.0, "explanation": "", "flagged": True,
         "source": "vendorB", "lineage": "attested", "change": "added"}
        for i in range(n)
    ]  # fmt: skip
    sources = [{"source": "vendorB", "named_by": ["signed batch"], "added": 160, "attested_added": 160}]
    return {"decision": "blocked", "version": "v3", "base": "v2", "rules": [rule], "findings": findings,
            "sources": sources}  # fmt: skip


def test_one_odd_record_of_a_signed_delivery_is_no_stolen_key():
    """Newcomer review 35, finding 5: one flagged record of 160 a vendor signed was offered "if vendorB's key may
    be stolen ... end its trust"; a stolen key signs a campaign, so below three flagged records no such step."""
    texts = [s.text for s in release_steps(_vendor_flagged(1))]
    assert not any("key may be stolen" in t for t in texts), texts
    texts = [s.text for s in release_steps(_vendor_flagged(3))]
    assert any("if vendorB's key may be stolen" in t for t in texts), texts
