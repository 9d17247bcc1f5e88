"""``prov fsck``: check every byte the store holds against what vouches for it.

Two things vouch for a store's contents: the SHA-256 name of each object, and, for the
rows of ``prov.db``, either a signed statement (versions) or the hash-chained audit log
(keys, trust, batches), whose entries record what each write put in its rows. So fsck

- re-hashes every object and compares it with its name;
- runs SQLite's own ``integrity_check`` and compares the schema with the one ``prov init``
  creates (a flipped byte in an index or a table definition is caught here);
- walks the audit chain, then replays it: every row of ``versions``, ``keys``, ``trust``
  and ``batches`` must be the one its audit entry describes, and every entry must have
  its row;
- checks every version (signature, manifest, Merkle root, signed facts, lineage) and
  every batch (manifest, root, indexed records, signature under the key it names).

Unreferenced objects and leftover temp files are what an interrupted write leaves
(objects are written before the transaction that references them); they are warnings,
not errors, and ``repair=True`` removes them under the store's write lock.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlite_utils

from provenance import keys, signing, versions
from provenance.errors import ProvError, StoreError
from provenance.manifest import Manifest
from provenance.store import audit
from provenance.store.schema import create_schema
from provenance.store.store import Store

_OBJECT_NAME = re.compile(r"^[0-9a-f]{64}\.[a-z0-9]{1,16}$")
_MAX_PER_CHECK = 20  # findings listed per check before "... and N more"


@dataclass
class Finding:
    level: str  # "error" (integrity failure) or "warning" (harmless leftover)
    check: str  # which check found it: "objects", "schema", "audit", "version v3", ...
    message: str
    repairable: bool = False


@dataclass
class FsckReport:
    store: str
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: collections.Counter())
    repaired: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "store": self.store,
            "status": "ok" if self.ok else "failed",
            "errors": [asdict(f) for f in self.errors],
            "warnings": [asdict(f) for f in self.warnings],
            "checked": dict(self.checked),
            "repaired": list(self.repaired),
        }


class _Checker:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.report = FsckReport(str(self.root))
        self.store: Store | None = None
        self._counts: collections.Counter = collections.Counter()
        self.entries: list[dict] = []
        self.by_action: dict[str, list[dict]] = collections.defaultdict(list)

    # --- recording ----------------------------------------------------------------------

    def error(self, check: str, message: str) -> None:
        self._add(Finding("error", check, message))

    def warn(self, check: str, message: str, repairable: bool = False) -> None:
        self._add(Finding("warning", check, message, repairable))

    def _add(self, finding: Finding) -> None:
        self._counts[(finding.level, finding.check)] += 1
        n = self._counts[(finding.level, finding.check)]
        if n <= _MAX_PER_CHECK:
            self.report.findings.append(finding)
        elif n == _MAX_PER_CHECK + 1:
            self.report.findings.append(Finding(finding.level, finding.check, "... and more like the above"))

    def guarded(self, check: str, fn: Callable[[], None]) -> None:
        """Run one check; whatever stops it is itself an integrity finding, never a crash."""
        try:
            fn()
        except ProvError as exc:
            self.error(check, str(exc))
            for line in getattr(exc, "details", [])[:5]:
                self.error(check, line)
        except (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
            self.error(check, f"unreadable or inconsistent ({type(exc).__name__}: {exc})")

    # --- the checks ---------------------------------------------------------------------

    def run(self) -> FsckReport:
        db_path = self.root / "prov.db"
        if not db_path.is_file():
            from provenance.errors import InputError

            raise InputError(f"{self.root}: not a prov store (no prov.db)")
        self.check_files()
        try:
            self.store = Store(self.root)
            self.store.db.execute("select count(*) from sqlite_master").fetchone()
        except (StoreError, sqlite3.DatabaseError) as exc:
            self.error("database", f"{db_path}: cannot read the store database ({exc})")
            self.check_objects(referenced=None)
            return self.report
        # One read transaction: the checks see one snapshot, so a commit landing halfway
        # through cannot look like a row without its audit entry (writers wait for us).
        self.store.db.conn.execute("BEGIN")
        try:
            self.guarded("database", self.check_database)
            if any(f.check in ("database", "schema") for f in self.report.errors):
                # A damaged schema or b-tree makes every later answer doubtful: check the
                # objects' own bytes, but do not call anything unreferenced.
                self.check_objects(referenced=None)
                return self.report
            self.guarded("audit", self.check_audit)
            self.guarded("keys", self.check_keys)
            self.guarded("trust", self.check_trust)
            for row in self._rows("versions", "audit_seq"):
                self.guarded(f"version {row.get('tag')}", lambda row=row: self.check_version(row))
            for row in self._rows("batches", "audit_seq"):
                self.guarded(f"batch {row.get('batch')}", lambda row=row: self.check_batch(row))
            self.guarded("batches", self.check_batch_records_orphans)
            self.guarded("lineage", self.check_lineage_rows)
            referenced: set[str] | None = set()
            try:
                referenced = self.referenced_objects()
            except sqlite3.Error as exc:
                self.error("objects", f"cannot list referenced objects ({exc})")
                referenced = None
            self.check_objects(referenced)
        finally:
            if self.store.db.conn.in_transaction:
                self.store.db.conn.execute("ROLLBACK")
            self.report.checked = dict(self.report.checked)
        return self.report

    def _rows(self, table: str, order: str) -> list[dict]:
        try:
            return list(self.store.db[table].rows_where(order_by=order))
        except sqlite3.Error as exc:
            self.error(table, f"cannot read table {table} ({exc})")
            return []

    # files and objects ------------------------------------------------------------------

    def check_files(self) -> None:
        for p in sorted(self.root.iterdir()):
            if p.name in ("prov.db", "objects", "lock"):
                continue
            if p.name == "prov.db-journal":
                self.warn(
                    "files",
                    f"{p}: a rollback journal from an interrupted write (SQLite rolls it back on the next open)",
                )
            elif p.name == ".prov.db.init":
                self.warn("files", f"{p}: left by an interrupted `prov init`", repairable=True)
            else:
                self.warn("files", f"{p}: unexpected file in the store")

    def referenced_objects(self) -> set[str]:
        db = self.store.db
        refs: set[str] = set()
        queries = [
            "select manifest_object, envelope_object from versions",
            "select manifest_object, envelope_object from batches",
            "select object, null from version_lineage",
            "select object, null from profiles",
            "select object, null from waivers",
            "select object, null from attestations",
        ]
        for q in queries:
            try:
                for a, b in db.execute(q):
                    refs.update(x for x in (a, b) if x)
            except sqlite3.OperationalError:  # a store made before that stage had its table
                continue
        return refs

    def check_objects(self, referenced: set[str] | None) -> None:
        folder = self.root / "objects"
        if not folder.is_dir():
            self.error("objects", f"{folder}: the object folder is missing")
            return
        present = set()
        for p in sorted(folder.iterdir()):
            if p.name.startswith(".tmp-"):
                self.warn("objects", f"{p}: temp file left by an interrupted write", repairable=True)
                continue
            if not _OBJECT_NAME.match(p.name) or not p.is_file() or p.is_symlink():
                self.warn("objects", f"{p}: not a prov object (expected a file named SHA256.EXT)")
                continue
            oid = p.name.split(".")[0]
            if oid in present:
                self.error("objects", f"{p}: object {oid[:16]} is stored twice, with different extensions")
            present.add(oid)
            self.report.checked["objects"] += 1
            try:
                with open(p, "rb") as fh:
                    actual = hashlib.file_digest(fh, "sha256").hexdigest()
            except OSError as exc:
                self.error("objects", f"{p}: cannot read object ({exc.strerror})")
                continue
            if actual != oid:
                self.error("objects", f"{p}: object {oid[:16]} was altered (its bytes hash to {actual[:16]})")
            elif referenced is not None and oid not in referenced:
                self.warn(
                    "objects",
                    f"{p}: unreferenced object (left by an interrupted or failed write); "
                    "`prov fsck --repair` removes it",
                    repairable=True,
                )
        for oid in sorted((referenced or set()) - present):
            self.error("objects", f"{folder}: object {oid[:16]} is referenced but missing")

    # the database -----------------------------------------------------------------------

    def check_database(self) -> None:
        db = self.store.db
        problems = [r[0] for r in db.execute("pragma integrity_check")]
        if problems != ["ok"]:
            for p in problems[:5]:
                self.error("database", f"prov.db: SQLite integrity check: {p}")
            return
        expected = _expected_schema()
        actual = {(t, n): (sql or "") for t, n, sql in db.execute("select type, name, sql from sqlite_master")}
        for key, sql in expected.items():
            if key not in actual:
                self.error("schema", f"prov.db: {key[0]} {key[1]} is missing or renamed")
            elif _norm(actual[key]) != _norm(sql):
                self.error("schema", f"prov.db: the definition of {key[0]} {key[1]} was changed")
        for key in sorted(set(actual) - set(expected)):
            if not key[1].startswith("sqlite_"):
                self.warn("schema", f"prov.db: {key[0]} {key[1]} is not part of prov's schema")
        meta = dict(db.execute("select key, value from meta").fetchall())
        if meta != {"format": "1"}:
            self.error("schema", f"prov.db: meta table is {meta}, expected {{'format': '1'}}")

    # the audit log, replayed against the tables ------------------------------------------

    def check_audit(self) -> None:
        db = self.store.db
        try:
            audit.verify_chain(db)
        except ProvError as exc:
            self.error("audit", str(exc))
        entries = audit.entries(db)
        self.report.checked["audit entries"] = len(entries)
        self.entries = entries
        for e in entries:
            try:
                e["detail_obj"] = json.loads(e["detail"]) if e["detail"] else {}
            except (TypeError, json.JSONDecodeError):
                self.error("audit", f"audit entry {e['seq']} ({e['action']}): detail is not JSON")
                e["detail_obj"] = {}
            if not isinstance(e["detail_obj"], dict):
                self.error("audit", f"audit entry {e['seq']} ({e['action']}): detail is not a JSON object")
                e["detail_obj"] = {}
            self.by_action[e["action"]].append(e)
        known = {
            "commit",
            "key.register",
            "key.revoke",
            "trust.add",
            "trust.revoke",
            "batch.add",
            "quarantine",
            "detect",
            "waiver",
            "attest",
        }
        self.check_gate_entries()
        for action in sorted(set(self.by_action) - known):
            self.warn(
                "audit", f"audit action {action!r} ({len(self.by_action[action])} entries) is not checked by fsck"
            )

        versions_rows = {r["tag"]: r for r in self._rows("versions", "audit_seq")}
        commits = {e["subject"]: e for e in self.by_action["commit"]}
        for tag, e in commits.items():
            row = versions_rows.get(tag)
            if row is None:
                self.error("audit", f"audit entry {e['seq']} commits version {tag!r}, which is not in the store")
                continue
            d = e["detail_obj"]
            pairs = {
                "merkle_root": "merkle_root",
                "manifest": "manifest_object",
                "envelope": "envelope_object",
                "keyid": "keyid",
                "parent": "parent",
                "dataset": "dataset",
            }
            self._compare(f"version {tag}", e, d, row, pairs)
            if row["audit_seq"] != e["seq"]:
                self.error(
                    f"version {tag}",
                    f"version row points at audit entry {row['audit_seq']}, but its commit is entry {e['seq']}",
                )
        for tag in sorted(set(versions_rows) - set(commits)):
            self.error(f"version {tag}", "no audit entry commits this version")
        if len(commits) != len(self.by_action["commit"]):
            self.error("audit", "a version is committed by more than one audit entry")

        rows = {r["keyid"]: r for r in self._rows("keys", "keyid")}
        regs = {e["subject"]: e for e in self.by_action["key.register"]}
        for kid, e in regs.items():
            if kid not in rows:
                self.error("keys", f"audit entry {e['seq']} registers key {kid[:16]}, which is not in the store")
                continue
            self._compare(
                f"key {kid[:16]}", e, e["detail_obj"], rows[kid], {"name": "name", "registered_at": "registered_at"}
            )
        for kid in sorted(set(rows) - set(regs)):
            self.error("keys", f"key {kid[:16]} has no audit entry registering it")

        rows = {(r["source"], r["keyid"]): r for r in self._rows("trust", "source, keyid")}
        adds, revokes = {}, {}
        for e in self.by_action["trust.add"]:
            adds[(e["subject"], e["detail_obj"].get("keyid"))] = e
        for e in self.by_action["trust.revoke"]:
            revokes[(e["subject"], e["detail_obj"].get("keyid"))] = e
        for k, e in adds.items():
            if k not in rows:
                self.error(
                    "trust",
                    f"audit entry {e['seq']} trusts key {str(k[1])[:16]} for {k[0]!r}, which is not in the store",
                )
                continue
            self._compare(
                f"trust {k[0]}/{k[1][:16]}",
                e,
                e["detail_obj"],
                rows[k],
                {"valid_from": "valid_from", "valid_until": "valid_until", "name": "name", "added_at": "added_at"},
            )
        for k in sorted(set(rows) - set(adds)):
            self.error("trust", f"trust of key {k[1][:16]} for {k[0]!r} has no audit entry adding it")
        for k, row in rows.items():
            e = revokes.get(k)
            if e is None and (row["revoked_at"] is not None or row["revoked_reason"] is not None):
                self.error("trust", f"key {k[1][:16]} of {k[0]!r} is marked revoked, but no audit entry revokes it")
            if e is not None:
                if row["revoked_at"] is None:
                    self.error(
                        "trust",
                        f"audit entry {e['seq']} revokes key {k[1][:16]} of {k[0]!r}, but the store shows it unrevoked",
                    )
                self._compare(
                    f"trust {k[0]}/{k[1][:16]}",
                    e,
                    e["detail_obj"],
                    row,
                    {"reason": "revoked_reason", "revoked_at": "revoked_at"},
                )
        for k in sorted(set(revokes) - set(rows)):
            self.error("trust", f"audit entry {revokes[k]['seq']} revokes a key that is not in the store")

        rows = {r["batch"]: r for r in self._rows("batches", "audit_seq")}
        added = {e["subject"]: e for e in self.by_action["batch.add"]}
        for bid, e in added.items():
            row = rows.get(bid)
            if row is None:
                self.error("batches", f"audit entry {e['seq']} adds batch {bid!r}, which is not in the store")
                continue
            d = dict(e["detail_obj"])
            if "signed" in d:
                d["signed"] = int(bool(d["signed"]))
            self._compare(
                f"batch {bid}",
                e,
                d,
                row,
                {
                    "source": "source",
                    "signed": "signed",
                    "keyid": "keyid",
                    "merkle_root": "merkle_root",
                    "records": "records",
                    "envelope": "envelope_object",
                    "manifest": "manifest_object",
                    "data": "data",
                    "added_at": "added_at",
                    "captured_at": "captured_at",
                },
            )
            if row["audit_seq"] != e["seq"]:
                self.error(
                    f"batch {bid}",
                    f"batch row points at audit entry {row['audit_seq']}, but it was added by entry {e['seq']}",
                )
        for bid in sorted(set(rows) - set(added)):
            self.error(f"batch {bid}", "no audit entry adds this batch")

    def _compare(self, check: str, entry: dict, detail: dict, row: dict, pairs: dict[str, str]) -> None:
        """Each field the audit entry recorded must equal the row's (fields it did not record are skipped)."""
        for dkey, col in pairs.items():
            if dkey in detail and detail[dkey] != row.get(col):
                self.error(
                    check, f"{col} is {row.get(col)!r} in the store but {detail[dkey]!r} in audit entry {entry['seq']}"
                )

    # rows with their own evidence -------------------------------------------------------

    def check_gate_entries(self) -> None:
        """Detector runs, waivers and attestations: each audit entry has its rows, and back."""
        for action, table, key, detail_key in (
            ("waiver", "waivers", "object", "object"),
            ("attest", "attestations", "object", "object"),
            ("detect", "detector_runs", "run", "run"),
        ):
            try:
                have = {r[0] for r in self.store.db.execute(f"select distinct {key} from {table}")}
            except sqlite3.OperationalError:
                have = set()
            logged = {e["detail_obj"].get(detail_key) for e in self.by_action[action]}
            for missing in sorted(x for x in logged - have if x):
                self.error(
                    "audit", f"audit log records a {action} ({str(missing)[:16]}) that is not in the store's {table}"
                )
            for extra in sorted(have - logged):
                self.error(table, f"{table} row {str(extra)[:16]} has no audit entry (written outside prov?)")

    def check_keys(self) -> None:
        for row in self._rows("keys", "keyid"):
            self.report.checked["keys"] += 1
            kid = row["keyid"]
            try:
                public = keys.parse_public((row["public_pem"] or "").encode(), f"store key {str(kid)[:16]}")
            except ProvError as exc:
                self.error("keys", str(exc))
                continue
            if keys.key_id(public) != kid:
                self.error("keys", f"key {str(kid)[:16]}: its public key hashes to {keys.key_id(public)[:16]}")
            revocations = [e for e in self.by_action.get("key.revoke", []) if e["subject"] == kid]
            if row["revoked_at"] is not None and not revocations:
                self.error("keys", f"key {str(kid)[:16]} is marked revoked, but no audit entry revokes it")
            if row["revoked_at"] is None and revocations:
                self.error(
                    "keys", f"key {str(kid)[:16]} was revoked (audit entry {revocations[0]['seq']}) but shows unrevoked"
                )

    def check_trust(self) -> None:
        for row in self._rows("trust", "source, keyid"):
            self.report.checked["trusted keys"] += 1
            kid = row["keyid"]
            try:
                public = keys.parse_public((row["public_pem"] or "").encode(), f"trusted key {str(kid)[:16]}")
            except ProvError as exc:
                self.error("trust", str(exc))
                continue
            if keys.key_id(public) != kid:
                self.error(
                    "trust",
                    f"trusted key {str(kid)[:16]} of {row['source']!r}: its public key hashes to "
                    f"{keys.key_id(public)[:16]}",
                )

    def check_version(self, row: dict) -> None:
        store, tag = self.store, row["tag"]
        check = f"version {tag}"
        self.report.checked["versions"] += 1
        stmt = versions.verified_statement(store, row)
        manifest = versions.load_manifest(store, row)
        pred = stmt.get("predicate") or {}
        facts = {
            "records": (pred.get("records"), row["records"]),
            "manifest rows": (pred.get("records"), len(manifest)),
            "createdAt": (pred.get("createdAt"), row["created_at"]),
            "schema.kind": ((pred.get("schema") or {}).get("kind"), row["kind"]),
            "labels": (pred.get("labels"), manifest.label_counts()),
            "sources": (pred.get("sources"), manifest.source_counts()),
        }
        for name, (signed, stored) in facts.items():
            if signed != stored:
                self.error(check, f"signed {name} is {signed!r} but the store has {stored!r}")
        spec = json.loads(row["dataset"])
        versions.DatasetSpec.from_dict(spec)
        if "dataset" in pred and pred["dataset"] != spec:
            self.error(check, "its dataset (where verify reads the records) differs from the signed one")
        labels_column = (pred.get("schema") or {}).get("labelColumn")
        if row["kind"] == "table" and labels_column != (spec.get("options") or {}).get("label_column"):
            self.error(check, f"signed label column {labels_column!r} differs from the stored dataset's")
        head = pred.get("auditLogHead")
        earlier = {e["hash"] for e in self.entries if e["seq"] < (row["audit_seq"] or 0)}
        if head != audit.GENESIS and head not in earlier:
            self.error(check, "the audit head it signed is not an entry before its commit")
        if (
            row["parent"] is not None
            and not store.db.execute("select 1 from versions where tag = ?", [row["parent"]]).fetchone()
        ):
            self.error(check, f"its parent {row['parent']!r} is not in the store")
        self.check_version_lineage(row, pred, manifest)
        self.check_version_profile(row, pred)
        quarantine = pred.get("quarantine")
        entries = [e for e in self.by_action.get("quarantine", []) if e["subject"] == tag]
        if quarantine is not None and [e["detail_obj"] for e in entries] != [quarantine]:
            self.error(check, "its signed quarantine facts differ from the audit log's")
        if quarantine is None and entries:
            self.error(check, "the audit log records a quarantine its signed statement does not")

    def check_version_lineage(self, row: dict, pred: dict, manifest: Manifest) -> None:
        check = f"version {row['tag']}"
        signed = pred.get("lineage")
        try:
            lin = self.store.db.execute(
                "select object, attested, relabeled_after_source, unattributed from version_lineage where tag = ?",
                [row["tag"]],
            ).fetchone()
        except sqlite3.OperationalError:
            lin = None
        if signed is None:
            if lin is not None:
                self.error(check, "the store holds lineage for it that it never signed")
            return
        if lin is None:
            self.error(check, "its signed lineage is missing from the store")
            return
        stored = {"object": lin[0], "attested": lin[1], "relabeled_after_source": lin[2], "unattributed": lin[3]}
        if stored != signed:
            self.error(check, f"its lineage row {stored} differs from the signed {signed}")
            return
        import pyarrow.parquet as pq

        data = self.store.objects.get(lin[0], f"lineage of {row['tag']}")
        table = pq.read_table(io.BytesIO(data))
        if (
            table.num_rows != len(manifest)
            or table.column("digest").to_pylist() != manifest.digests
            or table.column("label").to_pylist() != manifest.labels
        ):
            self.error(check, "its lineage object does not list the version's records")
        statuses = table.column("status").to_pylist()
        counts = {s: statuses.count(s) for s in ("attested", "relabeled_after_source", "unattributed")}
        if any(counts[k] != signed.get(k) for k in counts):
            self.error(check, f"its lineage object counts {counts}, but it signed {signed}")

    def check_version_profile(self, row: dict, pred: dict) -> None:
        check = f"version {row['tag']}"
        signed = pred.get("profile")
        try:
            stored = self.store.db.execute(
                "select object, featurizer, dim, sample from profiles where version = ?", [row["tag"]]
            ).fetchone()
        except sqlite3.OperationalError:  # a store made before profiles existed
            return
        if not signed or signed.get("status") != "ok":
            if stored is not None:
                self.error(check, "the store holds a reference profile for it that it never signed")
            return
        if stored is None:
            self.error(check, "its signed reference profile is missing from the store")
            return
        facts = {
            "object": (signed.get("sha256"), stored[0]),
            "featurizer": (pred.get("featurizer"), stored[1]),
            "dim": (signed.get("dim"), stored[2]),
            "sample": (signed.get("sample"), stored[3]),
        }
        for name, (want, have) in facts.items():
            if want != have:
                self.error(check, f"its profile's {name} is {have!r} in the store but {want!r} in its signed statement")
        from provenance.profiles.reference import ReferenceProfile

        ReferenceProfile.from_bytes(self.store.objects.get(stored[0], f"profile of {row['tag']}"))

    def check_batch(self, row: dict) -> None:
        store, bid = self.store, row["batch"]
        check = f"batch {bid}"
        self.report.checked["batches"] += 1
        data = store.objects.get(row["manifest_object"], f"manifest of batch {bid}")
        manifest = Manifest.from_bytes(data, f"manifest of batch {bid}")
        root = manifest.root.hex()
        if root != row["merkle_root"]:
            self.error(
                check, f"its manifest's Merkle root {root[:16]} differs from the stored {str(row['merkle_root'])[:16]}"
            )
        if bid != f"{row['source']}@{root[:12]}":
            self.error(check, f"its name does not match its source {row['source']!r} and root {root[:12]}")
        if len(manifest) != row["records"]:
            self.error(check, f"{row['records']} records stored, its manifest has {len(manifest)}")
        if set(manifest.table.column("batch").to_pylist()) - {bid}:
            self.error(check, "its manifest names another batch")
        if json.loads(row["labels"] or "null") != manifest.label_counts():
            self.error(check, "its stored label counts differ from its manifest")
        indexed = collections.Counter(
            (bytes(d), lab)
            for d, lab in store.db.execute("select digest, label from batch_records where batch = ?", [bid])
        )
        if indexed != collections.Counter(zip(manifest.digests, manifest.labels)):
            self.error(check, "its indexed records (batch_records) differ from its manifest")
        if not row["signed"]:
            if row["signed"] != 0 or row["keyid"] is not None or row["envelope_object"] is not None:
                self.error(check, "an unsigned batch names a key or an envelope")
            return
        env = signing.parse_envelope(
            store.objects.get(row["envelope_object"], f"envelope of batch {bid}"), f"envelope of batch {bid}"
        )
        trusted = store.db.execute(
            "select public_pem from trust where source = ? and keyid = ?", [row["source"], row["keyid"]]
        ).fetchone()
        if trusted is None:
            self.error(check, f"signed by key {str(row['keyid'])[:16]}, which was never trusted for {row['source']!r}")
            return
        # Integrity, not trust: a since-revoked key still made this signature.
        public = keys.parse_public(trusted[0].encode(), f"trusted key {row['keyid'][:16]}")
        stmt = signing.verify(env, {row["keyid"]: public}, f"envelope of batch {bid}").statement
        pred = stmt.get("predicate") or {}
        if signing.subject_root(stmt).hex() != row["merkle_root"]:
            self.error(check, "its envelope signs another Merkle root")
        if pred.get("source") != row["source"] or pred.get("capturedAt") != row["captured_at"]:
            self.error(check, "its envelope names another source or capture time")

    def check_batch_records_orphans(self) -> None:
        n = self.store.db.execute(
            "select count(*) from batch_records where batch not in (select batch from batches)"
        ).fetchone()[0]
        if n:
            self.error("batches", f"{n} indexed records (batch_records) belong to no batch")

    def check_lineage_rows(self) -> None:
        n = self.store.db.execute(
            "select count(*) from version_lineage where tag not in (select tag from versions)"
        ).fetchone()[0]
        if n:
            self.error("lineage", f"{n} lineage rows belong to no version")
        try:
            n = self.store.db.execute(
                "select count(*) from profiles where version not in (select tag from versions)"
            ).fetchone()[0]
        except sqlite3.OperationalError:
            return
        if n:
            self.error("lineage", f"{n} reference profiles belong to no version")


def _norm(sql: str) -> str:
    return " ".join(sql.split())


_SCHEMA_CACHE: dict | None = None


def _expected_schema() -> dict[tuple[str, str], str]:
    global _SCHEMA_CACHE
    if _SCHEMA_CACHE is None:
        db = sqlite_utils.Database(memory=True)
        create_schema(db)
        _SCHEMA_CACHE = {(t, n): (sql or "") for t, n, sql in db.execute("select type, name, sql from sqlite_master")}
        db.conn.close()
    return _SCHEMA_CACHE


def fsck(root: str | Path, repair: bool = False) -> FsckReport:
    """Check the store at ``root`` (a ``.prov`` folder); with ``repair``, remove leftovers.

    Repair only ever removes unreferenced objects and temp files, and only when there is
    no integrity error (a damaged database could make a needed object look unreferenced).
    """
    checker = _Checker(Path(root))
    try:
        report = checker.run()
        if repair and report.ok and checker.store is not None:
            _repair(checker.store, report)
    finally:
        if checker.store is not None:
            checker.store.close()
    return report


def _repair(store: Store, report: FsckReport) -> None:
    with store.write():  # no writer can be between its object writes and its commit now
        referenced = _Checker(store.root)
        referenced.store = store
        refs = referenced.referenced_objects()
        folder = store.root / "objects"
        for p in sorted(folder.iterdir()):
            oid = p.name.split(".")[0]
            stray_temp = p.name.startswith(".tmp-")
            orphan = _OBJECT_NAME.match(p.name) and oid not in refs
            if (stray_temp or orphan) and p.is_file():
                p.unlink()
                report.repaired.append(str(p))
        init_leftover = store.root / ".prov.db.init"
        if init_leftover.exists():
            init_leftover.unlink()
            report.repaired.append(str(init_leftover))
    if report.repaired:
        from provenance.store.objects import fsync_dir

        fsync_dir(store.root / "objects")
    report.findings = [f for f in report.findings if not f.repairable]
