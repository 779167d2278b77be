"""Layout rules both document printers follow, LaTeX (``printers``) and MathML (``mathml``), so
that the two documents show every formula in the same form: a product over arrays written with
⊙ under one scalar coefficient, and a sum over a weight matrix written as its norm. The rules
decide the form; each printer only renders it in its own markup.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .algebra import Dot, is_scalar


@dataclass(frozen=True)
class Product:
    """− top · (a₁ ⊙ a₂ ⊙ …) / bottom: a product over arrays as the documents write it."""

    negative: bool
    top: sp.Expr
    arrays: tuple[sp.Expr, ...]
    bottom: sp.Expr

    @property
    def bare(self) -> bool:
        """Whether the arrays are one matrix product, written without parentheses
        (−δᵀX/N, not −(δᵀX)/N); every other factor is parenthesised as a product needs.
        """
        return len(self.arrays) == 1 and isinstance(self.arrays[0], Dot)


def hadamard(expr: sp.Mul) -> Product | None:
    """``expr`` as an element-wise product: matrix products first, the scalar factors as one
    coefficient over one denominator, the sign in front. None where the plain product reads
    better: no array, a division by an array, or a single array without a coefficient.
    """
    scalars = [f for f in expr.args if is_scalar(f)]
    arrays = sorted(
        (f for f in expr.args if not is_scalar(f)), key=lambda f: not f.has(Dot)
    )
    divides = any(f.is_Pow and f.exp.is_negative for f in arrays)
    if not arrays or divides or (len(arrays) < 2 and not scalars):
        return None
    scale = sp.Mul(*scalars)
    negative = scale.as_coeff_Mul()[0] < 0
    top, bottom = sp.fraction(-scale if negative else scale)
    return Product(negative, top, tuple(arrays), bottom)


def norm(expr: sp.Expr) -> tuple[str, sp.Expr] | None:
    """("F", W) for the sum of W² (the squared Frobenius norm), ("1", W) for the sum of |W|,
    given the summand; None for any other summand."""
    if expr.is_Pow and expr.exp == 2 and expr.base.is_Symbol:
        return "F", expr.base
    if isinstance(expr, sp.Abs) and expr.args[0].is_Symbol:
        return "1", expr.args[0]
    return None
