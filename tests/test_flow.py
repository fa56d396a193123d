"""The session flow as a specification: every path, in milliseconds, no devices."""

from __future__ import annotations

import datetime as dt

import pytest

from contract import wire
from contract.errors import KioskError
from drivers import card, certs
from drivers.certs import CertificateExpired
from kiosk import flow as f
from kiosk.catalog import Catalog
from kiosk.controller import CentralUnreachable, StatusChallengeExpired
from offline_queue.errors import AlreadyEnrolledHere, EnrollmentSignatureInvalid, QueueDiskFull

CERT = b"\x30\x82\x05\x00" + b"C" * 1280
#: Every error reading the card can end in, but the card leaving (that ends the session).
CARD_READ_ERRORS = [
    error
    for module in (card, certs)
    for error in vars(module).values()
    if isinstance(error, type)
    and issubclass(error, KioskError)
    and error.__module__ == module.__name__
    and error is not card.CardRemoved
]
WAON_ID = "1234567890123456"
TODAY = dt.date(2026, 11, 26)


class Kiosk:
    """Drives the flow like the UI and controller would, with a hand-moved clock."""

    def __init__(self, catalog: Catalog, **context: object) -> None:
        self.now = 1000.0
        self.context = dict(kiosk_id="K-0001", catalog=catalog, today=TODAY) | context
        self.session = f.new_session(self.ctx())
        self.effects: list[object] = []

    def ctx(self) -> f.FlowContext:
        return f.FlowContext(now=self.now, **self.context)

    def send(self, *events: object) -> tuple[object, ...]:
        out: list[object] = []
        for event in events:
            self.session, effects = f.step(self.session, event, self.ctx())
            out.extend(effects)
        self.effects.extend(out)
        return tuple(out)

    def effect(self, kind: type) -> object:
        found = [e for e in self.effects if isinstance(e, kind)]
        assert found, f"no {kind.__name__} among {self.effects}"
        return found[-1]

    # whole stretches of the happy path
    def to_choose_service(self, *, tries_left: int = 3, legal: bool = False) -> None:
        self.send(f.Start(), f.SetLegalRepresentative(legal), f.AgreeTerms(), f.CardPlaced())
        self.send(f.CertificateRead(CERT, tries_left))

    def to_pin(self, code: str = "waon", user_id: str = WAON_ID, codes=("1234",)) -> None:
        self.to_choose_service()
        self.send(f.ServiceChosen(code), f.IdsEntered(user_id, tuple(codes)), f.Confirmed())
        self.send(f.TriesLeftRead(3))

    def to_enqueued(self) -> None:
        self.to_pin()
        self.send(f.PinEntered(bytearray(b"1234")), f.Signed(b"S" * 256), f.SignatureVerified())
        self.send(f.Enqueued(self.session.enrollment_id, "AB12-CD34"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def kiosk(catalog: Catalog) -> Kiosk:
    return Kiosk(catalog)


def sensitive_values(session: f.Session) -> list[object]:
    return [
        session.service_user_id,
        *session.security_codes,
        session.certificate_der,
        session.payload,
        session.signature,
        session.digest,
    ]


# --- the happy path ---------------------------------------------------------------------
def test_apply_walks_the_official_order_of_screens(kiosk: Kiosk) -> None:
    seen = [kiosk.session.state]
    for event in (
        f.Start(),
        f.AgreeTerms(),
        f.CardPlaced(),
        f.CertificateRead(CERT, 3),
        f.ServiceChosen("waon"),
        f.IdsEntered(WAON_ID, ("1234",)),
        f.Confirmed(),
        f.PinEntered(bytearray(b"1234")),
    ):
        kiosk.send(event)
        seen.append(kiosk.session.state)
    assert seen == [
        "welcome",
        "notes",
        "place_card",
        "reading_card",
        "choose_service",
        "enter_ids",
        "confirm",
        "pin",
        "processing",
    ]


def test_accepted_enrollment_shows_mykey_id_then_prints_then_asks_for_the_card(
    kiosk: Kiosk,
) -> None:
    kiosk.to_enqueued()
    assert kiosk.effect(f.Submit).enrollment_id == kiosk.session.enrollment_id
    kiosk.send(f.Submitted(wire.ACCEPTED, mykey_id="MK12AB34"))
    assert (kiosk.session.state, kiosk.session.result) == ("result", "accepted")
    assert kiosk.session.mykey_id == "MK12AB34"
    kiosk.send(f.Done())
    receipt = kiosk.effect(f.PrintReceipt).receipt
    assert (receipt.result, receipt.mykey_id, receipt.receipt_no) == (
        "accepted",
        "MK12AB34",
        "AB12-CD34",
    )
    kiosk.send(f.Printed())
    assert kiosk.session.state == "take_card"


def test_taking_the_card_returns_to_a_fresh_welcome(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    first_id = kiosk.session.session_id
    kiosk.send(f.Submitted(wire.ACCEPTED, mykey_id="MK12AB34"), f.Done(), f.Printed())
    kiosk.send(f.CardRemoved())
    assert kiosk.session.state == "welcome"
    assert kiosk.session.session_id != first_id
    assert kiosk.session.mykey_id is None and kiosk.session.receipt is None


def test_card_signs_the_digest_of_the_canonical_payload(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    payload = kiosk.session.payload
    assert kiosk.effect(f.SignDigest).digest == wire.payload_digest(payload)
    assert payload["service_code"] == "waon"
    assert payload["service_user_id"] == WAON_ID
    assert payload["security_codes"] == ["1234"]
    assert payload["kiosk_id"] == "K-0001" and payload["campaign_id"] == "demo-2026"


def test_signature_is_verified_against_the_card_certificate_before_enqueue(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")), f.Signed(b"S" * 256))
    verify = kiosk.effect(f.VerifySignature)
    assert verify.certificate_der == CERT and verify.signature == b"S" * 256
    assert not any(isinstance(e, f.Enqueue) for e in kiosk.effects)
    kiosk.send(f.SignatureVerified())
    assert kiosk.effect(f.Enqueue).payload["enrollment_id"] == kiosk.session.enrollment_id


def test_nothing_is_told_before_the_enrollment_is_durable(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")), f.Signed(b"S" * 256), f.SignatureVerified())
    kiosk.send(f.Submitted(wire.ACCEPTED, mykey_id="MK12AB34"))  # too early: ignored
    assert kiosk.session.state == "processing" and kiosk.session.result is None


def test_legal_representative_is_recorded_in_the_payload(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.SetLegalRepresentative(True), f.AgreeTerms(), f.CardPlaced())
    kiosk.send(f.CertificateRead(CERT, 3), f.ServiceChosen("paypay"))
    kiosk.send(f.IdsEntered("PAYPAY12345", ("1234",)), f.Confirmed(), f.PinEntered(bytearray(b"9")))
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    assert kiosk.session.payload["legal_representative"] is True


def test_legal_representative_question_can_be_answered_at_place_card(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.AgreeTerms(), f.SetLegalRepresentative(True))
    assert kiosk.session.state == "place_card" and kiosk.session.legal_representative


def test_card_placed_early_is_read_once_the_terms_are_agreed(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.CardPlaced())
    assert kiosk.session.state == "notes"
    effects = kiosk.send(f.AgreeTerms())
    assert kiosk.session.state == "reading_card"
    assert any(isinstance(e, f.ReadCertificate) for e in effects)


# --- the PIN ----------------------------------------------------------------------------
def test_pin_is_passed_to_the_card_effect_and_never_kept_in_the_session(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    pin = bytearray(b"4321")
    effects = kiosk.send(f.PinEntered(pin))
    sign = next(e for e in effects if isinstance(e, f.SignDigest))
    assert sign.pin is pin
    for value in vars(kiosk.session).values():
        assert value is not pin
        assert b"4321" not in (value if isinstance(value, bytes | bytearray) else b"")
    assert "4321" not in repr(kiosk.session) and "4321" not in repr(sign)


def test_pin_of_wrong_length_is_zeroed_and_asked_again(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    pin = bytearray(b"123")
    assert kiosk.send(f.PinEntered(pin)) == (f.StartIdleTimer(90.0),)
    assert pin == bytearray()
    assert (kiosk.session.state, kiosk.session.input_error) == ("pin", "pin_format")


def test_pin_with_a_letter_is_refused(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"12a4")))
    assert kiosk.session.input_error == "pin_format"


def test_pin_typed_in_a_state_that_does_not_want_it_is_zeroed(kiosk: Kiosk) -> None:
    pin = bytearray(b"1234")
    assert kiosk.send(f.PinEntered(pin)) == ()
    assert pin == bytearray()


def test_wrong_pin_returns_to_the_pin_screen_with_tries_left(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"0000")), f.Failed.of(card.PinIncorrect(2)))
    s = kiosk.session
    assert (s.state, s.tries_left, s.input_error, s.last_try) == ("pin", 2, "pin_incorrect", False)


def test_one_try_left_is_the_last_try_warning(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"0000")), f.Failed.of(card.PinIncorrect(1)))
    assert kiosk.session.last_try


def test_wrong_pin_then_right_pin_signs_a_fresh_payload(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"0000")))
    first = kiosk.effect(f.SignDigest).digest
    kiosk.send(f.Failed.of(card.PinIncorrect(2)), f.PinEntered(bytearray(b"1234")))
    second = kiosk.effect(f.SignDigest).digest
    assert first != second and kiosk.session.state == "processing"


def test_last_wrong_pin_blocks_and_sends_the_person_to_the_municipal_office(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"0000")), f.Failed.of(card.PinIncorrect(0)))
    assert (kiosk.session.state, kiosk.session.error_kind) == ("error", "pin_blocked")
    assert kiosk.session.error_next == "end"


def test_blocked_card_is_told_right_after_reading_it(kiosk: Kiosk) -> None:
    kiosk.to_choose_service(tries_left=0)
    assert (kiosk.session.state, kiosk.session.error_kind) == ("error", "pin_blocked")


def test_blocked_card_reported_by_the_card_during_signing(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")), f.Failed.of(card.PinBlocked("no tries left")))
    assert kiosk.session.error_kind == "pin_blocked"


def test_blocked_pin_error_ends_with_the_take_card_screen(kiosk: Kiosk) -> None:
    kiosk.to_choose_service(tries_left=0)
    kiosk.send(f.Done())
    assert kiosk.session.state == "take_card"


def test_back_from_pin_returns_to_confirm(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.Back())
    assert kiosk.session.state == "confirm"


# --- the card ---------------------------------------------------------------------------
def test_expired_certificate_ends_with_its_remedy(kiosk: Kiosk) -> None:
    kiosk.send(
        f.Start(), f.AgreeTerms(), f.CardPlaced(), f.Failed.of(CertificateExpired("expired"))
    )
    s = kiosk.session
    assert (s.state, s.error_kind, s.error_next) == ("error", "certificate_expired", "end")


def test_card_not_read_offers_to_read_it_again(kiosk: Kiosk) -> None:
    kiosk.send(
        f.Start(), f.AgreeTerms(), f.CardPlaced(), f.Failed.of(card.CardTimeout("no answer"))
    )
    assert kiosk.session.error_next == "retry_card"
    effects = kiosk.send(f.Done())
    assert kiosk.session.state == "reading_card"
    assert any(isinstance(e, f.ReadCertificate) for e in effects)


@pytest.mark.parametrize("error", CARD_READ_ERRORS, ids=lambda error: error.__name__)
def test_card_error_offers_to_read_the_card_again_when_its_class_says_retryable(
    kiosk: Kiosk, error: type[KioskError]
) -> None:
    kiosk.send(f.Start(), f.AgreeTerms(), f.CardPlaced(), f.Failed(error.kind, error.retryable))
    s = kiosk.session
    assert (s.state, s.error_kind) == ("error", error.kind)
    assert s.error_next == ("retry_card" if error.retryable else "end")


def test_card_answering_unexpectedly_is_read_again_as_its_remedy_says(kiosk: Kiosk) -> None:
    odd = card.UnexpectedCardAnswer("status word no JPKI card answers", sw=0x6F00)
    kiosk.send(f.Start(), f.AgreeTerms(), f.CardPlaced(), f.Failed.of(odd))
    assert kiosk.session.error_next == "retry_card"
    kiosk.send(f.Done())
    assert kiosk.session.state == "reading_card"


def test_wrong_card_can_be_swapped_for_the_right_one(kiosk: Kiosk) -> None:
    kiosk.send(
        f.Start(), f.AgreeTerms(), f.CardPlaced(), f.Failed.of(card.NotAMyNumberCard("no JPKI"))
    )
    kiosk.send(f.CardRemoved())
    assert kiosk.session.state == "place_card"
    kiosk.send(f.CardPlaced())
    assert kiosk.session.state == "reading_card"


def test_card_removed_mid_flow_wipes_the_session(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    old = kiosk.session
    buffers = [old.service_user_id, *old.security_codes, old.certificate_der]
    effects = kiosk.send(f.CardRemoved())
    assert f.Wipe("card_removed") in effects
    assert all(buffer == bytearray() for buffer in buffers)
    assert old.service_code is None and old.masked_user_id is None
    new = kiosk.session
    assert new is not old and new.state == "welcome" and new.notice == "card_removed"
    assert all(not value for value in sensitive_values(new))


def test_card_removed_while_signing_wipes_the_payload(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    old = kiosk.session
    payload = old.payload
    kiosk.send(f.CardRemoved())
    assert payload == {} and old.payload is None and kiosk.session.state == "welcome"


def test_card_removed_reported_by_a_card_effect_ends_the_session(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")), f.Failed.of(card.CardRemoved("card gone")))
    assert (kiosk.session.state, kiosk.session.notice) == ("welcome", "card_removed")


def test_card_removed_on_the_result_screen_ends_the_session(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Submitted(wire.ACCEPTED, mykey_id="MK12AB34"), f.CardRemoved())
    assert kiosk.session.state == "welcome" and kiosk.session.mykey_id is None
    # the application went through: thanked, not told the procedure was ended
    assert kiosk.session.notice == "done"


def test_card_taken_while_the_receipt_prints_is_thanked_and_the_receipt_prints(
    kiosk: Kiosk,
) -> None:
    kiosk.to_enqueued()
    effects = kiosk.send(f.SubmitDeferred(), f.Done())
    assert any(isinstance(e, f.PrintReceipt) for e in effects)
    kiosk.send(f.CardRemoved())
    assert (kiosk.session.state, kiosk.session.notice) == ("welcome", "done")
    kiosk.send(f.Printed())  # the print finishing after the session ended changes nothing
    assert (kiosk.session.state, kiosk.session.notice) == ("welcome", "done")


def test_card_removed_after_a_refusal_says_the_procedure_ended(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Submitted(wire.REJECTED, reason="already_applied"), f.CardRemoved())
    assert (kiosk.session.state, kiosk.session.notice) == ("welcome", "card_removed")


def test_take_card_stays_until_the_card_is_removed(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.SubmitDeferred(), f.Done(), f.Printed())
    kiosk.now += 3600
    kiosk.send(f.Tick(), f.Done(), f.Start())
    assert kiosk.session.state == "take_card"


def test_card_left_behind_gives_a_cue(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.SubmitDeferred(), f.Done(), f.Printed())
    assert kiosk.send(f.Tick()) == ()
    kiosk.now += 10
    assert kiosk.send(f.Tick()) == (f.CueCardLeftBehind(),)
    assert kiosk.session.card_left_behind


# --- the service, the ID and the codes ----------------------------------------------------
def test_app_only_service_is_refused_with_its_message(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("rakuten_card"))
    s = kiosk.session
    assert (s.state, s.input_error, s.input_error_field) == (
        "choose_service",
        "service_app_only",
        "service",
    )


def test_unknown_service_is_refused(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("no_such_pay"))
    assert kiosk.session.input_error == "service_unknown"


@pytest.mark.parametrize(
    ("user_id", "codes", "kind", "field"),
    [
        ("", ("1234",), "service_id_missing", "service_user_id"),
        ("12345", ("1234",), "service_id_length", "service_user_id"),
        ("12345678901234AB", ("1234",), "service_id_characters", "service_user_id"),
        (WAON_ID, (), "security_code_count", "security_code"),
        (WAON_ID, ("1234", "5678"), "security_code_count", "security_code"),
        (WAON_ID, ("",), "security_code_missing", "security_code_1"),
        (WAON_ID, ("123",), "security_code_length", "security_code_1"),
        (WAON_ID, ("12a4",), "security_code_characters", "security_code_1"),
    ],
)
def test_entry_that_breaks_the_service_rules_stays_on_the_entry_screen(
    kiosk: Kiosk, user_id: str, codes: tuple[str, ...], kind: str, field: str
) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"), f.IdsEntered(user_id, codes))
    s = kiosk.session
    assert (s.state, s.input_error, s.input_error_field) == ("enter_ids", kind, field)
    assert s.service_user_id == bytearray()


def test_icoca_takes_its_17_characters_and_no_code(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("icoca"), f.IdsEntered("JW1234567890ABCDE", ()))
    assert kiosk.session.state == "confirm"


def test_entered_id_is_masked_for_the_confirm_screen(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"), f.IdsEntered(WAON_ID, ("1234",)))
    assert kiosk.session.masked_user_id == "************3456"


def test_spaces_around_an_entry_are_ignored(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"), f.IdsEntered(f" {WAON_ID} ", (" 1234",)))
    assert kiosk.session.state == "confirm"


def test_choosing_another_service_clears_what_was_typed(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"), f.IdsEntered(WAON_ID, ("1234",)))
    typed = kiosk.session.service_user_id
    kiosk.send(f.Back(), f.Back(), f.ServiceChosen("nanaco"))
    assert typed == bytearray() and kiosk.session.service_user_id == bytearray()


def test_confirm_reads_the_pin_tries_left(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"), f.IdsEntered(WAON_ID, ("1234",)))
    assert f.ReadTriesLeft(kiosk.session.session_id) in kiosk.send(f.Confirmed())


# --- what the central service answers -------------------------------------------------------
def test_offline_enrollment_is_pending_without_trying_to_send(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog)
    kiosk.send(f.NetworkChanged(False))
    kiosk.to_enqueued()
    assert (kiosk.session.state, kiosk.session.result) == ("result", "pending")
    assert not any(isinstance(e, f.Submit) for e in kiosk.effects)


def test_central_down_makes_the_enrollment_pending(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.SubmitDeferred())
    assert kiosk.session.result == "pending"


def test_network_failure_while_sending_makes_the_enrollment_pending(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Failed.of(CentralUnreachable("connection refused")))
    assert kiosk.session.result == "pending"


def test_retry_answer_makes_the_enrollment_pending(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Submitted(wire.RETRY))
    assert kiosk.session.result == "pending"


def test_pending_enrollment_still_prints_a_receipt(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.SubmitDeferred(), f.Done())
    assert kiosk.effect(f.PrintReceipt).receipt.result == "pending"


def test_payment_account_already_linked_is_rejected_with_its_remedy(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Submitted(wire.REJECTED, reason="account_already_linked"))
    s = kiosk.session
    assert (s.state, s.result, s.rejection_kind) == ("result", "rejected", "account_already_linked")


def test_rejected_enrollment_prints_nothing_and_asks_for_the_card(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Submitted(wire.REJECTED, reason="account_not_confirmed"), f.Done())
    assert kiosk.session.state == "take_card"
    assert not any(isinstance(e, f.PrintReceipt) for e in kiosk.effects)


def test_already_applied_shows_the_service_chosen_before(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Submitted(wire.REJECTED, reason="already_applied", service_code="nanaco"))
    assert (kiosk.session.rejection_kind, kiosk.session.service_code) == (
        "already_applied",
        "nanaco",
    )


def test_conflict_answer_is_a_rejection(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Submitted(wire.CONFLICT))
    assert kiosk.session.result == "rejected"


def test_bad_signature_is_an_error_and_nothing_is_enqueued(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(
        f.PinEntered(bytearray(b"1234")),
        f.Signed(b"x"),
        f.Failed.of(EnrollmentSignatureInvalid("bad")),
    )
    assert (kiosk.session.state, kiosk.session.error_kind) == ("error", "signature_invalid")
    assert not any(isinstance(e, f.Enqueue) for e in kiosk.effects)


def test_queue_full_is_told_as_not_received(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")), f.Signed(b"x"), f.SignatureVerified())
    kiosk.send(f.Failed.of(QueueDiskFull("full")))
    assert (kiosk.session.state, kiosk.session.error_kind) == ("error", "queue_disk_full")
    assert kiosk.session.result is None
    assert kiosk.session.error_next == "end"  # retryable, but placing the card again is no help


def test_after_enqueue_the_session_forgets_id_codes_and_certificate(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    assert all(not value for value in sensitive_values(kiosk.session))
    assert kiosk.session.masked_user_id == "************3456"


# --- the receipt ------------------------------------------------------------------------
def test_printer_no_paper_keeps_the_receipt_on_screen(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.Submitted(wire.ACCEPTED, mykey_id="MK12AB34"), f.Done())
    kiosk.send(f.Failed("printer_no_paper"))
    s = kiosk.session
    assert (s.state, s.receipt_on_screen, s.error_kind) == (
        "receipt",
        True,
        "printer_no_paper",
    )
    assert s.receipt.receipt_no == "AB12-CD34" and s.receipt.mykey_id == "MK12AB34"


def test_on_screen_receipt_stays_until_the_person_is_done(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.SubmitDeferred(), f.Done(), f.Failed("printer_offline"))
    kiosk.send(f.Done())
    assert kiosk.session.state == "take_card"


def test_receipt_shows_no_full_id(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.SubmitDeferred(), f.Done())
    assert WAON_ID not in repr(kiosk.effect(f.PrintReceipt))


# --- idle, cancel, language --------------------------------------------------------------
def test_countdown_appears_in_the_last_seconds(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.now += 60
    kiosk.send(f.Tick())
    assert kiosk.session.countdown is None
    kiosk.now += 15
    kiosk.send(f.Tick())
    assert kiosk.session.countdown == 15


def test_still_here_resets_the_countdown(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.now += 80
    kiosk.send(f.Tick(), f.StillHere())
    assert kiosk.session.countdown is None
    assert kiosk.session.idle_deadline == kiosk.now + 90


def test_idle_timeout_wipes_the_session(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"), f.IdsEntered(WAON_ID, ("1234",)))
    old = kiosk.session
    typed = old.service_user_id
    kiosk.now += 91
    effects = kiosk.send(f.Tick())
    assert f.Wipe("idle_timeout") in effects
    assert typed == bytearray() and old.masked_user_id is None
    assert kiosk.session.state == "take_card" and kiosk.session.notice == "idle_timeout"


def test_idle_timeout_without_a_card_returns_to_welcome(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.AgreeTerms())
    kiosk.now += 91
    kiosk.send(f.Tick())
    assert kiosk.session.state == "welcome"


def test_idle_timer_does_not_run_while_the_card_works(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    kiosk.now += 600
    kiosk.send(f.Tick())
    assert kiosk.session.state == "processing"


def test_idle_welcome_in_english_returns_to_japanese(kiosk: Kiosk) -> None:
    kiosk.send(f.ChooseLanguage("en"))
    kiosk.now += 91
    kiosk.send(f.Tick())
    assert kiosk.session.lang == "ja"


def test_cancel_with_the_card_in_the_reader_asks_for_the_card(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    effects = kiosk.send(f.Cancel())
    assert f.Wipe("cancelled") in effects
    assert kiosk.session.state == "take_card"


def test_cancel_without_a_card_returns_to_welcome(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.Cancel())
    assert (kiosk.session.state, kiosk.session.notice) == ("welcome", "cancelled")


def test_language_switch_mid_flow_keeps_the_screen_and_what_was_typed(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"), f.IdsEntered(WAON_ID, ("1234",)))
    kiosk.send(f.ChooseLanguage("en"))
    assert (kiosk.session.state, kiosk.session.lang) == ("confirm", "en")
    assert kiosk.session.masked_user_id == "************3456"


def test_cancel_on_the_welcome_resets_it_without_a_cancelled_notice(kiosk: Kiosk) -> None:
    kiosk.send(f.ChooseLanguage("en"), f.LongerTimes(), f.Cancel())
    session = kiosk.session
    assert (session.state, session.lang, session.longer_times) == ("welcome", "ja", False)
    assert session.notice is None  # nothing had been started, so nothing was "cancelled"


def test_new_session_after_english_starts_in_japanese(kiosk: Kiosk) -> None:
    kiosk.send(f.ChooseLanguage("en"), f.Start(), f.Cancel())
    assert kiosk.session.lang == "ja"


def test_double_tap_is_ignored(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    assert kiosk.send(f.Confirmed()) == ()
    assert kiosk.session.state == "processing"


# --- campaigns --------------------------------------------------------------------------
def test_outside_every_campaign_the_menu_is_closed(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog, today=dt.date(2024, 5, 1))
    kiosk.send(f.Start())
    assert kiosk.session.state == "campaign_closed"
    assert kiosk.session.closed_campaign_id == "demo-2026"


def test_the_open_campaign_is_the_one_enrolled_in(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog, today=dt.date(2020, 9, 1))
    kiosk.send(f.Start())
    assert kiosk.session.campaign_id == "2020"


def test_a_named_campaign_that_is_closed_is_refused(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(campaign_id="2020"))
    assert (kiosk.session.state, kiosk.session.closed_campaign_id) == ("campaign_closed", "2020")


def test_closed_screen_returns_to_welcome(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog, today=dt.date(2024, 5, 1))
    kiosk.send(f.Start(), f.Done())
    assert kiosk.session.state == "welcome"


# --- status ------------------------------------------------------------------------------
def test_status_check_signs_the_challenge_and_shows_the_chosen_service(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"))
    assert kiosk.session.state == "place_card"
    kiosk.send(f.CardPlaced(), f.CertificateRead(CERT, 3))
    assert kiosk.effect(f.FetchStatusChallenge)
    kiosk.send(f.StatusChallenge("N" * 32))
    assert kiosk.session.state == "pin"
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    assert kiosk.effect(f.SignDigest).digest == wire.status_challenge_digest("N" * 32, "K-0001")
    kiosk.send(f.Signed(b"S" * 256))
    assert kiosk.effect(f.QueryStatus).nonce == "N" * 32
    answer = f.StatusAnswered(applied=True, service_code="waon", mykey_id="MK12AB34")
    kiosk.send(answer)
    assert (kiosk.session.state, kiosk.session.status_info) == ("status", answer)


def test_status_check_is_online_only(catalog: Catalog) -> None:
    kiosk = Kiosk(catalog)
    kiosk.send(f.NetworkChanged(False), f.Start(menu="status"))
    assert (kiosk.session.state, kiosk.session.error_kind) == ("error", "status_offline")


def test_status_check_losing_the_network_says_so(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"), f.CardPlaced(), f.CertificateRead(CERT, 3))
    kiosk.send(f.Failed.of(CentralUnreachable("connection refused")))
    assert kiosk.session.error_kind == "status_offline"


def test_status_check_losing_the_network_while_asking_says_so(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"), f.CardPlaced(), f.CertificateRead(CERT, 3))
    kiosk.send(f.StatusChallenge("N" * 32), f.PinEntered(bytearray(b"1234")), f.Signed(b"S"))
    kiosk.send(f.Failed.of(CentralUnreachable("connection refused")))
    assert (kiosk.session.error_kind, kiosk.session.error_next) == ("status_offline", "end")


def test_status_check_with_a_card_not_read_offers_to_read_it_again(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"), f.CardPlaced(), f.Failed.of(card.CardTimeout("late")))
    assert (kiosk.session.error_kind, kiosk.session.error_next) == ("card_timeout", "retry_card")


def test_status_check_with_a_spent_challenge_ends_with_its_own_message(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"), f.CardPlaced(), f.CertificateRead(CERT, 3))
    kiosk.send(f.StatusChallenge("N" * 32), f.PinEntered(bytearray(b"1234")), f.Signed(b"S"))
    kiosk.send(f.Failed.of(StatusChallengeExpired("used or expired")))
    assert (kiosk.session.error_kind, kiosk.session.error_next) == (
        "status_challenge_expired",
        "end",
    )


def test_status_check_ends_with_the_take_card_screen(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"), f.CardPlaced(), f.CertificateRead(CERT, 3))
    kiosk.send(f.StatusChallenge("N" * 32), f.PinEntered(bytearray(b"1234")), f.Signed(b"S"))
    kiosk.send(f.StatusAnswered(applied=False), f.Done())
    assert kiosk.session.state == "take_card"


# --- the Flow wrapper --------------------------------------------------------------------
def test_flow_wrapper_keeps_the_current_session(catalog: Catalog) -> None:
    ctx = f.FlowContext(kiosk_id="K-0001", catalog=catalog, today=TODAY)
    flow = f.Flow(lambda: ctx)
    flow.dispatch(f.Start())
    assert flow.session.state == "notes"


def test_effects_name_the_session_that_asked(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.AgreeTerms())
    (read,) = [e for e in kiosk.send(f.CardPlaced()) if isinstance(e, f.ReadCertificate)]
    assert read.session_id == kiosk.session.session_id


def test_late_answer_for_an_ended_session_is_dropped(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    asked_by = kiosk.effect(f.SignDigest).session_id
    kiosk.send(f.CardRemoved(), f.Start(), f.AgreeTerms(), f.CardPlaced())
    kiosk.send(f.Failed("card_timeout", session_id=asked_by))
    assert kiosk.session.state == "reading_card" and kiosk.session.error_kind is None


def test_reading_for_a_status_check_says_so(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"), f.CardPlaced())
    assert kiosk.effect(f.ReadCertificate).for_status


def test_card_that_applied_here_already_ends_with_its_message(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.AgreeTerms(), f.CardPlaced(), f.Failed.of(AlreadyEnrolledHere("here")))
    assert (kiosk.session.error_kind, kiosk.session.error_next) == ("already_enrolled_here", "end")


def test_language_can_be_switched_on_the_result_screen(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.SubmitDeferred(), f.ChooseLanguage("en"), f.Done())
    assert kiosk.effect(f.PrintReceipt).receipt.lang == "en"


def test_back_from_notes_returns_to_welcome(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.Back())
    assert kiosk.session.state == "welcome"


def test_back_from_place_card_returns_to_the_notes(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(), f.AgreeTerms(), f.Back())
    assert kiosk.session.state == "notes"


def test_back_from_the_status_card_screen_returns_to_welcome(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"), f.Back())
    assert kiosk.session.state == "welcome"


def test_back_from_the_status_pin_ends_the_session(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(menu="status"), f.CardPlaced(), f.CertificateRead(CERT, 3))
    kiosk.send(f.StatusChallenge("N" * 32), f.Back())
    assert (kiosk.session.state, kiosk.session.notice) == ("take_card", "cancelled")


def test_back_from_entry_and_confirm_walks_back_one_screen(kiosk: Kiosk) -> None:
    kiosk.to_choose_service()
    kiosk.send(f.ServiceChosen("waon"), f.IdsEntered(WAON_ID, ("1234",)), f.Back())
    assert kiosk.session.state == "enter_ids"
    kiosk.send(f.Back())
    assert kiosk.session.state == "choose_service"


def test_receipt_done_is_ignored_while_printing(kiosk: Kiosk) -> None:
    kiosk.to_enqueued()
    kiosk.send(f.SubmitDeferred(), f.Done(), f.Done())
    assert kiosk.session.state == "receipt" and kiosk.session.receipt_printing


def test_cancel_is_ignored_once_the_card_signs(kiosk: Kiosk) -> None:
    kiosk.to_pin()
    kiosk.send(f.PinEntered(bytearray(b"1234")), f.Signed(b"S" * 256), f.SignatureVerified())
    assert kiosk.send(f.Cancel()) == ()
    kiosk.send(f.Enqueued(kiosk.session.enrollment_id, "AB12-CD34"), f.SubmitDeferred())
    assert kiosk.session.result == "pending"  # stored, so the person is told
