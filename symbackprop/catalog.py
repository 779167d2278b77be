"""Named activations and losses: each is one SymPy expression, and that is its documentation."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .algebra import RowSum
from .errors import SpecError
from .symbols import t, y, z


@dataclass(frozen=True)
class Activation:
    """An activation ``a = f(z)``: ``expr`` in ``z``; ``RowSum`` makes it act on the whole row."""

    name: str
    expr: sp.Expr
    min_units: int = 1

    def __post_init__(self) -> None:
        foreign = self.expr.free_symbols - {z}
        if foreign:
            raise SpecError(
                f"Activation {self.name!r}: expression {self.expr} uses {sorted(map(str, foreign))}; "
                "an activation may only use the symbol z"
            )

    @property
    def is_vector(self) -> bool:
        """Whether each output depends on the whole row (as softmax does)."""
        return self.expr.has(RowSum)


@dataclass(frozen=True)
class Loss:
    """A per-element loss ``ℓ(y, t)``, summed over outputs and averaged over the batch.

    ``task`` says what ``predict`` returns: ``"multiclass"`` (argmax), ``"binary"`` (threshold
    0.5) or ``"regression"`` (the outputs).
    """

    name: str
    expr: sp.Expr
    task: str = "regression"
    min_units: int = 1

    def __post_init__(self) -> None:
        foreign = self.expr.free_symbols - {y, t}
        if foreign:
            raise SpecError(
                f"Loss {self.name!r}: expression {self.expr} uses {sorted(map(str, foreign))}; "
                "a loss may only use the symbols y and t"
            )


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", z),
        Activation("sigmoid", 1 / (1 + sp.exp(-z))),
        Activation("tanh", sp.tanh(z)),
        Activation("relu", sp.Piecewise((z, z > 0), (0, True))),
        Activation("softmax", sp.exp(z) / RowSum(sp.exp(z)), min_units=2),
    )
}
ACTIVATION_ALIASES = {"linear": "identity"}

LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("mse", (t - y) ** 2),
        Loss(
            "binary_crossentropy",
            -(t * sp.log(y) + (1 - t) * sp.log(1 - y)),
            task="binary",
        ),
        Loss(
            "categorical_crossentropy", -t * sp.log(y), task="multiclass", min_units=2
        ),
    )
}


def activation(spec: str | Activation, field: str = "activation") -> Activation:
    """The catalog activation named ``spec`` (or ``spec`` itself if already an ``Activation``)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        name = ACTIVATION_ALIASES.get(spec, spec)
        if name in ACTIVATIONS:
            return ACTIVATIONS[name]
    known = ", ".join(sorted([*ACTIVATIONS, *ACTIVATION_ALIASES]))
    raise SpecError(f"{field}: unknown activation {spec!r}; known activations: {known}")


def loss(spec: str | Loss, field: str = "loss") -> Loss:
    """The catalog loss named ``spec`` (or ``spec`` itself if already a ``Loss``)."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str) and spec in LOSSES:
        return LOSSES[spec]
    raise SpecError(
        f"{field}: unknown loss {spec!r}; known losses: {', '.join(sorted(LOSSES))}"
    )
