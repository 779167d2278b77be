"""Formulas evaluated to numbers, as the generated code evaluates them: float64 NumPy, through
the code printer. Checks and searches that need numbers (is the activation finite on the real
line, which output form fits f') use this, never arbitrary precision: mpmath follows
e^(e^(e^z)) to any exponent and never returns, while float64 answers inf at once — and inf is
what the generated code would compute there too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import sympy as sp

from .printers import NumPyCodePrinter

_ERF = np.vectorize(math.erf, otypes=[float])
#: what printed code refers to besides NumPy (see the template: DTYPE, erf)
_NAMESPACE = {"np": np, "math": math, "DTYPE": np.float64, "erf": _ERF}


def evaluate(
    expr: sp.Expr, symbols: Sequence[sp.Symbol], columns: Sequence[Sequence[float]]
) -> np.ndarray:
    """``expr`` at each point, the value of ``symbols[i]`` at point j being
    ``columns[i][j]``, in float64; nan wherever it is not a real number or cannot be
    evaluated (sqrt(−1), 0/0, a branch missing)."""
    arrays = [np.asarray(column, dtype=np.float64) for column in columns]
    shape = np.broadcast_shapes(*(array.shape for array in arrays))
    try:
        fn = sp.lambdify(
            list(symbols),
            expr,
            modules=[_NAMESPACE],
            printer=NumPyCodePrinter(),
        )
        with np.errstate(all="ignore"):
            result = np.asarray(fn(*arrays), dtype=np.float64)
    except Exception:  # noqa: BLE001 - what NumPy cannot evaluate (zoo, …) is nan
        return np.full(shape, np.nan)
    return np.broadcast_to(result, shape).copy()


def finite(values: np.ndarray) -> bool:
    """Whether every value is a finite number."""
    return bool(np.isfinite(values).all())


__all__ = ["evaluate", "finite"]
