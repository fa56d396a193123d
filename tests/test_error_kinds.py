"""Error kinds: every kind the flow, a view or a screen names is raised or produced
somewhere and has its words in Japanese and English; every kind with words is one that
can really reach a person; and none is named by a string literal.

The kinds named are found by parsing the sources, not from a list kept by hand: a
comparison with a kind field (``event.kind``, ``session.input_error``, a view's
``'error_kind'``...), an assignment to one, or an argument given to a parameter called
``kind``. Names are resolved in the module they are written in, so ``PinIncorrect.kind``
counts as ``pin_incorrect``; a value known only when the code runs (``event.kind``
passed on) is the raiser's business and is not counted.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract import wire
from kiosk import errors_table
from kiosk.i18n import LANGUAGES, LOCALES_DIR, catalog

ROOT = Path(__file__).resolve().parents[1]
#: Sources that name kinds: the flow routes and produces, views and screens show.
PYTHON_SOURCES = (
    "kiosk/flow.py",
    "kiosk/views.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "screens").glob("*.py")),
)
KV_SOURCES = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "screens").glob("*.kv")))
#: Fields and view keys that hold an error kind.
KIND_FIELDS = frozenset({"kind", "input_error", "error_kind", "rejection_kind"})
#: Packages whose modules a screen's names may be resolved in without importing Kivy.
PURE_PACKAGES = ("kiosk", "contract", "drivers", "offline_queue")
TEXT_KEY = re.compile(r"^errors\.([a-z0-9_]+)\.(?:title|message|remedy)$")
#: A kv property: ``name: python expression`` on one line.
KV_PROPERTY = re.compile(r"^\s*[a-z_][a-z0-9_]*\s*:\s*(.+?)\s*$")


@dataclass(frozen=True)
class Named:
    """One place where a source names an error kind."""

    kind: str
    where: str  # path:line
    produced: bool  # the source sets it (a person will see it), else it compares with it
    literal: bool  # written as a string literal, not through a class or a constant


# --- the parser ---------------------------------------------------------------------------
def _is_kind_field(node: ast.AST) -> bool:
    """``x.kind``, ``kind``, ``view['input_error']``, ``vget(view, 'error_kind')``..."""
    if isinstance(node, ast.Attribute):
        return node.attr in KIND_FIELDS
    if isinstance(node, ast.Name):
        return node.id in KIND_FIELDS
    if isinstance(node, ast.Subscript):
        return _is_field_name(node.slice)
    if isinstance(node, ast.Call):
        return any(_is_field_name(arg) for arg in node.args)
    return False


def _is_field_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in KIND_FIELDS


def _leaves(node: ast.AST) -> Iterator[ast.AST]:
    """The values an expression may take: both sides of ``or`` and of ``a if c else b``."""
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _leaves(value)
    elif isinstance(node, ast.IfExp):
        yield from _leaves(node.body)
        yield from _leaves(node.orelse)
    else:
        yield node


def _resolve(node: ast.AST, namespace: Mapping[str, Any]) -> set[str]:
    """The kinds ``node`` stands for in its module; empty for a value known only at run time
    (``event.kind`` passed on), while a class's ``PinIncorrect.kind`` is known here."""
    try:
        value = _evaluate(node, namespace)
    except Exception:  # a local name, an attribute of the event: the raiser decides
        return set()
    if isinstance(value, str):
        return {value}
    if isinstance(value, (set, frozenset, tuple, list)) and all(isinstance(v, str) for v in value):
        return set(value)
    return set()


def _kind_parameter(call: ast.Call, namespace: Mapping[str, Any]) -> ast.AST | None:
    """The argument ``call`` passes to a parameter called ``kind``, if its callee has one."""
    for keyword in call.keywords:
        if keyword.arg == "kind":
            return keyword.value
    try:
        names = list(inspect.signature(_evaluate(call.func, namespace)).parameters)
    except Exception:  # not a callee of this module (a method of a local, a builtin)
        return None
    if "kind" not in names or names.index("kind") >= len(call.args):
        return None
    return call.args[names.index("kind")]


def _evaluate(node: ast.AST, namespace: Mapping[str, Any]) -> Any:
    """The value of a name or constant expression in the module's namespace (calls none)."""
    if any(isinstance(inner, ast.Call) for inner in ast.walk(node)):
        raise ValueError("not a constant expression")
    code = compile(ast.Expression(node), "<kind>", "eval")
    return eval(code, {"__builtins__": {}}, dict(namespace))  # noqa: S307


def named_kinds(
    tree: ast.AST, where: str, namespace: Mapping[str, Any], line: int = 0
) -> Iterator[Named]:
    """Every kind the parsed source ``tree`` names, with where and how."""
    for node in ast.walk(tree):
        found: list[tuple[ast.AST, bool]] = []
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_kind_field(side) for side in sides):
                found += [(side, False) for side in sides]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                pairs = [(target, node.value)]
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = list(zip(target.elts, node.value.elts, strict=False))
                found += [(value, True) for aim, value in pairs if _is_kind_field(aim)]
        elif isinstance(node, ast.Call):
            argument = _kind_parameter(node, namespace)
            if argument is not None:
                found.append((argument, True))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text_key = TEXT_KEY.match(node.value)
            if text_key:
                yield Named(text_key[1], f"{where}:{line + node.lineno}", False, True)
        for expression, produced in found:
            for leaf in _leaves(expression):
                literal = isinstance(leaf, ast.Constant) or (
                    isinstance(leaf, (ast.Tuple, ast.List, ast.Set))
                    and all(isinstance(e, ast.Constant) for e in leaf.elts)
                )
                for kind in _resolve(leaf, namespace):
                    yield Named(kind, f"{where}:{line + leaf.lineno}", produced, literal)


def _namespace_of(path: str, tree: ast.Module) -> dict[str, Any]:
    """The names a module's code sees: the module itself if pure, else what it imports
    from the pure packages (a screen is never imported here: that would need Kivy)."""
    if path.startswith("kiosk/"):
        return vars(importlib.import_module(path[:-3].replace("/", ".")))
    namespace: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PURE_PACKAGES):
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is None:
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                namespace[alias.asname or alias.name] = value
    return namespace


def kinds_in_python(path: str) -> list[Named]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), path)
    return list(named_kinds(tree, path, _namespace_of(path, tree)))


def kinds_in_kv(path: str, text: str | None = None) -> list[Named]:
    """Each one-line kv property is a Python expression; parse those that are."""
    text = (ROOT / path).read_text(encoding="utf-8") if text is None else text
    found: list[Named] = []
    for number, line in enumerate(text.splitlines()):
        match = KV_PROPERTY.match(line)
        if not match:
            continue
        try:
            tree = ast.parse(match[1], mode="eval")
        except SyntaxError:
            continue
        found += named_kinds(tree, path, {}, line=number)
    return found


def every_naming() -> list[Named]:
    found = [named for path in PYTHON_SOURCES for named in kinds_in_python(path)]
    return found + [named for path in KV_SOURCES for named in kinds_in_kv(path)]


# --- what is raised, produced and written ----------------------------------------------
def raised() -> set[str]:
    """Kinds a person can meet from an error: each KioskError class's, and central's reasons."""
    return errors_table.raised_kinds() | set(wire.REJECTION_REASONS)


def produced() -> set[str]:
    """Kinds the flow and the views set themselves (no error carried them)."""
    return {named.kind for named in every_naming() if named.produced}


def kinds_with_words(lang: str) -> set[str]:
    with (LOCALES_DIR / lang / "errors.toml").open("rb") as f:
        return set(tomllib.load(f))


def _report(namings: list[Named]) -> str:
    return "\n".join(f"  {n.kind} ({n.where})" for n in sorted(namings, key=lambda n: n.kind))


# --- the checks ---------------------------------------------------------------------------
def test_every_kind_compared_with_is_raised_or_produced_somewhere() -> None:
    known = raised() | produced()
    ghosts = [n for n in every_naming() if not n.produced and n.kind not in known]
    assert not ghosts, "kinds routed on or shown that nothing raises or produces:\n" + _report(
        ghosts
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_kind_that_can_reach_a_person_has_title_message_and_remedy(lang: str) -> None:
    texts = catalog(lang)
    kinds = raised() | {named.kind for named in every_naming()}
    missing = sorted(
        f"{kind}.{part}"
        for kind in kinds
        for part in ("title", "message", "remedy")
        if f"errors.{kind}.{part}" not in texts
    )
    assert not missing, f"errors.toml ({lang}) lacks: {missing}"
    for kind in kinds:
        assert errors_table.describe(kind, lang).kind == kind


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_kind_with_words_is_raised_or_produced_somewhere(lang: str) -> None:
    unused = sorted(kinds_with_words(lang) - raised() - produced())
    assert not unused, f"errors.toml ({lang}) has words for kinds nothing raises: {unused}"


def test_classes_that_share_a_kind_agree_on_whether_trying_again_may_work() -> None:
    retryable: dict[str, set[bool]] = {}
    for cls in errors_table.error_classes():
        retryable.setdefault(cls.kind, set()).add(cls.retryable)
    assert not {kind: flags for kind, flags in retryable.items() if len(flags) > 1}


def test_no_source_names_a_kind_by_a_string_literal() -> None:
    literals = [n for n in every_naming() if n.literal]
    assert not literals, "kinds written as literals (take them from the class):\n" + _report(
        literals
    )


# --- the parser itself ----------------------------------------------------------------------
def test_the_parser_sees_the_flow_route_on_the_card_errors() -> None:
    compared = {n.kind for n in kinds_in_python("kiosk/flow.py") if not n.produced}
    assert {"card_removed", "pin_incorrect", "pin_blocked"} <= compared


def test_the_parser_sees_a_kind_compared_in_a_kv_rule() -> None:
    rule = "    text: 'x' if root.vget(root.view, 'input_error') in ('pin_wrong',) else ''\n"
    assert [(n.kind, n.produced, n.literal) for n in kinds_in_kv("x.kv", rule)] == [
        ("pin_wrong", False, True)
    ]


def test_the_parser_sees_a_kind_produced_through_a_kind_parameter() -> None:
    def fail(session: object, kind: str, next_step: str) -> None: ...

    source = "x = 1\nfail(session, 'disk_on_fire', 'end')\n"
    found = named_kinds(ast.parse(source), "x.py", {"fail": fail})
    assert [(n.kind, n.produced, n.where) for n in found] == [("disk_on_fire", True, "x.py:2")]
