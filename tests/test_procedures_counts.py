"""Per-procedure counts (issue 11): the outbox counts each procedure's rows, the staff
screen lists them, the heartbeat carries them, and the central service takes them only
as names and counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import wire
from kiosk import views
from kiosk.controller import guard_key
from kiosk.heartbeat import collect_health
from kiosk.procedures import health_insurance
from offline_queue.errors import QueueInputInvalid
from sim.enrollments import (
    CentralSealingKey,
    card_sign,
    make_outbox,
    new_card,
    signed_enrollment,
)


def registration(kiosk_id: str = "K-0001"):
    card = new_card()
    payload = health_insurance.payload(
        procedure="health_insurance", kiosk_id=kiosk_id, campaign_id=""
    )
    return (
        payload,
        card.certificate_der,
        card_sign(card, payload),
        guard_key(card.certificate_der, "health_insurance"),
    )


@pytest.fixture
def outbox(tmp_path: Path):
    key = CentralSealingKey.generate()
    with make_outbox(tmp_path / "q.sqlite3", [key.public]) as box:
        yield box


@pytest.mark.slow
def test_each_procedure_is_counted_and_shown_to_staff_and_in_the_heartbeat(outbox) -> None:
    outbox.enqueue(*signed_enrollment(new_card()).args())
    outbox.enqueue(*registration())
    outbox.enqueue(*registration())
    status = outbox.status()
    assert status.counts_by_procedure[""]["pending"] == 1
    assert status.counts_by_procedure["health_insurance"]["pending"] == 2
    figures = views.staff_figures(
        {"queue_counts": status.counts, "queue_counts_by_procedure": status.counts_by_procedure}
    )
    assert figures["by_procedure"].splitlines() == [
        "マイナポイントの申込み：送信待ち 1／送信済み 0／不成立 0",
        "健康保険証の利用申込み：送信待ち 2／送信済み 0／不成立 0",
    ]
    health = collect_health(status, printer="ok", reader="ok", version="1")
    assert health.body()["procedures"] == {"mynapoint": 1, "health_insurance": 2}


def test_a_payload_naming_a_bad_procedure_is_refused_and_nothing_stored(outbox) -> None:
    payload, cert, _, key = registration()
    payload["procedure"] = "not a name; drop table"
    card = new_card()
    with pytest.raises(QueueInputInvalid):
        outbox.enqueue(payload, card.certificate_der, card_sign(card, payload), key)
    assert sum(outbox.status().counts.values()) == 0


@pytest.mark.slow
def test_the_central_heartbeat_model_takes_names_and_counts_only() -> None:
    from pydantic import ValidationError

    from central.app import Heartbeat

    assert Heartbeat(procedures={"health_insurance": 2}).procedures == {"health_insurance": 2}
    for bad in ({"Health Insurance!": 1}, {"health_insurance": -1}):
        with pytest.raises(ValidationError):
            Heartbeat(procedures=bad)
    assert wire.PROCEDURE_KEY == "procedure"
