"""The operator console and /metrics over real HTTPS (no browser): logins and their
refusals, roles, CSRF, sessions that expire, kiosk certificates refused, metrics, the
out-of-service answer, catalog publishing, receipt lookup and CSV export.

Real central service in this process (its clock a SkipAheadClock), its two listeners
on loopback, operator accounts made with the real CLI. The browser tests are in
``test_console_browser.py``."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import requests

from central.console.auth import LOCK_SECONDS, MAX_FAILURES, SESSION_SECONDS
from contract import wire
from sim.central import CentralService, _central_command
from tests.fixtures.console import ADMIN, LOCKABLE, VIEWER, OperatorClient

pytest_plugins = ["tests.fixtures.central", "tests.fixtures.console"]

pytestmark = pytest.mark.slow  # one central for the module; argon2 costs ~50 ms a login


def heartbeat(central: CentralService, kiosk_id: str, **health: Any) -> requests.Response:
    with central.session(kiosk_id) as s:
        return s.post(central.base_url + wire.HEARTBEAT_PATH, json=health, timeout=20)


def enroll(central: CentralService, receipt_no: str, *, good: bool = True) -> dict[str, Any]:
    card = central.pki.issue_card()
    code, user, codes = central.new_account("waon")
    item, _ = central.make_item(
        card,
        service_code=code,
        service_user_id=user,
        security_codes=codes if good else ["0000"],
        receipt_no=receipt_no,
    )
    with central.session() as s:
        r = s.post(central.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    return r.json()["results"][0]


def logged_in(central: CentralService, who: tuple[str, str]) -> OperatorClient:
    client = OperatorClient(central)
    r = client.login(*who)
    assert r.status_code == 200 and r.url.endswith("/console/"), r.text
    return client


# -- logging in -----------------------------------------------------------------------
def test_login_sets_a_secure_httponly_samesite_cookie_that_expires(console_central) -> None:
    client = OperatorClient(console_central)
    client.page("/console/login")
    r = client.post(
        "/console/login",
        {"name": ADMIN[0], "password": ADMIN[1], "csrf": client.csrf()},
        allow_redirects=False,
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "mnp_console=" in cookie
    for attribute in ("secure", "httponly", "samesite=strict", f"max-age={SESSION_SECONDS}"):
        assert attribute in cookie


def test_wrong_password_is_refused_clearly_and_no_session_given(console_central) -> None:
    client = OperatorClient(console_central)
    r = client.login(VIEWER[0], "not the password at all")
    assert r.status_code == 401
    assert "オペレーター名またはパスワードが違います" in r.text
    assert "mnp_console" not in client.http.cookies
    assert client.page("/console/", allow_redirects=False).status_code == 303  # to login
    r = client.login("nobody-here", "whatever password")
    assert r.status_code == 401 and "パスワードが違います" in r.text


def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(
    console_central, console_clock
) -> None:
    client = OperatorClient(console_central)
    for _ in range(MAX_FAILURES):
        r = client.login(LOCKABLE[0], "wrong wrong wrong")
        assert r.status_code == 401
    assert "ロック" in r.text
    r = client.login(*LOCKABLE)
    assert r.status_code == 401 and "ロック" in r.text
    assert "mnp_console" not in client.http.cookies
    console_clock.skip(LOCK_SECONDS + 1)
    assert client.login(*LOCKABLE).url.endswith("/console/")


def test_login_without_or_with_a_wrong_csrf_token_is_refused(console_central) -> None:
    client = OperatorClient(console_central)
    client.page("/console/login")
    for token in ("", "forged-token"):
        r = client.post("/console/login", {"name": ADMIN[0], "password": ADMIN[1], "csrf": token})
        assert r.status_code == 403 and "フォームの有効期限" in r.text
    assert "mnp_console" not in client.http.cookies


def test_an_expired_session_goes_back_to_login_and_changes_nothing(
    console_central, console_clock
) -> None:
    assert heartbeat(console_central, "K-EXPIRE-01").status_code == 200
    client = logged_in(console_central, ADMIN)
    token = client.csrf()
    console_clock.skip(SESSION_SECONDS + 1)
    r = client.page("/console/")
    assert r.url.endswith("/console/login?expired=1") and "有効期限が切れました" in r.text
    r = client.post("/console/kiosks/K-EXPIRE-01/service", {"out_of_service": "1", "csrf": token})
    assert r.status_code == 401
    assert heartbeat(console_central, "K-EXPIRE-01").json()[wire.OUT_OF_SERVICE] is False


# -- forms: CSRF and roles ------------------------------------------------------------
def test_a_form_without_or_with_a_wrong_csrf_token_changes_nothing(console_central) -> None:
    assert heartbeat(console_central, "K-CSRF-01").status_code == 200
    client = logged_in(console_central, ADMIN)
    for data in ({"out_of_service": "1"}, {"out_of_service": "1", "csrf": "x" * 43}):
        r = client.post("/console/kiosks/K-CSRF-01/service", data)
        assert r.status_code == 403 and "変更は行われていません" in r.text
    assert heartbeat(console_central, "K-CSRF-01").json()[wire.OUT_OF_SERVICE] is False


def test_a_viewer_cannot_do_admin_actions(console_central) -> None:
    assert heartbeat(console_central, "K-VIEW-01").status_code == 200
    client = logged_in(console_central, VIEWER)
    assert "toggle-service" not in client.last.text  # no admin buttons shown
    r = client.post(
        "/console/kiosks/K-VIEW-01/service", {"out_of_service": "1", "csrf": client.csrf()}
    )
    assert r.status_code == 403 and "管理者" in r.text
    assert heartbeat(console_central, "K-VIEW-01").json()[wire.OUT_OF_SERVICE] is False
    before = console_central.services_file.read_bytes()
    client.page("/console/")
    r = client.post(
        "/console/catalog",
        {"kind": "services", "text": '[[services]]\ncode = "x"\n', "csrf": client.csrf()},
    )
    assert r.status_code == 403
    assert console_central.services_file.read_bytes() == before


def test_an_admin_takes_a_kiosk_out_of_service_and_back(console_central) -> None:
    assert heartbeat(console_central, "K-OOS-01").json()[wire.OUT_OF_SERVICE] is False
    client = logged_in(console_central, ADMIN)
    r = client.post(
        "/console/kiosks/K-OOS-01/service", {"out_of_service": "1", "csrf": client.csrf()}
    )
    assert r.status_code == 200 and "休止中" in r.text
    assert heartbeat(console_central, "K-OOS-01").json()[wire.OUT_OF_SERVICE] is True
    assert heartbeat(console_central, "K-OTHER-01").json()[wire.OUT_OF_SERVICE] is False
    client.post("/console/kiosks/K-OOS-01/service", {"out_of_service": "0", "csrf": client.csrf()})
    assert heartbeat(console_central, "K-OOS-01").json()[wire.OUT_OF_SERVICE] is False
    r = client.post(
        "/console/kiosks/K-NEVER-SEEN/service", {"out_of_service": "1", "csrf": client.csrf()}
    )
    assert r.status_code == 404


def test_publishing_a_catalog_reaches_kiosks_and_bad_toml_changes_nothing(
    console_central,
) -> None:
    client = logged_in(console_central, ADMIN)
    client.page("/console/catalog")
    before = console_central.services_file.read_bytes()
    for text in ("[[services]\ncode = ", "title = 'no services at all'\n"):
        r = client.post(
            "/console/catalog", {"kind": "services", "text": text, "csrf": client.csrf()}
        )
        assert r.status_code == 400 and "公開しませんでした" in r.text
        assert console_central.services_file.read_bytes() == before
    new = before.decode() + '\n[[services]]\ncode = "newpay"\nname = "New Pay"\n'
    r = client.post("/console/catalog", {"kind": "services", "text": new, "csrf": client.csrf()})
    assert r.status_code == 200 and "公開しました" in r.text
    with console_central.session() as s:
        served = s.get(console_central.base_url + wire.CATALOG_PATH, timeout=20).json()
    assert "newpay" in {e.get("code") for e in served["services"]}


# -- kiosks never see the fleet -------------------------------------------------------
def test_a_kiosk_certificate_is_refused_on_the_console_and_metrics(console_central) -> None:
    cert, key = console_central.kiosk_cert(console_central.kiosk_id)
    with requests.Session() as s:
        s.verify, s.cert, s.trust_env = str(console_central.ca_cert), (str(cert), str(key)), False
        for path in ("/console/", "/console/login", "/metrics"):
            r = s.get(console_central.operator_url + path, timeout=20)
            assert r.status_code == 403 and "キオスク端末の証明書" in r.text
    with console_central.session() as s:  # and on the kiosks' own listener
        for path in ("/metrics", "/console/", "/console/login"):
            r = s.get(console_central.base_url + path, timeout=20)
            assert r.status_code == 403
            assert r.json() == {"detail": {"reason": "operator_only"}}


# -- metrics --------------------------------------------------------------------------
def test_metrics_count_decisions_latency_and_each_kiosks_health(console_central) -> None:
    assert enroll(console_central, "R-METRIC-1")["status"] == "accepted"
    assert enroll(console_central, "R-METRIC-2", good=False)["reason"] == "account_not_confirmed"
    r = heartbeat(
        console_central,
        "K-METRIC-01",
        queue_depth=7,
        oldest_pending_age_s=90.0,
        dead_items=2,
        sync_accepted=40,
        sync_rejected=3,
        sync_failures=1,
    )
    assert r.status_code == 200
    text = requests.get(
        console_central.operator_url + "/metrics", verify=str(console_central.ca_cert), timeout=20
    ).text
    for line in (
        'mynapoint_decisions_total{reason="-",result="accepted"}',
        'mynapoint_decisions_total{reason="account_not_confirmed",result="rejected"}',
        'mynapoint_ingest_seconds_count{path="batch"}',
        'mynapoint_kiosk_heartbeat_age_seconds{kiosk="K-METRIC-01"}',
        'mynapoint_kiosk_queue_depth{kiosk="K-METRIC-01"} 7.0',
        'mynapoint_kiosk_oldest_pending_seconds{kiosk="K-METRIC-01"} 90.0',
        'mynapoint_kiosk_dead_items{kiosk="K-METRIC-01"} 2.0',
        'mynapoint_kiosk_sync_accepted_total{kiosk="K-METRIC-01"} 40.0',
        'mynapoint_kiosk_sync_failures_total{kiosk="K-METRIC-01"} 1.0',
    ):
        assert line in text, line


def test_the_sync_workers_counters_reach_the_metrics_and_the_kiosk_list(
    console_central, tmp_path
) -> None:
    """A real worker fails to reach central once (unreachable), then delivers two; the
    kiosk's next heartbeat carries its totals, which /metrics and the console show."""
    from kiosk.heartbeat import Heartbeat, collect_health
    from sim.central import free_port
    from sim.enrollments import (
        central_client,
        central_outbox,
        enroll_valid,
        quick_worker,
        sync_until_settled,
    )

    db = tmp_path / "queue.sqlite3"
    with central_outbox(console_central, db) as outbox:
        for _ in range(2):
            enroll_valid(outbox, console_central)
        nowhere = central_client(console_central, f"https://127.0.0.1:{free_port()}")
        for client in (nowhere, central_client(console_central)):
            worker = quick_worker(db, client)
            try:
                if client is nowhere:
                    worker.run_once()  # fails; its rows wait out a short backoff
                else:
                    sync_until_settled(worker, outbox)
            finally:
                worker.close()
        status = outbox.status()
    assert status.delivered == {"accepted": 2}
    assert status.sync_failures == {"central_unreachable": 1}
    beat = Heartbeat.over_mtls(
        console_central.base_url,
        console_central.ca_cert,
        console_central.client_cert,
        console_central.client_key,
    )
    try:
        health = collect_health(status, printer="ok", reader="ok", version="0.1.0")
        assert beat.send(health).result(timeout=20) is True
    finally:
        beat.close()
    kiosk = console_central.kiosk_id
    text = requests.get(
        console_central.operator_url + "/metrics", verify=str(console_central.ca_cert), timeout=20
    ).text
    for line in (
        f'mynapoint_kiosk_sync_accepted_total{{kiosk="{kiosk}"}} 2.0',
        f'mynapoint_kiosk_sync_failures_total{{kiosk="{kiosk}"}} 1.0',
        f'mynapoint_kiosk_sync_failures_by_kind_total{{kind="central_unreachable",kiosk="{kiosk}"}}'
        " 1.0",
    ):
        assert line in text, line
    page = logged_in(console_central, VIEWER).page("/console/", params={"lang": "en"}).text
    row = page[page.index(f'id="kiosk-{kiosk}"') :].split("</tr>", 1)[0]
    assert '<td class="sync-delivered">2 / 0</td>' in row
    assert "unreachable 1" in row


def test_a_heartbeat_with_every_failure_kind_and_many_procedures_is_taken(
    console_central,
) -> None:
    """The largest heartbeat a kiosk sends fits the body limits of the heartbeat path."""
    kinds = {f"central_kind_{i}": i for i in range(wire.MAX_FAILURE_KINDS)}
    procedures = {f"procedure_{i}": 1 for i in range(32)}
    r = heartbeat(
        console_central,
        "K-FULLHB-01",
        queue_depth=1,
        procedures=procedures,
        sync_failures=sum(kinds.values()),
        sync_failures_by_kind=kinds,
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "field, value",
    [
        ("dead_items", -1),
        ("sync_accepted", 10**12),
        ("sync_rejected", "3"),
        ("sync_failures", 1.5),
        ("dead_items", True),
        ("sync_failures_by_kind", {"Not A Code": 1}),
        ("sync_failures_by_kind", {"central_busy": -1}),
        ("sync_failures_by_kind", {f"kind_{i}": 1 for i in range(40)}),
        ("storage", "/var/lib/mynapoint-kiosk is gone"),  # a code, never free text
    ],
)
def test_a_heartbeat_with_bad_counters_is_refused_and_nothing_stored(
    console_central, field: str, value: Any
) -> None:
    assert heartbeat(console_central, "K-BADHB-01", queue_depth=1).status_code == 200
    r = heartbeat(console_central, "K-BADHB-01", queue_depth=5, **{field: value})
    assert r.status_code == 422 and field in r.text
    text = requests.get(
        console_central.operator_url + "/metrics", verify=str(console_central.ca_cert), timeout=20
    ).text
    assert 'mynapoint_kiosk_queue_depth{kiosk="K-BADHB-01"} 1.0' in text


def test_a_kiosk_whose_storage_or_clock_fails_is_an_alert_in_the_console(
    console_central,
) -> None:
    """The kiosk's own reports (kiosk/heartbeat.py): one from a queue at its room's end,
    one from a kiosk whose queue did not open (no data partition); both are alerts, named."""
    from kiosk.heartbeat import collect_health
    from kiosk.storage import DataPartitionProblem
    from offline_queue.store import ROOM_RESERVE_BYTES, QueueStatus

    full = QueueStatus({"pending": 30}, 5.0, None, None, room_bytes=ROOM_RESERVE_BYTES - 1)
    reports = {
        "K-STORE-FULL": collect_health(full, printer="ok", reader="ok"),
        "K-STORE-GONE": collect_health(
            None, printer="ok", reader="ok", queue_problem=DataPartitionProblem("data_missing")
        ),
        "K-STORE-OK": collect_health(
            QueueStatus({}, None, None, None, room_bytes=10**9), printer="ok", reader="ok"
        ),
        "K-CLOCK-WRONG": collect_health(
            QueueStatus({}, None, None, None),
            printer="ok",
            reader="ok",
            clock="clock_before_valid_date",
        ),
    }
    for kiosk_id, health in reports.items():
        assert heartbeat(console_central, kiosk_id, **health.body()).status_code == 200
    assert [reports[k].storage for k in reports] == ["storage_full", "data_missing", "ok", "ok"]
    page = logged_in(console_central, VIEWER).page("/console/", params={"lang": "en"}).text

    def row(kiosk_id: str) -> str:
        return page[page.index(f'id="kiosk-{kiosk_id}"') :].split("</tr>", 1)[0]

    assert "Storage full or failed" in row("K-STORE-FULL")
    assert "Storage full or failed" in row("K-STORE-GONE")
    assert "Storage" not in row("K-STORE-OK") and "Clock" not in row("K-STORE-OK")
    assert "Clock wrong" in row("K-CLOCK-WRONG")


# -- lookups and exports --------------------------------------------------------------
def test_receipt_lookup_shows_status_never_personal_data(console_central) -> None:
    accepted = enroll(console_central, "R-LOOK-0001")
    assert accepted["status"] == "accepted"
    client = logged_in(console_central, VIEWER)
    r = client.page("/console/lookup", params={"receipt_no": "R-LOOK-0001"})
    assert "受付完了" in r.text and console_central.kiosk_id in r.text
    assert accepted["mykey_id"] not in r.text
    r = client.page("/console/lookup", params={"receipt_no": "R-NO-SUCH"})
    assert "この受付番号の申込はありません" in r.text
    r = client.page("/console/lookup", params={"receipt_no": "<script>x</script>"})
    assert "<script>x" not in r.text


def test_csv_export_counts_accepted_enrollments(console_central) -> None:
    enroll(console_central, "R-CSV-0001")
    client = logged_in(console_central, VIEWER)
    r = client.page("/console/export.csv", params={"period": "day"})
    assert r.headers["content-type"].startswith("text/csv")
    rows = [line.split(",") for line in r.text.strip().splitlines()]
    assert rows[0] == ["day", "campaign_id", "procedure", "service_code", "accepted"]
    assert any(
        row[1:4] == ["2022-card", "mynapoint", "waon"] and int(row[4]) >= 1 for row in rows[1:]
    )
    assert (
        OperatorClient(console_central)
        .page("/console/export.csv", allow_redirects=False)
        .status_code
        == 303
    )  # no session


def test_english_pages_on_request(console_central) -> None:
    client = logged_in(console_central, VIEWER)
    assert "Kiosks" in client.page("/console/?lang=en").text
    assert "Enrollments per hour" in client.page("/console/charts").text  # remembered


# -- the CLI --------------------------------------------------------------------------
def test_operator_add_reads_the_password_from_stdin_and_refuses_bad_input(
    console_central,
) -> None:
    def add(name: str, password: str, role: str = "viewer") -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                *_central_command(),
                "operator",
                "add",
                name,
                "--role",
                role,
                "--config",
                str(console_central.config_file),
            ],
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    short = add("ops-short", "short")
    assert short.returncode == 2 and "at least 12" in short.stderr
    again = add(ADMIN[0], "another long password")
    assert again.returncode == 2 and "exists already" in again.stderr
    bad = add("Bad Name!", "another long password")
    assert bad.returncode == 2
    assert add("ops-new", "a brand new password").returncode == 0
    assert logged_in(console_central, ("ops-new", "a brand new password"))


def test_the_kiosks_heartbeat_learns_it_is_out_of_service(console_central) -> None:
    from kiosk.heartbeat import Heartbeat, collect_health
    from offline_queue.store import QueueStatus

    cert, key = console_central.kiosk_cert("K-KIOSKSIDE-01")
    beat = Heartbeat.over_mtls(console_central.base_url, console_central.ca_cert, cert, key)
    health = collect_health(
        QueueStatus(
            counts={"dead": 2},
            oldest_pending_age_s=None,
            last_success_at=None,
            last_error_kind=None,
        ),
        printer="ok",
        reader="ok",
        version="0.1.0",
    )
    try:
        assert beat.send(health).result(timeout=20) is True and beat.out_of_service is False
        client = logged_in(console_central, ADMIN)
        client.post(
            "/console/kiosks/K-KIOSKSIDE-01/service", {"out_of_service": "1", "csrf": client.csrf()}
        )
        assert beat.send(health).result(timeout=20) is True and beat.out_of_service is True
        assert "送信不能の申込あり" in client.page("/console/").text  # its dead items
    finally:
        beat.close()


def test_the_console_of_a_central_process_on_postgresql(tmp_path, postgres_server) -> None:
    """``mynapoint-central`` itself (both listeners from ``serve``) on PostgreSQL."""
    from sim.central import free_port, start_central

    central = start_central(tmp_path, dsn=postgres_server.new_database(), operator_port=free_port())
    try:
        central.add_operator(*VIEWER, "viewer")
        assert enroll(central, "R-PG-0001")["status"] == "accepted"
        assert heartbeat(central, "K-PG-01", queue_depth=4, dead_items=1).status_code == 200
        client = logged_in(central, VIEWER)
        assert "送信不能の申込あり" in client.page("/console/").text
        assert 'data-value="1"' in client.page("/console/charts").text
        assert "受付完了" in client.page("/console/lookup", params={"receipt_no": "R-PG-0001"}).text
        assert ",waon,1" in client.page("/console/export.csv").text
        text = client.page("/metrics").text
        assert 'mynapoint_kiosk_dead_items{kiosk="K-PG-01"} 1.0' in text
        assert 'mynapoint_decisions_total{reason="-",result="accepted"} 1.0' in text
    finally:
        central.stop()


def test_logout_ends_the_session_on_the_server(console_central) -> None:
    client = logged_in(console_central, VIEWER)
    token = client.http.cookies.get("mnp_console")
    r = client.post("/console/logout", {"csrf": client.csrf()})
    assert r.url.endswith("/console/login")
    replay = OperatorClient(console_central)  # the old cookie, kept by someone
    replay.http.cookies.set("mnp_console", token)
    assert replay.page("/console/").url.endswith("/console/login?expired=1")


def test_charts_and_csv_count_each_procedure(console_central) -> None:
    """A 健康保険証 registration (issue 11) is counted under its procedure, beside the
    Mynapoint applications; the procedure filter narrows the charts and the CSV to it."""
    enroll(console_central, "R-PROC-0001")
    item, _ = console_central.make_procedure_item(console_central.pki.issue_card())
    with console_central.session() as s:
        r = s.post(
            console_central.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30
        )
    assert r.json()["results"][0]["status"] == "accepted"
    # The module's console clock was skipped hours ahead by earlier tests while central
    # stamps rows with the real time, so this row's hour already counts as closed and
    # counted: start the count afresh, as a new console process does.
    data = console_central.server.config.app.state.operator_app.state.data
    data._closed.clear()
    data._counted_until = None
    client = logged_in(console_central, VIEWER)
    page = client.page("/console/charts", params={"lang": "en"}).text
    breakdown = page[page.index('id="breakdown"') :]
    assert "Health insurance card use</td><td>-</td>" in breakdown
    assert "Mynapoint application</td><td>waon</td>" in breakdown
    rows = client.page(
        "/console/export.csv", params={"period": "day", "procedure": "health_insurance"}
    ).text.splitlines()[1:]
    assert rows and {row.split(",")[2] for row in rows} == {"health_insurance"}
    assert sum(int(row.split(",")[4]) for row in rows) >= 1


def test_the_kiosk_list_pages_with_kiosks_alerting_first(console_central, console_clock) -> None:
    """120 more kiosks: the list is pages of at most 100, and the one with an alert (its
    id last of all) leads the first page, before every kiosk without one."""
    from central.app import Heartbeat
    from central.console.data import KIOSKS_PER_PAGE

    store = console_central.server.config.app.state.service.store
    ours = [f"K-PAGE-{i:03d}" for i in range(120)]
    for kiosk_id in ours:
        dead = 1 if kiosk_id == ours[-1] else 0
        health = Heartbeat(dead_items=dead).model_dump()  # what the heartbeat path stores
        store.heartbeat(kiosk_id, health, console_clock())
    client = logged_in(console_central, VIEWER)
    first = client.page("/console/").text
    assert "page-of" in first and 'class="next-page"' in first
    rows_seen: list[str] = []
    page, alerting_done = 1, False
    while True:
        text = client.page("/console/", params={"page": page}).text
        ids = [chunk.split('"', 1)[0] for chunk in text.split('id="kiosk-')[1:]]
        assert 0 < len(ids) <= KIOSKS_PER_PAGE
        for chunk in text.split('<tr id="kiosk-')[1:]:
            has_alert = 'data-alerts=""' not in chunk.split(">", 1)[0]
            assert not (has_alert and alerting_done), "an alerting kiosk after a quiet one"
            alerting_done = alerting_done or not has_alert
        rows_seen += ids
        if 'class="next-page"' not in text:
            break
        page += 1
    assert page >= 2
    assert sorted(k for k in rows_seen if k.startswith("K-PAGE-")) == ours  # each once
    assert rows_seen.index(ours[-1]) < rows_seen.index(ours[0])
    only = client.page("/console/", params={"alerts": "1"}).text
    assert f'id="kiosk-{ours[-1]}"' in only and f'id="kiosk-{ours[0]}"' not in only
