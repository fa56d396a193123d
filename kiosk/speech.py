"""What each screen says (音声案内), as data: the voice of every language, the lines a view
speaks, the controls a person has over speech, and where speech goes (loudspeaker or
handset).

Pure: no engine, no audio device. :mod:`kiosk.voice` renders the lines with a real
speech engine into a cache; ``screens/speaker.py`` plays them.

A screen says its title, its instruction and what can be done next, in the session's
language, one line after the other (each line is one cached clip, so the first one
plays at once). The lines come from the catalogs (the screen's own texts, and a few
``speech.*`` texts where speech needs other words) and from the view's values that are
no secret: never a PIN digit, a 決済サービスID, a セキュリティコード or the マイキーID.
The PIN screen says how many digits were typed; an ID is read back only on request,
in handset mode, one character after the other (:func:`character_by_character`).

    >>> lines = lines_for({"state": "welcome", "lang": "en"})
    >>> lines[0]
    'Mynapoint application'
    >>> digits_entered(1, "en")
    '1 digit entered'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kiosk import errors_table, flow
from kiosk.i18n import catalog as catalog_of
from kiosk.i18n import t

ENGINE_JTALK = "open_jtalk"
ENGINE_ESPEAK = "espeak-ng"


@dataclass(frozen=True)
class Voice:
    """How one language is spoken: engine, voice, and the catalog the words come from.

    ``speak_as`` differs from the language itself only where no engine has a voice for
    it (:data:`VOICES` says why); the staff screen names such a language.
    """

    engine: str
    voice: str
    speak_as: str
    rate: float = 1.0  # the speed of "normal" for this language (やさしい日本語 is slower)
    fallback: str = ""  # why the language is spoken in another one ("" = its own voice)


#: Every language the kiosk may show (issue 10's thirteen), and how it is spoken.
#: Open JTalk with the HTS voice "Mei" for Japanese; eSpeak NG (``espeak-ng --voices``)
#: for the others. eSpeak NG has no Filipino (Tagalog) voice: Filipino is spoken in
#: English, an official language of the Philippines, with the English catalog's words.
VOICES: dict[str, Voice] = {
    "ja": Voice(ENGINE_JTALK, "mei_normal", "ja"),
    "ja-x-easy": Voice(ENGINE_JTALK, "mei_normal", "ja-x-easy", rate=0.85),
    "en": Voice(ENGINE_ESPEAK, "en-us", "en"),
    "zh-Hans": Voice(ENGINE_ESPEAK, "cmn", "zh-Hans"),
    "zh-Hant": Voice(ENGINE_ESPEAK, "cmn", "zh-Hant"),  # Taiwan Mandarin, not Cantonese
    "ko": Voice(ENGINE_ESPEAK, "ko", "ko"),
    "vi": Voice(ENGINE_ESPEAK, "vi", "vi"),
    "pt-BR": Voice(ENGINE_ESPEAK, "pt-br", "pt-BR"),
    "es": Voice(ENGINE_ESPEAK, "es-419", "es"),
    "fil": Voice(ENGINE_ESPEAK, "en-us", "en", fallback="no Filipino voice in eSpeak NG"),
    "ne": Voice(ENGINE_ESPEAK, "ne", "ne"),
    "id": Voice(ENGINE_ESPEAK, "id", "id"),
    "th": Voice(ENGINE_ESPEAK, "th", "th"),
}

#: Speech speeds a person can step through (1.0 = the language's normal).
RATES = (0.7, 0.85, 1.0, 1.2, 1.4)
DEFAULT_RATE = 1.0
#: Volume in dB below full scale, in steps of 5 dB (the issue asks for at most 10).
VOLUME_STEP_DB = 5.0
VOLUME_MIN_DB = -30.0
VOLUME_MAX_DB = 0.0
DEFAULT_VOLUME_DB = -10.0

#: What a person can do with speech, by name: touch buttons and keys are bound to these
#: (``screens/app.py`` maps keys; the keypad's own map may bind the same names).
SPEECH_ACTIONS = (
    "speech_repeat",  # もう一度
    "speech_slower",
    "speech_faster",
    "speech_louder",
    "speech_quieter",
    "speech_stop",
    "handset_toggle",  # handset / headphone mode on or off
    "read_back",  # in handset mode only: the field being typed, character by character
)
#: Keys of a plain keyboard that do them (Kivy key names) until the keypad maps its own.
DEFAULT_SPEECH_KEYS = {
    "f5": "speech_repeat",
    "f6": "speech_slower",
    "f7": "speech_faster",
    "f8": "speech_quieter",
    "f9": "speech_louder",
    "f10": "speech_stop",
    "f11": "handset_toggle",
    "f12": "read_back",
}

def voice_for(lang: str) -> Voice:
    """The voice of ``lang``; an unknown code is a bug in the caller."""
    try:
        return VOICES[lang]
    except KeyError:
        raise ValueError(f"no voice entry for language {lang!r}; known: {sorted(VOICES)}") from None


def _say(key: str, lang: str, **values: Any) -> str:
    return t(key, voice_for(lang).speak_as, **values)


def _choices(keys: Iterable[str], lang: str) -> str:
    """"You can choose: A, B" from the buttons' own labels."""
    separator = _say("speech.separator", lang)
    return _say("speech.choices", lang, options=separator.join(_say(k, lang) for k in keys))


def _service_name(view: dict[str, Any]) -> str:
    return str((view.get("service") or {}).get("name", ""))


def _field_label(view: dict[str, Any], lang: str) -> str:
    fields = (view.get("service") or {}).get("fields") or []
    label = fields[0]["label"] if fields else "service_id"
    return _say(f"services.field.{label}", lang)


def _campaign(view: dict[str, Any]) -> str:
    return str(view.get("campaign_name", ""))


def _welcome(view: dict[str, Any], lang: str) -> list[str]:
    return [
        _say("screens.welcome.title", lang),
        _say("screens.welcome.bring", lang),
        _choices(("screens.welcome.apply", "screens.welcome.status"), lang),
    ]


def _notes(view: dict[str, Any], lang: str) -> list[str]:
    procedure = view.get("procedure")
    if procedure:  # a signed consent (kiosk/procedures): its own consent text
        lines = [procedure["notes_title"], *str(procedure["consent"]).split("\n")]
        return [*lines, procedure.get("points", ""),
                _choices(("screens.notes.agree", "screens.common.back"), lang)]
    return [
        _say("screens.notes.title", lang),
        _say("screens.notes.points", lang, campaign=_campaign(view)),
        _say("screens.notes.one_service", lang),
        _say("screens.notes.bring", lang),
        _say("screens.notes.terms", lang),
        _choices(("screens.notes.agree", "screens.common.back"), lang),
    ]


def _place_card(view: dict[str, Any], lang: str) -> list[str]:
    return [
        _say("screens.place_card.title", lang),
        _say("screens.place_card.hold_still", lang),
        _choices(("screens.common.cancel",), lang),
    ]


def _reading_card(view: dict[str, Any], lang: str) -> list[str]:
    return [_say("screens.reading_card.title", lang), _say("screens.common.do_not_move_card", lang)]


def _choose_service(view: dict[str, Any], lang: str) -> list[str]:
    return [
        _say("screens.choose_service.title", lang),
        _say("speech.choose_service", lang),
        _choices(("screens.choose_service.search", "screens.common.back"), lang),
    ]


def _enter_ids(view: dict[str, Any], lang: str) -> list[str]:
    return [
        _say("screens.enter_ids.title", lang, field=_field_label(view, lang)),
        _say("speech.enter_ids", lang),
        _choices(("screens.common.next", "screens.common.back"), lang),
    ]


def _confirm(view: dict[str, Any], lang: str) -> list[str]:
    procedure = view.get("procedure")
    if procedure:
        return [procedure["confirm_title"], f"{procedure['confirm_row']}: {procedure['title']}",
                procedure["confirm_warning"], procedure["apply"]]
    return [
        _say("screens.confirm.title", lang),
        f"{_say('screens.confirm.service', lang)}: {_service_name(view)}",
        _say("screens.confirm.cannot_change", lang),
        _choices(("screens.confirm.apply", "screens.confirm.fix"), lang),
    ]


def _pin(view: dict[str, Any], lang: str) -> list[str]:
    lines = [_say("screens.pin.title", lang), _say("screens.pin.which", lang)]
    if view.get("pin_incorrect"):
        lines.insert(0, _say("screens.pin.wrong", lang))
    if view.get("last_try"):
        lines.append(_say("screens.pin.last_try", lang))
    elif view.get("tries_left") is not None:
        lines.append(_say("screens.pin.tries_left", lang, tries=int(view["tries_left"])))
    lines.append(_choices(("screens.pin.ok", "screens.common.cancel"), lang))
    return lines


def _processing(view: dict[str, Any], lang: str) -> list[str]:
    phase = view.get("processing_phase") or "working"
    key = f"screens.processing.{phase}"
    try:
        return [_say(key, lang), _say("screens.common.do_not_move_card", lang)]
    except KeyError:
        return [_say("screens.processing.working", lang)]


def _result(view: dict[str, Any], lang: str) -> list[str]:
    result = view.get("result") or flow.RESULT_ACCEPTED
    lines = [_say(f"screens.result.{result}", lang)]
    procedure = view.get("procedure")
    if procedure:
        lines = [procedure["result_title"], *str(procedure["result_detail"]).split("\n")]
        if result not in (flow.RESULT_ACCEPTED, flow.RESULT_PENDING):
            lines += [str(view.get("rejection_message", "")), str(view.get("rejection_remedy", ""))]
    elif result == flow.RESULT_ACCEPTED:
        lines.append(_say("screens.result.accepted_detail", lang, service=_service_name(view)))
    elif result == flow.RESULT_PENDING:
        lines.append(_say("screens.result.pending_detail", lang))
    else:
        lines.append(_say("screens.result.rejected_detail", lang))
        lines += [str(view.get("rejection_message", "")), str(view.get("rejection_remedy", ""))]
    lines.append(_choices(("screens.result.to_receipt",), lang))
    return [line for line in lines if line]


def _receipt(view: dict[str, Any], lang: str) -> list[str]:
    if view.get("receipt_on_screen"):
        return [_say("screens.receipt.on_screen", lang), _say("screens.receipt.photograph", lang),
                _choices(("screens.common.finish",), lang)]
    return [_say("screens.receipt.printing", lang), _say("screens.receipt.wait", lang)]


def _take_card(view: dict[str, Any], lang: str) -> list[str]:
    lines = [_say("screens.take_card.title", lang), _say("screens.take_card.thanks", lang)]
    if view.get("card_left_behind"):
        lines.insert(0, _say("screens.take_card.left_behind", lang))
    return lines


def _status(view: dict[str, Any], lang: str) -> list[str]:
    if view.get("status_applied"):
        lines = [_say("screens.status.applied", lang), _say("screens.status.applied_detail", lang)]
        if view.get("status_service"):
            lines.append(f"{_say('screens.confirm.service', lang)}: {view['status_service']}")
    else:
        lines = [_say("screens.status.not_applied", lang),
                 _say("screens.status.not_applied_detail", lang)]
    return lines + [_choices(("screens.common.finish",), lang)]


def _error(view: dict[str, Any], lang: str) -> list[str]:
    lines = [str(view.get("error_message", "")), str(view.get("error_remedy", ""))]
    retry = view.get("error_next") == "retry_card"
    action = "screens.error.retry" if retry else "screens.common.finish"
    return [line for line in lines if line] + [_choices((action,), lang)]


def _campaign_closed(view: dict[str, Any], lang: str) -> list[str]:
    lines = [_say("screens.campaign_closed.title", lang)]
    if view.get("closed_campaign_name"):
        lines.append(_say(
            "screens.campaign_closed.detail", lang, campaign=view["closed_campaign_name"],
            starts=view.get("closed_campaign_starts", ""),
            ends=view.get("closed_campaign_ends", ""),
        ))
    else:
        lines.append(_say("screens.campaign_closed.none", lang))
    return lines


def _menu(view: dict[str, Any], lang: str) -> list[str]:
    lines = [_say("procedures.menu.title", lang), _say("procedures.menu.subtitle", lang)]
    for entry in view.get("procedures", ()):
        lines.append(" ".join(x for x in (entry.get("title", ""), entry.get("tag", "")) if x))
    return lines + [_choices(("procedures.menu.back",), lang)]


def _procedure_info(view: dict[str, Any], lang: str) -> list[str]:
    info = view.get("info") or {}
    lines = [info.get("heading", ""), *str(info.get("body", "")).split("\n")]
    return [line for line in lines if line] + [_choices(("screens.common.back",), lang)]


def _maintenance(view: dict[str, Any], lang: str) -> list[str]:
    return [_say("screens.maintenance.title", lang), _say("screens.maintenance.detail", lang)]


_SCREENS = {
    flow.WELCOME: _welcome,
    flow.NOTES: _notes,
    flow.PLACE_CARD: _place_card,
    flow.READING_CARD: _reading_card,
    flow.CHOOSE_SERVICE: _choose_service,
    flow.ENTER_IDS: _enter_ids,
    flow.CONFIRM: _confirm,
    flow.PIN: _pin,
    flow.PROCESSING: _processing,
    flow.RESULT: _result,
    flow.RECEIPT: _receipt,
    flow.TAKE_CARD: _take_card,
    flow.STATUS: _status,
    flow.ERROR: _error,
    flow.CAMPAIGN_CLOSED: _campaign_closed,
    flow.MENU: _menu,
    flow.PROCEDURE_INFO: _procedure_info,
    flow.MAINTENANCE: _maintenance,
}


def lines_for(view: dict[str, Any]) -> list[str]:
    """What the screen of ``view`` says, line by line: why the last session ended, what
    was wrong with an entry, then the title, the instruction and what can be done next."""
    state = view.get("state", flow.WELCOME)
    lang = view.get("lang") or "ja"
    lines: list[str] = []
    if view.get("notice") and state in (flow.WELCOME, flow.TAKE_CARD):
        try:
            lines.append(_say(f"screens.notice.{view['notice']}", lang))
        except KeyError:
            pass
    if view.get("input_error_text") and state != flow.PIN:
        lines += [line for line in str(view["input_error_text"]).split("\n") if line]
    speak = _SCREENS.get(state)
    if speak is not None:
        lines += speak(view, lang)
    said: dict[str, None] = {}  # each line once (a notice may equal the screen's thanks)
    for line in lines:
        if line.strip():
            said.setdefault(line.strip())
    return list(said)


def countdown_line(seconds: int, lang: str) -> str:
    """The idle warning, said once when the countdown starts."""
    return _say("screens.common.countdown", lang, seconds=int(seconds))


def digits_entered(count: int, lang: str) -> str:
    """"1 digit entered": the PIN screen's answer to a key, never the digit."""
    key = "speech.digit_entered" if count == 1 else "speech.digits_entered"
    return _say(key, lang, count=count)


def character_by_character(text: str, lang: str) -> list[str]:
    """An ID read back on request (handset mode only): one clip per character."""
    words = {" ": "speech.character_space", "-": "speech.character_hyphen"}
    return [_say(words[c], lang) if c in words else c for c in text]


def sample_views(catalog: Any, lang: str) -> list[dict[str, Any]]:
    """A view of every screen in every variant whose words differ: the prompts to cache."""
    base = {"lang": lang}
    views: list[dict[str, Any]] = []
    campaigns = list(getattr(catalog, "campaigns", []) or [])
    names = [c.name(lang) for c in campaigns] or [""]
    services = list(catalog.services()) if catalog is not None else []
    service_views = [
        {"name": s.name(lang), "fields": [{"label": s.id_rule.label}]} for s in services
    ] or [{"name": "", "fields": []}]
    for state in flow.STATES:
        if state != flow.NOTES or not campaigns:
            views.append({**base, "state": state})
    for notice in (flow.END_DONE, flow.END_CANCEL, flow.END_CARD_REMOVED, flow.END_IDLE):
        views.append({**base, "state": flow.WELCOME, "notice": notice})
    for name in names:
        views.append({**base, "state": flow.NOTES, "campaign_name": name})
    for service in service_views:
        for state in (flow.ENTER_IDS, flow.CONFIRM):
            views.append({**base, "state": state, "service": service})
        views.append({**base, "state": flow.RESULT, "result": flow.RESULT_ACCEPTED,
                      "service": service})
    for tries in (1, 2, 3):
        views.append({**base, "state": flow.PIN, "tries_left": tries})
    views.append({**base, "state": flow.PIN, "last_try": True, "pin_incorrect": True})
    for phase in (flow.PHASE_SIGNING, flow.PHASE_VERIFYING, flow.PHASE_ENQUEUING,
                  flow.PHASE_SENDING, flow.PHASE_QUERYING):
        views.append({**base, "state": flow.PROCESSING, "processing_phase": phase})
    kinds = sorted({k.split(".")[1] for k in catalog_of("ja") if k.startswith("errors.")})
    for kind in kinds:
        text = errors_table.describe(kind, voice_for(lang).speak_as)
        views.append({**base, "state": flow.ERROR, "error_message": text.title,
                      "error_remedy": f"{text.message}\n{text.remedy}"})
    views.append({**base, "state": flow.RESULT, "result": flow.RESULT_PENDING})
    views.append({**base, "state": flow.RECEIPT, "receipt_on_screen": True})
    views.append({**base, "state": flow.TAKE_CARD, "card_left_behind": True})
    views.append({**base, "state": flow.STATUS, "status_applied": True})
    return views


def _sample_days(catalog: Any, registry: Any) -> list[Any]:
    """Days on which each procedure and campaign is open and closed (its tag differs)."""
    import datetime as dt

    days: set[Any] = set()
    edges = [(p.opens, p.closes) for p in registry.menu()]
    edges += [(c.starts, c.ends) for c in getattr(catalog, "campaigns", []) or []]
    for opens, closes in edges:
        for edge in (opens, closes):
            if edge is not None:
                days.update({edge - dt.timedelta(days=1), edge, edge + dt.timedelta(days=1)})
    return [None, *sorted(days)]


def procedure_views(catalog: Any, lang: str, registry: Any = None) -> list[dict[str, Any]]:
    """The 行政サービス menu, each info page and each signed consent's screens, as the app
    builds them (``kiosk.views.procedure_view``) on days each procedure is open or closed."""
    from kiosk import procedures as procedures_data
    from kiosk import views

    registry = registry if registry is not None else procedures_data.default()
    if catalog is None or registry is None:
        return []
    found: list[dict[str, Any]] = []
    campaigns = [None, *[c.id for c in getattr(catalog, "campaigns", []) or []]]
    for today in _sample_days(catalog, registry):
        ctx = flow.FlowContext(kiosk_id="", catalog=catalog, today=today, procedures=registry)
        sessions = [flow.Session(lang=lang, state=flow.MENU)]
        for p in registry.menu():
            if p.form == procedures_data.KIND_INFO:
                sessions.append(
                    flow.Session(lang=lang, state=flow.PROCEDURE_INFO, info_procedure=p.id)
                )
        for session in sessions:
            found.append({"lang": lang, "state": session.state,
                          **views.procedure_view(session, ctx, lang)})
    ctx = flow.FlowContext(kiosk_id="", catalog=catalog, procedures=registry)
    for p in registry.signed():
        for campaign in campaigns:
            for result in (flow.RESULT_ACCEPTED, flow.RESULT_PENDING, None):
                session = flow.Session(lang=lang, procedure=p.id, campaign_id=campaign,
                                       result=result)
                view = views.procedure_view(session, ctx, lang)
                for state in (flow.NOTES, flow.CONFIRM, flow.RESULT):
                    found.append({"lang": lang, "state": state, "result": result, **view})
    return found


def prompt_lines(catalog: Any, lang: str, countdown_seconds: int = 20,
                 procedures: Any = None) -> list[str]:
    """Every distinct line the kiosk may say in ``lang`` (in a stable order), the
    procedure menu's included (``procedures``: the kiosk's; default the shipped data)."""
    seen: dict[str, None] = {}
    for view in [*sample_views(catalog, lang), *procedure_views(catalog, lang, procedures)]:
        for line in lines_for(view):
            seen.setdefault(line)
    for count in range(1, 9):
        seen.setdefault(digits_entered(count, lang))
    for seconds in range(max(1, countdown_seconds - 2), countdown_seconds + 1):
        seen.setdefault(countdown_line(seconds, lang))
    for key in ("speech.handset_on", "speech.handset_off", "speech.slower", "speech.faster",
                "speech.louder", "speech.quieter", "speech.read_back_handset_only"):
        seen.setdefault(_say(key, lang))
    for clip in character_by_character("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ- ", lang):
        seen.setdefault(clip)
    return list(seen)


# --- controls and the route ---------------------------------------------------------
@dataclass
class SpeechSettings:
    """A person's speech settings for this session: speed and volume (reset when it ends)."""

    rate: float = DEFAULT_RATE
    volume_db: float = DEFAULT_VOLUME_DB

    def slower(self) -> bool:
        index = RATES.index(self.rate)
        if index == 0:
            return False
        self.rate = RATES[index - 1]
        return True

    def faster(self) -> bool:
        index = RATES.index(self.rate)
        if index == len(RATES) - 1:
            return False
        self.rate = RATES[index + 1]
        return True

    def louder(self) -> bool:
        if self.volume_db >= VOLUME_MAX_DB:
            return False
        self.volume_db = min(VOLUME_MAX_DB, self.volume_db + VOLUME_STEP_DB)
        return True

    def quieter(self) -> bool:
        if self.volume_db <= VOLUME_MIN_DB:
            return False
        self.volume_db = max(VOLUME_MIN_DB, self.volume_db - VOLUME_STEP_DB)
        return True

    @property
    def gain(self) -> float:
        """The linear amplitude factor of ``volume_db`` (what an audio API takes)."""
        return float(10 ** (self.volume_db / 20))


OUTPUT_SPEAKER = "speaker"
OUTPUT_HANDSET = "handset"


@dataclass
class AudioRoute:
    """Where speech goes: the handset (key toggled, or headphones plugged), else the speaker.

    In handset mode nothing is said through the loudspeaker, and the screen may be
    blanked for privacy (``blank_in_handset``, from the configuration).
    """

    blank_in_handset: bool = False
    handset_key: bool = False
    jack_plugged: bool = False
    changes: list[str] = field(default_factory=list)

    @property
    def handset(self) -> bool:
        return self.handset_key or self.jack_plugged

    @property
    def output(self) -> str:
        return OUTPUT_HANDSET if self.handset else OUTPUT_SPEAKER

    @property
    def blank_screen(self) -> bool:
        return self.handset and self.blank_in_handset

    def toggle_key(self) -> bool:
        """The handset key: on, or off (unplugging is the only way out of headphone mode)."""
        before = self.handset
        self.handset_key = not self.handset if not self.jack_plugged else False
        return self._changed(before)

    def jack(self, plugged: bool) -> bool:
        """The hardware says headphones were plugged in or out; True when the route changed."""
        before = self.handset
        self.jack_plugged = plugged
        if not plugged:
            self.handset_key = False
        return self._changed(before)

    def session_ended(self) -> None:
        """The next person starts on the loudspeaker unless headphones stay plugged."""
        self.handset_key = False

    def _changed(self, before: bool) -> bool:
        if before != self.handset:
            self.changes.append(self.output)
            return True
        return False


_PLUGGED = re.compile(r"(=\s*1\b|^\s*1\s*$|\bplugged\b|\bon\b)", re.IGNORECASE | re.MULTILINE)


def jack_plugged(text: str, pattern: str = "") -> bool:
    """Whether a jack state file says plugged: ``HEADPHONE=1`` (extcon), ``1``, ``plugged``.

    The file is the configuration's ``speech.jack_state_file``: on most boards an extcon
    ``state`` under ``/sys/class/extcon/``, or a small script's output of ``amixer
    cget`` for the codec's "Headphone Jack" control. ``pattern`` replaces the default
    regular expression for hardware that says it differently.
    """
    regex = re.compile(pattern, re.IGNORECASE | re.MULTILINE) if pattern else _PLUGGED
    return bool(regex.search(text))
