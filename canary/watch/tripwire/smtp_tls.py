"""STARTTLS for the SMTP receiver: the operator's certificate and key, checked before anything listens.

Every failure names the setting, the file and what is wrong with it, never the file's content: the
operator can fix it from the one line ``canary serve`` prints.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from canary.errors import CanaryError
from canary.files import require_owner_only

_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----")
_PRIVATE_KEY = re.compile(rb"-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----")


def tls_context(cert: str, key: str, *, require: bool) -> ssl.SSLContext | None:
    """The server context for STARTTLS, or None when no certificate is configured (plain SMTP only)."""
    cert, key = cert.strip(), key.strip()
    if not cert and not key:
        if require:
            raise CanaryError("tripwire.smtp_require_tls is on but no certificate is configured: "
                              "set tripwire.smtp_tls_cert and tripwire.smtp_tls_key")
        return None
    if not cert:
        raise CanaryError("tripwire.smtp_tls_key is set but tripwire.smtp_tls_cert is empty")
    if not key:
        raise CanaryError("tripwire.smtp_tls_cert is set but tripwire.smtp_tls_key is empty")
    return load_tls_context(Path(cert).expanduser(), Path(key).expanduser())


def load_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    cert_pem = _read("tripwire.smtp_tls_cert", cert_path)
    if not _CERTIFICATE.search(cert_pem):
        raise CanaryError(f"tripwire.smtp_tls_cert {cert_path}: no PEM certificate in it "
                          "(expected -----BEGIN CERTIFICATE-----)")
    _check_certificates(cert_path, cert_pem)
    require_owner_only(key_path, "tripwire.smtp_tls_key")
    key_pem = _read("tripwire.smtp_tls_key", key_path)
    found = _PRIVATE_KEY.search(key_pem)
    if not found:
        raise CanaryError(f"tripwire.smtp_tls_key {key_path}: no PEM private key in it "
                          "(expected -----BEGIN PRIVATE KEY-----)")
    if found.group(1) == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in key_pem:
        raise CanaryError(f"tripwire.smtp_tls_key {key_path}: the key is protected by a passphrase; "
                          "give an unencrypted key readable only by the service")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_path, key_path, password=_no_passphrase)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise CanaryError(f"tripwire.smtp_tls_key {key_path}: the key does not match the certificate "
                              f"{cert_path}") from exc
        raise CanaryError(f"tripwire.smtp_tls_key {key_path}: OpenSSL cannot load it with {cert_path} "
                          f"({exc.reason or exc})") from exc
    except OSError as exc:  # the files changed between our checks and OpenSSL's read
        raise CanaryError(f"tripwire.smtp_tls_key {key_path}: cannot load ({exc.strerror or exc})") from exc
    return context


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CanaryError(f"{setting} {path}: cannot read it ({exc.strerror or exc})") from exc


def _check_certificates(path: Path, pem: bytes) -> None:
    """Parse the chain on its own, so a broken certificate is not blamed on the key."""
    try:
        ssl.create_default_context(cadata=pem.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise CanaryError(f"tripwire.smtp_tls_cert {path}: the certificate cannot be parsed "
                          f"({getattr(exc, 'reason', None) or exc})") from exc


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal and block serve.
    raise CanaryError("the key is protected by a passphrase")


def tls_summary(ssl_extra: object) -> dict[str, str] | None:
    """Protocol and cipher of a session that did STARTTLS (aiosmtpd's ``session.ssl``), for the event."""
    if not isinstance(ssl_extra, dict):
        return None
    ssl_object = ssl_extra.get("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    cipher = ssl_object.cipher()
    return {"version": ssl_object.version() or "", "cipher": cipher[0] if cipher else ""}
