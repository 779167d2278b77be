"""Scalar calculus: activation derivatives in output form, backward rules and the output error.

Everything here is SymPy differentiating catalog expressions. Derivatives are re-expressed in
terms of the activation's output ``a`` by a general search (fit a low-degree polynomial at a few
sample points, then prove the identity symbolically), never by a table of known functions.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import sympy as sp
from sympy.core.relational import Relational

from .. import budget
from ..errors import SpecError, shorten
from ..expressions import names, numeric
from ..expressions.algebra import (
    Log1mSoftmax,
    LogSoftmax,
    RowSum,
    SoftmaxBackward,
    SoftmaxBackwardPole,
    SoftmaxMinus,
    expand_rows,
    indexed,
    sums_a_constant,
    value,
)
from ..expressions.symbols import a, g, t, y, z
from ..spec.functions import Activation, Loss
from ..spec.targets import DOMAINS
from . import accuracy, stabilise

#: sample points for the output-form search; irrational-looking so that no identity holds by accident
Result = TypeVar("Result")

_SAMPLES = (-2.137, -1.291, -0.613, -0.177, 0.348, 0.861, 1.437, 2.213, 3.071)
_MAX_DEGREE = 3
#: widths of the concrete layers on which a row-wise activation is differentiated and checked
_ROW_WIDTHS = (3, 4)
#: seconds of symbolic work each stage may take before it gives up (see ``budget``): the
#: catalog's activations need under 0.3 s for their whole output-form search
SEARCH_SECONDS = 8.0
PROOF_SECONDS = 3.0
TIDY_SECONDS = 3.0
REGION_SECONDS = 2.0
#: seconds to choose an accurate form of one formula (rewrites and comparison together)
ACCURACY_SECONDS = 6.0
#: how many times its operations a rewritten form may have (more prints unreadable code)
_GROWTH = 4


def _region(condition: sp.Basic) -> sp.Set | None:
    """The set of real values where a one-variable condition holds; None if SymPy can't say
    (within ``REGION_SECONDS``)."""
    if condition is sp.true:
        return sp.S.Reals
    if len(condition.free_symbols) != 1:
        return None
    return _attempt(REGION_SECONDS, condition.as_set, None)


def _attempt(seconds: float, work: Callable[[], Result], fallback: Result) -> Result:
    """``work()`` within ``seconds``; ``fallback`` if it runs out of time or SymPy fails."""

    def guarded() -> Result:
        try:
            return work()
        except Exception:  # noqa: BLE001 - SymPy giving up (NotImplementedError, …)
            return fallback

    return budget.within(seconds, guarded, lambda: fallback)


def is_identically_zero(expr: sp.Expr) -> bool:
    """Cheap proof that ``expr`` is 0 everywhere: piecewise folding, then cancellation; False
    (not proved) when it takes longer than ``PROOF_SECONDS``.

    |u| and sign(u) become pieces; a piece whose condition can never hold (given that the
    earlier ones failed) is skipped.
    """
    return _attempt(PROOF_SECONDS, lambda: _zero(expr), False)


def _zero(expr: sp.Expr) -> bool:
    if expr.has(sp.Abs, sp.sign):
        expr = expr.rewrite(sp.Piecewise)
    expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        covered: sp.Set = sp.S.EmptySet
        for branch, condition in expr.args:
            region = _region(condition)
            if region is not None:
                region = region - covered
                if region is sp.S.EmptySet:
                    continue
            if isinstance(region, sp.FiniteSet):
                (symbol,) = condition.free_symbols
                if any(branch.subs(symbol, point) != 0 for point in region):
                    return False
            elif not _zero(branch):
                return False
            if region is not None:
                covered = covered | region
        return True
    if expr == 0:
        return True
    rewritten = sp.expand(expr.rewrite(sp.exp))
    return sp.cancel(sp.together(rewritten)) == 0


def tidy(expr: sp.Expr) -> sp.Expr:
    """A small, bounded simplification: fold pieces, cancel fractions, pull out common factors.

    Of the forms tried, the shortest wins among those that risk no more overflowing exps than
    the others (cancelling can turn e^(−z)/(1 + e^(−z))² into a ratio of growing exps). Past
    ``TIDY_SECONDS``, ``expr`` is returned as it is.
    """
    return _attempt(TIDY_SECONDS, lambda: _tidy(expr), expr)


def _tidy(expr: sp.Expr) -> sp.Expr:
    expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*((_tidy(branch), cond) for branch, cond in expr.args))
    cancelled = sp.cancel(expr)
    forms = (expr, sp.factor_terms(cancelled), sp.factor(cancelled))
    return min(
        forms,
        key=lambda form: (
            stabilise.overflow_risk(form),
            sp.count_ops(form),
            sp.default_sort_key(form),
        ),
    )


def _numeric(expr: sp.Expr, symbols: tuple[sp.Symbol, ...], points) -> np.ndarray:
    """``expr`` at each row of ``points`` (one column per symbol), in float64 (nan where it
    is not a real number)."""
    columns = np.asarray(points, dtype=np.float64).reshape(len(points), len(symbols)).T
    return numeric.evaluate(expr, symbols, columns)


#: bases in which f'(z) is sought as a linear combination of functions of a = f(z), in order
_BASES = (
    *(tuple(a**k for k in range(degree + 1)) for degree in range(_MAX_DEGREE + 1)),
    (sp.Integer(1), a, sp.exp(a), sp.exp(-a)),
    (sp.Integer(1), a, sp.Abs(a), a**2, a * sp.Abs(a)),
)


def _snap(fitted: float, constants: set[sp.Number]) -> sp.Number:
    """A fitted coefficient as an exact number: one of the function's own constants if it is
    one (so that identities with float constants such as SELU's can be proved), else a rational.
    """
    if abs(fitted) < 1e-10:
        return sp.Integer(0)
    for constant in sorted(constants, key=sp.default_sort_key):
        if abs(fitted - float(constant)) <= 1e-9 * max(1.0, abs(float(constant))):
            return constant
    return sp.nsimplify(fitted, rational=True, tolerance=1e-9)


def _fit(
    values: np.ndarray, basis: tuple[sp.Expr, ...], columns: list[np.ndarray], constants
) -> sp.Expr | None:
    """Σ c_j basis_j with exact coefficients matching ``values`` at every sample, or None
    (also where a value or a basis function is not finite there: no fit is tried)."""
    matrix = np.column_stack(columns)
    if not (numeric.finite(matrix) and numeric.finite(values)):
        return None
    try:
        coeffs, *_ = np.linalg.lstsq(matrix, values, rcond=None)
    except np.linalg.LinAlgError:
        return None
    if not np.allclose(matrix @ coeffs, values, rtol=1e-9, atol=1e-9):
        return None
    return sum(_snap(float(c), constants) * b for c, b in zip(coeffs, basis))


def _constants(*exprs: sp.Expr) -> set[sp.Number]:
    found = set().union(*(e.atoms(sp.Number) for e in exprs))
    return found | {-c for c in found}


def _fitted(f: sp.Expr, fprime: sp.Expr) -> list[sp.Expr]:
    """Candidates P(a) for f'(z), fitted at the sample points in each basis of ``_BASES``."""
    if not f.has(z):
        return [sp.Integer(0)]
    fs = _numeric(f, (z,), [(s,) for s in _SAMPLES])
    ds = _numeric(fprime, (z,), [(s,) for s in _SAMPLES])
    constants = _constants(f, fprime)
    candidates = []
    for basis in _BASES:
        columns = [_numeric(b, (a,), [(v,) for v in fs]) for b in basis]
        fit = _fit(ds, basis, columns, constants)
        if fit is not None:
            candidates.append(fit)
    return candidates + _powers(fs, ds, constants)


#: polynomials P(a) for which f'(z) is sought as c·P(a)^p (ISRU: f' = (1 − a²)^{3/2})
_POWER_BASES = (1 - a**2, 1 - a, 1 + a, a, 1 + a**2)


def _powers(fs: np.ndarray, ds: np.ndarray, constants) -> list[sp.Expr]:
    """Candidates c·P(a)^p, p a fraction of denominator ≤ 4, fitted in logarithms at the
    sample points where P(a) > 0 at all of them and f' keeps one sign."""
    if not (numeric.finite(fs) and numeric.finite(ds)) or not (
        np.all(ds > 0) or np.all(ds < 0)
    ):
        return []
    found = []
    for base in _POWER_BASES:
        bs = _numeric(base, (a,), [(v,) for v in fs])
        if not numeric.finite(bs) or np.any(bs <= 0) or np.ptp(np.log(bs)) < 1e-6:
            continue
        slope, intercept = np.polyfit(np.log(bs), np.log(np.abs(ds)), 1)
        power = sp.Rational(round(slope * 4), 4)
        if power == 0 or abs(slope - float(power)) > 1e-7:
            continue
        scale = _snap(float(np.sign(ds[0]) * np.exp(intercept)), constants)
        found.append(scale * base**power)
    return found


def _candidates(f: sp.Expr, fprime: sp.Expr) -> list[sp.Expr]:
    """Expressions in a that may equal f'(z); each must still be proved."""
    candidates = []
    folded = sp.piecewise_fold(f)
    if f.free_symbols == {z}:
        if isinstance(folded, sp.Piecewise):
            pieces = []
            for branch, condition in folded.args:
                fits = _fitted(branch, sp.diff(branch, z))
                if not fits:
                    break
                pieces.append((fits[0], condition.xreplace({z: a})))
            else:
                candidates.append(sp.Piecewise(*pieces))
        else:
            candidates.extend(_fitted(f, fprime))
    if isinstance(folded, sp.Piecewise):
        candidates.append(fprime.xreplace({z: a}))
    return candidates


@dataclass(frozen=True)
class OutputForm:
    """f'(z) written as ``expr``: in ``a`` when ``in_output`` holds, otherwise in ``z``."""

    expr: sp.Expr
    in_output: bool


@budget.cache_if_complete
def derivative_in_output_form(f: sp.Expr) -> OutputForm:
    """f'(z) as a function of a = f(z) where such a form exists, else in z.

    Candidates: combinations of a few functions of a (polynomials of degree ≤ 3, then with
    exp(±a), then with |a|) fitted at sample points, piece by piece for a piecewise f; then f'
    with z replaced by a (true for piecewise-linear f that keep the sign of z). Each candidate is
    proved before use. ``StopGradient`` parts of f count in value, not in the derivative.
    """
    fprime = sp.diff(f, z)
    f_value = value(f)

    def search() -> OutputForm:
        for candidate in _candidates(f_value, fprime):
            if is_identically_zero(candidate.xreplace({a: f_value}) - fprime):
                return OutputForm(tidy(candidate), True)
        return OutputForm(fprime, False)

    return _attempt(SEARCH_SECONDS, search, OutputForm(fprime, False))


@dataclass(frozen=True)
class RowJacobian:
    """∂a_i/∂z_j of a row-wise activation: ``diagonal(a_i)`` for i = j, ``off(a_i, a_j)`` else."""

    diagonal: sp.Expr
    off: sp.Expr


def _first_two_units(
    f: sp.Expr, width: int
) -> tuple[sp.Expr, sp.Expr, tuple[sp.Symbol, ...]]:
    """Outputs a_1 and a_2 of a concrete row of ``width`` units, and the row's inputs z_1 … z_w."""
    zs = tuple(indexed(z, k) for k in range(1, width + 1))
    first = expand_rows(f, width, (z,))
    return first, first.xreplace({zs[0]: zs[1], zs[1]: zs[0]}), zs


@budget.cache_if_complete
def row_jacobian(f: sp.Expr) -> RowJacobian:
    """The Jacobian of a row-wise activation in output form, found and proved on concrete rows
    within ``SEARCH_SECONDS``, else a SpecError."""

    def give_up() -> RowJacobian:
        raise SpecError(
            f"activation {shorten(f)}: its Jacobian in its outputs was not found within "
            f"{SEARCH_SECONDS:g} s"
        )

    return budget.within(SEARCH_SECONDS, lambda: _row_jacobian(f), give_up)


def _row_jacobian(f: sp.Expr) -> RowJacobian:
    first, second, zs = _first_two_units(f, _ROW_WIDTHS[0])
    points = np.random.default_rng(0).uniform(-2, 2, size=(12, len(zs)))
    a1, a2 = _numeric(first, zs, points), _numeric(second, zs, points)
    other = names.other(a)
    constants = _constants(first)
    diagonal_basis = tuple(a**k for k in range(_MAX_DEGREE + 1))
    diagonal = _fit(
        _numeric(sp.diff(first, zs[0]), zs, points),
        diagonal_basis,
        [a1**k for k in range(_MAX_DEGREE + 1)],
        constants,
    )
    powers = [(i, j) for i, j in itertools.product(range(3), repeat=2) if i + j <= 2]
    off = _fit(
        _numeric(sp.diff(second, zs[0]), zs, points),
        tuple(a**i * other**j for i, j in powers),
        [a1**i * a2**j for i, j in powers],
        constants,
    )
    if diagonal is None or off is None:
        raise SpecError(
            f"activation {shorten(f)}: no polynomial form of its Jacobian in its outputs "
            f"(degree ≤ {_MAX_DEGREE}) was found"
        )
    jac = RowJacobian(diagonal, off)
    for width in _ROW_WIDTHS:
        first, second, zs = _first_two_units(f, width)
        diag_ok = is_identically_zero(
            jac.diagonal.xreplace({a: first}) - sp.diff(first, zs[0])
        )
        off_ok = is_identically_zero(
            jac.off.xreplace({a: first, other: second}) - sp.diff(second, zs[0])
        )
        if not (diag_ok and off_ok):
            raise SpecError(
                f"activation {shorten(f)}: could not prove its Jacobian on a row of {width} "
                "units"
                + (
                    " (it sums a constant over the row, Σ_k 1 = the number of units, "
                    "so its Jacobian depends on the layer's width, which the output form "
                    "cannot hold)"
                    if sums_a_constant(f)
                    else ""
                )
            )
    return jac


@budget.cache_if_complete
def backward_rule(f: sp.Expr) -> sp.Expr:
    """∂ℓ/∂z of one unit given g = ∂ℓ/∂a for every unit of its row, in g, a (and z if needed).

    Element-wise: g·f'. Row-wise: Σ_k g_k ∂a_k/∂z, re-assembled with RowSum from the Jacobian.
    """
    if not f.has(RowSum):
        return g * derivative_in_output_form(f).expr
    jac = row_jacobian(f)
    other = names.other(a)
    rule = g * (jac.diagonal - jac.off.xreplace({other: a}))
    for term in sp.Add.make_args(sp.expand(jac.off)):
        own, shared = term.as_independent(other, as_Add=False)
        rule += own * RowSum(g * shared.xreplace({other: a}))
    return rule


def sums_to_one(f: sp.Expr) -> bool:
    """Whether a row-wise activation's outputs always sum to 1 (its targets must then too)."""
    if not f.has(RowSum):
        return False
    return _attempt(
        SEARCH_SECONDS,
        lambda: is_identically_zero(expand_rows(RowSum(f), _ROW_WIDTHS[0], (z,)) - 1),
        False,
    )


#: the target domains whose rows are distributions over the classes, as a softmax's outputs
#: are: one-hot labels and class probabilities (counts and real targets need not sum to 1)
DISTRIBUTIONS = ("labels", "probability")


def uses_target_sum(activation: Activation, loss: Loss, convention: str) -> bool:
    """Whether δ_y of this output pair simplifies by Σ_k t_k = 1: the activation's outputs sum
    to 1 (softmax), the loss's targets are class distributions (``DISTRIBUTIONS``) and the
    chain rule leaves Σ_k t_k in δ_y (cross-entropy does, squared error does not). Targets
    must then sum to 1 too."""
    f = activation.expr
    if loss.targets not in DISTRIBUTIONS or not sums_to_one(f):
        return False
    sign = -1 if convention == "negative" else 1
    fused = backward_rule(f).xreplace({g: sp.diff(loss.expr, y), a: y})
    return (sign * fused).replace(RowSum, lambda u: RowSum(sp.expand(u))).has(RowSum(t))


def loss_is_constant_over_a_row(activation: Activation, output_delta: sp.Expr) -> bool:
    """Whether the loss summed over a row-wise activation's outputs is the same for every
    input: the outputs sum to 1 and its δ_y (``output_error``, either convention) is 0 once
    Σ_k y_k = 1 is used (``y/3``, or any loss linear in y alone, after softmax)."""
    if not sums_to_one(activation.expr):
        return False
    return is_identically_zero(output_delta.xreplace({RowSum(y): sp.Integer(1)}))


def output_error(activation: Activation, loss: Loss, convention: str) -> sp.Expr:
    """δ_y of the output layer, fused: −∂ℓ/∂z (``"negative"``) or ∂ℓ/∂z (``"gradient"``), in y, t."""
    return output_error_steps(activation, loss, convention)[-1]


def output_error_steps(
    activation: Activation, loss: Loss, convention: str
) -> tuple[sp.Expr, ...]:
    """The forms δ_y takes on its way to the simplest, for a derivation to show:
    the chain-rule product (∂ℓ/∂y times f' in output form), its terms cancelled one by one,
    expanded, Σt = 1 used where the outputs sum to 1, and the tidy result (the last)."""
    sign = -1 if convention == "negative" else 1
    dloss = sp.diff(loss.expr, y)
    f = activation.expr
    if f.has(RowSum):
        # row-wise: the backward rule mixes the units of the row through Σ_k
        fused = backward_rule(f).xreplace({g: dloss, a: y})
        forms = [sign * fused.replace(RowSum, lambda u: RowSum(sp.expand(u)))]
        if uses_target_sum(activation, loss, convention):
            forms.append(forms[-1].xreplace({RowSum(t): sp.Integer(1)}))
        forms.append(tidy(forms[-1]))
    else:
        fprime = backward_rule(f).xreplace({g: 1, a: y})
        factors = [factor for factor in (dloss, fprime) if factor != 1]
        shown = [sp.S.NegativeOne] if sign == -1 else []
        forms = [sp.Mul(*shown, *factors, evaluate=False)]
        product = sp.Mul(sign, *factors)
        if not product.has(z):  # in output form: show the cancellation term by term
            terms = sp.Add.make_args(sp.expand(dloss, deep=False))
            forms.append(
                sp.Add(*(sp.factor_terms(sp.cancel(sign * fprime * u)) for u in terms))
            )
            forms.append(sp.expand(forms[-1]))
        forms.append(tidy(product))
    unique = [forms[0]]
    for form in forms[1:]:
        if str(form) != str(unique[-1]):
            unique.append(form)
    return tuple(unique)


# --- the forms the code computes: of the forms equal in exact arithmetic, an accurate one -----


def _element_wise(f: sp.Expr) -> bool:
    """Whether accuracy can be compared for ``f``: element-wise, the true derivative (not a
    straight-through surrogate), in z alone (no learnable parameter)."""
    return not f.has(RowSum) and value(f) == f and f.free_symbols == {z}


def _rewritten(expr: sp.Expr) -> list[sp.Expr]:
    """Other forms of ``expr`` that may keep more digits (``accuracy``: grouped by the
    functions of z, with expm1, written in exp over one denominator), each within
    ``TIDY_SECONDS``; a form that grew past ``_GROWTH`` times the operations is left out.
    """
    forms = []
    largest = _GROWTH * sp.count_ops(expr) + 40
    for rewrite in (accuracy.grouped, accuracy.with_expm1, accuracy.rewritten):
        found = _attempt(TIDY_SECONDS, lambda rewrite=rewrite: rewrite(expr), None)
        # (a form in I would make the module compute complex arrays)
        if found is not None and not found.has(sp.I) and sp.count_ops(found) <= largest:
            forms.append(found)
    return forms


def _accurate(choose: Callable[[], sp.Expr], fallback: sp.Expr) -> sp.Expr:
    """``choose()`` within ``ACCURACY_SECONDS``, else ``fallback`` (the lecture's form)."""
    return _attempt(ACCURACY_SECONDS, choose, fallback)


@budget.cache_if_complete
def accurate_derivative(f: sp.Expr) -> sp.Expr:
    """f' as the code computes it: the output form where it keeps its digits over the logits,
    else the most accurate of the z-forms (``accuracy.most_accurate``). σ' = a(1 − a) rounds to
    0 for z > 37; e^(−z − 2 softplus(−z)) does not."""
    form = derivative_in_output_form(f)
    if not _element_wise(f):
        return form.expr

    def choose() -> sp.Expr:
        fprime = sp.diff(f, z)
        candidates = [form.expr, fprime, *_rewritten(fprime)]
        return accuracy.most_accurate(candidates, fprime, f)

    return _accurate(choose, form.expr)


def accurate_backward_rule(f: sp.Expr) -> sp.Expr:
    """``backward_rule`` with f' as the code computes it (``accurate_derivative``)."""
    if f.has(RowSum):
        return backward_rule(f)
    return g * accurate_derivative(f)


def _composed(activation: Activation, loss: Loss) -> sp.Expr:
    """ℓ(f(z), t): the loss of one unit in its logit."""
    return loss.expr.xreplace({y: value(activation.expr)})


def accurate_output_error(
    activation: Activation, loss: Loss, convention: str
) -> sp.Expr:
    """δ_y as the code computes it, in y (= a), z and t: the fused form (``output_error``)
    where it keeps its digits, else the chain rule with the accurate f', or the derivative of
    the loss's accurate form in z (sigmoid + cross-entropy: (1 − t)σ(z) − tσ(−z), where
    y − t rounds to 0 for t = 1, z > 37)."""
    return _accurate_output_error((activation, loss, convention))


@budget.cache_if_complete
def _accurate_output_error(key: tuple[Activation, Loss, str]) -> sp.Expr:
    activation, loss, convention = key
    fused = output_error(activation, loss, convention)
    f = activation.expr
    if not _element_wise(f):
        return _softmax_error(f, loss, convention, fused)

    def choose() -> sp.Expr:
        sign = -1 if convention == "negative" else 1
        exact = sign * sp.diff(_composed(activation, loss), z)
        chain = sign * sp.diff(loss.expr, y) * accurate_derivative(f)
        # (a, the output, is f(z): in z before the derivative, which would miss its part)
        from_loss = sign * sp.diff(accurate_loss(activation, loss).xreplace({a: f}), z)
        candidates = [fused, chain, from_loss, *_rewritten(exact)]
        chosen = accuracy.most_accurate(
            [c.xreplace({y: a}) for c in candidates],
            exact,
            f,
            DOMAINS[loss.targets].points,
        )
        return chosen.xreplace({a: y})

    return _accurate(choose, fused)


#: softmax, however an activation writes it
_SOFTMAX = sp.exp(z) / RowSum(sp.exp(z))


#: the difference y − t, for losses that are functions of it alone
_u = sp.Symbol("u", real=True)


def _of_difference(expr: sp.Expr, targets: str) -> sp.Expr | None:
    """``expr`` in y and t written in u = y − t (mse: u², mae: |u|, hinge with t = ±1:
    max(0, −t·u), its condition t·y < 1 as t·u < 0), where u is never added to a term of t
    alone, which would round u's digits away as y does; else None."""
    in_u = expr.subs(y, _u + t)
    if targets == "sign":  # t = ±1 (the module accepts no other): t² = 1
        in_u = in_u.replace(
            lambda node: isinstance(node, Relational),
            lambda rel: rel.func(sp.expand(rel.lhs - rel.rhs), 0),
        )
        in_u = sp.expand(in_u).replace(
            lambda node: isinstance(node, sp.Pow)
            and node.base == t
            and node.exp.is_Integer,
            lambda power: t if power.exp % 2 else sp.S.One,
        )
    for node in sp.preorder_traversal(in_u):
        if isinstance(node, sp.Add) and any(
            term.has(t) and not term.has(_u) for term in node.args
        ):
            return None
    return in_u


def _softmax_error(f: sp.Expr, loss: Loss, convention: str, fused: sp.Expr) -> sp.Expr:
    """δ_y after softmax in forms that keep their digits where y ≈ 1: ±(y − t), once Σ_k y_k
    = 1, as ±SoftmaxMinus(y, t) (cross-entropy, KL divergence, Poisson); for a loss of y − t
    alone, the chain rule ±SoftmaxBackward(y, ℓ'(SoftmaxMinus(y, t))); any other δ_y as it is.
    """
    if f != _SOFTMAX:
        return fused
    for sign in (1, -1):
        if sp.expand(fused.xreplace({RowSum(y): 1}) - sign * (y - t)) == 0:
            return sign * SoftmaxMinus(y, t)
    sign = -1 if convention == "negative" else 1
    dloss = sp.diff(loss.expr, y)
    if _pole_at_one(dloss):
        return sign * SoftmaxBackwardPole(
            z, y, t, dloss, _below_top(y * dloss), _at_top((1 - y) * dloss)
        )
    in_difference = _of_difference(loss.expr, loss.targets)
    if in_difference is None:
        return fused
    slope = sp.diff(in_difference, _u)  # ∂ℓ/∂u = ∂ℓ/∂y, written in u = y − t
    return sign * SoftmaxBackward(y, slope.xreplace({_u: SoftmaxMinus(y, t)}))


def _pole_at_one(dloss: sp.Expr) -> bool:
    """Whether ∂ℓ/∂y is infinite at y = 1 (a loss with log(1 − y)): after softmax, y·∂ℓ/∂y
    overflows at the largest output, and only the products ``_below_top`` and ``_at_top`` are finite.
    """
    try:
        return sp.denom(sp.together(dloss)).xreplace({y: 1}) == 0
    except (TypeError, ValueError):
        return False


#: the arguments of the products a SoftmaxBackwardPole takes: the output, 1 − it, it − t, t
_PRODUCT_ARGS = _A, _C, _D, _T = sp.symbols("A C D T", real=True)


def _below_top(product: sp.Expr) -> sp.Lambda:
    """``product`` (of y and t) as one fraction in A = y and T = t: below the row's largest
    output y ≤ 1/2, so 1 − y keeps its digits. (y − t)/(1 − y) stays so."""
    top, bottom = sp.fraction(sp.cancel(product))
    if bottom.as_coeff_Add()[0] < 0:  # y − 1 → 1 − y
        top, bottom = sp.expand(-top), sp.expand(-bottom)
    return sp.Lambda(_PRODUCT_ARGS, (top / bottom).xreplace({y: _A, t: _T}))


def _at_top(product: sp.Expr) -> sp.Lambda:
    """``product`` (of y and t) at the row's largest output, y ≥ 1/K, in C = 1 − y and D = y − t,
    which the module computes from the others' share: with y = 1 − C and t = 1 − C − D every
    constant cancels symbolically, so no difference of numbers near 1 is left to round; a
    factor 1 − C is written A. (y − t)/y becomes D/A."""
    fraction = sp.factor(sp.cancel(product.xreplace({y: 1 - _C, t: 1 - _C - _D})))
    named = {1 - _C: _A, _C - 1: -_A}
    return sp.Lambda(
        _PRODUCT_ARGS,
        fraction.replace(lambda node: node in named, lambda node: named[node]),
    )


def _softmax_logs(expr: sp.Expr) -> sp.Expr:
    """The logs of a softmax output a and of 1 − a as functions of the logits, which keep
    their digits and stay finite where a rounds to 0 or 1."""
    logs = {a: LogSoftmax(z), 1 - a: Log1mSoftmax(z)}
    return expr.replace(
        lambda node: isinstance(node, sp.log) and node.args[0] in logs,
        lambda node: logs[node.args[0]],
    )


def accurate_loss(activation: Activation, loss: Loss) -> sp.Expr:
    """ℓ(f(z), t) as the code computes it, in a (the output), z and t: from the logits where
    that is stable (``stabilise.loss_from_logits``), else in the output, else — where those
    cancel — written in exp over one denominator (1 − t·tanh z for hinge after tanh)."""
    return _accurate_loss((activation, loss))


@budget.cache_if_complete
def _accurate_loss(key: tuple[Activation, Loss]) -> sp.Expr:
    activation, loss = key
    in_output = sp.expand_log(loss.expr.xreplace({y: a}), force=True)
    f = activation.expr
    if f == _SOFTMAX:
        in_output = _softmax_logs(in_output)
    logits = stabilise.loss_from_logits(activation, loss)
    candidates = [c for c in (logits, in_output) if c is not None]
    in_difference = _of_difference(loss.expr, loss.targets) if f == _SOFTMAX else None
    if in_difference is not None:
        return in_difference.xreplace({_u: SoftmaxMinus(a, t)})
    if not _element_wise(f):
        return candidates[0]

    def choose() -> sp.Expr:
        composed = _composed(activation, loss)
        more = _rewritten(logits) if logits is not None else []
        return accuracy.most_accurate(
            [*candidates, *more, *_rewritten(composed)],
            composed,
            f,
            DOMAINS[loss.targets].points,
        )

    return _accurate(choose, candidates[0])
