"""Printer profiles and the [printer] configuration: transport, profile, columns, mode.

Pure (no port): the profile data is checked against python-escpos's capability database
where it has the model, and every bad setting is a clear error naming its key."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from drivers import escpos
from drivers.printer_profiles import PROFILES, UnsupportedPrinter
from kiosk import config as kc

STORE_MODELS = ("epson-tm-t88vi", "epson-tm-t20", "epson-tm-t70", "citizen-ct-s", "star-escpos")


def parse_printer(table: dict) -> kc.PrinterConfig:
    doc = tomllib.loads(kc.EXAMPLE_PATH.read_text(encoding="utf-8"))
    doc["printer"] = table
    return kc.parse_config(doc, Path("/etc/kiosk.toml"), check_files=False).printer


def problems(table: dict) -> list[str]:
    with pytest.raises(kc.ConfigInvalid) as caught:
        parse_printer(table)
    return caught.value.problems


@pytest.mark.parametrize("profile_id", STORE_MODELS)
def test_each_store_model_gives_columns_dots_code_systems_and_cutter(profile_id):
    profile = PROFILES[profile_id]
    assert profile.columns_font_a * escpos.DOTS_PER_COLUMN <= profile.dots_per_line
    assert profile.columns_font_b > profile.columns_font_a
    assert "shift_jis" in profile.code_systems and profile.kanji
    assert profile.cutter == "partial" and profile.command_language == "esc/pos"


def test_profiles_agree_with_python_escpos_where_it_knows_the_model():
    database = json.loads(
        resources.files("escpos").joinpath("capabilities.json").read_text(encoding="utf-8")
    )["profiles"]
    checked = 0
    for profile in PROFILES.values():
        if profile.escpos_db_sibling is None:
            continue
        theirs = database[profile.escpos_db_sibling]
        assert (theirs["media"]["dpi"], theirs["media"]["width"]["pixels"]) == (
            profile.dpi,
            profile.dots_per_line,
        )
        checked += 1
    assert checked >= 3


def test_a_profile_sets_the_default_columns_and_mode():
    printer = parse_printer({"port": "/dev/usb/lp0", "transport": "usb", "profile": "epson-tm-t20"})
    assert (printer.columns, printer.mode, printer.address) == (48, "kanji", "/dev/usb/lp0")


def test_more_columns_than_the_profile_prints_is_refused_by_name():
    found = problems({"port": "/dev/ttyUSB0", "profile": "epson-tm-t88vi", "columns": 48})
    assert any("printer.columns: expected a whole number from 24 to 42" in p for p in found)


def test_star_line_mode_is_refused_with_what_to_do_instead():
    found = problems({"port": "/dev/usb/lp0", "transport": "usb", "profile": "star-line-mode"})
    [message] = [p for p in found if "printer.profile" in p]
    assert "Star Line Mode" in message and "star-escpos" in message
    with pytest.raises(UnsupportedPrinter):
        PROFILES["star-line-mode"].check_supported()


def test_an_unknown_profile_lists_the_known_ones():
    found = problems({"port": "/dev/ttyUSB0", "profile": "epson-tm-t88"})
    assert any("printer.profile: expected one of epson-tm-t88vi" in p for p in found)


def test_a_network_printer_is_given_by_host_and_port():
    printer = parse_printer({"transport": "network", "host": "192.0.2.10:9100"})
    assert (printer.transport, printer.address, printer.port) == ("network", "192.0.2.10:9100", "")


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"transport": "network"}, "printer.host: missing"),
        ({"transport": "network", "host": "printer:99999"}, "printer.host: expected"),
        ({"transport": "network", "host": "p", "port": "/dev/ttyUSB0"}, "printer.port: not used"),
        ({"transport": "usb"}, "printer.port: missing; expected a USB printer device path"),
        ({"transport": "parallel", "port": "/dev/lp0"}, "printer.transport: expected one of"),
        ({"port": "/dev/ttyUSB0", "host": "p"}, "printer.host: only used with"),
    ],
)
def test_bad_transport_settings_are_clear_errors_naming_the_key(table, expected):
    assert any(expected in p for p in problems(table)), problems(table)


def test_the_star_line_mode_profile_says_why_it_is_another_language():
    note = PROFILES["star-line-mode"].note
    assert "ESC a n feeds n lines" in note and "ESC p / ESC $" in note
