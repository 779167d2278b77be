"""Batch normalisation derived for the reader: its definition for one feature, reverse mode
through its steps, the compact backward pass, and what inference and the running averages do.

Every formula is the ``batchnorm`` derivation's own; this module only arranges and explains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from ..derive import batchnorm
from ..derive.derivation import LOSS, N
from ..expressions.algebra import BatchMean
from ..expressions.notation import Partial
from ..expressions.symbols import g
from .model import Math, Row, Section, Text

if TYPE_CHECKING:
    from ..derive.derivation import Derivation

#: the fact that simplifies the long form: the normalised feature has mean 0
_CENTRED = sp.Eq(BatchMean(batchnorm.x_hat), 0, evaluate=False)
#: per-sample quantities, whose error is N·∂ℒ/∂u (as δ's); the rest are the batch's
_PER_SAMPLE = (batchnorm.x, batchnorm.x_hat, batchnorm.y_bn)


def _error(quantity: sp.Symbol) -> sp.Expr:
    """How the text writes a quantity's error: N ∂ℒ/∂u per sample, ∂ℒ/∂u for the batch's."""
    partial = Partial(LOSS, quantity)
    return N * partial if quantity in _PER_SAMPLE else partial


def batch_normalisation(derivation: Derivation) -> Section | None:
    """The section, for a network with a BatchNorm (None without one)."""
    specs = set(derivation.network.batchnorm.values())
    if not specs:
        return None
    blocks: list[Math | Text] = [
        Text(
            (
                (
                    "A BatchNorm after layer l (Ioffe & Szegedy, Batch Normalization, ICML "
                    "2015) normalises every feature (column) of A_l over the batch, then "
                    "scales it by γ and shifts it by β, both trained. For one feature x of "
                    "one batch of N samples, by its definition:"
                ),
            )
        )
    ]
    for center, scale in sorted({(spec.center, spec.scale) for spec in specs}):
        derived = batchnorm.derive_batchnorm(center, scale)
        if len(specs) > 1:
            kept = [name for name, on in (("γ", scale), ("β", center)) if on]
            which = " and ".join(kept) if kept else "neither γ nor β"
            blocks.append(Text((f"With {which}:",)))
        blocks += _derivation_blocks(derived)
    blocks.append(
        Text(
            (
                (
                    "After each training step the running averages move towards the "
                    "batch's statistics: mean := ρ·mean + (1 − ρ)·μ and var := ρ·var + "
                    "(1 − ρ)·σ², ρ the BatchNorm's momentum, as Keras's "
                    "BatchNormalization does (PyTorch's BatchNorm1d calls 1 − ρ its "
                    "momentum and averages the unbiased variance). The layers' own "
                    "equations follow in the forward pass, the hidden errors (G_l) and "
                    "the updates."
                ),
            )
        )
    )
    return Section("Batch normalisation", tuple(blocks))


def _derivation_blocks(derived: batchnorm.BatchNormDerivation) -> list[Math | Text]:
    """Definition, the errors reverse mode gives, the compact forms."""
    definition = Math(tuple(Row(q, (formula,)) for q, formula in derived.steps))
    errors = [
        Row(_error(quantity), (error,))
        for quantity, error in derived.adjoints
        if quantity not in (batchnorm.y_bn, *(p for p, _ in derived.parameters))
    ]
    compact = [
        Row(_error(batchnorm.x), (derived.backward,), note=_CENTRED),
        *(Row(Partial(LOSS, p), (formula,)) for p, formula in derived.parameters),
    ]
    return [
        definition,
        Text(
            (
                "Reverse mode through these steps, with ",
                sp.Eq(g, _error(batchnorm.y_bn), evaluate=False),
                (
                    " the error arriving at a sample's output: SymPy takes each step's "
                    "partial derivatives; a statistic's error is the batch mean of what "
                    "every sample's use of it contributes, and a sample's share of a mean "
                    "is 1/N of it:"
                ),
            )
        ),
        Math(tuple(errors)),
        Text(
            (
                "The mean is linear and ",
                _CENTRED,
                (
                    " (μ is the batch's mean), which leaves the compact form; it and the "
                    "gradients of γ and β were proved equal to the derivatives of the "
                    "written-out definition on batches of "
                    f"{' and '.join(map(str, batchnorm.PROOF_BATCHES))} samples:"
                ),
            )
        ),
        Math(tuple(compact)),
        Text(
            (
                (
                    "In inference μ and σ² are running averages, constants of the batch, so "
                    "the samples no longer mix:"
                ),
            )
        ),
        Math((Row(_error(batchnorm.x), (derived.inference_backward,)),)),
    ]
