"""The physical keypad's table (kiosk/keypad.py): every key an ATM keypad has maps to an
action, keypad and top-row digits alike; '#' typed as shift+3 is still '#'."""

from __future__ import annotations

from kiosk import keypad


def test_the_twelve_keys_and_the_function_keys_all_have_actions() -> None:
    for n in range(10):
        assert keypad.action_for(48 + n, str(n)) == str(n)  # top row
        assert keypad.action_for(256 + n, str(n)) == str(n)  # numeric keypad
    assert keypad.action_for(42, "*") == keypad.STAR
    assert keypad.action_for(51, "#") == keypad.HASH  # shift+3
    assert keypad.action_for(13, None) == keypad.ENTER
    assert keypad.action_for(271, None) == keypad.ENTER
    assert keypad.action_for(8, None) == keypad.CLEAR
    assert keypad.action_for(27, None) == keypad.CANCEL
    assert keypad.action_for(273, None) == keypad.UP
    assert keypad.action_for(274, None) == keypad.DOWN


def test_keys_the_kiosk_does_not_use_do_nothing() -> None:
    assert keypad.action_for(ord("a"), "a") is None
    assert keypad.action_for(9, None) is None  # tab


def test_every_mapped_action_is_a_known_one() -> None:
    assert set(keypad.KEYCODES.values()) <= set(keypad.ACTIONS)
    assert set(keypad.CODEPOINTS.values()) <= set(keypad.ACTIONS)


def test_a_key_held_with_ctrl_alt_or_meta_is_a_keyboards_combination_not_a_keypad_key() -> None:
    """Ctrl+Alt+Delete must not press Clear (back), Alt+Enter must not press the main button."""
    assert keypad.action_for(127, None, ["ctrl", "alt"]) is None
    assert keypad.action_for(13, None, ["alt"]) is None
    assert keypad.action_for(27, None, ["meta"]) is None
    assert keypad.action_for(51, "#", ["shift"]) == keypad.HASH  # shift types '#'
