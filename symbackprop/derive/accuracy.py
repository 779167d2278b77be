"""Accuracy as a criterion when a form is chosen.

A formula can be written many ways that are equal in exact arithmetic and far apart in floating
point: σ'(z) = a(1 − a) loses every digit where a rounds to 1 (z > 37) while
e^(−z − 2·softplus(−z)) keeps them; softplus' = 1 − e^(−a) cancels to 0 for z < −37, so that
with a Poisson loss the gradient ≈ −t vanishes. Each candidate form is stabilised, evaluated as
the generated code evaluates it — in float64 and in float32, its ``a`` computed by the forward
pass — over logits from −1000 to 1000 and targets from the loss's domain, and compared with the
exact value computed by mpmath with enough digits. The first candidate, in the order given
(cheapest and closest to the lecture first), within ``TOLERANCE`` is chosen, else the most
accurate one. Where a value is not a normal float of the dtype, it is not compared.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy as sp
from sympy.core.relational import Relational

from .. import budget
from ..expressions import numeric
from ..expressions.algebra import Expm1, Grouped, value
from ..expressions.symbols import a, t, z
from .stabilise import stabilise

#: logits the forms are compared at: exact in float32 too, so one reference serves both dtypes
MAGNITUDES = (
    0,
    2**-27,
    2**-10,
    0.125,
    0.5,
    1,
    2,
    3,
    5,
    7,
    10,
    15,
    20,
    30,
    37,
    40,
    50,
    80,
)
LOGITS = tuple(
    sorted(
        {
            s * m
            for m in (*MAGNITUDES, 100, 200, 300, 500, 700, 750, 1000)
            for s in (1, -1)
        }
    )
)
#: decimal digits of the condition numbers' arithmetic (their values need few)
DIGITS = 60
#: the largest relative error a chosen form may have, by dtype
TOLERANCE = {"float64": 1e-13, "float32": 5e-6}
#: seconds the comparison of one set of candidates may take (else the first is used)
SECONDS = 10.0


@dataclass(frozen=True)
class Exact:
    """A function's exact values at (target, logit) pairs, rounded to float64, and its
    condition number there, κ = (|z ∂f/∂z| + |t ∂f/∂t|) / |f|: no algorithm given z and t can
    promise a relative error below κ times the unit roundoff (f = y − t near y = t)."""

    values: np.ndarray
    condition: np.ndarray


def relative_errors(values: np.ndarray, exact: Exact, dtype: str) -> np.ndarray:
    """|value − exact| / |exact| / max(1, κ) where the exact value is a normal float of
    ``dtype`` (nan where it is not: 0, subnormal, beyond the largest); inf where the value
    is not finite."""
    info = np.finfo(dtype)
    reference = np.asarray(exact.values, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    normal = (
        np.isfinite(reference)
        & (np.abs(reference) >= info.tiny)
        & (np.abs(reference) <= info.max)
    )
    with np.errstate(all="ignore"):
        errors = np.abs(values - reference) / np.abs(reference)
        errors = errors / np.fmax(1.0, np.nan_to_num(exact.condition, nan=1.0))
    errors = np.where(np.isfinite(values), errors, np.inf)
    return np.where(normal, errors, np.nan)


def _precise(
    fn: Callable[..., mpmath.mpf], logit: float, target: float, gaussian: bool
) -> mpmath.mpf:
    """``fn(logit, target)`` by mpmath with 50 digits more than e^(±2z) spans — and
    e^(−z²/2) where the formula is ``gaussian`` (holds erf) — at most 950 (1 + e^(−200) needs
    87 digits to differ from 1, 1 + erf(−13) 74): exact to 30 digits for the formulas
    compared here."""
    depth = min(max(abs(logit), logit * logit / 2 if gaussian else 0), 1000)
    with mpmath.workdps(50 + int(0.9 * depth)):
        try:
            return mpmath.mpf(fn(mpmath.mpf(logit), mpmath.mpf(target)))
        except (ArithmeticError, TypeError, ValueError):
            return mpmath.mpf("nan")


def _remembered(name: str) -> Callable[..., mpmath.mpf]:
    """mpmath's ``name`` remembering its values by argument and precision: the value, its
    slopes and every target evaluate erf(z/√2) at the same z (7 ms each at 900 digits).
    """
    function = getattr(mpmath, name)

    @functools.lru_cache(maxsize=8192)
    def at(prec: int, *args: mpmath.mpf) -> mpmath.mpf:
        return function(*args)

    return lambda *args: at(mpmath.mp.prec, *args)


#: the functions whose values the references share
REMEMBERED = {name: _remembered(name) for name in ("erf", "erfc", "exp", "log")}


def _mpmath_values(
    expr: sp.Expr, logits: Sequence[float], targets: Sequence[float]
) -> list[list[mpmath.mpf]]:
    fn = sp.lambdify([z, t], expr, modules=[REMEMBERED, "mpmath"])
    gaussian = expr.has(sp.erf, sp.erfc) or any(
        sp.degree(e.args[0], z) > 1
        for e in expr.atoms(sp.exp)
        if e.args[0].is_polynomial(z)
    )
    return [
        [_precise(fn, logit, target, gaussian) for logit in logits]
        for target in targets
    ]


def _rounded(value: mpmath.mpf) -> float:
    if mpmath.isinf(value) or abs(value) > np.finfo(np.float64).max:
        return math.copysign(math.inf, value) if value else math.nan
    return float(value)


def _smooth(expr: sp.Expr) -> sp.Expr:
    """A derivative where the function is smooth: its Dirac deltas (at kinks) left out."""
    return expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)


def exact_values(
    expr: sp.Expr, logits: Sequence[float], targets: Sequence[float]
) -> Exact:
    """``expr`` in z and t at every (target, logit) pair, and its condition number there,
    computed by mpmath (shape (targets, logits))."""
    values = _mpmath_values(expr, logits, targets)
    slopes = [
        _mpmath_values(_smooth(sp.diff(expr, symbol)), logits, targets)
        for symbol in (z, t)
    ]
    with mpmath.workdps(DIGITS):
        condition = [
            [
                _rounded(
                    (abs(logit * dz) + abs(target * dt)) / abs(v) if v else mpmath.inf
                )
                for logit, v, dz, dt in zip(logits, row, row_z, row_t)
            ]
            for target, row, row_z, row_t in zip(targets, values, *slopes)
        ]
        rounded = [[_rounded(v) for v in row] for row in values]
    return Exact(np.array(rounded), np.array(condition))


def computed_values(
    form: sp.Expr,
    activation: sp.Expr,
    logits: Sequence[float],
    targets: Sequence[float],
    dtype: str,
) -> np.ndarray:
    """``form`` in z, a and t as a generated module of ``dtype`` computes it (stabilised; ``a``
    from the forward pass, ``activation`` in z), shape (targets, logits); nan where a step
    overflows, even in a discarded branch (a module run with overflow raising fails there).
    """
    zs = np.asarray(logits, dtype=dtype)
    outputs = numeric.evaluate(stabilise(value(activation)), [z], [zs], dtype)
    printed = stabilise(form)
    return np.array(
        [
            numeric.evaluate(
                printed,
                [z, a, t],
                [zs, outputs, np.full_like(zs, target)],
                dtype,
                strict=True,
            )
            for target in targets
        ]
    )


def pointwise_errors(
    form: sp.Expr,
    exact: Exact,
    activation: sp.Expr,
    targets: Sequence[float],
    logits: Sequence[float] = LOGITS,
) -> np.ndarray:
    """The relative error of ``form`` at each logit, as a multiple of ``TOLERANCE``: the
    largest over the targets and the dtypes (0 where nothing is compared)."""
    worst = np.zeros(len(logits))
    for dtype, tolerance in TOLERANCE.items():
        errors = relative_errors(
            computed_values(form, activation, logits, targets, dtype), exact, dtype
        )
        errors = np.where(np.isnan(errors), 0.0, errors)
        worst = np.maximum(worst, errors.max(axis=0) / tolerance)
    return worst


def worst_errors(
    form: sp.Expr,
    exact: Exact,
    activation: sp.Expr,
    targets: Sequence[float],
    logits: Sequence[float] = LOGITS,
) -> dict[str, float]:
    """The largest relative error of ``form`` in each dtype (0 where nothing is compared)."""
    worst = {}
    for dtype in TOLERANCE:
        errors = relative_errors(
            computed_values(form, activation, logits, targets, dtype), exact, dtype
        )
        compared = errors[~np.isnan(errors)]
        worst[dtype] = float(compared.max()) if compared.size else 0.0
    return worst


def _split(forms: Sequence[sp.Expr], errors: Sequence[np.ndarray]) -> sp.Expr | None:
    """Two forms joined at a logit θ, (first if z > θ else second), each within tolerance on
    its side — e^z − t needs expm1(z) + (1 − t) near z = 0 and e^z − t below it — or None.
    """
    for (upper, above), (lower, below) in itertools.permutations(zip(forms, errors), 2):
        feasible = [
            k
            for k in range(len(LOGITS) - 1)
            if above[k + 1 :].max() <= 1 and below[: k + 1].max() <= 1
        ]
        if feasible:  # the middle one: the farthest from where either form fails
            theta = LOGITS[feasible[len(feasible) // 2]]
            return sp.Piecewise((upper, z > theta), (lower, True), evaluate=False)
    return None


def most_accurate(
    candidates: Sequence[sp.Expr],
    exact: sp.Expr,
    activation: sp.Expr,
    targets: Sequence[float] = (0.0,),
) -> sp.Expr:
    """The first of ``candidates`` (forms in z, a, t of the function ``exact`` in z, t) within
    ``TOLERANCE`` in every dtype at every logit; else two of them joined where each is
    (``_split``); else the one within it at the most logits (then the smallest error). The
    first if the comparison takes longer than ``SECONDS``."""
    unique = list(dict.fromkeys(candidates))
    if len(unique) == 1:
        return unique[0]

    def compare() -> sp.Expr:
        reference = exact_values(exact, LOGITS, targets)
        errors = []
        for form in unique:
            errors.append(pointwise_errors(form, reference, activation, targets))
            if errors[-1].max() <= 1:
                return form
        joined = _split(unique, errors)
        if joined is not None:
            return joined
        # the form within tolerance at the most logits, then the smallest largest error: a
        # wrong form is off at every logit, by less than one that overflows at a few
        return unique[
            min(
                range(len(unique)),
                key=lambda i: (int((errors[i] > 1).sum()), errors[i].max()),
            )
        ]

    def guarded() -> sp.Expr:
        try:
            return compare()
        except Exception:  # noqa: BLE001 - a form NumPy or mpmath cannot evaluate
            return unique[0]

    return budget.within(SECONDS, guarded, lambda: unique[0])


def _per_piece(rewrite: Callable[[sp.Expr], sp.Expr]) -> Callable[[sp.Expr], sp.Expr]:
    """``rewrite`` applied to each piece of a piecewise expression, and to the difference
    each condition compares (A < B decided as 0 < B − A, rewritten): t·tanh z < 1 is then
    decided by (1 − t)σ(2z) + (1 + t)σ(−2z) > 0, true where tanh z rounds to 1."""

    def decided(condition: sp.Basic) -> sp.Basic:
        if isinstance(condition, (sp.And, sp.Or, sp.ITE)):
            return condition.func(*(decided(part) for part in condition.args))
        if isinstance(condition, Relational) and not isinstance(
            condition, (sp.Eq, sp.Ne)
        ):
            difference = condition.rhs - condition.lhs
            written = per_piece(difference)
            if written != difference:  # else as it was: z > 0 reads better than 0 < z
                # Grouped: SymPy would move the terms of 0 < d back across the sign
                return condition.func(sp.S.Zero, Grouped(written))
        return condition

    @functools.wraps(rewrite)
    def per_piece(expr: sp.Expr) -> sp.Expr:
        # a piecewise expression keeps its pieces (nested ones stay nested: their conditions
        # read as written); a piecewise part inside a formula is lifted out first
        folded = expr if isinstance(expr, sp.Piecewise) else sp.piecewise_fold(expr)
        if not isinstance(folded, sp.Piecewise):
            return rewrite(expr)
        pieces = [(per_piece(branch), decided(cond)) for branch, cond in folded.args]
        return sp.Piecewise(*pieces, evaluate=False)

    return per_piece


@_per_piece
def grouped(expr: sp.Expr) -> sp.Expr:
    """``expr`` expanded, its terms grouped by the functions of z they hold, so that each
    coefficient (in t) multiplies one function: t·softplus(−z) + (1 − t)·softplus(z) for
    binary cross-entropy, where collecting t instead leaves softplus(z) − t·z to cancel.
    """
    expanded = sp.expand(expr)
    varying = sorted(
        (f for f in expanded.atoms(sp.Function, sp.Pow) if f.has(z)),
        key=sp.default_sort_key,
    )
    if not varying:
        return expr
    collected = sp.collect(expanded, varying)
    # the terms without z summed first, as one: 1 − t is exactly 0 for t = 1
    fixed, moving = sp.S.Zero, []
    for term in sp.Add.make_args(collected):
        if term.has(z):
            moving.append(term)
        else:
            fixed += term
    if len(sp.Add.make_args(fixed)) > 1:
        fixed = Grouped(fixed)
    return sp.Add(fixed, *moving)


@_per_piece
def with_expm1(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every e^u written expm1(u) + 1, then expanded and grouped: e^z − t
    becomes expm1(z) + (1 − t), exact at z ≈ 0 for t = 1 (Poisson after exponential)."""
    return grouped(expr.replace(sp.exp, lambda u: Expm1(u) + 1))


_HYPERBOLIC = (sp.sinh, sp.cosh, sp.tanh, sp.coth, sp.sech, sp.csch)


@_per_piece
def rewritten(expr: sp.Expr) -> sp.Expr:
    """``expr`` with hyperbolic functions written in exp, over one denominator, its numerator
    grouped by the exps it holds and each group divided by the denominator: a sum of
    logistic-like terms, each of which stabilises to a form without cancellation
    (1 − t·tanh z → (1 − t)σ(2z) + (1 + t)σ(−2z)). Factors and powers are rewritten one by
    one: (1 − t·z/(1 + |z|))² keeps its square of (1 + |z| − t·z)/(1 + |z|) rather than
    expanding into terms that cancel."""
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        return rewritten(expr.base) ** expr.exp
    if isinstance(expr, sp.Mul):
        return sp.Mul(*(rewritten(factor) for factor in expr.args))
    # (hyperbolic ones alone: rewritten in exp, sin and cos would be complex exponentials)
    together = sp.together(expr.rewrite(_HYPERBOLIC, sp.exp))
    numerator, denominator = sp.fraction(together)
    numerator = sp.expand(numerator)
    groups = sp.collect(
        numerator,
        sorted(numerator.atoms(sp.exp), key=sp.default_sort_key),
        evaluate=False,
    )
    return sp.Add(
        *(coefficient * factor / denominator for factor, coefficient in groups.items())
    )


__all__ = [
    "LOGITS",
    "TOLERANCE",
    "exact_values",
    "most_accurate",
    "relative_errors",
    "rewritten",
    "worst_errors",
]
