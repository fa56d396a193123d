"""The payment-service catalog and the campaigns, served from data files.

The kiosk's data files (``kiosk/data/services.toml``, ``kiosk/data/campaigns.toml``) are
owned by the kiosk side; this module serves whatever the configured files hold, and
reads only what the central rules need, tolerantly:

- a service entry's code is ``code`` (or ``service_code`` / ``id``); it may not be
  enrolled from a kiosk when ``kiosk = false`` or ``app_only = true``;
- a campaign entry's id is ``id`` (or ``campaign_id``); it is open from ``starts``
  (or ``start`` / ``opens``) to ``ends`` (or ``end`` / ``deadline`` / ``closes``),
  dates (inclusive, Japan time) or date-times; either end may be absent; a campaign
  with ``kiosk_enrollment = false`` is not enrolled at kiosks at all.

A missing file means an empty list and no rule: every service and campaign is allowed.
"""

from __future__ import annotations

import datetime as dt
import threading
import tomllib
from pathlib import Path
from typing import Any

from central.freshness import must_look
from contract.units import JST

_SERVICE_CODE_KEYS = ("code", "service_code", "id")
_CAMPAIGN_ID_KEYS = ("id", "campaign_id", "code")
_START_KEYS = ("starts", "start", "opens", "starts_at", "start_date")
_END_KEYS = ("ends", "end", "deadline", "closes", "ends_at", "end_date")


def _first(entry: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in entry:
            return entry[key]
    return None


def _as_datetime(value: Any, end: bool) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=JST)
    if isinstance(value, dt.date):
        day = value + dt.timedelta(days=1) if end else value
        return dt.datetime(day.year, day.month, day.day, tzinfo=JST)
    if isinstance(value, str):
        try:
            return _as_datetime(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), end)
        except ValueError:
            return _as_datetime(dt.date.fromisoformat(value), end)
    return None


class _TomlFile:
    """A TOML file re-read when it changes; a missing file reads as {}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._doc: dict[str, Any] = {}
        self._last: dict[str, Any] = {}

    def read(self) -> dict[str, Any]:
        """The file's table; looked at once per batch (``central.freshness``)."""
        if must_look(self):
            self._last = self._look()
        return self._last

    def _look(self) -> dict[str, Any]:
        try:
            st = self.path.stat()
        except OSError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._doc = tomllib.loads(self.path.read_text(encoding="utf-8"))
                except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                    self._doc = {}
                self._stamp = stamp
            return self._doc


def _entries(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key)
    if isinstance(value, list):
        return [e for e in value if isinstance(e, dict)]
    if isinstance(value, dict):  # [services.waon] tables keyed by code
        return [{"code": k, **v} for k, v in value.items() if isinstance(v, dict)]
    return []


class Catalog:
    def __init__(self, services_file: Path, campaigns_file: Path) -> None:
        self._services = _TomlFile(services_file)
        self._campaigns = _TomlFile(campaigns_file)

    def services_document(self) -> dict[str, Any]:
        doc = self._services.read()
        return {**doc, "services": _entries(doc, "services")}

    def campaigns_document(self) -> dict[str, Any]:
        doc = self._campaigns.read()
        return {**doc, "campaigns": _entries(doc, "campaigns")}

    def service_allowed_at_kiosk(self, service_code: str) -> bool:
        services = _entries(self._services.read(), "services")
        if not services:
            return True
        for entry in services:
            if str(_first(entry, _SERVICE_CODE_KEYS)) == service_code:
                return entry.get("kiosk", True) is not False and not entry.get("app_only", False)
        return False

    def campaign(self, campaign_id: str) -> dict[str, Any] | None:
        """The campaign entry with this id (its keys as written), or None."""
        for entry in _entries(self._campaigns.read(), "campaigns"):
            if str(_first(entry, _CAMPAIGN_ID_KEYS)) == campaign_id:
                return entry
        return None

    def campaign_kind_is(self, campaign_id: str, kind: str) -> bool:
        """False only for a campaign that names another kind (e.g. a payment-service
        enrollment naming the 健康保険証 campaign); no entry or no kind: True."""
        entry = self.campaign(campaign_id)
        return entry is None or entry.get("kind", kind) == kind

    def campaign_open(self, campaign_id: str, created_at: str) -> bool:
        campaigns = _entries(self._campaigns.read(), "campaigns")
        if not campaigns:
            return True
        for entry in campaigns:
            if str(_first(entry, _CAMPAIGN_ID_KEYS)) != campaign_id:
                continue
            if entry.get("kiosk_enrollment", True) is False:
                return False
            try:
                at = _as_datetime(created_at, end=False)
                start = _as_datetime(_first(entry, _START_KEYS), end=False)
                end = _as_datetime(_first(entry, _END_KEYS), end=True)
            except ValueError:
                return False
            if at is None:
                return False
            return (start is None or start <= at) and (end is None or at < end)
        return False
