"""Configuration: one TOML file, every bad value named with what is expected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kiosk import config as kc

FILES = (
    "jpki-ca.pem",
    "central-ca.pem",
    "kiosk.crt",
    "kiosk.key",
    "sealing-2026.pem",
    "guard.secret",
)


def write_config(tmp_path: Path, *edits: tuple[str, str], files: tuple[str, ...] = FILES) -> Path:
    """The example config with regex edits applied, beside the files it names."""
    text = kc.EXAMPLE_PATH.read_text(encoding="utf-8")
    for pattern, replacement in edits:
        text, count = re.subn(pattern, replacement, text, flags=re.M)
        assert count, f"edit {pattern!r} matched nothing"
    for name in files:
        (tmp_path / name).write_bytes(b"x" * 32)
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, *edits: tuple[str, str], **kwargs) -> list[str]:
    with pytest.raises(kc.ConfigInvalid) as caught:
        kc.load_config(write_config(tmp_path, *edits, **kwargs))
    assert caught.value.kind == "config_invalid"
    return caught.value.problems


def test_example_config_is_valid(tmp_path: Path) -> None:
    config = kc.load_config(write_config(tmp_path))
    assert (config.kiosk_id, config.printer.baudrate, config.store.primary_color) == (
        "K-0001",
        115200,
        "#1A5FB4",
    )


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = kc.load_config(write_config(tmp_path))
    assert config.card.trusted_ca_bundle == tmp_path / "jpki-ca.pem"
    assert config.central.sealing_public_keys == (tmp_path / "sealing-2026.pem",)


def test_path_comes_from_the_environment_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(kc.ENV_VAR, str(write_config(tmp_path)))
    assert kc.load_config().source == tmp_path / "kiosk.toml"


def test_missing_file_says_where_the_example_is(tmp_path: Path) -> None:
    with pytest.raises(kc.ConfigInvalid) as caught:
        kc.load_config(tmp_path / "nope.toml")
    assert "kiosk.example.toml" in str(caught.value)


def test_broken_toml_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text("kiosk_id = \n", encoding="utf-8")
    with pytest.raises(kc.ConfigInvalid, match="not valid TOML"):
        kc.load_config(path)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ((r"^baudrate = \d+", "baudrate = 12345"), "printer.baudrate: expected one of 9600"),
        ((r"^mode = .*", 'mode = "ascii"'), "printer.mode: expected one of kanji, raster"),
        ((r"^columns = .*", "columns = 300"), "printer.columns: expected a whole number"),
        ((r"^port = .*", "port = 5"), "printer.port: expected a serial device path"),
        ((r"^# rtscts = .*", "rtscts = 1"), "printer.rtscts: expected true or false"),
        (
            (r"^base_url = .*", 'base_url = "http://c.example"'),
            "central.base_url: expected an https",
        ),
        ((r"^status_url = .*", 'status_url = "https://c.example/s"'), "{receipt_no}"),
        ((r"^sealing_public_keys = .*", "sealing_public_keys = []"), "central.sealing_public_keys"),
        ((r"^timeout = .*", 'timeout = "fast"'), "central.timeout: expected a number"),
        ((r"^language = .*", 'language = "fr"'), "language: unknown language code 'fr'"),
        ((r"^language = .*", 'language = "zh"'), "language: unknown language code 'zh'"),
        ((r"^language = .*", 'language = "pt-br"'), "language: unknown language code 'pt-br'"),
        ((r"^language = .*", "language = 7"), "language: expected a language code"),
        ((r"^kiosk_id = .*", 'kiosk_id = "K 1/2"'), "kiosk_id: expected 1-32 letters"),
        ((r"^reader_pattern = .*", 'reader_pattern = "*"'), "card.reader_pattern"),
        ((r"^transceive_timeout = .*", "transceive_timeout = 0"), "card.transceive_timeout"),
        (
            (r"^primary_color = .*", 'primary_color = "blue"'),
            "store.primary_color: expected a colour",
        ),
        ((r"^width = .*", "width = 100"), "display.width: expected pixels"),
        ((r"^fullscreen = .*", 'fullscreen = "yes"'), "display.fullscreen: expected true or false"),
        ((r"^idle_timeout_seconds = .*", "idle_timeout_seconds = 5"), "idle_timeout_seconds"),
        ((r"^staff_pin_hash = .*", 'staff_pin_hash = "2580"'), "staff_pin_hash: expected a hash"),
        ((r"^kiosk_id = .*\n", ""), "kiosk_id: missing"),
    ],
)
def test_bad_value_names_its_key_and_what_is_expected(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    assert any(expected in problem for problem in problems(tmp_path, edit))


def test_countdown_must_be_shorter_than_the_idle_timeout(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        (r"^idle_timeout_seconds = .*", "idle_timeout_seconds = 30"),
        (r"^countdown_seconds = .*", "countdown_seconds = 40"),
    )
    assert any("countdown_seconds: expected less than idle_timeout_seconds" in p for p in found)


def test_section_that_is_not_a_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(kc.ConfigInvalid) as caught:
        kc.parse_config({"printer": 3}, tmp_path / "kiosk.toml", check_files=False)
    assert "kiosk.toml: printer: expected a table [printer]; got 3" in caught.value.problems


def test_misspelt_key_is_reported_with_a_suggestion(tmp_path: Path) -> None:
    found = problems(tmp_path, (r"^baudrate =", "baudrat ="))
    assert "kiosk.toml: unknown key 'printer.baudrat' (did you mean 'printer.baudrate'?)" in found


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, (r"^baudrate = \d+", "baudrate = 1"), (r"^mode = .*", 'mode = "x"'))
    assert len(found) == 2


def test_missing_file_named_by_a_key_is_reported(tmp_path: Path) -> None:
    found = problems(tmp_path, files=tuple(f for f in FILES if f != "jpki-ca.pem"))
    assert any(
        p.startswith("kiosk.toml: card.trusted_ca_bundle: expected an existing file") for p in found
    )


def test_short_guard_secret_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    (tmp_path / "guard.secret").write_bytes(b"short")
    with pytest.raises(
        kc.ConfigInvalid, match="queue.guard_secret_path: expected a file of at least 16"
    ):
        kc.load_config(path)


def test_queue_database_need_not_exist_yet(tmp_path: Path) -> None:
    path = write_config(tmp_path, (r"^db_path = .*", 'db_path = "new/queue.sqlite3"'))
    assert kc.load_config(path).queue.db_path == tmp_path / "new" / "queue.sqlite3"


def test_staff_pin_is_checked_against_its_hash() -> None:
    stored = kc.hash_staff_pin("2580")
    assert kc.verify_staff_pin(stored, bytearray(b"2580"))
    assert not kc.verify_staff_pin(stored, bytearray(b"2581"))
    assert "2580" not in stored


def test_check_command_prints_the_problems(tmp_path: Path, capsys) -> None:
    assert kc.main(["check", str(write_config(tmp_path, (r"^mode = .*", 'mode = "x"')))]) == 1
    assert "printer.mode" in capsys.readouterr().err
