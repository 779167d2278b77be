"""Rewrites applied before printing code, so that no generated formula overflows or loses its
digits to cancellation (e^u − 1 → expm1(u), 1 + erf(u) → erfc(−u), softplus(w) − w →
softplus(−w)).

Each rule is a small named function ``node -> node | None`` (None: does not apply), run
bottom-up over the expression. Rules only change the form, never the value.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..expressions.algebra import (
    Erfc,
    Expm1,
    Log1p,
    LogAddExp,
    LogCosh,
    LogSoftmax,
    LogSoftplus,
    LogSumExp,
    RowSum,
    Softmax,
    Softplus,
    value,
)
from ..expressions.symbols import t, y, z
from ..spec.functions import Activation, Loss

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
    """log cosh(u) → logcosh(u), printed as |u| + softplus(−2|u|) − log 2 (cosh overflows
    beyond 710) and, for |u| < 1, as log1p(2 sinh²(u/2)) (the other cancels to 0 there).
    """
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.cosh):
        return LogCosh(node.args[0].args[0])
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
    """u·log(u) → u·log(u if u > 0 else 1), which is 0 at u = 0 (the limit) instead of nan;
    not for a number u (2·log 2 is a constant, and its piece would fold back to it)."""
    if isinstance(node, sp.Mul):
        for f in node.args:
            if (
                isinstance(f, sp.log)
                and f.args[0] in node.args
                and not f.args[0].is_number
            ):
                u = f.args[0]
                rest = [g for g in node.args if g is not f]
                return sp.Mul(*rest, sp.log(sp.Piecewise((u, u > 0), (1, True))))
    return None


def guarded_exp(node: sp.Basic) -> sp.Basic | None:
    """In the pieces after ``u > c``, exp(… u …) → exp(… min(u, c) …) (expm1 too): same value
    there, and the piece that np.where evaluates but discards can no longer overflow."""
    if not isinstance(node, sp.Piecewise):
        return None
    pieces, bounds, changed = [], {}, False
    for branch, condition in node.args:
        guarded = branch
        if bounds:
            guarded = branch.replace(
                lambda e: isinstance(e, (sp.exp, Expm1)),
                lambda e: e.func(e.args[0].xreplace(bounds)),
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


def _exp_terms(node: sp.Basic) -> list[tuple[sp.Expr, sp.Expr]] | None:
    """(c, u) for each term c·e^u (c > 0 a number) of a sum of two such terms, a positive
    number counting as c·e^0; None for any other expression."""
    if not isinstance(node, sp.Add) or len(node.args) != 2:
        return None
    terms = []
    for term in node.args:
        coefficient, rest = term.as_coeff_Mul()
        if not coefficient.is_positive:
            return None
        if rest is sp.S.One:
            terms.append((coefficient, sp.S.Zero))
        elif isinstance(rest, sp.exp):
            terms.append((coefficient, rest.args[0]))
        else:
            return None
    return terms


def exp_sum_power(node: sp.Basic) -> sp.Basic | None:
    """(c₁e^u + c₂e^v)^(−k) → exp(−k·logaddexp(u + log c₁, v + log c₂)): a sum of two exps
    under a negative power as its log-sum-exp (e^z + e^(−z) overflows; its logaddexp cannot).
    """
    if isinstance(node, sp.Pow) and node.exp.is_negative and node.exp.is_number:
        terms = _exp_terms(node.base)
        if terms is not None:
            (c1, u), (c2, v) = terms
            return sp.exp(node.exp * LogAddExp(u + sp.log(c1), v + sp.log(c2)))
    return None


def _numeric_terms(node: sp.Add) -> tuple[sp.Expr, list[sp.Expr]]:
    """(the number, the other terms) of a sum."""
    number = sum((term for term in node.args if term.is_number), sp.S.Zero)
    return number, [term for term in node.args if not term.is_number]


def exp_minus_one(node: sp.Basic) -> sp.Basic | None:
    """k·e^u − k → k·expm1(u): e^u − 1 loses every digit where e^u ≈ 1 (u ≈ 0)."""
    if not isinstance(node, sp.Add):
        return None
    number, others = _numeric_terms(node)
    for term in others:
        k, rest = term.as_coeff_Mul()
        if isinstance(rest, sp.exp) and number == -k and number != 0:
            remaining = [other for other in others if other is not term]
            return sp.Add(k * Expm1(rest.args[0]), *remaining)
    return None


def erf_complement(node: sp.Basic) -> sp.Basic | None:
    """k + k·erf(u) → k·erfc(−u), −k + k·erf(u) → −k·erfc(u): 1 ± erf(u) loses every digit
    where erf(u) ≈ ∓1 (GELU at z ≪ 0)."""
    if not isinstance(node, sp.Add):
        return None
    number, others = _numeric_terms(node)
    for term in others:
        k, rest = term.as_coeff_Mul()
        if isinstance(rest, sp.erf) and number != 0 and abs(number) == abs(k):
            remaining = [other for other in others if other is not term]
            u = rest.args[0]
            complement = k * Erfc(-u) if number == k else -k * Erfc(u)
            return sp.Add(complement, *remaining)
    return None


def log_one_plus(node: sp.Basic) -> sp.Basic | None:
    """log(1 + u) → log1p(u) (u not an exp: that is softplus)."""
    if isinstance(node, sp.log) and isinstance(node.args[0], sp.Add):
        number, others = _numeric_terms(node.args[0])
        if number == 1 and _one_plus_exp(node.args[0]) is None:
            return Log1p(sp.Add(*others))
    return None


def _shifted(node: sp.Basic, splits: Callable[[sp.Basic], list]) -> sp.Basic | None:
    """k·F − k·u → k·softplus(v − u) for a term k·F of ``node`` whose ``splits`` give (u, v)
    with −k·u among the other terms of ``node``."""
    if not isinstance(node, sp.Add):
        return None
    terms = set(node.args)
    for term in node.args:
        k, rest = term.as_coeff_Mul()
        for u, v in splits(rest):
            shifted = set(sp.Add.make_args(sp.expand(-k * u)))
            if shifted <= terms - {term}:
                remaining = [o for o in node.args if o not in shifted | {term}]
                return sp.Add(k * Softplus(v - u), *remaining)
    return None


def softplus_shift(node: sp.Basic) -> sp.Basic | None:
    """k·softplus(w) − k·w → k·softplus(−w): the two terms cancel where w ≫ 0, their value
    softplus(−w) = log(1 + e^(−w)) is then tiny and exact as a softplus of its own."""
    return _shifted(
        node, lambda f: [(f.args[0], sp.S.Zero)] if isinstance(f, Softplus) else []
    )


def log_sum_exps(node: sp.Basic) -> sp.Basic | None:
    """log(c₁e^u + c₂e^v) → logaddexp(u + log c₁, v + log c₂) (1 + e^u is softplus)."""
    if isinstance(node, sp.log) and _one_plus_exp(node.args[0]) is None:
        terms = _exp_terms(node.args[0])
        if terms is not None:
            (c1, u), (c2, v) = terms
            return LogAddExp(u + sp.log(c1), v + sp.log(c2))
    return None


def logaddexp_shift(node: sp.Basic) -> sp.Basic | None:
    """k·logaddexp(u, v) − k·u → k·softplus(v − u): log(e^u + e^v) − u cancels where e^u
    dominates; log(1 + e^(v − u)) is then tiny and exact."""
    return _shifted(
        node,
        lambda f: [f.args, f.args[::-1]] if isinstance(f, LogAddExp) else [],
    )


def symmetric_logaddexp(node: sp.Basic) -> sp.Basic | None:
    """logaddexp(u, −u) → logcosh(u) + log 2: log(e^u + e^(−u)) − log 2 cancels to 0 where
    u is small; logcosh does not."""
    if isinstance(node, LogAddExp):
        u, v = node.args
        if sp.expand(u + v) == 0:
            return LogCosh(u) + sp.log(2)
    return None


def guarded_ite(node: sp.Basic) -> sp.Basic | None:
    """ITE(u > c, a, b) → ITE(u > c, a, b with exp(… min(u, c) …)), as ``guarded_exp`` does
    for pieces: the condition np.where evaluates but discards cannot overflow."""
    if isinstance(node, sp.ITE):
        condition, then, otherwise = node.args
        if (
            isinstance(condition, sp.StrictGreaterThan)
            and condition.lhs.is_Symbol
            and condition.rhs.is_number
        ):
            bounds = {condition.lhs: sp.Min(condition.lhs, condition.rhs)}
            guarded = otherwise.replace(
                lambda e: isinstance(e, (sp.exp, Expm1)),
                lambda e: e.func(e.args[0].xreplace(bounds)),
            )
            if guarded != otherwise:
                return sp.ITE(condition, then, guarded)
    return None


def over_softplus(node: sp.Basic) -> sp.Basic | None:
    """softplus(u)^(−k) → exp(−k·logsoftplus(u)): σ(u)/softplus(u) is 0/0 where both
    underflow (u < −745), e^(−softplus(−u) − logsoftplus(u)) is 1 there."""
    if (
        isinstance(node, sp.Pow)
        and isinstance(node.base, Softplus)
        and node.exp.is_number
        and node.exp.is_negative
    ):
        return sp.exp(node.exp * LogSoftplus(node.base.args[0]))
    return None


def log_softplus(node: sp.Basic) -> sp.Basic | None:
    """log(softplus(u)) → logsoftplus(u), which stays ≈ u where softplus(u) underflows."""
    if isinstance(node, sp.log) and isinstance(node.args[0], Softplus):
        return LogSoftplus(node.args[0].args[0])
    return None


STABILISE: tuple[Rule, ...] = (
    log_one_plus_exp,
    log_row_sum_exp,
    log_cosh,
    logistic,
    exp_sum_power,
    normalised_exp,
    merge_exps,
    tanh_ratio,
    x_log_x,
    guarded_exp,
    exp_minus_one,
    erf_complement,
    log_one_plus,
    softplus_shift,
    log_sum_exps,
    logaddexp_shift,
    log_softplus,
    over_softplus,
    symmetric_logaddexp,
    guarded_ite,
)


def stabilise(expr: sp.Expr, rules: tuple[Rule, ...] = STABILISE) -> sp.Expr:
    """Apply every rule bottom-up until none applies."""

    def visit(node: sp.Basic) -> sp.Basic:
        if isinstance(
            node, sp.Piecewise
        ):  # as written: SymPy would rewrite the conditions
            pieces = ((visit(e), visit(c)) for e, c in node.args)
            node = sp.Piecewise(*pieces, evaluate=False)
        elif node.args:
            node = node.func(*(visit(arg) for arg in node.args))
        for rule in rules:
            new = rule(node)
            if new is not None and new != node:  # (a rewrite SymPy folds back is none)
                return visit(new)
        return node

    return visit(expr)


def overflow_risk(expr: sp.Expr) -> int:
    """How many exps of ``expr`` could overflow once stabilised (0 for a safe form)."""
    return len(_unbounded_exps(stabilise(expr)))


def _unbounded_exps(expr: sp.Expr) -> set[sp.Expr]:
    """The exps whose argument is not bounded above by a softplus or logsumexp shift."""
    shifts = (Softplus, LogSumExp, LogAddExp, LogSoftplus, LogCosh)
    return {e for e in expr.atoms(sp.exp) if not e.args[0].has(*shifts)}


def loss_from_logits(activation: Activation, loss: Loss) -> sp.Expr | None:
    """ℓ(f(z), t) in z and t, stable, when the loss takes logs of the output; else None.

    The composition is expanded (log of a quotient becomes a difference) and then stabilised.
    It is used when no log of z is left and it has no exp that could overflow beyond those of
    the activation itself (exponential + poisson gives e^z − t·z, the loss of the log-rate).
    """
    if not loss.expr.has(sp.log):
        return None
    composed = loss.expr.xreplace({y: value(activation.expr)}).rewrite(sp.exp)
    if composed.has(sp.I):  # sin and cos in exp: no real form to stabilise
        return None
    composed = composed.replace(sp.log, lambda u: sp.log(sp.together(u)))
    composed = stabilise(sp.expand(stabilise(sp.expand_log(composed, force=True))))
    if any(log.has(z) for log in composed.atoms(sp.log)):
        return None
    if _unbounded_exps(composed) - _unbounded_exps(stabilise(value(activation.expr))):
        return None
    return sp.collect(composed, t).replace(
        lambda node: _log_softmax(node) is not None, _log_softmax
    )


def _log_softmax(node: sp.Basic) -> sp.Basic | None:
    """logsumexp(u) − u → −log softmax(u): one function that keeps the digits the
    difference loses where the largest output is near 1 (−log softmax(u) ≈ Σ_{k≠max} e^(u_k−u_max)
    beside logsumexp(u) ≈ u_max); else None."""
    if not isinstance(node, sp.Add):
        return None
    for term in node.args:
        if isinstance(term, LogSumExp) and -term.args[0] in node.args:
            rest = [u for u in node.args if u not in (term, -term.args[0])]
            return sp.Add(*rest, -LogSoftmax(term.args[0]))
    return None
