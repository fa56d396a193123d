"""A kiosk whose data partition is gone shows its maintenance screen (issue 15), even
though its keys went with the partition and its configuration cannot load.

Before: the configuration check refused the missing keys (exit 78, a black screen) and,
with the Kivy home on the missing partition, Kivy itself stopped the process at import,
every two seconds. Now ``mynapoint-kiosk`` uses a scratch Kivy home, and a configuration
that fails only because the data partition is not there starts the maintenance screen
with the storage problem on the staff screen. A configuration that is wrong stays
refused. The window test runs the real command on Xvfb with a Kivy home on a real
read-only tmpfs and plays systemd's notify socket (needs root for the mount).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk import flow
from kiosk.config import EXAMPLE_PATH
from kiosk.storage import maintenance_config
from tests.fixtures.mounts import tmpfs
from tests.test_ui_session_views import ScreensStandIn

pytest_plugins = ["tests.fixtures.screen"]

REPO = Path(__file__).resolve().parents[1]


def site_config(tmp_path: Path, **replace: str) -> Path:
    """The example configuration with its queue (and keys, beside the file) under
    ``tmp_path/data``, which does not exist: a kiosk booted without its data partition."""
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    text = EXAMPLE_PATH.read_text(encoding="utf-8").replace(
        "/var/lib/mynapoint-kiosk/queue.sqlite3", str(tmp_path / "data/state/queue.sqlite3")
    )
    text = text.replace("/var/cache/mynapoint-kiosk", str(tmp_path / "data/cache"))
    text = text.replace("fullscreen = true", "fullscreen = false")
    for old, new in replace.items():
        text = text.replace(old, new)
    config = etc / "kiosk.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_missing_keys_on_a_missing_data_partition_give_maintenance(tmp_path: Path) -> None:
    config, problem = maintenance_config(str(site_config(tmp_path)))
    assert problem == "data_missing"
    assert config.queue.db_path == tmp_path / "data/state/queue.sqlite3"
    assert not (tmp_path / "data").exists()  # nothing made where the partition should be


def test_a_wrong_configuration_stays_refused(tmp_path: Path) -> None:
    typo = site_config(tmp_path, **{"idle_timeout_seconds": "idle_timout_seconds"})
    assert maintenance_config(str(typo)) is None
    (tmp_path / "data/state").mkdir(parents=True)  # the partition is there: keys are wrong
    assert maintenance_config(str(site_config(tmp_path))) is None


def test_a_missing_configuration_is_maintenance_only_on_a_read_only_root(
    tmp_path: Path, read_only_dir: Path
) -> None:
    """Where the whole configuration lives on the data partition (the image's layout)."""
    nowhere = str(tmp_path / "etc/kiosk.toml")
    gone = tmp_path / "data/state/queue.sqlite3"
    assert maintenance_config(nowhere, root=tmp_path, queue=gone) is None  # a developer's
    config, problem = maintenance_config(nowhere, root=read_only_dir, queue=gone)
    assert problem == "data_missing" and config.source == EXAMPLE_PATH


def test_the_maintenance_engine_shows_maintenance_and_tells_staff_why(tmp_path: Path) -> None:
    from screens.app import maintenance_engine

    config, problem = maintenance_config(str(site_config(tmp_path)))
    engine = maintenance_engine(config, problem)
    assert engine.session.state == flow.MAINTENANCE
    engine.app = ScreensStandIn()
    engine.person("open_staff")  # staff can open their screen from maintenance
    assert engine.app.shown[-1][0] == "staff"
    assert "データ領域が見つかりません" in engine.staff_view().result(timeout=1)["storage"]


@pytest.fixture
def read_only_dir(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as mount_point:
        yield mount_point


@pytest.mark.slow
def test_the_kiosk_command_draws_maintenance_without_its_data_partition(
    tmp_path: Path, read_only_dir: Path, xvfb, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import threading

    from tests.test_notify_kiosk import FakeSystemd

    notify_path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(notify_path)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        systemd = FakeSystemd(sock)
        listener = threading.Thread(target=systemd.run, daemon=True)
        listener.start()
        env = xvfb.env()
        env.update(
            KIVY_HOME=str(read_only_dir / "kivy"),  # as /var/lib/mynapoint-kiosk/kivy then
            NOTIFY_SOCKET=notify_path,
            PYTHONPATH=str(REPO),
        )
        kiosk = subprocess.Popen(
            [sys.executable, "-m", "screens", str(site_config(tmp_path))],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while not any("READY=1" in m for _, m in systemd.from_pid(kiosk.pid)):
                assert kiosk.poll() is None, kiosk.stdout.read().decode(errors="replace")[-2000:]
                assert time.monotonic() < deadline, "the kiosk never said READY"
                systemd.stop.wait(0.1)
            ready = next(m for _, m in systemd.from_pid(kiosk.pid) if "READY=1" in m)
            assert "STATUS=maintenance" in ready  # drawn: the maintenance screen
            # systemctl stop: a clean stop, not a refused close request and SIGKILL later
            kiosk.send_signal(signal.SIGTERM)
            out = kiosk.communicate(timeout=30)[0].decode(errors="replace")
            assert kiosk.returncode == 0
            assert any("STOPPING=1" in m for _, m in systemd.from_pid(kiosk.pid))
        finally:
            if kiosk.poll() is None:
                kiosk.kill()
                kiosk.wait()
            systemd.stop.set()
            listener.join(5)
    assert "queue_not_opened problem=data_missing" in out  # the journal says why
    assert not (tmp_path / "data").exists()
    assert os.listdir(read_only_dir) == []
