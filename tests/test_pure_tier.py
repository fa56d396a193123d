"""The pure tier runs where Kivy, pyserial and FastAPI are not installed.

The flow, the views, the catalog, the configuration, the receipt layout, the wire
format and the error kinds are plain Python: a developer can test them on any
machine, and nothing in them may start needing a window, a serial port or the
central service's web framework. This runs those test modules in a fresh pytest
process in which importing Kivy, pyserial, FastAPI or uvicorn fails as it would
were they not installed (not a mock of them: they are simply unavailable).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The pure tier: test modules that need no real part and no optional package.
PURE_TIER = (
    "tests/test_flow.py",
    "tests/test_flow_properties.py",
    "tests/test_ui_session_views.py",
    "tests/test_catalog.py",
    "tests/test_catalog_errors.py",
    "tests/test_catalog_properties.py",
    "tests/test_config.py",
    "tests/test_receipt.py",
    "tests/test_i18n.py",
    "tests/test_ui_texts.py",
    "tests/test_error_kinds.py",
    "tests/test_shape.py",
    "tests/test_doctests.py",
    "tests/test_card_model.py",
    "tests/test_escpos_parser.py",
    "tests/test_receipt_exact.py",
    "tests/test_printer_profiles.py",
    "tests/test_futures.py",
    "tests/test_queue_receipt.py",
    "tests/test_queue_keys.py",
    "tests/test_sync_ledger.py",
    "tests/test_speech.py",
)
NOT_INSTALLED = ("kivy", "serial", "fastapi", "uvicorn", "starlette")

_RUNNER = textwrap.dedent(
    """
    import importlib.abc, sys
    MISSING = set(sys.argv[1].split(","))

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in MISSING:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    import pytest
    # Only hypothesis of the installed plugins: schemathesis's would import half of the
    # web stack (3 s per start) and anyio's nothing the pure tier uses.
    plugins = ["-p", "no:cacheprovider", "-p", "_hypothesis_pytestplugin"]
    sys.exit(pytest.main(["-q", *plugins, *sys.argv[2:]]))
    """
)


def run_without_optional_packages(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUNNER, ",".join(NOT_INSTALLED), *args],
        cwd=ROOT,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_the_pure_tier_passes_without_kivy_pyserial_or_fastapi() -> None:
    """Its fast tests: the slow ones (properties, every receipt in raster) run the same
    code in the main suite and took 60 of this test's 75 s under load."""
    result = run_without_optional_packages("-m", "not slow", *PURE_TIER)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


def test_a_module_that_needs_pyserial_fails_there(tmp_path: Path) -> None:
    """The blocker works: the printer driver cannot be imported in that process."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("import drivers.printer\n\ndef test_imports():\n    pass\n")
    result = run_without_optional_packages(str(probe))
    assert result.returncode != 0 and "No module named 'serial'" in result.stdout
