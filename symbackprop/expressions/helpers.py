"""The helpers a generated module defines: the error functions NumPy lacks (element-wise, from
``math``), and softmax and its relatives over the units of each row (axis 1), written so that
they neither overflow nor lose the digits of an output near 1.

This file is their one source. A generated module copies the source of each helper it calls
(``source``), and ``numeric`` evaluates formulas with these very functions, so what the
compiler measures is what the module runs. They use NumPy alone and keep the arrays' dtype.
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np


def erf(x):
    """The error function, element-wise, in x's dtype (float64 for an integer, such as an
    update count k; NumPy has none)."""
    x = np.asarray(x)
    real = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return np.vectorize(math.erf, otypes=[float])(x).astype(real, copy=False)


def erfc(x):
    """The complementary error function 1 − erf(x), element-wise, in x's dtype (float64 for
    an integer): accurate where erf(x) is close to 1."""
    x = np.asarray(x)
    real = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    return np.vectorize(math.erfc, otypes=[float])(x).astype(real, copy=False)


@functools.lru_cache(maxsize=32)
def _row_constants(rows, units, dtype):
    """(each row's flat offset 0, K, 2K, …; a K × 1 column of ones in dtype), read-only, for
    the row helpers below: made once per shape (the last 32 kept), since making them costs
    as much as a pass over a short row."""
    offsets = np.arange(0, rows * units, units)
    ones = np.ones((units, 1), dtype)
    offsets.flags.writeable = ones.flags.writeable = False
    return offsets, ones


@functools.lru_cache(maxsize=32)
def _ones(n, dtype):
    """A read-only vector of n ones in dtype, made once per length (the last 32 kept)."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def _column_sums(x):
    """Σ_n x_n, each column's sum over the rows (a batch's samples), as the product of a row
    of ones and x: BLAS takes half the time of x.sum(axis=0) on a batch's arrays."""
    return np.dot(_ones(x.shape[0], x.dtype), x)


def _logsumexp(Z):
    """log Σ_k exp(Z) of each row as M + log Σ_k exp(Z − M), M the row's maximum: no overflow."""
    M = Z.max(axis=1, keepdims=True)
    return M + np.log(np.exp(Z - M).sum(axis=1, keepdims=True))


def _softmax(Z):
    """exp(Z)/Σ_k exp(Z) of each row as exp(Z − M)/Σ_k exp(Z − M), M the row's maximum: no
    overflow. M is gathered at each row's argmax and Σ_k is a product with a column of ones:
    NumPy reduces along short rows more slowly than it does either."""
    offsets, ones = _row_constants(*Z.shape, Z.dtype)
    M = Z.ravel()[Z.argmax(axis=1) + offsets]
    E = np.exp(Z - M[:, None])
    E /= np.dot(E, ones)
    return E


def _softmax_parts(Z, out=None):
    """(D, R, softmax(Z)) of each row, with D = Z − M (M = Z_m the row's largest, so D_m is
    exactly 0) and R = Σ_{k≠m} exp(D_k), the sum of the other terms, kept apart from the 1 of
    exp(D_m): softmax(Z) = exp(D)/(1 + R) cannot overflow, and log softmax(Z) = D − log1p(R)
    and the output error (_softmax_minus) keep the digits an output near 1 would round away.
    out: C-ordered arrays of those shapes to write the three into, then an integer array for
    each row's m (a training epoch's rows of the batch: its accuracy reads m, the predicted
    class), or None for new ones.
    """
    offsets, ones = _row_constants(*Z.shape, Z.dtype)
    D, R, E, m = (None, None, None, None) if out is None else out
    # the flat index of each row's largest, Z_m
    top = Z.argmax(axis=1, out=m) + offsets
    D = np.subtract(Z, Z.ravel()[top][:, None], out=D)
    E = np.exp(D, out=E, order="C")  # (C-ordered: ravel is a view)
    E.ravel()[top] = 0
    R = np.dot(E, ones, out=R)
    E.ravel()[top] = 1
    E /= 1 + R
    return D, R, E


def _log_softmax(Z):
    """log softmax(Z) = Z − log Σ_k exp(Z) of each row, as (Z − M) − log1p(Σ_{k≠m} exp(Z_k − M)),
    M = Z_m the row's largest: no overflow, and where the largest output is near 1 its log
    keeps the digits that Z − logsumexp(Z) rounds away."""
    offsets, ones = _row_constants(*Z.shape, Z.dtype)
    top = Z.argmax(axis=1) + offsets  # the flat index of each row's largest, Z_m
    D = Z - Z.ravel()[top][:, None]  # Z − M, exactly 0 at Z_m
    E = np.exp(D, order="C")
    E.ravel()[top] = 0  # (E is C-ordered: ravel is a view)
    return D - np.log1p(np.dot(E, ones))


def _log1m_softmax(Z):
    """log(1 − softmax(Z)) of each row. Below the row's largest logit Z_m the output is at most
    1/2, so log1p(−A) keeps its digits; at Z_m, 1 − A_m is the others' share, so its log is
    logsumexp of the other logits minus logsumexp of all: finite however far Z_m leads, where
    log(1 − A_m) is log 0."""
    rows, m = np.arange(Z.shape[0]), Z.argmax(axis=1)
    M = Z[rows, m][:, None]
    E = np.exp(Z - M)
    E[rows, m] = 0
    S = E.sum(axis=1, keepdims=True)  # Σ_{k≠m} exp(Z_k − M)
    L = np.log1p(-E / (1 + S))
    others = Z.copy()
    others[rows, m] = -np.inf  # the logits below the largest
    M2 = others.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # a row of one unit: log 0
        top = (M2 - M) + np.log(np.exp(others - M2).sum(axis=1, keepdims=True))
    L[rows, m] = (top - np.log1p(S))[:, 0]
    return L


def _softmax_backward(A, G):
    """A ⊙ (G − Σ_k A_k G_k): the error G at softmax outputs A carried back to the logits,
    as A ⊙ (D − Σ_k A_k D_k) with D = G − G_m, G_m at the row's largest output: D_m is exactly
    0, so the largest output's error keeps the digits that G_m − Σ_k A_k G_k rounds away where
    A_m is near 1."""
    D = G - np.take_along_axis(G, A.argmax(axis=1)[:, None], axis=1)
    return A * (D - (A * D).sum(axis=1, keepdims=True))


def _softmax_backward_pole(Z, T, below, at_top):
    """A ⊙ (G − Σ_k A_k G_k), A = softmax(Z), for an error G = ∂ℓ/∂A with a pole at A = 1 (a
    loss with log(1 − A)), where G at the largest output overflows. It takes G only as the
    products that stay finite: below(A, C, D, T) = A ⊙ G below the row's largest output and
    at_top(A, C, D, T) = (1 − A) ⊙ G at it, with C = 1 − A and D = A − T computed there from the
    others' share. With R = Σ_{k≠m} A_k G_k and W_k = A_k / (1 − A_m), the softmax of the other
    logits: A_k G_k − A_k R − A_m W_k (1 − A_m) G_m below the largest, A_m((1 − A_m) G_m − R) at
    it."""
    m = Z.argmax(axis=1)
    at = (np.arange(Z.shape[0]), m)  # each row's largest logit
    top = np.zeros(Z.shape, dtype=bool)
    top[at] = True
    M = Z[at][:, None]
    E = np.where(top, 0, np.exp(Z - M))
    S = E.sum(axis=1, keepdims=True)  # Σ_{k≠m} exp(Z_k − M)
    A = np.where(top, 1, E) / (1 + S)
    C = np.where(top, S, 1 + S - E) / (1 + S)
    D = np.where(top, (1 - T) - C, A - T)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        AG = np.where(top, 0, below(A, C, D, T))  # its value at the largest is not used
    R = AG.sum(axis=1, keepdims=True)
    Q = np.broadcast_to(at_top(A[at], C[at], D[at], T[at]), m.shape)[:, None]
    others = Z.copy()
    others[at] = -np.inf  # the logits below the largest
    M2 = others.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # a row of one unit has no others
        W = np.exp(others - M2)
        W /= W.sum(axis=1, keepdims=True)
    A_m = A[at][:, None]
    delta = AG - A * R - A_m * Q * W
    delta[at] = (A_m * (Q - R))[:, 0]
    return delta


def _softmax_minus(A, T, R=None):
    """A − T for softmax outputs A, where an output above 1/2 (at most one per row) takes
    A − T = (1 − T) − Σ_others A, the sum of the row's other outputs: it keeps the digits that
    A − T rounds away where A is near 1. Given R, the others' terms Σ_{k≠m} exp(Z_k − Z_m)
    of _softmax_parts, that sum is R·A_m, with no pass over the row."""
    big = A > 0.5
    D = A - T
    if R is None:
        others = np.where(big, 0, A).sum(axis=1, keepdims=True)
    else:  # R·A is Σ_others A where A is the row's largest (the only entry used)
        others = R * A
    np.copyto(D, (1 - T) - others, where=big)
    return D


def _weighted_sum(terms, weights):
    """Σ_n weights_n Σ_k terms_nk, the weights an N × 1 column or 1.0 for samples alike:
    then the terms are summed alone, with no pass to multiply them by 1."""
    if isinstance(weights, float):
        return terms.sum() * weights
    return (terms * weights).sum()


#: every helper, by name, in the order a module defines them
HELPERS = {
    fn.__name__: fn
    for fn in (
        erf,
        erfc,
        _logsumexp,
        _softmax,
        _softmax_parts,
        _log_softmax,
        _log1m_softmax,
        _softmax_backward,
        _softmax_backward_pole,
        _softmax_minus,
        _weighted_sum,
        _column_sums,
    )
}


#: the cached constants (made once per shape) and the helpers that take them
_CONSTANTS = {
    _row_constants: {"_softmax", "_softmax_parts", "_log_softmax"},
    _ones: {"_column_sums"},
}


def source(names: set[str]) -> list[str]:
    """The source of each helper among ``names``, in a fixed order, for a generated module:
    the constants they take first."""
    chosen = [inspect.getsource(fn) for name, fn in HELPERS.items() if name in names]
    constants = [
        inspect.getsource(fn) for fn, users in _CONSTANTS.items() if names & users
    ]
    return constants + chosen


def imports(names: set[str]) -> set[str]:
    """The modules that the helpers among ``names`` import (``math`` is the printer's):
    functools for the constants' cache."""
    return (
        {"functools"} if any(names & users for users in _CONSTANTS.values()) else set()
    )


__all__ = ["HELPERS", "imports", "source"]
