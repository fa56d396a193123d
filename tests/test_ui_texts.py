"""Every word a screen can show exists in both catalogs (fast: no window)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiosk import flow
from kiosk.i18n import LANGUAGES, catalog

SCREENS_DIR = Path(__file__).resolve().parents[1] / "screens"
KEY_IN_KV = re.compile(r"app\.tr\('(screens\.[a-z_.]*[a-z_])'[,)]")


def phases() -> list[str]:
    return [value for name, value in vars(flow).items() if name.startswith("PHASE_")]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_processing_phase_has_a_message(lang: str) -> None:
    missing = [p for p in phases() if f"screens.processing.{p}" not in catalog(lang)]
    assert not missing, f"flow phases without a processing message: {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_session_end_has_a_notice(lang: str) -> None:
    ends = [v for n, v in vars(flow).items() if n.startswith("END_")]
    assert all(f"screens.notice.{end}" in catalog(lang) for end in ends)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_key_named_in_a_kv_file_exists(lang: str) -> None:
    keys = {key for kv in SCREENS_DIR.glob("*.kv") for key in KEY_IN_KV.findall(kv.read_text())}
    assert keys, "no keys found: the pattern no longer matches the .kv files"
    assert not sorted(k for k in keys if k not in catalog(lang))


def test_no_screen_text_is_written_in_a_kv_file() -> None:
    literal = re.compile(r"^\s*text:\s*['\"][^'\"]+['\"]\s*$", re.M)
    offenders = [kv.name for kv in SCREENS_DIR.glob("*.kv") if literal.search(kv.read_text())]
    assert not offenders, f"literal text in {offenders}: put it in kiosk/locales/*/screens.toml"
