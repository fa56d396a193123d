"""The base of every error a person can meet at the kiosk.

Each subclass names a ``kind``: the key of its message and remedy in the one
error table (``kiosk/locales/<lang>/errors.toml``, section per kind). Drivers,
the queue and the controller raise these; the flow routes on a class's ``kind``
(``PinIncorrect.kind``, never a string) and ``retryable``; the screens only show
the texts the views looked up.
Messages passed to the constructor are for logs and must never hold a PIN, an
ID, a security code or a certificate.
"""


class KioskError(Exception):
    """Something went wrong that the person or the staff must be told about."""

    kind = "unexpected"
    #: True when trying the same step again may work (card re-placed, network back).
    #: The one truth of it: the flow reads it from ``Failed.retryable`` and offers to read
    #: the card again after a retryable card failure (``kiosk/flow.py``, ``_failed``).
    retryable = False
