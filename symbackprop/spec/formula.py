"""Formula strings to SymPy expressions through a whitelist parser: nothing is ever executed.

The text is parsed by Python's ``ast`` and only these nodes are translated: numbers, the allowed
symbols, ``+ - * / **`` and unary signs, calls of the functions in ``FUNCTIONS`` and of the
catalog's element-wise activations and losses (``softplus(z)``, ``binary_crossentropy(y, t)``),
and ``where(condition, then, else)`` with comparisons joined by ``and``/``or``. Everything else —
attribute access, subscripts, lambdas, keyword arguments, strings, names not allowed — is refused
with the formula and the offending piece named. No ``eval``, no ``sympify`` of raw text.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable

import sympy as sp

from ..errors import SpecError, shorten
from ..expressions.algebra import RowSum, StopGradient, count_units

#: longest formula accepted (characters), and most AST nodes: bounds the parser's own work
MAX_LENGTH = 1000
MAX_NODES = 400
#: a numeric exponent beyond this magnitude is refused (``9**9**9`` would never finish)
MAX_EXPONENT = 100
#: decimal digits of the largest float64 (numbers beyond it are refused)
_LARGEST_DIGITS = 308

#: SymPy's elementary functions by the names a formula may call them
FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "cbrt": sp.cbrt,
    "abs": sp.Abs,
    "sign": sp.sign,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "asinh": sp.asinh,
    "acosh": sp.acosh,
    "atanh": sp.atanh,
    "erf": sp.erf,
    "stop_gradient": StopGradient,
    "row_sum": RowSum,
}
CONSTANTS = {"pi": sp.pi, "e": sp.E}
_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_COMPARISONS = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge}


#: the catalog's element-wise activations f(x) and losses f(y, t), callable in formulas by
#: name; the catalog fills it (``name_functions``), so that this module never imports it
_NAMED: dict[str, Callable[..., sp.Expr]] = {}


def name_functions(
    definitions: dict[str, tuple[sp.Expr, tuple[sp.Symbol, ...]]],
) -> None:
    """Make each ``name: (expr, params)`` callable in formulas: ``name(u, …)`` is ``expr``
    with ``params`` replaced by the arguments."""

    def substitute(
        expr: sp.Expr, params: tuple[sp.Symbol, ...]
    ) -> Callable[..., sp.Expr]:
        def call(*args: sp.Expr) -> sp.Expr:
            if len(args) != len(params):
                raise TypeError
            return expr.xreplace(dict(zip(params, args)))

        return call

    _NAMED.update(
        {name: substitute(*definition) for name, definition in definitions.items()}
    )


class _Translator:
    """Walks the parsed formula, translating each allowed node and refusing the rest."""

    def __init__(self, text: str, symbols: dict[str, sp.Symbol], owner: str) -> None:
        self.text, self.symbols, self.owner = text, symbols, owner
        self.functions = {**FUNCTIONS, **_NAMED}

    def refuse(self, node: ast.AST | None, why: str) -> SpecError:
        piece = ast.get_source_segment(self.text, node) if node is not None else None
        at = f" at {shorten(piece, 60)!r}" if piece and piece != self.text else ""
        return SpecError(f"{self.owner}: formula {shorten(self.text, 60)!r}{at}: {why}")

    def expr(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.expr(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self.power(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = self.expr(node.left), self.expr(node.right)
            return _OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.refuse(node, f"{_describe(node)} is not allowed in a formula")

    def number(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(node, f"{value!r} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.refuse(node, f"{value!r} is not a finite number")
        return sp.Integer(value) if isinstance(value, int) else sp.Float(value)

    def name(self, node: ast.Name) -> sp.Expr:
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        allowed = ", ".join(sorted([*self.symbols, *CONSTANTS]))
        raise self.refuse(
            node, f"unknown name {node.id!r}; a formula may use {allowed}"
        )

    def power(self, node: ast.BinOp) -> sp.Expr:
        base, exponent = self.expr(node.left), self.expr(node.right)
        if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
            raise self.refuse(
                node,
                f"the exponent {exponent} is larger than {MAX_EXPONENT} in magnitude",
            )
        if (
            base.is_Number
            and exponent.is_Number
            and base != 0
            and abs(exponent) * abs(math.log10(abs(float(base)))) > _LARGEST_DIGITS
        ):
            raise self.refuse(node, f"{base}**{exponent} is beyond floating point")
        return base**exponent

    def call(self, node: ast.Call) -> sp.Expr:
        func = node.func
        if not isinstance(func, ast.Name):
            raise self.refuse(
                node, f"only named functions may be called, not {_describe(func)}"
            )
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.refuse(
                node, f"{func.id}() takes plain positional arguments only"
            )
        if func.id == "where":
            return self.where(node)
        if func.id not in self.functions:
            known = ", ".join(sorted([*self.functions, "where"]))
            raise self.refuse(
                node, f"unknown function {func.id!r}; a formula may call {known}"
            )
        args = [self.expr(arg) for arg in node.args]
        try:
            return self.functions[func.id](*args)
        except TypeError:
            raise self.refuse(
                node, f"{func.id}() does not take {len(args)} argument(s)"
            ) from None

    def where(self, node: ast.Call) -> sp.Expr:
        if len(node.args) != 3:
            raise self.refuse(
                node, "where() takes (condition, value if true, value if not)"
            )
        condition, then, otherwise = node.args
        return sp.Piecewise(
            (self.expr(then), self.condition(condition)), (self.expr(otherwise), True)
        )

    def condition(self, node: ast.AST) -> sp.Basic:
        if isinstance(node, ast.BoolOp):
            join = sp.And if isinstance(node.op, ast.And) else sp.Or
            return join(*(self.condition(value) for value in node.values))
        if isinstance(node, ast.Compare) and all(
            type(op) in _COMPARISONS for op in node.ops
        ):
            terms = [self.expr(node.left), *(self.expr(c) for c in node.comparators)]
            return sp.And(
                *(
                    _COMPARISONS[type(op)](left, right)
                    for op, left, right in zip(node.ops, terms, terms[1:])
                )
            )
        raise self.refuse(
            node, "a where() condition is a comparison (<, <=, >, >=), joined by and/or"
        )


def _describe(node: ast.AST) -> str:
    """How a message names a refused node."""
    kinds = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "a lambda",
        ast.Call: "a call",
        ast.Compare: "a comparison outside where()",
        ast.BoolOp: "and/or outside where()",
        ast.NamedExpr: "an assignment expression",
        ast.IfExp: "a conditional expression (use where(condition, a, b))",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return f"the operator {type(node.op).__name__}"
    return f"a {type(node).__name__}"


def parse(text: object, symbols: Iterable[sp.Symbol], owner: str) -> sp.Expr:
    """The SymPy expression a formula string denotes, over ``symbols`` only; ``owner`` is
    how error messages name whose formula it is."""
    if not isinstance(text, str):
        raise SpecError(f"{owner}: a formula must be a string, got {text!r}")
    text = text.strip()
    translator = _Translator(text, {s.name: s for s in symbols}, owner)
    if len(text) > MAX_LENGTH:
        raise translator.refuse(None, f"longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise translator.refuse(None, f"not a formula ({error.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise translator.refuse(None, "nested too deeply") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise translator.refuse(None, f"more than {MAX_NODES} parts")
    result = translator.expr(tree.body)
    if not isinstance(result, sp.Expr) or result.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise translator.refuse(None, f"it is not a finite expression (it is {result})")
    constants = result.atoms(sp.Number, sp.Function, sp.Pow)
    for constant in sorted(constants, key=sp.default_sort_key):
        if constant.free_symbols:
            continue
        # (Σ_k 1 is the width, unknown here: checked as a row of one)
        value = complex(count_units(constant, 1).evalf())
        if not (math.isfinite(value.real) and math.isfinite(value.imag)):
            raise translator.refuse(
                None, f"the number {constant} is beyond floating point"
            )
    return result


__all__ = ["CONSTANTS", "FUNCTIONS", "parse"]
