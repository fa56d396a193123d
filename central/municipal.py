"""自治体マイナポイント at the central service: who is eligible for a municipality's campaign.

A municipal campaign (``kind = "municipal"`` in the campaigns file) names its
``municipality`` code. The kiosk sends a signed ``municipal_points`` payload naming the
campaign; it never learns the person's address. The reference adapter reads a file
(JSON or TOML, re-read when it changes), for demos and tests::

    {"unavailable": false,
     "eligible": {"<campaign id>": ["<certificate serial, hex>", ...]},
     "municipality_of": {"<certificate serial, hex>": "<municipality code>"}}

A card is eligible for a campaign when it is listed under the campaign, or its
municipality is the campaign's. Answers: ``accepted`` (``procedure``, ``points``: the
campaign's flat points, ``mykey_id`` when the person has one: the programme reuses it),
``rejected`` ``not_eligible`` or ``already_joined`` (one per card per campaign, a key
of ``registrations``), ``campaign_closed``; a missing file or maintenance is ``retry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from central.errors import ProviderUnavailable, Rejection
from central.insurer import serial_key
from central.reference_file import ReferenceFile
from central.trust import VerifiedCard

PROCEDURE = "municipal_points"


class FileEligibility:
    """The reference adapter: eligible certificates, or their municipality, from a file."""

    def __init__(self, path: Path | None) -> None:
        self._file = ReferenceFile(path, "municipal eligibility file")

    def eligible(self, card: VerifiedCard, campaign_id: str, municipality: str) -> bool:
        doc = self._file.read()
        if doc.get("unavailable"):
            raise ProviderUnavailable("municipal eligibility in maintenance")
        key = serial_key(card)
        listed = {str(s).lower() for s in (doc.get("eligible") or {}).get(campaign_id, [])}
        lives_in = str((doc.get("municipality_of") or {}).get(key, ""))
        return key in listed or (bool(municipality) and lives_in == municipality)


@dataclass
class MunicipalJudge:
    eligibility: FileEligibility

    def judge(self, service: Any, payload: dict[str, Any], card: VerifiedCard, record: Any) -> Any:
        from central.store import NewRegistration

        campaign_id = payload.get("campaign_id")
        if not isinstance(campaign_id, str) or not campaign_id or len(campaign_id) > 200:
            raise Rejection("malformed")
        if not isinstance(payload.get("consent"), str):
            raise Rejection("malformed")
        entry = service.catalog.campaign(campaign_id)
        if entry is None or entry.get("kind") != "municipal":
            raise Rejection("campaign_closed")
        if not service.catalog.campaign_open(campaign_id, payload["created_at"]):
            raise Rejection("campaign_closed")
        if not self.eligibility.eligible(card, campaign_id, str(entry.get("municipality", ""))):
            raise Rejection("not_eligible")
        return NewRegistration(
            enrollment_id=record.enrollment_id,
            payload_digest=record.payload_digest,
            kiosk_id=record.kiosk_id,
            receipt_no=record.receipt_no,
            now=record.now,
            procedure=f"{PROCEDURE}:{campaign_id}",  # one per card per campaign
            campaign_id=campaign_id,
            cert_ref=service.cert_ref(card),
            points=int(entry.get("flat_points", 0) or 0),
            already="already_joined",
        )


def judges(eligibility_file: Path | None) -> dict[str, Any]:
    return {PROCEDURE: MunicipalJudge(FileEligibility(eligibility_file))}
