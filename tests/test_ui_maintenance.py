"""Out of service reaches a real kiosk window (issue 13): an admin marks the kiosk on
the operator console, and the kiosk, whose first health round sends a heartbeat,
shows the maintenance screen instead of the welcome screen.

Real central service with its operator listener, the admin's real login and CSRF-
protected form, a real Kivy window on Xvfb.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contract import wire
from kiosk.i18n import LANGUAGES, t
from sim.central import free_port
from sim.console_client import OperatorClient
from tests.fixtures.central import start_central
from tests.fixtures.screen import central_description

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow

ADMIN = ("ops-admin", "correct horse battery staple")


@pytest.fixture
def central_out_of_service(tmp_path, test_pki):
    from kiosk.catalog import CAMPAIGNS_FILE, SERVICES_FILE

    central = start_central(
        tmp_path,
        pki=test_pki,
        operator_port=free_port(),
        services_file=SERVICES_FILE,
        campaigns_file=CAMPAIGNS_FILE,
    )
    try:
        central.add_operator(*ADMIN, "admin")
        with central.session() as s:  # the kiosk is known to central
            s.post(central.base_url + wire.HEARTBEAT_PATH, json={}, timeout=20)
        admin = OperatorClient(central)
        admin.login(*ADMIN)
        r = admin.post(
            f"/console/kiosks/{central.kiosk_id}/service",
            {"out_of_service": "1", "csrf": admin.csrf()},
        )
        assert r.status_code == 200 and "休止中" in r.text
        yield central
    finally:
        central.stop()


def test_a_kiosk_marked_out_of_service_shows_the_maintenance_screen(
    run_kiosk_ui, central_out_of_service, tmp_path: Path
) -> None:
    script = [
        ["wait", "maintenance"],
        ["expect", t("screens.maintenance.title")],
        ["shot", "19_maintenance"],
        ["tap", "lang"],  # the picker of the 13 languages
        ["tap", "lang:en"],
        ["expect", t("screens.maintenance.title", "en")],
        ["shot", "19_maintenance_en"],
    ]
    for lang in LANGUAGES:  # in every UI language
        if lang != "en":
            script += [["tap", "lang"], ["tap", f"lang:{lang}"]]
            script += [["expect", t("screens.maintenance.title", lang)]]
    report = run_kiosk_ui(
        script,
        name="maintenance",
        central=central_description(central_out_of_service, tmp_path),
    )
    assert report["error"] is None, report["error"]
    assert "maintenance" in report["screens_seen"]
