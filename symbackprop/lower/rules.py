"""Lowering: a ``Derivation`` becomes a ``Program``, the statements a module runs.

Each derived equation starts as one statement computing its right-hand side (the accurate form
where the derivation recorded one). Small named rules then rewrite statements, phase by phase,
in the spirit of PyTensor's rewrite database (``pytensor/tensor/rewriting``):

- **canonicalise** — the training step's algebra. ``_step(…, scale)`` returns scale × every
  gradient of the mean loss: the output error is multiplied once by ∓scale/N (an N × units
  array) instead of dividing each product after it, so a weight gradient is one matrix product
  and a bias gradient one sum. Backpropagation is linear in the output error, so every δ
  inherits the factor unchanged.
- **stabilise** — the forms that neither overflow nor cancel (``stabilise.STABILISE``).
- **weigh** — per-sample weights (scikit-learn's ``sample_weight``): the loss is the mean of
  weights × each sample's loss, so each row of the output error is multiplied by its weight;
  every δ and gradient inherits it, as it inherits the scale. Unweighted, weights is 1.0 and
  joins the output error's scalar factor at no cost.
- **specialise** — when each rule of the optimiser uses the gradient only as η·dθ (SGD, with or
  without momentum), scale is η itself and the rules lose their η (W1 := W1 − η·dW1 runs as
  ``W1 -= dW1``), for a printer whose updates run in place (``fold``: NumPy's and PyTorch's,
  where it saves a product and a temporary per parameter); a rule linear in the variable it
  rebinds runs in place.
- **fuse** (``FUSE``, after the others) — for a printer that asks for it (NumPy's, where each
  call costs as much as the arithmetic of a small batch, and JAX's): a softmax output whose
  loss or output error uses it is computed with its parts d = u − max u and r = Σ_k exp(d) − 1
  (``D2, R2, A2 = _softmax_parts(Z2)``), and the loss takes log softmax(u) = d − log1p(r) and
  δ_y the others' share r·A from them, where each would otherwise pass over the row again.

A rule is ``rule(statement, context) -> Statement | None`` (None: it does not apply); it only
changes how a value is computed, and records what the target then holds (``factor``, ``held``)
so that a comment can say so. Nothing here differentiates or simplifies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import sympy as sp

from ..derive import stabilise
from ..derive.derivation import Derivation, N
from ..expressions import names
from ..expressions.algebra import (
    BatchLoss,
    BatchMean,
    BatchSum,
    Dot,
    Log1p,
    LogSoftmax,
    Softmax,
    SoftmaxMinus,
    SoftmaxParts,
    Transpose,
    is_scalar,
)
from ..expressions.names import WEIGHTS
from ..spec.optimizers import GRAD, LR, LR_K, Optimizer
from .program import FUNCTIONS, SCALE, Context, Program, Statement

Rule = Callable[[Statement, Context], "Statement | None"]


# --- canonicalise: the scaled errors --------------------------------------------------------


def _content(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """(the numeric factor common to the terms of ``expr``, the rest)."""
    return expr.primitive() if isinstance(expr, sp.Add) else expr.as_coeff_Mul()


def scaled_output_error(statement: Statement, context: Context) -> Statement | None:
    """δ_y = e → δ_y = (∓scale/N)·e, its numeric content joining the scale
    (2T − 2A → (T − A)·(2·scale/N)); only the number is pulled out, so an accurate form's
    grouping stays."""
    if statement.target != names.output_error() or statement.factor != 1:
        return None
    number, rest = _content(statement.expr)
    expr = context.error_scale * sp.Mul(number, rest, evaluate=False)
    return dataclasses.replace(statement, expr=expr, factor=context.error_scale)


_LINEAR = (Transpose, Dot, BatchMean, BatchSum)


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
            # N by equality: a program's own Symbol("N", positive=True), which SymPy's
            # cache may hand the derivation, is N but another object
            rest = [f for f in expr.args if f != N and f is not means[0]]
            return sp.Mul(*rest, BatchSum(means[0].args[0]))
    return expr


def scaled_gradient(statement: Statement, context: Context) -> Statement | None:
    """dW = f(δ) → dW = scale·f(δ/error_scale), scalars pulled out of the products:
    −δᵀX/N over scaled errors is δᵀX, −mean δ is Σ_n δ."""
    if statement.source.step != "gradient" or statement.factor != 1:
        return None
    unscale = {delta: delta / context.error_scale for delta in context.errors}
    terms = sp.Add.make_args(statement.expr)
    expr = sp.Add(*(_normalise(SCALE * term.xreplace(unscale)) for term in terms))
    return dataclasses.replace(statement, expr=expr, factor=SCALE)


# --- stabilise --------------------------------------------------------------------------------


def stable_forms(statement: Statement, context: Context) -> Statement | None:
    """Every rule of ``stabilise.STABILISE``, bottom-up until none applies."""
    expr = stabilise.stabilise(statement.expr)
    return None if expr == statement.expr else dataclasses.replace(statement, expr=expr)


# --- weigh: per-sample weights ---------------------------------------------------------------


def weighted_loss(statement: Statement, context: Context) -> Statement | None:
    """L = mean_n Σ_k ℓ + R → L = mean_n Σ_k (weights·ℓ) + R: the regulariser R is not a
    sample's and stays unweighted."""
    if statement.source.step != "loss":
        return None
    expr = statement.expr.replace(BatchLoss, lambda e: BatchLoss(WEIGHTS * e))
    return dataclasses.replace(statement, expr=expr)


def weighted_output_error(statement: Statement, context: Context) -> Statement | None:
    """δ_y = e → δ_y = weights·e: ∂(mean_n w_n ℓ_n)/∂Z_n = w_n ∂ℓ_n/∂Z_n, row by row."""
    if statement.target != names.output_error():
        return None
    return dataclasses.replace(
        statement,
        expr=WEIGHTS * statement.expr,
        factor=WEIGHTS * statement.factor,
    )


# --- specialise: the folded rate, in-place updates ---------------------------------------------


def folded_rate(optimizer: Optimizer) -> sp.Symbol | None:
    """The rate symbol (η, or η_k under a schedule) when every rule holds the gradient only
    as η·dθ, so that rules written in η·dθ no longer mention η; else None (Adam, RMSprop).
    """
    rate = LR_K if optimizer.schedule is not None else LR
    for _, formula in optimizer.rules:
        if formula.xreplace({GRAD: GRAD / rate}).has(rate):
            return None
    return rate


def fold_rate(statement: Statement, context: Context) -> Statement | None:
    """θ := θ − η·dθ → θ := θ − dθ where dθ holds η·dθ (``folded_rate``)."""
    if context.rate is None or statement.source.step != "update":
        return None
    expr = statement.expr.xreplace({g: g / context.rate for g in context.gradients})
    held = sorted(
        expr.free_symbols & set(context.gradients), key=context.gradients.index
    )
    if expr == statement.expr:
        return None
    return dataclasses.replace(
        statement, expr=expr, held=tuple((g, context.rate) for g in held)
    )


def update_in_place(statement: Statement, context: Context) -> Statement | None:
    """v := c·v + r (c scalar, neither holding v) → ``v *= c`` (unless c = 1), then
    ``v += r`` or ``v -= −r``: a variable that lives on is updated without a new array.
    """
    target, expr = statement.target, statement.expr
    if not statement.source.rebinds:
        return None
    rest, linear = expr.as_independent(target, as_Add=True)
    coefficient, variable = linear.as_independent(target, as_Add=False)
    if variable != target or not is_scalar(coefficient):
        return None
    steps = [] if coefficient == 1 else [("*=", coefficient)]
    if rest.could_extract_minus_sign():
        steps.append(("-=", -rest))
    elif rest != 0:
        steps.append(("+=", rest))
    return dataclasses.replace(statement, in_place=tuple(steps))


# --- fuse: a softmax output computed with its parts --------------------------------------------


def softmax_parts(statement: Statement, context: Context) -> Statement | None:
    """A = softmax(u) → D, R, A = SoftmaxParts(u): the pass over u that gives the softmax
    gives d = u − max u and r = Σ_k exp(d) − 1 too (``reused_parts``)."""
    if context.softmax is None:
        return None
    logits, output, shift, rest = context.softmax
    if statement.target != output or statement.expr != Softmax(logits):
        return None
    return dataclasses.replace(
        statement, expr=SoftmaxParts(logits), parts=(shift, rest)
    )


def reused_parts(statement: Statement, context: Context) -> Statement | None:
    """log softmax(u) → d − log1p(r), and A − T → SoftmaxMinus(A, T, r): the loss and the
    output error from the softmax's parts, without another pass over the row."""
    if context.softmax is None:
        return None
    logits, output, shift, rest = context.softmax
    expr = statement.expr.xreplace({LogSoftmax(logits): shift - Log1p(rest)})
    expr = expr.replace(
        lambda e: isinstance(e, SoftmaxMinus) and e.args[0] == output,
        lambda e: SoftmaxMinus(*e.args[:2], rest),
    )
    return None if expr == statement.expr else dataclasses.replace(statement, expr=expr)


PHASES: tuple[tuple[str, tuple[Rule, ...]], ...] = (
    ("canonicalise", (scaled_output_error, scaled_gradient)),
    ("stabilise", (stable_forms,)),
    ("weigh", (weighted_loss, weighted_output_error)),
    ("specialise", (fold_rate, update_in_place)),
)
#: the phase ``fused`` runs after ``PHASES`` for a printer that takes a softmax with its parts
FUSE: tuple[str, tuple[Rule, ...]] = ("fuse", (softmax_parts, reused_parts))


def rewrite(
    statement: Statement,
    context: Context,
    phases: tuple[tuple[str, tuple[Rule, ...]], ...] = PHASES,
) -> Statement:
    """``statement`` after every rule of every phase, in order (each rule once)."""
    for _, rules in phases:
        for rule in rules:
            statement = rule(statement, context) or statement
    return statement


def context(derivation: Derivation, fold: bool = True) -> Context:
    """What the rules need to know about ``derivation``; the rate is folded into the step
    only with ``fold`` (see ``folded_rate``)."""
    sign = -1 if derivation.convention == "negative" else 1
    errors = tuple(eq.lhs for eq in derivation.step("delta"))
    return Context(
        error_scale=sign * SCALE / N,
        errors=errors,
        rate=folded_rate(derivation.network.optimizer) if fold else None,
        gradients=tuple(names.gradient(p) for p in derivation.params),
    )


def lower(derivation: Derivation, fuse: bool = False, fold: bool = True) -> Program:
    """The Program for ``derivation``: forward, loss, backward (δ and gradients) and update
    statements, each rewritten by ``PHASES`` (the rate folded into the step only with
    ``fold``); then, with ``fuse``, by ``FUSE`` (``fused``).
    """
    known = context(derivation, fold)
    functions = tuple(
        (
            name,
            tuple(
                rewrite(Statement(eq.lhs, eq.code, eq), known)
                for step in steps
                for eq in derivation.step(step)
            ),
        )
        for name, steps in FUNCTIONS.items()
    )
    program = Program(derivation, functions, known)
    return fused(program) if fuse else program


def fused(program: Program) -> Program:
    """``program`` with its softmax output computed with its parts (``FUSE``) where its loss
    or δ_y reuse them; else ``program`` itself, which then computes no part for nothing.
    """
    layer = program.derivation.layers[-1]
    forward = program.function("forward")
    output = next((s for s in forward if s.target == layer.A), None)
    if output is None or not isinstance(output.expr, Softmax):
        return program
    softmax = (output.expr.args[0], layer.A, *names.softmax_parts(layer.index))
    known = dataclasses.replace(program.context, softmax=softmax)
    functions = tuple(
        (name, tuple(rewrite(s, known, (FUSE,)) for s in statements))
        for name, statements in program.functions
    )
    result = Program(program.derivation, functions, known)
    reused = any(
        result.function(name) != program.function(name) for name in ("loss", "backward")
    )
    return result if reused else program
