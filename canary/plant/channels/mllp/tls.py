"""TLS for MLLP targets (``mllps://``): the client context and one-line reasons for TLS failures.

Only file paths and an environment variable's name are ever kept; the key itself is read by OpenSSL
when the context is built and never passes through our strings.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from canary.errors import CanaryError
from canary.files import require_owner_only

# Alerts a server sends when it will not take our client certificate (TLS 1.2 and 1.3 names).
_CLIENT_CERT_ALERTS = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_UNKNOWN",
                       "CERTIFICATE_REVOKED", "CERTIFICATE_EXPIRED", "UNSUPPORTED_CERTIFICATE", "ACCESS_DENIED")
# OpenSSL verify codes (X509_V_ERR_*) of our own check of the server's certificate.
_NOT_TRUSTED = {2, 18, 19, 20, 21, 27, 28}
_NAME_MISMATCH = {62, 63, 64}
_EXPIRED = {9, 10}


@dataclass(frozen=True)
class TlsConfig:
    """How to talk TLS to one target; every field is a path or a name, never key material."""

    ca_file: str | None = None  # None: the system trust store
    cert_file: str | None = None  # our client certificate (PEM; may also hold the key)
    key_file: str | None = None
    key_password_env: str | None = None  # name of the variable holding the key's passphrase
    server_name: str | None = None  # name checked in the server certificate and sent as SNI

    @property
    def has_client_cert(self) -> bool:
        return bool(self.cert_file)


def client_context(config: TlsConfig) -> ssl.SSLContext:
    """A verifying client context (TLS 1.2 minimum), or a CanaryError saying which file is wrong."""
    if config.key_file and not config.cert_file:
        raise CanaryError("a TLS client key was given without its certificate (tls_cert / "
                          "plant.mllp.tls_cert_file) / clé client sans certificat")
    for label, path in (("CA bundle", config.ca_file), ("client certificate", config.cert_file),
                        ("client key", config.key_file)):
        if path and not os.access(path, os.R_OK):
            raise CanaryError(f"TLS {label} {path} is missing or not readable / fichier TLS illisible")
    if config.cert_file:
        require_owner_only(config.key_file or config.cert_file, "TLS client key")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.ca_file or None)
    except (ssl.SSLError, OSError) as exc:  # OSError: a directory, or a file gone since the check above
        raise CanaryError(f"TLS CA bundle {config.ca_file} holds no usable certificate ({_ssl_reason(exc)}) "
                          "/ bundle d'AC illisible") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.cert_file:
        try:
            context.load_cert_chain(config.cert_file, config.key_file or None, password=_password(config))
        except (ssl.SSLError, OSError) as exc:
            raise CanaryError(f"TLS client certificate {config.cert_file} and key {config.key_file or '(same file)'} "
                              f"cannot be used ({_ssl_reason(exc)}); a PEM certificate and its matching key "
                              "are expected, an encrypted key needs plant.mllp.tls_key_password_env "
                              "/ certificat client inutilisable") from exc
    return context


def _password(config: TlsConfig) -> Callable[[], str]:
    """A callback for OpenSSL: without it an encrypted key would make OpenSSL prompt on the terminal."""
    def read() -> str:
        if not config.key_password_env:
            raise CanaryError(f"TLS client key {config.key_file or config.cert_file} is encrypted: name the "
                              "variable holding its passphrase in plant.mllp.tls_key_password_env "
                              "/ clé chiffrée sans phrase de passe")
        value = os.environ.get(config.key_password_env)
        if value is None:
            raise CanaryError(f"environment variable {config.key_password_env} (plant.mllp.tls_key_password_env) "
                              "is not set")
        return value
    return read


def absolute_path(value: str | None) -> str | None:
    """Paths are stored with the target: make them independent of the directory of the next run."""
    return str(Path(value).expanduser().resolve()) if value else None


def _ssl_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return exc.verify_message
    if not isinstance(exc, ssl.SSLError) and isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return (str(reason).replace("_", " ").lower() if reason else None) or str(exc) or exc.__class__.__name__


def is_client_cert_refusal(exc: BaseException) -> bool:
    """The server aborted the handshake over our certificate: it accepted no data on this connection."""
    reason = str(getattr(exc, "reason", "") or "")
    return isinstance(exc, ssl.SSLError) and "ALERT" in reason and any(a in reason for a in _CLIENT_CERT_ALERTS)


def describe_failure(exc: BaseException, config: TlsConfig, host: str) -> str | None:
    """A one-line operator reason for a TLS failure, or None when ``exc`` is not one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code, why = exc.verify_code, _ssl_reason(exc)
        if code in _NAME_MISMATCH:
            name = config.server_name or host
            return (f"server certificate does not match the name {name!r} ({why}); connect by the name in the "
                    "certificate or set tls_server_name / le certificat du serveur ne correspond pas au nom")
        if code in _EXPIRED:
            return f"server certificate expired or not yet valid ({why}) / certificat du serveur hors validité"
        if code in _NOT_TRUSTED:
            where = f"CA bundle {config.ca_file}" if config.ca_file else "system trust store"
            return (f"server certificate not trusted by the {where} ({why}); give the issuing CA with tls_ca or "
                    "plant.mllp.tls_ca_file / certificat du serveur non reconnu")
        return f"server certificate rejected ({why}) / certificat du serveur refusé"
    if is_client_cert_refusal(exc):
        if not config.has_client_cert:
            return (f"the server requires a client certificate ({_ssl_reason(exc)}); give one with tls_cert and "
                    "tls_key or plant.mllp.tls_cert_file / le serveur exige un certificat client")
        return (f"the server refused our client certificate ({_ssl_reason(exc)}) / certificat client refusé "
                "par le serveur")
    if isinstance(exc, ssl.SSLError) and "HANDSHAKE_FAILURE" in str(exc.reason or "") and not config.has_client_cert:
        # TLS 1.2 servers answer a missing client certificate with this generic alert.
        return (f"TLS handshake failed ({_ssl_reason(exc)}); the server may require a client certificate (give "
                "one with tls_cert and tls_key) or share no TLS version or cipher with us / échec de la "
                "négociation TLS")
    if isinstance(exc, ssl.SSLError):
        return (f"TLS handshake failed ({_ssl_reason(exc)}); is the port MLLP over TLS, with TLS 1.2 or later? "
                "/ échec de la négociation TLS")
    return None
