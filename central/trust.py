"""Checks a card's user-authentication certificate and signature, as J-LIS verifiers do.

- The chain: the card certificate must be signed by one of a *set* of trusted JPKI CA
  certificates (two generations live at once, possibly with the same DN).
- Dates: the card certificate must be valid now. The CA need only have been valid when
  it issued the card certificate (the "chain model"), so cards of an older CA generation
  stay good until their own expiry, as real JPKI certificates do.
- Revocation: CRL files in a directory, reloaded when the directory changes; a CRL
  counts only if a trusted CA signed it, and only for that CA's certificates. A CA
  whose lists in the directory are all out of date (``nextUpdate`` passed) or not
  signed by it (a file naming it that its key did not sign) has no trustworthy current
  list: its cards' revocation status is unknown and ``RevocationUnknown`` is raised
  (the service answers ``retry``: the operator must refresh the CRLs). Serials on an
  out-of-date but genuine list stay revoked.
- The issuer is the CA *key* that signed, not only its name: CA generations may share a
  DN, and serial numbers are unique only per CA, so the person's identity is
  (issuing CA key, serial) — see ``VerifiedCard.issuer_key_id``.
- The signature: PKCS#1 v1.5 over a SHA-256 digest (the card pads a DigestInfo).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from central.errors import CannotJudge, CentralConfigError, CentralError, Rejection
from central.freshness import must_look

log = logging.getLogger(__name__)


class RevocationUnknown(CentralError):
    """No current, genuine CRL of the card's CA: its revocation status is unknown now."""

    kind = "central_revocation_unknown"


def load_ca_certificates(paths: Iterable[Path]) -> list[x509.Certificate]:
    """Every PEM certificate in the given files and directories (``*.pem``)."""
    certs: list[x509.Certificate] = []
    for path in paths:
        files = sorted(path.glob("*.pem")) if path.is_dir() else [path]
        for file in files:
            if file.name.endswith(".key.pem"):
                continue
            try:
                certs.extend(x509.load_pem_x509_certificates(file.read_bytes()))
            except (OSError, ValueError) as exc:
                raise CentralConfigError(f"cannot load JPKI CA certificate {file}: {exc}") from exc
    if not certs:
        raise CentralConfigError("no trusted JPKI CA certificate configured")
    return certs


#: The kind of CannotJudge when a card names a CA the trust store does not hold.
TRUST_ANCHOR_MISSING = "central_trust_anchor_missing"


def _subject_key_id(ca: x509.Certificate) -> bytes | None:
    """The CA's key identifier as certificates it issued name it (RFC 5280 4.2.1.2)."""
    try:
        return ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        try:
            return x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest  # type: ignore[arg-type]
        except (TypeError, ValueError, UnsupportedAlgorithm):
            return None


def _authority_key_id(cert: x509.Certificate) -> bytes | None:
    """The key identifier of the CA a certificate names as its issuer, if it says."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except (x509.ExtensionNotFound, ValueError):
        return None
    return ext.value.key_identifier


def ca_key_id(ca: x509.Certificate) -> bytes:
    """SHA-256 of the CA's SubjectPublicKeyInfo: which CA key, whatever its name."""
    return hashlib.sha256(
        ca.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()


@dataclass(frozen=True)
class VerifiedCard:
    """A card certificate that passed every check, with the CA key that issued it."""

    certificate: x509.Certificate
    issuer_key_id: bytes

    @property
    def serial_number(self) -> int:
        return self.certificate.serial_number


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


class RevocationLists:
    """Revoked (CA key id, serial) pairs from the CRL files of one directory, and how
    long each CA key's genuine lists stay current."""

    def __init__(self, directory: Path | None, cas: list[x509.Certificate]) -> None:
        self._directory = directory
        self._cas = cas
        self._lock = threading.Lock()
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._revoked: frozenset[tuple[bytes, int]] = frozenset()
        # CA key id -> latest nextUpdate of its genuine CRLs (None: none has one); a key
        # is here as soon as any file in the directory names its CA.
        self._current_until: dict[bytes, dt.datetime | None] = {}

    def _listing(self) -> tuple[tuple[str, int, int], ...]:
        if self._directory is None or not self._directory.is_dir():
            return ()
        entries = []
        with os.scandir(self._directory) as it:
            for entry in it:
                if entry.is_file():
                    st = entry.stat()
                    entries.append((entry.name, st.st_mtime_ns, st.st_size))
        return tuple(sorted(entries))

    def _issuer_of(self, crl: x509.CertificateRevocationList) -> x509.Certificate | None:
        """The trusted CA that signed this CRL (by name and signature), if any."""
        for ca in self._cas:
            if ca.subject == crl.issuer and crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
                return ca
        return None

    def _reload(self, listing: tuple[tuple[str, int, int], ...]) -> None:
        revoked: set[tuple[bytes, int]] = set()
        current_until: dict[bytes, dt.datetime | None] = {}
        assert self._directory is not None
        for name, _, _ in listing:
            try:
                crl = _load_crl((self._directory / name).read_bytes())
            except (OSError, ValueError):
                log.warning("crl_unreadable file=%s", name)
                continue
            ca = self._issuer_of(crl)
            if ca is None:
                log.warning("crl_untrusted file=%s", name)
                for named in self._cas:  # its CA's list may have been replaced by this one
                    if named.subject == crl.issuer:
                        current_until.setdefault(ca_key_id(named), None)
                continue
            issuer = ca_key_id(ca)
            revoked.update((issuer, entry.serial_number) for entry in crl)
            current_until[issuer] = _later(current_until.get(issuer), crl.next_update_utc)
        self._revoked = frozenset(revoked)
        self._current_until = current_until

    def is_revoked(
        self, certificate: x509.Certificate, issuer_key_id: bytes, now: dt.datetime
    ) -> bool:
        """True when a genuine CRL lists it; RevocationUnknown when its CA has lists in
        the directory but none genuine and current at ``now``."""
        # looked at once per batch (central.freshness); else on every call
        listing = self._listing() if must_look(self) else self._seen
        with self._lock:
            if listing != self._seen:
                self._reload(listing)
                self._seen = listing
            revoked, current_until = self._revoked, self._current_until
        if (issuer_key_id, certificate.serial_number) in revoked:
            return True
        if issuer_key_id in current_until:
            until = current_until[issuer_key_id]
            if until is None or until < now:
                log.warning("crl_stale kind=%s", RevocationUnknown.kind)
                raise RevocationUnknown("no current genuine CRL of the card's CA")
        return False


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


class JpkiVerifier:
    """Verifies card certificates against trusted JPKI CAs and card signatures."""

    def __init__(self, ca_certificates: list[x509.Certificate], crl_dir: Path | None) -> None:
        self._cas = ca_certificates
        self._ca_key_ids = {k for k in map(_subject_key_id, ca_certificates) if k is not None}
        # which CA key issued: computed once per CA, not once per card (issue 13)
        # newest generation first: most cards are of it. A CA of another name costs
        # verify_directly_issued_by only its name comparison (in Rust; building the
        # certificate's issuer Name in Python to look the CA up cost more).
        self._newest_first = [
            (ca, ca_key_id(ca))
            for ca in sorted(ca_certificates, key=lambda c: c.not_valid_before_utc, reverse=True)
        ]
        self._crls = RevocationLists(crl_dir, ca_certificates)

    @classmethod
    def from_paths(cls, ca_paths: Iterable[Path], crl_dir: Path | None) -> JpkiVerifier:
        return cls(load_ca_certificates(ca_paths), crl_dir)

    def _issuing_ca(self, cert: x509.Certificate) -> tuple[x509.Certificate, bytes]:
        """(the trusted CA that signed ``cert``, its key id): the one whose name the
        certificate names as issuer and whose key signed it (generations may share a
        name)."""
        for ca, key_id in self._newest_first:
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                continue
            return ca, key_id
        # No trusted CA signed it. That is the card's own fault only when it names (by
        # its authority key identifier) a CA key we hold; a card naming a CA key we do not
        # hold, or naming none, may be of a CA generation missing from the trust store
        # (an operator's set-up, issue 12 finding 8): no final answer then, retry.
        named = _authority_key_id(cert)
        if named is not None and named in self._ca_key_ids:
            raise Rejection("certificate_untrusted")
        log.warning(
            "trust_anchor_missing kind=%s names_ca_key=%s",
            TRUST_ANCHOR_MISSING,
            named.hex()[:40] if named is not None else "-",
        )
        raise CannotJudge(TRUST_ANCHOR_MISSING)

    def check_certificate(
        self,
        certificate_der: bytes,
        now: dt.datetime | None = None,
        parsed: x509.Certificate | None = None,
    ) -> VerifiedCard:
        """The certificate and its CA if it chains to a trusted CA, is in date and not
        revoked; else Rejection with the reason, or RevocationUnknown (retry later).
        ``parsed``: the same certificate already parsed from ``certificate_der``."""
        cert = parsed
        if cert is None:
            try:
                cert = x509.load_der_x509_certificate(certificate_der)
            except ValueError as exc:
                raise Rejection("malformed") from exc
        ca, issuer_key_id = self._issuing_ca(cert)
        now = now or dt.datetime.now(dt.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise Rejection("certificate_expired")
        if not ca.not_valid_before_utc <= cert.not_valid_before_utc <= ca.not_valid_after_utc:
            raise Rejection("certificate_untrusted")
        if self._crls.is_revoked(cert, issuer_key_id, now):
            raise Rejection("certificate_revoked")
        return VerifiedCard(cert, issuer_key_id)

    @staticmethod
    def check_signature(cert: x509.Certificate, digest: bytes, signature: bytes) -> None:
        """PKCS#1 v1.5 signature over a SHA-256 ``digest`` by the certificate's key; a key
        of an algorithm the library does not know is no RSA key either."""
        try:
            key = cert.public_key()
        except (UnsupportedAlgorithm, ValueError) as exc:
            raise Rejection("bad_signature") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise Rejection("bad_signature")
        try:
            key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        except (InvalidSignature, ValueError) as exc:
            raise Rejection("bad_signature") from exc
