"""Errors the queue raises; each ``kind`` keys a message in the one error table.

Messages passed to these constructors go to logs only: they name error kinds,
receipt numbers and counts, never an ID, a code or a certificate.
"""

from __future__ import annotations

from contract.errors import KioskError


class QueueError(KioskError):
    """Something the outbox could not do; nothing committed was changed."""

    kind = "queue_error"


class QueueDiskFull(QueueError):
    """The disk (or the queue's size cap) is full: the enrollment was NOT stored."""

    kind = "queue_disk_full"
    retryable = True


class QueueUnavailable(QueueError):
    """The queue database cannot be opened or written (missing, read-only, newer schema)."""

    kind = "queue_unavailable"


class QueueInputInvalid(QueueError):
    """The enrollment handed to the queue is malformed (a bug upstream, never the person's)."""

    kind = "queue_input_invalid"


class EnrollmentSignatureInvalid(QueueInputInvalid):
    """The card's signature does not verify against the certificate over the payload."""

    kind = "signature_invalid"


class AlreadyEnrolledHere(QueueError):
    """This card already has an enrollment at this kiosk that is pending or accepted."""

    kind = "already_enrolled_here"


class NoSealingKey(QueueError):
    """The kiosk holds no public key of the central service to seal with."""

    kind = "queue_no_sealing_key"


class ReceiptNumberInvalid(KioskError):
    """A typed receipt number has a wrong length, a foreign character or a bad check."""

    kind = "receipt_number_invalid"
