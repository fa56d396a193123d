"""健康保険証の利用申込み at the central service: the reference insurer adapter and the judge.

The card's holder is known by the certificate alone (its issuer and serial); nothing of
the person's insurance travels. A real deployment asks the オンライン資格確認 system; the
reference adapter reads a file (JSON or TOML, re-read when it changes), for demos and tests::

    {"unavailable": false,
     "default": "covered",
     "not_covered": ["<certificate serial, hex>", ...],
     "registered": ["<certificate serial, hex>", ...]}

``default`` says what an unlisted certificate's insurer is ("covered" or "not_covered");
``not_covered`` lists certificates whose insurer is not covered / not yet connected;
``registered`` lists ones already registered elsewhere (at a hospital's reader, on
マイナポータル). ``"unavailable": true`` or a missing file makes the item ``retry``.

The answers (one per enrollment id, stored forever like an enrollment's):

* ``accepted`` with ``procedure`` and ``points`` (the open campaign's flat points when the
  person also has a Mynapoint application, else 0);
* ``rejected`` ``already_registered`` (listed, or registered through this service before);
* ``rejected`` ``insurer_not_covered``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from central.errors import ProviderUnavailable, Rejection
from central.reference_file import ReferenceFile
from central.trust import VerifiedCard

PROCEDURE = "health_insurance"
COVERED = "covered"
NOT_COVERED = "not_covered"
REGISTERED = "registered"
_CONSENT_FIELDS = ("consent", "consent_version")


def serial_key(card: VerifiedCard) -> str:
    """How the reference file names a certificate: its serial number in lowercase hex."""
    return format(card.serial_number, "x")


class FileInsurer:
    """The reference insurer: which certificates are covered or registered, from a file."""

    def __init__(self, path: Path | None) -> None:
        self._file = ReferenceFile(path, "insurer file")

    def lookup(self, card: VerifiedCard) -> str:
        """COVERED, NOT_COVERED or REGISTERED for this certificate's holder."""
        doc = self._file.read()
        if doc.get("unavailable"):
            raise ProviderUnavailable("insurer in maintenance")
        key = serial_key(card)
        if key in {str(s).lower() for s in doc.get("registered", [])}:
            return REGISTERED
        if key in {str(s).lower() for s in doc.get("not_covered", [])}:
            return NOT_COVERED
        return NOT_COVERED if doc.get("default") == NOT_COVERED else COVERED


@dataclass
class HealthInsuranceJudge:
    """Decides one 健康保険証 payload: the insurer first, then the store's one-per-card rule."""

    insurer: FileInsurer

    def judge(self, service: Any, payload: dict[str, Any], card: VerifiedCard, record: Any) -> Any:
        from central.store import NewRegistration

        if not all(isinstance(payload.get(k), str) and payload[k] for k in _CONSENT_FIELDS):
            raise Rejection("malformed")
        campaign_id = payload.get("campaign_id")
        if not isinstance(campaign_id, str) or len(campaign_id) > 200:
            raise Rejection("malformed")
        state = self.insurer.lookup(card)
        if state == REGISTERED:
            raise Rejection("already_registered")
        if state == NOT_COVERED:
            raise Rejection("insurer_not_covered")
        points, needs_application = 0, False
        if campaign_id and service.catalog.campaign_open(campaign_id, payload["created_at"]):
            entry = service.catalog.campaign(campaign_id) or {}
            if entry.get("kind", "health_insurance_link") == "health_insurance_link":
                points = int(entry.get("flat_points", 0) or 0)
                needs_application = bool(entry.get("points_need_application", False))
        return NewRegistration(
            enrollment_id=record.enrollment_id,
            payload_digest=record.payload_digest,
            kiosk_id=record.kiosk_id,
            receipt_no=record.receipt_no,
            now=record.now,
            procedure=PROCEDURE,
            campaign_id=campaign_id,
            cert_ref=service.cert_ref(card),
            points=points,
            points_need_application=needs_application,
        )


def judges(insurer_file: Path | None) -> dict[str, Any]:
    """The procedures the central service answers beside enrollments, by payload name."""
    return {PROCEDURE: HealthInsuranceJudge(FileInsurer(insurer_file))}
