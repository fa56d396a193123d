"""What each screen shows, as data: a session becomes a plain dict, every text looked up.

Screens never import the flow, the catalog or the error table: they get a *view*
(state, language, flags, and every text already in the session's language) and
report a person's action back by name (:data:`PERSON_EVENTS`). The on-screen
receipt's lines and the staff screen's figures are here too. Pure: no window, no
devices, so every view is tested in milliseconds.

    >>> describe_duration(45), describe_duration(720), describe_duration(10800)
    ('45 s', '12 min', '3 h')
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from contract import wire
from drivers import card
from kiosk import errors_table, flow
from kiosk import procedures as procedures_data
from kiosk.catalog import PER_MUNICIPALITY
from kiosk.futures import then
from kiosk.i18n import number, t
from kiosk.search import normalise_for_search

log = logging.getLogger("kiosk.views")

#: What a screen reports -> the flow event it means.
PERSON_EVENTS: dict[str, Callable[..., Any]] = {
    "choose_language": flow.ChooseLanguage,
    "start": flow.Start,
    "set_legal_representative": flow.SetLegalRepresentative,
    "agree_terms": flow.AgreeTerms,
    "back": flow.Back,
    "cancel": flow.Cancel,
    "done": flow.Done,
    "still_here": flow.StillHere,
    "service_chosen": flow.ServiceChosen,
    "ids_entered": flow.IdsEntered,
    "confirmed": flow.Confirmed,
    "pin_entered": flow.PinEntered,
    "set_assist": flow.SetAssist,
    "longer_times": flow.LongerTimes,
}
#: Effects the UI runs itself; every other effect goes to the controller.
UI_EFFECTS = (flow.Wipe, flow.CueCardLeftBehind, flow.StartIdleTimer, flow.StopIdleTimer)
KEY_CANDIDATES = string.digits + string.ascii_uppercase + string.ascii_lowercase + "-"


def allowed_characters(rule: Any) -> str:
    """The keys to offer for a field: the characters its pattern accepts."""
    length = max(1, rule.min_length)
    keys = "".join(c for c in KEY_CANDIDATES if rule.charset.fullmatch(c * length))
    return keys or string.digits + string.ascii_uppercase


def field_views(service: Any) -> list[dict[str, Any]]:
    """The typed-in fields of a service: the ID, then each security code (masked)."""
    rules = [("service_user_id", service.id_rule, False)]
    rules += [(f"security_code_{n}", r, True) for n, r in enumerate(service.code_rules, 1)]
    return [
        {
            "name": name,
            "label": rule.label,
            "min_length": rule.min_length,
            "max_length": rule.max_length,
            "allowed": allowed_characters(rule),
            "masked": masked,
        }
        for name, rule, masked in rules
    ]


def notice_text(notice_key: str | None, lang: str) -> str:
    """A service's notice (a prerequisite) in ``lang``; "" when it has none or central's
    catalog names one this kiosk has no text for (the hint still says where the ID is)."""
    if not notice_key:
        return ""
    try:
        return t(f"services.notice.{notice_key}", lang)
    except KeyError:
        log.warning("no text for service notice %r", notice_key)
        return ""


def view_of(
    session: flow.Session,
    context: flow.FlowContext,
    lang: str | None = None,
    receipt_view: Callable[[Any, str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the screen of ``session.state`` shows: plain values, every text looked up.

    ``lang`` overrides the session's language (the farewell is said in the leaving
    person's); ``receipt_view`` draws the on-screen receipt (see :func:`receipt_view_for`).
    """
    lang = lang or session.lang
    catalog = context.catalog
    view: dict[str, Any] = {
        "state": session.state,
        "lang": lang,
        "online": session.online,
        "notice": session.notice,
        "countdown": session.countdown,
        "legal_representative": session.legal_representative,
        "tries_left": session.tries_left,
        "last_try": session.last_try,
        "input_error": session.input_error,
        "input_error_field": session.input_error_field,
        "pin_incorrect": session.input_error == card.PinIncorrect.kind,  # the PIN screen's warning
        "processing_phase": session.processing_phase,
        "result": session.result,
        "mykey_id": session.mykey_id,
        "masked_user_id": session.masked_user_id,
        "receipt_printing": session.receipt_printing,
        "receipt_on_screen": session.receipt_on_screen,
        "card_left_behind": session.card_left_behind,
        "error_next": session.error_next,
        "assist": session.assist,  # large text and high contrast (issue 10)
        "longer_times": session.longer_times,  # keypad or handset: every time limit longer
    }
    if session.input_error:
        text = errors_table.describe(session.input_error, lang)
        view["input_error_text"] = f"{text.title}\n{text.remedy}"
    view.update(campaign_view(session, context, lang))
    if session.state == flow.CHOOSE_SERVICE:
        view["services"] = services_view(catalog, lang)
    if session.service_code:
        view["service"] = service_view(catalog, session.service_code, lang)
    if session.result == flow.RESULT_REJECTED:
        text = errors_table.describe(session.rejection_kind, lang)
        view["rejection_message"], view["rejection_remedy"] = text.message, text.remedy
    if session.state == flow.ERROR:
        text = errors_table.describe(session.error_kind, lang)
        view["error_message"], view["error_remedy"] = (
            text.title,
            f"{text.message}\n{text.remedy}",
        )
    if session.status_info is not None:
        view.update(status_view(catalog, session.status_info, lang))
    if session.receipt_on_screen and session.receipt is not None and receipt_view:
        view.update(receipt_view(session.receipt, lang))
    view.update(procedure_view(session, context, lang))
    return view


# --- procedures (kiosk/procedures/): the 行政サービス menu and a signed consent's texts ------
def _text(key: str, lang: str, fallback: str = "", **values: Any) -> str:
    """A procedure's text, or ``fallback`` when a procedure added as data has none."""
    try:
        return t(key, lang, **values)
    except KeyError:
        return fallback


def _campaigns_to_pick(procedure: Any, context: flow.FlowContext) -> list[Any]:
    """[None] for one menu entry; one per open campaign where the person must pick (自治体
    マイナポイント of several municipalities at once: each its own entry, never the first)."""
    wanted = procedure.campaign_kind
    if wanted not in PER_MUNICIPALITY:
        return [None]
    open_now = [c for c in context.catalog.open_campaigns(context.today) if c.kind == wanted]
    return open_now if len(open_now) > 1 else [None]


def procedure_view(session: flow.Session, context: flow.FlowContext, lang: str) -> dict[str, Any]:
    """The menu's entries, a procedure's info page, a signed consent's texts, the status list."""
    registry = context.procedures
    if registry is None:
        return {}
    view: dict[str, Any] = {}
    if session.state == flow.MENU:
        view["procedures"] = [
            {
                "id": p.id if campaign is None else f"{p.id}:{campaign.id}",
                "start": p.start,
                "campaign_id": None if campaign is None else campaign.id,
                "form": p.form,
                "title": _text(p.text_key("title"), lang, p.id)
                + ("" if campaign is None else f"\n{campaign.name(lang)}"),
                "summary": _text(p.text_key("summary"), lang),
                "open": p.open_with(context.today, context.catalog),
                "tag": ""
                if p.form == procedures_data.KIND_STATUS
                else t(
                    "procedures.menu."
                    + (
                        "elsewhere"
                        if p.form == "info"
                        else "open"
                        if p.open_with(context.today, context.catalog)
                        else "closed"
                    ),
                    lang,
                ),
            }
            for p in registry.menu()
            for campaign in _campaigns_to_pick(p, context)
        ]
    if session.state == flow.PROCEDURE_INFO and session.info_procedure:
        p = registry.get(session.info_procedure)
        closed = not p.open_with(context.today, context.catalog)
        view["info"] = {
            "id": p.id,
            "title": _text(p.text_key("title"), lang, p.id),
            "closed": closed,
            "heading": t("procedures.closed.why", lang)
            if closed
            else _text(p.text_key("info_title"), lang, p.id),
            "body": _text(
                f"procedures.{p.closed_remedy}.remedy", lang, t("procedures.closed.remedy", lang)
            )
            if closed
            else _text(p.text_key("info_body"), lang),
            "url": "" if closed else p.url,
            "qr_caption": _text(p.text_key("qr_caption"), lang),
        }
    if session.procedure:
        view["procedure"] = _signed_consent_view(session, context, registry, lang)
    info = session.status_info
    if info is not None and info.procedures:
        view["status_lines"] = [
            f"{_text(f'procedures.{pid}.title', lang, pid)}: {t('procedures.state.' + state, lang)}"
            for pid, state in info.procedures
        ]
        view["status_any_done"] = any(state != "none" for _, state in info.procedures)
    return view


def _points_said(session: flow.Session, p: Any, campaign: Any, lang: str) -> str:
    """The result's line on points: granted (central's count), or what is still needed."""
    if session.points:
        return t("procedures.points_granted", lang, points=number(session.points, lang))
    if session.points_reason == wire.POINTS_NEED_APPLICATION or (
        session.points is None and campaign is not None  # a central that did not say
    ):
        return _text(p.text_key("accepted_points"), lang)
    return ""  # none, and none to be had


def _signed_consent_view(
    session: flow.Session, context: flow.FlowContext, registry: Any, lang: str
) -> dict[str, Any]:
    p = registry.get(session.procedure)
    title = _text(p.text_key("title"), lang, p.id)
    campaign = next((c for c in context.catalog.campaigns if c.id == session.campaign_id), None)
    result = session.result or flow.RESULT_PENDING
    detail = _text(p.text_key(f"{result}_detail"), lang)
    if result == flow.RESULT_ACCEPTED:
        detail = "\n".join(x for x in (detail, _points_said(session, p, campaign, lang)) if x)
    return {
        "id": p.id,
        "title": title,
        "notes_title": _text(p.text_key("notes_title"), lang, title),
        "consent": _text(p.text_key("consent"), lang),
        "points": _text(p.text_key("points"), lang, campaign=campaign.name(lang))
        if campaign is not None
        else "",
        "confirm_title": _text(p.text_key("confirm_title"), lang, title),
        "confirm_row": _text(
            p.text_key("confirm_row"), lang, t("procedures.receipt_heading", lang)
        ),
        "confirm_warning": _text(p.text_key("confirm_warning"), lang),
        "apply": _text(p.text_key("apply"), lang, t("screens.confirm.apply", lang)),
        "result_title": _text(p.text_key(result), lang, t(f"screens.result.{result}", lang)),
        "result_detail": detail,
    }


def campaign_view(session: flow.Session, context: flow.FlowContext, lang: str) -> dict[str, Any]:
    """The open (or closed) campaign's name and dates."""
    view: dict[str, Any] = {}
    catalog = context.catalog
    campaigns = {c.id: c for c in catalog.campaigns}
    open_now = campaigns.get(session.campaign_id or "")
    if open_now is None:
        today_open = catalog.open_campaigns(context.today)
        open_now = today_open[0] if today_open else None
    if open_now is not None:
        view["campaign_name"] = open_now.name(lang)
    closed = campaigns.get(session.closed_campaign_id or "")
    if session.state == flow.CAMPAIGN_CLOSED and closed is not None:
        view["closed_campaign_name"] = closed.name(lang)
        view["closed_campaign_starts"] = closed.starts.isoformat()
        view["closed_campaign_ends"] = closed.ends.isoformat()
    return view


def services_view(catalog: Any, lang: str) -> list[dict[str, Any]]:
    """The service grid: each service's name, category and search text."""
    return [
        {
            "code": s.code,
            "name": s.name(lang),
            "category": s.category,
            "points_on": s.points_on,
            "kiosk_allowed": s.kiosk_allowed,
            "search": normalise_for_search(f"{s.name_ja} {s.name_en} {s.reading}"),
        }
        for s in catalog.services()
    ]


def service_view(catalog: Any, code: str, lang: str) -> dict[str, Any]:
    """One service: its name, hint, notice and the fields to type in."""
    try:
        service = catalog.service(code)
    except KeyError:
        return {"code": code, "name": code, "fields": [], "codes": 0}
    return {
        "code": code,
        "name": service.name(lang),
        "hint_key": service.hint_key,
        "notice_text": notice_text(service.notice_key, lang),
        "fields": field_views(service),
        "codes": len(service.code_rules),
    }


def status_view(catalog: Any, info: Any, lang: str) -> dict[str, Any]:
    """申込状況の確認: what this card applied for."""
    name = ""
    if info.service_code:
        name = service_view(catalog, info.service_code, lang)["name"]
    return {
        "status_applied": info.applied,
        "status_service": name,
        "status_mykey_id": info.mykey_id or "",
    }


def receipt_view_for(controller: Any) -> Callable[[Any, str], dict[str, Any]]:
    """The on-screen receipt (when the printer failed): the paper receipt drawn as an image."""

    def receipt_view(facts: Any, lang: str) -> dict[str, Any]:
        try:
            image = controller.receipt_image(facts, lang)
        except Exception:  # the lines below still carry what the person needs
            log.exception("receipt image failed")
            image = None
        data = controller.receipt_data(facts, lang)
        lines = [
            f"{t('screens.receipt.number', lang)}  {data.receipt_no}",
            f"{t('screens.receipt.service', lang)}  {data.service_name}",
            f"{t('screens.receipt.user_id', lang)}  {data.service_user_id}",
        ]
        if data.mykey_id:
            lines.append(f"{t('screens.receipt.mykey_id', lang)}  {data.mykey_id}")
        return {"receipt_image": image, "receipt_lines": lines, "receipt_qr": data.status_url}

    return receipt_view


def staff_figures(info: dict[str, Any]) -> dict[str, Any]:
    """Queue counts, the oldest pending age, printer and reader: nothing of any person."""
    counts = info.get("queue_counts") or {}
    by_procedure = info.get("queue_counts_by_procedure") or {}
    lang = info.get("lang", "ja")
    lines = [
        t(
            "procedures.staff_line",
            lang,
            procedure=_text(f"procedures.{name or 'mynapoint'}.title", lang, name or "mynapoint"),
            pending=c.get("pending", 0) + c.get("sending", 0),
            delivered=c.get("accepted", 0),
            failed=c.get("rejected", 0) + c.get("dead", 0),
        )
        for name, c in sorted(by_procedure.items())
    ]
    return {
        "by_procedure": "\n".join(lines),
        "pending": counts.get("pending", 0) + counts.get("sending", 0),
        "delivered": counts.get("accepted", 0),
        "failed": counts.get("rejected", 0) + counts.get("dead", 0),
        "oldest_pending": describe_duration(info.get("oldest_pending_age_s")),
        "printer": info.get("printer_problem") or "OK",
        "reader": "OK" if info.get("reader_available") else "-",
        "last_sync": info.get("last_sync_error") or "-",
        "speech": info.get("speech") or "off",
        "speech_missing": info.get("speech_missing") or "",
        "storage": storage_text(info, lang),
        "clock": t(
            "screens.staff.clock",
            lang,
            status=t(f"screens.staff.clock_{'wrong' if info.get('clock_problem') else 'ok'}", lang),
        ),
    }


#: The queue's storage problems the staff screen names (kiosk/storage.py's codes).
STORAGE_PROBLEMS = ("data_missing", "data_read_only", "data_corrupt")


def storage_text(info: dict[str, Any], lang: str) -> str:
    """The staff screen's storage line: free megabytes, full, or what is wrong with it."""
    problem, room = info.get("queue_error"), info.get("queue_room_bytes")
    if problem:
        name = problem if problem in STORAGE_PROBLEMS else "failed"
        status = t(f"screens.staff.storage_{name}", lang)
    elif info.get("queue_full"):
        status = t("screens.staff.storage_full", lang)
    elif room is None:
        status = "-"
    else:
        status = t("screens.staff.storage_free", lang, mb=f"{room / 2**20:.0f}")
    return t("screens.staff.storage", lang, status=status)


def staff_view_for(controller: Any) -> Callable[[], Future[dict[str, Any]]]:
    """The staff screen's figures, as a future: a printer busy with a receipt answers after
    it, so the screen shows them when they come (``UiSession``), never waiting."""

    def staff_view() -> Future[dict[str, Any]]:
        return then(controller.staff_status(), staff_figures)

    return staff_view


def describe_duration(seconds: float | None) -> str:
    """A short age for the staff screen: 45 s, 12 min, 3 h."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"
