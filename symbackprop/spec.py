"""The network DSL: small immutable objects that validate themselves on construction."""

from __future__ import annotations

import keyword
import numbers
from dataclasses import dataclass, field

from . import catalog
from .errors import SpecError
from .functions import Activation, Loss, Regularizer


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SpecError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Dense:
    """A fully connected layer ``A = f(A_prev Wᵀ + b)`` with ``W`` of shape (units, inputs)."""

    units: int
    activation: str | Activation = "identity"
    bias: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", _positive_int(self.units, "Dense.units"))
        object.__setattr__(
            self, "activation", catalog.activation(self.activation, "Dense.activation")
        )
        if not isinstance(self.bias, bool):
            raise SpecError(f"Dense.bias must be True or False, got {self.bias!r}")

    def __repr__(self) -> str:
        bias = "" if self.bias else ", bias=False"
        return f"Dense({self.units}, activation={self.activation.title!r}{bias})"


@dataclass(frozen=True)
class Network:
    """A feed-forward network: ``inputs`` features, then ``layers``, trained on ``loss``
    (plus ``regularizer`` summed over every weight, if given)."""

    name: str
    inputs: int
    layers: tuple[Dense, ...] = field(default_factory=tuple)
    loss: str | Loss = "mse"
    regularizer: Regularizer | None = None

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name.isidentifier()
            or keyword.iskeyword(self.name)
        ):
            raise SpecError(
                f"Network.name must be a Python identifier, got {self.name!r}"
            )
        object.__setattr__(self, "inputs", _positive_int(self.inputs, "Network.inputs"))
        if isinstance(self.layers, (str, bytes)) or not hasattr(
            self.layers, "__iter__"
        ):
            raise SpecError(
                f"Network.layers must be a list of Dense layers, got {self.layers!r}"
            )
        layers = tuple(self.layers)
        if not layers:
            raise SpecError("Network.layers must hold at least one Dense layer, got []")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Dense):
                raise SpecError(
                    f"Network.layers[{i}] must be a Dense layer, got {layer!r}"
                )
            need = layer.activation.min_units
            if layer.units < need:
                raise SpecError(
                    f"Network.layers[{i}]: activation {layer.activation.name!r} needs at least "
                    f"{need} units, got {layer.units}"
                )
        object.__setattr__(self, "layers", layers)
        loss = catalog.loss(self.loss, "Network.loss")
        object.__setattr__(self, "loss", loss)
        if layers[-1].units < loss.min_units:
            raise SpecError(
                f"Network.loss: {loss.name!r} needs at least {loss.min_units} output units, "
                f"got {layers[-1].units}"
            )
        if self.regularizer is not None and not isinstance(
            self.regularizer, Regularizer
        ):
            raise SpecError(
                "Network.regularizer must be a Regularizer such as sb.L2(0.01) or None, "
                f"got {self.regularizer!r}"
            )

    @property
    def sizes(self) -> tuple[int, ...]:
        """Widths from the input to the output, e.g. (2, 20, 1)."""
        return (self.inputs, *(layer.units for layer in self.layers))

    def describe(self) -> str:
        """One line: inputs → layers → loss."""
        stack = " → ".join(repr(layer) for layer in self.layers)
        penalty = f" + {self.regularizer.title}" if self.regularizer else ""
        return f"inputs {self.inputs} → {stack}; loss {self.loss.title}{penalty}"
