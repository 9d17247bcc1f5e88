"""What ``prov commit`` takes from its parent version when a flag is not given (newcomer review 11, finding 7).

``prov status`` reads the data with the parent's signed read options; a commit that forgot
``--metadata`` read the same file another way, so every record got a new digest and lost
its attestation while status called the data unchanged. A commit with text data forgot
``--featurizer text`` and its version could never be a detection base. So a commit's read
options and featuriser default to the parent's, taken only from the parent's *verified*
signed statement (the ``versions`` row's copy is writable by anyone who can write
``.prov/``); an option given on the command line still wins, and one that differs from the
parent's is said, since it changes the records' digests.

``commit_on_parent`` is that commit: ``prov commit`` and ``provenance.commit`` both call it, so
the Python API takes the same defaults (newcomer review 16, finding 1: it read the columns with
inferred types and every vendor record lost its attestation, silently).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance.carried_request import SignedProfile, hold_carried_request
from provenance.commit_schema_note import retyped_since_parent
from provenance.commit_unfeatured_note import unfeatured_columns_note
from provenance.errors import InputError, VerificationError
from provenance.escaping import name_in_sentence, visible
from provenance.features.numeric import (
    AbsentFeatureColumns,
    check_options,
    identity_columns,
    numeric_type,
    signed_columns,
)
from provenance.features.registry import FeaturizerSpec, legacy_spec
from provenance.kept_log import KeptLog
from provenance.profiles.non_finite import NonFiniteValues
from provenance.sources.tables import TableOptions
from provenance.store.store import Store
from provenance.version_facts import first_id_commit

if TYPE_CHECKING:
    from provenance.profiles.reference import ReferenceProfile
    from provenance.sources.interface import DatasetSpec
    from provenance.versions import CommitResult

# TableOptions field -> (the dataset flag's parameter name, the flag as typed)
READ_FLAGS = {
    "label_column": ("label_column", "--label-column"),
    "source_column": ("source_column", "--source-column"),
    "id_column": ("id_column", "--id-column"),
    "metadata_columns": ("metadata", "--metadata"),
    "schema": ("schema", "--schema"),
    "encoding": ("encoding", "--encoding"),
    "tree_reader": ("tree_reader", "--tree-reader"),
}
# what `--featurizer auto` picks: a table's numeric columns (re-resolved on each version's own columns), a tree's
# pixels at the image featuriser's defaults; a parent made with either has nothing to carry
AUTOMATIC = (FeaturizerSpec("numeric"), FeaturizerSpec("image", {"mode": "L", "size": 16}))


@dataclass(frozen=True)
class ParentDefaults:
    """The parent ``tag``'s signed read ``options`` (None when an older prov did not sign them) and the
    ``featurizer`` to carry: the one its committer gave, options as given (its signed ``featurizerRequested``), or,
    for a parent committed before that was signed, its profile's when that is not the automatic one (None: nothing
    to carry); ``feature_columns``
    the columns its signed numeric profile reads (a check against it featurises new records with them)."""

    tag: str
    options: TableOptions | None
    featurizer: FeaturizerSpec | None
    feature_columns: tuple[str, ...] = ()
    # set when ``featurizer`` is the parent's signed request: what its signed profile says, held against it if carried
    profile: SignedProfile | None = None


@dataclass(frozen=True)
class ReadOptions:
    """The options a commit reads with, and what it says about them: ``carried`` flags taken from the
    parent (``--metadata annotator, labelled_at``), ``differing`` flags given here that the parent
    read otherwise (``--metadata item_id (v4: annotator, labelled_at)``)."""

    options: TableOptions
    carried: list[str]
    differing: list[str]
    carried_names: frozenset[str] = frozenset()  # the carried flags and the columns they name

    def blamed(self, message: str) -> bool:
        """Whether an error ``message`` names a carried flag or a column a carried option names."""
        return any(name in message for name in self.carried_names)

    def explained(self, exc: InputError, tag: str, way_out: str = "give the options this data needs") -> InputError:
        """``exc`` with where its carried options came from (``tag``) and ``way_out`` when it names one of
        them (a column the data no longer has), else ``exc`` itself."""
        if not self.blamed(str(exc)):
            return exc
        return InputError(f"{exc} (read options as {tag}: {'; '.join(self.carried)}; {way_out})")


def parent_defaults(store: Store, parent: str | None) -> ParentDefaults | None:
    """The defaults a commit on ``parent`` (None: the newest version, as the commit itself picks it)
    takes, from the parent's verified statement and its signed profile; None without a version.

    None too when the parent does not verify under the pins: nothing is taken from it, and the commit
    then refuses it in its own words, after the checks it makes first (a revoked key, say).
    """
    from provenance.profiles.stage import load_profile
    from provenance.version_facts import dataset_from_predicate, newest_version, verified_statement

    try:
        tag = parent if parent is not None else newest_version(store, "--parent")
        if tag is None:
            return None
        row = store.version(tag)
        predicate = verified_statement(store, row)["predicate"]
    except VerificationError:
        return None
    try:
        options: TableOptions | None = dataset_from_predicate(store, row, predicate).options
    except InputError:  # committed by a prov that did not sign its read options: nothing to carry
        options = None
    if (predicate.get("profile") or {}).get("status") != "ok":
        return ParentDefaults(tag, options, None, signed_columns(predicate) or ())
    try:
        profile = load_profile(store, tag)  # checked against the digest the statement signs
    except VerificationError:  # a profile that does not match its signature gives nothing to carry
        return ParentDefaults(tag, options, None, signed_columns(predicate) or ())
    # the profile's exact column list; the identity string only for a profile written before it was kept
    exact = _profile_columns(profile.featurizer_spec)
    read = exact if exact is not None else signed_columns(predicate) or ()
    requested = predicate.get("featurizerRequested")
    if requested is not None:  # the featuriser the parent's committer gave, its options as given (signed)
        spec = FeaturizerSpec.from_dict(requested, f"{tag}'s featuriser")
        signed = SignedProfile(_stored_spec(profile), profile.featurizer, exact or (), predicate.get("schema"))
        return ParentDefaults(tag, options, spec, exact or (), profile=signed)
    spec = _stored_spec(profile)  # committed before the request was signed: the resolved one
    featurizer = None
    if spec.name == "numeric":
        featurizer = _left_out(spec, predicate.get("schema"))
    elif spec.to_dict() != AUTOMATIC[1].to_dict():
        featurizer = spec
    return ParentDefaults(tag, options, featurizer, read)


def _profile_columns(stored: Any) -> tuple[str, ...] | None:
    """The exact columns a numeric profile reads, from its stored ``featurizer_spec`` (``{"name": "numeric",
    "options": {"columns": [...]}}``); None for another featuriser or a profile written before the spec was kept."""
    if not isinstance(stored, dict) or stored.get("name") != "numeric":
        return None
    columns = (stored.get("options") or {}).get("columns")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return None
    return tuple(columns)


def _stored_spec(profile: ReferenceProfile) -> FeaturizerSpec:
    """The featuriser spec ``profile`` stores (the resolved one), or, for a profile written before specs were kept,
    the one its identity string gives."""
    stored = profile.featurizer_spec
    if stored is None:
        return legacy_spec(profile.featurizer)
    return FeaturizerSpec.from_dict(stored, "the reference profile's featuriser")


def _left_out(resolved: FeaturizerSpec, schema: Any) -> FeaturizerSpec | None:
    """What a parent committed before ``featurizerRequested`` was signed carries of its profile's ``resolved``
    numeric featuriser (``{"columns": [...]}``, the list itself: exact where the identity string joins names with
    ``,``): ``numeric`` excluding the numeric content columns of its signed ``schema`` it does not read (its
    committer left them out with ``--featurizer-option exclude=...`` or ``columns=...``); None when it read every
    one, as the automatic featuriser does (attack review 28d, A28d-7: every resolved numeric spec was taken as the
    automatic one, so the next commit read the excluded column again). Both facts are signed."""
    read = resolved.options.get("columns")
    types = (schema or {}).get("types") if isinstance(schema, dict) else None
    if not isinstance(read, list) or not read or not isinstance(types, dict):
        return None
    left = sorted(str(c) for c, t in types.items() if numeric_type(str(t)) and c not in {str(r) for r in read})
    return FeaturizerSpec("numeric", {"exclude": left}) if left else None


def read_options(given: TableOptions, explicit: set[str] | None, parent: ParentDefaults | None) -> ReadOptions:
    """``given`` with every option not in ``explicit`` (the dataset flags' parameter names given on the
    command line; None: all of them) taken from the parent's signed options; the carried and differing
    flags as text."""
    if parent is None or parent.options is None:
        return ReadOptions(given, [], [])
    default = TableOptions()
    changes: dict[str, Any] = {}
    carried: list[str] = []
    differing: list[str] = []
    names: set[str] = set()
    # a column the options given name is not given another role by a carried one: `--metadata item_id` for a
    # parent read with `--id-column item_id` (what the no-profile note advises) drops the carried id column
    taken = _columns(
        given, set(READ_FLAGS) if explicit is None else {n for n, (p, _) in READ_FLAGS.items() if p in explicit}
    )
    for name, (param, flag) in READ_FLAGS.items():
        mine, theirs = getattr(given, name), getattr(parent.options, name)
        if name == "tree_reader" and theirs == "legacy":  # a reader-version-1 listing: new versions read as today
            continue
        if explicit is None or param in explicit:
            if _key(mine) != _key(theirs):
                differing.append(f"{flag} {_shown(mine)} ({parent.tag}: {_shown(theirs)})")
            continue
        if name in ("source_column", "id_column") and theirs in taken:
            theirs = None
        elif name == "metadata_columns":
            theirs = tuple(c for c in theirs if c not in taken)
        if mine != theirs:
            changes[name] = theirs
            if theirs != getattr(default, name):
                carried.append(f"{flag} {_shown(theirs)}")
                names.add(flag)
                names.update(repr(c) for c in (theirs if isinstance(theirs, (tuple, dict)) else [theirs]))
    return ReadOptions(dataclasses.replace(given, **changes), carried, differing, frozenset(names))


@first_id_commit()  # the parent's read options are read for a commit that may be the first to sign the store's id
def commit_on_parent(
    store: Store,
    spec: DatasetSpec,
    tag: str,
    key_path: str,
    parent: str | None = None,
    *,
    given: Collection[str] | None,
    featurizer: str | FeaturizerSpec | None = None,
    carry: bool = True,
    executor: Any = None,
    message: str | None = None,
    way_out: str = "give the options this data needs, or --no-parent-defaults",
    checkpoint_out: str | None = None,
    checkpoint_key: str | None = None,
    kept_log_state: Collection[str] = (),
    allow_empty: bool = False,
) -> CommitResult:
    """``versions.commit`` with the parent's signed read options and featuriser as defaults: what ``prov
    commit`` and ``provenance.commit`` do.

    ``given`` names the read options the caller chose (parameter names of ``READ_FLAGS``, such as
    ``label_column``; None: all of them); every other one is the parent's (``parent``, or the newest
    version), taken from its verified signature only. ``featurizer`` None is the parent's featuriser when
    it is not the automatic one, else ``"auto"``. ``carry=False`` (``--no-parent-defaults``) takes
    nothing from the parent; the options that differ from it are still reported. The result's
    ``from_parent`` says what was taken (``schemas/commit.schema.json``; None without a verified
    parent) and ``retype_note`` why records are unattributed when a trusted signed batch signed other
    column types. Raises what ``versions.commit`` raises; an ``InputError`` naming a carried option (a
    column this data lacks) says the parent it came from and ``way_out``.

    ``checkpoint_out`` (``--checkpoint-out FILE``): after the commit, write a checkpoint (RFC 9162 signed
    tree head, ``schemas/audit-checkpoint.schema.json``) over the whole log, its ``commit`` entry included,
    to this file outside ``.prov/``, signed by ``checkpoint_key`` (a maintainer's key the pins hold; default
    the committer's ``key_path``); the result's ``checkpoint_out`` names it. ``prov check --checkpoint FILE``
    then refuses a log that lost the commit (attack review 16, F1). The path and key are checked before any
    data is read (InputError, exit 2: a path inside ``.prov/``, a symbolic link, a folder, a missing folder;
    ``checkpoint_key`` without ``checkpoint_out``, or a key the pins do not hold for a maintainer role).

    ``kept_log_state`` (``--checkpoint FILE``, repeatable): log states kept outside the store, as ``prov check
    --checkpoint`` takes them (``gate.kept_states``); the commit is refused before any work, and again under the
    write lock (VerificationError, exit 1, nothing written), when the audit log no longer holds one: a commit onto
    a log cut back would sign the cut, and ``--checkpoint-out`` would then keep a state that hides it; the
    result's ``extends`` names each one it holds. Both are ``kept_log.KeptLog``'s, which ``prov quarantine`` shares.
    """
    from provenance import versions

    kept_log = KeptLog.check(
        store, key_path, checkpoint_out=checkpoint_out, checkpoint_key=checkpoint_key, kept_log_state=kept_log_state
    )

    if isinstance(featurizer, FeaturizerSpec) and featurizer.name == "numeric":
        check_options(featurizer.options)  # a JSON object or a string as exclude: exit 2 before any work (A29b-1)
    defaults = parent_defaults(store, parent)
    chosen = read_options(spec.options, set(given) if carry and given is not None else None, defaults)
    carried = defaults.featurizer if carry and featurizer is None and defaults is not None else None
    if carried is not None and defaults is not None and defaults.profile is not None:
        hold_carried_request(carried, defaults.profile, defaults.tag)
    try:
        result = versions.commit(
            store,
            dataclasses.replace(spec, options=chosen.options),
            tag,
            key_path,
            parent,
            executor=executor,
            featurizer=carried or featurizer or versions.AUTO,
            message=message,
            kept_log=kept_log,
            allow_empty=allow_empty,
        )
    except NonFiniteValues as exc:
        if defaults is None:
            raise
        said = exc.against(defaults.tag, defaults.feature_columns)
        if said is exc:
            raise
        raise said from exc
    except AbsentFeatureColumns as exc:  # a carried column list the data no longer holds: whose list it is
        if carried is None or defaults is None:
            raise
        raise AbsentFeatureColumns(
            f"{exc}; the featuriser {visible(str(carried))} is {defaults.tag}'s signed request, carried: give "
            "--featurizer to choose the features"
        ) from exc
    except InputError as exc:
        explained = exc if defaults is None else chosen.explained(exc, defaults.tag, way_out)
        if explained is exc:
            raise
        raise explained from exc
    from_parent = None
    if defaults is not None:
        from_parent = {
            "version": defaults.tag,
            "read_options": chosen.carried,
            "read_options_differing": chosen.differing,
            "featurizer": str(carried) if carried else None,
        }
    # --checkpoint-out was kept inside the commit's write (KeptLog.keeper); a failure to keep it is said first, as
    # "committed, but ...", before anything is read back from the live store (attack review 19b, F19b-3)
    result = kept_log.finish(store, dataclasses.replace(result, from_parent=from_parent))
    return dataclasses.replace(
        result,
        retype_note=_retype_note(store, result),
        schema_note=retyped_since_parent(store, result.tag, result.parent),
        features_note=_features_note(store, result),
        unfeatured_note=unfeatured_columns_note(store, result),
    )


def _features_note(store: Store, result: CommitResult) -> str | None:
    """``column 'x' left the features (r1's profile read it; it is string now)``: the parent's numeric feature columns
    this version's profile does not read, named with their type now (newcomer review 27, finding 4: a CSV column
    read as text dropped out of detection and nothing said so); None when none did, or either side has no numeric
    profile. Read from both versions' verified statements."""
    from provenance.lineage.retyped import schema_flags
    from provenance.version_facts import verified_statement

    if not result.parent or identity_columns(result.featurizer or "") is None:
        return None
    try:
        parent = verified_statement(store, store.version(result.parent))["predicate"]
        now = verified_statement(store, store.version(result.tag))["predicate"]
    except InputError:  # erased after the commit's write: its --checkpoint-out says so, not this note
        return None
    # split into the signed schemas' column names: a column named 'x,y' is one (attack review 29b, A29b-3)
    kept = signed_columns(now)
    if kept is None:
        return None
    left = [c for c in signed_columns(parent) or () if c not in set(kept)]
    if not left:
        return None
    types = (now.get("schema") or {}).get("types") or {}
    named = ", ".join(
        f"{name_in_sentence(c, quote_plain=True)} ({visible(types[c]) + ' now' if c in types else 'gone'})"
        for c in left
    )
    one = len(left) == 1
    # a --schema flag reads a column of text as numbers; one that is numbers already left on purpose (an exclude)
    still = {c: "double" for c in left if c in types and not numeric_type(str(types[c]))}
    # the parent's profile reads a column of text as numbers, so every check against it refuses this version's
    # records (exit 2, unscorable._not_numeric): said here, at commit, not first by that check (newcomer review 29, #5)
    them = "it" if len(still) == 1 else "them"
    way = (
        f"; prov check {result.tag} --base {result.parent} will refuse this version (exit 2: {result.parent}'s profile "
        f"reads {them} as numbers); to read {them} as numbers: fix {'its' if len(still) == 1 else 'their'} values "
        f"(a '?' or text), or, for a CSV or JSON Lines file read as text by mistake, commit with {schema_flags(still)}"
        if still
        else ""
    )
    return (
        f"column{'' if one else 's'} {named} left the features {result.parent}'s profile read: no detector scores "
        f"{'it' if one else 'them'} in this version{way}"
    )


def _retype_note(store: Store, result: CommitResult) -> str | None:
    """Why ``result``'s unattributed records are so when trusted signed batches signed other column types
    than the version's data has (newcomer review 11, finding 9: a cast drops every attestation); None
    when nothing is unattributed or no such batch exists, or the version is no longer in the store (a
    ``.prov/`` writer erased it once the lock was free: ``--checkpoint-out``'s state, kept before this
    read, shows the erasure)."""
    if not result.lineage or not result.lineage["unattributed"]:
        return None
    from provenance.lineage.retyped import retyped_batches
    from provenance.version_facts import verified_statement

    try:
        row = store.version(result.tag)
    except InputError:  # erased after the commit's write: a note is not the step that says so (F19b-3)
        return None
    schema = verified_statement(store, row)["predicate"].get("schema") or {}
    return retyped_batches(store, schema)


def _columns(options: TableOptions, fields: set[str]) -> set[str]:
    """The columns ``options``' ``fields`` name (label, source, id and metadata columns)."""
    out: set[str] = set()
    for name in fields & {"label_column", "source_column", "id_column"}:
        if getattr(options, name):
            out.add(getattr(options, name))
    if "metadata_columns" in fields:
        out.update(options.metadata_columns)
    return out


def _key(value: object) -> object:
    """A value compared as reading sees it: the metadata columns as a set (their order changes no digest)."""
    return tuple(sorted(value)) if isinstance(value, tuple) else value


def _shown(value: object) -> str:
    """An option's value as a user would read it: ``annotator, labelled_at``, ``x:double``, ``none``; each column
    name that is not plain quoted by ``escaping.name_in_sentence`` (``repr``), as whoever writes the
    data chose it: a name holding a newline would start a line of prov commit's own (attack review 25a, A25a-5),
    one holding ``, `` would read as two columns (attack review 26a, A26a-4)."""
    if isinstance(value, dict):
        return ", ".join(f"{name_in_sentence(str(k))}:{visible(v)}" for k, v in sorted(value.items())) or "none"
    if isinstance(value, (tuple, list)):
        return ", ".join(name_in_sentence(str(v)) for v in value) or "none"
    return "none" if value is None else name_in_sentence(str(value))
