"""The appliance install run into a throwaway root, for the install tests and the benchmark.

systemd is installed here but is not PID 1, and the tests must not touch the machine,
so ``scripts/install.sh --root DIR`` installs into a temporary directory made to look
like a Debian system: the host's account files (so users are added next to the
system's own groups: render, video, input, dialout, systemd-journal) and the host's
systemd unit tree (so ``systemd-analyze verify --root`` can resolve pcscd.socket,
network-online.target...). The code is installed from a wheel built from this checkout;
its dependencies are skipped (``--no-deps``): downloading Kivy and friends would make
the test slow and network-bound, and the tests here check the installation, not them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from kiosk.config import hash_staff_pin

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "scripts" / "install.sh"
UNINSTALL = ROOT / "scripts" / "uninstall.sh"
TEMPLATE = ROOT / "systemd" / "kiosk.toml.example"
SYNC_UNIT = ROOT / "systemd" / "mynapoint-sync.service"
PACKAGE_PATHS = [
    "contract",
    "sim",
    "kiosk",
    "drivers",
    "screens",
    "offline_queue",
    "central",
    "setup.cfg",
    "pyproject.toml",
    "README.md",
]
TIMEOUT_S = 300


def base_python() -> str:
    """The interpreter the venv is made from (not the test venv itself)."""
    for name in ("python3", "python"):
        candidate = Path(sys.base_prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    return shutil.which("python3") or sys.executable


def build_wheelhouse(where: Path) -> Path:
    """The project's wheel, built offline from a copy of the checkout."""
    stage, wheels = where / "stage", where / "wheels"
    stage.mkdir()
    with tarfile.open(where / "src.tar", "w") as tar:
        for name in PACKAGE_PATHS:
            if (ROOT / name).exists():
                tar.add(ROOT / name, arcname=name, filter=_skip_caches)
    with tarfile.open(where / "src.tar") as tar:
        tar.extractall(stage, filter="data")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps"]
        + ["--disable-pip-version-check", "-w", str(wheels), str(stage)],
        check=True,
        timeout=TIMEOUT_S,
    )
    return wheels


def _skip_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name or ".egg-info" in info.name:
        return None
    return info


def debian_like_root(root: Path) -> Path:
    """An empty root with the host's accounts and systemd unit tree."""
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        if Path("/etc", name).exists():
            shutil.copy2(Path("/etc", name), root / "etc" / name)
    units = root / "usr/lib/systemd/system"
    shutil.copytree("/usr/lib/systemd/system", units, symlinks=True)
    return root


def mirror_host_path(root: Path, link: Path) -> None:
    """Make ``link`` resolve inside ``root``, as on the real system.

    The venv's ``python`` is a symlink to the interpreter it was made from (on a kiosk,
    /usr/bin/python3; here, whatever built the test venv). ``systemd-analyze --root``
    resolves it inside the root, so each hop of the chain is mirrored there: symlinks
    as symlinks, the binary itself copied.
    """
    path = "/" + str(link.relative_to(root))  # as the installed system names it
    for _ in range(40):
        inside = root / path.lstrip("/")
        if inside.is_symlink():
            path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(inside)))
            continue
        if inside.exists():
            return
        inside.parent.mkdir(parents=True, exist_ok=True)
        if Path(path).is_symlink():
            inside.symlink_to(os.readlink(path))
        else:
            shutil.copy2(path, inside)
            return


def run_script(
    script: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
    )


def install_env() -> dict[str, str]:
    return dict(os.environ, MYNAPOINT_PIP_ARGS="--no-deps")


def template() -> dict[str, Any]:
    return tomllib.loads(TEMPLATE.read_text(encoding="utf-8"))


def filled_in(doc: dict[str, Any]) -> dict[str, Any]:
    doc["kiosk_id"] = "K-0042"
    doc["staff_pin_hash"] = hash_staff_pin("2580")
    doc["store"]["name"] = "テスト店"
    doc["central"]["base_url"] = "https://central.example:8443"
    doc["central"]["status_url"] = "https://central.example/status?r={receipt_no}"
    return doc


def sync_command() -> list[str]:
    """ExecStart of mynapoint-sync.service, with this test's Python for the venv's."""
    line = next(
        line for line in SYNC_UNIT.read_text().splitlines() if line.startswith("ExecStart=")
    )
    command = line.removeprefix("ExecStart=").split()
    assert command[0] == "/opt/mynapoint-kiosk/venv/bin/python"
    return [sys.executable, *command[1:]]


def site_config(central: Any, directory: Path, db_path: Path | None = None) -> Path:
    """A complete kiosk.toml (the template, filled in) for the central fixture's kiosk.

    Keys, certificates and secrets are copied into ``directory/keys`` (as on a kiosk).
    """
    keys = directory / "keys"
    keys.mkdir()
    for name, source in (
        ("central-ca.pem", central.ca_cert),
        ("kiosk.crt", central.client_cert),
        ("kiosk.key", central.client_key),
    ):
        shutil.copyfile(source, keys / name)
    (keys / "sealing.pub.pem").write_bytes(central.sealing_public_pem)
    (keys / "jpki-ca.pem").write_bytes(
        b"".join(
            cert.public_bytes(serialization.Encoding.PEM)
            for cert in central.pki.ca_certificates.values()
        )
    )
    (keys / "guard.secret").write_bytes(secrets.token_bytes(32))
    doc = filled_in(template())
    doc["kiosk_id"] = central.kiosk_id
    doc["card"]["trusted_ca_bundle"] = str(keys / "jpki-ca.pem")
    doc["central"].update(
        base_url=central.base_url,
        ca_cert=str(keys / "central-ca.pem"),
        client_cert=str(keys / "kiosk.crt"),
        client_key=str(keys / "kiosk.key"),
        sealing_public_keys=[str(keys / "sealing.pub.pem")],
    )
    doc["queue"].update(
        db_path=str(db_path or directory / "queue.sqlite3"),
        guard_secret_path=str(keys / "guard.secret"),
    )
    path = directory / "kiosk.toml"
    path.write_text(_toml(doc), encoding="utf-8")
    return path


def _toml(doc: dict[str, Any]) -> str:
    """A small TOML writer for the template's shapes (strings, numbers, bools, lists)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for section, table in doc.items():
        if isinstance(table, dict):
            lines += ["", f"[{section}]"] + [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# MemoryDenyWriteExecute= is a seccomp filter systemd installs; the kernel's own form of
# it (prctl PR_SET_MDWE, Linux 6.3+, kept across exec) refuses the same: writable and
# executable memory, and making memory executable later.
WITH_MDWE = """
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, REFUSE_EXEC_GAIN
    sys.exit(f"PR_SET_MDWE failed: errno {ctypes.get_errno()}")
os.execv(sys.argv[1], sys.argv[1:])
"""
