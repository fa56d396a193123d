"""Receipt numbers a person can read aloud and type: ``K7Q-4MX-92C``.

Nine characters in groups of three: eight random characters and one check
character. The alphabet has 32 characters and leaves out the look-alikes
``0 O 1 I``. The check character is the Damm algorithm over GF(32): the
operation ``x * y = 2·x + y`` is a totally anti-symmetric quasigroup, so every
single wrong character and every swap of two neighbours is caught.

    >>> no = new_receipt_no()
    >>> is_valid_receipt_no(no)
    True
    >>> normalize_receipt_no(no.lower().replace("-", " ")) == no
    True
"""

from __future__ import annotations

import secrets

from offline_queue.errors import ReceiptNumberInvalid

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PAYLOAD_LENGTH = 8
GROUP = 3
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_GF32_POLY = 0b100101  # x^5 + x^2 + 1, primitive over GF(2)
_SEPARATORS = " -_."


def _times_x(value: int) -> int:
    """Multiply an element of GF(32) by x (the element 2)."""
    value <<= 1
    return value ^ _GF32_POLY if value & 0b100000 else value


def _damm_step(interim: int, digit: int) -> int:
    return _times_x(interim) ^ digit


def _damm_interim(values: list[int]) -> int:
    interim = 0
    for value in values:
        interim = _damm_step(interim, value)
    return interim


def check_character(payload: str) -> str:
    """The character that makes the Damm checksum of ``payload + it`` zero."""
    interim = _damm_interim([_INDEX[c] for c in payload])
    return ALPHABET[_times_x(interim)]  # 2·interim + c = 0  <=>  c = 2·interim (char. 2)


def group(compact: str) -> str:
    return "-".join(compact[i : i + GROUP] for i in range(0, len(compact), GROUP))


def new_receipt_no() -> str:
    """A fresh random receipt number (uniqueness per kiosk is the store's job)."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(PAYLOAD_LENGTH))
    return group(payload + check_character(payload))


def normalize_receipt_no(text: str) -> str:
    """The canonical ``XXX-XXX-XXX`` form of a typed number, or ReceiptNumberInvalid."""
    compact = "".join(c for c in text.upper() if c not in _SEPARATORS)
    if len(compact) != PAYLOAD_LENGTH + 1:
        raise ReceiptNumberInvalid(f"receipt number has {len(compact)} characters, not 9")
    if any(c not in _INDEX for c in compact):
        raise ReceiptNumberInvalid("receipt number has a character outside the alphabet")
    if _damm_interim([_INDEX[c] for c in compact]) != 0:
        raise ReceiptNumberInvalid("receipt number check character does not match")
    return group(compact)


def is_valid_receipt_no(text: str) -> bool:
    try:
        normalize_receipt_no(text)
    except ReceiptNumberInvalid:
        return False
    return True
