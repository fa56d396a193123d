"""The flow and the controller with the real parts, without Kivy.

Real pcscd + vpcd with the virtual card, the virtual printer on a pty, the reference
central service over mutual TLS, the real outbox and a real sync worker (in a thread).
A test plays the UI: it dispatches person events and the devices' answers.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract import wire
from drivers import certs, jpki
from drivers.printer import ReceiptPrinter
from drivers.reader import CardService
from kiosk import flow
from kiosk.catalog import CAMPAIGNS_FILE, SERVICES_FILE, Catalog
from kiosk.central_link import CentralLink
from kiosk.controller import Controller, context_for
from kiosk.receipt import layout, render_image
from kiosk.receipt_facts import ReceiptSettings, receipt_data
from kiosk.staff import MAX_WRONG, StaffGate
from offline_queue import policy
from offline_queue.store import Outbox
from sim.enrollments import central_client, quick_worker
from sim.rig import PIN, KioskUnderTest
from sim.waiting import eventually
from tests.fixtures.central import start_central

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.central", "tests.fixtures.printer"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory, test_pki) -> Iterator[Any]:
    """One central service for the module, enforcing the kiosk's own catalog and campaigns."""
    service = start_central(
        tmp_path_factory.mktemp("central"),
        pki=test_pki,
        services_file=SERVICES_FILE,
        campaigns_file=CAMPAIGNS_FILE,
    )
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def parts(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    central: Any,
    pcscd: Any,
    test_pki: Any,
    virtual_printer: Any,
):
    """Everything a kiosk owns, started; and a sync worker delivering its queue.

    Parametrized indirectly with ``prepare(db, guard, central) -> max_size_bytes``, the queue is
    made first and capped (tests/test_queue_room.py)."""
    db = tmp_path / "queue.sqlite3"
    guard = secrets.token_bytes(32)
    prepare = getattr(request, "param", None)
    cap = prepare(db, guard, central) if prepare is not None else None
    catalog = Catalog.load()
    printer = ReceiptPrinter(
        virtual_printer.port, mode="kanji", columns=42, status_timeout=0.5, print_timeout=3.0
    )
    controller = Controller(
        catalog=catalog,
        make_card=lambda on_event: CardService(pcscd.reader_name, on_event, transceive_timeout=3.0),
        printer=printer,
        open_outbox=lambda: Outbox(
            db, [central.sealing_key], central.kiosk_id, guard, max_size_bytes=cap
        ),
        trusted_cas=certs.load_ca_bundle(test_pki.trusted_ca_pem()),
        receipt_settings=ReceiptSettings("テスト店", "https://central.example/status/{receipt_no}"),
        central=CentralLink(
            central.base_url, central.ca_cert, central.client_cert, central.client_key, 3.0
        ),
        submit_wait_seconds=3.0,
        card_timeout=10.0,
        print_timeout=5.0,
        health_interval=0.3,
    )
    worker = quick_worker(db, central_client(central), idle_poll_s=0.5)
    sync = threading.Thread(target=worker.run_forever, name="sync", daemon=True)
    sync.start()
    kiosk = KioskUnderTest(controller, central.kiosk_id, catalog)
    try:
        yield kiosk, db, guard
    finally:
        controller.stop()
        worker.stop()
        sync.join(10)
        worker.close()


@pytest.fixture
def kiosk(parts) -> KioskUnderTest:
    return parts[0]


def queue_row(parts, central: Any, enrollment_id: str) -> Any:
    _, db, guard = parts
    with Outbox(db, [central.sealing_key], central.kiosk_id, guard) as outbox:
        return outbox.get(enrollment_id)


# --- enrollment ------------------------------------------------------------------------
def test_whole_enrollment_is_accepted_and_its_receipt_printed(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any, virtual_printer: Any
) -> None:
    session = kiosk.enroll(central.new_account("waon"))
    assert session.result == flow.RESULT_ACCEPTED and len(session.mykey_id) == 8
    receipt_no = session.receipt_no
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    (printed,) = virtual_printer.wait_for_receipts(1)
    text = "\n".join(printed.text)
    assert receipt_no in text and session.mykey_id in text
    virtual_card.remove()
    assert kiosk.wait_for(flow.WELCOME).notice == flow.END_DONE


def test_central_down_makes_it_pending_and_sync_delivers_it_later(
    parts, central: Any, virtual_card: Any
) -> None:
    kiosk = parts[0]
    account = central.new_account("waon")
    central.stop()
    try:
        session = kiosk.enroll(account)
        assert session.result == flow.RESULT_PENDING
        enrollment_id = session.enrollment_id
        kiosk.send(flow.Done())
        kiosk.wait_for(flow.TAKE_CARD)
    finally:
        central.start()
    eventually(
        lambda: queue_row(parts, central, enrollment_id).state == policy.ACCEPTED,
        20,
        "the pending enrollment delivered by sync",
        interval=0.2,
    )


def test_wrong_pin_then_right_pin_is_accepted(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    kiosk.start_and_place_card()
    kiosk.enter(central.new_account("waon"))
    kiosk.pin(b"9999")
    session = kiosk.wait_for(flow.PIN, until=lambda s: s.input_error == "pin_incorrect")
    assert session.tries_left == 2
    kiosk.pin()
    assert kiosk.wait_for(flow.RESULT).result == flow.RESULT_ACCEPTED


def test_no_apdu_of_a_whole_kiosk_session_names_a_signing_ef(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any, virtual_printer: Any
) -> None:
    """Every APDU the card saw in a session (wrong PIN, right PIN, receipt, card out)."""
    kiosk.start_and_place_card()
    kiosk.enter(central.new_account("waon"))
    kiosk.pin(b"9999")
    kiosk.wait_for(flow.PIN, until=lambda s: s.input_error == "pin_incorrect")
    kiosk.pin()
    assert kiosk.wait_for(flow.RESULT).result == flow.RESULT_ACCEPTED
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    virtual_printer.wait_for_receipts(1)
    virtual_card.remove()
    kiosk.wait_for(flow.WELCOME)
    commands = [command for command, _ in virtual_card.apdu_log]
    assert len(commands) >= 14  # the whole session is recorded, not a part of it
    selects = [c for c in commands if c[1] == jpki.INS_SELECT]
    assert {c[2:4] for c in selects} <= {b"\x04\x0c", b"\x02\x0c"}  # by AID or by EF id only
    efs = {int.from_bytes(c[5:7], "big") for c in selects if c[2] == jpki.P1_SELECT_EF_ID}
    assert efs <= jpki.ALLOWED_EFS and not efs & jpki.SIGNING_EFS
    assert not [c for c in commands if c[0] == 0x00 and c[1] in (0xB0, 0xB1) and c[2] & 0x80]
    assert virtual_card.model.tries_left("jpki", jpki.EF_SIGN_PIN) == jpki.SIGN_PIN_MAX_TRIES


def test_three_wrong_pins_block_the_card_and_it_stays_blocked(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    kiosk.start_and_place_card()
    kiosk.enter(central.new_account("waon"))
    for tries_left in (2, 1):
        kiosk.pin(b"9999")
        kiosk.wait_for(flow.PIN, until=lambda s, n=tries_left: s.tries_left == n)
    assert kiosk.session.last_try
    kiosk.pin(b"9999")
    assert kiosk.wait_for(flow.ERROR).error_kind == "pin_blocked"
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    virtual_card.remove()
    kiosk.wait_for(flow.WELCOME)
    virtual_card.insert()
    kiosk.send(flow.Start(), flow.AgreeTerms())
    assert kiosk.wait_for(flow.ERROR).error_kind == "pin_blocked"


def test_expired_certificate_is_told_with_its_remedy(
    kiosk: KioskUnderTest, make_virtual_card: Any
) -> None:
    make_virtual_card(expired=True)
    kiosk.send(flow.Start(), flow.AgreeTerms())
    session = kiosk.wait_for(flow.ERROR)
    assert (session.error_kind, session.error_next) == ("certificate_expired", "end")


def test_card_removed_in_the_middle_wipes_the_session(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    kiosk.start_and_place_card()
    code, user_id, codes = central.new_account("waon")
    kiosk.send(flow.ServiceChosen(code), flow.IdsEntered(user_id, tuple(codes)))
    old = kiosk.session
    typed = [old.service_user_id, *old.security_codes, old.certificate_der]
    virtual_card.remove()
    new = kiosk.wait_for(flow.WELCOME)
    assert new.notice == flow.END_CARD_REMOVED and kiosk.wipes[-1].reason == "card_removed"
    assert all(buffer == bytearray() for buffer in typed)
    assert new.service_code is None and new.masked_user_id is None


def test_card_removed_while_signing_stores_nothing(
    parts, central: Any, make_virtual_card: Any
) -> None:
    kiosk = parts[0]
    card = make_virtual_card(delays={"sign": 1.5})
    kiosk.start_and_place_card()
    kiosk.enter(central.new_account("waon"))
    pin = kiosk.pin()
    kiosk.wait_for(flow.PROCESSING)
    time.sleep(0.3)
    card.remove()
    assert kiosk.wait_for(flow.WELCOME).notice == flow.END_CARD_REMOVED
    kiosk.answered(flow.SignDigest)  # the card worker gave up on the signature
    assert pin == bytearray() or set(pin) == {0}
    _, db, guard = parts
    with Outbox(db, [central.sealing_key], central.kiosk_id, guard) as outbox:
        assert sum(outbox.status().counts.values()) == 0


def test_pin_buffer_is_zeroed_after_the_card_used_it(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    kiosk.start_and_place_card()
    kiosk.enter(central.new_account("waon"))
    pin = kiosk.pin()
    kiosk.wait_for(flow.RESULT)
    assert PIN not in bytes(pin)


def test_app_only_service_is_refused_with_its_message(
    kiosk: KioskUnderTest, virtual_card: Any
) -> None:
    kiosk.start_and_place_card()
    kiosk.send(flow.ServiceChosen("rakuten_pay"))
    assert (kiosk.session.state, kiosk.session.input_error) == (
        flow.CHOOSE_SERVICE,
        "service_app_only",
    )


def test_payment_account_already_linked_to_another_person_is_rejected(
    kiosk: KioskUnderTest, central: Any, make_virtual_card: Any
) -> None:
    account = central.new_account("waon")
    first = make_virtual_card()
    assert kiosk.enroll(account).result == flow.RESULT_ACCEPTED
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    first.remove()
    kiosk.wait_for(flow.WELCOME)
    make_virtual_card()
    session = kiosk.enroll(account)
    assert (session.result, session.rejection_kind) == (
        flow.RESULT_REJECTED,
        "account_already_linked",
    )


def test_printer_out_of_paper_keeps_the_receipt_on_screen(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any, virtual_printer: Any
) -> None:
    kiosk.enroll(central.new_account("waon"))
    virtual_printer.paper = "out"
    kiosk.send(flow.Done())
    session = kiosk.wait_for(flow.RECEIPT, until=lambda s: s.receipt_on_screen)
    assert session.error_kind == "printer_no_paper"
    data = receipt_data(session.receipt, kiosk.controller.receipt_settings, Catalog.load())
    assert data.receipt_no == session.receipt_no and data.state == "accepted"
    assert render_image(layout(data)).size == kiosk.controller.receipt_image(session.receipt).size
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)


def test_status_check_shows_the_service_chosen(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    mykey_id = kiosk.enroll(central.new_account("rakuten_edy")).mykey_id
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    virtual_card.remove()
    kiosk.wait_for(flow.WELCOME)
    virtual_card.insert()
    kiosk.start_and_place_card(menu=flow.MENU_STATUS)
    kiosk.pin()
    info = kiosk.wait_for(flow.STATUS).status_info
    assert (info.applied, info.service_code, info.mykey_id) == (True, "rakuten_edy", mykey_id)


def test_status_check_losing_the_central_service_after_the_challenge_says_so(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    kiosk.wait_for(flow.WELCOME, until=lambda s: s.online)
    kiosk.start_and_place_card(menu=flow.MENU_STATUS)  # the challenge came: now the PIN
    central.stop()
    try:
        kiosk.pin()  # the card signs; the answer cannot be asked for
        session = kiosk.wait_for(flow.ERROR)
    finally:
        central.start()
    assert (session.error_kind, session.error_next) == ("status_offline", "end")


def test_device_answers_never_come_on_the_callers_thread(
    kiosk: KioskUnderTest, virtual_card: Any
) -> None:
    kiosk.start_and_place_card()
    assert threading.current_thread().name not in kiosk.posting_threads
    assert kiosk.posting_threads


def test_staff_status_shows_counts_and_devices_but_nobody(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    account = central.new_account("waon")
    kiosk.enroll(account)
    info = kiosk.controller.staff_status().result(timeout=15)
    assert info["queue_counts"][policy.ACCEPTED] == 1
    assert info["reader_available"] and info["printer_problem"] is None
    assert account[1] not in repr(info)


def test_controller_built_from_a_configuration_file_enrolls(
    tmp_path: Path, central: Any, pcscd: Any, test_pki: Any, virtual_printer: Any, virtual_card: Any
) -> None:
    from kiosk.config import hash_staff_pin, load_config

    (tmp_path / "jpki-ca.pem").write_bytes(test_pki.trusted_ca_pem())
    (tmp_path / "sealing.pem").write_bytes(central.sealing_public_pem)
    (tmp_path / "guard.secret").write_bytes(secrets.token_bytes(32))
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f"""
kiosk_id = "{central.kiosk_id}"
staff_pin_hash = "{hash_staff_pin("2580")}"
[store]
name = "テスト店"
[card]
reader_pattern = "{pcscd.reader_name}"
transceive_timeout = 3
trusted_ca_bundle = "jpki-ca.pem"
[printer]
port = "{virtual_printer.port}"
[central]
base_url = "{central.base_url}"
ca_cert = "{central.ca_cert}"
client_cert = "{central.client_cert}"
client_key = "{central.client_key}"
sealing_public_keys = ["sealing.pem"]
status_url = "https://central.example/status/{{receipt_no}}"
[queue]
db_path = "queue.sqlite3"
guard_secret_path = "guard.secret"
""",
        encoding="utf-8",
    )
    config = load_config(path)
    context = context_for(config, Catalog.load())()
    assert (context.kiosk_id, context.idle_seconds, context.default_language) == (
        central.kiosk_id,
        90,
        "ja",
    )
    controller = Controller.from_config(config, Catalog.load())
    gate = StaffGate(lambda _pin: False)  # someone tried the staff PIN five times
    for _ in range(MAX_WRONG):
        gate.check(bytearray(b"0000"))
    controller.health.staff_gate = gate  # as screens.app.build_engine hands it over
    worker = quick_worker(config.queue.db_path, central_client(central), idle_poll_s=0.5)
    sync = threading.Thread(target=worker.run_forever, name="sync", daemon=True)
    sync.start()
    try:
        kiosk = KioskUnderTest(controller, config.kiosk_id, Catalog.load())
        assert kiosk.enroll(central.new_account("waon")).result == flow.RESULT_ACCEPTED
        # the first report: sent once the reader was looked for (a health round, 15 s)
        report = _wait_for_heartbeat(central, config.kiosk_id, timeout=40)
        assert (report["reader"], report["printer"]) == ("ok", "ok")
        assert (report["staff_locked"], report["staff_lockouts"]) == (True, 1)
    finally:
        controller.stop()
        worker.stop()
        sync.join(10)
        worker.close()


def test_a_card_that_applied_here_is_told_before_typing_anything(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any
) -> None:
    kiosk.enroll(central.new_account("waon"))
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    virtual_card.remove()
    kiosk.wait_for(flow.WELCOME)
    virtual_card.insert()
    kiosk.send(flow.Start(), flow.AgreeTerms())
    assert kiosk.wait_for(flow.ERROR).error_kind == "already_enrolled_here"


def test_catalog_is_refreshed_from_the_central_service(
    tmp_path: Path, test_pki: Any, central_factory: Any
) -> None:
    import tomllib

    with SERVICES_FILE.open("rb") as f:
        services = tomllib.load(f)["services"][:2]
    lines = []
    for service in services:
        lines.append("[[services]]")
        lines += [f"{k} = {_toml(v)}" for k, v in service.items()]
    services_file = tmp_path / "services.toml"
    services_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    other = central_factory(
        pki=test_pki, services_file=services_file, campaigns_file=CAMPAIGNS_FILE
    )
    catalog = Catalog.load()
    link = CentralLink(other.base_url, other.ca_cert, other.client_cert, other.client_key, 3.0)
    controller = Controller(
        catalog=catalog,
        make_card=lambda on_event: _NoCard(),
        printer=_NoPrinter(),
        open_outbox=lambda: None,
        trusted_cas=[],
        receipt_settings=ReceiptSettings("", "https://x/{receipt_no}"),
        central=link,
        health_interval=0.2,
    )
    controller.start(lambda event: None)
    try:
        eventually(lambda: len(catalog.services()) == 2, 10, "the refreshed catalog")
    finally:
        controller.stop()
    assert [s.code for s in catalog.services()] == ["suica", "waon"]
    open_now = catalog.open_campaigns(dt.date(2026, 11, 26))
    assert [c.id for c in open_now if c.kind == "payment_service"] == ["demo-2026"]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


class _NoCard:
    """No reader at all: this test is about the catalog only (no card is touched)."""

    card_present = reader_available = False

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...


class _NoPrinter:
    def close(self) -> None: ...


def test_language_switch_before_the_receipt_prints_it_in_that_language(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any, virtual_printer: Any
) -> None:
    kiosk.enroll(central.new_account("waon"))
    kiosk.send(flow.ChooseLanguage("en"), flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    (printed,) = virtual_printer.wait_for_receipts(1)
    text = "\n".join(printed.text)
    assert "Mynapoint application receipt" in text and "WAON" in text


def test_legal_representative_enrollment_is_marked_on_the_receipt(
    kiosk: KioskUnderTest, central: Any, virtual_card: Any, virtual_printer: Any
) -> None:
    kiosk.send(flow.Start(), flow.SetLegalRepresentative(True), flow.AgreeTerms())
    kiosk.wait_for(flow.CHOOSE_SERVICE)
    kiosk.enter(central.new_account("waon"))
    kiosk.pin()
    assert kiosk.wait_for(flow.RESULT).result == flow.RESULT_ACCEPTED
    kiosk.send(flow.Done())
    kiosk.wait_for(flow.TAKE_CARD)
    (printed,) = virtual_printer.wait_for_receipts(1)
    assert "法定代理人による申込" in "\n".join(printed.text)


def test_status_of_an_application_still_queued_here_says_it_is_waiting(
    parts, central: Any, virtual_card: Any
) -> None:
    kiosk = parts[0]
    account = central.new_account("waon")
    central.stop()
    try:
        assert kiosk.enroll(account).result == flow.RESULT_PENDING
    finally:
        central.start()
    kiosk.send(flow.Cancel())
    kiosk.wait_for(flow.TAKE_CARD)
    virtual_card.remove()
    kiosk.wait_for(flow.WELCOME, until=lambda s: s.online)  # the health probe saw it back
    virtual_card.insert()
    kiosk.start_and_place_card(menu=flow.MENU_STATUS)
    kiosk.pin()
    info = kiosk.wait_for(flow.STATUS).status_info
    assert info.applied or info.pending_here  # delivered meanwhile, or still waiting here


def test_session_knows_when_the_central_service_goes_and_comes_back(
    kiosk: KioskUnderTest, central: Any
) -> None:
    kiosk.wait_for(flow.WELCOME, until=lambda s: s.online)
    central.stop()
    try:
        kiosk.wait_for(flow.WELCOME, until=lambda s: not s.online)
        kiosk.send(flow.Start(menu=flow.MENU_STATUS))
        assert kiosk.session.error_kind == "status_offline"
        kiosk.send(flow.Done())
    finally:
        central.start()
    assert kiosk.wait_for(flow.WELCOME, until=lambda s: s.online).online


def _wait_for_heartbeat(central: Any, kiosk_id: str, timeout: float = 10.0) -> dict:
    """The central service's last fleet-health report of this kiosk."""
    with central.session() as session:

        def report() -> dict | None:
            kiosks = session.get(central.base_url + wire.KIOSKS_PATH, timeout=5).json()["kiosks"]
            return next((k for k in kiosks if k["kiosk_id"] == kiosk_id), None)

        return eventually(report, timeout, "a heartbeat at the central service", interval=0.2)
