"""The training step's algebra: errors scaled before the products, the learning rate folded in.

A generated module's ``_step(…, scale)`` returns scale × every gradient of the mean loss. It
multiplies the output error once by ±scale/N (an N × units array) instead of dividing each
product after it, so a weight gradient is one matrix product and a bias gradient one sum.
Backpropagation is linear in the output error, so every δ below inherits the factor unchanged.
When each rule of the optimiser uses the gradient only as η·dθ (SGD, with or without momentum),
scale is η itself and the rules lose their η: W1 := W1 − η·dW1 runs as ``W1 -= dW1``.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from .algebra import BatchMean, BatchSum, Dot, Transpose
from .derive import Derivation, Equation, N, gradient_of
from .optimizers import GRAD, LR, LR_K, Optimizer
from .printers import is_scalar

#: the factor ``_step`` multiplies every gradient by (1, or η when the optimiser folds it in)
SCALE = sp.Symbol("scale", positive=True)

_LINEAR = (Transpose, Dot, BatchMean, BatchSum)


def folded_rate(optimizer: Optimizer) -> sp.Symbol | None:
    """The rate symbol (η, or η_k under a schedule) when every rule holds the gradient only
    as η·dθ, so that rules written in η·dθ no longer mention η; else None (Adam, RMSprop).
    """
    rate = LR_K if optimizer.schedule is not None else LR
    for _, formula in optimizer.rules:
        if formula.xreplace({GRAD: GRAD / rate}).has(rate):
            return None
    return rate


def _split(arg: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(scalar factor, array rest) of a product."""
    factors = sp.Mul.make_args(arg)
    scalars = [f for f in factors if is_scalar(f)]
    return sp.Mul(*scalars), sp.Mul(*(f for f in factors if not is_scalar(f)))


def _normalise(expr: sp.Expr) -> sp.Expr:
    """Scalars pulled out of products, transposes and batch means, bottom-up; then
    N·mean_n(u) → Σ_n(u)."""
    if not expr.args:
        return expr
    expr = expr.func(*(_normalise(arg) for arg in expr.args))
    if isinstance(expr, _LINEAR):
        coefficient, parts = sp.S.One, []
        for arg in expr.args:
            scalar, rest = _split(arg)
            coefficient *= scalar
            parts.append(rest)
        return coefficient * expr.func(*parts)
    if isinstance(expr, sp.Mul) and N in expr.args:
        means = [f for f in expr.args if isinstance(f, BatchMean)]
        if means:
            rest = [f for f in expr.args if f is not N and f is not means[0]]
            return sp.Mul(*rest, BatchSum(means[0].args[0]))
    return expr


def error_scale(derivation: Derivation) -> sp.Expr:
    """What each δ of the step is multiplied by: scale·∂L/∂Z = (∓scale/N)·δ."""
    sign = -1 if derivation.convention == "negative" else 1
    return sign * SCALE / N


def scaled_backward(derivation: Derivation) -> list[tuple[Equation, sp.Expr]]:
    """The δ and gradient equations of the step, each with the right-hand side the step
    computes: the output error times ``error_scale``, the recursion as derived, and each
    gradient as scale × its formula in the scaled errors."""
    factor = error_scale(derivation)
    deltas = derivation.step("delta")
    unscale = {eq.lhs: eq.lhs / factor for eq in deltas}
    # 2*T - 2*A3 → 2*(T - A3), so the number joins the scale: (A3 - T) * (2*scale/N); only
    # the number is pulled out (factoring inside would undo an accurate form's grouping)
    lines = [(deltas[0], factor * sp.Mul(*_content(deltas[0].code)))]
    lines += [(eq, eq.code) for eq in deltas[1:]]
    for eq in derivation.step("gradient"):
        terms = sp.Add.make_args(eq.rhs)
        scaled = sp.Add(*(_normalise(SCALE * t.xreplace(unscale)) for t in terms))
        lines.append((eq, scaled))
    return lines


def _content(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(the numeric factor common to the terms of ``expr``, the rest)."""
    return expr.primitive() if isinstance(expr, sp.Add) else expr.as_coeff_Mul()


def folded_updates(derivation: Derivation) -> tuple[Equation, ...]:
    """The update equations as the fit loop runs them: with the rate folded into the step's
    gradients (dW1 holding η·dW1) where ``folded_rate`` allows, else as derived."""
    updates = derivation.step("update")
    rate = folded_rate(derivation.network.optimizer)
    if rate is None:
        return updates
    grads = {gradient_of(p): gradient_of(p) / rate for p in derivation.params}
    return tuple(dataclasses.replace(eq, rhs=eq.rhs.xreplace(grads)) for eq in updates)


def in_place(eq: Equation) -> tuple[sp.Expr, sp.Expr] | None:
    """(c, r) with eq.rhs = c·lhs + r and neither holding lhs, for an equation that rebinds
    its variable; the fit loop then updates the array in place. None otherwise."""
    if not eq.rebinds:
        return None
    coefficient = sp.diff(eq.rhs, eq.lhs)
    rest = eq.rhs - coefficient * eq.lhs
    if coefficient.has(eq.lhs) or rest.has(eq.lhs) or not is_scalar(coefficient):
        return None
    return coefficient, rest
