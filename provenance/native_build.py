"""Compiling prov's optional C extensions in place, and the ``python -m`` entry their modules share.

``pip install`` builds ``provenance._fastsha`` and ``provenance._fastknn`` through ``setup.py``;
a source tree installed without them is given them by ``python -m provenance.fastsha build``
(or ``fastknn``), which compiles here with the optimisation flags ``setup.py`` gives each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path


def compile_extension(
    name: str, source: Path, flags: Sequence[str], libraries: Sequence[str] = (), target_dir: Path | None = None
) -> Path:
    """Compile the C file ``source`` into the extension module ``provenance.<name>`` with ``$CC`` (default ``cc``).

    Args:
        name: the module's name (``"_fastsha"``); the file takes the interpreter's ``EXT_SUFFIX``.
        source: the C source.
        flags: optimisation flags, as ``setup.py`` gives them (``["-O2"]``).
        libraries: libraries to link (``["crypto"]`` for OpenSSL).
        target_dir: where the module is written (default: the ``provenance`` package folder).

    Returns:
        The compiled module's path.

    Raises:
        subprocess.CalledProcessError: the compiler failed (no compiler, missing headers).
    """
    target = (target_dir or Path(__file__).parent) / (name + sysconfig.get_config_var("EXT_SUFFIX"))
    include = sysconfig.get_paths()["include"]
    cc = os.environ.get("CC", "cc")
    links = [f"-l{lib}" for lib in libraries]
    subprocess.run([cc, *flags, "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(target), *links], check=True)
    return target


def main(build: Callable[[], Path], path_description: Callable[[], str]) -> None:
    """``python -m provenance.<module> build`` compiles the extension and prints its path; without
    arguments, prints which path runs (``path_description``)."""
    print(build() if sys.argv[1:] == ["build"] else path_description())
