"""Weight initialisers: a distribution and its scale as a SymPy formula in fan_in and fan_out.

The scale is the half-width of a uniform distribution or the standard deviation of a normal one;
the generated module prints it from here, the derivation shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import SpecError
from .functions import identifier, one_of

FAN_IN = sp.Symbol("fan_in", positive=True)
FAN_OUT = sp.Symbol("fan_out", positive=True)
DISTRIBUTIONS = ("uniform", "normal", "zeros")


@dataclass(frozen=True)
class Initializer:
    """W ~ U(−scale, scale), N(0, scale²) or 0, with ``scale`` in fan_in and fan_out."""

    name: str
    distribution: str
    scale: sp.Expr = sp.S.Zero
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", identifier(self.name, "Initializer.name"))
        object.__setattr__(
            self,
            "distribution",
            one_of(
                self.distribution,
                DISTRIBUTIONS,
                f"Initializer {self.name!r}: distribution",
            ),
        )
        if not isinstance(self.scale, sp.Expr) or not self.scale.free_symbols <= {
            FAN_IN,
            FAN_OUT,
        }:
            raise SpecError(
                f"Initializer {self.name!r}: scale must be a SymPy expression in fan_in and "
                f"fan_out, got {self.scale!r}"
            )
        if not isinstance(self.source, str):
            raise SpecError(
                f"Initializer {self.name!r}: source must be a string, got {self.source!r}"
            )
        object.__setattr__(self, "source", str.__str__(self.source))

    def __reduce__(self) -> tuple:
        """A catalog initialiser unpickles as itself: its √(6/n) is written unevaluated,
        which pickling would turn into √6/√n (and change the generated module)."""
        if INITIALIZERS.get(self.name) is self:
            return (initializer, (self.name, "init"))
        return super().__reduce__()


def _root(expr: sp.Expr) -> sp.Expr:
    """√expr as written (SymPy would split √(6/n) into √6/√n)."""
    return sp.sqrt(expr, evaluate=False)


#: every initialiser by name: Glorot & Bengio (2010), He et al. (2015), LeCun et al. (1998), and
#: the fan-in heuristics of LeCun et al., Efficient BackProp (1998): N(0, 1/√n_in) and U(±1/√n_in)
INITIALIZERS = {
    init.name: init
    for init in (
        Initializer(
            "glorot_uniform", "uniform", _root(6 / (FAN_IN + FAN_OUT)), "Glorot"
        ),
        Initializer("glorot_normal", "normal", _root(2 / (FAN_IN + FAN_OUT)), "Glorot"),
        Initializer("he_uniform", "uniform", _root(6 / FAN_IN), "He"),
        Initializer("he_normal", "normal", _root(2 / FAN_IN), "He"),
        Initializer("lecun_normal", "normal", _root(1 / FAN_IN), "LeCun"),
        Initializer("normal_fan_in", "normal", 1 / sp.sqrt(FAN_IN), "LeCun 1998"),
        Initializer("uniform_fan_in", "uniform", 1 / sp.sqrt(FAN_IN), "LeCun 1998"),
        Initializer("zeros", "zeros"),
    )
}


def initializer(value: object, field: str) -> Initializer:
    """The initialiser named ``value``, else a SpecError listing the known ones."""
    if isinstance(value, Initializer):
        return value
    if isinstance(value, str) and value in INITIALIZERS:
        return INITIALIZERS[value]
    raise SpecError(f"{field} must be one of {', '.join(INITIALIZERS)}, got {value!r}")
