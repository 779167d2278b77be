"""symbackprop: describe a network, get its backpropagation derived by SymPy and printed as code."""

from .catalog import (
    ACTIVATIONS,
    L1,
    L2,
    LOSSES,
    elu,
    huber,
    leaky_relu,
    prelu,
    stop_gradient,
)
from .codegen import build, generate, write_module
from .derive import Derivation, Equation, derive
from .errors import SpecError
from .functions import Activation, Loss, Regularizer
from .spec import Dense, Network
from .symbols import a, t, w, y, z

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "L1",
    "L2",
    "LOSSES",
    "Activation",
    "Dense",
    "Derivation",
    "Equation",
    "Loss",
    "Network",
    "Regularizer",
    "SpecError",
    "a",
    "build",
    "derive",
    "elu",
    "generate",
    "huber",
    "leaky_relu",
    "prelu",
    "stop_gradient",
    "t",
    "w",
    "write_module",
    "y",
    "z",
]
