"""Sealed backup files: a small header, then the registry image compressed and encrypted with Fernet.

The key comes from a passphrase (environment) or a key file, stretched with scrypt and a random salt.
The header carries a check value derived with the key, so a wrong passphrase is told apart from a
damaged file, and the length of the sealed part, so a truncated copy is told apart from both.
Fernet authenticates everything it encrypts: any other change is refused, never half-read.

Layout: MAGIC (14) | version (1) | key kind (1) | salt (16) | check (16) | token length (8, big-endian) | token
"""

from __future__ import annotations

import base64
import hmac
import struct
import zlib
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from canary.errors import CanaryError

MAGIC = b"CANARY-BACKUP\x00"
VERSION = 1
KINDS = {1: "passphrase", 2: "key file"}
_HEADER = struct.Struct(f">{len(MAGIC)}sBB16s16sQ")
# scrypt at 32 MiB and ~0.1 s per derivation: cheap once per backup, costly for a guesser.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


@dataclass(frozen=True)
class BackupKey:
    """The secret a backup is sealed with; ``kind`` is 'passphrase' or 'key file', ``where`` names its origin."""

    kind: str
    secret: bytes
    where: str

    @property
    def kind_code(self) -> int:
        return next(code for code, name in KINDS.items() if name == self.kind)


def _derive(key: BackupKey, salt: bytes) -> tuple[bytes, bytes]:
    material = Scrypt(salt=salt, length=48, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(key.secret)
    return base64.urlsafe_b64encode(material[:32]), material[32:]


def seal(image: bytes, key: BackupKey, salt: bytes) -> bytes:
    """The sealed file's bytes for a registry image (``salt``: 16 random bytes, new for each backup)."""
    fernet_key, check = _derive(key, salt)
    token = Fernet(fernet_key).encrypt(zlib.compress(image, 6))
    return _HEADER.pack(MAGIC, VERSION, key.kind_code, salt, check, len(token)) + token


def unseal(sealed: bytes, key: BackupKey, label: str) -> bytes:
    """The registry image inside a sealed file; one clear ``CanaryError`` for anything wrong with it."""
    if len(sealed) < _HEADER.size or not sealed.startswith(MAGIC):
        if MAGIC.startswith(sealed[: len(MAGIC)]) and sealed:
            raise CanaryError(f"backup {label} is truncated (only {len(sealed)} bytes)")
        raise CanaryError(f"{label} is not a canary backup")
    _magic, version, kind, salt, check, length = _HEADER.unpack_from(sealed)
    if version != VERSION:
        raise CanaryError(f"backup {label} has format version {version}; this canary reads version {VERSION}")
    token = sealed[_HEADER.size:]
    if len(token) < length:
        raise CanaryError(f"backup {label} is truncated ({len(token)} of {length} sealed bytes)")
    if len(token) > length:
        raise CanaryError(f"backup {label} has {len(token) - length} unexpected bytes after its end")
    fernet_key, expected = _derive(key, salt)
    if not hmac.compare_digest(check, expected):
        sealed_with = KINDS.get(kind, "unknown key")
        raise CanaryError(f"backup {label}: wrong {key.kind} ({key.where}); it was sealed with a {sealed_with}")
    try:
        return zlib.decompress(Fernet(fernet_key).decrypt(token))
    except (InvalidToken, zlib.error) as exc:
        raise CanaryError(f"backup {label} is damaged: its content fails authentication") from exc
