"""The examples in the modules' docstrings run as tests: documentation that must stay true.

Every module outside ``tests/`` and ``bench/`` whose source holds a ``>>>`` example is
run with :mod:`doctest`. A module that needs a package this environment lacks (Kivy
in the pure tier) is skipped, not failed: its examples run where the package is.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "drivers", "offline_queue", "kiosk", "screens", "central", "sim")
OPTIONAL = ("kivy", "serial", "fastapi", "uvicorn", "smartcard")


def modules_with_examples() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if ">>>" in path.read_text(encoding="utf-8"):
                found.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_hold(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        if error.name and error.name.split(".")[0] in OPTIONAL:
            pytest.skip(f"{name} needs {error.name}, not installed here")
        raise
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


def test_the_examples_are_found() -> None:
    """The discovery is not empty by accident (a wrong root would pass every test above)."""
    assert {"contract.wire", "kiosk.flow", "sim.waiting"} <= set(modules_with_examples())
