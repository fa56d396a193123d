"""A whole enrollment on the real kiosk window (Xvfb), touched through Kivy's input path.

Real parts: pcscd + vpcd with the virtual card, the virtual printer on a pty, the
reference central service over mutual TLS, the sync worker process, the outbox.
"""

from __future__ import annotations

from typing import Any

import pytest

from sim.demo import enrollment_script

pytest_plugins = ["tests.fixtures.card", "tests.fixtures.screen"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more


def test_whole_enrollment_is_accepted_and_its_receipt_printed(run_kiosk_ui, ui_central) -> None:
    account = ui_central.new_account("waon")
    report = run_kiosk_ui(enrollment_script(account))
    assert report["error"] is None, report["error"]
    assert "result" in report["screens_seen"] and report["screens_seen"][-1] == "welcome"
    (receipt,) = report["receipts"]
    text = "\n".join(receipt["text"])
    assert account[1][-4:] in text and account[1] not in text
    assert any(len(word) == 8 and word.isalnum() for word in text.split())


def _unused(_: Any) -> None:
    pass
