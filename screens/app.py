"""The kiosk's Kivy application: window, font, store brand, screens, and the session loop.

``mynapoint-kiosk`` starts it. The app owns the UI thread and one session:

* a touch on a screen becomes a flow event (``send("agree_terms")``);
* ``Flow.dispatch`` returns the next session and effects; UI effects (wipe, idle
  timer, the card-left-behind cue) run here, device effects go to the
  controller, whose worker threads report back through :func:`on_ui_thread`;
* the session becomes a plain *view* dict and the screen named after its state
  shows it.

On the appliance it runs fullscreen with no cursor; on a desktop, in a window.
Every size is in ``u`` (1/100 of the window height), so one layout serves
800x480, 1024x768, 1280x800 and 1920x1080.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kivy.config import Config

from kiosk.staff import StaffGate

log = logging.getLogger("screens.app")

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONT_REGULAR = FONT_DIR / "NotoSansCJK-Regular.ttc"
FONT_BOLD = FONT_DIR / "NotoSansCJK-Bold.ttc"
FORM_FACTORS = ((800, 480), (1024, 768), (1280, 800), (1920, 1080))
TICK_SECONDS = 1.0


@dataclass
class UiSettings:
    """What the UI takes from the kiosk configuration (``kiosk.config.KioskConfig``)."""

    brand_name: str = "マイナポイント"
    brand_primary: str = "#0B4F9C"
    background: str = "#FFFFFF"
    text: str = "#000000"
    fullscreen: bool = False
    size: tuple[int, int] = (1280, 800)
    show_cursor: bool = True
    lockdown: bool = False  # no way out of the kiosk (the appliance: [display] lockdown)
    trailing_frame: bool = False  # [display] trailing_frame (screens/clock.py)
    default_language: str = "ja"
    sound: bool = True
    version: str = field(default_factory=lambda: _version())
    staff_gate: StaffGate = field(default_factory=lambda: StaffGate(lambda _pin: False))
    speech: Any = None  # kiosk.config.SpeechConfig: spoken guidance, handset, cues

    @classmethod
    def from_config(cls, config: Any) -> UiSettings:
        store, display = config.store, config.display
        return cls(
            brand_name=store.name,
            brand_primary=store.primary_color,
            background=store.background_color,
            text=store.text_color,
            fullscreen=display.fullscreen,
            size=(display.width, display.height),
            show_cursor=display.show_cursor,
            lockdown=getattr(display, "lockdown", True),
            trailing_frame=getattr(display, "trailing_frame", False),
            default_language=config.language,
            staff_gate=StaffGate(config.staff_pin_matches),
            speech=getattr(config, "speech", None),
        )


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mynapoint-kiosk")
    except metadata.PackageNotFoundError:
        return "dev"


def quiet_libraries() -> None:
    """INFO and up reach the journal, from the kiosk and from every library.

    Kivy puts its console handler on the root logger and leaves the root at NOTSET, so
    every library's DEBUG lines went to the journal: urllib3 wrote a line per request
    the sync and heartbeat made, and a journal bounded in size (the appliance's) kept
    fewer hours of what staff and operators need.
    """
    logging.getLogger().setLevel(logging.INFO)


def configure_kivy(settings: UiSettings) -> None:
    """Window options: must run before the first ``kivy.core.window`` import."""
    from screens.memory import bound_heap

    quiet_libraries()

    bound_heap()  # large buffers (textures, glyph surfaces) as their own mappings
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("graphics", "resizable", "1")
    Config.set("graphics", "width", str(settings.size[0]))
    Config.set("graphics", "height", str(settings.size[1]))
    if settings.fullscreen:
        Config.set("graphics", "fullscreen", "auto")
        Config.set("graphics", "borderless", "1")
    Config.set("graphics", "show_cursor", "1" if settings.show_cursor else "0")


def register_fonts() -> None:
    """Noto Sans CJK JP for every label (Kivy's default Roboto has no Japanese): the
    subset made at install when it is there (``screens/font_subset.py``), else the full."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    from screens import fonts
    from screens.theme import cjk_fonts

    if not FONT_REGULAR.exists():
        raise FileNotFoundError(
            f"{FONT_REGULAR} missing: install the Debian package fonts-noto-cjk"
        )
    chosen = cjk_fonts()
    LabelBase.register(DEFAULT_FONT, chosen.regular, fn_bold=chosen.bold)
    log.info("fonts cjk=%s", chosen.regular)
    # Thai and Devanagari runs in their own fonts (issue 10), and what the subset lacks
    fonts.install(chosen)


# Kivy modules below create no window on import (the window appears on App.run).
from kivy.app import App  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.properties import (  # noqa: E402
    BooleanProperty,
    ColorProperty,
    ListProperty,
    NumericProperty,
    StringProperty,
)
from kivy.uix.floatlayout import FloatLayout  # noqa: E402
from kivy.uix.screenmanager import NoTransition, ScreenManager  # noqa: E402

from kiosk import i18n  # noqa: E402
from screens.theme import UNITS_PER_HEIGHT, Theme, text_colour_on  # noqa: E402
from screens.ui_thread import mark_ui_thread, on_ui_thread, post_to_ui  # noqa: E402

#: Kivy's key number of Escape.
ESCAPE = 27
#: Signals a keyboard sends through a terminal (Ctrl+C, Ctrl+Backslash, Ctrl+Z): ignored with
#: ``lockdown``. systemd stops the kiosk with SIGTERM and its watchdog uses SIGABRT.
TERMINAL_SIGNALS = ("SIGINT", "SIGQUIT", "SIGTSTP")


def ignore_terminal_signals() -> None:
    """Ctrl+C and friends do nothing to the kiosk (call on the main thread)."""
    import signal

    for name in TERMINAL_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_IGN)


def stop_on_sigterm(app: Any) -> None:
    """SIGTERM (``systemctl stop``, a shutdown) stops the app cleanly: on_stop says
    STOPPING=1 and closes the devices and the queue. SDL turns SIGTERM into a window
    close request, which lockdown refuses: systemd's stop then waited its whole
    TimeoutStopSec and killed the kiosk. This handler replaces SDL's (call after the
    window exists)."""
    import signal

    def stop(_signum: int, _frame: Any) -> None:
        log.info("sigterm: stopping")
        Clock.schedule_once(lambda _dt: app.stop())

    signal.signal(signal.SIGTERM, stop)


#: Font sizes in large-text mode, against the normal ones (issue 10).
LARGE_TEXT_SCALE = 1.5
#: A touch tells the session the person is still there at most this often (seconds).
STILL_HERE_EVERY = 2.0


class KioskRoot(FloatLayout):
    """The screen manager under the idle-countdown banner; every touch resets the idle timer."""

    def on_touch_down(self, touch: Any) -> bool:
        App.get_running_app().touched()
        return super().on_touch_down(touch)


class KioskApp(App):
    """One kiosk: screens driven by a session engine (the flow + the controller)."""

    u = NumericProperty(8.0)
    fu = NumericProperty(8.0)  # the unit of font sizes: u, or 1.5 u with large text
    assist = BooleanProperty(False)  # large text and high contrast (issue 10)
    longer_times = BooleanProperty(False)  # the keypad or handset is in use: longer limits
    lang = StringProperty("ja")
    brand_name = StringProperty("")
    countdown = NumericProperty(0)
    card_cue = BooleanProperty(False)
    privacy_blank = BooleanProperty(False)  # handset mode with speech.blank_screen_in_handset
    speech_ready = BooleanProperty(False)  # a speaker runs: the header offers its controls
    speech_bar_open = BooleanProperty(False)
    picking_language = BooleanProperty(False)  # the language picker covers the screen
    focus_action = StringProperty("")  # the button the keypad's focus is on ("" for none)
    focus_box = ListProperty([0, 0, 0, 0])  # x, y, width, height of the focus highlight
    c_primary = ColorProperty()
    c_on_primary = ColorProperty()
    c_accent = ColorProperty()
    c_bg = ColorProperty()
    c_text = ColorProperty()
    c_muted = ColorProperty()
    c_warn = ColorProperty()
    c_warn_bg = ColorProperty()
    c_on_warn = ColorProperty()  # text on the warning colour (the idle countdown banner)
    c_success = ColorProperty()
    c_disabled = ColorProperty()
    c_outline = ColorProperty()
    #: F1 would open Kivy's settings panel (with Kivy's own, which can quit the app).
    use_kivy_settings = False

    def __init__(self, settings: UiSettings, engine: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.engine = engine
        self.title = i18n.t("common.app_title", settings.default_language)
        self.lang = settings.default_language
        self.brand_name = settings.brand_name
        self._apply_theme(
            Theme.for_brand(settings.brand_primary, settings.background, settings.text)
        )
        self._screens: dict[str, Any] = {}
        self.listeners: list[Callable[[str, str], None]] = []  # (event, screen name)
        self.screen_changed_at = 0.0
        self.started_at = time.monotonic()
        self._tick_event = None
        self._last_still_here = 0.0
        self.speaker: Any = None  # screens.speaker.Speaker, once started

    # --- set-up ------------------------------------------------------------------------
    def _apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.c_primary, self.c_on_primary = theme.primary, theme.on_primary
        self.c_accent, self.c_bg, self.c_text = theme.accent, theme.background, theme.text
        self.c_muted, self.c_warn, self.c_warn_bg = (
            theme.muted,
            theme.warning,
            theme.warning_background,
        )
        self.c_on_warn = text_colour_on(theme.warning)
        self.c_success, self.c_disabled, self.c_outline = (
            theme.success,
            theme.disabled,
            theme.outline,
        )

    def build(self) -> KioskRoot:
        from kivy.core.window import Window
        from kivy.lang import Builder

        mark_ui_thread()
        Window.clearcolor = self.theme.background
        Window.bind(size=self._on_window_size, on_flip=self._on_flip)
        Window.bind(on_keyboard=self._on_keyboard)
        if self.settings.lockdown:
            # Alt+F4, a window manager's close button, and SIGINT (SDL turns it into a
            # quit request) all arrive here: the kiosk stays (docs/appliance.md).
            Window.bind(on_request_close=self._refuse_close)
        from screens.keys import KeypadDriver

        self.keypad = KeypadDriver(self)  # a physical keypad runs the whole flow (issue 10)
        Window.bind(on_key_down=self.keypad.on_key_down)
        self._on_window_size(Window, Window.size)
        import screens.widgets  # noqa: F401  (shared rules before any screen)

        Builder.load_file(str(Path(__file__).with_name("app.kv")))
        root = KioskRoot()
        self.manager: ScreenManager = root.ids.manager
        self.manager.transition = NoTransition()
        return root

    def on_start(self) -> None:
        from kivy.core.window import Window

        from screens import clock

        self._tick_event = Clock.schedule_interval(self._tick, TICK_SECONDS)
        if self.settings.lockdown:
            ignore_terminal_signals()
        stop_on_sigterm(self)
        clock.start_kivy_watchdog()
        self.start_speech()
        if self.engine is not None:
            self.engine.attach(self)
        else:
            self.show("welcome", {})
        state = self.engine.session.state if self.engine is not None else "welcome"
        clock.ready_on_next_flip(Window, state)
        if self.settings.trailing_frame:
            clock.redraw_after_changes(Window)

    def on_stop(self) -> None:
        from kiosk import notify

        notify.stopping()
        if self._tick_event is not None:
            self._tick_event.cancel()
        if self.engine is not None:
            self.engine.detach()
            voices = getattr(self.engine, "voices", None)
            if voices is not None:
                voices.close()  # a prompt build in progress stops at its current line

    def _on_window_size(self, _window: Any, size: tuple[int, int]) -> None:
        self.u = size[1] / UNITS_PER_HEIGHT
        self.fu = self.u * (LARGE_TEXT_SCALE if self.assist else 1.0)

    def on_assist(self, _app: Any, on: bool) -> None:
        """Large text and high contrast on or off: every colour and font size follows."""
        from kivy.core.window import Window

        s = self.settings
        self._apply_theme(
            Theme.high_contrast() if on else Theme.for_brand(s.brand_primary, s.background, s.text)
        )
        Window.clearcolor = self.theme.background
        self.fu = self.u * (LARGE_TEXT_SCALE if on else 1.0)

    def update_focus_ring(self, widget: Any) -> None:
        """Draw the keypad's focus highlight around ``widget`` (none: hide it)."""
        if widget is None:
            self.focus_box = [0, 0, 0, 0]
            return
        x, y = widget.to_window(widget.x, widget.y)
        self.focus_box = [x, y, widget.width, widget.height]

    def toggle_assist(self) -> None:
        """The large-text button on the welcome screen, or its key."""
        self.send("set_assist", on=not self.assist)

    def _on_flip(self, *_args: Any) -> None:
        for listener in self.listeners:
            listener("drawn", self.manager.current if hasattr(self, "manager") else "")

    def _on_keyboard(self, _window: Any, key: int, *_args: Any) -> bool:
        if self._speech_key(key):
            return True
        if self.engine is not None and hasattr(self.engine, "on_key"):
            if self.engine.on_key(key):
                return True
        # Escape reaching here (the keypad takes it as Cancel where a screen has one)
        # would quit a Kivy app whose exit_on_escape is on: it is taken, and does nothing.
        return key == ESCAPE

    def open_settings(self, *_args: Any) -> bool:
        """F1 opens Kivy's settings panel in any Kivy app: never in the kiosk."""
        return False

    def _refuse_close(self, *_args: Any, **kwargs: Any) -> bool:
        log.info("close_request_refused source=%s", kwargs.get("source", "window"))
        return True  # the window stays open

    def _tick(self, _dt: float) -> None:
        if self.speaker is not None:
            self.speaker.poll_jack()
        if self.engine is not None:
            self.engine.tick()

    # --- text ----------------------------------------------------------------------------
    def tr(self, key: str, lang: str | None = None, **values: Any) -> str:
        """Message ``key`` in ``lang`` (kv passes ``app.lang`` so text follows a switch)."""
        return i18n.t(key, lang or self.lang, **values)

    def tr_any(self, keys: tuple[str, ...], lang: str | None = None, **values: Any) -> str:
        """The first of ``keys`` some catalog has (error kinds added by other parts)."""
        for key in keys:
            try:
                return self.tr(key, lang, **values)
            except KeyError:
                continue
        return ""

    def touched(self) -> None:
        """Typing on the keyboard is activity too, though only "next" is a flow event."""
        now = time.monotonic()
        if now - self._last_still_here >= STILL_HERE_EVERY:
            self._last_still_here = now
            self.send("still_here")

    def toggle_language(self) -> None:
        """The language button: the picker of every language, over the screen."""
        self.picking_language = True

    def pick_language(self, lang: str) -> None:
        self.picking_language = False
        self.send("choose_language", lang=lang)

    # --- screens -------------------------------------------------------------------------
    def screen(self, name: str) -> Any:
        """Screen ``name``, loaded (module and .kv) on first use."""
        if name not in self._screens:
            from screens.loader import load_screen

            screen = load_screen(name)
            self._screens[name] = screen
            self.manager.add_widget(screen)
        return self._screens[name]

    @property
    def loaded_screens(self) -> dict[str, Any]:
        return dict(self._screens)

    @on_ui_thread
    def show(self, name: str, view: dict[str, Any]) -> None:
        """Show screen ``name`` with ``view``; switch only when the state changed."""
        if view.get("lang") and view["lang"] != self.lang:
            self.lang = view["lang"]
        self.countdown = view.get("countdown") or 0
        self.assist = bool(view.get("assist"))
        self.longer_times = bool(view.get("longer_times"))
        self.card_cue = bool(view.get("card_left_behind"))
        screen = self.screen(name)
        screen.show(view)
        if self.manager.current != name:
            self.manager.current = name
            self.screen_changed_at = time.monotonic()
            if hasattr(self, "keypad"):
                self.keypad.screen_changed()
            for listener in self.listeners:
                listener("shown", name)
        self._speak_and_cue(name, view)

    @on_ui_thread
    def wipe_screens(self) -> None:
        """The session ended: empty every screen ever loaded (views, keyboards, keypads)."""
        self.picking_language = False
        for screen in self._screens.values():
            screen.wipe()
        if self.speaker is not None:
            self.speaker.session_ended()
            if self.speaker.route.handset:  # headphones still in: the next session's limits
                Clock.schedule_once(lambda _dt: self._route_changed(self.speaker.route))
        from screens.memory import release_free_memory

        release_free_memory()  # the last person's screens' buffers, back to the system

    def post(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the UI thread (the engine's device answers come here)."""
        post_to_ui(func, *args)

    def send(self, event: str, **data: Any) -> None:
        """A person's action on a screen, to the session engine."""
        if self.engine is not None:
            self.engine.person(event, **data)

    def cue_card_left_behind(self) -> None:
        """The card is still in the reader: the take-card screen flashes, and a beep sounds."""
        self.card_cue = True
        if self.settings.sound:
            from screens.sound import beep

            beep()

    # --- speech and sound cues (docs/speech.md) ---------------------------------------------
    def start_speech(self) -> None:
        """The speaker, on the prompt cache the engine brought (none: the kiosk is silent)."""
        from screens.speaker import Speaker

        config = self.settings.speech
        voices = getattr(self.engine, "voices", None)
        if config is None or not config.enabled or voices is None:
            return
        from kiosk.speech import AudioRoute

        self.speaker = Speaker(
            voices,
            route=AudioRoute(blank_in_handset=config.blank_screen_in_handset),
            handset_device=config.handset_device,
            jack_state_file=config.jack_state_file,
            jack_plugged_pattern=config.jack_plugged_pattern,
            on_route=self._route_changed,
        )
        self.speech_ready = True

    def _route_changed(self, route: Any) -> None:
        """Handset mode on or off: the screen blanks if configured; on, the longer limits."""
        self.privacy_blank = route.blank_screen
        if route.handset and not self.longer_times:
            self.longer_times = True
            self.send("longer_times", reason="handset")

    @property
    def cues_on(self) -> bool:
        config = self.settings.speech
        return self.settings.sound and (config is None or config.cues)

    def cue(self, name: str) -> None:
        """A sound cue (``accept``, ``error``): see ``screens/sound.py``."""
        if self.cues_on:
            from screens.sound import play_cue

            play_cue(name)

    def _speak_and_cue(self, name: str, view: dict[str, Any]) -> None:
        refused = bool(view.get("input_error")) or name == "error"
        previous = getattr(self, "_last_refusal", None)
        refusal = (name, view.get("input_error"), view.get("error_kind"))
        if refused and refusal != previous:
            self.cue("error")
        self._last_refusal = refusal if refused else None
        if self.speaker is not None and name != "staff":
            self.speaker.screen_shown({**view, "state": name})

    def speech_action(self, name: str) -> bool:
        """A speech control (``kiosk.speech.SPEECH_ACTIONS``), from a button or a key."""
        if self.speaker is None:
            return False
        if name == "read_back":
            screen = self._screens.get(self.manager.current)
            text = screen.read_back_text() if hasattr(screen, "read_back_text") else ""
            if not text and hasattr(self.engine, "read_back_text"):
                text = self.engine.read_back_text()  # the confirm screen: the ID as entered
            count = screen.masked_count() if hasattr(screen, "masked_count") else 0
            if text:
                self.speaker.read_back(text, self.lang)
            elif count:  # a security code: how many characters, never which
                self.speaker.digits_entered(count, self.lang)
            return True
        return self.speaker.action(name)

    def _speech_key(self, key: int) -> bool:
        from kivy.core.window import Keyboard

        from kiosk.speech import DEFAULT_SPEECH_KEYS

        names = {code: name for name, code in Keyboard.keycodes.items()}
        action = DEFAULT_SPEECH_KEYS.get(names.get(key, ""))
        if action is None or self.speaker is None:
            return False
        self.cue("accept")
        return self.speech_action(action)

    def digits_entered(self, count: int) -> None:
        """The PIN keypad took a key: a click, and "1 digit entered" (never the digit)."""
        if self.speaker is not None:
            self.speaker.digits_entered(count, self.lang)

    def open_staff(self) -> None:
        """The hidden gesture on the store name: staff PIN, then the staff screen."""
        self.send("open_staff")


def build_engine(
    config: Any, keys: dict[int, Callable[[], None]] | None = None, staff_gate: Any = None
) -> Any:
    """The session engine for a configuration: catalog, controller (devices), flow.

    ``staff_gate`` (the UI's ``StaffGate``) lets the heartbeat report its lockout."""
    from kiosk.catalog import Catalog
    from kiosk.controller import Controller, context_for
    from kiosk.session import UiSession
    from kiosk.views import receipt_view_for, staff_view_for

    catalog = Catalog.load()
    controller = Controller.from_config(config, catalog)
    controller.health.staff_gate = staff_gate
    engine = UiSession(
        context_for(config, catalog),
        controller,
        receipt_view=receipt_view_for(controller),
        staff_view=staff_view_for(controller),
        keys=keys,
    )
    engine.voices = start_voices(config, catalog)
    controller.health.speech_status = engine.voices.status
    return engine


def maintenance_engine(config: Any, problem: str) -> Any:
    """No queue, no devices, no central service: the maintenance screen, and the storage
    problem on the staff screen, until the data partition is back (the next boot)."""
    from concurrent.futures import Future

    from kiosk import flow
    from kiosk.catalog import Catalog
    from kiosk.controller import context_for
    from kiosk.session import UiSession
    from kiosk.views import staff_figures

    def staff_view() -> Future[dict[str, Any]]:
        figures: Future[dict[str, Any]] = Future()
        figures.set_result(staff_figures({"queue_error": problem, "lang": engine.session.lang}))
        return figures

    engine = UiSession(context_for(config, Catalog.load()), None, staff_view=staff_view)
    engine.dispatch(flow.OutOfService(True, storage=True))
    return engine


def start_voices(config: Any, catalog: Any) -> Any:
    """The prompt cache; at first start every prompt is rendered on its worker thread."""
    from kiosk.voice import Engines, VoiceCache, all_prompts

    speech = config.speech
    voices = VoiceCache(
        speech.cache_dir, Engines.find(speech.voice_dir), enabled=speech.enabled
    )
    status = voices.status()
    log.info("speech status=%s missing=%s", status.code, ",".join(status.missing) or "-")
    if speech.enabled and speech.prebuild:
        voices.build_async(all_prompts(catalog, voices.languages, int(config.countdown_seconds)))
    return voices


def main(argv: list[str] | None = None) -> int:
    """``mynapoint-kiosk [CONFIG]``: run the kiosk (configuration: see ``kiosk.config``)."""
    from kiosk.config import ConfigInvalid, load_config
    from kiosk.storage import maintenance_config

    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else None
    problem = None
    try:
        config = load_config(path)
    except ConfigInvalid as error:
        # the real stderr (the journal): Kivy routes sys.stderr to its log without a console
        print("\n".join(error.problems), file=sys.__stderr__ or sys.stderr)
        fallback = maintenance_config(path)  # the data partition, with the keys, is gone?
        if fallback is None:
            return 78  # EX_CONFIG: systemd does not restart on it
        config, problem = fallback
        print(f"queue_not_opened problem={problem}: maintenance screen", file=sys.__stderr__)
    settings = UiSettings.from_config(config)
    configure_kivy(settings)
    register_fonts()
    if problem is None:
        engine = build_engine(config, staff_gate=settings.staff_gate)
    else:
        engine = maintenance_engine(config, problem)
    KioskApp(settings, engine).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
