"""Ed25519 keys (RFC 8032, through ``cryptography``): generation, loading, and key ids.

Private keys are PKCS#8 PEM files (RFC 5208 / RFC 5958, Ed25519 key format of RFC 8410),
created with mode 0600 (never widened), encrypted with ``cryptography``'s best available
scheme when ``PROV_PASSPHRASE`` is set. Public keys are SubjectPublicKeyInfo PEM
(RFC 8410). A key id is the SHA-256 of the raw 32-byte public key, in hex. Nothing here
prints or logs key material; errors name the file, never its contents.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance import input_file
from provenance.errors import InputError, KeyFileError
from provenance.names import near_file

PASSPHRASE_ENV = "PROV_PASSPHRASE"


def key_id(public: Ed25519PublicKey) -> str:
    """The key id: SHA-256 of the raw 32-byte public key (RFC 8032 encoding), 64 hex digits."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM text (RFC 8410), what ``NAME.pub`` holds."""
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass(frozen=True)
class KeyPair:
    """The files :func:`generate` wrote (``NAME.key``, ``NAME.pub``) and the key id."""

    private_path: Path
    public_path: Path
    keyid: str


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


def generate(name: str | Path) -> KeyPair:
    """Generate an Ed25519 key pair and write ``NAME.key`` (PKCS#8 PEM, mode 0600) and ``NAME.pub``.

    ``name`` may end in ``.key`` or ``.pub`` (dropped). The private key is encrypted when
    ``PROV_PASSPHRASE`` is set. Raises ``InputError`` when either file exists or is a
    symbolic link, dangling or not (nothing is overwritten or written through), or the folder does not; ``OSError`` from writing is raised after removing
    a half-written pair.
    """
    base = Path(name)
    if base.suffix in (".key", ".pub"):
        base = base.with_suffix("")
    priv_path, pub_path = base.with_name(base.name + ".key"), base.with_name(base.name + ".pub")
    for p in (priv_path, pub_path):
        if p.is_symlink():  # a dangling link too: writing through it would create its target (attack review 16, F7)
            raise InputError(f"{p}: is a symbolic link; prov writes keys only to new files (remove it first)")
        if p.exists():
            raise InputError(f"{p}: already exists; choose another name or remove it first")
    if not priv_path.parent.is_dir():
        raise InputError(f"{priv_path.parent}: no such folder")
    private = Ed25519PrivateKey.generate()
    secret = _passphrase()
    encryption = serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may only narrow, but be explicit
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:  # a new file, never through a link planted since the check above
        pub_fd = os.open(pub_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(pub_fd, "w") as out:
            out.write(public_pem(private.public_key()))
    except OSError:
        priv_path.unlink()
        raise
    return KeyPair(priv_path, pub_path, key_id(private.public_key()))


def load_private(path: str | Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from a PKCS#8 PEM file, decrypting with ``PROV_PASSPHRASE``.

    Raises ``KeyFileError`` (exit 2) naming the file when it cannot be read, is readable
    by group or others (the message says to ``chmod 600``), is encrypted without a
    passphrase set (or the reverse), has the wrong passphrase, or is not an Ed25519 key.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        near = near_file(str(path), ".key") if exc.errno == errno.ENOENT else ""
        raise KeyFileError(f"{path}: cannot read private key ({exc.strerror}){near}") from exc
    data = _read_key_file(path, "private key", ".key")
    if b"-----BEGIN PUBLIC KEY-----" in data:
        raise KeyFileError(f"{path}: is a public key; give the private key (KEY.key), which signs")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: private key is readable by others (mode {stat.S_IMODE(st.st_mode):o}); run chmod 600 {path}"
        )
    secret = _passphrase()
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError as exc:
        if secret is None:
            raise KeyFileError(f"{path}: private key is encrypted; set {PASSPHRASE_ENV}") from exc
        raise KeyFileError(f"{path}: private key is not encrypted but {PASSPHRASE_ENV} is set; unset it") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        hint = "wrong passphrase or " if secret else ""
        raise KeyFileError(f"{path}: not a usable private key ({hint}not PKCS#8 PEM)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key")
    return key


def parse_public(data: bytes, name: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM bytes (SubjectPublicKeyInfo); ``name`` is for messages.

    Raises ``KeyFileError`` when ``data`` is a private key (pinning one is a key-handling
    mistake; the message names the ``.pub`` to pin instead), holds more than one public key (only
    the first would be read), is not a PEM public key, or is not an Ed25519 one.
    """
    if b"PRIVATE KEY-----" in data:
        raise KeyFileError(f"{name}: a private key; pin its public key ({_public_name(name)})")
    blocks = data.count(b"-----BEGIN PUBLIC KEY-----")
    if blocks > 1:  # PEM loading reads the first and drops the rest, silently (newcomer review 11, finding 11)
        raise KeyFileError(
            f"{name}: holds {blocks} public keys; give one key per file (pin several with --signer A.pub "
            "--signer B.pub, or PROV_SIGNERS=A.pub:B.pub)"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{name}: not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{name}: not an Ed25519 public key")
    return key


def _public_name(name: str) -> str:
    """The public key's usual file name next to private key ``name``: ``a.key`` -> ``a.pub``, else ``KEY.pub``."""
    return name[: -len(".key")] + ".pub" if name.endswith(".key") else "KEY.pub"


def load_public(path: str | Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key from a PEM file; ``KeyFileError`` if unreadable or not one."""
    return parse_public(_read_key_file(path, "public key", ".pub"), str(path))


def _read_key_file(path: str | Path, what: str, suffix: str) -> bytes:
    """A key file's bytes, at most ``input_file.KEY_BYTES`` (``--key /dev/zero`` must not read forever); a
    missing one names the closest file in its folder ending in ``suffix``."""
    try:
        return input_file.read_bounded(path, input_file.KEY_BYTES, what, suffix)
    except InputError as exc:
        raise KeyFileError(str(exc)) from exc
