"""The base of every screen: shows a session view, reports touches, forgets on wipe.

A screen never talks to devices or the flow. The app hands it a *view* (a plain
dict made from the session: the chosen service, tries left, the result...) with
:meth:`KioskScreen.show`, and the screen reports what the person did with
:meth:`KioskScreen.send` (``send("service_chosen", service="paypay")``). When a
session ends the app calls :meth:`KioskScreen.wipe` on every screen ever loaded:
the view, every keyboard and every keypad are emptied, so the next person finds
no trace of the previous one.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import DictProperty
from kivy.uix.screenmanager import Screen


class KioskScreen(Screen):
    """One step of the session; ``view`` holds what this step shows of the session."""

    view = DictProperty({})

    @property
    def app(self) -> Any:
        return App.get_running_app()

    def tr(self, key: str, **values: Any) -> str:
        """Message ``screens.<key>`` in the current language."""
        return self.app.tr(f"screens.{key}", self.app.lang, **values)

    def show(self, view: dict[str, Any]) -> None:
        """Display this step of the session (called on the UI thread)."""
        self.view = dict(view)
        self.on_show()

    def on_show(self) -> None:
        """Hook: fill what the ``.kv`` cannot bind to directly."""

    def on_hide(self) -> None:
        """Hook: stop animations, hand buffers back."""

    def on_leave(self, *args: Any) -> None:
        self.on_hide()

    @staticmethod
    def vget(view: dict[str, Any], key: str, default: Any = None) -> Any:
        """``view.get(key)`` for ``.kv`` rules, which stop observing ``root.view.get(...)``.

        Written ``root.vget(root.view, "key")`` so the rule re-runs when ``view`` changes.
        """
        return view.get(key, default)

    def send(self, event: str, **data: Any) -> None:
        """Report what the person did to the session."""
        self.app.send(event, **data)

    def wipe(self) -> None:
        """Forget everything of the session: view, typed text, keypad digits."""
        self.view = {}
        for widget in self.walk(restrict=True):
            if widget is not self and hasattr(widget, "wipe"):
                widget.wipe()
        self.on_wipe()

    def on_wipe(self) -> None:
        """Hook: reset screen-specific state (the field being typed, a search)."""
