"""The package's modules import one another in one direction, the pipeline's: shared helpers and
the expression language first, then spec → derive → lower → emit, with the document beside
lower (both read a Derivation, neither reads the other). No circle, not even through an import
inside a function (a lazy import hides a circle; it does not remove it)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "symbackprop"

#: each stage's rank: a module imports only modules of its own stage or of a lower rank
STAGES = {
    "shared": 0,
    "expressions": 1,
    "spec": 2,
    "derive": 3,
    "lower": 4,
    "document": 4,
    "emit": 5,
    "cli": 6,
    "plot": 6,
    "__init__": 6,
    "__main__": 7,
}


def _name(path: Path) -> str:
    """The module's dotted name inside the package (``derive.calculus``; ``spec`` for a stage's
    ``__init__``)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _imports() -> dict[str, set[str]]:
    """Each module's imports of the package's modules, wherever in the module they stand."""
    modules = {_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = list(path.relative_to(PACKAGE).parent.parts)
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            base = package[: len(package) - (node.level - 1)]
            stem = [*base, *(node.module.split(".") if node.module else [])]
            targets = [".".join(stem)] if node.module else []
            targets += [".".join([*stem, alias.name]) for alias in node.names]
            found.update(t for t in targets if t in modules)
        graph[name] = found - {name}
    return graph


#: modules every stage uses: errors, budgets, signed and atomic writes, the CLI's choices
SHARED = ("errors", "budget", "output", "options")


def _stage(module: str) -> str:
    return "shared" if module in SHARED else module.split(".")[0]


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


def test_every_module_belongs_to_a_stage():
    assert {_stage(module) for module in _imports()} <= set(STAGES)


def test_imports_follow_the_pipeline():
    against = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        for target in targets
        if _stage(target) != _stage(module)
        and STAGES[_stage(target)] >= STAGES[_stage(module)]
    ]
    assert not against, against


def test_the_import_finder_sees_every_kind_of_import():
    graph = _imports()
    assert (
        "expressions.algebra" in graph["derive.calculus"]
    )  # from ..expressions.algebra
    assert "derive.stabilise" in graph["lower.rules"]  # from ..derive import stabilise
    assert "spec.data" in graph["spec.files"]  # from . import data
    assert "document" in graph["__init__"] and "document.views" in graph["document"]


#: SymPy calls that differentiate or simplify: only derive may make them
CALCULUS = {
    "diff",
    "simplify",
    "cancel",
    "factor",
    "factor_terms",
    "expand",
    "together",
}


def test_nothing_after_derive_differentiates_or_simplifies():
    found = []
    for path in PACKAGE.rglob("*.py"):
        if _stage(_name(path)) not in ("lower", "document", "emit"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in CALCULUS
            ):
                found.append(f"{_name(path)}:{node.lineno} {node.func.attr}")
    assert not found, found
