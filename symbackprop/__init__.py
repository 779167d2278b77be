"""symbackprop: describe a network, get its backpropagation derived by SymPy and printed as code."""

from .derive.derivation import Derivation, Equation, derive, install_writer
from .document.views import write
from .emit.codegen import build, generate, write_module
from .errors import SpecError
from .expressions.symbols import a, t, w, y, z
from .spec.catalog import (
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
from .spec.functions import Activation, Loss, Regularizer
from .spec.initializers import INITIALIZERS, Initializer
from .spec.network import Dense, Network
from .spec.optimizers import (
    OPTIMIZERS,
    SGD,
    Adagrad,
    Adam,
    Optimizer,
    RMSprop,
    Schedule,
    exponential_decay,
    step_decay,
    time_decay,
)

# a Derivation shows itself (str, latex(), to_latex(), …) through the printing layer, which
# deriving never imports
install_writer(write)

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "L1",
    "L2",
    "LOSSES",
    "OPTIMIZERS",
    "SGD",
    "Activation",
    "Adagrad",
    "Adam",
    "Dense",
    "Derivation",
    "Equation",
    "Initializer",
    "Loss",
    "Network",
    "Optimizer",
    "RMSprop",
    "Regularizer",
    "Schedule",
    "SpecError",
    "a",
    "build",
    "derive",
    "elu",
    "exponential_decay",
    "generate",
    "huber",
    "leaky_relu",
    "prelu",
    "step_decay",
    "stop_gradient",
    "t",
    "time_decay",
    "w",
    "write_module",
    "y",
    "z",
]
