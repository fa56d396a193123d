"""One way to issue an X.509 certificate, for every PKI this project makes itself.

The development TLS PKI (``central/devcerts.py``, which ``mynapoint-central init``
uses) and the simulated JPKI PKI (``sim/pki.py``) both issue through
:func:`issue_certificate`: a serial drawn at random, SHA-256, basic constraints and key
usage critical, key identifiers, then whatever extensions the certificate's kind adds
(not critical). It lives in ``central/`` because the central service's own ``init``
needs it and ``central`` imports nothing of the kiosk's or the simulators'; ``sim/``
imports it from here.

    >>> from cryptography.hazmat.primitives.asymmetric import ec
    >>> key = ec.generate_private_key(ec.SECP256R1())
    >>> ca = Signer(subject_name(("O", "Example"), ("CN", "Example CA")), key)
    >>> month = validity(dt.timedelta(0), dt.timedelta(days=30))
    >>> cert = issue_certificate(ca.name, key.public_key(), ca, month, ca=True,
    ...                          usage=("key_cert_sign", "crl_sign"))
    >>> cert.issuer == cert.subject, cert.extensions.get_extension_for_class(
    ...     x509.BasicConstraints).value.ca
    (True, True)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import NameOID

#: The attributes :func:`subject_name` takes, in the order they are written.
_NAME_ATTRIBUTES = {
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
}
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


@dataclass(frozen=True)
class Signer:
    """The issuing CA: the name written as issuer and the key that signs."""

    name: x509.Name
    key: CertificateIssuerPrivateKeyTypes


def subject_name(*pairs: tuple[str, str]) -> x509.Name:
    """An X.509 name from ``("C", "JP"), ("OU", "a"), ("OU", "b")``, in that order."""
    return x509.Name([x509.NameAttribute(_NAME_ATTRIBUTES[k], value) for k, value in pairs])


def key_usage(*allowed: str) -> x509.KeyUsage:
    """A KeyUsage with exactly the ``allowed`` bits set (names as in cryptography)."""
    unknown = set(allowed) - set(_KEY_USAGES)
    if unknown:
        raise ValueError(f"unknown key usage {sorted(unknown)}")
    return x509.KeyUsage(**{name: name in allowed for name in _KEY_USAGES})


def validity(
    before: dt.timedelta, after: dt.timedelta, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """(not_before, not_after): from ``before`` ago until ``after`` from ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    return now - before, now + after


def issue_certificate(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    signer: Signer,
    validity: tuple[dt.datetime, dt.datetime],
    *,
    ca: bool = False,
    usage: Iterable[str] = (),
    extensions: Iterable[x509.ExtensionType] = (),
    serial: int | None = None,
) -> x509.Certificate:
    """A certificate for ``public_key`` signed by ``signer`` (itself, for a root CA).

    A CA may sign end certificates only (path length 0). Key identifiers are always
    written, the authority's only when another key signs.
    """
    not_before, not_after = validity
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(signer.name)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    usage = tuple(usage)
    if usage:
        builder = builder.add_extension(key_usage(*usage), critical=True)
    signer_public = signer.key.public_key()
    if _der(signer_public) != _der(public_key):
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public),  # type: ignore[arg-type]
            critical=False,
        )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(signer.key, hashes.SHA256())


def private_key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    """The key as unencrypted PKCS#8 PEM (development and test keys only)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: Path, key: CertificateIssuerPrivateKeyTypes) -> None:
    """Write the key readable by its owner alone (the mode is set before the bytes land)."""
    path.touch(mode=0o600)
    path.write_bytes(private_key_pem(key))


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
