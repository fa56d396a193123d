"""The virtual card in the vpcd reader: placed, removed, run from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from drivers import jpki
from sim.waiting import eventually

pytest_plugins = ["tests.fixtures.card"]


def _vcard(*args, env=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "sim.card", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        **kwargs,
    )


@pytest.mark.slow
def test_inserted_card_is_seen_by_pcscd_and_removed_card_is_not(make_virtual_card, pcscd):
    card = make_virtual_card()
    assert pcscd.card_present()
    card.remove()
    pcscd.wait_card(False)


@pytest.mark.slow
def test_card_records_every_apdu_it_receives(virtual_card, pcscd):
    from smartcard.System import readers

    reader = next(r for r in readers() if str(r) == pcscd.reader_name)
    connection = reader.createConnection()
    connection.connect()
    try:
        connection.transmit(list(jpki.select_ap(jpki.JPKI_AID)))
        connection.transmit(list(jpki.select_ef(jpki.EF_TOKEN)))
    finally:
        connection.disconnect()
    assert virtual_card.apdu_log == [
        (jpki.select_ap(jpki.JPKI_AID), bytes.fromhex("9000")),
        (jpki.select_ef(jpki.EF_TOKEN), bytes.fromhex("9000")),
    ]


@pytest.mark.slow
def test_card_answers_with_the_my_number_card_atr(virtual_card, pcscd):
    from smartcard.System import readers

    reader = next(r for r in readers() if str(r) == pcscd.reader_name)
    connection = reader.createConnection()
    connection.connect()
    try:
        assert bytes(connection.getATR()) == jpki.ATR_MYNUMBER_CARD
    finally:
        connection.disconnect()


@pytest.mark.slow
def test_card_comes_back_by_itself_after_pcscd_restarts(virtual_card, pcscd):
    pcscd.restart()
    pcscd.wait_card(True)


def test_command_line_makes_a_card(tmp_path, test_pki):
    result = _vcard("new", "--pki", str(test_pki.directory), "--out", str(tmp_path / "c"))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {
        "auth_cert.der",
        "auth_key.pem",
        "ca_cert.der",
        "card.json",
    }


@pytest.mark.slow
def test_command_line_card_is_placed_and_pulled_by_signal_and_control_socket(
    tmp_path, test_pki, pcscd
):
    card_dir = tmp_path / "c"
    assert _vcard("new", "--pki", str(test_pki.directory), "--out", str(card_dir)).returncode == 0
    control = tmp_path / "ctl.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.card", "run", "--card", str(card_dir)]
        + ["--port", str(pcscd.port), "--control", str(control)],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=pcscd.env,
    )
    try:
        pcscd.wait_card(True)
        eventually(control.exists, 10, "the card's control socket")
        result = _vcard("ctl", "--control", str(control), "remove")
        assert "inserted=False" in result.stdout
        pcscd.wait_card(False)
        os.kill(proc.pid, signal.SIGUSR1)  # toggles: placed again
        pcscd.wait_card(True)
    finally:
        proc.terminate()
        proc.wait(10)
    pcscd.wait_card(False)
