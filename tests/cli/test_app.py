"""The command line is assembled lazily from one command table; none is left out, and
``prov --help`` and the light commands import none of the heavy modules."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import typer.main

import provenance.cli
from provenance.cli import _lazy
from provenance.cli._app import app

HEAVY = ("pandas", "scipy", "sklearn", "dvc", "dask", "numpy", "pyarrow")


def test_every_command_is_in_the_lazy_table_with_its_module_and_help():
    modules = sorted(m.name for m in pkgutil.iter_modules(provenance.cli.__path__) if not m.name.startswith("_"))
    assert sorted({m for m, _ in _lazy.COMMANDS.values()}) == modules
    _lazy.load_all()
    eager = typer.main.get_group(app).commands
    assert set(eager) == set(_lazy.COMMANDS), "a command is missing from provenance/cli/_lazy.py COMMANDS"
    for name, command in eager.items():
        module, help_line = _lazy.COMMANDS[name]
        owner = command.callback.__module__ if command.callback else None
        if owner is not None:  # groups (keys, audit, trust) have no callback of their own
            assert owner == f"provenance.cli.{module}", name
        assert help_line == (command.help or "").split("\n\n")[0], name


def prov_help(eager: bool) -> str:
    """``prov --help`` in a fresh process, with every command module imported first if ``eager``."""
    code = "import sys\nfrom provenance.cli import _lazy, main\nsys.argv = ['prov', '--help']\n"
    code += ("_lazy.load_all()\n" if eager else "") + "main()\n"
    env = {**os.environ, "COLUMNS": "100", "TERMINAL_WIDTH": "100"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_lazy_help_prints_what_the_eager_help_prints():
    lazy = prov_help(eager=False)
    assert lazy == prov_help(eager=True)
    assert all(f" {name} " in lazy for name in _lazy.COMMANDS)


def modules_loaded(args: list[str], cwd: Path, names: tuple[str, ...] = HEAVY) -> set[str]:
    """Which of ``names`` (default: the heavy modules) one ``prov`` process imports, run as the console script runs."""
    code = (
        "import sys, atexit\n"
        f"atexit.register(lambda: print(' '.join(m for m in {names!r} if m in sys.modules), file=sys.stderr))\n"
        f"sys.argv = ['prov', *{args!r}]\n"
        "from provenance.cli import main\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    return set(out.stderr.strip().splitlines()[-1].split()) if out.stderr.strip() else set()


def test_help_and_the_store_commands_import_no_heavy_module(tmp_path):
    assert modules_loaded(["--help"], tmp_path) == set()
    assert modules_loaded(["init"], tmp_path) == set()
    assert modules_loaded(["log"], tmp_path) == set()
    assert modules_loaded(["keys", "generate", "k"], tmp_path) == set()


def test_sign_add_and_verify_import_neither_pandas_nor_scipy(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "a"]}), tmp_path / "b.parquet")
    assert modules_loaded(["init"], tmp_path) == set()
    assert modules_loaded(["keys", "generate", "k"], tmp_path) == set()
    not_needed = {"pandas", "scipy", "sklearn", "dvc", "dask"}
    for args in (
        ["sign", "b.parquet", "--source", "v", "--key", "k.key"],
        ["trust", "add", "v", "k.pub", "--unsigned"],
        ["add", "b.parquet", "--source", "v", "--store-keys"],
        ["verify", "b.parquet", "--store-keys"],
    ):
        assert modules_loaded(args, tmp_path) & not_needed == set(), args
    assert (tmp_path / "b.parquet.prov.json").exists()


def test_show_imports_no_heavy_module_and_sign_opens_no_store(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0], "label": ["a", "b", "a"]}), tmp_path / "b.parquet")
    for args in (["init"], ["keys", "generate", "k"], ["commit", "b.parquet", "--tag", "v1", "--key", "k.key"]):
        subprocess.run([sys.executable, "-m", "provenance", *args], cwd=tmp_path, check=True, capture_output=True)
    assert modules_loaded(["show", "v1", "--signer", "k.pub"], tmp_path) == set()
    assert modules_loaded(["log"], tmp_path) == set()
    # a vendor signs without a store: neither the store's sqlite-utils nor its trust tables load
    args = ["sign", "b.parquet", "--source", "v", "--key", "k.key"]
    assert modules_loaded(args, tmp_path, ("sqlite_utils", "provenance.store")) == set()
    assert (tmp_path / "b.parquet.prov.json").exists()


def test_an_image_tree_commit_imports_no_package_metadata_reader(tmp_path):
    """``importlib.metadata`` (with ``email``, ``zipfile``, ``csv``) is read only for a featuriser that is not
    built in: a commit with the built-in image featuriser pays none of it (issue 15's image-tree aim)."""
    import numpy as np
    from PIL import Image

    for i in range(6):
        folder = tmp_path / "tree" / str(i % 2)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((np.arange(64).reshape(8, 8) * (i + 1) % 256).astype(np.uint8)).save(folder / f"{i}.png")
    for args in (["init"], ["keys", "generate", "k"]):
        subprocess.run([sys.executable, "-m", "provenance", *args], cwd=tmp_path, check=True, capture_output=True)
    args = ["commit", "tree", "--tag", "v1", "--key", "k.key"]
    assert modules_loaded(args, tmp_path, ("importlib.metadata", "scipy", "sklearn", "pandas", "PIL.Image")) == {
        "PIL.Image"  # the profile decoded the images
    }
    assert (tmp_path / ".prov").is_dir()
    out = subprocess.run(
        [sys.executable, "-m", "provenance", "show", "v1", "--json", "--signer", "k.pub"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def allocator_setting(args: list[str], cwd: Path, setting: str | None = None) -> str | None:
    """``MIMALLOC_PURGE_DELAY`` as one ``prov`` process left it (``setting``: the user's own value, if any)."""
    code = (
        "import os, sys, atexit\n"
        "atexit.register(lambda: print(os.environ.get('MIMALLOC_PURGE_DELAY'), file=sys.stderr))\n"
        f"sys.argv = ['prov', *{args!r}]\n"
        "from provenance.cli import main\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MIMALLOC_PURGE_DELAY"}
    if setting is not None:
        env["MIMALLOC_PURGE_DELAY"] = setting
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env=env)
    value = out.stderr.strip().splitlines()[-1]
    return None if value == "None" else value


def test_diff_and_check_give_freed_memory_back_and_other_commands_keep_it(tmp_path):
    # a diff streams two manifests window by window: kept pages would only hold its peak
    assert allocator_setting(["diff", "--help"], tmp_path) == "10"
    assert allocator_setting(["check", "--help"], tmp_path) == "10"
    assert allocator_setting(["log", "--help"], tmp_path) == "-1"  # commit's choice (sources.memory)
    assert allocator_setting(["diff", "--help"], tmp_path, setting="250") == "250"  # the user's wins


def test_the_process_ends_with_the_commands_status_after_pools_threads_and_atexit(tmp_path):
    """Attack review 3, finding 11: ``prov`` sometimes died at exit with SIGABRT (134) after its command had
    finished. ``exit_with`` runs the shutdown that needs Python (pools, threads, atexit, flush) and then ends
    the process with the command's status; what a command printed and left running is finished first."""
    code = (
        "import atexit, sys, time\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from provenance.cli import exit_with\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "pool = ThreadPoolExecutor(2)  # never shut down by its user\n"
        "pool.submit(lambda: (time.sleep(0.2), print('pool job done', file=sys.stderr)))\n"
        "sys.stdout.write('x' * 200000)  # buffered, not flushed\n"
        "exit_with(3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 3
    assert out.stdout == "x" * 200000
    assert out.stderr.splitlines() == ["pool job done", "atexit ran"]


def test_the_cli_exits_with_the_commands_status(tmp_path):
    for args, status in ((["--version"], 0), (["log"], 2), (["no-such-command"], 2)):
        code = f"import sys\nsys.argv = ['prov', *{args!r}]\nfrom provenance.cli import main\nmain()\n"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == status, (args, out.stderr)
    assert out.stderr.startswith("Error:") or "No such command" in out.stderr


def test_prov_alone_prints_the_help_and_exits_2(tmp_path):
    """A newcomer's first command: ``prov`` with no command shows what ``prov --help`` shows
    (exit 2, click's code for a missing command, so an empty ``prov "$CMD"`` in a script fails)."""
    code = "import sys\nfrom provenance.cli import main\nsys.argv = ['prov']\nmain()\n"
    env = {**os.environ, "COLUMNS": "100", "TERMINAL_WIDTH": "100"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 2, out.stderr
    assert out.stdout.startswith("Usage: prov [OPTIONS] COMMAND")
    assert out.stdout == prov_help(eager=False)
