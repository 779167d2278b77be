"""symbackprop: describe a network, get its backpropagation derived by SymPy and printed as code.

The names below are imported on first use (PEP 562), so that ``import symbackprop`` and
``symbackprop --help`` do not load SymPy.
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

#: each public name, by the module it comes from
_HOMES = {
    ".derive.derivation": ("Derivation", "Equation", "derive"),
    ".emit.codegen": ("build", "generate", "write_module"),
    ".errors": ("SpecError",),
    ".plot": ("plot_history",),
    ".expressions.symbols": ("a", "t", "w", "y", "z"),
    ".spec.catalog": (
        "ACTIVATIONS",
        "L1",
        "L2",
        "LOSSES",
        "elu",
        "huber",
        "leaky_relu",
        "prelu",
        "stop_gradient",
    ),
    ".spec.functions": ("Activation", "Loss", "Regularizer"),
    ".spec.initializers": ("INITIALIZERS", "Initializer"),
    ".spec.graph": ("Add", "Concatenate", "Input"),
    ".spec.network": ("ActivationLayer", "BatchNorm", "Dense", "Dropout", "Network"),
    ".spec.optimizers": (
        "OPTIMIZERS",
        "SGD",
        "Adagrad",
        "Adam",
        "Optimizer",
        "RMSprop",
        "Schedule",
        "exponential_decay",
        "step_decay",
        "time_decay",
    ),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'symbackprop' has no attribute {name!r}")
    if module != ".plot":
        # a Derivation shows itself (str, latex(), to_latex(), …) through the printing
        # layer, which deriving never imports: importing it installs its writer
        from . import document  # noqa: F401

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package, whose public names win over its subpackages': importing the stage
    ``symbackprop.derive`` must not rebind ``symbackprop.derive``, the function."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _HOME_OF and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "L1",
    "L2",
    "LOSSES",
    "OPTIMIZERS",
    "SGD",
    "Activation",
    "ActivationLayer",
    "Adagrad",
    "Adam",
    "Add",
    "BatchNorm",
    "Concatenate",
    "Dense",
    "Derivation",
    "Dropout",
    "Equation",
    "Initializer",
    "Input",
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
    "plot_history",
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
