"""Units the kiosk, its card driver and the central service agree on.

    >>> PIN_LENGTH
    4
    >>> JST.utcoffset(None)
    datetime.timedelta(seconds=32400)
"""

from __future__ import annotations

import datetime as dt

#: The user-authentication PIN of the card's JPKI application: 4 digits.
PIN_LENGTH = 4
#: Japan Standard Time; Japan keeps no daylight saving time.
JST = dt.timezone(dt.timedelta(hours=9), "JST")
