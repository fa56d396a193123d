"""Fault injection for the virtual card: one-shot misbehaviour at a chosen command.

A fault is written ``ACTION@STEP[#N]``: at the N-th command of STEP after the fault is
armed (default 1), once. Actions: ``pull`` (the card leaves before answering),
``hang`` (no answer until removed), ``truncate`` (the first byte only), ``garbage``
(random bytes), ``sw=XXXX`` (that status word alone), ``raw=HEX`` (exactly these
bytes). Steps: ``select_ap``, ``select_ef``, ``read``, ``tries`` (the empty VERIFY),
``verify``, ``sign``, ``get_response``, ``other``, ``any``.

The card still processes the command (a wrong PIN still costs a try); the fault only
replaces what comes back. What "no answer" means on the wire is the transport's
business (``sim/card/vpcd.py``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sim.card.model import STEPS

ACTIONS = ("pull", "hang", "truncate", "garbage", "sw", "raw")
SILENT_ACTIONS = ("pull", "hang")


@dataclass
class Fault:
    """A one-shot misbehaviour: ``action`` at the ``nth`` command of ``step``."""

    action: str  # pull | hang | truncate | garbage | sw | raw
    step: str = "any"
    nth: int = 1
    payload: bytes = b""

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``ACTION@STEP[#N]``, e.g. ``pull@sign``, ``sw=6F00@read#2``, ``raw=9000@tries``."""
        action, _, where = spec.partition("@")
        step, _, nth = (where or "any").partition("#")
        payload = b""
        if "=" in action:
            action, _, value = action.partition("=")
            payload = bytes.fromhex(value)
        if action not in ACTIONS:
            raise ValueError(f"unknown fault action {action!r}")
        if step not in (*STEPS, "any"):
            raise ValueError(f"unknown fault step {step!r}")
        return cls(action, step, int(nth or 1), payload)

    def answer(self, normal: bytes) -> bytes | None:
        """The faulty answer, or None for 'no answer' (pull, hang)."""
        if self.action in SILENT_ACTIONS:
            return None
        if self.action == "truncate":
            return normal[:1]
        if self.action == "garbage":
            return secrets.token_bytes(1 + secrets.randbelow(40))
        return self.payload  # sw=XXXX or raw=HEX: exactly these bytes


class FaultInjector:
    """At most one armed fault; counts the commands of its step and fires once."""

    def __init__(self, fault: Fault | str | None = None) -> None:
        self.arm(fault)

    def arm(self, fault: Fault | str | None) -> None:
        """Arm a fault (a :class:`Fault` or its ``ACTION@STEP[#N]``), or clear it with None."""
        self.fault = Fault.parse(fault) if isinstance(fault, str) else fault
        self._seen = 0

    def apply(self, step: str, normal: bytes) -> tuple[bytes | None, Fault | None]:
        """(what the card answers instead of ``normal``, the fault that fired or None).

        The answer is None when the fired fault is one of silence (pull, hang).
        """
        fault = self.fault
        if fault is None or fault.step not in (step, "any"):
            return normal, None
        self._seen += 1
        if self._seen != fault.nth:
            return normal, None
        self.fault = None
        return fault.answer(normal), fault
