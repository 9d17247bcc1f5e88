"""Attack review 24c: replays against review24b (no signature over a log whose hash chain is broken) and nc24
(newcomer fixes: the pre-commit hook fails closed when git fails, ``prov init`` notes a store hiding the project's).
A finding is ``xfail(strict=True)`` until fixed; a plain test pins an attack that held."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from support import store_fingerprint

PINNED = ("--signer", "maintainer.pub")
HOOK = Path(__file__).resolve().parents[2] / "examples" / "pre-commit" / "prov-pre-commit"


def git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=False)


# finding A24c-1 (fixed): a mistyped prov.watch path let every commit in
def test_a_mistyped_watch_path_does_not_let_a_dataset_commit_in(tmp_path):
    """nc24's hook refuses when `git diff --cached -- $watch` fails, but git fails only on a malformed pathspec
    (`:(nonsense)data`). A mistyped path (`dtaa` for `data`, `.porv` for `.prov`), the usual typo, is a valid
    pathspec matching nothing: git exits 0 with no output, the hook reads "this commit does not touch the
    dataset" and exits 0 before it runs prov at all, so a relabeled version is committed as before the fix."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    assert git(repo, "init", "-q").returncode == 0
    (repo / "data" / "train.parquet").write_bytes(b"a relabeled delivery")
    assert git(repo, "add", "data").returncode == 0
    r = run_hook(repo, PROV_WATCH="dtaa .porv")
    assert r.returncode != 0, r.stderr  # the staged dataset was never checked: the hook must not pass it
    assert r.returncode == 2 and r.stderr == (
        "prov pre-commit: the watched pathspec 'dtaa' (PROV_WATCH / git config prov.watch) matches no tracked or "
        "staged file; fix or remove it; commit refused\n"
    )
    r = run_hook(repo, PROV_WATCH="data .prov")  # .prov is not in git yet: named all the same
    assert r.returncode == 2 and "the watched pathspec '.prov' (PROV_WATCH" in r.stderr
    assert run_hook(repo, PROV_WATCH="data").returncode == 3  # the path fixed: prov (`false` here) is run


def test_a_repository_the_default_watched_paths_miss_is_refused_naming_them(tmp_path):
    """A24c-1's default side: a dataset kept under another folder than ``data`` (no ``.prov`` in git yet, no DVC)
    matched none of the default pathspecs and every commit got in; one must match, else the hook says to set them."""
    repo = tmp_path / "repo"
    (repo / "datasets").mkdir(parents=True)
    assert git(repo, "init", "-q").returncode == 0
    (repo / "datasets" / "train.parquet").write_bytes(b"a relabeled delivery")
    assert git(repo, "add", "datasets").returncode == 0
    r = run_hook(repo)
    assert r.returncode == 2 and r.stderr.startswith(
        "prov pre-commit: none of the default watched pathspecs (.prov data *.dvc) matches a tracked or staged file;"
    )
    assert run_hook(repo, PROV_WATCH="datasets").returncode == 3  # watched: prov (`false` here) is run


def run_hook(repo: Path, **settings: str) -> subprocess.CompletedProcess:
    """The example hook, run as git runs it, with ``prov`` a command that always fails (``PROV=false``): a hook
    that lets the commit in without running prov exits 0, one that runs it exits non-zero."""
    env = {**os.environ, "PROV": "false", "PROV_BASE": "v1", "PROV_SIGNERS": "k.pub", **settings}
    return subprocess.run(["sh", str(HOOK)], cwd=repo, env=env, capture_output=True, text=True, check=False)


# finding A24c-4 (fixed; before nc24): the shell globbed *.dvc in the hook's pathspecs
def test_a_staged_dvc_file_in_a_subfolder_is_watched_beside_one_at_the_top(tmp_path):
    """The hook splits ``$watch`` unquoted, so the shell expands the default ``*.dvc`` against the top folder: with
    ``data.dvc`` there, git is given the literal ``data.dvc`` and a staged ``datasets/train.dvc`` (which git's own
    ``*.dvc`` pathspec matches in every folder) is "not the dataset": exit 0, prov never run. (``set -f`` before
    splitting, or passing the pathspecs to git some other way, keeps them git's.)"""
    repo = tmp_path / "repo"
    (repo / "datasets").mkdir(parents=True)
    assert git(repo, "init", "-q").returncode == 0
    (repo / "data.dvc").write_text("outs: []\n")
    (repo / "datasets" / "train.dvc").write_text("outs: [{md5: 0, path: train}]\n")
    assert git(repo, "add", "datasets/train.dvc").returncode == 0
    r = run_hook(repo)
    assert r.returncode != 0, r.stderr
    assert "cannot find the version to check (prov log failed" in r.stderr  # prov was run: the .dvc file was seen


# finding A24c-2 (fixed): prov init made the store, then failed with exit 3
def test_init_under_a_prov_store_that_cannot_be_resolved_makes_the_store_and_names_it(prov, workdir, monkeypatch):
    """nc24's ``workspace.init_notes`` resolves ``PROV_STORE`` after ``init_workspace`` has made ``.prov/``:
    a ``PROV_STORE`` that is a symbolic link loop makes ``Path.resolve`` raise RuntimeError (Python < 3.13), so
    ``prov init`` prints "Initialised an empty prov store" and then exits 3 (internal error) with the store made.
    A failed command must leave nothing behind, and bad input is exit 2 naming the variable. Fixed: the notes are
    worked out first and raise nothing, so the store is made (exit 0) and the note names ``PROV_STORE`` as given."""
    os.symlink("loop", "loop")
    monkeypatch.setenv("PROV_STORE", str(workdir / "loop"))
    r = prov("init")
    assert r.exit_code in (0, 2), r.output
    assert r.exit_code == 0 or not (workdir / ".prov").exists()
    # the notes are worked out before the store is made; an unresolvable PROV_STORE is named as given
    assert r.exit_code == 0 and (workdir / ".prov" / "prov.db").is_file()
    assert r.stderr == (
        f"Note: PROV_STORE names {workdir / 'loop' / '.prov'}, so commands open that store, not this new one; "
        "unset PROV_STORE to use it\n"
    )


def test_check_attest_over_a_broken_log_attests_nothing_and_leaves_the_store(prov, template_trust, workdir):
    """Held: review24b's SIGNING_PATHS leave ``prov check --attest`` out ("a check over a broken log does not
    pass"). Replayed: an entry edited with sqlite3, then ``prov check v2 --attest --force``: exit 1, no attestation
    written or replaced, ``.prov/`` byte for byte as it was."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        seq, subject = db.execute("select seq, subject from audit order by seq desc").fetchone()
        db.execute("update audit set subject = ? where seq = ?", [subject + "x", seq])
    before = store_fingerprint(workdir / ".prov")
    kept = (workdir / "v2.attestation.json").read_bytes()
    r = prov("check", "v2", "--base", "v1", "--policy", "policy.toml", "--attest", "--force", "--key", "maintainer.key",
             *PINNED)  # fmt: skip
    assert r.exit_code == 1 and "no attestation written" in r.stderr, r.output
    assert store_fingerprint(workdir / ".prov") == before
    assert (workdir / "v2.attestation.json").read_bytes() == kept


def append_unchained_entry(workdir: Path) -> None:
    """As a ``.prov/`` writer with sqlite3: append an entry whose chain hash is not its own (the log's state up to
    it untouched, so every earlier kept state still holds; ``prov audit verify`` calls it broken)."""
    with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
        seq, head = db.execute("select seq, hash from audit order by seq desc").fetchone()
        db.execute(
            "insert into audit (seq, ts, action, subject, detail, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?)",
            [seq + 1, "2026-01-01T00:00:00Z", "note", "planted", "{}", head, "0" * 64],
        )


# finding A24c-3 (fixed): --attest-out was written inside the write, before the refusal over a broken log
def test_an_attestation_refused_over_a_log_broken_during_the_check_leaves_no_file(template_trust, workdir):
    """review24b refuses ``prov check --attest`` when its closing checkpoint would sign a broken log, and says
    "nothing was signed", "no file written". But ``gate.attestation.attest`` writes ``--attest-out`` inside the
    write, before ``Store.write`` signs that checkpoint: the database rolls back, the signed attestation file stays.
    Replayed as ``prov check --attest`` runs it (``api_review.check``): the check on the snapshot passes, then a
    ``.prov/`` writer appends an unchained entry before the attestation's write (the log still extends the state
    the check verified, so ``require_extends`` lets it by), then the attestation is written. Checked by hand: once
    the planted entry is deleted, ``prov verify v2 --attestation`` accepts the left file as "release 2", and the
    next ``prov check --attest`` signs another "release 2" (the store's counter was rolled back)."""
    from provenance.errors import VerificationError
    from provenance.gate import gate
    from provenance.gate.attestation import attest
    from provenance.gate.policy import load as load_policy
    from provenance.gate.release_history import place_release
    from provenance.store.log_state import current, require_extends
    from provenance.store.store import Store
    from provenance.trust.pins import Pins

    store = Store.open(workdir, pins=Pins.load(["maintainer.pub"]))
    pol = load_policy("policy.toml")
    with store.snapshot() as frozen:
        log_before = current(frozen)
        placed = place_release(frozen, "v2", log_before)
        result = gate.check(frozen, "v2", "v1", pol)
    assert result.decision in ("pass", "warned")
    append_unchained_entry(workdir)  # while the check ran
    before = store_fingerprint(workdir / ".prov")
    require_extends(store, log_before, "prov check v2 --attest")  # holds: the break is after the checked state
    with pytest.raises(VerificationError, match="prov signs no log state over a broken log"):
        attest(store, result, pol, "maintainer.key", "released.attestation.json", log_before, True, placed)
    assert store_fingerprint(workdir / ".prov") == before
    assert not (workdir / "released.attestation.json").exists()  # a signed release file of a refused command


def test_a_quarantine_out_named_csv_is_refused_with_the_store_and_folder_as_they_were(prov, template_trust, workdir):
    """Held: nc24 refuses a table's ``--out`` named ``.csv`` inside ``write_without``, after the source's records
    are worked out and the data hashed again; replayed, the refusal is exit 2 naming the file, ``.prov/`` byte for
    byte as it was, no staging or partial copy left, and the same quarantine to a ``.parquet`` name then works."""
    before = store_fingerprint(workdir / ".prov")
    listing = sorted(p.name for p in workdir.iterdir())
    args = ("quarantine", "--from", "v3", "--source", "crowd", "--tag", "v3q2", "--key", "maintainer.key", *PINNED)
    r = prov(*args, "--out", "v3q2.csv")
    assert r.exit_code == 2 and r.stderr.startswith("Error: v3q2.csv: the copy of a table is written as Parquet")
    assert store_fingerprint(workdir / ".prov") == before
    assert sorted(p.name for p in workdir.iterdir()) == listing
    assert prov(*args, "--out", "v3q2.parquet").exit_code == 0


def test_an_attestation_file_that_cannot_be_written_leaves_the_store_as_it_was(prov, template_trust, workdir):
    """A24c-3's fix puts --attest-out in place only after the store's write commits; its bytes are still written
    (to a temporary file beside it) inside that write, so a folder nothing can be created in (``/proc``, even for
    root) is exit 2 naming the file, with no attestation recorded (the check's own detector run is kept, and the
    ``check`` entry that records it: both are the check's, not the attestation's)."""

    def recorded() -> tuple[list, list, list]:
        with sqlite3.connect(workdir / ".prov" / "prov.db") as db:
            return (
                db.execute("select * from attestations order by object").fetchall(),
                db.execute(
                    "select seq, action from audit where action not in ('detect', 'check') order by seq"
                ).fetchall(),
                db.execute("select count(*) from checkpoints").fetchall(),
            )

    before = recorded()
    r = prov("check", "v2", "--base", "v1", "--policy", "policy.toml", "--attest", "--attest-out", "/proc/v2.json",
             "--key", "maintainer.key", *PINNED)  # fmt: skip
    assert r.exit_code == 2 and r.stderr.startswith("Error: --attest-out /proc/v2.json: cannot write ("), r.output
    assert recorded() == before  # no attestation row, no attest entry, no checkpoint signed over them
