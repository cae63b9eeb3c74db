"""A throwaway PKI for MLLP-over-TLS tests: CAs, server and client certificates made with `cryptography`."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_DNS_NAME = "mllp.chu-test.fr"


@dataclass(frozen=True)
class Issued:
    cert: str  # PEM file paths
    key: str


@dataclass(frozen=True)
class Pki:
    ca: Issued  # signs the servers' certificates
    client_ca: Issued  # signs the client certificates the mutual-TLS peer accepts
    rogue_ca: Issued  # trusted by nobody
    server: Issued  # for 127.0.0.1 (IP SAN)
    named_server: Issued  # for SERVER_DNS_NAME only
    expired_server: Issued  # for 127.0.0.1, expired yesterday
    client: Issued  # signed by client_ca
    rogue_client: Issued  # signed by rogue_ca
    encrypted_client_key: str  # client's key, encrypted with "s3cret"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CHU de test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)  # as a deployed key is: the client refuses keys other users can read
    return Issued(str(cert_path), str(key_path))


def _builder(subject: str, issuer: x509.Name, public_key, *, expired: bool = False) -> x509.CertificateBuilder:
    now = datetime.now(UTC) - timedelta(days=3 if expired else 0)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1)))


def _ca(folder: Path, stem: str, common_name: str) -> tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(common_name, _name(common_name), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _write(folder, stem, cert, key), cert, key


def _leaf(folder: Path, stem: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
          names: list[x509.GeneralName], usage: x509.ObjectIdentifier,
          expired: bool = False) -> tuple[Issued, ec.EllipticCurvePrivateKey]:
    issuer_cert, issuer_key = issuer
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(stem, issuer_cert.subject, key.public_key(), expired=expired)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return _write(folder, stem, builder.sign(issuer_key, hashes.SHA256()), key), key


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_cert, ca_key = _ca(folder, "ca", "AC serveurs CHU de test")
    client_ca, client_ca_cert, client_ca_key = _ca(folder, "client-ca", "AC clients CHU de test")
    rogue_ca, rogue_cert, rogue_key = _ca(folder, "rogue-ca", "AC inconnue")
    server_auth, client_auth = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    server, _ = _leaf(folder, "server", (ca_cert, ca_key), [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                      server_auth)
    named, _ = _leaf(folder, "named-server", (ca_cert, ca_key), [x509.DNSName(SERVER_DNS_NAME)], server_auth)
    expired, _ = _leaf(folder, "expired-server", (ca_cert, ca_key), [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                       server_auth, expired=True)
    client, client_key = _leaf(folder, "client", (client_ca_cert, client_ca_key), [], client_auth)
    rogue_client, _ = _leaf(folder, "rogue-client", (rogue_cert, rogue_key), [], client_auth)
    encrypted = folder / "client-encrypted.key"
    encrypted.write_bytes(client_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.BestAvailableEncryption(b"s3cret")))
    encrypted.chmod(0o600)
    return Pki(ca, client_ca, rogue_ca, server, named, expired, client, rogue_client, str(encrypted))


def server_context(server: Issued, *, client_ca: Issued | None = None,
                   maximum_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A real server context; with ``client_ca`` it requires a client certificate signed by it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server.cert, server.key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca.cert)
    if maximum_version is not None:
        context.maximum_version = maximum_version
    return context
