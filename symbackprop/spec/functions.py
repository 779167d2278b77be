"""The user-facing function objects: activations, losses and regularisers.

Each holds one SymPy expression and validates it on construction: only the allowed symbols,
differentiable by SymPy where it matters. Built-ins (``catalog``) are instances like any other.
"""

from __future__ import annotations

import keyword
import math
import numbers
import operator
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sympy as sp
from sympy.calculus.util import continuous_domain

from .. import budget
from ..errors import SpecError, shorten
from ..expressions import numeric, printers
from ..expressions.algebra import RowSum, expand_rows, indexed, value
from ..expressions.symbols import t, w, y, z
from . import formula
from .targets import DOMAINS

#: where custom activations are evaluated to check they are real and finite on the real line
_PROBE = (-3.7, -1.3, -0.4, 0.0, 0.6, 1.9, 4.2)
#: the other units of a row where a row-wise activation is checked
_ROW = (0.5, -1.2)
#: seconds SymPy may take to find where an activation is continuous, beyond the probes
_DOMAIN_SECONDS = 2.0
#: names a learnable parameter may not take: with a layer number appended they would collide
#: with generated names (W1, Z1, …) or the scalar symbols (see also Network's name check)
_RESERVED = {
    *("W", "b", "Z", "A", "E", "D", "R", "N", "X", "T", "L", "lr", "np", "delta", "d"),
    *("z", "a", "y", "t", "g", "w"),
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
    return str.__str__(value_)


def plain(value_: object, field_: str) -> bool | int | float | str | None:
    """``value_`` as an exact built-in — None, a bool, an int, a finite float or a str — for
    anything that is written into generated source or shown: a subclass could print itself as
    code (``repr``) or as anything else (``format``). Else a SpecError naming the field.
    """
    if value_ is None or isinstance(value_, bool):
        return None if value_ is None else bool(value_)
    if isinstance(value_, str):
        return str.__str__(value_)
    if isinstance(value_, numbers.Integral):
        return operator.index(value_)
    if isinstance(value_, numbers.Real):
        return float(number(value_, field_))
    raise SpecError(f"{field_} must be a number, a string or None, got {value_!r}")


def one_of(value_: object, choices: tuple[str, ...], field_: str) -> str:
    """``value_`` if it is one of ``choices`` (returned as the choice itself), else a
    SpecError naming the field and listing them."""
    for choice in choices:
        if isinstance(value_, str) and value_ == choice:
            return choice
    raise SpecError(f"{field_} must be one of {', '.join(choices)}, got {value_!r}")


def settings_of(pairs: object, owner: str) -> tuple[tuple[str, object], ...]:
    """Display settings (name, value) as exact built-ins (see ``plain``)."""
    return tuple(
        (
            identifier(key, f"{owner}: setting name"),
            plain(val, f"{owner}: setting {key}"),
        )
        for key, val in pairs
    )


def _owner(function: object) -> str:
    """Check the name and settings of an Activation, Loss or Regularizer (making them exact
    built-ins); returns how messages name it, e.g. ``Loss 'huber'``."""
    kind = type(function).__name__
    name = identifier(function.name, f"{kind}.name")
    object.__setattr__(function, "name", name)
    object.__setattr__(
        function, "settings", settings_of(function.settings, f"{kind} {name!r}")
    )
    return f"{kind} {name!r}"


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
    expr = _in_our_symbols(owner, expr, symbols)
    _check_symbols(owner, expr, symbols)
    check_real(owner, expr)
    object.__setattr__(function, "expr", expr)
    return expr


def check_real(owner: str, expr: sp.Expr) -> None:
    """``expr`` holds no imaginary unit: a generated module would compute complex arrays
    (and probes in float64 would see only the real part)."""
    if expr.has(sp.I):
        raise SpecError(
            f"{owner}: {shorten(expr)} holds the imaginary unit I, and a formula must be real "
            "(the generated module would compute complex arrays); write it with real "
            "functions (cos(z) for (exp(I*z) + exp(-I*z))/2)"
        )


def _analysed(owner: str, check: Callable[[], object]) -> None:
    """Run the checks of a formula within the budget (``budget.TOTAL``); SymPy failing on
    the formula (a RecursionError on deep nesting, say) is a SpecError naming it too."""

    def guarded() -> None:
        try:
            check()
        except SpecError:
            raise
        except Exception as error:  # noqa: BLE001 - SymPy failing on the formula
            raise SpecError(
                f"{owner}: SymPy cannot analyse the formula "
                f"({type(error).__name__}: {shorten(error)})"
            ) from None

    budget.bounded(guarded, f"{owner}: checking the formula")


def _in_our_symbols(owner: str, expr: sp.Expr, symbols: set[sp.Symbol]) -> sp.Expr:
    """``expr`` with a symbol of a name of ``symbols`` made without assumptions
    (``sp.Symbol("z")``) as ours, which are real; one made with other assumptions
    (``positive=True``) is refused: SymPy may have simplified by them (√(z²) to z)."""
    ours = {s.name: s for s in symbols}
    theirs = {
        s
        for s in expr.free_symbols
        if isinstance(s, sp.Symbol) and s.name in ours and s not in symbols
    }
    for symbol in sorted(theirs, key=lambda s: s.name):
        if symbol != sp.Symbol(symbol.name):
            # (as the user declared them: SymPy derives more)
            declared = getattr(symbol, "_assumptions_orig", None) or symbol.assumptions0
            said = ", ".join(
                f"{key}={value}" for key, value in sorted(declared.items())
            )
            raise SpecError(
                f"{owner}: its symbol {symbol.name} is declared {said}, which SymPy may "
                f"have simplified the formula by; symbackprop's {symbol.name} is any real "
                f"number: write it with sb.{symbol.name}"
            )
    return expr.xreplace({symbol: ours[symbol.name] for symbol in theirs})


def _check_symbols(owner: str, expr: sp.Expr, allowed: set[sp.Symbol]) -> None:
    foreign = expr.free_symbols - allowed
    if foreign:
        names = ", ".join(sorted(s.name for s in allowed))
        raise SpecError(
            f"{owner}: expression {expr} uses {sorted(map(str, foreign))}; "
            f"it may only use the symbols {names}"
        )


def _check_differentiable(owner: str, expr: sp.Expr, wrt: sp.Symbol) -> sp.Expr:
    """SymPy's derivative of ``expr``, refused when SymPy cannot take it or it is singular,
    or when NumPy cannot compute the formula or its derivative (``check_computable``).
    """
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
    check_computable(owner, expr)
    check_computable(owner, derivative, f"the derivative with respect to {wrt}, ")
    return derivative


def check_computable(owner: str, expr: sp.Expr, what: str = "") -> None:
    """Every function of ``expr`` has an element-wise NumPy form (``printers.unprintable``)."""
    missing = printers.unprintable(expr)
    if missing:
        raise SpecError(
            f"{owner}: {', '.join(missing)} in {what}{shorten(expr)} has no element-wise "
            "NumPy function, and a generated module computes with NumPy alone; write it with "
            "functions NumPy has (exp, log, tanh, erf, erfc, …)"
        )


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
        object.__setattr__(
            self, "min_units", positive_int(self.min_units, f"{owner}: min_units")
        )
        learnable = _learnable(owner, self.expr, self.learnable)
        object.__setattr__(
            self,
            "learnable",
            tuple(sorted(learnable.items(), key=lambda item: item[0].name)),
        )
        _analysed(owner, lambda: self._check(owner, learnable))

    def _check(self, owner: str, learnable: dict[sp.Symbol, float]) -> None:
        expr = _expression(self, owner, {z, *learnable})
        if learnable and self.is_vector:
            raise SpecError(
                f"{owner}: learnable parameters are supported on element-wise activations "
                "only, not on a row-wise one (RowSum)"
            )
        if self.is_vector:
            # unit 1 of a row of three, the other two units held at _ROW
            row = expand_rows(expr, 1 + len(_ROW), (z,))
            unit = indexed(z, 1)
            others = {indexed(z, k): other for k, other in enumerate(_ROW, 2)}
            derivative = _check_differentiable(owner, row, unit)
            _check_real_line(owner, row, derivative, others, unit)
        else:
            derivative = _check_differentiable(owner, expr, z)
            _check_real_line(owner, expr, derivative, learnable, z)

    @property
    def is_vector(self) -> bool:
        """Whether each output depends on the whole row (as softmax does)."""
        return self.expr.has(RowSum)

    @property
    def straight_through(self) -> bool:
        """Whether the gradient is a surrogate (``stop_gradient``), not the true derivative."""
        return self.expr != value(self.expr)


def _learnable(owner: str, expr: object, given: object) -> dict[sp.Symbol, float]:
    """The learnable parameters as {symbol: initial value}: a mapping (or pairs) from symbols
    of ``expr``, or their names, to finite numbers (made plain floats)."""
    if isinstance(given, Mapping):
        pairs = list(given.items())
    elif isinstance(given, (tuple, list)) and all(
        isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in given
    ):
        pairs = [tuple(pair) for pair in given]
    else:
        raise SpecError(
            f"{owner}: learnable must map each parameter's name to its initial value, such "
            f"as {{'beta': 1.0}}, got {given!r}"
        )
    learnable = {}
    for name, initial in pairs:
        symbol = _learnable_symbol(owner, expr, name)
        learnable[symbol] = float(
            number(initial, f"{owner}: initial value of {symbol}")
        )
    return learnable


def _learnable_symbol(owner: str, expr: object, given: object) -> sp.Symbol:
    """A learnable parameter: a SymPy Symbol or its name (the expression's symbol of that
    name, else a real one), whose name takes a layer number in generated code (alpha →
    alpha2): letters only, an identifier as Python reads it, not a generated name."""
    symbol = given
    if isinstance(given, str) and given.isidentifier():
        found = getattr(expr, "free_symbols", set())
        symbol = next(
            (s for s in found if s.name == given),
            sp.Symbol(str.__str__(given), real=True),
        )
    name = getattr(symbol, "name", None)
    if (
        not isinstance(symbol, sp.Symbol)
        or type(name) is not str
        or not name.isidentifier()
        or not name.isalpha()
        or unicodedata.normalize("NFKC", name) != name
        or keyword.iskeyword(name)
        or name in _RESERVED
    ):
        raise SpecError(
            f"{owner}: learnable parameter {given!r} must be a SymPy Symbol (or a name) made "
            f"of letters only (the layer number is appended) and not one of "
            f"{', '.join(sorted(_RESERVED))}"
        )
    return symbol


def _check_real_line(
    owner: str,
    expr: sp.Expr,
    derivative: sp.Expr,
    at: dict[sp.Symbol, float],
    variable: sp.Symbol,
) -> None:
    """The activation and its derivative are real and finite, in float64 as the generated code
    computes them, at a few points of the real line, the other symbols (learnable parameters,
    other units of a row) ``at`` the values given; then the value where SymPy finds it
    undefined (``_check_defined``)."""
    _check_gradient(
        owner,
        expr,
        derivative.xreplace(at),
        variable,
        "no gradient flows through it; wrap the flat part in sb.stop_gradient(...) for a "
        "straight-through estimator (as the catalog's threshold does)",
    )
    given = "".join(f", {symbol} = {initial}" for symbol, initial in at.items())
    for name, checked in (("value", value(expr)), ("derivative", derivative)):
        values = numeric.evaluate(checked.xreplace(at), [variable], [_PROBE])
        for point, result in zip(_PROBE, values):
            if not math.isfinite(result):
                raise SpecError(
                    f"{owner}: the {name} {shorten(checked)} is not real and finite at "
                    f"{variable} = {point}{given} (in float64, as the generated code computes "
                    "it); an activation must be defined on the whole real line"
                )
    _check_defined(owner, expr, at, variable)


def _check_defined(
    owner: str, expr: sp.Expr, at: dict[sp.Symbol, float], variable: sp.Symbol
) -> None:
    """Beyond the probes: a point where SymPy finds the value undefined (``undefined_at``,
    within ``_DOMAIN_SECONDS``) refutes it (sqrt(z + 4) at z = −5; a jump alone, sign(z) at 0,
    does not). Where SymPy cannot tell, the probes have decided."""
    formula = value(expr).xreplace(at)
    points, domain = budget.within(
        _DOMAIN_SECONDS,
        lambda: undefined_at(formula, variable),
        lambda: ([], sp.S.Reals),
    )
    if points:
        given = "".join(f", {symbol} = {initial}" for symbol, initial in at.items())
        raise SpecError(
            f"{owner}: the value {shorten(formula)} is not real and finite at "
            f"{variable} = {points[0]}{given} (SymPy finds it continuous on "
            f"{shorten(domain)} only); an activation must be defined on the whole real line"
        )


def undefined_at(formula: sp.Expr, variable: sp.Symbol) -> tuple[list[sp.Expr], sp.Set]:
    """Points of the real line where ``formula`` is not real and finite, exactly, among those
    ``outside`` where SymPy's continuous_domain finds it continuous; and that domain (all
    reals, and no point, where SymPy cannot tell, as for Piecewise or erf)."""
    try:
        domain = continuous_domain(formula, variable, sp.S.Reals)
    except Exception:  # noqa: BLE001 - NotImplementedError, and SymPy's own failures
        return [], sp.S.Reals
    points = [
        point
        for point in outside(domain)
        if not _exactly_finite(formula.xreplace({variable: point}))
    ]
    return points, domain


def _exactly_finite(number_: sp.Expr) -> bool:
    found = number_.evalf()
    return bool(found.is_real and found.is_finite)


def outside(domain: sp.Set) -> list[sp.Expr]:
    """A few points of the real line outside ``domain``: each isolated point, the closed ends
    and a point inside each interval, the first of a periodic family (tan's poles)."""
    if isinstance(domain, sp.Complement) and domain.args[0] == sp.S.Reals:
        rest = domain.args[1]  # (SymPy leaves the complement of a complement as it is)
    else:
        rest = sp.Complement(sp.S.Reals, domain)
    points: list[sp.Expr] = []
    for part in rest.args if isinstance(rest, sp.Union) else (rest,):
        if isinstance(part, sp.FiniteSet):
            points.extend(list(part)[:3])
        elif isinstance(part, sp.Interval):
            low, high = part.start, part.end
            if low.is_finite and high.is_finite:
                points.append((low + high) / 2)
            else:
                points.append(high - 1 if low.is_infinite else low + 1)
            points.extend(end for end in part.boundary if end in part)
        elif isinstance(part, sp.ImageSet) and part.base_set == sp.S.Integers:
            points.append(part.lamda(0))
    return points


def _check_gradient(
    owner: str, expr: sp.Expr, derivative: sp.Expr, variable: sp.Symbol, then: str
) -> None:
    """Refuse ``expr`` if its ``derivative`` in ``variable`` is 0 everywhere (``then``: what
    follows, and what to do instead)."""
    if _flat(derivative):
        raise SpecError(
            f"{owner}: the derivative of {shorten(expr)} with respect to {variable} is 0 "
            f"everywhere, so {then}"
        )


def _check_per_element(owner: str, expr: sp.Expr, because: str) -> None:
    """``expr`` holds no sum over a row (row_sum belongs to row-wise activations)."""
    if expr.has(RowSum):
        raise SpecError(
            f"{owner}: {shorten(expr)} sums over a row (row_sum), and {because}; "
            "row_sum belongs in a row-wise activation (softmax's exp(z)/row_sum(exp(z)))"
        )


def _flat(derivative: sp.Expr) -> bool:
    """Whether every branch of a (nested) piecewise derivative is 0."""
    if isinstance(derivative, sp.Piecewise):
        return all(_flat(branch) for branch, _ in derivative.args)
    return derivative == 0


@dataclass(frozen=True)
class Loss(_Titled):
    """A per-element loss ``ℓ(y, t)``, summed over outputs and averaged over the batch.

    ``task`` says what ``predict`` returns: ``"multiclass"`` (argmax), ``"binary"`` (0/1 at
    0.5), ``"sign"`` (±1 at 0) or ``"regression"`` (the outputs). ``targets`` names the
    domain of T (see ``targets.DOMAINS``); ``"labels"`` means integer labels, one-hot encoded as t.
    """

    name: str
    expr: sp.Expr
    task: str = "regression"
    min_units: int = 1
    targets: str = "real"
    settings: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        owner = _owner(self)
        object.__setattr__(self, "task", one_of(self.task, TASKS, f"{owner}: task"))
        object.__setattr__(
            self, "targets", one_of(self.targets, tuple(DOMAINS), f"{owner}: targets")
        )
        object.__setattr__(
            self, "min_units", positive_int(self.min_units, f"{owner}: min_units")
        )
        _analysed(owner, lambda: self._check(owner))

    def _check(self, owner: str) -> None:
        expr = _expression(self, owner, {y, t})
        _check_per_element(
            owner, expr, "a loss is per output and already summed over them"
        )
        _check_gradient(
            owner,
            expr,
            _check_differentiable(owner, expr, y),
            y,
            "no gradient reaches the network: a loss must depend on the output y",
        )


@dataclass(frozen=True)
class Regularizer(_Titled):
    """A penalty ``r(w)`` per weight, summed over every weight of every layer and added to the
    mean loss (biases and learnable activation parameters are not penalised)."""

    name: str
    expr: sp.Expr
    settings: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        owner = _owner(self)
        _analysed(owner, lambda: self._check(owner))

    def _check(self, owner: str) -> None:
        expr = _expression(self, owner, {w})
        _check_per_element(
            owner, expr, "a penalty is per weight and already summed over them"
        )
        derivative = _check_differentiable(owner, expr, w)
        if expr != 0:  # (0: no penalty, as L2(0) is)
            _check_gradient(
                owner,
                expr,
                derivative,
                w,
                "it changes the loss but no gradient; leave regularizer=None for no "
                "penalty",
            )
