"""More than one procedure (issue 11), as pure flow: the 行政サービス menu, 健康保険証の利用申込み
on every path (cancel and card removal at every step), 公金受取口座 as an explanation, a
procedure added from data alone, and the procedures data's own checks."""

from __future__ import annotations

import datetime as dt

import pytest

from contract import wire
from drivers import card
from kiosk import flow as f
from kiosk import views
from kiosk.catalog import Catalog
from kiosk.procedures import Procedures, ProceduresInvalid

CERT = b"\x30\x82\x05\x00" + b"C" * 1280
TODAY = dt.date(2026, 11, 26)
ROUND2 = dt.date(2022, 7, 1)  # 健康保険証 campaign (7,500 points) open


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def procedures() -> Procedures:
    return Procedures.load()


class Kiosk:
    def __init__(self, catalog: Catalog, procedures: Procedures, **context: object) -> None:
        self.now = 1000.0
        self.context = (
            dict(kiosk_id="K-0001", catalog=catalog, today=TODAY, procedures=procedures) | context
        )
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

    def view(self) -> dict:
        return views.view_of(self.session, self.ctx())


@pytest.fixture
def kiosk(catalog: Catalog, procedures: Procedures) -> Kiosk:
    return Kiosk(catalog, procedures)


#: 健康保険証の利用申込み, step by step: (event that leads here, state reached).
HEALTH_STEPS = [
    (f.Start(f.MENU_SERVICES), "menu"),
    (f.Start("health_insurance"), "notes"),
    (f.AgreeTerms(), "place_card"),
    (f.CardPlaced(), "reading_card"),
    (f.CertificateRead(CERT, 3), "confirm"),
    (f.Confirmed(), "pin"),
    (f.TriesLeftRead(3), "pin"),
]


def walk_to(kiosk: Kiosk, state: str) -> None:
    for event, reached in HEALTH_STEPS:
        kiosk.send(event)
        assert kiosk.session.state == reached
        if reached == state:
            return
    raise AssertionError(state)


def to_enqueued(kiosk: Kiosk) -> None:
    walk_to(kiosk, "pin")
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    kiosk.send(f.Signed(b"S" * 256), f.SignatureVerified())
    kiosk.send(f.Enqueued(kiosk.session.enrollment_id, "HI12-CD34"))


# --- the menu -------------------------------------------------------------------------------
def test_the_menu_lists_every_procedure_from_data_with_whether_it_is_open(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(f.MENU_SERVICES))
    assert kiosk.session.state == "menu"
    entries = kiosk.view()["procedures"]
    assert [e["id"] for e in entries] == [
        "mynapoint",
        "health_insurance",
        "municipal_points",
        "public_funds",
        "status",
    ]
    assert entries[1]["title"] == "健康保険証の利用申込み"
    assert all(e["open"] for e in entries)
    kiosk.send(f.Back())
    assert kiosk.session.state == "welcome"


def test_mynapoint_from_the_menu_is_todays_application(kiosk: Kiosk) -> None:
    kiosk.send(f.Start(f.MENU_SERVICES), f.Start("apply"))
    assert (kiosk.session.state, kiosk.session.campaign_id, kiosk.session.procedure) == (
        "notes",
        "demo-2026",
        None,
    )


def test_in_round_two_the_application_never_takes_the_health_insurance_campaign(
    catalog: Catalog, procedures: Procedures
) -> None:
    for start in ("apply",):
        kiosk = Kiosk(catalog, procedures, today=ROUND2)
        kiosk.send(f.Start(start))
        assert kiosk.session.campaign_id == "2022-card"
    kiosk = Kiosk(catalog, procedures, today=ROUND2)
    kiosk.send(f.Start("health_insurance"))
    assert kiosk.session.campaign_id == "2022-health-insurance"
    assert "7,500" in kiosk.view()["procedure"]["points"]


def test_public_funds_is_explained_with_a_qr_to_mynaportal_and_takes_no_data(
    kiosk: Kiosk,
) -> None:
    effects = kiosk.send(f.Start(f.MENU_SERVICES), f.Start("public_funds"))
    assert kiosk.session.state == "procedure_info"
    info = kiosk.view()["info"]
    assert info["url"] == "https://myna.go.jp/" and "マイナポータル" in info["body"]
    assert not [e for e in effects if not isinstance(e, (f.StartIdleTimer, f.StopIdleTimer))]
    kiosk.send(f.CardPlaced())  # a card placed here is not read
    assert kiosk.session.state == "procedure_info"
    assert not [e for e in kiosk.effects if isinstance(e, f.ReadCertificate)]
    kiosk.send(f.Back())
    assert kiosk.session.state == "menu"
    kiosk.send(f.Start("public_funds"), f.Done())
    assert kiosk.session.state == "take_card"  # the card placed meanwhile is given back


def test_a_closed_procedure_says_why_and_what_to_do_instead(catalog: Catalog) -> None:
    registry = Procedures.from_data(
        {
            "procedures": [
                {
                    "id": "health_insurance",
                    "kind": "signed_consent",
                    "steps": ["place_card", "reading_card", "pin", "processing", "result"],
                    "closes": "2025-12-01",
                }
            ]
        }
    )
    kiosk = Kiosk(catalog, registry)
    kiosk.send(f.Start("health_insurance"))
    assert kiosk.session.state == "procedure_info"
    info = kiosk.view()["info"]
    assert info["closed"] and info["heading"] == "この手続きは、現在受け付けていません"
    assert "期間中" in info["body"] and info["url"] == ""


# --- 健康保険証の利用申込み ---------------------------------------------------------------
def test_health_insurance_walks_its_steps_and_signs_a_procedure_payload(kiosk: Kiosk) -> None:
    walk_to(kiosk, "pin")
    read = kiosk.effect(f.ReadCertificate)
    assert (read.for_status, read.procedure) == (False, "health_insurance")
    view = kiosk.view()["procedure"]
    assert view["title"] == "健康保険証の利用申込み"
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    sign = kiosk.effect(f.SignDigest)
    payload = kiosk.session.payload
    assert payload[wire.PROCEDURE_KEY] == "health_insurance"
    assert payload["consent_version"] and "service_user_id" not in payload
    assert sign.digest == wire.payload_digest(payload)
    kiosk.send(f.Signed(b"S" * 256), f.SignatureVerified())
    enqueue = kiosk.effect(f.Enqueue)
    assert enqueue.payload["enrollment_id"] == kiosk.session.enrollment_id


def test_registered_shows_the_insurer_answer_then_prints_then_asks_for_the_card(
    kiosk: Kiosk,
) -> None:
    to_enqueued(kiosk)
    kiosk.send(f.Submitted(wire.ACCEPTED))
    assert (kiosk.session.state, kiosk.session.result) == ("result", "accepted")
    assert kiosk.view()["procedure"]["result_title"] == "健康保険証の利用申込みが完了しました"
    kiosk.send(f.Done())
    receipt = kiosk.effect(f.PrintReceipt).receipt
    assert (receipt.procedure, receipt.result, receipt.service_code) == (
        "health_insurance",
        "accepted",
        "",
    )
    kiosk.send(f.Printed())
    assert kiosk.session.state == "take_card"


@pytest.mark.parametrize(
    ("answer", "says", "not_said"),
    [
        (dict(points=7500), "7,500ポイントが付与されます。", "も必要です"),
        (dict(points=0, points_reason="needs_mynapoint_application"),
         "ポイントを受け取るには、マイナポイントの申込み", "付与されます"),
        (dict(points=0), "", "ポイント"),  # none to be had: nothing promised, nothing asked
        (dict(), "ポイントを受け取るには", "付与されます"),  # a central that does not say
    ],
)
def test_the_result_says_the_points_central_granted_or_what_they_still_need(
    catalog: Catalog, procedures: Procedures, answer: dict, says: str, not_said: str
) -> None:
    kiosk = Kiosk(catalog, procedures, today=ROUND2)
    to_enqueued(kiosk)
    kiosk.send(f.Submitted(wire.ACCEPTED, **answer))
    detail = kiosk.view()["procedure"]["result_detail"]
    assert says in detail and not_said not in detail, detail
    kiosk.send(f.Done())
    assert kiosk.effect(f.PrintReceipt).receipt.points == answer.get("points")


@pytest.mark.parametrize(
    ("reason", "remedy"),
    [
        ("already_registered", "あらためて申し込む必要はありません"),
        ("insurer_not_covered", "医療保険者"),
    ],
)
def test_insurer_refusals_show_their_official_remedy_and_end(
    kiosk: Kiosk, reason: str, remedy: str
) -> None:
    to_enqueued(kiosk)
    kiosk.send(f.Submitted(wire.REJECTED, reason=reason))
    view = kiosk.view()
    assert (view["result"], kiosk.session.rejection_kind) == ("rejected", reason)
    assert remedy in view["rejection_remedy"]
    en = views.view_of(kiosk.session, kiosk.ctx(), lang="en")
    assert en["rejection_remedy"] and en["rejection_remedy"] != view["rejection_remedy"]
    kiosk.send(f.Done())
    assert kiosk.session.state == "take_card"
    assert not [e for e in kiosk.effects if isinstance(e, f.PrintReceipt)]


def test_central_away_the_registration_is_pending_with_a_receipt(kiosk: Kiosk) -> None:
    to_enqueued(kiosk)
    kiosk.send(f.SubmitDeferred())
    assert kiosk.session.result == "pending"
    kiosk.send(f.Done())
    assert kiosk.effect(f.PrintReceipt).receipt.result == "pending"


def test_a_wrong_pin_shows_tries_left_and_a_blocked_pin_ends(kiosk: Kiosk) -> None:
    walk_to(kiosk, "pin")
    kiosk.send(f.PinEntered(bytearray(b"0000")))
    kiosk.send(f.Failed(card.PinIncorrect.kind, tries_left=2))
    assert (kiosk.session.state, kiosk.session.tries_left) == ("pin", 2)
    assert kiosk.session.payload is None and kiosk.view()["pin_incorrect"]
    kiosk.send(f.PinEntered(bytearray(b"0000")))
    kiosk.send(f.Failed(card.PinIncorrect.kind, tries_left=0))
    assert (kiosk.session.state, kiosk.session.error_kind) == ("error", "pin_blocked")
    assert "市区町村" in kiosk.view()["error_remedy"]


def test_a_blocked_card_is_told_right_after_the_read(kiosk: Kiosk) -> None:
    walk_to(kiosk, "reading_card")
    kiosk.send(f.CertificateRead(CERT, 0))
    assert (kiosk.session.state, kiosk.session.error_kind) == ("error", "pin_blocked")


CANCEL_STATES = ["menu", "notes", "place_card", "reading_card", "confirm", "pin"]


@pytest.mark.parametrize("state", CANCEL_STATES)
def test_cancel_at_every_step_ends_hard(kiosk: Kiosk, state: str) -> None:
    walk_to(kiosk, state)
    kiosk.send(f.Cancel())
    assert kiosk.session.notice == "cancelled"
    assert kiosk.session.state in ("welcome", "take_card")
    assert kiosk.session.procedure is None and kiosk.session.payload is None
    assert not kiosk.session.certificate_der


@pytest.mark.parametrize("state", ["reading_card", "confirm", "pin"])
def test_card_removed_at_every_card_step_ends_the_session(kiosk: Kiosk, state: str) -> None:
    walk_to(kiosk, state)
    kiosk.send(f.CardRemoved())
    assert (kiosk.session.state, kiosk.session.notice) == ("welcome", "card_removed")
    assert kiosk.effect(f.Wipe).reason == "card_removed"


def test_card_removed_while_signing_ends_the_session(kiosk: Kiosk) -> None:
    walk_to(kiosk, "pin")
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    kiosk.send(f.Failed(card.CardRemoved.kind))
    assert (kiosk.session.state, kiosk.session.notice) == ("welcome", "card_removed")


@pytest.mark.parametrize(("state", "after"), [("confirm", "cancelled"), ("pin", "confirm")])
def test_back_from_confirm_stops_and_from_pin_returns_to_confirm(
    kiosk: Kiosk, state: str, after: str
) -> None:
    walk_to(kiosk, state)
    kiosk.send(f.Back())
    assert after in (kiosk.session.state, kiosk.session.notice)


def test_the_pin_never_stays_in_the_session(kiosk: Kiosk) -> None:
    walk_to(kiosk, "pin")
    pin = bytearray(b"1234")
    kiosk.send(f.PinEntered(pin))
    assert b"1234" not in repr(kiosk.session).encode()
    assert kiosk.effect(f.SignDigest).pin is pin  # handed to the card, zeroed after use


# --- status ------------------------------------------------------------------------------
def test_the_status_check_lists_every_procedure(kiosk: Kiosk) -> None:
    kiosk.send(f.Start("status"), f.CardPlaced(), f.CertificateRead(CERT, 3))
    kiosk.send(f.StatusChallenge("nonce"), f.PinEntered(bytearray(b"1234")), f.Signed(b"S"))
    kiosk.send(
        f.StatusAnswered(
            applied=True,
            service_code="waon",
            mykey_id="MK12AB34",
            procedures=(("mynapoint", "done"), ("health_insurance", "pending_here")),
        )
    )
    lines = kiosk.view()["status_lines"]
    assert lines == [
        "マイナポイントの申込み: 手続き済み",
        "健康保険証の利用申込み: 受付済み（送信待ち）",
    ]


# --- a procedure from data alone ---------------------------------------------------------
THROWAWAY = {
    "id": "throwaway_consent",
    "kind": "signed_consent",
    "steps": ["place_card", "reading_card", "pin", "processing", "result"],
}


def test_a_procedure_added_from_data_alone_runs_through_the_shared_steps(
    catalog: Catalog, procedures: Procedures
) -> None:
    registry = Procedures(
        [
            *procedures.menu(),
            Procedures.from_data({"procedures": [THROWAWAY]}).get("throwaway_consent"),
        ]
    )
    kiosk = Kiosk(catalog, registry)
    kiosk.send(f.Start(f.MENU_SERVICES))
    assert "throwaway_consent" in [e["id"] for e in kiosk.view()["procedures"]]
    kiosk.send(f.Start("throwaway_consent"))
    assert kiosk.session.state == "place_card"  # no notes step in its data
    kiosk.send(f.CardPlaced(), f.CertificateRead(CERT, 3))
    assert kiosk.session.state == "pin"  # no confirm step either
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    assert kiosk.session.payload["procedure"] == "throwaway_consent"
    assert kiosk.session.payload["consent"] == "procedures.throwaway_consent.consent"
    kiosk.send(f.Signed(b"S"), f.SignatureVerified(), f.Enqueued(kiosk.session.enrollment_id, "R"))
    kiosk.send(f.Submitted(wire.ACCEPTED))
    assert kiosk.view()["procedure"]["result_title"]  # falls back to the shared texts
    kiosk.send(f.Done())  # no receipt step: the session ends
    assert kiosk.session.state == "take_card"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"id": "x", "kind": "teleport"}, "kind"),
        ({"id": "x", "kind": "signed_consent", "steps": ["place_card"]}, "needs"),
        ({"id": "x", "kind": "signed_consent", "steps": ["fly"]}, "unknown step"),
        (
            THROWAWAY | {"steps": ["pin", "place_card", "reading_card", "processing", "result"]},
            "order",
        ),
        (THROWAWAY | {"steps": [*THROWAWAY["steps"], "enter_ids"]}, "order"),
        ({"id": "x", "kind": "info", "url": "http://example.com"}, "https://"),
        ({"id": "x", "kind": "info", "url": "https://a", "colour": "red"}, "unknown key"),
        ({"id": "not a name", "kind": "status"}, "id"),
        (THROWAWAY | {"closes": "yesterday"}, "date"),
    ],
)
def test_bad_procedure_data_is_refused_with_a_clear_message(entry: dict, says: str) -> None:
    with pytest.raises(ProceduresInvalid, match=says):
        Procedures.from_data({"procedures": [entry]})


def test_two_procedures_with_one_id_are_refused() -> None:
    with pytest.raises(ProceduresInvalid, match="share"):
        Procedures.from_data({"procedures": [THROWAWAY, THROWAWAY]})


# --- 自治体マイナポイント ---------------------------------------------------------------
def test_municipal_points_is_open_only_while_a_municipal_campaign_is(
    catalog: Catalog, procedures: Procedures
) -> None:
    closed = Kiosk(catalog, procedures, today=dt.date(2024, 5, 1))
    closed.send(f.Start(f.MENU_SERVICES))
    entry = next(e for e in closed.view()["procedures"] if e["id"] == "municipal_points")
    assert (entry["open"], entry["tag"]) == (False, "受付期間外")
    closed.send(f.Start("municipal_points"))
    assert closed.session.state == "procedure_info" and closed.view()["info"]["closed"]
    kiosk = Kiosk(catalog, procedures)
    kiosk.send(f.Start("municipal_points"), f.AgreeTerms(), f.CardPlaced())
    kiosk.send(f.CertificateRead(CERT, 3), f.Confirmed(), f.PinEntered(bytearray(b"1234")))
    payload = kiosk.session.payload
    assert (payload["procedure"], payload["campaign_id"]) == (
        "municipal_points",
        "demo-municipal-2026",
    )
    assert not {"address", "municipality"} & set(payload)  # the kiosk never learns it


def test_not_eligible_shows_the_municipal_remedy(kiosk: Kiosk) -> None:
    kiosk.send(f.Start("municipal_points"), f.AgreeTerms(), f.CardPlaced())
    kiosk.send(f.CertificateRead(CERT, 3), f.Confirmed(), f.PinEntered(bytearray(b"1234")))
    kiosk.send(f.Signed(b"S"), f.SignatureVerified(), f.Enqueued(kiosk.session.enrollment_id, "R"))
    kiosk.send(f.Submitted(wire.REJECTED, reason="not_eligible"))
    assert "自治体の窓口" in kiosk.view()["rejection_remedy"]


def test_with_two_municipalities_open_the_person_picks_theirs(
    catalog: Catalog, procedures: Procedures
) -> None:
    """自治体マイナポイント of two municipalities at once: one menu entry each, by name, and the
    payload names the one picked (it used to take the first open one for everybody)."""
    import dataclasses

    from kiosk.catalog import Catalog as Catalogue

    demo = next(c for c in catalog.campaigns if c.id == "demo-municipal-2026")
    other = dataclasses.replace(
        demo, id="other-municipal-2026", name_ja="ほか町ポイント", municipality="999998"
    )
    both = Catalogue(catalog.services(), [*catalog.campaigns, other])
    kiosk = Kiosk(both, procedures)
    kiosk.send(f.Start(f.MENU_SERVICES))
    entries = [e for e in kiosk.view()["procedures"] if e["start"] == "municipal_points"]
    assert [e["campaign_id"] for e in entries] == ["demo-municipal-2026", "other-municipal-2026"]
    assert "ほか町ポイント" in entries[1]["title"]
    kiosk.send(f.Start("municipal_points", campaign_id="other-municipal-2026"), f.AgreeTerms())
    kiosk.send(f.CardPlaced(), f.CertificateRead(CERT, 3), f.Confirmed())
    kiosk.send(f.PinEntered(bytearray(b"1234")))
    assert kiosk.session.payload["campaign_id"] == "other-municipal-2026"
    # with one municipality open, one entry as before
    single = Kiosk(catalog, procedures)
    single.send(f.Start(f.MENU_SERVICES))
    assert [e["campaign_id"] for e in single.view()["procedures"]].count(None) == len(
        single.view()["procedures"]
    )
