"""The session engine's views: what screens get to show (fast: no window, no devices)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest

from drivers.card import PinIncorrect
from kiosk import flow
from kiosk.catalog import Catalog
from kiosk.i18n import t
from kiosk.search import normalise_for_search
from kiosk.session import UiSession
from kiosk.views import allowed_characters

USER_ID, CODE = "1234567890123456", "4321"


class ScreensStandIn:
    """Records what the engine would show; the real app is exercised in test_ui_*.py."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, dict[str, Any]]] = []
        self.wipes = 0

    def show(self, name: str, view: dict[str, Any]) -> None:
        self.shown.append((name, view))

    def wipe_screens(self) -> None:
        self.wipes += 1


@pytest.fixture
def engine() -> UiSession:
    catalog = Catalog.load()
    engine = UiSession(
        lambda: flow.FlowContext(
            kiosk_id="K-1", catalog=catalog, now=time.monotonic(), today=dt.date(2026, 6, 1)
        )
    )
    engine.app = ScreensStandIn()
    return engine


def walk_to_confirm(engine: UiSession) -> None:
    engine.person("start", menu="apply")
    engine.person("agree_terms")
    engine.dispatch(flow.CardPlaced())
    engine.dispatch(flow.CertificateRead(b"\x30\x82\x01\x00" + b"C" * 256, 3))
    engine.person("service_chosen", code="waon")
    engine.person("ids_entered", service_user_id=USER_ID, security_codes=(CODE,))


def test_views_never_hold_the_full_service_id_or_the_code(engine: UiSession) -> None:
    walk_to_confirm(engine)
    name, view = engine.app.shown[-1]
    assert name == "confirm" and view["masked_user_id"].endswith(USER_ID[-4:])
    everything = json.dumps([v for _, v in engine.app.shown], default=str)
    assert USER_ID not in everything and CODE not in everything


def test_cancel_wipes_every_screen(engine: UiSession) -> None:
    walk_to_confirm(engine)
    engine.person("cancel")
    assert engine.app.wipes == 1 and engine.app.shown[-1][0] == "take_card"


def test_an_unknown_action_name_is_a_clear_error(engine: UiSession) -> None:
    with pytest.raises(ValueError, match="no person event"):
        engine.person("agree_to_everything")


def test_a_view_that_did_not_change_is_not_shown_again(engine: UiSession) -> None:
    engine.person("start", menu="apply")
    shown = len(engine.app.shown)
    engine.tick()
    assert len(engine.app.shown) == shown


def test_refused_service_carries_its_message_to_the_grid(engine: UiSession) -> None:
    engine.person("start", menu="apply")
    engine.person("agree_terms")
    engine.dispatch(flow.CardPlaced())
    engine.dispatch(flow.CertificateRead(b"\x30\x82\x01\x00" + b"C" * 256, 3))
    engine.person("service_chosen", code="rakuten_pay")
    name, view = engine.app.shown[-1]
    assert name == "choose_service" and view["input_error"] == "service_app_only"
    assert view["input_error_text"]


@pytest.mark.parametrize(
    ("code", "digits_only"), [("waon", True), ("paypay", False), ("suica", False)]
)
def test_keyboard_offers_only_what_the_id_rule_accepts(code: str, digits_only: bool) -> None:
    keys = allowed_characters(Catalog.load().service(code).id_rule)
    assert keys.isdigit() == digits_only and "0" in keys


def test_take_your_card_is_said_in_the_language_the_person_used(engine: UiSession) -> None:
    engine.person("choose_language", lang="en")
    walk_to_confirm(engine)
    engine.person("cancel")
    name, view = engine.app.shown[-1]
    assert (name, view["lang"]) == ("take_card", "en")
    engine.dispatch(flow.CardRemoved())
    name, view = engine.app.shown[-1]
    assert (name, view["lang"]) == ("welcome", "ja")


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("code", ["kyash", "aeon_card", "jcb"])
def test_entry_view_of_a_service_with_a_notice_carries_its_text(
    engine: UiSession, code: str, lang: str
) -> None:
    engine.person("choose_language", lang=lang)
    engine.person("start", menu="apply")
    engine.person("agree_terms")
    engine.dispatch(flow.CardPlaced())
    engine.dispatch(flow.CertificateRead(b"\x30\x82\x01\x00" + b"C" * 256, 3))
    engine.person("service_chosen", code=code)
    name, view = engine.app.shown[-1]
    key = Catalog.load().service(code).notice_key
    assert name == "enter_ids" and view["service"]["notice_text"] == t(
        f"services.notice.{key}", lang
    )


def test_entry_view_of_a_service_without_a_notice_has_none(engine: UiSession) -> None:
    walk_to_confirm(engine)
    engine.person("back")
    name, view = engine.app.shown[-1]
    assert name == "enter_ids" and view["service"]["notice_text"] == ""


def test_grid_search_text_holds_the_kana_reading(engine: UiSession) -> None:
    engine.person("start", menu="apply")
    engine.person("agree_terms")
    engine.dispatch(flow.CardPlaced())
    engine.dispatch(flow.CertificateRead(b"\x30\x82\x01\x00" + b"C" * 256, 3))
    services = {s["code"]: s for s in engine.app.shown[-1][1]["services"]}
    assert normalise_for_search("ワオン") in services["waon"]["search"]
    assert normalise_for_search("ぺいぺい") in services["paypay"]["search"]


def walk_to_pin(engine: UiSession) -> None:
    walk_to_confirm(engine)
    engine.person("confirmed")
    engine.dispatch(flow.TriesLeftRead(3))


def test_pin_screen_warns_of_a_wrong_pin_after_the_card_refused_it(engine: UiSession) -> None:
    walk_to_pin(engine)
    assert engine.app.shown[-1][1]["pin_incorrect"] is False
    engine.person("pin_entered", pin=bytearray(b"0000"))
    engine.dispatch(flow.Failed.of(PinIncorrect(2)))
    name, view = engine.app.shown[-1]
    assert name == "pin" and view["pin_incorrect"] is True and view["tries_left"] == 2


def test_pin_screen_does_not_call_a_badly_typed_pin_wrong(engine: UiSession) -> None:
    walk_to_pin(engine)
    engine.person("pin_entered", pin=bytearray(b"12"))
    name, view = engine.app.shown[-1]
    assert (name, view["input_error"], view["pin_incorrect"]) == ("pin", "pin_format", False)
