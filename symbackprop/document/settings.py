"""The settings a document writes as symbols (η, λ, β₁, …), with their values."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from ..derive.derivation import LAMBDA
from ..expressions.algebra import ElementSum
from ..expressions.symbols import w
from ..spec.optimizers import LR

if TYPE_CHECKING:
    from ..derive.derivation import Derivation


def in_symbols(derivation: Derivation) -> dict[sp.Expr, sp.Expr]:
    """What to write in place of numbers: the regulariser's strength as λ, in the loss's
    λ Σ r(W_l) and in each r'(W_l) of the gradients."""
    if derivation.regularizer_in_symbols is None:
        return {}
    strength = sp.Float(dict(derivation.network.regularizer.settings)["lam"])
    numeric, symbolic = (
        derivation.regularizer_derivative,
        derivation.regularizer_in_symbols[1],
    )
    found = {
        numeric.xreplace({w: layer.W}): symbolic.xreplace({w: layer.W})
        for layer in derivation.layers
    }
    (loss,) = derivation.step("loss")
    for term in sp.Add.make_args(loss.rhs):
        factors = sp.Mul.make_args(term)
        if strength in factors and term.has(ElementSum):
            found[term] = term.xreplace({strength: LAMBDA})
    return found


def hyperparameters(derivation: Derivation) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
    """The symbols the documents write for settings, with their values: η, the optimiser's
    (β₁, β₂, ε, …) and the regulariser's λ."""
    network = derivation.network
    optimizer = network.optimizer
    pairs = [(LR, optimizer.lr)]
    pairs += [
        (sp.Symbol(name, positive=True), value) for name, value in optimizer.constants
    ]
    if derivation.regularizer_in_symbols is not None:
        pairs.append((LAMBDA, dict(network.regularizer.settings)["lam"]))
    return tuple((symbol, sp.sympify(value)) for symbol, value in pairs)
