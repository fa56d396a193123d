"""The staff PIN cannot be guessed: five wrong in a row lock the staff screen for five minutes."""

from __future__ import annotations

import logging

import pytest

from kiosk.staff import LOCKED, LOCKOUT_S, MAX_WRONG, OPEN, WRONG, StaffGate

STAFF_PIN = b"2580"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gate(clock: Clock) -> StaffGate:
    return StaffGate(lambda pin: bytes(pin) == STAFF_PIN, clock=clock)


def wrong_tries(gate: StaffGate, n: int) -> list[str]:
    return [gate.check(bytearray(b"0000")) for _ in range(n)]


def test_the_right_pin_opens_and_a_wrong_one_does_not(gate: StaffGate) -> None:
    assert gate.check(bytearray(b"1111")) == WRONG
    assert gate.check(bytearray(STAFF_PIN)) == OPEN


def test_five_wrong_pins_lock_it_even_against_the_right_one(gate: StaffGate) -> None:
    assert wrong_tries(gate, MAX_WRONG) == [WRONG] * (MAX_WRONG - 1) + [LOCKED]
    assert gate.locked and gate.lockouts == 1
    assert gate.check(bytearray(STAFF_PIN)) == LOCKED


def test_the_lock_ends_after_five_minutes(gate: StaffGate, clock: Clock) -> None:
    wrong_tries(gate, MAX_WRONG)
    clock.now += LOCKOUT_S - 1
    assert gate.check(bytearray(STAFF_PIN)) == LOCKED
    clock.now += 1
    assert gate.check(bytearray(STAFF_PIN)) == OPEN


def test_a_right_pin_starts_the_count_again(gate: StaffGate) -> None:
    wrong_tries(gate, MAX_WRONG - 1)
    assert gate.check(bytearray(STAFF_PIN)) == OPEN
    assert wrong_tries(gate, MAX_WRONG - 1) == [WRONG] * (MAX_WRONG - 1)
    assert not gate.locked


def test_the_lockout_is_logged_without_a_digit(gate: StaffGate, caplog) -> None:
    caplog.set_level(logging.INFO, logger="kiosk.staff")
    wrong_tries(gate, MAX_WRONG)
    gate.check(bytearray(STAFF_PIN))
    assert "staff_pin_locked" in caplog.text
    assert "0000" not in caplog.text and STAFF_PIN.decode() not in caplog.text
