"""The systemd units, sysusers, tmpfiles and udev rule, as installed.

``systemd-analyze verify`` needs the unit's ExecStart binary and the units it refers
to (pcscd.socket, network-online.target): it runs with ``--root`` on the throwaway
installation of tests/fixtures/appliance.py, which has both. systemd is not PID 1
here, so the units are verified and scored, not started; what they promise at run
time (READY, watchdog pings) is tested in test_notify.py against a real socket.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from kiosk import notify

pytest_plugins = ["tests.fixtures.appliance"]

UNIT_DIR = "usr/local/lib/systemd/system"
UNITS = ["mynapoint-kiosk.service", "mynapoint-sync.service"]
SOURCE = Path(__file__).resolve().parents[1] / "systemd"
#: systemd-analyze security's 0-10 exposure scale, in tenths ("OK" ends at 4.9).
MAX_EXPOSURE_TENTHS = 25


def unit_settings(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> values, in order (systemd keys may repeat)."""
    settings: dict[str, list[str]] = defaultdict(list)
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings[f"{section}.{key}"].append(value)
    return settings


def words(settings: dict[str, list[str]], key: str) -> list[str]:
    return [w for value in settings.get(key, []) for w in value.split()]


@pytest.fixture(scope="module")
def kiosk() -> dict[str, list[str]]:
    return unit_settings(SOURCE / "mynapoint-kiosk.service")


@pytest.fixture(scope="module")
def sync() -> dict[str, list[str]]:
    return unit_settings(SOURCE / "mynapoint-sync.service")


@pytest.mark.parametrize("unit", UNITS)
def test_unit_passes_systemd_analyze_verify(installed_root: Path, unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={installed_root}", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_unit_exposure_score_is_low(installed_root: Path, unit: str) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={installed_root}"]
        + [f"--threshold={MAX_EXPOSURE_TENTHS}", "--no-pager", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert result.returncode == 0, result.stdout[-400:] + result.stderr
    assert score and float(score.group(1)) * 10 <= MAX_EXPOSURE_TENTHS


def test_installed_units_are_the_ones_in_the_repository(installed_root: Path) -> None:
    for unit in UNITS:
        assert (installed_root / UNIT_DIR / unit).read_text() == (SOURCE / unit).read_text()


def test_kiosk_tells_systemd_when_ready_and_is_watched(kiosk: dict[str, list[str]]) -> None:
    assert kiosk["Service.Type"] == ["notify"]
    assert kiosk["Service.NotifyAccess"] == ["main"]
    assert int(kiosk["Service.WatchdogSec"][0]) > 0


def test_kiosk_watchdog_leaves_room_for_two_missed_pings(kiosk: dict[str, list[str]]) -> None:
    """The Kivy clock pings at half of WatchdogSec: one late frame is not a restart."""
    usec = int(kiosk["Service.WatchdogSec"][0]) * 1_000_000
    assert notify.watchdog_interval({"WATCHDOG_USEC": str(usec)}) * 2 <= usec / 1e6


@pytest.mark.parametrize("unit", UNITS)
def test_service_restarts_always_and_never_gives_up(unit: str) -> None:
    settings = unit_settings(SOURCE / unit)
    assert settings["Service.Restart"] == ["always"]
    assert settings["Unit.StartLimitIntervalSec"] == ["0"]


def test_kiosk_runs_as_its_own_user_with_only_the_groups_it_needs(
    kiosk: dict[str, list[str]],
) -> None:
    assert kiosk["Service.User"] == ["mynapoint-kiosk"]
    assert sorted(words(kiosk, "Service.SupplementaryGroups")) == [
        "dialout",
        "input",
        "render",
        "video",
    ]


def test_kiosk_reaches_only_display_input_and_printer_devices(
    kiosk: dict[str, list[str]],
) -> None:
    assert kiosk["Service.DevicePolicy"] == ["closed"]
    allowed = {value.split()[0] for value in kiosk["Service.DeviceAllow"]}
    assert allowed == {
        "char-drm",
        "char-fb",
        "char-input",
        "/dev/mynapoint-printer",
        "char-ttyUSB",
        "char-ttyACM",
    }
    assert "PrivateDevices" not in {k.split(".")[1] for k in kiosk}


def test_kiosk_starts_after_pcscd_socket(kiosk: dict[str, list[str]]) -> None:
    assert "pcscd.socket" in words(kiosk, "Unit.After")
    assert "pcscd.socket" in words(kiosk, "Unit.Wants")


def test_sync_is_its_own_user_and_starts_when_the_network_is_online(
    sync: dict[str, list[str]], kiosk: dict[str, list[str]]
) -> None:
    assert sync["Service.User"] == ["mynapoint-sync"] != kiosk["Service.User"]
    assert sync["Service.Type"] == ["notify"] and int(sync["Service.WatchdogSec"][0]) > 0
    assert "network-online.target" in words(sync, "Unit.After")
    assert "network-online.target" in words(sync, "Unit.Wants")


def test_sync_reaches_no_devices(sync: dict[str, list[str]]) -> None:
    assert sync["Service.PrivateDevices"] == ["yes"]
    assert "Service.DeviceAllow" not in sync and "Service.SupplementaryGroups" not in sync


@pytest.mark.parametrize("unit", UNITS)
def test_service_never_writes_a_core_dump(unit: str) -> None:
    """A crash or a watchdog abort must not put a session's memory (PIN buffer, payload
    before sealing) on disk: RLIMIT_CORE 0 for the service's processes."""
    assert unit_settings(SOURCE / unit)["Service.LimitCORE"] == ["0"]


@pytest.mark.parametrize("unit", UNITS)
def test_service_cannot_gain_privileges_or_write_the_system(unit: str) -> None:
    settings = unit_settings(SOURCE / unit)
    assert settings["Service.NoNewPrivileges"] == ["yes"]
    assert settings["Service.ProtectSystem"] == ["strict"]
    assert settings["Service.ProtectHome"] == ["yes"]
    assert settings["Service.PrivateTmp"] == ["yes"]
    assert settings["Service.CapabilityBoundingSet"] == [""]
    assert "root" not in settings["Service.User"]


def test_kiosk_and_sync_share_the_queue_directory_through_their_group(
    kiosk: dict[str, list[str]], sync: dict[str, list[str]], installed_root: Path
) -> None:
    state = installed_root / "var/lib/mynapoint-kiosk"
    assert "/var/lib/mynapoint-kiosk" in " ".join(kiosk["Service.ReadWritePaths"])
    assert sync["Service.ReadWritePaths"] == ["/var/lib/mynapoint-kiosk"]
    assert kiosk["Service.Group"] == sync["Service.Group"] == ["mynapoint"]
    assert kiosk["Service.UMask"] == sync["Service.UMask"] == ["0007"]
    assert oct(state.stat().st_mode & 0o7777) == oct(0o2770)


@pytest.mark.parametrize("unit", UNITS)
def test_service_logs_only_to_journald_without_debug_detail(unit: str) -> None:
    settings = unit_settings(SOURCE / unit)
    assert settings["Service.StandardOutput"] == settings["Service.StandardError"] == ["journal"]
    assert settings["Service.LogLevelMax"] == ["info"]


@pytest.mark.parametrize("unit", UNITS)
def test_service_waits_for_the_site_configuration(unit: str) -> None:
    settings = unit_settings(SOURCE / unit)
    assert settings["Unit.ConditionPathExists"] == ["/etc/mynapoint-kiosk/kiosk.toml"]


# --- udev: the printer's stable name ------------------------------------------------------

UDEV_KEYS = {
    "ACTION",
    "SUBSYSTEM",
    "ATTRS",
    "SYMLINK",
    "GROUP",
    "MODE",
    "ENV",
    "TAG",
    "GOTO",
    "LABEL",
}
_UDEV_PAIR = re.compile(
    r'^(?P<key>[A-Z]+)(\{(?P<attr>[A-Za-z_]+)\})?(?P<op>==|!=|\+=|:=|=)"(?P<value>[^"]*)"$'
)


def udev_rules(text: str) -> list[dict[str, tuple[str, str]]]:
    """Each rule as {KEY or KEY{attr}: (operator, value)}; raises on a malformed pair."""
    rules = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rule = {}
        for pair in (p.strip() for p in line.split(", ")):
            match = _UDEV_PAIR.match(pair)
            assert match and match["key"] in UDEV_KEYS, f"bad udev pair {pair!r}"
            name = match["key"] + (f"{{{match['attr']}}}" if match["attr"] else "")
            rule[name] = (match["op"], match["value"])
        rules.append(rule)
    return rules


def test_printer_rule_names_the_printer_by_usb_vendor_and_product() -> None:
    rules = udev_rules((SOURCE / "60-mynapoint-printer.rules").read_text())
    printer = next(r for r in rules if "SYMLINK" in r)
    assert printer["SYMLINK"] == ("+=", "mynapoint-printer")
    assert printer["SUBSYSTEM"] == ("==", "tty")
    assert printer["ATTRS{idVendor}"][0] == printer["ATTRS{idProduct}"][0] == "=="
    assert printer["GROUP"] == ("=", "dialout") and printer["MODE"] == ("=", "0660")


def test_printer_is_kept_away_from_modemmanager() -> None:
    rules = udev_rules((SOURCE / "60-mynapoint-printer.rules").read_text())
    printer = next(r for r in rules if "SYMLINK" in r)
    assert printer["ENV{ID_MM_DEVICE_IGNORE}"] == ("=", "1")


# --- sysusers and tmpfiles ------------------------------------------------------------------


def test_service_users_cannot_log_in(installed_root: Path) -> None:
    passwd = (installed_root / "etc/passwd").read_text().splitlines()
    for user in ("mynapoint-kiosk", "mynapoint-sync"):
        entry = next(line.split(":") for line in passwd if line.startswith(user + ":"))
        assert entry[6] in ("/usr/sbin/nologin", "/sbin/nologin")
        assert int(entry[2]) < 1000  # a system user


def test_journal_is_kept_on_disk(installed_root: Path) -> None:
    assert (installed_root / "var/log/journal").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [["systemd-tmpfiles", "--create"], ["systemd-sysusers"]],
    ids=["tmpfiles", "sysusers"],
)
def test_tmpfiles_and_sysusers_entries_apply_without_a_warning(
    appliance_root: Path, command: list[str]
) -> None:
    result = subprocess.run(
        [*command, f"--root={appliance_root}", "mynapoint-kiosk.conf"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
