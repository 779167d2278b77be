"""Display-only nodes of the derivation documents: never differentiated, never printed as code."""

from __future__ import annotations

import sympy as sp


class Partial(sp.Function):
    """The name ∂f/∂x of a derivative (its value is shown beside it, not computed from it)."""

    nargs = 2


class Colored(sp.Function):
    """``expr`` shown in a colour: ``Colored(expr, Symbol("blue"))``, as lecture notes colour the
    factors of the chain rule."""

    nargs = 2

    def doit(self, **hints):
        return self.args[0].doit(**hints)


class Chain(sp.Function):
    """Factors of the chain rule in the order they are written (∂ℒ/∂A ∂A/∂Z ∂Z/∂W): a product
    no printer reorders."""


class Space(sp.Function):
    """The real arrays of a shape: ``Space(rows, cols)`` is ℝ^{rows×cols}, ``Space(n)`` ℝ^n."""

    nargs = (1, 2)


def chain(*factors: sp.Expr) -> sp.Expr:
    """The product of ``factors``, shown in this order."""
    return Chain(*factors)


def colored(expr: sp.Expr, color: str) -> sp.Expr:
    """``expr`` in ``color`` (one of LaTeX's base colours: blue, red, magenta, cyan)."""
    return Colored(expr, sp.Symbol(color))


class Dots(sp.Expr):
    """The columns of a matrix left out of a display (⋯)."""

    is_Atom = True

    def _latex(self, printer) -> str:
        return r"\cdots"

    def _sympystr(self, printer) -> str:
        return "..."
