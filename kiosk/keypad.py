"""A physical keypad: key events to named actions (pure data; issue 10).

The keypad is ATM-style: 12 keys (0-9, *, #) plus Enter (○), Clear (←), Cancel (×) and
up/down. A USB HID keypad, or an encrypting PIN pad that shows up as a keyboard, reaches
Kivy as key events: ``Window.on_key_down(window, key, scancode, codepoint, modifiers)``
with Kivy's key numbers (SDL keycodes; the keypad's own digits are 256-265). The screens
(``screens/keys.py``) turn an action into a press of a visible button, so the keypad can do
whatever a touch can and nothing more.

    >>> action_for(257, None), action_for(13, None), action_for(51, "#")
    ('1', 'enter', 'hash')
"""

from __future__ import annotations

from collections.abc import Iterable

DIGITS = tuple("0123456789")
#: Every action a key can have (besides the ten digits).
ENTER = "enter"  # ○ : press the focused button, else the screen's main one
CLEAR = "clear"  # ← : delete the last character typed (or go back where nothing is typed)
CANCEL = "cancel"  # × : end the procedure, as the Cancel button does
UP = "up"  # move the focus highlight to the previous button
DOWN = "down"  # ... to the next one
STAR = "star"  # * : the language picker
HASH = "hash"  # # : large text and high contrast, on and off
ACTIONS = (*DIGITS, ENTER, CLEAR, CANCEL, UP, DOWN, STAR, HASH)

#: Kivy key numbers -> actions. Top-row digits and keypad digits are the same key.
KEYCODES: dict[int, str] = {
    **{48 + n: str(n) for n in range(10)},  # '0'..'9'
    **{256 + n: str(n) for n in range(10)},  # numpad0..numpad9
    13: ENTER,  # enter
    271: ENTER,  # numpadenter
    8: CLEAR,  # backspace
    127: CLEAR,  # delete
    266: CLEAR,  # numpaddecimal: the "." key of a PC keypad sits where an ATM has Clear
    27: CANCEL,  # escape
    273: UP,
    274: DOWN,
    276: UP,  # left: a 4-way pad's left is "previous"
    275: DOWN,  # right: "next"
    269: UP,  # numpadsubstract
    270: DOWN,  # numpadadd
    42: STAR,  # '*'
    268: STAR,  # numpadmul
    35: HASH,  # '#'
    267: HASH,  # numpaddivide: a PC keypad has no '#'
    282: HASH,  # F1 on PIN pads with function keys: large text
}
#: What a key types decides first for the two symbols: on most keyboards '#' is shift+3
#: (key 51, codepoint '#') and '*' is shift+8.
CODEPOINTS: dict[str, str] = {"*": STAR, "#": HASH}
#: The button actions a digit presses, in order: the PIN keypad, then the ID keyboard.
DIGIT_BUTTONS = ("pin:{}", "key:{}")
#: What Clear presses, in order: delete one character of the PIN, of an ID, else "back".
CLEAR_BUTTONS = ("pin:backspace", "key:backspace", "back")
#: What Enter presses when no button has the focus: the screen's main button.
ENTER_BUTTONS = (
    "still_here",
    "pin_ok",
    "staff_pin_ok",
    "next",
    "confirm",
    "agree",
    "done",
    "start_apply",
)


#: A keypad's keys come without these: a key held with one is a keyboard's combination
#: (Ctrl+Alt+Delete, Alt+F4), never a keypad action (shift is how '#' and '*' are typed).
COMBINATION_MODIFIERS = frozenset({"ctrl", "alt", "meta", "super"})


def action_for(key: int, codepoint: str | None, modifiers: Iterable[str] = ()) -> str | None:
    """The keypad action of one key event, or None (a key the kiosk does not use)."""
    if COMBINATION_MODIFIERS.intersection(modifiers):
        return None
    if codepoint in CODEPOINTS:
        return CODEPOINTS[codepoint]
    return KEYCODES.get(key)
