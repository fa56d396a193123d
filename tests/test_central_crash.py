"""The central service killed (SIGKILL) while it decides a batch: after a restart the
kiosk resends the same batch and every enrollment ends accepted exactly once — nothing
half-written, nothing decided twice. SQLite and PostgreSQL."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from contract import wire
from sim.pki import TestPKI
from tests.fixtures.central import CentralService, start_central

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

CARDS, CAMPAIGNS, ROUNDS = 20, 10, 3


@pytest.fixture(params=["sqlite", "postgresql"])
def central(request: pytest.FixtureRequest, tmp_path: Path, jpki: TestPKI) -> Any:
    dsn = None
    if request.param == "postgresql":
        dsn = request.getfixturevalue("postgres_server").new_database()
    service = start_central(tmp_path, dsn=dsn, pki=jpki)
    try:
        yield service
    finally:
        service.stop()


def one_batch(svc: CentralService, round_no: int) -> list[dict]:
    """CARDS people x CAMPAIGNS campaigns, each person with their own account."""
    items = []
    for _ in range(CARDS):
        card = svc.pki.issue_card()
        code, user_id, codes = svc.new_account()
        for campaign in range(CAMPAIGNS):
            item, _ = svc.make_item(
                card,
                service_code=code,
                service_user_id=user_id,
                security_codes=codes,
                campaign_id=f"r{round_no}-{campaign}",
            )
            items.append(item)
    random.shuffle(items)
    return items


def post(svc: CentralService, items: list[dict]) -> list[dict]:
    with svc.session() as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body(items), timeout=120)
    r.raise_for_status()
    return r.json()["results"]


def stored_rows(svc: CentralService) -> tuple[int, int]:
    """(enrollments, applications) rows in the central database."""
    sql = "SELECT (SELECT count(*) FROM enrollments), (SELECT count(*) FROM applications)"
    if svc.dsn:
        with psycopg.connect(svc.dsn) as conn:
            return conn.execute(sql).fetchone()  # type: ignore[return-value]
    conn = sqlite3.connect(svc.database_file, timeout=30)
    try:
        return conn.execute(sql).fetchone()
    finally:
        conn.close()


def test_a_batch_resent_after_a_kill_is_accepted_exactly_once(central: CentralService) -> None:
    total = 0
    for round_no in range(ROUNDS):
        items = one_batch(central, round_no)
        sender = threading.Thread(target=_ignore_errors, args=(post, central, items))
        sender.start()
        time.sleep(random.uniform(0.02, 0.4))  # somewhere inside the batch, or before it
        central.kill()
        sender.join(60)
        # A batch is one transaction: the kill left all of it or none of it.
        assert stored_rows(central) in {(total, total), (total + len(items),) * 2}
        total += len(items)
        central.start()
        results = post(central, items)
        assert {r["status"] for r in results} == {"accepted"}
        assert [r["enrollment_id"] for r in results] == [i["enrollment_id"] for i in items]
        assert stored_rows(central) == (total, total)


def _ignore_errors(send: Any, *args: Any) -> None:
    try:
        send(*args)
    except requests.RequestException:
        pass  # the answer was lost with the process: that is the point
