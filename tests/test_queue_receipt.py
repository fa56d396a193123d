"""Receipt numbers: read aloud, typed back, typos caught."""

import re

import pytest

from offline_queue.errors import ReceiptNumberInvalid
from offline_queue.receipt import (
    ALPHABET,
    is_valid_receipt_no,
    new_receipt_no,
    normalize_receipt_no,
)

SAMPLES = [new_receipt_no() for _ in range(200)]


def test_receipt_number_is_three_groups_of_three_from_the_unambiguous_alphabet():
    for number in SAMPLES:
        assert re.fullmatch(r"[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}", number)


def test_alphabet_leaves_out_look_alike_characters():
    assert not set("01IO") & set(ALPHABET)
    assert len(set(ALPHABET)) == 32


def test_receipt_number_typed_in_lowercase_with_spaces_is_accepted():
    number = SAMPLES[0]
    assert normalize_receipt_no(number.lower().replace("-", " ")) == number


def test_every_single_wrong_character_is_caught():
    for number in SAMPLES:
        compact = number.replace("-", "")
        for i, right in enumerate(compact):
            for wrong in ALPHABET.replace(right, ""):
                assert not is_valid_receipt_no(compact[:i] + wrong + compact[i + 1 :])


def test_every_swap_of_two_neighbouring_characters_is_caught():
    for number in SAMPLES:
        compact = number.replace("-", "")
        for i in range(len(compact) - 1):
            if compact[i] != compact[i + 1]:
                swapped = compact[:i] + compact[i + 1] + compact[i] + compact[i + 2 :]
                assert not is_valid_receipt_no(swapped)


@pytest.mark.parametrize("typed", ["", "K7Q-4MX", "K7Q-4MX-92C-X", "K7Q-4MX-9OC", "K7Q-4MX-91C"])
def test_malformed_receipt_number_raises_a_typed_error(typed):
    with pytest.raises(ReceiptNumberInvalid) as caught:
        normalize_receipt_no(typed)
    assert caught.value.kind == "receipt_number_invalid"
