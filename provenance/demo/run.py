"""``prov demo``: a real end-to-end run on real data (scikit-learn's handwritten digits).

The demo is the ordered list ``STEPS``; each step takes the store, the demo folder and
an ``echo`` function, and returns the facts it showed (``prov demo --json`` prints them
all). Every step goes through the same library calls the commands use and prints the
command a user would type for it, so the output doubles as a tutorial.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from provenance.demo import diff_steps, gate_steps, lineage_steps, version_steps
from provenance.errors import InputError
from provenance.store import Store

MARKER = ".prov-demo"
"""The file that marks a folder as made by ``prov demo`` (so a rerun may replace it)."""

Step = Callable[[Store, Path, Callable[[str], None]], dict]

STEPS: tuple[Step, ...] = (
    version_steps.demo_step,  # data, store, key, v1 and v2 signed and verified, a flipped label caught
    lineage_steps.demo_step,  # a signing vendor, an unsigned crowd, a relabel after source, quarantine
    diff_steps.demo_step,  # a candidate with planted changes, diffed against v2; HTML and Markdown reports
    gate_steps.demo_step,  # planted attacks caught on the delta, the release blocked, then passed and attested
)
"""The demo, in order; each step builds on the store the steps before it left."""


def prepare(workdir: Path, fresh: bool = False) -> Path:
    """Create ``workdir`` (empty but for the marker), deleting an earlier demo there.

    prov deletes only files it wrote: the marker lists each file the demo wrote, its store
    (``.prov/``) included, with its SHA-256, when the demo finishes. A rerun deletes those
    files, then the folders they leave empty, and nothing else; it first refuses (nothing
    deleted) when any file there is not listed, is not the bytes the demo wrote (a version,
    waiver or detector run the user added to the demo's store changes ``.prov/prov.db``), or
    is a link, and when the marker has no list (a demo that did not finish, or a marker
    someone else wrote): attack review 9b, M9b-1. ``fresh`` (``prov demo --fresh``) deletes the demo's store whatever
    it holds: what a user did in it after the demo (the README's ``prov check rc1 --base r1`` saves a detector run
    there, and the rerun refused it, newcomer review 27, finding 7); files outside ``.prov/`` are checked as ever.

    Raises:
        InputError: ``workdir`` exists, is not empty and was not made by ``prov demo``, or holds
            a file the demo did not write or that changed since (exit 2, naming it).
    """
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise InputError(f"{workdir}: folder exists and is not a previous prov demo; choose another --dir")
        _delete_own_files(workdir, _listed(workdir), fresh)
    workdir.mkdir(parents=True, exist_ok=True)  # an empty folder the user made is fine
    (workdir / MARKER).write_text("made by prov demo\n")
    return workdir


_KEEP = (
    "prov demo deletes only files it wrote, unchanged: move it away, or delete the folder yourself "
    "if nothing in it is yours, or choose another --dir"
)


def _delete_own_files(workdir: Path, written: dict[str, str] | None, fresh: bool = False) -> None:
    """Delete the files ``written`` lists (path -> SHA-256) and the folders they leave empty, after checking
    that every file below ``workdir`` is one of them, unchanged; else ``InputError``, nothing deleted. With
    ``fresh``, every file in the store the demo made (``.prov/``, listed as the demo's) is deleted unchecked."""
    if written is None:
        raise InputError(
            f"{workdir}: a prov demo that did not finish (its {MARKER} lists no files), so prov cannot tell "
            f"its files from yours; {_KEEP}"
        )
    found = _files(workdir)
    own_store = fresh and any(rel.startswith(".prov/") for rel in written)  # the demo made this store
    for rel in found:
        path = workdir / rel
        if own_store and rel.startswith(".prov/"):
            continue  # deleted whatever it holds: --fresh
        problem = None
        if path.is_symlink() or not path.is_file():
            problem = "is a link or not a regular file, which prov demo never writes"
        elif rel not in written:
            problem = "prov demo did not write it"
        elif _sha256(path) != written[rel]:
            problem = "changed since prov demo wrote it"
        if problem and rel.startswith(".prov/"):  # the user's work in the demo's store: say so in those words
            raise InputError(
                f"{workdir / '.prov'}: the demo's store holds work done after the demo ({rel}: {problem}; "
                "a version, waiver or detector run changes it, and prov check saves a detector run); prov demo deletes "
                "only files it wrote, unchanged: prov demo --fresh deletes that store with the demo's files and starts "
                "afresh, or choose another --dir"
            )
        if problem:
            raise InputError(f"{path}: {problem}; {_KEEP}")
    for rel in found:
        (workdir / rel).unlink()
    (workdir / MARKER).unlink()
    for root, dirs, _names in os.walk(workdir, topdown=False):
        for d in dirs:
            try:
                (Path(root) / d).rmdir()  # only a folder left empty; one that is not stays
            except OSError:
                pass
    try:
        workdir.rmdir()
    except OSError:
        pass


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(workdir: Path) -> list[str]:
    """Every file and link below ``workdir``, its store included, but the marker, as relative POSIX paths."""
    found = []
    for root, dirs, names in os.walk(workdir):
        found += [(Path(root) / n).relative_to(workdir).as_posix() for n in names]
        found += [(Path(root) / d).relative_to(workdir).as_posix() for d in dirs if (Path(root) / d).is_symlink()]
    return sorted(f for f in found if f != MARKER)


def _listed(workdir: Path) -> dict[str, str] | None:
    """The files the marker says the demo wrote (path -> SHA-256); None when it lists none: a demo that
    did not finish, or one before the list carried digests."""
    lines = (workdir / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    if "files written (sha256, path):" not in lines:
        return None
    out = {}
    for line in lines[lines.index("files written (sha256, path):") + 1 :]:
        digest, _, rel = line.partition(" ")
        if len(digest) == 64 and rel:
            out[rel] = digest
    return out


def _record_files(workdir: Path) -> None:
    """Write the files the demo made, with their SHA-256, into its marker, so a rerun deletes exactly those."""
    listed = "".join(f"{_sha256(workdir / f)} {f}\n" for f in _files(workdir))
    (workdir / MARKER).write_text("made by prov demo\nfiles written (sha256, path):\n" + listed)


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended (``os.times``)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_demo(workdir: Path, echo: Callable[[str], None] = print, fresh: bool = False) -> dict:
    """Run every step in ``workdir`` (recreated) and return the facts they showed, plus ``workdir``, ``seconds``
    (wall clock) and ``cpu_seconds`` (CPU time, user + system, of this process and
    the worker processes it waited for).

    Raises:
        InputError: ``workdir`` holds something that is not an earlier demo, or scikit-learn is missing.
    """
    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    cwd = os.getcwd()
    workdir = Path(workdir).resolve()
    os.chdir(workdir.parent if workdir.parent.is_dir() else "/")  # the folder may be replaced, cwd included
    workdir = prepare(workdir, fresh)
    facts: dict = {"workdir": str(workdir)}
    os.chdir(workdir)
    try:
        store = Store.init(workdir)
        for step in STEPS:
            facts.update(step(store, workdir, echo))
        store.close()
        _record_files(workdir)
    finally:
        os.chdir(cwd if os.path.isdir(cwd) else workdir)
    facts["seconds"] = round(time.perf_counter() - started, 2)
    facts["cpu_seconds"] = round(_cpu_seconds() - cpu_started, 2)
    echo(
        f"\nDone in {facts['seconds']} s ({facts['cpu_seconds']} s of CPU; on a busy machine the wall time is"
        f" the larger). Everything is in {workdir}."
    )
    return facts
