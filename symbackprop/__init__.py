"""symbackprop: describe a network, get its backpropagation derived by SymPy and printed as code."""

from .catalog import ACTIVATIONS, LOSSES, Activation, Loss
from .codegen import build, generate, write_module
from .derive import Derivation, Equation, derive
from .errors import SpecError
from .spec import Dense, Network
from .symbols import a, t, y, z

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Activation",
    "Dense",
    "Derivation",
    "Equation",
    "Loss",
    "Network",
    "SpecError",
    "a",
    "build",
    "derive",
    "generate",
    "t",
    "write_module",
    "y",
    "z",
]
