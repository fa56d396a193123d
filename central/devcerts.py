"""A development TLS PKI for mutual TLS between kiosks and the central service.

Separate from the JPKI test PKI (``sim/pki.py``): this one only authenticates
the transport. One CA signs a server certificate (for ``127.0.0.1`` and ``localhost``)
and one client certificate per kiosk, whose CN is the kiosk id.

    $ python -m central.devcerts var/tls --kiosk K-0001 --kiosk K-0002

writes ``ca.pem``, ``ca.key.pem``, ``server.pem``, ``server.key.pem`` and
``kiosk-<id>.pem`` / ``kiosk-<id>.key.pem``. Not for production: keys are unencrypted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=825)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600)
    path.write_bytes(_key_pem(key))


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mynapoint kiosk dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _leaf_builder(
    ca_cert: x509.Certificate, subject: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


@dataclass(frozen=True)
class DevTLS:
    """The files of one development TLS PKI in ``directory``."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key.pem"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key.pem"

    def kiosk_cert(self, kiosk_id: str) -> Path:
        return self.directory / f"kiosk-{kiosk_id}.pem"

    def kiosk_key(self, kiosk_id: str) -> Path:
        return self.directory / f"kiosk-{kiosk_id}.key.pem"

    @classmethod
    def create(cls, directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> DevTLS:
        """A new CA and a server certificate for ``hosts``."""
        directory.mkdir(parents=True, exist_ok=True)
        tls = cls(directory)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        ca_name = _name("Mynapoint kiosk dev TLS CA")
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(tls.ca_key, ca_key)
        tls.ca_cert.write_bytes(_cert_pem(ca_cert))
        tls._issue_server(hosts)
        return tls

    @classmethod
    def load_or_create(cls, directory: Path) -> DevTLS:
        tls = cls(directory)
        return tls if tls.ca_cert.exists() else cls.create(directory)

    def _ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key

    def _issue_server(self, hosts: tuple[str, ...]) -> None:
        ca_cert, ca_key = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        cert = (
            _leaf_builder(ca_cert, _name("mynapoint-central"), key)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(self.server_key, key)
        self.server_cert.write_bytes(_cert_pem(cert))

    def issue_kiosk(self, kiosk_id: str) -> tuple[Path, Path]:
        """(certificate path, key path) of a client certificate whose CN is ``kiosk_id``."""
        ca_cert, ca_key = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            _leaf_builder(ca_cert, _name(kiosk_id), key)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(self.kiosk_key(kiosk_id), key)
        self.kiosk_cert(kiosk_id).write_bytes(_cert_pem(cert))
        return self.kiosk_cert(kiosk_id), self.kiosk_key(kiosk_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Make a development TLS PKI for mTLS.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--kiosk", action="append", default=[], help="kiosk id (repeatable)")
    args = parser.parse_args(argv)
    tls = DevTLS.load_or_create(args.directory)
    for kiosk_id in args.kiosk:
        tls.issue_kiosk(kiosk_id)
    print(tls.directory)


if __name__ == "__main__":
    main()
