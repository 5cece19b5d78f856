"""SeaweedFS locked to the S3 keys: nothing writes the bucket without them.

Out of the box ``weed mini`` accepts unauthenticated writes from any local
user on its filer HTTP API (a POST puts a file in the bucket), its master
(``/submit``) and the gRPC ports of every component (``weed filer.copy``).
Measured on weed 4.48 (issue 20), what closes all of them while S3 with keys
keeps working:

- ``-disableHttp``: no master or filer HTTP API at all;
- JWT signing keys: the volume server takes only writes the master signed,
  and the master hands tokens out only over gRPC;
- mutual TLS on every gRPC port, with a CA and a certificate made for this
  installation: a client without them is refused.

Keys and certificates are made once per installation and kept 0600 under
the service's data directory, like its other secrets.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

# Every component section weed's security.toml knows; each gets the one node
# certificate (SeaweedFS does not check host names).
GRPC_COMPONENTS = (
    "master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "msg_agent", "mq",
    "client",
)  # fmt: skip


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def ensure_tls(directory: Path) -> tuple[Path, Path, Path]:
    """The CA certificate, node certificate and node key under ``directory``,
    made on first use (EC P-256, ten years; the CA key is not kept)."""
    ca_cert, cert, key = directory / "ca.crt", directory / "node.crt", directory / "node.key"
    if ca_cert.exists() and cert.exists() and key.exists():
        return ca_cert, cert, key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    until = now + datetime.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kisa-weed-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    node_key = ec.generate_private_key(ec.SECP256R1())
    node = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kisa-weed")]))
        .issuer_name(ca_name)
        .public_key(node_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write_private(ca_cert, ca.public_bytes(pem))
    _write_private(cert, node.public_bytes(pem))
    _write_private(
        key,
        node_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    return ca_cert, cert, key


def security_toml(jwt_key: str, filer_key: str, ca: Path, cert: Path, key: Path) -> str:
    """weed's ``security.toml``: JWT signing for volume and filer writes, mTLS on gRPC.

    >>> files = Path("/c/ca.crt"), Path("/c/n.crt"), Path("/c/n.key")
    >>> text = security_toml("a" * 64, "b" * 64, *files)
    >>> "[jwt.filer_signing]" in text and '[grpc.s3]\\ncert = "/c/n.crt"' in text
    True
    """
    lines = [
        "[jwt.signing]", f'key = "{jwt_key}"', "expires_after_seconds = 10", "",
        "[jwt.filer_signing]", f'key = "{filer_key}"', "expires_after_seconds = 10", "",
        "[access]", "ui = false", "",
        "[grpc]", f'ca = "{ca}"', "",
    ]  # fmt: skip
    for component in GRPC_COMPONENTS:
        lines += [f"[grpc.{component}]", f'cert = "{cert}"', f'key = "{key}"', ""]
    return "\n".join(lines)


def write_security_config(directory: Path, jwt_key: str, filer_key: str) -> Path:
    """``directory/security.toml`` (0600) with its certificates beside it;
    ``weed -config_dir=directory`` reads it."""
    ca, cert, key = ensure_tls(directory / "tls")
    path = directory / "security.toml"
    _write_private(path, security_toml(jwt_key, filer_key, ca, cert, key).encode())
    return path
