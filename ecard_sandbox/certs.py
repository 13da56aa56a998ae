"""The sandbox's own certificate authority and its server certificate.

The CA (`ca.pem`, key `ca-key.pem` with mode 0600) is created in the state directory on first
start and reused afterwards, so that clients can keep trusting `ca.pem`. The server certificate
(127.0.0.1, ::1, localhost and the bind host) is issued afresh on every start and never written
to disk beyond the moment it takes to load it.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=30)
DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")


class CertificateError(RuntimeError):
    """The state directory holds a CA that cannot be used."""


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Signatures only (an ECDSA server key), plus certificate and CRL signing for the CA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically with the given permissions (the key is never world-readable)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _create_ca(state_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ecard_sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "ecard_sandbox local CA"),
        ]
    )
    now = datetime.now(UTC)
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            _key_usage(signs_certificates=True),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    _write(state_dir / CA_KEY_FILE, _pem_key(key), 0o600)
    _write(state_dir / CA_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def load_or_create_ca(state_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Reuse `ca.pem` + `ca-key.pem` when both exist, else create a new pair."""
    cert_path, key_path = state_dir / CA_CERT_FILE, state_dir / CA_KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        return _create_ca(state_dir)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError as exc:
        raise CertificateError(f"cannot read the CA in {state_dir}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertificateError(
            f"{cert_path} and {key_path} do not belong together; delete both to start a new CA"
        )
    return cert, key


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue_server_certificate(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, host: str
) -> tuple[bytes, bytes]:
    """(certificate chain PEM, key PEM) for the loopback names plus `host`."""
    names = list(DEFAULT_NAMES)
    unspecified = host in ("", "0.0.0.0", "::")  # noqa: S104 - compared, never bound here
    if not unspecified and host not in names:
        names.append(host)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            _key_usage(signs_certificates=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM)
    return chain, _pem_key(key)


def server_context(state_dir: Path, host: str) -> ssl.SSLContext:
    """A TLS server context with a fresh certificate signed by the state directory's CA."""
    ca_cert, ca_key = load_or_create_ca(state_dir)
    chain, key = issue_server_certificate(ca_cert, ca_key, host)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain only reads files: write them privately, load, and delete at once.
    with tempfile.TemporaryDirectory(dir=state_dir, prefix=".tls-") as temp:
        cert_file, key_file = Path(temp) / "server.pem", Path(temp) / "server-key.pem"
        _write(cert_file, chain, 0o600)
        _write(key_file, key, 0o600)
        context.load_cert_chain(cert_file, key_file)
    return context
