"""Formulas evaluated to numbers, as the generated code evaluates them: float64 NumPy, through
the code printer. Checks and searches that need numbers (is the activation finite on the real
line, which output form fits f') use this, never arbitrary precision: mpmath follows
e^(e^(e^z)) to any exponent and never returns, while float64 answers inf at once — and inf is
what the generated code would compute there too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from . import helpers
from .printers import NumPyCodePrinter

#: what printed code refers to besides NumPy: the template's DTYPE and helpers, as numbers
_NAMESPACE = {
    "np": np,
    "math": math,
    **helpers.HELPERS,
}


def evaluate(
    expr: sp.Expr,
    symbols: Sequence[sp.Symbol],
    columns: Sequence[Sequence[float]],
    dtype: str = "float64",
    strict: bool = False,
) -> np.ndarray:
    """``expr`` at each point, the value of ``symbols[i]`` at point j being
    ``columns[i][j]``, computed in ``dtype`` as a generated module of that dtype computes it;
    nan wherever it is not a real number or cannot be evaluated (sqrt(−1), 0/0, a branch
    missing) — and, if ``strict``, wherever any step overflows, divides by zero or is invalid,
    even in a branch np.where discards (a module run with those errors raising fails there).
    """
    kind = np.dtype(dtype).type
    arrays = [np.asarray(column, dtype=kind) for column in columns]
    shape = np.broadcast_shapes(*(array.shape for array in arrays))
    try:
        fn = sp.lambdify(
            list(symbols),
            expr,
            modules=[{**_NAMESPACE, "DTYPE": kind}],
            printer=NumPyCodePrinter(),
        )
    except Exception:  # noqa: BLE001 - what NumPy cannot evaluate (zoo, …) is nan
        return np.full(shape, np.nan, dtype=kind)
    if not strict:
        return _values(fn, arrays, shape, kind, {"all": "ignore"})
    errors = {"all": "raise", "under": "ignore"}
    try:
        return _values(fn, arrays, shape, kind, errors)
    except FloatingPointError:  # point by point: nan where a step failed
        points = np.broadcast_arrays(*arrays)
        values = np.empty(shape, dtype=kind)
        for j in range(values.size):
            try:
                at = [point.reshape(-1)[j : j + 1] for point in points]
                values.flat[j] = _values(fn, at, (1,), kind, errors)[0]
            except FloatingPointError:
                values.flat[j] = np.nan
        return values


def _values(
    fn: Callable[..., np.ndarray],
    arrays: Sequence[np.ndarray],
    shape: tuple[int, ...],
    kind: type,
    errors: dict[str, str],
) -> np.ndarray:
    """``fn(*arrays)`` under ``errors`` (np.errstate), as an array of ``shape``; nan where
    ``fn`` fails otherwise than by a floating-point error, and where its value is complex
    (I·exp(z): the cast to ``kind`` would drop the imaginary part)."""
    try:
        with np.errstate(**errors):
            result = np.asarray(fn(*arrays))
            if np.iscomplexobj(result):
                result = np.where(result.imag == 0, result.real, np.nan)
            result = result.astype(kind)
    except FloatingPointError:
        raise
    except Exception:  # noqa: BLE001 - what NumPy cannot evaluate (zoo, …) is nan
        return np.full(shape, np.nan, dtype=kind)
    return np.broadcast_to(result, shape).copy()


def on_arrays(
    expr: sp.Expr, values: dict[sp.Symbol, object], training: bool = False
) -> np.ndarray:
    """A formula over whole arrays (``Dot``, ``BatchMean``, …) at ``values``, computed in
    float64 by the code the generated module would run for it, in training mode or not
    (batch normalisation's statistics)."""
    symbols = list(values)
    fn = sp.lambdify(
        symbols,
        expr,
        modules=[{**_NAMESPACE, "DTYPE": np.float64, "training": training}],
        printer=NumPyCodePrinter(),
    )
    with np.errstate(all="ignore"):
        return np.asarray(fn(*(values[s] for s in symbols)), dtype=np.float64)


def finite(values: np.ndarray) -> bool:
    """Whether every value is a finite number."""
    return bool(np.isfinite(values).all())


__all__ = ["evaluate", "finite", "on_arrays"]
