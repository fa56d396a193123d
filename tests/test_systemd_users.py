"""Two users, one queue: the kiosk user enqueues, the sync user delivers.

The units run the kiosk and the sync worker as different users sharing the group
``mynapoint``; the state directory is setgid to it, the database file is made 0660 by
tmpfiles, and both run with UMask=0007. Here a copy of the throwaway installation
(tests/fixtures/appliance.py) is used as it is: its users' ids, its directories as
systemd-tmpfiles made them, its configuration directory re-locked by the same tmpfiles
rules after the keys are put in. Each side runs for real as its own user (``setpriv``;
systemd sets User=, Group=, UMask= the same way), the sync side with the sync unit's
exact command, against the real central service; once also inside the sync unit's
sandbox, rebuilt with the kernel features systemd uses for it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sim.appliance import ROOT, WITH_MDWE, site_config, sync_command
from sim.enrollments import new_card, signed_enrollment

pytest_plugins = ["tests.fixtures.appliance", "tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

OTHER_UID = 61003  # a user of the machine outside the group
PROBE_UID, PROBE_GID = 61002, 61000


def as_user(uid: int, gid: int, command: list[str]) -> list[str]:
    """``command`` as uid:gid with no other groups (run it with the units' umask, 0007)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *command]


def run_as(
    uid: int, gid: int, command: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess:
    return subprocess.run(
        as_user(uid, gid, command),
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=120,
        umask=0o007,
    )


def sync_unit_command(python: str) -> list[str]:
    return [python, *sync_command()[1:]]


_EXEC_AGAIN = """
import os, sys
os.execv(sys.argv[1], [sys.argv[1], "-c", "import kiosk.config, offline_queue.sync"])
"""


def _runs_unprivileged(python: str) -> bool:
    """Whether an unprivileged user can run ``python``, also exec'ing it itself."""
    probe = subprocess.run(
        as_user(PROBE_UID, PROBE_GID, [python, "-c", _EXEC_AGAIN, python]),
        capture_output=True,
        cwd="/",
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    return probe.returncode == 0


@pytest.fixture(scope="module")
def python() -> Iterator[str]:
    """An interpreter other users can run, with this checkout's dependencies.

    The test's own may live where only root can reach (pyenv under /root); then Debian's
    python3 of the same minor version (the one a kiosk runs) gets a throwaway venv whose
    path includes the test venv's site-packages.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to run processes as other users")
    if _runs_unprivileged(sys.executable):
        yield sys.executable
        return
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        pytest.skip(f"{sys.executable} is not reachable by other users and {system} is missing")
    where = Path(tempfile.mkdtemp(prefix="mynapoint-python-"))
    where.chmod(0o755)
    try:
        venv = where / "venv"
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
        site = next(venv.glob("lib/python3*/site-packages"))
        ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
        (site / "mynapoint-test.pth").write_text("\n".join(ours) + "\n")
        for path in [where, *where.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        interpreter = str(venv / "bin" / "python")
        if not _runs_unprivileged(interpreter):
            pytest.skip("no interpreter with this checkout's dependencies runs unprivileged")
        yield interpreter
    finally:
        shutil.rmtree(where, ignore_errors=True)


@dataclass
class Appliance:
    root: Path
    kiosk_uid: int
    sync_uid: int
    gid: int
    config: Path
    env: dict[str, str]

    @property
    def queue(self) -> Path:
        return self.root / "var/lib/mynapoint-kiosk/queue.sqlite3"


@pytest.fixture
def appliance(installed_root: Path, central_service) -> Iterator[Appliance]:
    """The installed root, copied where other users can reach it, set up for the central
    fixture's kiosk, permissions re-applied by the appliance's own tmpfiles rules."""
    top = Path(tempfile.mkdtemp(prefix="mynapoint-users-"))
    top.chmod(0o755)
    root = top / "root"
    subprocess.run(["cp", "-a", str(installed_root), str(root)], check=True, timeout=120)
    root.chmod(0o755)
    etc = root / "etc/mynapoint-kiosk"
    (top / "site").mkdir()
    made = site_config(
        central_service, top / "site", db_path=root / "var/lib/mynapoint-kiosk/queue.sqlite3"
    )
    for path in (top / "site/keys").iterdir():
        shutil.copyfile(path, etc / "keys" / path.name)
    config = etc / "kiosk.toml"
    config.write_text(made.read_text().replace(str(top / "site/keys"), str(etc / "keys")))
    shutil.rmtree(top / "site")
    subprocess.run(
        ["systemd-tmpfiles", f"--root={root}", "--create", "mynapoint-kiosk.conf"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    ids = {}
    for line in (root / "etc/passwd").read_text().splitlines():
        name, _, uid, gid, *_ = line.split(":")
        ids[name] = (int(uid), int(gid))
    env = dict(os.environ, MYNAPOINT_CONFIG=str(config), PYTHONPATH=str(ROOT))
    env["HOME"] = str(root / "var/lib/mynapoint-kiosk")
    env.pop("NOTIFY_SOCKET", None)
    yield Appliance(
        root,
        kiosk_uid=ids["mynapoint-kiosk"][0],
        sync_uid=ids["mynapoint-sync"][0],
        gid=ids["mynapoint-kiosk"][1],
        config=config,
        env=env,
    )
    shutil.rmtree(top, ignore_errors=True)


_KIOSK_ENQUEUES = """
import base64, json, sys
from kiosk.config import load_config
from offline_queue.store import Outbox
from contract.wire import SealingKey

config = load_config()
item = json.load(open(sys.argv[1]))
keys = [SealingKey.from_pem(pem) for pem in config.read_sealing_keys()]
with Outbox(config.queue.db_path, keys, config.kiosk_id, config.read_guard_secret()) as outbox:
    queued = outbox.enqueue(item["payload"], *(base64.b64decode(item[k]) for k in
                            ("certificate", "signature", "issuer_serial_key")))
print(queued.enrollment_id)
"""


def _enqueue_as_kiosk(appliance: Appliance, python: str, enrollment: Any) -> str:
    """The kiosk user enqueues one signed enrollment; returns its id."""
    item = appliance.root / "item.json"
    item.write_text(
        json.dumps(
            {
                "payload": enrollment.payload,
                "certificate": base64.b64encode(enrollment.certificate_der).decode(),
                "signature": base64.b64encode(enrollment.signature).decode(),
                "issuer_serial_key": base64.b64encode(enrollment.issuer_serial_key).decode(),
            }
        )
    )
    item.chmod(0o644)
    kiosk = run_as(
        appliance.kiosk_uid,
        appliance.gid,
        [python, "-c", _KIOSK_ENQUEUES, str(item)],
        appliance.env,
    )
    assert kiosk.returncode == 0, kiosk.stderr
    return kiosk.stdout.strip()


def test_kiosk_user_enqueues_and_sync_user_delivers_through_the_shared_group(
    central_service, appliance: Appliance, python: str
) -> None:
    service_code, user_id, codes = central_service.new_account()
    enrollment = signed_enrollment(
        new_card(central_service.pki),
        central_service.kiosk_id,
        service_code=service_code,
        service_user_id=user_id,
        security_codes=tuple(codes),
    )
    enrolled = _enqueue_as_kiosk(appliance, python, enrollment)
    sync = run_as(
        appliance.sync_uid, appliance.gid, [*sync_unit_command(python), "--once"], appliance.env
    )
    assert sync.returncode == 0, sync.stderr
    with sqlite3.connect(f"file:{appliance.queue}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT state FROM enrollments WHERE enrollment_id = ?", [enrolled]
        ).fetchone()
    assert row == ("accepted",)


_HOLD_QUEUE_OPEN = """
import sys
from offline_queue.db import open_queue_db
db = open_queue_db(sys.argv[1])  # WAL: the -wal and -shm files exist while it is open
db.execute("SELECT count(*) FROM enrollments").fetchone()
print("open", flush=True)
sys.stdin.read()
"""


def test_queue_files_are_group_read_write_and_closed_to_other_users(
    appliance: Appliance, python: str
) -> None:
    holder = subprocess.Popen(
        as_user(
            appliance.kiosk_uid,
            appliance.gid,
            [python, "-c", _HOLD_QUEUE_OPEN, str(appliance.queue)],
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
        env=appliance.env,
        umask=0o007,
    )
    try:
        assert holder.stdout.readline() == "open\n"
        files = [p for p in appliance.queue.parent.iterdir() if p.name.startswith("queue.sqlite3")]
        modes = {p.name: (p.stat().st_gid, stat.S_IMODE(p.stat().st_mode) & 0o067) for p in files}
        stranger = run_as(OTHER_UID, OTHER_UID, ["cat", str(appliance.queue)], appliance.env)
    finally:
        holder.communicate(timeout=60)
    assert modes == {
        name: (appliance.gid, 0o060)
        for name in ("queue.sqlite3", "queue.sqlite3-wal", "queue.sqlite3-shm")
    }
    assert stranger.returncode != 0 and "Permission denied" in stranger.stderr


def test_keys_are_readable_by_the_service_users_only(appliance: Appliance) -> None:
    key = appliance.config.parent / "keys/kiosk.key"
    for uid, gid, allowed in (
        (appliance.sync_uid, appliance.gid, True),
        (OTHER_UID, OTHER_UID, False),
    ):
        result = run_as(uid, gid, ["cat", str(key)], appliance.env)
        assert (result.returncode == 0) is allowed, result.stderr


# The sync unit's sandbox, made with the kernel features systemd uses for it: a private
# mount namespace where everything is read-only (ProtectSystem=strict) but the queue
# directory (ReadWritePaths=) and /tmp (PrivateTmp=: writable, if not private here),
# /home empty (ProtectHome=), no new privileges and no capabilities
# (NoNewPrivileges=, CapabilityBoundingSet=), W^X memory (MemoryDenyWriteExecute=).
_SANDBOX = """
set -e
mount --make-rprivate /
mount --bind /tmp /tmp
mount --bind "$APPLIANCE" "$APPLIANCE"
mount -o remount,bind,ro "$APPLIANCE"
mount --bind "$STATE" "$STATE"
mount -o remount,bind,rw "$STATE"
mount -o remount,bind,ro /
mount -t tmpfs -o ro,mode=0755 tmpfs /home
exec "$@"
"""


def test_sync_worker_delivers_inside_the_units_sandbox(
    central_service, appliance: Appliance, python: str
) -> None:
    service_code, user_id, codes = central_service.new_account()
    enrollment = signed_enrollment(
        new_card(central_service.pki),
        central_service.kiosk_id,
        service_code=service_code,
        service_user_id=user_id,
        security_codes=tuple(codes),
    )
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("mount namespaces are not allowed here")
    kiosk = _enqueue_as_kiosk(appliance, python, enrollment)
    state = str(appliance.queue.parent)
    env = dict(appliance.env, APPLIANCE=str(appliance.root), STATE=state)
    confined = [
        "setpriv",
        f"--reuid={appliance.sync_uid}",
        f"--regid={appliance.gid}",
        "--clear-groups",
        "--no-new-privs",
        "--bounding-set=-all",
        "--inh-caps=-all",
        "--",
        python,
        "-c",
        WITH_MDWE,
        *sync_unit_command(python),
        "--once",
    ]
    result = subprocess.run(
        ["unshare", "--mount", "--", "sh", "-c", _SANDBOX, "sandbox", *confined],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
        timeout=120,
        umask=0o007,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with sqlite3.connect(f"file:{appliance.queue}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT state FROM enrollments WHERE enrollment_id = ?", [kiosk]
        ).fetchone()
    assert row == ("accepted",)
