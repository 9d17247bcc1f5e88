"""Ctrl-C: a real SIGINT to a real `prov commit` process exits 130 and leaves the store as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from support import store_fingerprint

# The process runs prov's console entry point; one library function is wrapped so that it says
# "I am here" (a file) and then waits, so the signal lands at a known point, not at a time.
HARNESS = """
import importlib, pathlib, signal, sys, time
# Ctrl-C as a terminal delivers it: a process started from a background job inherits SIGINT
# ignored, and Python then never raises KeyboardInterrupt (CI may start the suite that way)
signal.signal(signal.SIGINT, signal.default_int_handler)
module_name, name, ready = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
owner = importlib.import_module(module_name)
target = owner.Store if name == "put_object" else owner
original = getattr(target, name)
def wrapped(*args, **kwargs):
    result = original(*args, **kwargs) if name == "put_object" else None
    ready.write_text("here")
    while True:
        time.sleep(0.05)
setattr(target, name, wrapped)
sys.argv = ["prov", *sys.argv[4:]]
from provenance.cli import main
main()
"""


@pytest.mark.parametrize(
    "module, name",
    [
        ("provenance.versions", "build_manifest"),  # while hashing, before the store is locked
        ("provenance.store.store", "put_object"),  # inside the write: the manifest object is already stored
    ],
)
def test_sigint_exits_130_and_leaves_the_store_as_it_was(prov, workdir, digits_parquet, module, name):
    prov("init")
    prov("keys", "generate", "k")
    assert prov("commit", digits_parquet, "--tag", "v1", "--key", "k.key").exit_code == 0
    before = store_fingerprint(workdir / ".prov")
    ready = workdir / "ready"
    args = ["commit", str(digits_parquet), "--tag", "v2", "--key", "k.key", "--signer", "k.pub"]
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, module, name, str(ready), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120  # a guard against a hang, not a measurement
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.communicate()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave the stuck child running after a failure
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "Error: interrupted; the store is left as it was"
    assert store_fingerprint(workdir / ".prov") == before
    assert (
        prov("commit", digits_parquet, "--tag", "v2", "--key", "k.key", "--signer", "k.pub").exit_code == 0
    )  # and it still works
