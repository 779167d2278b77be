"""The Program a Derivation is lowered to: plain data, the statements of each function a
module runs, each with the derived equation it implements and what the lowering made it hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..derive.derivation import Derivation, Equation

#: the factor ``_step`` multiplies every gradient by (1, or η when the optimiser folds it in)
SCALE = sp.Symbol("scale", positive=True)


#: the functions of a Program, in order, each with the derivation's steps it computes
FUNCTIONS = {
    "forward": ("forward",),
    "loss": ("loss",),
    "backward": ("delta", "gradient"),
    "update": ("update",),
}


@dataclass(frozen=True)
class Statement:
    """``target`` gets the value of ``expr``, implementing the derived equation ``source``."""

    target: sp.Symbol
    expr: sp.Expr
    source: Equation
    #: the target holds factor × the source's variable (the scaled δ, scale·dW1)
    factor: sp.Expr = sp.S.One
    #: variables in ``expr`` that hold a multiple of their derived value: (dW1, η)
    held: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()
    #: how the code computes it, when not as ``= expr``: in place, (("*=", β₁), ("+=", …))
    in_place: tuple[tuple[str, sp.Expr], ...] = ()
    #: further values ``expr`` gives, assigned before the target (``D2, R2, A2 = …``)
    parts: tuple[sp.Symbol, ...] = ()

    @property
    def targets(self) -> tuple[sp.Symbol, ...]:
        """What the code assigns, in order: the parts, then the target."""
        return (*self.parts, self.target)

    @property
    def operations(self) -> tuple[tuple[str, sp.Expr], ...]:
        """(operator, expression) pairs the code runs: ``= expr`` or the in-place steps."""
        return self.in_place or (("=", self.expr),)


@dataclass(frozen=True)
class Context:
    """What the rules know about the network being lowered."""

    #: what every δ of the step is multiplied by: ∓scale/N
    error_scale: sp.Expr
    #: every δ's variable (δ_y first)
    errors: tuple[sp.Symbol, ...]
    #: the rate folded into the step's gradients (η or η_k), or None
    rate: sp.Symbol | None
    gradients: tuple[sp.Symbol, ...]
    #: a softmax output computed with its parts, which the loss and δ_y reuse: its
    #: (logits u, outputs A, d = u − max u, r = Σ_k exp(d) − 1); None where there is none
    softmax: tuple[sp.Symbol, sp.Symbol, sp.Symbol, sp.Symbol] | None = None


@dataclass(frozen=True)
class Program:
    """The statements of each function (``FUNCTIONS``), lowered from ``derivation``."""

    derivation: Derivation
    functions: tuple[tuple[str, tuple[Statement, ...]], ...]
    context: Context

    def function(self, name: str) -> tuple[Statement, ...]:
        """The statements of one function, in order."""
        return dict(self.functions)[name]
