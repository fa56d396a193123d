"""The central worker's unit (systemd/mynapoint-central@.service), verified and scored by
``systemd-analyze`` on a throwaway root with the host's unit tree, the unit, and the
entry-point script it starts (verify checks that it exists and is executable).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sim.appliance import debian_like_root
from tests.test_systemd import MAX_EXPOSURE_TENTHS, SOURCE, UNIT_DIR, unit_settings

UNIT = "mynapoint-central@.service"
EXEC = "opt/mynapoint-central/venv/bin/mynapoint-central"


@pytest.fixture(scope="module")
def central_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = debian_like_root(tmp_path_factory.mktemp("central") / "root")
    (root / UNIT_DIR).mkdir(parents=True)
    (root / UNIT_DIR / UNIT).write_text((SOURCE / UNIT).read_text())
    executable = root / EXEC
    executable.parent.mkdir(parents=True)
    executable.write_text((Path(sys.executable).parent / "mynapoint-central").read_text())
    executable.chmod(0o755)
    return root


@pytest.mark.slow
def test_the_worker_unit_verifies(central_root: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={central_root}", "mynapoint-central@1.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.slow
def test_the_worker_unit_exposure_score_is_low(central_root: Path) -> None:
    result = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=true",
            f"--root={central_root}",
            f"--threshold={MAX_EXPOSURE_TENTHS}",
            "--no-pager",
            "mynapoint-central@1.service",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert result.returncode == 0, result.stdout[-400:] + result.stderr
    assert score and float(score.group(1)) * 10 <= MAX_EXPOSURE_TENTHS


def test_the_worker_has_room_for_connections_and_no_core_dumps() -> None:
    settings = unit_settings(SOURCE / UNIT)
    assert int(settings["Service.LimitNOFILE"][-1]) >= 65536
    assert settings["Service.LimitCORE"] == ["0"]
    assert "--unix-socket /run/mynapoint-central/worker-%i.sock" in settings["Service.ExecStart"][0]
    tmpfiles = (SOURCE / "mynapoint-central.tmpfiles").read_text()
    assert re.search(r"^d /run/mynapoint-central 2750 mynapoint-central www-data", tmpfiles, re.M)
    nginx = (SOURCE.parent / "central" / "deploy" / "nginx.conf").read_text()
    assert "unix:/run/mynapoint-central/worker-1.sock" in nginx
