"""Scalar calculus: activation derivatives in output form, backward rules and the output error.

Everything here is SymPy differentiating catalog expressions. Derivatives are re-expressed in
terms of the activation's output ``a`` by a general search (fit a low-degree polynomial at a few
sample points, then prove the identity symbolically), never by a table of known functions.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .algebra import RowSum, expand_rows, indexed
from .catalog import Activation, Loss
from .errors import SpecError
from .symbols import a, g, t, y, z

#: sample points for the output-form search; irrational-looking so that no identity holds by accident
_SAMPLES = (-2.137, -1.291, -0.613, -0.177, 0.348, 0.861, 1.437, 2.213, 3.071)
_MAX_DEGREE = 3
#: widths of the concrete layers on which a row-wise activation is differentiated and checked
_ROW_WIDTHS = (3, 4)


def is_identically_zero(expr: sp.Expr) -> bool:
    """Cheap proof that ``expr`` is 0 everywhere: piecewise folding, then cancellation."""
    expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        return all(is_identically_zero(branch) for branch, _ in expr.args)
    if expr == 0:
        return True
    rewritten = sp.expand(expr.rewrite(sp.exp))
    return sp.cancel(sp.together(rewritten)) == 0


def tidy(expr: sp.Expr) -> sp.Expr:
    """A small, bounded simplification: fold pieces, cancel fractions, pull out common factors."""
    expr = sp.piecewise_fold(expr)
    if isinstance(expr, sp.Piecewise):
        return sp.Piecewise(*((tidy(branch), cond) for branch, cond in expr.args))
    cancelled = sp.cancel(expr)
    forms = (sp.factor_terms(cancelled), sp.factor(cancelled))
    return min(forms, key=lambda form: (sp.count_ops(form), sp.default_sort_key(form)))


def _numeric(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]):
    return sp.lambdify(symbols, expr, modules="math")


def _fit(values: np.ndarray, monomials: list[np.ndarray]) -> list[sp.Rational] | None:
    """Rational coefficients c with Σ c_j m_j = values at every sample, or None."""
    basis = np.column_stack(monomials)
    coeffs, *_ = np.linalg.lstsq(basis, values, rcond=None)
    if not np.allclose(basis @ coeffs, values, rtol=1e-9, atol=1e-9):
        return None
    return [sp.nsimplify(float(c), rational=True, tolerance=1e-9) for c in coeffs]


@dataclass(frozen=True)
class OutputForm:
    """f'(z) written as ``expr``: in ``a`` when ``in_output`` holds, otherwise in ``z``."""

    expr: sp.Expr
    in_output: bool


@cache
def derivative_in_output_form(f: sp.Expr) -> OutputForm:
    """f'(z) as a function of a = f(z) where such a form exists, else in z.

    Candidates: polynomials P(a) of degree ≤ 3 fitted at sample points, then f' with z replaced by
    a (true for piecewise-linear functions that keep the sign of z). Each is proved before use.
    """
    fprime = sp.diff(f, z)
    f_at, d_at = _numeric(f, (z,)), _numeric(fprime, (z,))
    fs = np.array([float(f_at(s)) for s in _SAMPLES])
    ds = np.array([float(d_at(s)) for s in _SAMPLES])
    candidates = []
    for degree in range(_MAX_DEGREE + 1):
        coeffs = _fit(ds, [fs**k for k in range(degree + 1)])
        if coeffs is not None:
            candidates.append(sum(c * a**k for k, c in enumerate(coeffs)))
            break
    candidates.append(fprime.xreplace({z: a}))
    for candidate in candidates:
        if is_identically_zero(candidate.xreplace({a: f}) - fprime):
            return OutputForm(tidy(candidate), True)
    return OutputForm(fprime, False)


@dataclass(frozen=True)
class RowJacobian:
    """∂a_i/∂z_j of a row-wise activation: ``diagonal(a_i)`` for i = j, ``off(a_i, a_j)`` else."""

    diagonal: sp.Expr
    off: sp.Expr


def _other(symbol: sp.Symbol) -> sp.Symbol:
    return sp.Symbol(symbol.name + "_other", **symbol.assumptions0)


def _first_two_units(
    f: sp.Expr, width: int
) -> tuple[sp.Expr, sp.Expr, tuple[sp.Symbol, ...]]:
    """Outputs a_1 and a_2 of a concrete row of ``width`` units, and the row's inputs z_1 … z_w."""
    zs = tuple(indexed(z, k) for k in range(1, width + 1))
    first = expand_rows(f, width, (z,))
    return first, first.xreplace({zs[0]: zs[1], zs[1]: zs[0]}), zs


@cache
def row_jacobian(f: sp.Expr) -> RowJacobian:
    """The Jacobian of a row-wise activation in output form, found and proved on concrete rows."""
    first, second, zs = _first_two_units(f, _ROW_WIDTHS[0])
    points = np.random.default_rng(0).uniform(-2, 2, size=(12, len(zs)))

    def sampled(expr: sp.Expr) -> np.ndarray:
        at = _numeric(expr, zs)
        return np.array([float(at(*p)) for p in points])

    a1, a2 = sampled(first), sampled(second)
    diag = _fit(sampled(sp.diff(first, zs[0])), [a1**k for k in range(_MAX_DEGREE + 1)])
    powers = [(i, j) for i, j in itertools.product(range(3), repeat=2) if i + j <= 2]
    off = _fit(sampled(sp.diff(second, zs[0])), [a1**i * a2**j for i, j in powers])
    if diag is None or off is None:
        raise SpecError(
            f"activation {f}: its Jacobian has no polynomial form in its outputs"
        )
    other = _other(a)
    jac = RowJacobian(
        sum(c * a**k for k, c in enumerate(diag)),
        sum(c * a**i * other**j for (i, j), c in zip(powers, off)),
    )
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
                f"activation {f}: could not prove its Jacobian on a row of {width} units"
            )
    return jac


@cache
def backward_rule(f: sp.Expr) -> sp.Expr:
    """∂ℓ/∂z of one unit given g = ∂ℓ/∂a for every unit of its row, in g, a (and z if needed).

    Element-wise: g·f'. Row-wise: Σ_k g_k ∂a_k/∂z, re-assembled with RowSum from the Jacobian.
    """
    if not f.has(RowSum):
        return g * derivative_in_output_form(f).expr
    jac = row_jacobian(f)
    other = _other(a)
    rule = g * (jac.diagonal - jac.off.xreplace({other: a}))
    for term in sp.Add.make_args(sp.expand(jac.off)):
        own, shared = term.as_independent(other, as_Add=False)
        rule += own * RowSum(g * shared.xreplace({other: a}))
    return rule


def sums_to_one(f: sp.Expr) -> bool:
    """Whether a row-wise activation's outputs always sum to 1 (its targets must then too)."""
    if not f.has(RowSum):
        return False
    return is_identically_zero(expand_rows(RowSum(f), _ROW_WIDTHS[0], (z,)) - 1)


def output_error(activation: Activation, loss: Loss, convention: str) -> sp.Expr:
    """δ_y of the output layer, fused: −∂ℓ/∂z (``"negative"``) or ∂ℓ/∂z (``"gradient"``), in y, t."""
    dloss = sp.diff(loss.expr, y)
    fused = backward_rule(activation.expr).xreplace({g: dloss, a: y})
    fused = fused.replace(RowSum, lambda u: RowSum(sp.expand(u)))
    if sums_to_one(activation.expr):
        fused = fused.xreplace({RowSum(t): sp.Integer(1)})
    delta = -fused if convention == "negative" else fused
    return tidy(delta)
