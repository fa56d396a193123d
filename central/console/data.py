"""What the console reads and changes in the central store: SQL only, no HTML.

Counts come from ``applications`` (accepted Mynapoint applications: campaign, service,
time; procedure ``mynapoint``), ``registrations`` (the other procedures, issue 11:
健康保険証の利用申込み, 自治体マイナポイント: procedure, campaign, time; no service) and
``enrollments`` (every answer: status and receipt number). Nothing here selects a
MyKey ID, a keyed hash or an answer's personal fields: the console never sees them.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any

PAPER_CODES = ("paper",)  # a printer status code naming paper (printer_no_paper...)
READER_LOST = ("reader_lost", "no_reader", "reader_unavailable")
HOURS_SHOWN = 48
DAYS_SHOWN = 30
CLOSED_AFTER_S = 300  # an hour's counts are final this long after it ended
MYNAPOINT = "mynapoint"  # the procedure of a row of ``applications``
KIOSKS_PER_PAGE = 100


def _hour_text(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H")


@dataclass(frozen=True)
class KioskRow:
    kiosk_id: str
    age_s: float
    health: dict[str, Any]
    out_of_service: bool
    alerts: tuple[str, ...]


def alerts_of(health: dict[str, Any], age_s: float, stale_minutes: float) -> tuple[str, ...]:
    """Alert codes for one kiosk: stale, paper, dead, reader, staff_pin, storage, clock."""
    out = []
    if age_s > stale_minutes * 60:
        out.append("stale")
    if any(p in str(health.get("printer", "")) for p in PAPER_CODES):
        out.append("paper")
    if _int(health.get("dead_items")) > 0:
        out.append("dead")
    if health.get("reader") in READER_LOST:
        out.append("reader")
    if health.get("staff_locked") or _int(health.get("staff_lockouts")) > 0:
        out.append("staff_pin")
    if health.get("storage") not in (None, "ok", "unknown"):  # full, missing, damaged
        out.append("storage")
    if health.get("clock") not in (None, "ok", "unknown"):
        out.append("clock")
    return tuple(out)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ConsoleData:
    def __init__(self, store, stale_minutes: float) -> None:
        self.store = store
        self.stale_minutes = stale_minutes
        self._lock = threading.Lock()
        self._closed: dict[str, dict[tuple[str, str, str], int]] = {}  # final hours' counts
        self._counted_until: str | None = None  # hours before this are in _closed

    # -- kiosks ------------------------------------------------------------------------
    def out_of_service(self) -> set[str]:
        with self.store.transaction(write=False) as tx:
            rows = tx.all("SELECT kiosk_id FROM kiosk_service WHERE out_of_service = 1")
        return {r[0] for r in rows}

    def is_out_of_service(self, kiosk_id: str) -> bool:
        with self.store.transaction(write=False) as tx:
            row = tx.one("SELECT out_of_service FROM kiosk_service WHERE kiosk_id = ?", (kiosk_id,))
        return bool(row and row[0])

    def set_out_of_service(self, kiosk_id: str, out: bool, by: str, now: float) -> None:
        with self.store.transaction() as tx:
            tx.all(
                "INSERT INTO kiosk_service (kiosk_id, out_of_service, set_by, set_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (kiosk_id) DO UPDATE SET"
                " out_of_service = excluded.out_of_service, set_by = excluded.set_by,"
                " set_at = excluded.set_at",
                (kiosk_id, 1 if out else 0, by, now),
            )

    def known_kiosk(self, kiosk_id: str) -> bool:
        with self.store.transaction(write=False) as tx:
            return tx.one("SELECT 1 FROM kiosks WHERE kiosk_id = ?", (kiosk_id,)) is not None

    def kiosk_page(
        self, now: float, page: int = 1, alerts_only: bool = False
    ) -> tuple[list[KioskRow], int, int]:
        """One page of the kiosk list, kiosks with alerts first (most alerts first, then by
        id), then the rest by id: (rows, pages, kiosks with alerts)."""
        rows = self.kiosks(now)
        alerting = sum(1 for r in rows if r.alerts)
        rows.sort(key=lambda r: (-len(r.alerts), r.kiosk_id))
        if alerts_only:
            rows = rows[:alerting]
        pages = max(1, -(-len(rows) // KIOSKS_PER_PAGE))
        page = min(max(1, page), pages)
        start = (page - 1) * KIOSKS_PER_PAGE
        return rows[start : start + KIOSKS_PER_PAGE], pages, alerting

    def kiosks(self, now: float) -> list[KioskRow]:
        out = self.out_of_service()
        rows = []
        for kiosk_id, last_seen, health in self.store.kiosks():
            age = max(0.0, now - last_seen)
            rows.append(
                KioskRow(
                    kiosk_id,
                    age,
                    health,
                    kiosk_id in out,
                    alerts_of(health, age, self.stale_minutes),
                )
            )
        return rows

    # -- counts ------------------------------------------------------------------------
    def counts(
        self,
        period: str,
        now: float,
        campaign: str = "",
        service: str = "",
        procedure: str = "",
    ) -> list[tuple[str, str, str, str, int]]:
        """(bucket, campaign, procedure, service, accepted) for the last HOURS_SHOWN hours
        or DAYS_SHOWN days (``period`` "hour" or "day"), UTC buckets, oldest first. A
        registration of another procedure has no service ('')."""
        hourly = self._hourly(now)
        if period == "hour":
            since = _hour_text(now - HOURS_SHOWN * 3600)
            width = 13
        else:
            since = _hour_text(now - DAYS_SHOWN * 86400)[:10]
            width = 10
        wanted = (campaign, procedure, service)
        totals: dict[tuple[str, str, str, str], int] = {}
        for hour, counts in hourly.items():
            bucket = hour[:width]
            if bucket < since:
                continue
            for key, n in counts.items():
                if any(w and w != k for w, k in zip(wanted, key, strict=True)):
                    continue
                totals[(bucket, *key)] = totals.get((bucket, *key), 0) + n
        return [(*k, n) for k, n in sorted(totals.items())]

    def _hourly(self, now: float) -> dict[str, dict[tuple[str, str, str], int]]:
        """Accepted applications and registrations per UTC hour, campaign, procedure and
        service, for the window.

        An hour that ended more than CLOSED_AFTER_S ago cannot change (its enrollments
        are committed), so it is counted once and kept; each call counts only the hours
        since, through the ``created_at`` index. At a million enrollments the first call
        scans them once; later ones read minutes of rows."""
        window_start = _hour_text(now - DAYS_SHOWN * 86400 - 86400)
        closed_before = _hour_text(now - CLOSED_AFTER_S)  # hours before this are final
        with self._lock:
            since = max(self._counted_until or window_start, window_start)
            with self.store.transaction(write=False) as tx:
                rows = tx.all(
                    "SELECT substr(created_at, 1, 13), campaign_id, ?, service_code, count(*)"
                    " FROM applications WHERE created_at >= ? GROUP BY 1, 2, 4",
                    (MYNAPOINT, since),
                ) + tx.all(
                    "SELECT substr(created_at, 1, 13), campaign_id, procedure, '', count(*)"
                    " FROM registrations WHERE created_at >= ? GROUP BY 1, 2, 3",
                    (since,),
                )
            recent: dict[str, dict[tuple[str, str, str], int]] = {}
            for hour, c, p, s, n in rows:
                target = self._closed if hour < closed_before else recent
                counts = target.setdefault(hour, {})
                counts[(c, p, s)] = counts.get((c, p, s), 0) + int(n)
            self._counted_until = max(since, closed_before)
            for hour in [h for h in self._closed if h < window_start]:
                del self._closed[hour]
            return {**self._closed, **recent}

    def choices(self, now: float) -> tuple[list[str], list[str], list[str]]:
        """Campaigns, procedures and services counted in the window (for the filters)."""
        keys = {key for counts in self._hourly(now).values() for key in counts}
        campaigns, procedures, services = ({k[i] for k in keys} - {""} for i in range(3))
        return sorted(campaigns), sorted(procedures), sorted(services)

    # -- receipt lookup ----------------------------------------------------------------
    def receipt(self, receipt_no: str) -> list[dict[str, str]]:
        """Status of the enrollments under a receipt number: status, reason, kiosk, time.
        Never the MyKey ID or anything else of the person."""
        with self.store.transaction(write=False) as tx:
            rows = tx.all(
                "SELECT kiosk_id, status, answer, answered_at FROM enrollments"
                " WHERE receipt_no = ? ORDER BY answered_at LIMIT 20",
                (receipt_no,),
            )
        out = []
        for kiosk_id, status, answer, answered_at in rows:
            reason = json.loads(answer).get("reason", "") if status == "rejected" else ""
            out.append(
                {
                    "kiosk_id": kiosk_id,
                    "status": status,
                    "reason": str(reason),
                    "answered_at": answered_at,
                }
            )
        return out
