"""The generic signed consent: what the card signs when a procedure has no module of its own.

The payload names the procedure and the consent's version (the texts' key), never any
person's data: the certificate that comes with it says who consented.
"""

from __future__ import annotations

from typing import Any

from contract import wire

#: The payload's fields beside wire's common ones (``wire.new_procedure_payload``).
WIRE_FIELDS = ("consent",)


def payload(
    *, procedure: str, kiosk_id: str, campaign_id: str, legal_representative: bool = False
) -> dict[str, Any]:
    return wire.new_procedure_payload(
        procedure=procedure,
        kiosk_id=kiosk_id,
        campaign_id=campaign_id,
        legal_representative=legal_representative,
        fields={"consent": f"procedures.{procedure}.consent"},
    )
