"""Rewrites applied before printing code, so that no generated formula can overflow.

Each rule is a small named function ``node -> node | None`` (None: does not apply), run
bottom-up over the expression. Rules only change the form, never the value.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .algebra import LogSumExp, RowSum, Softplus
from .catalog import Activation, Loss
from .symbols import t, y

Rule = Callable[[sp.Basic], "sp.Basic | None"]


def _one_plus_exp(node: sp.Basic) -> sp.Expr | None:
    """The u of ``1 + exp(u)``, else None."""
    if isinstance(node, sp.Add) and len(node.args) == 2 and sp.S.One in node.args:
        rest = node.args[0] if node.args[1] is sp.S.One else node.args[1]
        if isinstance(rest, sp.exp):
            return rest.args[0]
    return None


def log_one_plus_exp(node: sp.Basic) -> sp.Basic | None:
    """log(1 + exp(u)) → softplus(u)."""
    if isinstance(node, sp.log) and (u := _one_plus_exp(node.args[0])) is not None:
        return Softplus(u)
    return None


def log_row_sum_exp(node: sp.Basic) -> sp.Basic | None:
    """log Σ_k exp(u_k) → logsumexp(u)."""
    if isinstance(node, sp.log) and isinstance(node.args[0], RowSum):
        inner = node.args[0].args[0]
        if isinstance(inner, sp.exp):
            return LogSumExp(inner.args[0])
    return None


def logistic(node: sp.Basic) -> sp.Basic | None:
    """1 / (1 + exp(u)) → exp(−softplus(u))."""
    if (
        isinstance(node, sp.Pow)
        and node.exp == -1
        and (u := _one_plus_exp(node.base)) is not None
    ):
        return sp.exp(-Softplus(u))
    return None


def normalised_exp(node: sp.Basic) -> sp.Basic | None:
    """exp(u) / Σ_k exp(u_k) → exp(u − logsumexp(u))."""
    if not isinstance(node, sp.Mul):
        return None
    for factor in node.args:
        if (
            isinstance(factor, sp.Pow)
            and factor.exp == -1
            and isinstance(factor.base, RowSum)
        ):
            inner = factor.base.args[0]
            if isinstance(inner, sp.exp) and inner in node.args:
                rest = node.func(*(f for f in node.args if f not in (factor, inner)))
                return rest * sp.exp(inner.args[0] - LogSumExp(inner.args[0]))
    return None


STABILISE: tuple[Rule, ...] = (
    log_one_plus_exp,
    log_row_sum_exp,
    logistic,
    normalised_exp,
)


def stabilise(expr: sp.Expr, rules: tuple[Rule, ...] = STABILISE) -> sp.Expr:
    """Apply every rule bottom-up until none applies."""

    def visit(node: sp.Basic) -> sp.Basic:
        if node.args:
            node = node.func(*(visit(arg) for arg in node.args))
        for rule in rules:
            new = rule(node)
            if new is not None:
                return visit(new)
        return node

    return visit(expr)


def is_overflow_free(expr: sp.Expr) -> bool:
    """Every exp left takes an argument bounded above by construction (softplus/logsumexp shifts)."""
    return all(e.args[0].has(Softplus, LogSumExp) for e in expr.atoms(sp.exp))


def loss_from_logits(activation: Activation, loss: Loss) -> sp.Expr | None:
    """ℓ(f(z), t) in z and t, stable, when the loss takes logs of the output; else None.

    The composition is expanded (log of a quotient becomes a difference) and then stabilised;
    if any exp could still overflow, the loss is computed from the output y instead.
    """
    if not loss.expr.has(sp.log):
        return None
    composed = loss.expr.xreplace({y: activation.expr})
    composed = composed.replace(sp.log, lambda u: sp.log(sp.together(u)))
    composed = stabilise(sp.expand_log(composed, force=True))
    composed = sp.expand(composed)
    if composed.has(sp.log) or not is_overflow_free(composed):
        return None
    return sp.collect(composed, t)
