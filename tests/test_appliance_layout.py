"""The appliance layout (issue 15) as ``install.sh --root`` leaves it in a throwaway root.

Read-only root and data partition, bounded journal, no swap, the hardware watchdog,
timesyncd, and no way out of the kiosk from a keyboard: no virtual terminals, gettys,
SysRq, Ctrl+Alt+Del or USB automount. systemd is not PID 1 here, so each file is checked
the way systemd itself reads it where a systemd tool can do that offline: the fstab
through the real ``systemd-fstab-generator`` (which writes the mount units a boot would
use), configuration drop-ins through ``systemd-analyze cat-config`` (which shows only
the files systemd reads), units through ``systemd-analyze verify``.
"""

from __future__ import annotations

import configparser
import os
import subprocess
from pathlib import Path

import pytest

from sim.appliance import UNINSTALL, mirror_host_path, run_script

pytest_plugins = ["tests.fixtures.appliance"]

GENERATOR = Path("/usr/lib/systemd/system-generators/systemd-fstab-generator")
DATA_DIRS = {
    "/var/lib/mynapoint-kiosk": "/data/state",
    "/etc/mynapoint-kiosk": "/data/config",  # kiosk.toml and keys: the site's, per kiosk
    "/var/cache/mynapoint-kiosk": "/data/cache",
    "/var/log/journal": "/data/journal",
    "/var/lib/systemd/timesync": "/data/timesync",
}
#: Ways out of the kiosk (and swap) that the image must not start.
MASKED = [
    "getty@.service",
    "serial-getty@.service",
    "autovt@.service",
    "console-getty.service",
    "debug-shell.service",
    "ctrl-alt-del.target",
    "swap.target",
    "udisks2.service",
]


def mount_units(root: Path, tmp_path: Path) -> dict[str, configparser.ConfigParser]:
    """The mount units systemd would make at boot from the root's /etc/fstab."""
    out = tmp_path / "generated"
    out.mkdir()
    env = dict(
        os.environ,
        SYSTEMD_FSTAB=str(root / "etc/fstab"),
        SYSTEMD_PROC_CMDLINE="root=LABEL=mynapoint-root ro",
    )
    done = subprocess.run(
        [str(GENERATOR), str(out), str(out), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    units = {}
    for path in out.glob("*.mount"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(path.read_text())
        units[parser["Mount"]["Where"]] = parser
    return units


def cat_config(root: Path, name: str) -> dict[str, str]:
    """``Key`` -> value of what systemd reads for ``name`` (main file and drop-ins)."""
    done = subprocess.run(
        ["systemd-analyze", f"--root={root}", "cat-config", name, "--no-pager"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    found = {}
    for line in done.stdout.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            found[key.strip()] = value.strip()
    return found


def options(unit: configparser.ConfigParser) -> set[str]:
    return set(unit["Mount"]["Options"].split(","))


@pytest.fixture(scope="module")
def mounts(installed_root: Path, tmp_path_factory: pytest.TempPathFactory):
    return mount_units(installed_root, tmp_path_factory.mktemp("fstab"))


def test_root_is_mounted_read_only(installed_root: Path) -> None:
    root_line = next(
        line.split()
        for line in (installed_root / "etc/fstab").read_text().splitlines()
        if line.split()[1:2] == ["/"]
    )
    assert "ro" in root_line[3].split(",") and "rw" not in root_line[3].split(",")


def test_data_partition_is_mounted_with_safe_options_and_never_stops_the_boot(mounts) -> None:
    data = mounts["/data"]
    assert {"noatime", "nodev", "nosuid", "noexec", "nofail", "errors=remount-ro"} <= options(data)
    assert data["Mount"]["What"] == "/dev/disk/by-label/mynapoint-data"
    assert "systemd-fsck@" in data["Unit"]["Requires"]  # checked (journal replayed) first


def test_a_slow_data_partition_is_waited_for_not_taken_for_missing(installed_root: Path) -> None:
    """15 s ran out on a loaded emulated boot: the kiosk then showed maintenance all day."""
    line = next(
        line.split()
        for line in (installed_root / "etc/fstab").read_text().splitlines()
        if line.split()[1:2] == ["/data"]
    )
    timeout = next(o for o in line[3].split(",") if o.startswith("x-systemd.device-timeout="))
    assert int(timeout.partition("=")[2].removesuffix("s")) >= 60


def test_configuration_queue_caches_journal_and_clock_are_bound_from_the_data_partition(
    mounts,
) -> None:
    for where, what in DATA_DIRS.items():
        unit = mounts[where]
        assert unit["Mount"]["What"] == what
        assert {"bind", "nofail"} <= options(unit)
        assert unit["Unit"]["Requires"] == "mynapoint-data.service"


def test_there_is_no_swap_and_swap_cannot_be_found_by_partition_type(
    installed_root: Path, mounts
) -> None:
    assert not [
        line
        for line in (installed_root / "etc/fstab").read_text().splitlines()
        if line.split()[2:3] == ["swap"]
    ]
    generators = installed_root / "etc/systemd/system-generators"
    assert os.readlink(generators / "systemd-gpt-auto-generator") == "/dev/null"


@pytest.mark.parametrize("unit", MASKED)
def test_consoles_sysrq_reboot_keys_swap_and_automount_are_masked(
    installed_root: Path, unit: str
) -> None:
    assert os.readlink(installed_root / "etc/systemd/system" / unit) == "/dev/null"


def test_no_virtual_terminals_are_made_or_kept(installed_root: Path) -> None:
    login = cat_config(installed_root, "systemd/logind.conf")
    assert (login["NAutoVTs"], login["ReserveVT"]) == ("0", "0")


def test_magic_sysrq_is_off(installed_root: Path) -> None:
    assert cat_config(installed_root, "sysctl.d")["kernel.sysrq"] == "0"


def test_journal_is_bounded_and_kept_on_the_data_partition(installed_root: Path) -> None:
    journal = cat_config(installed_root, "systemd/journald.conf")
    assert journal["Storage"] == "persistent"  # /var/log/journal is bound from /data/journal
    assert journal["SystemMaxUse"] == "64M" and journal["RuntimeMaxUse"] == "16M"
    assert journal["SystemKeepFree"] == "256M"  # never takes the queue's last room


def test_systemd_drives_the_hardware_watchdog_within_what_a_pi_can_do(
    installed_root: Path,
) -> None:
    manager = cat_config(installed_root, "systemd/system.conf")
    seconds = int(manager["RuntimeWatchdogSec"].removesuffix("s"))
    assert 0 < seconds <= 15  # bcm2835_wdt's longest timeout is 15 s
    assert manager["CtrlAltDelBurstAction"] == "none"


def test_time_comes_from_ntp_and_never_goes_before_the_install(installed_root: Path) -> None:
    wants = installed_root / "etc/systemd/system/sysinit.target.wants"
    assert (wants / "systemd-timesyncd.service").is_symlink()
    assert (installed_root / "usr/lib/clock-epoch").is_file()


def test_usb_storage_is_never_automounted_nor_takes_a_partitions_label(
    installed_root: Path,
) -> None:
    rule = installed_root / "usr/local/lib/udev/rules.d/61-mynapoint-no-usb-storage.rules"
    text = rule.read_text()
    assert 'ENV{ID_BUS}=="usb"' in text and 'ENV{UDISKS_IGNORE}="1"' in text
    assert 'OPTIONS+="link_priority=-100"' in text


def test_sync_worker_runs_only_on_the_data_partition(installed_root: Path) -> None:
    drop_in = installed_root / "usr/local/lib/systemd/system/mynapoint-sync.service.d"
    text = (drop_in / "60-appliance.conf").read_text()
    assert "ConditionPathIsMountPoint=/var/lib/mynapoint-kiosk" in text


def test_logind_finds_its_state_directory_on_the_read_only_root(installed_root: Path) -> None:
    """systemd-logind's StateDirectory=systemd/linger cannot be made at boot on a read-only /."""
    assert (installed_root / "var/lib/systemd/linger").is_dir()


def test_root_cannot_log_in_with_a_password(installed_root: Path) -> None:
    shadow = (installed_root / "etc/shadow").read_text().splitlines()
    field = next(line.split(":")[1] for line in shadow if line.startswith("root:"))
    assert field.startswith(("!", "*"))


@pytest.mark.parametrize("unit", ["mynapoint-data.service", "mynapoint-firstboot.service"])
def test_appliance_units_pass_systemd_analyze_verify(installed_root: Path, unit: str) -> None:
    for binary in ("/usr/bin/install", "/bin/sh"):
        mirror_host_path(installed_root, installed_root / binary.lstrip("/"))
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={installed_root}", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_first_boot_makes_this_kiosks_secret_on_its_data_partition(installed_root: Path) -> None:
    unit = (installed_root / "usr/local/lib/systemd/system/mynapoint-firstboot.service").read_text()
    assert "ConditionPathIsMountPoint=/etc/mynapoint-kiosk\n" in unit  # the data partition's
    assert "ConditionPathExists=!/etc/mynapoint-kiosk/keys/guard.secret" in unit
    wants = installed_root / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "mynapoint-firstboot.service").is_symlink()
    assert os.access(installed_root / "usr/local/lib/mynapoint-kiosk/firstboot", os.X_OK)


def test_an_image_carries_no_card_guard_secret(installed_root: Path) -> None:
    """One made at install time would be every kiosk's: each kiosk's first boot makes it."""
    assert not (installed_root / "etc/mynapoint-kiosk/keys/guard.secret").exists()


def kiosk_conditions(root: Path) -> list[str]:
    """The kiosk unit's Condition lines as systemd reads them (unit, then drop-ins)."""
    done = subprocess.run(
        [
            "systemd-analyze",
            f"--root={root}",
            "cat-config",
            "systemd/system/mynapoint-kiosk.service",
            "--no-pager",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    lines = [line.strip() for line in done.stdout.splitlines()]
    conditions: list[str] = []
    for line in lines:
        if line.startswith("Condition"):
            if line.endswith("="):
                conditions.clear()  # an empty assignment resets the list
            else:
                conditions.append(line)
    return conditions


@pytest.mark.parametrize(
    ("configured", "data_mounted", "starts"),
    [(True, True, True), (False, True, False), (False, False, True)],
    ids=["configured", "data-but-no-configuration", "data-partition-missing"],
)
def test_kiosk_starts_with_a_configuration_or_to_say_its_data_partition_is_missing(
    installed_root: Path, tmp_path: Path, configured: bool, data_mounted: bool, starts: bool
) -> None:
    """systemd evaluates the unit's own conditions, with the paths moved into tmp_path.

    In a private mount namespace the queue directory is a real mount point when the
    data partition is "there"; the kiosk's configuration file exists or not.
    """
    etc, state = tmp_path / "etc", tmp_path / "state"
    etc.mkdir()
    state.mkdir()
    if configured:
        (etc / "kiosk.toml").write_text("")
    conditions = [
        c.replace("/etc/mynapoint-kiosk", str(etc)).replace("/var/lib/mynapoint-kiosk", str(state))
        for c in kiosk_conditions(installed_root)
    ]
    assert conditions  # the appliance drop-in is read
    mount = f"mount -t tmpfs none {state} && " if data_mounted else ""
    done = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            mount + 'exec systemd-analyze condition "$@"',
            "sh",
            *conditions,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode == 0) == starts, done.stdout + done.stderr


@pytest.mark.slow  # a whole install (about 25 s)
def test_without_the_layout_an_install_into_a_root_writes_no_fstab_and_masks_nothing(
    tmp_path: Path, wheelhouse: Path
) -> None:
    from sim.appliance import INSTALL, base_python, debian_like_root, install_env

    root = debian_like_root(tmp_path / "root")
    args = ["--root", str(root), "--python", base_python(), "--wheelhouse", str(wheelhouse)]
    result = run_script(INSTALL, *args, "--no-appliance", env=install_env())
    assert result.returncode == 0, result.stderr
    assert not (root / "etc/fstab").exists()
    assert not (root / "etc/systemd/system/getty@.service").exists()


@pytest.mark.slow  # a copy of the installed root
def test_uninstall_gives_the_consoles_back(appliance_root: Path) -> None:
    result = run_script(UNINSTALL, "--root", str(appliance_root))
    assert result.returncode == 0, result.stderr
    for unit in MASKED:
        assert not (appliance_root / "etc/systemd/system" / unit).is_symlink(), unit
    assert not (appliance_root / "usr/local/lib/sysctl.d/60-mynapoint.conf").exists()
    assert (appliance_root / "etc/fstab").exists()  # the partitions are the image's
