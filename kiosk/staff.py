"""The staff PIN's gate: a counter of wrong tries and a lockout, so it cannot be guessed.

The staff screen sits behind five taps on the store name and a 4-8 digit PIN. Anyone
at the kiosk can try; :class:`StaffGate` allows :data:`MAX_WRONG` wrong PINs in a row,
then refuses every PIN, right or wrong, for :data:`LOCKOUT_S` seconds and logs it (the
event and the count, never a digit). The heartbeat reports the lockouts so an operator
sees someone trying.

    >>> gate = StaffGate(lambda pin: pin == bytearray(b"2580"), clock=lambda: 0.0)
    >>> gate.check(bytearray(b"2580"))
    'open'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("kiosk.staff")

OPEN, WRONG, LOCKED = "open", "wrong", "locked"
#: Wrong staff PINs in a row before the gate locks.
MAX_WRONG = 5
#: How long it then stays locked (seconds).
LOCKOUT_S = 300.0


class StaffGate:
    """Checks staff PINs with ``matches`` (the configuration's constant-time hash check)."""

    def __init__(
        self,
        matches: Callable[[bytearray], bool],
        *,
        max_wrong: int = MAX_WRONG,
        lockout_s: float = LOCKOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._matches = matches
        self.max_wrong = max_wrong
        self.lockout_s = lockout_s
        self._clock = clock
        self._wrong = 0
        self._locked_until: float | None = None
        #: How many times the gate has locked since the kiosk started.
        self.lockouts = 0

    @property
    def locked(self) -> bool:
        return self._locked_until is not None and self._clock() < self._locked_until

    def check(self, pin: bytearray) -> str:
        """:data:`OPEN`, :data:`WRONG` or :data:`LOCKED` (then ``pin`` is not even checked)."""
        if self.locked:
            log.warning("staff_pin_refused_while_locked")
            return LOCKED
        if self._matches(pin):
            self._wrong, self._locked_until = 0, None
            log.info("staff_unlocked")
            return OPEN
        self._wrong += 1
        if self._wrong < self.max_wrong:
            log.warning("staff_pin_wrong tries=%d", self._wrong)
            return WRONG
        self._wrong = 0
        self._locked_until = self._clock() + self.lockout_s
        self.lockouts += 1
        log.warning("staff_pin_locked for_s=%d lockouts=%d", self.lockout_s, self.lockouts)
        return LOCKED
