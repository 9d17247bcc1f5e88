"""The README's "Revoking a stolen source key, step by step", run as written after the tour (newcomer review 20).

A maintainer following only the README had to assemble revoke, keep, and pass-to-the-next-command from prose
spread over the Commands table, Kept log states and A stolen key. The block runs in the tour's folder, in the
tour's shell, each line exiting 0; then a ``.prov/`` writer rolls the log back to before the revocation with
sqlite3 (its entries, the checkpoints over them, the trust row's revocation and v6), and the states the block
kept refuse the rolled-back log. The block's re-signing step registers the vendor's genuine batch again
(``vendor@ROOT12.2``) so v6 attests it; the stolen key signing it again is refused, and so is the batch a
third time (its new registration still attests it).
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess

from test_readme_tour import clone_like, tour_lines

from support import doc_section

# docs/security-model.md, "A stolen key", since the README's split (session 29)
STEP_BY_STEP = doc_section("A stolen key")


def revocation_lines() -> list[str]:
    text = STEP_BY_STEP[STEP_BY_STEP.index("**Revoking a stolen source key, step by step**") :]
    start = text.index("```bash\n") + len("```bash\n")
    return [line.partition("  #")[0].strip() for line in text[start : text.index("```", start)].splitlines()]


def shell(lines: list[str]) -> str:
    """One bash script running ``lines`` in order, stopping with exit 99 at the first that does not exit 0."""
    steps = [f"{line} || {{ echo 'exited '$?': '{shlex.quote(line)} >&2; exit 99; }}" for line in lines if line]
    return "\n".join(steps)


def test_the_revocation_steps_run_as_written_and_their_kept_states_catch_a_rollback(tmp_path):
    clone_like(tmp_path)
    tour = [command for command, code in tour_lines() if code == 0]  # the blocked checks are the tour's, not ours
    lines = revocation_lines()
    assert any("--checkpoint-key" in line and "trust revoke" in line for line in lines)
    assert all("--checkpoint " in line for line in lines if line.startswith(("prov trust add", "prov commit")))
    # the steps end with v6 released and verified as a training job that refuses revoked records does (newcomer 21)
    assert any(line.startswith("prov check v6 ") and "--attest" in line for line in lines), lines
    assert any(line.startswith("prov verify v6 --attestation") and "--fail-on-revoked" in line for line in lines)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"}
    r = subprocess.run(
        ["bash", "-c", shell(tour) + "\necho '>>> revocation'\n" + shell(lines)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    said = " ".join(r.stdout.split(">>> revocation")[1].split()) + " " + " ".join(r.stderr.split())
    assert "400 records of batch vendor@" in said and "no longer attested" in said
    assert "the audit log extends ../kept/revoked.json" in said
    kept = tmp_path / "kept"
    assert (kept / "revoked.json").is_file() and (kept / "v6.json").is_file()

    # the vendor's genuine batch signed again with its new key is registered again and attested by v6
    assert re.search(r"Added batch vendor@[0-9a-f]{12}\.2: 400 records from 'vendor', signed by key", said), said
    assert re.search(r"registered again: vendor@[0-9a-f]{12} attests nothing under your pins", said), said
    folder = tmp_path / "tour"
    pin = f"export PROV_SIGNERS={folder}/keys/maintainer.pub; source ../.venv/bin/activate; "

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", pin + command], cwd=folder, capture_output=True, text=True, env=env)

    # v5's release, attested before the revocation, is refused by a job that refuses revoked records
    old_release = run("prov verify v5 --attestation v5.attestation.json --no-data --fail-on-revoked")
    assert old_release.returncode == 1 and "no longer attested" in old_release.stderr, old_release.stderr
    # what the prose after the block quotes prov show v6 and prov sources saying, they say (newcomer review 21)
    prose = " ".join(STEP_BY_STEP[STEP_BY_STEP.index("**Revoking a stolen source key, step by step**") :].split())
    quoted_show = re.search(r"`prov show v6 --batches` says `([^`]+)` and under it `([^`]+)`", prose)
    quoted_sources = re.search(r"`prov sources` says of the revoked one: `([^`]+)`", prose)
    assert quoted_show and quoted_sources, "the README no longer quotes prov show v6 and prov sources"

    def quoted(text: str) -> str:  # the README elides a batch's root: vendor@...
        return re.escape(text).replace(r"@\.\.\.", "@[0-9a-f]{12}")

    shown_text = run("prov show v6 --batches").stdout
    assert re.search(quoted(quoted_show.group(1)) + r"\n +" + quoted(quoted_show.group(2)) + "\n", shown_text), (
        shown_text
    )
    sources = " ".join(run("prov sources").stdout.split())
    assert re.search(quoted(quoted_sources.group(1)), sources), sources
    shown = json.loads(run("prov show v6 --json --batches").stdout)
    assert shown["attested"] >= 400 and not shown["lineage_not_trusted"], shown
    assert any(re.fullmatch(r"vendor@[0-9a-f]{12}\.2", b["batch"]) for b in shown["attested_by"]), shown
    v5 = " ".join(run("prov show v5").stdout.split() + run("prov show v5").stderr.split())
    assert "which was revoked" in v5 and "registered again as batch vendor@" in v5, v5

    # the stolen key signs the same records (or any) again: refused, the store as it was
    before = (folder / ".prov" / "prov.db").read_bytes()
    stolen = run(
        "prov sign batch.parquet --source vendor --key keys/vendor.key --force --out stolen.prov.json && "
        "prov add batch.parquet --source vendor --envelope stolen.prov.json"
    )
    assert stolen.returncode == 1 and "revoked" in stolen.stderr, stolen.stderr
    assert (folder / ".prov" / "prov.db").read_bytes() == before
    # the genuine batch a third time: its registration .2 still attests it
    again = run("prov add batch.parquet --source vendor")
    assert again.returncode == 2 and "still attested under your pins" in " ".join(again.stderr.split()), again.stderr

    # a .prov/ writer rolls the log back to before the revocation; the states kept outside refuse it
    db = sqlite3.connect(folder / ".prov" / "prov.db")
    (seq,) = db.execute("select seq from audit where action = 'trust.revoke'").fetchone()
    db.execute("delete from audit where seq >= ?", [seq])
    db.execute("delete from checkpoints where size >= ?", [seq])
    db.execute("delete from versions where tag = 'v6'")
    db.execute("update trust set revoked_at = null, revoked_reason = null")
    db.commit()
    db.close()
    for command in (
        "prov audit verify --checkpoint ../kept/revoked.json",
        "prov commit train-new.v5.parquet --tag v7 --key keys/maintainer.key --checkpoint ../kept/v6.json",
    ):
        r = subprocess.run(["bash", "-c", pin + command], cwd=folder, capture_output=True, text=True, env=env)
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert re.search(r"kept in \.\./kept/(revoked|v6)\.json", " ".join(r.stderr.split())), r.stderr
