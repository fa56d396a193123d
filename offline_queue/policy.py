"""The queue's rules in one place: states, retention, retry and backoff.

Times are seconds. Each value is a default; the sync worker's command line can
override the retry ones (tests use short ones).
"""

from __future__ import annotations

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
