"""Errors of the central service, each with a ``kind`` (the same pattern as the kiosk's
``contract/errors.py``; central shares no code with the kiosk but the wire format).

A ``Rejection`` carries one of ``wire.REJECTION_REASONS``: the item's final answer.
"""

from __future__ import annotations

from contract.wire import REJECTION_REASONS


class CentralError(Exception):
    kind = "central_unexpected"


class CentralConfigError(CentralError):
    """The service cannot start: a config file, key or certificate is missing or bad."""

    kind = "central_config"


class Rejection(CentralError):
    """A final 'no' for one enrollment, with its reason code."""

    kind = "enrollment_rejected"

    def __init__(self, reason: str, service_code: str | None = None) -> None:
        if reason not in REJECTION_REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(reason)
        self.reason = reason
        self.service_code = service_code


class ProviderUnavailable(CentralError):
    """The payment provider could not answer now: the item is to be retried."""

    kind = "provider_unavailable"


class CannotJudge(CentralError):
    """The service lacks what it needs to judge the item (issue 12, finding 8): the sealing
    private key its key id names, or the trust anchor (a JPKI CA generation) its card
    certificate names. An operator's set-up, not the person's data: the answer is
    ``retry`` and nothing is stored, so the item is judged afresh once it is fixed."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class ChallengeInvalid(CentralError):
    """A status challenge that is unknown, used, expired or from another kiosk."""

    kind = "status_challenge_invalid"
