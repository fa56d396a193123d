"""Enter 決済サービスID and セキュリティコード(s), one field at a time, on the on-screen keyboard.

One field per step keeps the screen to one thing: first the ID, then each code
(masked). "Next" is enabled once the length fits the service's rule; the flow
checks the rest and, when it refuses, names the field to correct.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import DictProperty, ListProperty, NumericProperty

import screens.keyboard  # noqa: F401  (its widgets and rules, used in the .kv)
from screens.base import KioskScreen


class EnterIdsScreen(KioskScreen):
    """The fields of the chosen service, typed one after the other."""

    fields = ListProperty([])
    index = NumericProperty(0)
    values = DictProperty({})

    def on_show(self) -> None:
        service = self.view.get("service") or {}
        fields = service.get("fields", [])
        if [f["name"] for f in fields] != [f["name"] for f in self.fields]:
            self.fields = fields
            self.values = {}
            self.index = 0
        bad = self.view.get("input_error_field")
        names = [f["name"] for f in self.fields]
        if bad in names:
            self.index = names.index(bad)
        elif bad == "security_code" and len(names) > 1:
            self.index = 1
        self._load_field()

    @property
    def field(self) -> dict[str, Any]:
        return self.fields[int(self.index)] if self.fields else {}

    def _load_field(self) -> None:
        keys = self.ids.keyboard
        field = self.field
        keys.allowed = field.get("allowed", "0123456789")
        keys.max_length = field.get("max_length", 20)
        keys.text = self.values.get(field.get("name", ""), "")

    def read_back_text(self) -> str:
        """The ID typed so far, for the handset's read-back (on request only); never a
        security code (a masked field): for a code the read-back says how many were typed."""
        return "" if self.field.get("masked") else str(self.ids.keyboard.text)

    def masked_count(self) -> int:
        """How many characters of a security code are typed (0 on the ID field)."""
        return len(self.ids.keyboard.text) if self.field.get("masked") else 0

    def typed(self, text: str) -> None:
        if self.field:
            self.values[self.field["name"]] = text

    def can_go_on(self, text: str, field: dict[str, Any]) -> bool:
        return bool(field) and field.get("min_length", 1) <= len(text) <= field.get(
            "max_length", 64
        )

    def next_field(self) -> None:
        if self.index + 1 < len(self.fields):
            self.index += 1
            self._load_field()
            return
        names = [f["name"] for f in self.fields]
        self.send(
            "ids_entered",
            service_user_id=self.values.get(names[0], ""),
            security_codes=tuple(self.values.get(n, "") for n in names[1:]),
        )

    def previous_field(self) -> None:
        if self.index > 0:
            self.index -= 1
            self._load_field()
        else:
            self.send("back")

    def on_wipe(self) -> None:
        for name in list(self.values):
            self.values[name] = ""
        self.values = {}
        self.fields = []
        self.index = 0


SCREEN = EnterIdsScreen
