"""A release number names a version, in commit order (newcomer review 21, finding 15).

Attesting a version again keeps its number, so a training job that accepted a newer release refuses the older
version however often it is attested (refreshed before it expires, or an old CI run repeated). A version
released for the first time after one committed after it used to jump above it instead: the same rollback,
accepted because the older version had not been attested before.
"""

from __future__ import annotations

from support import commit_older_and_newer, one_line, release_of

PINNED = ("--signer", "maintainer.pub")
KEY = ("--key", "maintainer.key")
STATE = ("--release-state", "job-state.json", "--no-data", *PINNED)


def attest(prov, tag: str) -> int:
    r = prov("check", tag, "--base", "v2", "--policy", "policy.toml", "--attest", *KEY, "--force", *PINNED)
    assert r.exit_code == 0, r.output
    return release_of(f"{tag}.attestation.json")


def test_an_older_version_released_after_a_newer_one_stays_below_it(prov, template_trust, workdir):
    commit_older_and_newer(prov)
    newer = attest(prov, "newer")
    assert newer == 6  # the store's 6th version (after v1, v2, v3, v3q, older): commit_ordinal
    r = prov("verify", "newer", "--attestation", "newer.attestation.json", *STATE)
    assert r.exit_code == 0, r.output

    older = attest(prov, "older")  # first released now, after the version committed after it
    assert older == 5  # was 7: one more than every kept release, the newer one's too
    r = prov("verify", "older", "--attestation", "older.attestation.json", *STATE)
    assert r.exit_code == 1 and "release 5 (older) is older than release 6 (newer)" in one_line(r), r.output
    # as attesting it again does, and the newer release's own number stays
    assert (attest(prov, "older"), attest(prov, "newer")) == (5, 6)
