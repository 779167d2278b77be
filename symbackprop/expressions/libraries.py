"""Printers for the array libraries a module can target besides NumPy: PyTorch and JAX.

Each is the NumPy printer (``printers.NumPyCodePrinter``) with its calls spelled in the
library's words: ``np.exp`` → ``torch.exp`` / ``jnp.exp``, the error function from the
library, and, for PyTorch, the NumPy printer's spelling hooks (``_operand``, ``_clip``,
``_typed``) overridden: numbers made tensors where its functions take tensors alone
(``torch.maximum``, ``torch.logaddexp``), clipping as ``torch.clamp``. The formulas, their order and their comments are the
NumPy module's: only the spelling differs.
"""

from __future__ import annotations

import re

import sympy as sp

from ..errors import SpecError
from ..options import TARGETS
from . import array_helpers
from .algebra import Defined, Dot, Log1p, Softplus
from .printers import (
    LOG_COSH_SPLIT,
    LOG_SOFTPLUS_FLOOR,
    NumPyCodePrinter,
    ScalarCodePrinter,
)

_NUMPY_CALL = re.compile(r"(?<![\w.])np\.")


class _LibraryPrinter(NumPyCodePrinter):
    """NumPy's printer with ``np.`` calls spelled as ``prefix``'s."""

    prefix = "np."
    #: PyTorch has softmax as one op, which the parts would split into several (JAX's
    #: printer fuses: XLA does not share the exp of the softmax and the loss's log softmax)
    fuses_softmax = False
    #: the weights are a 0-d array where every sample counts alike (``_on_device``)
    sums_weights_apart = False

    def doprint(self, expr: object, assign_to: object = None) -> str:
        return _NUMPY_CALL.sub(self.prefix, super().doprint(expr, assign_to))

    def _print_Dot(self, expr: sp.Expr) -> str:
        """``(X @ W1.T)``: NumPy's printer writes np.dot, which would read torch.dot here (a
        product of vectors alone)."""
        left, right = (self._print(arg) for arg in expr.args)
        return f"({left} @ {right})"

    def _print_BatchSum(self, expr: sp.Expr) -> str:
        """``delta_y.sum(axis=0)``: one op, which XLA fuses (NumPy's printer writes a product
        with ones, a helper the libraries' modules lack)."""
        return self._reduce(expr, "sum(axis=0)")

    def for_host(self) -> MathCodePrinter:
        """The printer for numbers the module computes on the host, in float64 whatever the
        library's settings (an initialiser's scale): Python's ``math``."""
        return MathCodePrinter(self.needs)

    def _logical(self, function: str, expr: sp.Expr) -> str:
        code = self._print(expr.args[-1])
        for arg in reversed(expr.args[:-1]):
            code = f"np.{function}({self._print(arg)}, {code})"
        return code

    def _print_And(self, expr: sp.Expr) -> str:
        return self._logical("logical_and", expr)

    def _print_Or(self, expr: sp.Expr) -> str:
        return self._logical("logical_or", expr)


class TorchCodePrinter(_LibraryPrinter):
    """PyTorch source, against ``import torch`` in a module defining ``TORCH_DTYPE``."""

    prefix = "torch."

    def _operand(self, expr: sp.Expr, dtype: str = "TORCH_DTYPE") -> str:
        """A number as a 0-d tensor of ``dtype`` (the module's): PyTorch's element-wise
        functions (torch.maximum, torch.logaddexp) take tensors alone; one of our functions of
        numbers (softplus(4), which the stable forms write for log(1 + e⁴)) prints as one
        already. On the CPU, whatever the program's default device (torch.set_default_device):
        a CPU 0-d tensor joins a tensor on any device as a number does.
        """
        if expr.is_number and not expr.has(Defined):
            return f'torch.tensor({self._print(expr)}, dtype={dtype}, device="cpu")'
        return self._print(expr)

    def _clip(self, code: str, low: object = None, high: object = None) -> str:
        bound = f"min={low}" if low is not None else f"max={high}"
        return f"np.clamp({code}, {bound})"

    def _typed(self, value: sp.Expr, like: sp.Symbol | None = None) -> str:
        """A branch's number as a 0-d tensor of the dtype of ``like``, the array the
        Piecewise compares (``Z1 > 0``): its result then has the computation's dtype, the
        module's in training and float64 in check_gradients, where a float32 module's
        [Z16 > 0] of TORCH_DTYPE met float64 weights in a product, which torch refuses.
        """
        if like is None:
            return self._operand(value)
        return self._operand(value, f"{self._print(like)}.dtype")

    def _pairwise(self, function: str, args: tuple[sp.Expr, ...]) -> str:
        """max(Z, 0) as torch.clamp(Z, min=0): one op, no tensor built for the number."""
        numbers = [arg for arg in args if arg.is_number]
        rest = tuple(arg for arg in args if not arg.is_number)
        if len(numbers) == 1 and rest:
            inner = super()._pairwise(function, rest)
            bound = self._print(numbers[0])
            if function == "np.maximum":
                return self._clip(inner, low=bound)
            return self._clip(inner, high=bound)
        code = self._operand(args[-1])
        for arg in reversed(args[:-1]):
            code = f"{function}({self._operand(arg)}, {code})"
        return code

    def for_scalars(self) -> MathCodePrinter:
        """The printer for formulas of numbers alone (a schedule's rate at update k): Python's
        ``math``, which takes floats where torch's functions take tensors."""
        return self.for_host()

    def _print_Add(self, expr: sp.Expr) -> str:
        """(X·W1ᵀ) + b1 as ``torch.addmm(b1, X, W1.T)``: the bias added by the product itself,
        one op where the sum takes two, as ``torch.nn.functional.linear`` computes a layer
        (the small benchmark network's epoch 3.8 % faster)."""
        products = [arg for arg in expr.args if isinstance(arg, Dot)]
        if len(expr.args) == 2 and len(products) == 1:
            (added,) = (arg for arg in expr.args if arg is not products[0])
            if added.is_Symbol:
                left, right = (self._print(arg) for arg in products[0].args)
                return f"torch.addmm({self._print(added)}, {left}, {right})"
        return super()._print_Add(expr)

    def _print_Softmax(self, expr: sp.Expr) -> str:
        """PyTorch's softmax, one op where the helper takes five (it subtracts the row's
        maximum as the helper does): per-op cost is most of a small batch's time."""
        return f"torch.softmax({self._print(expr.args[0])}, dim=1)"

    def _print_erf(self, expr: sp.Expr) -> str:
        return f"torch.special.erf({self._operand(expr.args[0])})"

    def _print_Erfc(self, expr: sp.Expr) -> str:
        return f"torch.special.erfc({self._operand(expr.args[0])})"


class MathCodePrinter(ScalarCodePrinter):
    """Python source for formulas of numbers alone, with ``math`` and Python's built-ins (max,
    abs, a conditional expression for Piecewise: NumPy's names with math's prefix would name
    nothing); ``needs`` records the modules the code uses."""

    def __init__(self, needs: set[str]) -> None:
        super().__init__({"strict": True})
        self.needs = needs

    def doprint(self, expr: object, assign_to: object = None) -> str:
        code = super().doprint(expr, assign_to)
        self.needs.update(self.module_imports)
        return code

    # our stable functions (a schedule's log(1 + k/10) is log1p(k/10)), with math's; a form
    # of several terms is parenthesised, as a call is where it stands (−softplus(u))
    def _stable(self, form: sp.Expr) -> str:
        return f"({self._print(form)})"

    def _math(self, function: str, expr: sp.Expr) -> str:
        return f"{self._module_format('math.' + function)}({self._print(expr.args[0])})"

    def _print_Log1p(self, expr: sp.Expr) -> str:
        return self._math("log1p", expr)

    def _print_Expm1(self, expr: sp.Expr) -> str:
        return self._math("expm1", expr)

    def _print_Erfc(self, expr: sp.Expr) -> str:
        return self._math("erfc", expr)

    def _print_Softplus(self, expr: sp.Expr) -> str:
        # max(u, 0) + log(1 + e^(−|u|)): math.exp cannot overflow
        (u,) = expr.args
        return self._stable(sp.Max(u, 0) + Log1p(sp.exp(-sp.Abs(u))))

    def _print_LogAddExp(self, expr: sp.Expr) -> str:
        u, v = expr.args
        return self._stable(sp.Max(u, v) + Log1p(sp.exp(-sp.Abs(u - v))))

    def _print_LogSoftplus(self, expr: sp.Expr) -> str:
        # as NumPy's printer: log softplus(u) ≈ u below the floor, where softplus underflows
        (u,) = expr.args
        clipped = sp.Max(u, LOG_SOFTPLUS_FLOOR)
        log_softplus = self._print(sp.log(Softplus(clipped)))
        return f"({log_softplus} + ({self._print(u - clipped)}))"  # (0 above the floor)

    def _print_LogCosh(self, expr: sp.Expr) -> str:
        size = sp.Abs(expr.args[0])
        small = Log1p(2 * sp.sinh(size / 2) ** 2)
        large = size + Log1p(sp.exp(-2 * size)) - sp.log(2)
        return self._stable(sp.Piecewise((small, size < LOG_COSH_SPLIT), (large, True)))


class JaxCodePrinter(_LibraryPrinter):
    """JAX source, against ``import jax``, ``import jax.numpy as jnp`` (its functions take
    numbers as NumPy's do)."""

    prefix = "jnp."
    fuses_softmax = True
    #: JAX's arrays are updated by new ones, and XLA fuses η's product into the subtraction;
    #: folded, W1 - dW1 is a lone subtraction, which XLA:CPU runs on one thread (measured: the
    #: large benchmark's compiled epoch 5 % slower)
    folds_rate = False

    def _print_erf(self, expr: sp.Expr) -> str:
        return f"jax.scipy.special.erf({self._print(expr.args[0])})"

    def _print_Erfc(self, expr: sp.Expr) -> str:
        return f"jax.scipy.special.erfc({self._print(expr.args[0])})"


PRINTERS = {
    "numpy": NumPyCodePrinter,
    "torch": TorchCodePrinter,
    "jax": JaxCodePrinter,
}


def check_target(target: object) -> str:
    """``target`` if it names a target, else an error naming it and the targets there are."""
    if target not in TARGETS:
        raise SpecError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    return target


def helper_source(target: str, needs: set[str]) -> tuple[list[str], set[str]]:
    """The helpers a ``target`` module defines, for what its code ``needs``, and the modules
    they import."""
    from . import helpers

    if target == "numpy":
        return helpers.source(needs), helpers.imports(needs)
    return array_helpers.source(needs, target), set()


__all__ = [
    "PRINTERS",
    "TARGETS",
    "JaxCodePrinter",
    "TorchCodePrinter",
    "check_target",
    "helper_source",
]
