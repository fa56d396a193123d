"""健康保険証の利用申込み: register the My Number Card as the person's health insurance card.

Only the user-authentication certificate and its 4-digit PIN are used, as for the
Mynapoint application. The card signs a payload that says which consent text the person
was shown (its version); the central service asks the insurer (``central/insurer.py``)
and answers ``accepted`` (registered) or ``rejected`` with ``already_registered`` or
``insurer_not_covered``, each with its official remedy (``errors.<reason>``).
"""

from __future__ import annotations

from typing import Any

from contract import wire

PROCEDURE = "health_insurance"
#: The consent's version: bump it when the consent text changes (the signature covers it).
CONSENT_VERSION = "2022-06"
#: The payload's fields beside wire's common ones (``wire.new_procedure_payload``).
WIRE_FIELDS = ("consent", "consent_version")
#: What the central service answers (wire.REJECTION_REASONS) beside ``accepted``.
REJECTIONS = ("already_registered", "insurer_not_covered")


def payload(
    *, procedure: str, kiosk_id: str, campaign_id: str, legal_representative: bool = False
) -> dict[str, Any]:
    return wire.new_procedure_payload(
        procedure=procedure,
        kiosk_id=kiosk_id,
        campaign_id=campaign_id,
        legal_representative=legal_representative,
        fields={"consent": f"procedures.{procedure}.consent", "consent_version": CONSENT_VERSION},
    )
