"""A test PKI shaped like the real JPKI user-authentication PKI.

Two CA generations live at once (as with the real 2015-2025 and 2023-2033 CAs),
each self-signed RSA-2048 with the real CA's DN shape; cards get RSA-2048 keys and
a certificate whose subject is only ``CN=<opaque 20-character id>, C=JP``.

    >>> pki = TestPKI.create(tmp_path)            # doctest: +SKIP
    >>> card = pki.issue_card()                    # doctest: +SKIP
    >>> card.certificate.subject.rfc4514_string()  # doctest: +SKIP
    'C=JP,CN=...'

Everything is written as PEM under one directory so the virtual card, the kiosk and
the reference central service can share it between processes.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from central.x509build import (
    Signer,
    certificate_pem,
    issue_certificate,
    private_key_pem,
    subject_name,
    validity,
)

CA_GENERATIONS = {
    # generation name: (not_before, not_after), shaped like the real live CAs
    "2015": (dt.datetime(2015, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 12, 31, tzinfo=dt.UTC)),
    "2023": (dt.datetime(2023, 1, 1, tzinfo=dt.UTC), dt.datetime(2033, 12, 31, tzinfo=dt.UTC)),
}
CARD_BACKDATED = dt.timedelta(days=30)
CARD_VALIDITY = dt.timedelta(days=5 * 365)
_OPAQUE_ALPHABET = string.ascii_uppercase + string.digits
# Shaped like the real user-authentication certificates' extensions (values made up
# where the real ones are not public), so a test certificate is 1.2-1.8 KB like a real one.
_AUTH_POLICY_OID = x509.ObjectIdentifier("1.2.392.200149.8.5.1.3.30")
_CPS_URI = "http://www.jpki.go.jp/cps.html"
_OCSP_URI = "http://ocspauthnorm.jpki.go.jp"


def _ca_name(generation: str) -> x509.Name:
    return subject_name(
        ("C", "JP"),
        ("O", "JPKI"),
        ("OU", "JPKI for user authentication"),
        ("OU", "Japan Agency for Local Authority Information Systems"),
        ("serialNumber", f"TEST-{generation}"),  # not in the real DN: tells the tests' CAs apart
    )


def new_rsa_key() -> rsa.RSAPrivateKey:
    """An RSA-2048 key, e=65537, as cards and JPKI CAs hold (about 0.1 s to make)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class CardIdentity:
    """One card's user-authentication key pair and certificate (and its CA's)."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    ca_certificate: x509.Certificate

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def ca_certificate_der(self) -> bytes:
        return self.ca_certificate.public_bytes(serialization.Encoding.DER)

    def sign_digest(self, digest: bytes) -> bytes:
        """What the card answers to SIGN over DigestInfo(SHA-256, ``digest``): PKCS#1 v1.5."""
        return self.key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "auth_key.pem").write_bytes(private_key_pem(self.key))
        (directory / "auth_cert.der").write_bytes(self.certificate_der)
        (directory / "ca_cert.der").write_bytes(self.ca_certificate_der)

    @classmethod
    def load(cls, directory: Path) -> CardIdentity:
        key = serialization.load_pem_private_key(
            (directory / "auth_key.pem").read_bytes(), password=None
        )
        assert isinstance(key, rsa.RSAPrivateKey)
        return cls(
            key=key,
            certificate=x509.load_der_x509_certificate((directory / "auth_cert.der").read_bytes()),
            ca_certificate=x509.load_der_x509_certificate((directory / "ca_cert.der").read_bytes()),
        )


@dataclass
class TestPKI:
    """Two CA generations on disk; issues card identities and revocation lists."""

    __test__ = False  # not a pytest test class

    directory: Path
    ca_keys: dict[str, rsa.RSAPrivateKey]
    ca_certificates: dict[str, x509.Certificate]

    @classmethod
    def create(cls, directory: Path, generations: tuple[str, ...] = ("2015", "2023")) -> TestPKI:
        directory.mkdir(parents=True, exist_ok=True)
        keys, certs = {}, {}
        for gen in generations:
            key = new_rsa_key()
            ca = Signer(_ca_name(gen), key)
            cert = issue_certificate(
                ca.name,
                key.public_key(),
                ca,
                CA_GENERATIONS[gen],
                ca=True,
                usage=("key_cert_sign", "crl_sign"),
            )
            (directory / f"ca-{gen}.key.pem").write_bytes(private_key_pem(key))
            (directory / f"ca-{gen}.pem").write_bytes(certificate_pem(cert))
            keys[gen], certs[gen] = key, cert
        return cls(directory, keys, certs)

    @classmethod
    def load(cls, directory: Path) -> TestPKI:
        keys, certs = {}, {}
        for pem in sorted(directory.glob("ca-*.key.pem")):
            gen = pem.name.removeprefix("ca-").removesuffix(".key.pem")
            key = serialization.load_pem_private_key(pem.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            keys[gen] = key
            certs[gen] = x509.load_pem_x509_certificate((directory / f"ca-{gen}.pem").read_bytes())
        return cls(directory, keys, certs)

    @classmethod
    def load_or_create(cls, directory: Path) -> TestPKI:
        if any(directory.glob("ca-*.key.pem")):
            return cls.load(directory)
        return cls.create(directory)

    def trusted_ca_pem(self) -> bytes:
        """All CA generations as one PEM bundle: what a verifier should trust."""
        return b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in self.ca_certificates.values()
        )

    def issue_card(
        self,
        generation: str = "2023",
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        opaque_id: str | None = None,
        *,
        key: rsa.RSAPrivateKey | None = None,
        serial: int | None = None,
    ) -> CardIdentity:
        """A new card key and user-auth certificate; pass dates in the past for expired cards.

        ``key`` reuses a key (making one takes ~0.1 s; the central service tells people
        apart by issuer and serial, not by key); ``serial`` chooses the serial number.
        """
        default_before, default_after = validity(CARD_BACKDATED, CARD_VALIDITY)
        opaque_id = opaque_id or "".join(secrets.choice(_OPAQUE_ALPHABET) for _ in range(20))
        key = key or new_rsa_key()
        ca_cert = self.ca_certificates[generation]
        cert = issue_certificate(
            subject_name(("CN", opaque_id), ("C", "JP")),
            key.public_key(),
            Signer(ca_cert.subject, self.ca_keys[generation]),
            (not_before or default_before, not_after or default_after),
            usage=("digital_signature",),
            extensions=_auth_certificate_extensions(generation),
            serial=serial,
        )
        return CardIdentity(key=key, certificate=cert, ca_certificate=ca_cert)

    def revocation_list(
        self,
        generation: str,
        revoked_serials: list[int],
        next_update: dt.datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """A CRL from one CA generation naming the given certificate serials; current for
        a day unless ``next_update`` says otherwise (pass a past time for a stale CRL)."""
        now = dt.datetime.now(dt.UTC)
        next_update = next_update or now + dt.timedelta(days=1)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca_certificates[generation].subject)
            .last_update(min(now, next_update) - dt.timedelta(minutes=1))
            .next_update(next_update)
        )
        for serial in revoked_serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - dt.timedelta(minutes=1))
                .build()
            )
        return builder.sign(self.ca_keys[generation], hashes.SHA256())


def _auth_certificate_extensions(generation: str) -> list[x509.ExtensionType]:
    """Non-critical extensions like a real user-auth certificate's (no personal data);
    the key identifiers are written by ``issue_certificate``."""
    crl_name = subject_name(
        ("C", "JP"),
        ("O", "JPKI"),
        ("OU", "JPKI for user authentication"),
        ("OU", "CRL Distribution Points"),
        ("OU", f"TEST-{generation}"),
        ("CN", "Tokyo-to Test-ku CRLDP"),
    )
    issuer_alt = subject_name(("C", "JP"), ("O", "公的個人認証サービス利用者証明用"))
    return [
        x509.CertificatePolicies([x509.PolicyInformation(_AUTH_POLICY_OID, [_CPS_URI])]),
        x509.IssuerAlternativeName([x509.DirectoryName(issuer_alt)]),
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.DirectoryName(crl_name)], None, None, None)]
        ),
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(_OCSP_URI),
                )
            ]
        ),
    ]


def unknown_ca_pki(directory: Path) -> TestPKI:
    """A PKI with the same DN shape but keys no verifier trusts (for 'unknown CA' tests)."""
    return TestPKI.create(directory, generations=("2023",))
