"""Properties of the flow under any order of events (a person pressing anything, devices
answering late, cards pulled out): it never crashes, never keeps a PIN, and every ended
session starts clean."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import wire
from drivers.card import CardTimeout, PinIncorrect
from kiosk import flow as f
from kiosk.catalog import Catalog
from kiosk.controller import CentralUnreachable

pytestmark = pytest.mark.slow  # each test here takes half a second or more

CATALOG = Catalog.load()
CERT = b"\x30\x82\x05\x00" + b"C" * 600
PIN = b"7391"

events = st.sampled_from(
    [
        f.Start(),
        f.Start(menu="status"),
        f.ChooseLanguage("en"),
        f.SetLegalRepresentative(True),
        f.AgreeTerms(),
        f.Back(),
        f.Cancel(),
        f.Done(),
        f.StillHere(),
        f.Tick(),
        f.NetworkChanged(False),
        f.NetworkChanged(True),
        f.CardPlaced(),
        f.CardRemoved(),
        f.CertificateRead(CERT, 3),
        f.CertificateRead(CERT, 1),
        f.StatusChallenge("N" * 32),
        f.ServiceChosen("waon"),
        f.ServiceChosen("rakuten_pay"),
        f.IdsEntered("1234567890123456", ("1234",)),
        f.IdsEntered("12", ()),
        f.Confirmed(),
        f.TriesLeftRead(2),
        "pin",
        f.Signed(b"S" * 256),
        f.SignatureVerified(),
        f.Enqueued("0b7c5bb8-4b1e-4a5c-9a53-2e4b1d3e9f00", "AB12-CD34"),
        f.Submitted(wire.ACCEPTED, mykey_id="MK12AB34"),
        f.Submitted(wire.REJECTED, reason="account_already_linked"),
        f.SubmitDeferred(),
        f.Printed(),
        f.StatusAnswered(applied=True, service_code="waon"),
        f.Failed.of(PinIncorrect(1)),
        f.Failed.of(CardTimeout("no answer")),
        f.Failed("printer_no_paper", retryable=True),  # as PrinterOutOfPaper says
        f.Failed.of(CentralUnreachable("connection refused")),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(events, st.floats(0, 40)), max_size=60))
def test_any_sequence_of_events_keeps_the_invariants(script) -> None:
    now = 0.0
    ctx = f.FlowContext(kiosk_id="K-0001", catalog=CATALOG, today=dt.date(2026, 11, 26))
    session = f.new_session(ctx)
    for event, pause in script:
        now += pause
        ctx = f.FlowContext(
            kiosk_id="K-0001", catalog=CATALOG, today=dt.date(2026, 11, 26), now=now
        )
        pins = []
        if event == "pin":
            pins.append(bytearray(PIN))
            event = f.PinEntered(pins[-1])
        old = session
        session, effects = f.step(session, event, ctx)
        assert session.state in f.STATES
        for value in vars(session).values():
            assert not any(value is pin for pin in pins)
            if isinstance(value, bytes | bytearray):
                assert PIN not in value
        if any(isinstance(e, f.Wipe) for e in effects):
            assert session is not old
            assert not old.service_user_id and not old.security_codes
            assert not old.certificate_der and old.payload is None
            assert not session.service_user_id and session.payload is None
        for pin in pins:  # refused, or handed over to the card effect
            handed = any(isinstance(e, f.SignDigest) and e.pin is pin for e in effects)
            assert handed or pin == bytearray()
