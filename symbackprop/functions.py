"""The user-facing function objects: activations, losses and regularisers.

Each holds one SymPy expression and validates it on construction: only the allowed symbols,
differentiable by SymPy where it matters. Built-ins (``catalog``) are instances like any other.
"""

from __future__ import annotations

import cmath
import keyword
import math
import numbers
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

from . import formula
from .algebra import RowSum, expand_rows, indexed, value
from .errors import SpecError
from .symbols import t, w, y, z

#: where custom activations are evaluated to check they are real and finite on the real line
_PROBE = (-3.7, -1.3, -0.4, 0.0, 0.6, 1.9, 4.2)
#: names a learnable parameter may not take: with a layer number appended they would collide
#: with generated names (W1, Z1, …) or the scalar symbols (see also Network's name check)
_RESERVED = {
    *("W", "b", "Z", "A", "E", "N", "X", "T", "L", "lr", "np", "delta", "d"),
    *("z", "a", "y", "t", "g", "w"),
}
#: target domains a loss may ask for; the generated module validates T against it
TARGETS = {
    "real": "any real values",
    "probability": "values in [0, 1]",
    "nonnegative": "values ≥ 0",
    "sign": "values -1 or 1",
    "labels": "integer class labels 0 … K-1 (one per sample)",
}
TASKS = ("regression", "binary", "multiclass", "sign")


def number(value_: object, field_: str) -> sp.Number:
    """A finite real hyperparameter as a SymPy number (integers stay exact, floats print as typed)."""
    if (
        isinstance(value_, bool)
        or not isinstance(value_, numbers.Real)
        or not math.isfinite(value_)
    ):
        raise SpecError(f"{field_} must be a finite real number, got {value_!r}")
    if float(value_).is_integer():
        return sp.Integer(int(value_))
    return sp.Float(float(value_))


def positive(value_: object, field_: str) -> sp.Number:
    """A finite real hyperparameter that must be > 0, as a SymPy number."""
    result = number(value_, field_)
    if result <= 0:
        raise SpecError(f"{field_} must be positive, got {value_!r}")
    return result


def positive_int(value_: object, field_: str) -> int:
    """A count that must be a positive integer (not a bool, not a float)."""
    if (
        isinstance(value_, bool)
        or not isinstance(value_, numbers.Integral)
        or value_ < 1
    ):
        raise SpecError(f"{field_} must be a positive integer, got {value_!r}")
    return int(value_)


def identifier(value_: object, field_: str) -> str:
    """A name that becomes a Python identifier in generated code: not a keyword, and as Python
    reads it (NFKC-normalised: ``ﬁ`` is read as ``fi``), so the name in the source is the name
    in every message, file name and dictionary key."""
    if (
        not isinstance(value_, str)
        or not value_.isidentifier()
        or keyword.iskeyword(value_)
    ):
        raise SpecError(f"{field_} must be a Python identifier, got {value_!r}")
    normal = unicodedata.normalize("NFKC", value_)
    if normal != value_:
        raise SpecError(
            f"{field_} must be a Python identifier as Python reads it: {value_!r} is read as "
            f"{normal!r}; write {normal!r}"
        )
    return value_


def _owner(function: object) -> str:
    """Check the name of an Activation, Loss or Regularizer; returns how messages name it,
    e.g. ``Loss 'huber'``."""
    kind = type(function).__name__
    return f"{kind} {identifier(function.name, f'{kind}.name')!r}"


def _expression(function: object, owner: str, symbols: set[sp.Symbol]) -> sp.Expr:
    """The function's expression as SymPy: a formula string goes through the whitelist parser
    (``formula.parse``), a plain number becomes a SymPy number; then only ``symbols`` allowed.
    """
    expr = function.expr
    if isinstance(expr, str):
        expr = formula.parse(expr, symbols, owner)
    elif isinstance(expr, numbers.Real) and not isinstance(expr, bool):
        expr = number(expr, f"{owner}: the expression")
    if not isinstance(expr, sp.Expr):
        in_ = ", ".join(sorted(s.name for s in symbols))
        raise SpecError(
            f"{owner}: the expression must be a SymPy expression or a formula string in "
            f"{in_}, got {expr!r}"
        )
    _check_symbols(owner, expr, symbols)
    object.__setattr__(function, "expr", expr)
    return expr


def _check_symbols(owner: str, expr: sp.Expr, allowed: set[sp.Symbol]) -> None:
    foreign = expr.free_symbols - allowed
    if foreign:
        names = ", ".join(sorted(s.name for s in allowed))
        raise SpecError(
            f"{owner}: expression {expr} uses {sorted(map(str, foreign))}; "
            f"it may only use the symbols {names}"
        )


def _check_differentiable(owner: str, expr: sp.Expr, wrt: sp.Symbol) -> sp.Expr:
    """SymPy's derivative of ``expr``, refused when SymPy cannot take it or it is singular."""
    derivative = sp.diff(expr, wrt)
    if derivative.has(sp.Derivative, sp.Subs):
        raise SpecError(
            f"{owner}: SymPy cannot differentiate {expr} with respect to {wrt} "
            f"(it leaves {derivative}); write it with functions SymPy knows"
        )
    if derivative.has(sp.DiracDelta):
        raise SpecError(
            f"{owner}: {expr} is not differentiable where it matters: its derivative with "
            f"respect to {wrt} is {derivative}; use a Piecewise form, or sb.stop_gradient(...) "
            "for a straight-through estimator"
        )
    if derivative.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise SpecError(
            f"{owner}: the derivative of {expr} with respect to {wrt} is {derivative}, not finite"
        )
    return derivative


class _Titled:
    """``title``: the name with the settings it was built with, e.g. ``leaky_relu(alpha=0.2)``."""

    name: str
    settings: tuple[tuple[str, object], ...]

    @property
    def title(self) -> str:
        if not self.settings:
            return self.name
        args = ", ".join(f"{key}={val!r}" for key, val in self.settings)
        return f"{self.name}({args})"


@dataclass(frozen=True)
class Activation(_Titled):
    """An activation ``a = f(z)``: ``expr`` in ``z``; ``RowSum`` makes it act on the whole row.

    ``learnable`` maps symbols of ``expr`` to their initial value (stored as sorted pairs):
    each becomes a parameter with one value per unit and a gradient of its own (PReLU's
    slope). ``settings`` records the hyperparameters the entry was built with, for display.
    """

    name: str
    expr: sp.Expr
    min_units: int = 1
    learnable: Mapping[sp.Symbol, float] | tuple[tuple[sp.Symbol, float], ...] = ()
    settings: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        owner = _owner(self)
        learnable = {
            _learnable_symbol(self.expr, symbol): initial
            for symbol, initial in dict(self.learnable).items()
        }
        for symbol, initial in learnable.items():
            _check_learnable(owner, symbol, initial)
        object.__setattr__(
            self,
            "learnable",
            tuple(sorted(learnable.items(), key=lambda item: item[0].name)),
        )
        expr = _expression(self, owner, {z, *learnable})
        if learnable and self.is_vector:
            raise SpecError(
                f"{owner}: learnable parameters are supported on element-wise activations "
                "only, not on a row-wise one (RowSum)"
            )
        if self.is_vector:
            row = expand_rows(expr, 3, (z,))
            _check_differentiable(owner, row, indexed(z, 1))
        else:
            derivative = _check_differentiable(owner, expr, z)
            _check_real_line(owner, expr, derivative, learnable)

    @property
    def is_vector(self) -> bool:
        """Whether each output depends on the whole row (as softmax does)."""
        return self.expr.has(RowSum)

    @property
    def straight_through(self) -> bool:
        """Whether the gradient is a surrogate (``stop_gradient``), not the true derivative."""
        return self.expr != value(self.expr)


def _learnable_symbol(expr: object, symbol: object) -> object:
    """A learnable parameter given by name: the expression's symbol of that name, else a
    real SymPy symbol."""
    if not isinstance(symbol, str) or not symbol.isidentifier():
        return symbol
    found = getattr(expr, "free_symbols", set())
    return next((s for s in found if s.name == symbol), sp.Symbol(symbol, real=True))


def _check_learnable(owner: str, symbol: object, initial: object) -> None:
    if (
        not isinstance(symbol, sp.Symbol)
        or not symbol.name.isalpha()
        or unicodedata.normalize("NFKC", symbol.name) != symbol.name
        or keyword.iskeyword(symbol.name)
        or symbol.name in _RESERVED
    ):
        raise SpecError(
            f"{owner}: learnable parameter {symbol!r} must be a SymPy Symbol whose name is made "
            f"of letters only (the layer number is appended) and not one of "
            f"{', '.join(sorted(_RESERVED))}"
        )
    number(initial, f"{owner}: initial value of {symbol}")


def _check_real_line(
    owner: str,
    expr: sp.Expr,
    derivative: sp.Expr,
    learnable: dict[sp.Symbol, float],
) -> None:
    """The activation and its derivative are real and finite at a few points of the real line."""
    at = {symbol: float(initial) for symbol, initial in learnable.items()}
    folded = sp.piecewise_fold(derivative.xreplace(at))
    branches = folded.args if isinstance(folded, sp.Piecewise) else ((folded, True),)
    if all(branch == 0 for branch, _ in branches):
        raise SpecError(
            f"{owner}: the derivative of {expr} with respect to z is 0 everywhere, so no "
            "gradient flows through it; wrap the flat part in sb.stop_gradient(...) for a "
            "straight-through estimator (as the catalog's threshold does)"
        )
    for name, checked in (("value", value(expr)), ("derivative", derivative)):
        fn = sp.lambdify(z, checked.xreplace(at), modules="mpmath")
        for point in _PROBE:
            try:
                result = complex(fn(float(point)))
            except (ArithmeticError, TypeError, ValueError):
                result = complex("nan")
            if not cmath.isfinite(result) or abs(result.imag) > 1e-12:
                raise SpecError(
                    f"{owner}: the {name} {checked} is not real and finite at z = {point}; "
                    "an activation must be defined on the whole real line"
                )


@dataclass(frozen=True)
class Loss(_Titled):
    """A per-element loss ``ℓ(y, t)``, summed over outputs and averaged over the batch.

    ``task`` says what ``predict`` returns: ``"multiclass"`` (argmax), ``"binary"`` (0/1 at
    0.5), ``"sign"`` (±1 at 0) or ``"regression"`` (the outputs). ``targets`` names the
    domain of T (see ``TARGETS``); ``"labels"`` means integer labels, one-hot encoded as t.
    """

    name: str
    expr: sp.Expr
    task: str = "regression"
    min_units: int = 1
    targets: str = "real"
    settings: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        owner = _owner(self)
        if self.task not in TASKS:
            raise SpecError(
                f"{owner}: task must be one of {', '.join(TASKS)}, got {self.task!r}"
            )
        if self.targets not in TARGETS:
            raise SpecError(
                f"{owner}: targets must be one of {', '.join(TARGETS)}, got {self.targets!r}"
            )
        _check_differentiable(owner, _expression(self, owner, {y, t}), y)


@dataclass(frozen=True)
class Regularizer(_Titled):
    """A penalty ``r(w)`` per weight, summed over every weight of every layer and added to the
    mean loss (biases and learnable activation parameters are not penalised)."""

    name: str
    expr: sp.Expr
    settings: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        owner = _owner(self)
        _check_differentiable(owner, _expression(self, owner, {w}), w)
