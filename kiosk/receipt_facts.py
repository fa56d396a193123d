"""What a receipt says, from what the flow recorded: one source for paper and screen.

The flow keeps a receipt's facts (``flow.ReceiptFacts``: numbers, choices, the
result); :func:`receipt_data` turns them into ``kiosk.receipt.ReceiptData`` with this
kiosk's settings and the catalog's names, which ``kiosk.receipt.layout`` lays out for
the printer and for the on-screen receipt alike. :func:`sample_facts` is the staff
screen's test print: a receipt of nobody.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract import wire
from kiosk import flow
from kiosk.i18n import receipt_language
from kiosk.receipt import ReceiptData


@dataclass(frozen=True)
class ReceiptSettings:
    store_name: str
    status_url: str  # with {receipt_no}


def receipt_data(
    facts: flow.ReceiptFacts, settings: ReceiptSettings, catalog: Any, lang: str | None = None
) -> ReceiptData:
    """The printer's (and the on-screen receipt's) data for what the flow recorded."""
    # the paper is read at the service desk: Japanese unless its catalog has receipt.*
    session_lang = lang or facts.lang
    lang = receipt_language(session_lang)
    try:
        service_name = catalog.service(facts.service_code).name(lang)
    except KeyError:
        service_name = facts.service_code
    campaign = next((c for c in catalog.campaigns if c.id == facts.campaign_id), None)
    rule: Mapping[str, Any] | str = facts.campaign_id
    if facts.procedure:
        service_name = ""
    if campaign is not None:
        rule = (
            {"flat_points": campaign.flat_points}
            if campaign.flat_points
            else {"rate_percent": campaign.rate_percent, "cap_points": campaign.cap_points}
        )
    return ReceiptData(
        receipt_no=facts.receipt_no,
        issued_at=_issued_at(facts.created_at),
        kiosk_id=facts.kiosk_id,
        store_name=settings.store_name,
        campaign_rule=rule,
        service_name=service_name,
        service_user_id=facts.masked_user_id,
        state=facts.result,
        status_url=settings.status_url.format(receipt_no=facts.receipt_no),
        lang=lang,
        mykey_id=facts.mykey_id,
        legal_representative=facts.legal_representative,
        procedure=facts.procedure,
        points=facts.points,
        # plus one line in the person's own language when the paper is in another
        person_lang=session_lang if session_lang != lang else "",
    )


def _issued_at(created_at: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.now(dt.UTC)


def sample_facts() -> flow.ReceiptFacts:
    """The staff screen's test print: a receipt with no personal data."""
    return flow.ReceiptFacts(
        receipt_no="TEST-0000",
        enrollment_id="test",
        kiosk_id="test",
        campaign_id="",
        service_code="",
        masked_user_id="****0000",
        result=flow.RESULT_PENDING,
        mykey_id=None,
        legal_representative=False,
        created_at=wire.utc_now_text(),
    )
