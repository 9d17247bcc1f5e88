"""fix34c (closing note of session 33, F3): a withdrawn signed batch's labels bind the records shipped in its place
(``gate.withdrawn_labels``, A32d-3), also when it was withdrawn because its source's key was stolen; the maintainer's
own corrections of its labels then blocked on ``lineage.max_relabeled_after_source`` until waived one by one. A
correction signed by a key the verifier pins for the ``commit`` role (who signs the withdrawal itself) is no longer
compared with the withdrawn batch's labels; one signed by another trusted source, or registered ``--unsigned``,
still is. Through the real CLI, keys and store."""

from __future__ import annotations

from test_attack33c_replays import PAIRED_FLIPS
from test_newcomer32_type_conflicts import PINS

from support import blocking_rules, check_report, ok

RULE = "lineage.max_relabeled_after_source"


def _corrected_in_place(prov, signer: str) -> dict:
    """fix33b's replay (``test_attack32d_replays._clinic_2024_flipped``): the clinic's 2024 batch, signed with its
    key, is withdrawn (the key was stolen) and the key revoked; the maintainer ships its records gaps filled with 14
    labels other than the signed ones (``a2024-filled.parquet``), signed as source ``corrections`` by ``signer``'s key
    (``m``: the pinned commit key; ``crowd``: a trusted source key, not a commit key), or registered ``--unsigned``
    (``signer`` None). ``check v3 --base v1``'s report."""
    from test_attack32d_replays import _clinic_2024_flipped

    batch, _ = _clinic_2024_flipped(prov, gaps=True)
    ok(prov, "withdraw", batch, "--reason", "signed with a stolen key", "--key", "m.key", *PINS)
    ok(prov, "trust", "revoke", "clinicA", "--reason", "key stolen", "--yes", *PINS)
    if signer is None:
        ok(prov, "add", "a2024-filled.parquet", "--source", "corrections", "--unsigned", *PINS)
    else:
        if signer != "m":
            ok(prov, "keys", "generate", signer)
        ok(prov, "trust", "add", "corrections", f"{signer}.pub", "--key", "m.key", *PINS)
        ok(prov, "sign", "a2024-filled.parquet", "--source", "corrections", "--key", f"{signer}.key")
        ok(prov, "add", "a2024-filled.parquet", "--source", "corrections", *PINS)
    ok(prov, "commit", "train.parquet", "--tag", "v3", "--key", "m.key", *PINS)
    return check_report(prov, "v3", "v1", *PINS)


def _rule(report: dict) -> dict:
    return next(x for x in report["rules"] if x["rule"] == RULE)


def test_the_maintainers_signed_correction_of_a_stolen_keys_batch_passes(prov, workdir, store):
    report = _corrected_in_place(prov, "m")
    assert RULE not in blocking_rules(report) and _rule(report)["count"] == 0, _rule(report)
    assert report["exit_code"] == 0, blocking_rules(report)


def test_control_the_same_correction_signed_by_another_source_blocks(prov, workdir, store):
    report = _corrected_in_place(prov, "crowd")
    assert report["exit_code"] == 1 and RULE in blocking_rules(report), blocking_rules(report)
    assert _rule(report)["count"] == PAIRED_FLIPS, _rule(report)


def test_control_the_same_correction_registered_unsigned_blocks(prov, workdir, store):
    report = _corrected_in_place(prov, None)
    assert report["exit_code"] == 1 and RULE in blocking_rules(report), blocking_rules(report)
    assert _rule(report)["count"] == PAIRED_FLIPS, _rule(report)
