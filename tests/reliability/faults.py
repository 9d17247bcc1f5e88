"""Real faults for prov: a store worth damaging, SIGKILLs at random moments, byte flips.

Shared by the tests in this folder (small counts, in CI) and by
``bench/reliability_harness.py`` (the full counts, which writes the figures). Nothing
here is mocked: the stores, keys, Parquet/CSV files and subprocesses are real, and the
kills are real SIGKILLs.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from typer.testing import CliRunner

from provenance import keys, versions
from provenance.cli import app
from provenance.lineage import batch_sign, register
from provenance.lineage.quarantine import quarantine as quarantine_version
from provenance.sources.build import build_manifest
from provenance.sources.interface import DatasetSpec
from provenance.sources.tables import TableOptions
from provenance.store import Store
from provenance.trust import source_keys as trust

PROV = str(Path(sys.executable).parent / "prov")
SCALE = float(os.environ.get("PROV_RELIABILITY_SCALE", "1"))  # e.g. 5 runs the tests' counts 5x bigger


def scaled(n: int) -> int:
    """``n`` times ``PROV_RELIABILITY_SCALE`` (at least 1): the tests' counts, scaled."""
    return max(1, int(n * SCALE))


CRASH_MARKERS = ("Traceback", "internal error")


# --- running prov -----------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def crashed(self) -> bool:
        return any(m in self.stdout or m in self.stderr for m in CRASH_MARKERS)


def prov_inline(*args, cwd: Path, env: dict | None = None) -> Run:
    """``prov ARGS`` in this process (fast); an escaping exception is a crash, reported as such."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(app, [str(a) for a in args], env=env, catch_exceptions=True)
    finally:
        os.chdir(old)
    stderr = r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        import traceback

        stderr += "Traceback (escaped the CLI):\n" + "".join(traceback.format_exception(r.exception))
    return Run(r.exit_code, r.stdout, stderr)


def prov_process(*args, cwd: Path, env: dict | None = None, timeout: float = 120) -> Run:
    """``prov ARGS`` as a real subprocess."""
    p = subprocess.run(
        [PROV, *map(str, args)], cwd=cwd, env=clean_env(env), capture_output=True, text=True, timeout=timeout
    )
    return Run(p.returncode, p.stdout, p.stderr)


def clean_env(extra: dict | None = None) -> dict:
    """This process's environment without prov's user settings (passphrase, store, key), one worker
    unless ``PROV_WORKERS`` is set, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PROV_PASSPHRASE", "PROV_STORE", "PROV_KEY")}
    env.setdefault("PROV_WORKERS", "1")
    env.update(extra or {})
    return env


# --- a store worth damaging ---------------------------------------------------------


def digits(n: int, offset: int = 0) -> pa.Table:
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data.astype(np.int64)[offset : offset + n], d.target[offset : offset + n]
    cols = {f"px{i:02d}": X[:, i] for i in range(X.shape[1])}
    cols["label"] = [str(v) for v in y]
    return pa.table(cols)


def random_batch(seed: int, n: int = 40) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {"x": rng.integers(0, 1 << 40, n), "y": rng.normal(size=n), "label": [str(v) for v in rng.integers(0, 5, n)]}
    )


@dataclass
class World:
    """A store with every kind of row: versions (table, CSV, tree, quarantined), signed
    and unsigned batches with lineage, trusted and revoked keys."""

    root: Path
    owner: keys.KeyPair
    vendor: keys.KeyPair
    other: keys.KeyPair
    tags: list[str]
    batch_envelope: Path

    @property
    def prov_dir(self) -> Path:
        return self.root / ".prov"

    def store(self) -> Store:
        return Store(self.prov_dir)

    def copy_to(self, root: Path) -> World:
        """The same world in another folder (stores keep data paths relative, so it moves whole)."""
        import shutil

        shutil.copytree(self.root, root, symlinks=True)
        moved = lambda pair: keys.KeyPair(root / pair.private_path.name, root / pair.public_path.name, pair.keyid)  # noqa: E731
        return World(
            root,
            moved(self.owner),
            moved(self.vendor),
            moved(self.other),
            list(self.tags),
            root / self.batch_envelope.name,
        )


def build_world(root: Path, rows: int = 200) -> World:
    root.mkdir(parents=True, exist_ok=True)
    old = os.getcwd()
    os.chdir(root)
    try:
        os.environ.pop("PROV_PASSPHRASE", None)
        store = Store.init(root)
        owner, vendor, other = (keys.generate(root / n) for n in ("owner", "vendor", "other"))
        vendor_t, crowd_t = digits(rows // 2), digits(rows // 2, offset=rows // 2)
        pq.write_table(vendor_t, root / "vendor.parquet")
        pq.write_table(crowd_t, root / "crowd.parquet")
        pq.write_table(pa.concat_tables([vendor_t, crowd_t]), root / "train.parquet", row_group_size=64)
        trust.add_key(store, "vendor", vendor.public_path, unsigned=True)
        trust.add_key(store, "other", other.public_path, valid_from="2020-01-01", unsigned=True)
        trust.revoke(store, "other", reason="rotated")
        env = batch_sign.sign_batch(DatasetSpec(str(root / "vendor.parquet")), "vendor", vendor.private_path)
        register.add_batch(store, DatasetSpec(str(root / "vendor.parquet")), "vendor", store_keys=True)
        register.add_batch(store, DatasetSpec(str(root / "crowd.parquet")), "crowd", unsigned=True)
        versions.commit(store, DatasetSpec("train.parquet"), "v1", str(owner.private_path))
        extra = digits(rows + 20)
        pacsv.write_csv(extra, root / "train.csv")
        versions.commit(store, DatasetSpec("train.csv"), "v2", str(owner.private_path))
        tree = root / "images"
        for i in range(12):
            (tree / str(i % 3)).mkdir(parents=True, exist_ok=True)
            (tree / str(i % 3) / f"img{i:02d}.bin").write_bytes(hashlib.sha256(b"%d" % i).digest() * (i + 1))
        every_file = TableOptions(tree_reader="files")  # a tree of .bin files: every file is a record
        versions.commit(store, DatasetSpec("images", options=every_file), "v3", str(owner.private_path))
        quarantine_version(
            store, "v1", "v4", str(owner.private_path), source="crowd", out=str(root / "train.v4.parquet")
        )
        store.close()
    finally:
        os.chdir(old)
    return World(root, owner, vendor, other, ["v1", "v2", "v3", "v4"], Path(env.envelope))


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- logical state: what a user can see of the store ------------------------------------


def logical_state(prov_dir: Path) -> dict:
    """Versions, batches, keys and audit subjects, as a user would list them."""
    conn = sqlite3.connect(prov_dir / "prov.db")
    try:
        q = lambda sql: [tuple(r) for r in conn.execute(sql)]  # noqa: E731
        return {
            "versions": q(
                "select tag, parent, merkle_root, manifest_object, envelope_object from versions order by tag"
            ),
            "batches": q("select batch, records, manifest_object from batches order by batch"),
            "batch_records": q("select batch, count(*) from batch_records group by batch order by batch"),
            "lineage": q("select tag, object from version_lineage order by tag"),
            "keys": q("select keyid from keys order by keyid"),
            "audit": q("select seq, action, subject from audit order by seq"),
        }
    finally:
        conn.close()


def check_after_fault(world: World) -> dict:
    """``prov audit verify`` and ``prov fsck`` after a fault, with their outcome."""
    audit_run = prov_inline("audit", "verify", "--store-keys", cwd=world.root)
    fsck_run = prov_inline("fsck", "--json", cwd=world.root)
    try:
        report = json.loads(fsck_run.stdout)
    except json.JSONDecodeError:
        report = {"errors": [{"message": fsck_run.stderr}], "warnings": []}
    return {
        "audit_ok": audit_run.code == 0,
        "fsck_ok": fsck_run.code == 0,
        "crashed": audit_run.crashed or fsck_run.crashed,
        "fsck": report,
        "audit_out": audit_run.stdout + audit_run.stderr,
    }


# --- crash safety: SIGKILL at random moments --------------------------------------------


@dataclass
class KillResult:
    op: str
    mode: str
    delay: float
    killed: bool  # False when the command finished before the kill landed
    outcome: str  # "old" (no trace of the write) or "new" (complete), else "MIXED: ..."
    audit_ok: bool
    fsck_ok: bool
    warnings: int
    crashed: bool

    @property
    def survived(self) -> bool:
        return self.outcome in ("old", "new") and self.audit_ok and self.fsck_ok and not self.crashed


class KillRig:
    """Runs ``prov commit``, ``prov add`` and ``prov quarantine`` in a store and kills them."""

    def __init__(self, world: World, seed: int = 0, big_copies: int = 6):
        self.world = world
        self.rng = random.Random(seed)
        self.n = 0
        self.durations: dict[str, float] = {}
        self.big_copies = big_copies
        big = pa.concat_tables([digits(1797)] * big_copies)  # enough rows that hashing takes a while
        pq.write_table(big, world.root / "big.parquet", row_group_size=2048)

    def argv(self, op: str) -> tuple[list[str], str]:
        self.n += 1
        w, i = self.world, self.n
        if op == "commit":
            data = "big.parquet" if i % 2 else "train.parquet"
            return [
                "commit",
                data,
                "--tag",
                f"k{i}",
                "--key",
                w.owner.private_path,
                "--signer",
                w.owner.public_path,
            ], f"k{i}"
        if op == "add":
            path = w.root / f"batch{i}.parquet"
            pq.write_table(random_batch(1000 + i, n=3000 * self.big_copies if i % 2 else 50), path)
            if i % 3 == 0:  # a signed batch: its envelope is verified before anything is written
                batch_sign.sign_batch(DatasetSpec(str(path)), "vendor", w.vendor.private_path)
                return ["add", path.name, "--source", "vendor", "--store-keys"], "vendor@"
            return ["add", path.name, "--source", f"crowd{i}", "--unsigned"], f"crowd{i}@"
        if op == "quarantine":
            return [
                "quarantine",
                "--from",
                "v1",
                "--source",
                "crowd",
                "--tag",
                f"q{i}",
                "--key",
                w.owner.private_path,
                "--out",
                f"q{i}.parquet",
            ], f"q{i}"
        raise ValueError(op)

    def measure(self, op: str) -> float:
        """Wall time of one complete run, so random kill times cover all of it."""
        argv, _ = self.argv(op)
        start = time.perf_counter()
        r = prov_process(*argv, cwd=self.world.root)
        assert r.code == 0, r.stderr
        self.durations[op] = time.perf_counter() - start
        return self.durations[op]

    def trial(self, op: str, mode: str) -> KillResult:
        w = self.world
        if op not in self.durations:
            self.measure(op)
        argv, name = self.argv(op)
        before = logical_state(w.prov_dir)
        proc = subprocess.Popen(
            [PROV, *map(str, argv)], cwd=w.root, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        delay = 0.0
        if mode == "random":
            delay = self.rng.uniform(0.05, 0.9) * self.durations[op]
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                pass
        else:  # "write": kill just as the write protocol starts touching the store
            delay = self._wait_for_write(proc, self.rng.choice([0, 0, 0.0005, 0.002, 0.01, 0.03]))
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        after = logical_state(w.prov_dir)  # read before any prov command can roll back a journal
        checks = check_after_fault(w)
        after = logical_state(w.prov_dir)
        outcome = self._outcome(op, name, before, after)
        return KillResult(
            op,
            mode,
            round(delay, 4),
            killed,
            outcome,
            checks["audit_ok"],
            checks["fsck_ok"],
            len(checks["fsck"].get("warnings", [])),
            checks["crashed"],
        )

    def _wait_for_write(self, proc: subprocess.Popen, extra: float) -> float:
        objects, journal = self.world.prov_dir / "objects", self.world.prov_dir / "prov.db-journal"
        start_names = set(os.listdir(objects))
        t0 = time.perf_counter()
        while proc.poll() is None:
            if journal.exists() or set(os.listdir(objects)) - start_names:
                if extra:
                    time.sleep(extra)
                break
            time.sleep(0.0002)
        return time.perf_counter() - t0

    def _outcome(self, op: str, name: str, before: dict, after: dict) -> str:
        if after == before:
            return "old"
        new_versions = set(after["versions"]) - set(before["versions"])
        new_batches = set(after["batches"]) - set(before["batches"])
        gone = (set(before["versions"]) - set(after["versions"])) | (set(before["batches"]) - set(after["batches"]))
        if gone:
            return f"MIXED: lost {sorted(gone)}"
        if op in ("commit", "quarantine"):
            if len(new_versions) != 1 or new_batches or next(iter(new_versions))[0] != name:
                return f"MIXED: versions {sorted(new_versions)}, batches {sorted(new_batches)}"
            store = self.world.store()
            try:
                versions.verify_version(store, name, read_data=True)
            except Exception as exc:  # noqa: BLE001  (any failure here is the finding)
                return f"MIXED: new version {name} does not verify ({exc})"
            finally:
                store.close()
            return "new"
        if len(new_batches) != 1 or new_versions or not next(iter(new_batches))[0].startswith(name):
            return f"MIXED: versions {sorted(new_versions)}, batches {sorted(new_batches)}"
        bid, records, _ = next(iter(new_batches))
        if dict(after["batch_records"]).get(bid) != records:
            return f"MIXED: batch {bid} has {dict(after['batch_records']).get(bid)} of {records} indexed records"
        return "new"


def run_kills(
    world: World, n: int, seed: int = 0, ops=("commit", "add", "quarantine"), big_copies: int = 6
) -> list[KillResult]:
    rig = KillRig(world, seed, big_copies)
    results = []
    for i in range(n):
        op = ops[i % len(ops)]
        mode = "write" if (i // len(ops)) % 2 else "random"
        results.append(rig.trial(op, mode))
        if i % 10 == 9:  # clean up what the kills left, and check that cleaning keeps it whole
            r = prov_inline("fsck", "--repair", cwd=world.root)
            assert r.code == 0 and not r.crashed, r.stderr
    return results


# --- tamper detection: byte flips ------------------------------------------------------


@dataclass
class Mutation:
    target: str  # sqlite | manifest | envelope | lineage | profile | batch-envelope | data
    path: str
    offset: int
    xor: int
    meaningful: bool
    why: str  # how the mutation was classified
    detected: bool
    by: list[str]
    crashed: bool
    crash_output: str = ""


def _sqlite_dump(path: Path) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            return "\n".join(conn.iterdump())
        finally:
            conn.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        return None


def _sqlite_integrity(path: Path) -> bool:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            return [r[0] for r in conn.execute("pragma integrity_check")] == ["ok"]
        finally:
            conn.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        return False


class FuzzRig:
    def __init__(self, world: World, seed: int = 0):
        self.world = world
        self.rng = random.Random(seed)
        store = world.store()
        db = store.db
        obj = lambda oid: next((world.prov_dir / "objects").glob(f"{oid}.*"))  # noqa: E731
        manifests = {
            r[0] for r in db.execute("select manifest_object from versions union select manifest_object from batches")
        }
        envelopes = {
            r[0]
            for r in db.execute(
                "select envelope_object from versions union select envelope_object "
                "from batches where envelope_object is not null"
            )
        }
        lineages = {r[0] for r in db.execute("select object from version_lineage")}
        profiles = {r[0] for r in db.execute("select object from profiles")}
        self.specs = {r["tag"]: r["dataset"] for r in store.versions()}
        store.close()
        root = world.root
        self.targets = {
            "sqlite": [world.prov_dir / "prov.db"],
            "manifest": sorted(obj(o) for o in manifests),
            "envelope": sorted(obj(o) for o in envelopes),
            "lineage": sorted(obj(o) for o in lineages),
            "profile": sorted(obj(o) for o in profiles),
            "batch-envelope": [world.batch_envelope],
            "data": [
                root / "train.parquet",
                root / "train.csv",
                root / "train.v4.parquet",
                root / "vendor.parquet",
                *sorted((root / "images").rglob("*.bin")),
            ],
        }
        baseline, crashed, out = self._detect("data")
        if baseline or crashed:  # a damaged or stale store would make every flip look "caught"
            raise AssertionError(f"the untouched store does not pass {baseline}: {out}")
        self.pristine_dump = _sqlite_dump(world.prov_dir / "prov.db")
        self.pristine_roots = {p: self._data_root(p) for p in self.targets["data"]}
        self.fingerprint = fingerprint(root)

    def _data_root(self, path: Path) -> str:
        try:
            return build_manifest(
                DatasetSpec(str(path))
                if path.suffix != ".bin"
                else DatasetSpec(str(self.world.root / "images"), options=TableOptions(tree_reader="files"))
            ).manifest.root.hex()
        except Exception as exc:  # noqa: BLE001
            return f"error: {type(exc).__name__}"

    def mutate_once(self, target: str) -> Mutation:
        path = self.rng.choice(self.targets[target])
        original = path.read_bytes()
        offset = self.rng.randrange(len(original))
        xor = self.rng.randrange(1, 256)
        data = bytearray(original)
        data[offset] ^= xor
        path.write_bytes(bytes(data))
        try:
            meaningful, why = self._classify(target, path, original)
            by, crashed, crash_output = self._detect(target)
        finally:
            path.write_bytes(original)
            for leftover in self.world.prov_dir.glob("prov.db-*"):
                leftover.unlink()
        rel = str(path.relative_to(self.world.root))
        return Mutation(target, rel, offset, xor, meaningful, why, bool(by), by, crashed, crash_output)

    def _classify(self, target: str, path: Path, original: bytes) -> tuple[bool, str]:
        if target in ("manifest", "envelope", "lineage", "profile"):
            return True, "object bytes changed"
        if target == "sqlite":
            dump = _sqlite_dump(path)
            if dump is None:
                return True, "database unreadable"
            if dump != self.pristine_dump:
                return True, "logical dump changed"
            if not _sqlite_integrity(path):
                return True, "dump same, b-tree/index structure broken"
            return False, "dump same, structure intact (free or unused space)"
        if target == "batch-envelope":
            try:
                same = json.loads(path.read_bytes()) == json.loads(original)
            except (ValueError, UnicodeDecodeError):
                return True, "not JSON any more"
            return (False, "same JSON value (whitespace)") if same else (True, "JSON value changed")
        now = self._data_root(path)
        if now != self.pristine_roots[path]:
            return True, "records read from the data changed" if not now.startswith("error") else "data unreadable"
        return False, "same records (a byte the readers do not use)"

    def _detect(self, target: str) -> tuple[list[str], bool, str]:
        root, by, crashed, out = self.world.root, [], False, ""
        runs = [("fsck", ["fsck"]), ("audit verify", ["audit", "verify", "--store-keys"])]
        runs += [(f"verify {t}", ["verify", "--store-keys", t]) for t in self.world.tags]
        if target in ("batch-envelope", "data"):
            runs.append(
                (
                    "verify batch",
                    ["verify", "--store-keys", "vendor.parquet", "--envelope", self.world.batch_envelope.name],
                )
            )
        for name, argv in runs:
            r = prov_inline(*argv, cwd=root)
            if r.crashed:
                crashed, out = True, f"prov {' '.join(argv)}: " + (r.stdout + r.stderr)[-3000:]
            if r.code != 0:
                by.append(name)
        return by, crashed, out


def reproduce(world: World, path: str, offset: int, xor: int, argv: list[str]) -> Run:
    """Re-apply one recorded mutation and run one command with a traceback, then restore."""
    p = world.root / path
    original = p.read_bytes()
    data = bytearray(original)
    data[offset] ^= xor
    p.write_bytes(bytes(data))
    try:
        return prov_inline(*argv, cwd=world.root, env={"PROV_DEBUG": "1"})
    finally:
        p.write_bytes(original)


def run_fuzz(world: World, n: int, seed: int = 0) -> list[Mutation]:
    rig = FuzzRig(world, seed)
    # Weighted towards the database: it is the one file where most bytes carry no meaning.
    plan = ["sqlite"] * 4 + ["manifest", "envelope", "lineage", "profile", "batch-envelope"] + ["data"] * 2
    out = [rig.mutate_once(plan[i % len(plan)]) for i in range(n)]
    assert fingerprint(world.root) == rig.fingerprint, "the fuzzer did not restore what it flipped"
    return out


def summarise_mutations(results: list[Mutation]) -> dict:
    by_target: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for m in results:
        c = by_target[m.target]
        c["tried"] += 1
        c["meaningful"] += m.meaningful
        c["caught"] += m.meaningful and m.detected
        c["benign"] += not m.meaningful
        c["benign_flagged"] += (not m.meaningful) and m.detected
        c["crashes"] += m.crashed
    total = collections.Counter()
    for c in by_target.values():
        total.update(c)
    return {
        "total": dict(total),
        "by_target": {k: dict(v) for k, v in sorted(by_target.items())},
        "missed": [m.__dict__ for m in results if m.meaningful and not m.detected][:50],
        "crashes": [m.__dict__ for m in results if m.crashed][:20],
        "classes": dict(collections.Counter(m.why for m in results)),
    }
