"""Checks on the card's user-authentication certificate and on what the card signed.

The kiosk checks the chain and the dates locally; revocation is the central
service's job (J-LIS serves OCSP/CRL only to registered verifiers). Two JPKI CA
generations are live at once, so the kiosk trusts a *set* of CA certificates::

    cas = load_ca_bundle(Path("/etc/mynapoint/jpki-ca.pem").read_bytes())
    cert = check_certificate(der, cas)              # raises CertificateExpired, ...
    verify_card_signature(cert, digest, signature)  # raises BadSignature
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from contract.errors import KioskError

MIN_RSA_BITS = 2048


class CertificateError(KioskError):
    """The card's certificate cannot be accepted."""

    kind = "certificate_untrusted"


class CertificateMalformed(CertificateError):
    """The bytes read from the card are not a certificate (a bad read: place it again)."""

    kind = "certificate_malformed"
    retryable = True


class CertificateExpired(CertificateError):
    """The certificate's validity has ended: renew it at the municipal office."""

    kind = "certificate_expired"


class CertificateNotYetValid(CertificateError):
    """The certificate is not valid yet (or the kiosk's clock is wrong)."""

    kind = "certificate_not_yet_valid"


class CertificateUntrusted(CertificateError):
    """The certificate does not chain to any trusted JPKI CA."""

    kind = "certificate_untrusted"


class BadSignature(KioskError):
    """The card's signature does not verify with its certificate's key."""

    kind = "bad_signature"


def load_ca_bundle(pem_bytes: bytes) -> list[x509.Certificate]:
    """Every CA certificate in a PEM bundle (both JPKI generations, typically)."""
    cas = x509.load_pem_x509_certificates(pem_bytes)
    if not cas:
        raise ValueError("the CA bundle holds no certificate")
    return cas


def parse_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise CertificateMalformed("the card's certificate does not parse") from None


def check_dates(cert: x509.Certificate, now: dt.datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateNotYetValid("certificate not valid yet")
    if now > cert.not_valid_after_utc:
        raise CertificateExpired("certificate expired")


def find_issuer(cert: x509.Certificate, trusted_cas: list[x509.Certificate]) -> x509.Certificate:
    """The trusted CA that signed ``cert`` while it was valid; CertificateUntrusted when none
    did. The chain model: the CA must have been valid at the card certificate's notBefore,
    so cards of an expired CA generation stay good until their own expiry."""
    signers = _signers(cert, trusted_cas)
    for ca in signers:
        if _valid_at(ca, cert.not_valid_before_utc):
            return ca
    if signers:
        raise CertificateUntrusted("certificate issued outside its CA's validity")
    raise CertificateUntrusted("certificate does not chain to a trusted JPKI CA")


def _signers(cert: x509.Certificate, trusted_cas: list[x509.Certificate]) -> list[x509.Certificate]:
    """The trusted CA certificates whose key signed ``cert``."""
    signers = []
    for ca in trusted_cas:
        if ca.subject != cert.issuer or not _is_ca(ca):
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        signers.append(ca)
    return signers


def _valid_at(ca: x509.Certificate, moment: dt.datetime) -> bool:
    return ca.not_valid_before_utc <= moment <= ca.not_valid_after_utc


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def check_certificate(
    der: bytes, trusted_cas: list[x509.Certificate], now: dt.datetime | None = None
) -> x509.Certificate:
    """Parse the card's certificate, check its dates and its chain to one trusted CA that
    was valid when it issued the certificate."""
    now = now or dt.datetime.now(dt.UTC)
    cert = parse_certificate(der)
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise CertificateUntrusted("certificate key is not RSA-2048")
    if not _signers(cert, trusted_cas):
        raise CertificateUntrusted("certificate does not chain to a trusted JPKI CA")
    check_dates(cert, now)  # an expired card is told "expired" (renew), whatever its CA
    find_issuer(cert, trusted_cas)
    return cert


def verify_card_signature(cert: x509.Certificate, digest: bytes, signature: bytes) -> None:
    """Check a PKCS#1 v1.5 signature of a SHA-256 digest with the certificate's key."""
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadSignature("certificate key is not RSA")
    try:
        key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise BadSignature("signature does not verify with the card's certificate") from None
