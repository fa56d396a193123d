"""The on-screen keyboard for 決済サービスID, セキュリティコード and the service search.

It shows only the keys a field accepts (digits only gets a big number pad,
letters come in ABC order, which first-time users scan faster than QWERTY),
never holds more than ``max_length`` characters, and shows what was typed in an
:class:`EntryField` that masks it when ``masked`` is set (the security code).
The typed text lives in the keyboard only until the screen is wiped.
"""

from __future__ import annotations

import string
from pathlib import Path

from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, OptionProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from screens.widgets import HiddenIgnoresTouch, KButton

DIGITS = string.digits
UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
#: Katakana in 50音 order, column by column, for searching service names.
KANA_ROWS = (
    "アカサタナハマヤラワ",
    "イキシチニヒミ・リヲ",
    "ウクスツヌフムユルン",
    "エケセテネヘメ・レー",
    "オコソトノホモヨロ",
)
MASK_CHAR = "●"
BACKSPACE = "backspace"
CLEAR = "clear"
SHIFT = "shift"


class EntryField(BoxLayout):
    """The box that shows what was typed, masked for codes, with the length expected."""

    text = StringProperty("")
    masked = BooleanProperty(False)
    max_length = NumericProperty(0)
    placeholder = StringProperty("")

    def shown_text(self, text: str, masked: bool, max_length: float) -> str:
        shown = MASK_CHAR * len(text) if masked else text
        rest = int(max_length) - len(text)
        return shown + ("_" * rest if rest > 0 else "")


class TextKeyboard(HiddenIgnoresTouch, BoxLayout):
    """Keys for the characters a field allows; ``text`` is what was typed so far."""

    text = StringProperty("")
    allowed = StringProperty(DIGITS + UPPER)
    max_length = NumericProperty(20)
    mode = OptionProperty("latin", options=["latin", "kana"])
    lower = BooleanProperty(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.bind(allowed=self._rebuild, mode=self._rebuild, lower=self._rebuild)
        self._rebuild()

    # --- layout -------------------------------------------------------------
    def _rows(self) -> list[list[str]]:
        if self.mode == "kana":
            rows = [list(row) for row in KANA_ROWS]
            rows[-1].append(BACKSPACE)
            return rows
        allowed = set(self.allowed)
        if not allowed & set(UPPER + LOWER):
            return [list("123"), list("456"), list("789"), [CLEAR, "0", BACKSPACE]]  # a number pad
        letters = LOWER if self.lower else UPPER
        keys = [c for c in DIGITS[1:] + "0" if c in allowed]
        keys += [c for c in letters if c in allowed or c.swapcase() in allowed]
        keys += [c for c in self.allowed if c not in DIGITS + UPPER + LOWER]
        rows = [keys[i : i + 10] for i in range(0, len(keys), 10)]
        extra = [SHIFT] if allowed & set(LOWER) and allowed & set(UPPER) else []
        extra.append(BACKSPACE)
        if _width(rows[-1] + extra) <= 10:
            rows[-1] += extra
        else:
            rows.append(extra)
        return rows

    @property
    def is_number_pad(self) -> bool:
        return self.mode == "latin" and not set(self.allowed) & set(UPPER + LOWER)

    def _rebuild(self, *_args: object) -> None:
        self.clear_widgets()
        rows = self._rows()
        wide = not self.is_number_pad
        columns = max(_width(row, wide) for row in rows)
        for keys in rows:
            row = KeyRow()
            for key in keys:
                row.add_widget(self._key(key, _width([key], wide)))
            if _width(keys, wide) < columns:
                row.add_widget(KeySpacer(size_hint_x=columns - _width(keys, wide)))
            self.add_widget(row)

    def _key(self, key: str, width: int) -> KeyButton:
        button = KeyButton(key=key, action=f"key:{key}", role="key", size_hint_x=width)
        button.disabled = key == "・"
        button.bind(on_release=lambda b: self.press(b.key))
        return button

    # --- typing -------------------------------------------------------------
    def press(self, key: str) -> None:
        """One key: a character, backspace, clear or shift."""
        if key == BACKSPACE:
            self.text = self.text[:-1]
        elif key == CLEAR:
            self.text = ""
        elif key == SHIFT:
            self.lower = not self.lower
        elif len(self.text) < self.max_length:
            self.text += key

    def wipe(self) -> None:
        """Forget what was typed (the session ended)."""
        self.text = ""
        self.lower = False


def _width(keys: list[str], wide_words: bool = True) -> int:
    """Key-widths of a row: on a keyboard the word keys (backspace...) are two keys wide."""
    return sum(2 if wide_words and k in (BACKSPACE, CLEAR, SHIFT) else 1 for k in keys)


class KeyRow(BoxLayout):
    """One row of keys."""


class KeyButton(KButton):
    """One key; backspace and clear show a word from the catalog."""

    key = StringProperty("")


class KeySpacer(BoxLayout):
    """An empty cell that keeps the key grid aligned."""


Builder.load_file(str(Path(__file__).with_suffix(".kv")))
