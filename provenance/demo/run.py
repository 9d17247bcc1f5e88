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

    Raises:
        InputError: ``workdir`` exists, is not empty and was not made by ``prov demo``.
    """
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            raise InputError(f"{workdir}: folder exists and is not a previous prov demo; choose another --dir")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)  # an empty folder the user made is fine
    (workdir / MARKER).write_text("made by prov demo\n")
    return workdir


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
    finally:
        os.chdir(cwd if os.path.isdir(cwd) else workdir)
    facts["seconds"] = round(time.perf_counter() - started, 2)
    echo(f"\nDone in {facts['seconds']} s. Everything is in {workdir}.")
    return facts
