"""What the console reads and changes in the central store: SQL only, no HTML.

Counts come from ``applications`` (accepted enrollments: campaign, service, time) and
``enrollments`` (every answer: status and receipt number). Nothing here selects a
MyKey ID, a keyed hash or an answer's personal fields: the console never sees them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

PAPER_CODES = ("paper",)  # a printer status code naming paper (printer_no_paper...)
READER_LOST = ("reader_lost", "no_reader", "reader_unavailable")
HOURS_SHOWN = 48
DAYS_SHOWN = 30


@dataclass(frozen=True)
class KioskRow:
    kiosk_id: str
    age_s: float
    health: dict[str, Any]
    out_of_service: bool
    alerts: tuple[str, ...]


def alerts_of(health: dict[str, Any], age_s: float, stale_minutes: float) -> tuple[str, ...]:
    """Alert codes for one kiosk: stale, paper, dead, reader, staff_pin."""
    out = []
    if age_s > stale_minutes * 60:
        out.append("stale")
    if any(p in str(health.get("printer", "")) for p in PAPER_CODES):
        out.append("paper")
    if _int(health.get("dead_items")) > 0:
        out.append("dead")
    if health.get("reader") in READER_LOST:
        out.append("reader")
    if health.get("staff_pin_locked") or _int(health.get("staff_pin_lockouts")) > 0:
        out.append("staff_pin")
    return tuple(out)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ConsoleData:
    def __init__(self, store, stale_minutes: float) -> None:
        self.store = store
        self.stale_minutes = stale_minutes

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
        self, period: str, now: float, campaign: str = "", service: str = ""
    ) -> list[tuple[str, str, str, int]]:
        """(bucket, campaign, service, accepted) for the last HOURS_SHOWN hours or
        DAYS_SHOWN days (``period`` "hour" or "day"), UTC buckets, oldest first."""
        width, span = (
            (13, dt.timedelta(hours=HOURS_SHOWN))
            if period == "hour"
            else (10, dt.timedelta(days=DAYS_SHOWN))
        )
        since = (dt.datetime.fromtimestamp(now, dt.UTC) - span).strftime("%Y-%m-%dT%H")
        sql = (
            "SELECT substr(created_at, 1, ?) AS bucket, campaign_id, service_code,"
            " count(*) FROM applications WHERE created_at >= ?"
        )
        params: list[Any] = [width, since]
        if campaign:
            sql += " AND campaign_id = ?"
            params.append(campaign)
        if service:
            sql += " AND service_code = ?"
            params.append(service)
        sql += " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        with self.store.transaction(write=False) as tx:
            rows = tx.all(sql, tuple(params))
        return [(b, c, s, int(n)) for b, c, s, n in rows]

    def choices(self) -> tuple[list[str], list[str]]:
        """Campaigns and services that have any application (for the filters)."""
        with self.store.transaction(write=False) as tx:
            campaigns = [
                r[0] for r in tx.all("SELECT DISTINCT campaign_id FROM applications ORDER BY 1")
            ]
            services = [
                r[0] for r in tx.all("SELECT DISTINCT service_code FROM applications ORDER BY 1")
            ]
        return campaigns, services

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
