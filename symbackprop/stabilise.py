"""Rewrites applied before printing code, so that no generated formula can overflow.

Each rule is a small named function ``node -> node | None`` (None: does not apply), run
bottom-up over the expression. Rules only change the form, never the value.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .algebra import LogSumExp, RowSum, Softmax, Softplus, value
from .functions import Activation, Loss
from .symbols import t, y, z

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
    """(1 + exp(u))^(−k) → exp(−k·softplus(u)) for a positive integer k."""
    if (
        isinstance(node, sp.Pow)
        and node.exp.is_Integer
        and node.exp < 0
        and (u := _one_plus_exp(node.base)) is not None
    ):
        return sp.exp(node.exp * Softplus(u))
    return None


def merge_exps(node: sp.Basic) -> sp.Basic | None:
    """exp(u)·exp(v) → exp(u + v), so that a large and a small factor cannot overflow apart."""
    if isinstance(node, sp.Mul):
        exps = [f for f in node.args if isinstance(f, sp.exp)]
        if len(exps) > 1:
            rest = [f for f in node.args if not isinstance(f, sp.exp)]
            merged = sp.exp(sp.Add(*(e.args[0] for e in exps)), evaluate=False)
            return sp.Mul(*rest, merged, evaluate=False)
    return None


def log_cosh(node: sp.Basic) -> sp.Basic | None:
    """log cosh(u) → |u| + softplus(−2|u|) − log 2."""
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.cosh):
        u = sp.Abs(node.args[0].args[0])
        return u + Softplus(-2 * u) - sp.log(2)
    return None


def tanh_ratio(node: sp.Basic) -> sp.Basic | None:
    """sinh(u) / cosh(u) → tanh(u)."""
    if isinstance(node, sp.Mul):
        for f in node.args:
            if isinstance(f, sp.sinh):
                inverse = sp.cosh(f.args[0]) ** -1
                if inverse in node.args:
                    rest = [g for g in node.args if g not in (f, inverse)]
                    return sp.Mul(*rest, sp.tanh(f.args[0]))
    return None


def x_log_x(node: sp.Basic) -> sp.Basic | None:
    """u·log(u) → u·log(u if u > 0 else 1), which is 0 at u = 0 (the limit) instead of nan."""
    if isinstance(node, sp.Mul):
        for f in node.args:
            if isinstance(f, sp.log) and f.args[0] in node.args:
                u = f.args[0]
                rest = [g for g in node.args if g is not f]
                return sp.Mul(*rest, sp.log(sp.Piecewise((u, u > 0), (1, True))))
    return None


def guarded_exp(node: sp.Basic) -> sp.Basic | None:
    """In the pieces after ``u > c``, exp(… u …) → exp(… min(u, c) …): same value there, and
    the piece that np.where evaluates but discards can no longer overflow."""
    if not isinstance(node, sp.Piecewise):
        return None
    pieces, bounds, changed = [], {}, False
    for branch, condition in node.args:
        guarded = branch
        if bounds:
            guarded = branch.replace(
                lambda e: isinstance(e, sp.exp),
                lambda e: sp.exp(e.args[0].xreplace(bounds)),
            )
        changed = changed or guarded != branch
        pieces.append((guarded, condition))
        if (
            isinstance(condition, sp.StrictGreaterThan)
            and condition.lhs.is_Symbol
            and condition.rhs.is_number
        ):
            bounds[condition.lhs] = sp.Min(condition.lhs, condition.rhs)
    return sp.Piecewise(*pieces, evaluate=False) if changed else None


def normalised_exp(node: sp.Basic) -> sp.Basic | None:
    """exp(u) / Σ_k exp(u_k) → softmax(u), printed with the row maximum subtracted."""
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
                return rest * Softmax(inner.args[0])
    return None


STABILISE: tuple[Rule, ...] = (
    log_one_plus_exp,
    log_row_sum_exp,
    log_cosh,
    logistic,
    normalised_exp,
    merge_exps,
    tanh_ratio,
    x_log_x,
    guarded_exp,
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


def overflow_risk(expr: sp.Expr) -> int:
    """How many exps of ``expr`` could overflow once stabilised (0 for a safe form)."""
    return len(_unbounded_exps(stabilise(expr)))


def _unbounded_exps(expr: sp.Expr) -> set[sp.Expr]:
    """The exps whose argument is not bounded above by a softplus or logsumexp shift."""
    return {e for e in expr.atoms(sp.exp) if not e.args[0].has(Softplus, LogSumExp)}


def loss_from_logits(activation: Activation, loss: Loss) -> sp.Expr | None:
    """ℓ(f(z), t) in z and t, stable, when the loss takes logs of the output; else None.

    The composition is expanded (log of a quotient becomes a difference) and then stabilised.
    It is used when no log of z is left and it has no exp that could overflow beyond those of
    the activation itself (exponential + poisson gives e^z − t·z, the loss of the log-rate).
    """
    if not loss.expr.has(sp.log):
        return None
    composed = loss.expr.xreplace({y: value(activation.expr)})
    composed = composed.replace(sp.log, lambda u: sp.log(sp.together(u)))
    composed = stabilise(sp.expand(stabilise(sp.expand_log(composed, force=True))))
    if any(log.has(z) for log in composed.atoms(sp.log)):
        return None
    if _unbounded_exps(composed) - _unbounded_exps(stabilise(value(activation.expr))):
        return None
    return sp.collect(composed, t)
