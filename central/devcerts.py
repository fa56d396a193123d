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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from central.x509build import (
    Signer,
    certificate_pem,
    issue_certificate,
    subject_name,
    validity,
    write_private_key,
)

_CA_VALIDITY = dt.timedelta(days=3650)
_LEAF_VALIDITY = dt.timedelta(days=825)
_BACKDATED = dt.timedelta(minutes=5)  # for clocks a little behind


def _name(common_name: str) -> x509.Name:
    return subject_name(("O", "Mynapoint kiosk dev"), ("CN", common_name))


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
        ca = Signer(_name("Mynapoint kiosk dev TLS CA"), ca_key)
        ca_cert = issue_certificate(
            ca.name,
            ca_key.public_key(),
            ca,
            validity(_BACKDATED, _CA_VALIDITY),
            ca=True,
            usage=("digital_signature", "key_cert_sign", "crl_sign"),
        )
        write_private_key(tls.ca_key, ca_key)
        tls.ca_cert.write_bytes(certificate_pem(ca_cert))
        tls._issue_server(hosts)
        return tls

    @classmethod
    def load_or_create(cls, directory: Path) -> DevTLS:
        tls = cls(directory)
        return tls if tls.ca_cert.exists() else cls.create(directory)

    def _ca(self) -> Signer:
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return Signer(cert.subject, key)

    def _issue_leaf(
        self, common_name: str, key: ec.EllipticCurvePrivateKey, *extensions: x509.ExtensionType
    ) -> x509.Certificate:
        return issue_certificate(
            _name(common_name),
            key.public_key(),
            self._ca(),
            validity(_BACKDATED, _LEAF_VALIDITY),
            extensions=extensions,
        )

    def _issue_server(self, hosts: tuple[str, ...]) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        cert = self._issue_leaf(
            "mynapoint-central",
            key,
            x509.SubjectAlternativeName(names),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
        )
        write_private_key(self.server_key, key)
        self.server_cert.write_bytes(certificate_pem(cert))

    def issue_kiosk(self, kiosk_id: str) -> tuple[Path, Path]:
        """(certificate path, key path) of a client certificate whose CN is ``kiosk_id``."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue_leaf(
            kiosk_id, key, x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
        )
        write_private_key(self.kiosk_key(kiosk_id), key)
        self.kiosk_cert(kiosk_id).write_bytes(certificate_pem(cert))
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
