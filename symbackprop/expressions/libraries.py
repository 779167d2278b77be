"""Printers for the array libraries a module can target besides NumPy: PyTorch and JAX.

Each is the NumPy printer (``printers.NumPyCodePrinter``) with its calls spelled in the
library's words: ``np.exp`` → ``torch.exp`` / ``jnp.exp``, the error function from the
library, and, for PyTorch, numbers made tensors where its functions take tensors alone
(``torch.maximum``, ``torch.logaddexp``). The formulas, their order and their comments are the
NumPy module's: only the spelling differs.
"""

from __future__ import annotations

import re

import sympy as sp

from ..errors import SpecError
from ..options import TARGETS
from . import array_helpers
from .printers import NumPyCodePrinter, _clipped_below

_NUMPY_CALL = re.compile(r"(?<![\w.])np\.")


class _LibraryPrinter(NumPyCodePrinter):
    """NumPy's printer with ``np.`` calls spelled as ``prefix``'s."""

    prefix = "np."

    def doprint(self, expr: object, assign_to: object = None) -> str:
        return _NUMPY_CALL.sub(self.prefix, super().doprint(expr, assign_to))

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

    def _number(self, expr: sp.Expr) -> str:
        """A number where PyTorch wants a tensor: a 0-d tensor of the module's dtype."""
        return f"torch.tensor({self._print(expr)}, dtype=TORCH_DTYPE)"

    def _operand(self, expr: sp.Expr) -> str:
        return self._number(expr) if expr.is_number else self._print(expr)

    def _pairwise(self, function: str, args: tuple[sp.Expr, ...]) -> str:
        bound = {"np.maximum": "min", "np.minimum": "max"}.get(function)
        numbers = [arg for arg in args if arg.is_number]
        if (
            bound and len(numbers) == 1 and len(args) > 1
        ):  # max(Z, 0): one op, no tensor
            rest = tuple(arg for arg in args if not arg.is_number)
            inner = (
                self._pairwise(function, rest)
                if len(rest) > 1
                else self._print(rest[0])
            )
            return f"np.clamp({inner}, {bound}={self._print(numbers[0])})"
        code = self._operand(args[-1])
        for arg in reversed(args[:-1]):
            code = f"{function}({self._operand(arg)}, {code})"
        return code

    def _print_Softplus(self, expr: sp.Expr) -> str:
        return f"np.logaddexp({self._number(sp.S.Zero)}, {self._print(expr.args[0])})"

    def _print_LogAddExp(self, expr: sp.Expr) -> str:
        left, right = (self._operand(arg) for arg in expr.args)
        return f"np.logaddexp({left}, {right})"

    def _print_LogSoftplus(self, expr: sp.Expr) -> str:
        u = self._print(expr.args[0])
        clipped = f"np.clamp({u}, min=-80)"
        zero = self._number(sp.S.Zero)
        return f"(np.log(np.logaddexp({zero}, {clipped})) + ({u} - {clipped}))"

    def _print_LogCosh(self, expr: sp.Expr) -> str:
        self.needs.add("math")
        u = f"np.abs({self._print(expr.args[0])})"
        small = f"np.log1p(2 * np.sinh(np.clamp({u}, max=1) / 2) ** 2)"
        large = f"{u} + np.logaddexp({self._number(sp.S.Zero)}, -2 * {u}) - math.log(2)"
        return f"np.where({u} < 1, {small}, {large})"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        if _clipped_below(expr):  # max(u, c): torch.maximum takes tensors only
            (value, _), (low, _) = expr.args
            return self._pairwise("np.maximum", (value, low))
        code = super()._print_Piecewise(expr)
        return re.sub(
            r"DTYPE\(([^()]*)\)", r"torch.tensor(\1, dtype=TORCH_DTYPE)", code
        )

    def for_scalars(self) -> NumPyCodePrinter:
        """The printer for formulas of numbers alone (a schedule's rate at update k): Python's
        ``math``, which takes floats where torch's functions take tensors."""
        printer = MathCodePrinter()
        printer.needs = self.needs
        printer.needs.add("math")
        return printer

    def _print_erf(self, expr: sp.Expr) -> str:
        return f"torch.special.erf({self._print(expr.args[0])})"

    def _print_Erfc(self, expr: sp.Expr) -> str:
        return f"torch.special.erfc({self._print(expr.args[0])})"


class MathCodePrinter(_LibraryPrinter):
    """Python source for formulas of numbers alone, with ``math``."""

    prefix = "math."


class JaxCodePrinter(_LibraryPrinter):
    """JAX source, against ``import jax``, ``import jax.numpy as jnp`` (its functions take
    numbers as NumPy's do)."""

    prefix = "jnp."

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


def helper_source(target: str, needs: set[str]) -> list[str]:
    """The helpers a ``target`` module defines, for what its code ``needs``."""
    from . import helpers

    if target == "numpy":
        return helpers.source(needs)
    return array_helpers.source(needs, target)


__all__ = [
    "PRINTERS",
    "TARGETS",
    "JaxCodePrinter",
    "TorchCodePrinter",
    "check_target",
    "helper_source",
]
