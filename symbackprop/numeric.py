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

from .printers import NumPyCodePrinter

_ERF = np.vectorize(math.erf, otypes=[float])
_ERFC = np.vectorize(math.erfc, otypes=[float])


def _logsumexp(Z: np.ndarray) -> np.ndarray:
    M = Z.max(axis=1, keepdims=True)
    return M + np.log(np.exp(Z - M).sum(axis=1, keepdims=True))


def _softmax(Z: np.ndarray) -> np.ndarray:
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _log_softmax(Z: np.ndarray) -> np.ndarray:
    rows, m = np.arange(Z.shape[0]), Z.argmax(axis=1)
    M = Z[rows, m][:, None]
    E = np.exp(Z - M)
    E[rows, m] = 0
    return (Z - M) - np.log1p(E.sum(axis=1, keepdims=True))


def _softmax_backward(A: np.ndarray, G: np.ndarray) -> np.ndarray:
    D = G - np.take_along_axis(G, A.argmax(axis=1)[:, None], axis=1)
    return A * (D - (A * D).sum(axis=1, keepdims=True))


def _softmax_minus(A: np.ndarray, T: np.ndarray) -> np.ndarray:
    big = A > 0.5
    D = A - T
    others = np.where(big, 0, A).sum(axis=1, keepdims=True)
    np.copyto(D, (1 - T) - others, where=big)
    return D


#: what printed code refers to besides NumPy: the template's DTYPE and helpers, as numbers
_NAMESPACE = {
    "np": np,
    "math": math,
    "erf": lambda x: _ERF(x).astype(np.asarray(x).dtype, copy=False),
    "erfc": lambda x: _ERFC(x).astype(np.asarray(x).dtype, copy=False),
    "_logsumexp": _logsumexp,
    "_softmax": _softmax,
    "_log_softmax": _log_softmax,
    "_softmax_minus": _softmax_minus,
    "_softmax_backward": _softmax_backward,
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
    ``fn`` fails otherwise than by a floating-point error."""
    try:
        with np.errstate(**errors):
            result = np.asarray(fn(*arrays), dtype=kind)
    except FloatingPointError:
        raise
    except Exception:  # noqa: BLE001 - what NumPy cannot evaluate (zoo, …) is nan
        return np.full(shape, np.nan, dtype=kind)
    return np.broadcast_to(result, shape).copy()


def finite(values: np.ndarray) -> bool:
    """Whether every value is a finite number."""
    return bool(np.isfinite(values).all())


__all__ = ["evaluate", "finite"]
