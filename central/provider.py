"""Payment-provider adapters: is this 決済サービスID / セキュリティコード a real account?

The reference adapter reads a file of valid accounts (JSON or TOML, reloaded when it
changes), for demos and tests::

    {"unavailable": false,
     "accounts": [{"service_code": "waon", "service_user_id": "1234567890123456",
                   "security_codes": ["1234"]}]}

``"unavailable": true`` makes the provider answer "try later" (the item gets ``retry``),
as a real provider does during maintenance. A missing file does the same.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any, Protocol

from central.errors import ProviderUnavailable
from central.reference_file import ReferenceFile


class PaymentProvider(Protocol):
    def confirm(self, service_code: str, service_user_id: str, security_codes: list[str]) -> bool:
        """True when the account exists and the codes match; ProviderUnavailable if unsure."""
        ...


class FileAccountsProvider:
    """The reference adapter: valid accounts listed in a JSON/TOML file."""

    def __init__(self, path: Path | None) -> None:
        self._file = ReferenceFile(path, "accounts file")
        self._parsed: dict[str, Any] | None = None  # the table the accounts came from
        self._accounts: dict[tuple[str, str], tuple[str, ...]] = {}
        self._unavailable = False

    def _refresh(self) -> None:
        doc = self._file.read()
        if doc is self._parsed:
            return
        self._accounts = {
            (str(a["service_code"]), str(a["service_user_id"])): tuple(
                str(c) for c in a.get("security_codes", [])
            )
            for a in doc.get("accounts", [])
        }
        self._unavailable = bool(doc.get("unavailable", False))
        self._parsed = doc

    def confirm(self, service_code: str, service_user_id: str, security_codes: list[str]) -> bool:
        self._refresh()
        if self._unavailable:
            raise ProviderUnavailable("provider in maintenance")
        expected = self._accounts.get((service_code, service_user_id))
        if expected is None or len(expected) != len(security_codes):
            return False
        return all(
            hmac.compare_digest(a.encode(), str(b).encode())
            for a, b in zip(expected, security_codes, strict=True)
        )
