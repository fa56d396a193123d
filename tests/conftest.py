"""What every test session needs, and nothing heavier.

Fixture plugins (``tests/fixtures/<part>.py``, one per real part) are loaded by the
test modules that use them (``pytest_plugins = [...]`` at the top of the module), so
the pure tier (flow, views, catalog, config, receipt layout, wire, error kinds) runs
where Kivy, pyserial or FastAPI are not installed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Test modules import helpers from the fixture plugins before naming them in
# pytest_plugins; their asserts are rewritten all the same.
pytest.register_assert_rewrite("tests.fixtures")

#: This session's private pcscd lives here (tests/fixtures/card.py starts it).
PCSCD_BASE_ENV = "MYNAPOINT_TEST_PCSCD_BASE"


def pytest_configure(config: pytest.Config) -> None:
    """Point pyscard at this session's private pcscd before anything opens a context.

    pcsc-lite reads ``PCSCLITE_CSOCK_NAME`` once per process, at the first context, so
    it is set here, when pytest starts, before any test or import (even one that loads
    no card fixture) can talk to the system's pcscd.
    """
    base = Path(tempfile.mkdtemp(prefix="mynapoint-pcscd-"))
    os.environ[PCSCD_BASE_ENV] = str(base)
    os.environ["PCSCLITE_CSOCK_NAME"] = str(base / "run" / "pcscd.comm")


def pytest_unconfigure(config: pytest.Config) -> None:
    base = os.environ.pop(PCSCD_BASE_ENV, None)
    if base:
        shutil.rmtree(base, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker (``./test``: two, a file each), the real-window files first.

    Workers take files in collection order, and ``test_ui_*`` (the longest, minutes each)
    sort last by name: one worker then ran the last long file alone at the end. The longest
    work first, the short files fill in after (the order within each group stays)."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: 0 if item.path.name.startswith("test_ui_") else 1)
