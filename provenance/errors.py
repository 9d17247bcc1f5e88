"""One root error for everything prov refuses to do, one subclass per kind of failure.

Each class carries its exit code (``exit_code``), which the CLI uses as the process's
exit status: input and usage problems are 2, failed integrity or policy checks are 1, and
anything that stops prov from evaluating at all is 3, so a gate fails closed (the README's
"Exit codes" table). ``str(err)`` is the one line a user sees; ``diagnostics()`` adds
lines for people (``prov --verbose`` prints them).
"""

from __future__ import annotations


class ProvError(Exception):
    """Root of all prov errors. ``str(err)`` is the one line a user sees."""

    exit_code = 3

    def diagnostics(self) -> str:
        """Everything a person may need: the message, then any further lines (``prov --verbose`` prints it).

        Defaults to the message; subclasses add lines (the records involved, all of them).
        """
        return str(self)


class InputError(ProvError):
    """Bad input: a missing or malformed file, a bad option, an unknown name."""

    exit_code = 2


class KeyFileError(InputError):
    """A key file that is missing, not a key, or encrypted without a passphrase."""


class MissingData(InputError):
    """The data of a path at a git revision is in neither DVC's cache nor a remote (``dvc gc``, an unpushed
    commit): exit 2 naming the path, the revision and the missing object, never "tampered"."""


class NotRereadable(InputError):
    """A version whose records cannot be read again *by design* (committed before its data's location was
    signed; read by an id column): callers that can do without the records (a schema change's pairing by
    locator) fall back; a file that is gone or no longer reads is not this error (attack review 13, R13-1)."""


class FileChanged(InputError):
    """A data file that is not the file listed when the read began (replaced, or written to) while a
    command read it in parts: its records would be a mix of two files, so nothing is signed or
    compared (attack review 25d); exit 2 naming the file, to be run again once nothing writes to it."""


class VerificationError(ProvError):
    """Something was checked and found wrong: a digest, a signature, the audit chain."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        details: list[str] | None = None,
        records: list[dict] | None = None,
        count: int | None = None,
    ):
        super().__init__(message)
        self.details = list(details or [])  # lines for people
        self.records = list(records or [])  # the records involved (or the first of them), for reports that name them
        self.count = len(self.records) if count is None else count  # how many records are involved in all

    def diagnostics(self) -> str:
        """The message, then one line per detail (e.g. each record that differs)."""
        return "\n".join([str(self), *self.details])


class DataUnavailable(ProvError):
    """Data a command must read again cannot be read (not fetched, moved, deleted, no longer in its
    format): exit 3, the command could not evaluate; never a silent fallback (attack review 13, R13-1)."""

    exit_code = 3


class StoreError(ProvError):
    """The store cannot be used: missing, busy, or damaged beyond a verification finding."""

    exit_code = 3


class StoreBusyError(StoreError):
    """Another prov process holds the store's write lock for longer than we wait."""
