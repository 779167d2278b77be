"""Array-level operators of the layer algebra.

Derived formulas are element-wise SymPy expressions over per-layer arrays. The few operations
that are not element-wise get a node of their own so that every printer can render them. None
of these nodes is ever differentiated: calculus happens on scalars (see ``calculus``).
"""

from __future__ import annotations

import sympy as sp


def is_scalar(factor: sp.Expr) -> bool:
    """Numbers and formulas in the scalar symbols only (N, lr, β₁, the step k: positive or
    integer); every other symbol is an array. Decided from the symbols alone: asking SymPy
    whether a formula is positive costs time exponential in its nesting (tanh(tanh(…))).
    """
    return all(s.is_positive or s.is_integer for s in factor.free_symbols)


class Dot(sp.Function):
    """Matrix product of two arrays, ``A B``."""

    nargs = 2


class Transpose(sp.Function):
    """Transpose of a matrix, ``Wᵀ``."""

    nargs = 1

    @property
    def arg(self) -> sp.Expr:
        """The matrix transposed: SymPy's own printers (``str``, ``repr``) print a transpose
        as ``arg.T`` by this name."""
        return self.args[0]


class Concat(sp.Function):
    """Arrays side by side along the features (columns), ``[A  B]``."""


class Columns(sp.Function):
    """Columns ``start`` to ``stop`` (0-based, ``stop`` excluded) of an array:
    ``E[:, start:stop]``, the share of a concatenation's error that one input receives.
    """

    nargs = 3


class RowSum(sp.Function):
    """Sum over the units of a layer (one row of the batch), kept as a column."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if isinstance(arg, sp.Add):
            return sp.Add(*(cls(term) for term in arg.args))
        coeff, rest = arg.as_coeff_Mul()
        if coeff != 1:
            return coeff * cls(rest)
        return None


class BatchMean(sp.Function):
    """Mean over the batch (rows), ``(1/N) Σ_n``."""

    nargs = 1


class BatchSum(sp.Function):
    """Sum over the batch (rows), ``Σ_n``: what ``N·BatchMean`` becomes once δ is pre-scaled."""

    nargs = 1


class BatchLoss(sp.Function):
    """The mean loss: sum over units, mean over the batch, ``(1/N) Σ_n Σ_k``."""

    nargs = 1


class ElementSum(sp.Function):
    """Sum over every element of a parameter array, ``Σ_ij``; numeric factors are pulled out."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        coeff, rest = arg.as_coeff_Mul()
        if coeff != 1:
            return coeff * cls(rest)
        return None


class StopGradient(sp.Function):
    """``u`` in value, constant in differentiation: ``x + StopGradient(step(x) - x)`` has the
    value of a step and the derivative of the identity (a straight-through estimator).
    """

    nargs = 1

    def fdiff(self, argindex=1):
        return sp.S.Zero


class InTraining(sp.Function):
    """One value in training (the first argument), another in inference (the second): batch
    normalisation's statistics are the batch's while training, running averages after.
    """

    nargs = 2


class Grouped(sp.Function):
    """``u`` as written: a comparison 0 < u keeps u whole (SymPy would move its terms across
    the sign, undoing an accurate grouping); printed as u itself."""

    nargs = 1


def value(expr: sp.Expr) -> sp.Expr:
    """``expr`` as it is evaluated: every ``StopGradient`` replaced by its argument."""
    return expr.replace(StopGradient, lambda u: u)


class Defined(sp.Function):
    """A function printed in a form of its own (stable, accurate) but defined by one SymPy
    expression, ``definition``: its derivative is SymPy's derivative of that expression.
    """

    @staticmethod
    def definition(*args: sp.Expr) -> sp.Expr:
        raise NotImplementedError

    def fdiff(self, argindex=1):
        dummies = [sp.Dummy(real=True) for _ in self.args]
        derivative = sp.diff(self.definition(*dummies), dummies[argindex - 1])
        return derivative.xreplace(dict(zip(dummies, self.args)))


class Softplus(Defined):
    """``log(1 + exp(u))``, printed in a form that cannot overflow."""

    nargs = 1

    @staticmethod
    def definition(u: sp.Expr) -> sp.Expr:
        return sp.log(1 + sp.exp(u))


class LogSoftplus(Defined):
    """``log(softplus(u))``, accurate where softplus(u) ≈ e^u underflows (u ≪ 0: ≈ u)."""

    nargs = 1

    @staticmethod
    def definition(u: sp.Expr) -> sp.Expr:
        return sp.log(sp.log(1 + sp.exp(u)))


class LogAddExp(Defined):
    """``log(e^u + e^v)``, printed in a form that cannot overflow."""

    nargs = 2

    @staticmethod
    def definition(u: sp.Expr, v: sp.Expr) -> sp.Expr:
        return sp.log(sp.exp(u) + sp.exp(v))


class LogCosh(Defined):
    """``log(cosh(u))``, accurate for small u (≈ u²/2) and for large u (≈ |u| − log 2)."""

    nargs = 1

    @staticmethod
    def definition(u: sp.Expr) -> sp.Expr:
        return sp.log(sp.cosh(u))


class Expm1(Defined):
    """``e^u − 1``, accurate where e^u ≈ 1."""

    nargs = 1

    @staticmethod
    def definition(u: sp.Expr) -> sp.Expr:
        return sp.exp(u) - 1


class Erfc(Defined):
    """``1 − erf(u)``, accurate where erf(u) ≈ 1 (SymPy's erfc writes erfc(−u) as 2 − erfc(u),
    the cancellation this node exists to avoid)."""

    nargs = 1

    @staticmethod
    def definition(u: sp.Expr) -> sp.Expr:
        return 1 - sp.erf(u)


class Log1p(Defined):
    """``log(1 + u)``, accurate where u ≈ 0."""

    nargs = 1

    @staticmethod
    def definition(u: sp.Expr) -> sp.Expr:
        return sp.log(1 + u)


class LogSumExp(sp.Function):
    """``log Σ_k exp(u_k)`` over the units of a row, printed in a form that cannot overflow."""

    nargs = 1


class Softmax(sp.Function):
    """``exp(u) / Σ_k exp(u_k)`` over the units of a row, printed in a form that cannot overflow."""

    nargs = 1


class LogSoftmax(sp.Function):
    """``u − log Σ_k exp(u_k)`` over the units of a row, printed so that it keeps its digits
    where the largest output is near 1 (there it is −log1p of the others' sum)."""

    nargs = 1


class Log1mSoftmax(sp.Function):
    """``log(1 − softmax(u))`` over the units of a row, printed so that it stays finite where the
    largest output rounds to 1: there it is logsumexp of the other units minus logsumexp of all.
    """

    nargs = 1


class SoftmaxBackward(sp.Function):
    """``a ⊙ (g − Σ_k a_k g_k)``: the error ``g`` at the outputs ``a`` of a softmax carried back
    to its logits, printed as a ⊙ (d − Σ_k a_k d_k) with d = g − g_m (m the row's largest
    output): d_m is exactly 0, so the largest output's error keeps its digits where a_m ≈ 1.
    """

    nargs = 2


class SoftmaxBackwardPole(sp.Function):
    """``SoftmaxBackward(softmax(u), g)`` for an error g with a pole at an output of 1, given as
    (u, a, t, g, below, at_top), a = softmax(u): ``below`` and ``at_top`` are Lambdas of (a, c, d, t), c = 1 − a and
    d = a − t, giving a·g and (1 − a)·g, the products that stay finite (below the row's largest
    output and at it). Printed as a call that computes a, c and d from u without losing 1 − a.
    """

    nargs = 6


class SoftmaxMinus(sp.Function):
    """``a − t`` for the outputs ``a`` of a softmax, printed so that it keeps its digits where
    the largest output is near 1: there 1 − a is the sum of the row's other outputs. A third
    argument, the softmax's ``r`` (``SoftmaxParts``), gives that sum as r·a at no cost.
    """

    nargs = (2, 3)


class SoftmaxParts(sp.Function):
    """``(d, r, softmax(u))`` with d = u − max_k u and r = Σ_k exp(d_k) − 1, the sum of the
    row's other terms: one pass over u computes all three, and the loss (log softmax(u) =
    d − log1p(r)) and the output error (``SoftmaxMinus``) reuse d and r."""

    nargs = 1


def instance(expr: sp.Expr, index: int, symbols: tuple[sp.Symbol, ...]) -> sp.Expr:
    """Unit ``index`` of a layer: each of ``symbols`` gets the unit's subscript (``z`` → ``z_2``).

    ``RowSum`` must already be expanded (see ``expand_rows``).
    """
    return expr.xreplace({s: indexed(s, index) for s in symbols})


def indexed(symbol: sp.Symbol, index: int) -> sp.Symbol:
    """The symbol of unit ``index``, e.g. ``z_2``."""
    return sp.Symbol(f"{symbol.name}_{index}", **symbol.assumptions0)


def count_units(expr: sp.Expr, width: int) -> sp.Expr:
    """Each sum over a row of something its units share, as that times the row's ``width``:
    Σ_k c = K·c (what a constant in a row-wise formula sums to; no array holds it)."""
    return expr.replace(_is_constant_row_sum, lambda node: node.args[0] * width)


def sums_a_constant(expr: sp.Expr) -> bool:
    """Whether ``expr`` sums a constant over a row (Σ_k 1: the row's width)."""
    return any(_is_constant_row_sum(node) for node in sp.preorder_traversal(expr))


def _is_constant_row_sum(node: sp.Basic) -> bool:
    return isinstance(node, RowSum) and not node.args[0].free_symbols


def expand_rows(expr: sp.Expr, width: int, symbols: tuple[sp.Symbol, ...]) -> sp.Expr:
    """Unit 1 of a concrete layer of ``width`` units, every ``RowSum`` written out."""

    def expand(node: sp.Expr) -> sp.Expr:
        if isinstance(node, RowSum):
            inner = node.args[0]
            return sp.Add(
                *(instance(expand(inner), k, symbols) for k in range(1, width + 1))
            )
        if not node.args:
            return node
        return node.func(*(expand(arg) for arg in node.args))

    return instance(expand(expr), 1, symbols)
