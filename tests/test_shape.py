"""The project's shape: the import arrows of docs/decisions.md, Kivy in screens/ alone.

Every module outside ``tests/`` is parsed (not imported), and each ``import`` of a
top-level package of this project (or of Kivy), at module level or inside a
function, is an edge. The allowed edges are the design's; anything else fails with
the file and the import, so a wrong arrow is found where it was written.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from kiosk import flow

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "drivers", "offline_queue", "kiosk", "screens", "central", "sim", "bench")
#: What each top-level folder may import of the others (sim and bench: anything but tests).
ALLOWED = {
    "contract": set(),
    "drivers": {"contract"},
    "offline_queue": {"contract"},
    "central": {"contract"},
    "kiosk": {"contract", "drivers", "offline_queue"},
    "screens": {"kiosk"},
    "sim": {p for p in PACKAGES if p not in ("sim", "bench")} | {"kivy"},
    "bench": {p for p in PACKAGES if p != "bench"} | {"kivy"},
}
KIVY_ALLOWED = {"screens", "sim", "bench"}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level name) of every absolute import in ``path``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def import_edges() -> dict[tuple[str, str], list[str]]:
    """Every edge between top-level folders (and to kivy, tests), with where it is written."""
    targets = set(PACKAGES) | {"kivy", "tests"}
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, name in imported_packages(path):
                if name in targets and name != package:
                    edges[(package, name)].append(f"{path.relative_to(ROOT)}:{line}")
    return dict(edges)


def test_every_import_between_folders_follows_the_design() -> None:
    wrong = {
        edge: places
        for edge, places in import_edges().items()
        if edge[1] not in ALLOWED[edge[0]] and edge[1] != "kivy"
    }
    assert not wrong, "imports against the design's arrows:\n" + "\n".join(
        f"{a} -> {b}: {', '.join(places)}" for (a, b), places in sorted(wrong.items())
    )


def test_kivy_is_imported_in_screens_and_the_simulators_alone() -> None:
    wrong = {
        package: places
        for (package, target), places in import_edges().items()
        if target == "kivy" and package not in KIVY_ALLOWED
    }
    assert not wrong, f"Kivy imported outside screens/ and sim/: {wrong}"


def test_the_edge_walk_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    """The check would miss late imports if it only read module level; it does not."""
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from kivy.clock import Clock\n    import sim.card\n")
    assert imported_packages(module) == [(2, "kivy"), (3, "sim")]


@pytest.mark.parametrize("state", flow.STATES)
def test_every_flow_state_has_its_screen(state: str) -> None:
    """The screens list is the flow's states: each has a module and its rules."""
    assert (ROOT / "screens" / f"{state}.py").is_file()
    assert (ROOT / "screens" / f"{state}.kv").is_file()
