"""The operator console in a real browser: Debian's chromium, headless, driven by
Selenium through Debian's chromedriver (paths given: nothing is downloaded).

One browser for the module, one central service (clock skipped ahead instead of
waiting for a kiosk to go stale or a session to expire). Covers login and its bad
cases, the kiosk list as heartbeats arrive, the stale and paper alerts, taking a kiosk
out of service, the charts with data, the CSV download, and a scan of every page for a
決済サービスID, a security code or a certificate.

Screenshots go to ``$CONSOLE_SCREENSHOTS`` when set (``docs/screenshots`` for the docs),
else to the test's temporary directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from central.console.auth import MAX_FAILURES, SESSION_SECONDS
from contract import wire
from sim.central import CentralService
from sim.waiting import eventually
from tests.fixtures.console import ADMIN, LOCKABLE, VIEWER

pytest_plugins = ["tests.fixtures.central", "tests.fixtures.console"]

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(
        "chromium and chromium-driver are not installed (scripts/setup.sh)", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SECRETS: list[str] = []  # every 決済サービスID, security code and certificate text used here


def _spki_pin(cert_pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("CONSOLE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(console_central: CentralService, downloads: Path) -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--lang=ja",
        f"--user-data-dir={profile}",
        # trust exactly the dev server certificate of this central service
        "--ignore-certificate-errors-spki-list="
        + _spki_pin(Path(console_central.tls.server_cert).read_bytes()),
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def submit(driver: Any, button: Any) -> None:
    """Click a form's button and wait until the answer replaced the page."""
    button.click()

    def replaced(_driver: Any) -> bool:
        try:
            button.is_enabled()
        except WebDriverException:  # stale, or "node does not belong to the document"
            return True
        return False

    WebDriverWait(driver, 30).until(replaced)


def open_page(driver: Any, central: CentralService, path: str) -> None:
    driver.get(central.operator_url + path)


def log_in(driver: Any, central: CentralService, who: tuple[str, str]) -> None:
    driver.delete_all_cookies()
    open_page(driver, central, "/console/login")
    driver.find_element(By.ID, "name").send_keys(who[0])
    driver.find_element(By.ID, "password").send_keys(who[1])
    submit(driver, driver.find_element(By.ID, "login"))


def message(driver: Any) -> str:
    return driver.find_element(By.ID, "message").text


def heartbeat(central: CentralService, kiosk_id: str, **health: Any) -> dict[str, Any]:
    with central.session(kiosk_id) as s:
        r = s.post(central.base_url + wire.HEARTBEAT_PATH, json=health, timeout=20)
    assert r.status_code == 200, r.text
    return r.json()


def enroll(central: CentralService, n: int) -> None:
    items = []
    for i in range(n):
        card = central.pki.issue_card()
        user_id, codes = f"90{i:02d}8877665544{i:02d}", [f"sc-{i:02d}-73914826"]
        central.add_account("waon", user_id, codes)
        SECRETS.extend([user_id, *codes])
        der = card.certificate.public_bytes(serialization.Encoding.DER)
        SECRETS.extend(
            [
                base64.b64encode(der).decode()[:48],
                "BEGIN CERTIFICATE",
                str(card.certificate.serial_number),
            ]
        )
        item, _ = central.make_item(
            card,
            service_code="waon",
            service_user_id=user_id,
            security_codes=codes,
            receipt_no=f"R-BROWSER-{i:04d}",
        )
        items.append(item)
    with central.session() as s:
        r = s.post(central.base_url + wire.BATCH_PATH, json=wire.batch_body(items), timeout=60)
    assert all(x["status"] == "accepted" for x in r.json()["results"]), r.text


def test_login_refusals_then_login(browser, console_central, shots) -> None:
    log_in(browser, console_central, (ADMIN[0], "not the password"))
    assert "パスワードが違います" in message(browser)
    browser.save_screenshot(str(shots / "console_login_refused.png"))
    for _ in range(MAX_FAILURES):
        log_in(browser, console_central, (LOCKABLE[0], "wrong wrong wrong"))
    log_in(browser, console_central, LOCKABLE)  # the right password, but locked
    assert "ロック" in message(browser)
    log_in(browser, console_central, ADMIN)
    assert browser.find_element(By.ID, "operator").text.startswith(ADMIN[0])


def test_kiosk_list_updates_as_heartbeats_arrive_and_alerts_a_stale_kiosk(
    browser, console_central, console_clock, shots
) -> None:
    heartbeat(
        console_central, "K-0001", queue_depth=2, printer="ok", reader="ok", kiosk_version="0.1.0"
    )
    heartbeat(
        console_central,
        "K-0002",
        queue_depth=0,
        printer="printer_no_paper",
        reader="reader_lost",
        dead_items=1,
        kiosk_version="0.1.0",
    )
    log_in(browser, console_central, ADMIN)

    def depth(kiosk: str) -> str:
        browser.refresh()
        return browser.find_element(By.CSS_SELECTOR, f"#kiosk-{kiosk} .queue-depth").text

    assert depth("K-0001") == "2"
    heartbeat(console_central, "K-0001", queue_depth=5, printer="ok", reader="ok")
    eventually(lambda: depth("K-0001") == "5", 20, "the new queue depth shown")
    row = browser.find_element(By.ID, "kiosk-K-0002")
    assert set(row.get_attribute("data-alerts").split()) == {"paper", "dead", "reader"}
    assert "用紙切れ" in row.text and "リーダー切断" in row.text
    assert "stale" not in browser.find_element(By.ID, "kiosk-K-0001").get_attribute("data-alerts")
    console_clock.skip(11 * 60)  # past stale_minutes = 10
    heartbeat(
        console_central,
        "K-0002",
        printer="printer_no_paper",
        reader="reader_lost",
        dead_items=1,
        kiosk_version="0.1.0",
    )
    browser.refresh()
    alerts = browser.find_element(By.ID, "kiosk-K-0001").get_attribute("data-alerts")
    assert "stale" in alerts.split()
    assert "ハートビート途絶" in browser.find_element(By.ID, "kiosk-K-0001").text
    browser.save_screenshot(str(shots / "console_kiosks.png"))


def test_admin_marks_a_kiosk_out_of_service_and_the_kiosk_is_told(browser, console_central) -> None:
    log_in(browser, console_central, ADMIN)
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#kiosk-K-0001 .toggle-service"))
    assert "休止中" in browser.find_element(By.ID, "kiosk-K-0001").text
    assert heartbeat(console_central, "K-0001", queue_depth=5)[wire.OUT_OF_SERVICE] is True
    assert heartbeat(console_central, "K-0002")[wire.OUT_OF_SERVICE] is False


def test_a_tampered_csrf_token_or_a_viewer_changes_nothing(browser, console_central) -> None:
    log_in(browser, console_central, ADMIN)
    browser.execute_script(
        "document.querySelector('#kiosk-K-0002 input[name=csrf]').value = 'forged'"
    )
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#kiosk-K-0002 .toggle-service"))
    assert "変更は行われていません" in message(browser)
    assert heartbeat(console_central, "K-0002")[wire.OUT_OF_SERVICE] is False
    log_in(browser, console_central, VIEWER)
    assert not browser.find_elements(By.CLASS_NAME, "toggle-service")
    open_page(browser, console_central, "/console/catalog")
    assert "管理者" in message(browser)


def test_charts_render_with_data_and_csv_downloads(
    browser, console_central, downloads, shots
) -> None:
    enroll(console_central, 3)
    log_in(browser, console_central, VIEWER)
    open_page(browser, console_central, "/console/charts")
    for chart in ("per-hour", "per-day"):
        bars = browser.find_elements(By.CSS_SELECTOR, f"#{chart} rect.bar")
        assert sum(int(b.get_attribute("data-value")) for b in bars) >= 3
        assert len(bars) == (48 if chart == "per-hour" else 30)  # the whole window
        assert max(b.size["height"] for b in bars) > 10  # drawn, not just in the markup
    assert "2022-card" in browser.find_element(By.ID, "breakdown").text
    browser.save_screenshot(str(shots / "console_charts.png"))
    browser.find_element(By.LINK_TEXT, "CSV出力").click()

    def downloaded() -> Path | None:
        done = [p for p in downloads.glob("*.csv")]
        return done[0] if done else None

    csv_file = eventually(downloaded, 20, "the CSV download")
    lines = csv_file.read_text(encoding="utf-8").strip().splitlines()
    assert lines[0] == "hour,campaign_id,procedure,service_code,accepted"
    assert sum(int(line.split(",")[4]) for line in lines[1:] if ",waon," in line) >= 3


def test_receipt_lookup_and_no_page_shows_personal_data(browser, console_central, shots) -> None:
    log_in(browser, console_central, ADMIN)
    open_page(browser, console_central, "/console/lookup")
    browser.find_element(By.ID, "receipt_no").send_keys("R-BROWSER-0001")
    submit(browser, browser.find_element(By.ID, "lookup"))
    assert "受付完了" in browser.find_element(By.ID, "lookup-result").text
    browser.save_screenshot(str(shots / "console_lookup.png"))
    assert SECRETS, "the charts test enrolled with known secrets"
    pages = [
        "/console/",
        "/console/charts",
        "/console/lookup?receipt_no=R-BROWSER-0000",
        "/console/lookup?receipt_no=R-BROWSER-0002",
        "/console/catalog",
        "/console/?lang=en",
        "/console/charts?lang=en",
        "/metrics",
    ]
    for path in pages:
        open_page(browser, console_central, path)
        source = browser.page_source
        for secret in SECRETS:
            assert secret not in source, (path, secret)


def test_an_expired_session_asks_to_log_in_again(browser, console_central, console_clock) -> None:
    log_in(browser, console_central, VIEWER)
    console_clock.skip(SESSION_SECONDS + 1)
    open_page(browser, console_central, "/console/charts")
    assert browser.current_url.endswith("/console/login?expired=1")
    assert "有効期限が切れました" in message(browser)
