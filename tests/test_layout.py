"""The package's modules import one another in one direction: no circle, not even through an
import inside a function (a lazy import hides a circle; it does not remove it)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "symbackprop"


def _imports() -> dict[str, set[str]]:
    """Each module's package-relative imports, wherever in the module they stand."""
    modules = {path.stem: path for path in PACKAGE.glob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
        graph[name] = (found & modules.keys()) - {name}
    return graph


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports, as the modules along it, or None."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module, [module])):
            return found
    return None


def test_no_module_imports_itself_through_others():
    circle = _circle(_imports())
    assert circle is None, " → ".join(circle)


def test_the_circle_finder_finds_circles():
    assert _circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _circle({"a": {"b"}, "b": set()}) is None


def test_deriving_never_imports_what_renders_it():
    """Derivation → document → print: derive and codegen's inputs know nothing of documents."""
    graph = _imports()
    for module in ("derive", "calculus", "spec", "catalog", "functions", "formula"):
        assert not graph[module] & {
            "lecture",
            "formats",
            "document",
            "mathml",
            "printers",
            "views",
        }, module
