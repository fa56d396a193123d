"""scripts/install.sh and scripts/uninstall.sh, run for real into a throwaway root.

See tests/fixtures/appliance.py for how the root is made. Every path below is inside
that root; nothing on this machine is touched.
"""

from __future__ import annotations

import grp
import os
import stat
import subprocess
from pathlib import Path

import pytest

from sim.appliance import (
    INSTALL,
    UNINSTALL,
    base_python,
    debian_like_root,
    install_env,
    run_script,
)

pytest_plugins = ["tests.fixtures.appliance"]

APP = "opt/mynapoint-kiosk"
STATE = "var/lib/mynapoint-kiosk"
ETC = "etc/mynapoint-kiosk"
UDEV_RULE = "etc/udev/rules.d/60-mynapoint-printer.rules"
POLKIT_RULE = "etc/polkit-1/rules.d/60-mynapoint-pcscd.rules"


def install(root: Path, wheelhouse: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["--root", str(root), "--python", base_python(), "--wheelhouse", str(wheelhouse)]
    return run_script(INSTALL, *args, *extra, env=install_env())


def ids(root: Path) -> dict[str, int]:
    """User and group ids as the installed system knows them (its own /etc)."""
    found = {}
    for line in (root / "etc/passwd").read_text().splitlines():
        name, _, uid, *_ = line.split(":")
        found[name] = int(uid)
    for line in (root / "etc/group").read_text().splitlines():
        name, _, gid, *_ = line.split(":")
        found["group:" + name] = int(gid)
    return found


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path's type, mode, owner, size, mtime and link target."""
    seen = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        target = os.readlink(path) if path.is_symlink() else None
        seen[str(path.relative_to(root))] = (
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_size,
            st.st_mtime_ns,
            target,
        )
    return seen


def owner_and_mode(path: Path) -> tuple[int, int, str]:
    st = path.stat()
    return st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))


@pytest.mark.slow
def test_install_puts_code_units_users_template_and_printer_rule_in_place(
    installed_root: Path,
) -> None:
    root = installed_root
    assert (root / APP / "venv/bin/mynapoint-kiosk").is_file()
    assert (root / APP / "venv/bin/mynapoint-sync").is_file()
    assert (root / "usr/local/lib/systemd/system/mynapoint-kiosk.service").is_file()
    assert (root / "usr/local/lib/systemd/system/mynapoint-sync.service").is_file()
    assert {"mynapoint-kiosk", "mynapoint-sync", "group:mynapoint"} <= set(ids(root))
    assert (root / ETC / "kiosk.toml.example").is_file()
    assert "mynapoint-printer" in (root / UDEV_RULE).read_text()
    assert "mynapoint-kiosk" in (root / POLKIT_RULE).read_text()


def test_installed_code_runs_from_the_venv(installed_root: Path) -> None:
    """The venv's own interpreter imports the installed kiosk (not this checkout)."""
    python = installed_root / APP / "venv/bin/python"
    result = subprocess.run(
        [str(python), "-c", "import kiosk.notify, sys; print(kiosk.notify.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(installed_root / APP / "venv"))


def test_installed_code_has_its_catalogs_messages_and_printer_profiles(
    installed_root: Path,
) -> None:
    """The files the kiosk reads at start travel in the wheel, not only in the checkout.

    (Found booting the arm64 image: the installed kiosk and sync worker both died at
    import on a missing ``drivers/data/printer_profiles.toml``.)
    """
    python = installed_root / APP / "venv/bin/python"
    probe = (  # modules that need no third-party package (the test's venv has none)
        "import kiosk.i18n\n"
        "for lang in kiosk.i18n.LANGUAGES: assert kiosk.i18n.catalog(lang), lang\n"
        "print(len(kiosk.i18n.LANGUAGES))"
    )
    result = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == 13
    site = next((installed_root / APP / "venv/lib").glob("python3*/site-packages"))
    for name in ("services.toml", "campaigns.toml", "procedures.toml"):
        assert (site / "kiosk/data" / name).is_file(), name
    assert (site / "drivers/data/printer_profiles.toml").is_file()


def test_the_installed_kiosk_has_the_cjk_subset(installed_root: Path) -> None:
    """The fonts cut down at setup go where screens/theme.py looks for them."""
    fonts = installed_root / APP / "venv/share/mynapoint-kiosk/fonts"
    assert (fonts / "NotoSansCJK-Regular.subset.otf").stat().st_size > 100_000
    assert (fonts / "NotoSansCJK-Bold.subset.otf").stat().st_size > 100_000
    assert set("マイナポイント") <= set((fonts / "coverage.txt").read_text())


def test_the_installed_kiosk_has_its_japanese_voice_and_licence(installed_root: Path) -> None:
    """The HTS voice is copied where kiosk/voice.py looks: <venv>/share/mynapoint-kiosk/voices."""
    voices = installed_root / APP / "venv/share/mynapoint-kiosk/voices"
    assert (voices / "mei_normal.htsvoice").stat().st_size > 100_000
    assert "Creative Commons" in (voices / "LICENSE_mei_normal.htsvoice").read_text()


def test_installed_commands_name_the_final_path_not_the_build_root(installed_root: Path) -> None:
    for script in ("mynapoint-kiosk", "mynapoint-sync"):
        first_line = (installed_root / APP / "venv/bin" / script).read_text().splitlines()[0]
        assert first_line == "#!/opt/mynapoint-kiosk/venv/bin/python"


def test_services_are_enabled_at_boot(installed_root: Path) -> None:
    wants = installed_root / "etc/systemd/system/multi-user.target.wants"
    for unit in ("mynapoint-kiosk.service", "mynapoint-sync.service"):
        assert os.readlink(wants / unit) == f"/usr/local/lib/systemd/system/{unit}"


@pytest.mark.slow
def test_second_install_changes_nothing(appliance_root: Path, wheelhouse: Path) -> None:
    before = snapshot(appliance_root)
    result = install(appliance_root, wheelhouse)
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stdout
    assert snapshot(appliance_root) == before


@pytest.mark.slow
def test_new_code_is_installed_over_the_old_at_the_same_version(
    appliance_root: Path, wheelhouse: Path
) -> None:
    """An upgrade that keeps the version number (0.1.0) still replaces the code."""
    installed = next((appliance_root / APP / "venv/lib").glob("python3*/site-packages"))
    module = installed / "kiosk/notify.py"
    fresh = module.read_text()
    module.write_text("# the old code\n")
    (appliance_root / APP / ".installed-source").write_text("an older version\n")
    result = install(appliance_root, wheelhouse)
    assert result.returncode == 0, result.stderr
    assert "installed the code" in result.stdout
    assert module.read_text() == fresh


def test_configuration_is_readable_by_the_service_group_only(installed_root: Path) -> None:
    known = ids(installed_root)
    group = known["group:mynapoint"]
    assert owner_and_mode(installed_root / ETC) == (0, group, "0o750")
    assert owner_and_mode(installed_root / ETC / "keys") == (0, group, "0o750")
    assert owner_and_mode(installed_root / ETC / "kiosk.toml.example") == (0, group, "0o640")


def test_keys_and_site_configuration_are_installed_with_tight_permissions(
    appliance_root: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "kiosk.key").write_text("-----BEGIN PRIVATE KEY-----\n")
    (keys / "kiosk.key").chmod(0o644)
    config = tmp_path / "site.toml"
    config.write_text("# site\n")
    result = install(appliance_root, wheelhouse, "--keys", str(keys), "--config", str(config))
    assert result.returncode == 0, result.stderr
    group = ids(appliance_root)["group:mynapoint"]
    assert owner_and_mode(appliance_root / ETC / "keys/kiosk.key") == (0, group, "0o640")
    assert owner_and_mode(appliance_root / ETC / "kiosk.toml") == (0, group, "0o640")


def test_a_key_copied_in_by_hand_is_tightened_at_next_boot(appliance_root: Path) -> None:
    """tmpfiles re-applies the permissions (systemd-tmpfiles-setup runs at every boot)."""
    key = appliance_root / ETC / "keys/kiosk.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o644)
    subprocess.run(
        ["systemd-tmpfiles", f"--root={appliance_root}", "--create"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    group = ids(appliance_root)["group:mynapoint"]
    assert owner_and_mode(key) == (0, group, "0o640")


def test_queue_directory_is_shared_by_kiosk_and_sync_and_closed_to_others(
    installed_root: Path,
) -> None:
    known = ids(installed_root)
    passwd = {
        line.split(":")[0]: line.split(":")
        for line in (installed_root / "etc/passwd").read_text().splitlines()
    }
    uid, gid, mode = owner_and_mode(installed_root / STATE)
    assert (uid, gid, mode) == (known["mynapoint-kiosk"], known["group:mynapoint"], "0o2770")
    assert int(passwd["mynapoint-sync"][3]) == known["group:mynapoint"]


@pytest.mark.slow
def test_printer_option_names_the_sites_printer_by_vendor_product_and_serial(
    appliance_root: Path, wheelhouse: Path
) -> None:
    result = install(appliance_root, wheelhouse, "--printer-usb", "04B8:0E28:J7KF012345")
    assert result.returncode == 0, result.stderr
    rule = (appliance_root / UDEV_RULE).read_text()
    assert 'ATTRS{idVendor}=="04b8", ATTRS{idProduct}=="0e28", ATTRS{serial}=="J7KF012345"' in rule


@pytest.mark.slow
def test_rerun_without_printer_option_keeps_the_sites_printer(
    appliance_root: Path, wheelhouse: Path
) -> None:
    install(appliance_root, wheelhouse, "--printer-usb", "04b8:0e28")
    install(appliance_root, wheelhouse)
    assert 'ATTRS{idVendor}=="04b8"' in (appliance_root / UDEV_RULE).read_text()


def test_malformed_printer_option_is_refused_before_anything_is_written(
    tmp_path: Path, wheelhouse: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    result = install(root, wheelhouse, "--printer-usb", "epson")
    assert result.returncode == 2
    assert "--printer-usb must look like 0416:5011" in result.stderr
    assert list(root.iterdir()) == []


def test_unknown_option_is_refused(tmp_path: Path, wheelhouse: Path) -> None:
    result = install(tmp_path, wheelhouse, "--frobnicate")
    assert result.returncode == 2 and "unknown option --frobnicate" in result.stderr


def test_uninstall_removes_the_appliance_but_keeps_queue_and_configuration(
    appliance_root: Path,
) -> None:
    queue = appliance_root / STATE / "queue.sqlite3"
    queue.write_bytes(b"undelivered enrollments")
    result = run_script(UNINSTALL, "--root", str(appliance_root))
    assert result.returncode == 0, result.stderr
    assert not (appliance_root / APP).exists()
    assert not (appliance_root / "usr/local/lib/systemd/system/mynapoint-kiosk.service").exists()
    assert not (appliance_root / UDEV_RULE).exists()
    assert not (appliance_root / POLKIT_RULE).exists()
    assert not list((appliance_root / "etc/systemd/system").rglob("mynapoint-*"))
    assert queue.read_bytes() == b"undelivered enrollments"
    assert (appliance_root / ETC / "kiosk.toml.example").exists()


@pytest.mark.slow
def test_uninstall_purge_removes_data_configuration_and_users(appliance_root: Path) -> None:
    result = run_script(UNINSTALL, "--root", str(appliance_root), "--purge")
    assert result.returncode == 0, result.stderr
    assert not (appliance_root / STATE).exists() and not (appliance_root / ETC).exists()
    known = ids(appliance_root)
    assert not {"mynapoint-kiosk", "mynapoint-sync", "group:mynapoint"} & set(known)


def test_uninstall_twice_is_harmless(appliance_root: Path) -> None:
    run_script(UNINSTALL, "--root", str(appliance_root))
    result = run_script(UNINSTALL, "--root", str(appliance_root))
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_install_after_uninstall_keeps_the_same_users(
    appliance_root: Path, wheelhouse: Path
) -> None:
    """The queue's files stay owned by the same ids across a reinstall."""
    before = ids(appliance_root)
    run_script(UNINSTALL, "--root", str(appliance_root))
    result = install(appliance_root, wheelhouse)
    assert result.returncode == 0, result.stderr
    assert ids(appliance_root)["mynapoint-kiosk"] == before["mynapoint-kiosk"]


def test_install_refuses_to_run_without_root(tmp_path: Path) -> None:
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = subprocess.run(
        [*nobody, "bash", str(INSTALL), "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "run as root" in result.stderr


def test_host_groups_were_not_touched(installed_root: Path) -> None:
    """The throwaway root got the users; this machine did not."""
    with pytest.raises(KeyError):
        grp.getgrnam("mynapoint")


@pytest.mark.slow  # two whole installs (about 50 s)
def test_card_guard_secret_is_made_once_and_readable_by_the_service_group_only(
    tmp_path: Path, wheelhouse: Path
) -> None:
    """Installed on a machine itself (not an image: there each kiosk's first boot makes it)."""
    root = debian_like_root(tmp_path / "root")
    assert install(root, wheelhouse, "--no-appliance").returncode == 0
    secret = root / ETC / "keys/guard.secret"
    first = secret.read_bytes()
    install(root, wheelhouse, "--no-appliance")
    assert len(first) == 32 and secret.read_bytes() == first
    assert owner_and_mode(secret) == (0, ids(root)["group:mynapoint"], "0o640")


def test_help_describes_the_options_without_needing_root() -> None:
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = subprocess.run(
        [*nobody, "bash", str(INSTALL), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "--printer-usb" in result.stdout and "--wheelhouse" in result.stdout


def test_the_operator_console_ships_its_pages_and_texts(installed_root: Path) -> None:
    """Package data of central/console (issue 13): templates and both languages."""
    site = next((installed_root / APP / "venv/lib").glob("python3*/site-packages"))
    console = site / "central" / "console"
    for name in (
        "templates/base.html",
        "templates/kiosks.html",
        "locales/ja.toml",
        "locales/en.toml",
    ):
        assert (console / name).is_file(), name
