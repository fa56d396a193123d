"""The queue's rules in one place: states, retention, and the sync worker's delivery rules.

Times are seconds. Each value is a default; the sync worker's command line can
override the retry ones (tests use short ones). The delivery rules are here too, as
small functions, so ``sync.py`` (talking to the central service) and ``delivery.py``
(the database) apply them and never restate them: which answers refuse the content
(:func:`is_content_refusal`), what any other status means (:func:`error_kind_of_status`),
how long to wait (:class:`Backoff`, :func:`parse_retry_after`, :func:`capped_retry_after`),
when an item is dead (:func:`struck_out`) and when a due time means the clock was set
back (:func:`clock_was_set_back`).

    >>> is_content_refusal(422), is_content_refusal(404), error_kind_of_status(503)
    (True, False, 'central_busy')
    >>> capped_retry_after(86400.0) == RETRY_AFTER_CAP_S, struck_out(MAX_PERMANENT_FAILURES)
    (True, True)
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

# Outbox states. pending -> sending -> accepted | rejected | dead (or back to pending).
PENDING = "pending"
SENDING = "sending"  # claimed by the sync worker; a crash leaves it here and it is resent
ACCEPTED = "accepted"  # the central service stored it (answer carries the MyKey ID)
REJECTED = "rejected"  # the central service refused it for a reason (final)
DEAD = "dead"  # failed permanently on our side of the wire; shown to staff, never retried alone
STATES = (PENDING, SENDING, ACCEPTED, REJECTED, DEAD)
OPEN_STATES = (PENDING, SENDING)  # still waiting for the central answer
FINAL_STATES = (ACCEPTED, REJECTED, DEAD)

# Retention (see docs/queue.md).
#: Rejected or dead rows keep their sealed blob until shown, at most this long.
SEALED_HOLD_AFTER_ANSWER_S = 7 * 24 * 3600
#: Answered rows (receipt number, state, MyKey ID or reason, times) are deleted after this.
ROW_RETENTION_AFTER_ANSWER_S = 30 * 24 * 3600

# Delivery.
BATCH_SIZE = 100
#: An item refused this many times for something no resend can fix goes dead.
MAX_PERMANENT_FAILURES = 3
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0
#: Upper bound on one Retry-After we honour (a broken header must not park the queue for days).
RETRY_AFTER_CAP_S = 3600.0
#: No delay we set is longer; a due time further ahead means the clock was set back.
MAX_DELAY_S = max(BACKOFF_CAP_S, RETRY_AFTER_CAP_S) + 60.0
#: The worker applies retention at most this often (it was every pass: per online item).
RETENTION_EVERY_S = 60.0
#: The worker looks at the database at least this often even when nobody wakes it.
IDLE_POLL_S = 30.0
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

# Error kinds the worker records (last_error_kind); keys of the staff screen's messages.
ERROR_UNREACHABLE = "central_unreachable"  # refused, reset, DNS, no route
ERROR_TIMEOUT = "central_timeout"
ERROR_TLS = "central_tls_failed"  # pinned CA or client certificate refused
ERROR_SERVER = "central_server_error"  # 5xx
ERROR_BUSY = "central_busy"  # 429 / 503 with Retry-After
ERROR_BAD_ANSWER = "central_bad_answer"  # not the JSON we expect, or an item missing
ERROR_CLIENT = "central_refused_request"  # 4xx for the request itself
ERROR_CONFLICT = "central_conflict"  # same enrollment id, different payload
ERROR_ITEM_RETRY = "central_item_retry"  # the central service asked to resend one item later
TRANSPORT_ERRORS = (ERROR_UNREACHABLE, ERROR_TIMEOUT, ERROR_TLS, ERROR_SERVER, ERROR_BUSY)

# What the central service's HTTP answer to a batch means.
#: Statuses that say "this request's content is wrong": split the batch, strike single items.
#: Any other 4xx (404, 405, 410...) means a misconfigured or moved service: wait, never strike.
REFUSALS_OF_THE_CONTENT = (400, 413, 422)


def is_content_refusal(status: int) -> bool:
    """The central service refused what we sent (not us, not itself): split and strike."""
    return status in REFUSALS_OF_THE_CONTENT


def error_kind_of_status(status: int) -> str:
    """Why an answer other than 200 (and not a content refusal) is no answer: resend later."""
    if status in (429, 503):
        return ERROR_BUSY
    if status >= 500 or status == 408:
        return ERROR_SERVER
    if status in (401, 403, 495, 496):
        return ERROR_TLS  # our identity, not the items
    return ERROR_CLIENT  # 404, 405...: the service, not the items


def struck_out(strikes: int, limit: int = MAX_PERMANENT_FAILURES) -> bool:
    """An item refused alone this many times goes dead (staff can retry it)."""
    return strikes >= limit


# How long to wait.
def capped_retry_after(seconds: float) -> float:
    """A Retry-After as honoured: never longer than :data:`RETRY_AFTER_CAP_S`."""
    return min(seconds, RETRY_AFTER_CAP_S)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def clock_was_set_back(due: float, now: float) -> bool:
    """A due time further ahead than any delay we set: the clock went back since (no NTP at
    boot, corrected later), so it is due now rather than parked for the difference."""
    return due > now + MAX_DELAY_S


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(n-1)))."""

    base_s: float = BACKOFF_BASE_S
    cap_s: float = BACKOFF_CAP_S

    def delay(self, attempts: int, retry_after_s: float | None = None) -> float:
        """Seconds until attempt ``attempts + 1``; never less than a (capped) Retry-After."""
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, attempts - 1))
        delay = random.uniform(0.0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, capped_retry_after(retry_after_s))
        return delay
