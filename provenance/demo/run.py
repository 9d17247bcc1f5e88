"""``prov demo``: a real end-to-end run on real data (scikit-learn's handwritten digits).

The demo is the ordered list ``STEPS``; each step takes the store, the demo folder and
an ``echo`` function, and returns the facts it showed (``prov demo --json`` prints them
all). Every step goes through the same library calls the commands use and prints the
command a user would type for it, so the output doubles as a tutorial.
"""

from __future__ import annotations

import os
import shutil
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


def prepare(workdir: Path) -> Path:
    """Create ``workdir`` (empty but for the marker), replacing an earlier demo there.

    An earlier demo is replaced only when every file in it (outside its store, ``.prov/``) is one
    the demo wrote: the marker lists them when the demo finishes. prov never deletes a file it
    did not write, so a note or an attestation the user added stops the rerun.

    Raises:
        InputError: ``workdir`` exists, is not empty and was not made by ``prov demo``, or holds
            files the demo did not write.
    """
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise InputError(f"{workdir}: folder exists and is not a previous prov demo; choose another --dir")
        written = _listed(workdir)
        if written is not None:
            extra = sorted(set(_files(workdir)) - written - {MARKER})
            if extra:
                shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
                raise InputError(
                    f"{workdir}: holds {shown}, which prov demo did not write; "
                    "move them away (the demo replaces the folder) or choose another --dir"
                )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)  # an empty folder the user made is fine
    (workdir / MARKER).write_text("made by prov demo\n")
    return workdir


def _files(workdir: Path) -> list[str]:
    """Every file and link below ``workdir`` outside its store (``.prov/``), as relative POSIX paths."""
    found = []
    for root, dirs, names in os.walk(workdir):
        if Path(root) == workdir and ".prov" in dirs:
            dirs.remove(".prov")
        found += [(Path(root) / n).relative_to(workdir).as_posix() for n in names]
        found += [(Path(root) / d).relative_to(workdir).as_posix() for d in dirs if (Path(root) / d).is_symlink()]
    return found


def _listed(workdir: Path) -> set[str] | None:
    """The files the marker says the demo wrote; None for a demo that did not finish (or predates the list)."""
    lines = (workdir / MARKER).read_text(encoding="utf-8", errors="replace").splitlines()
    if "files written:" not in lines:
        return None
    return set(lines[lines.index("files written:") + 1 :])


def _record_files(workdir: Path) -> None:
    """Write the files the demo made into its marker, so a rerun may replace exactly those."""
    files = sorted(set(_files(workdir)) - {MARKER})
    (workdir / MARKER).write_text("made by prov demo\nfiles written:\n" + "".join(f + "\n" for f in files))


def run_demo(workdir: Path, echo: Callable[[str], None] = print) -> dict:
    """Run every step in ``workdir`` (recreated) and return the facts they showed, plus ``workdir`` and ``seconds``.

    Raises:
        InputError: ``workdir`` holds something that is not an earlier demo, or scikit-learn is missing.
    """
    started = time.perf_counter()
    cwd = os.getcwd()
    workdir = Path(workdir).resolve()
    os.chdir(workdir.parent if workdir.parent.is_dir() else "/")  # the folder may be replaced, cwd included
    workdir = prepare(workdir)
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
    echo(f"\nDone in {facts['seconds']} s. Everything is in {workdir}.")
    return facts
