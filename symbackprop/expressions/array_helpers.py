"""The row-wise helpers of the PyTorch and JAX modules: softmax and its relatives written with
the functions NumPy, PyTorch and JAX share (``xp.where``, ``xp.amax``, ``.sum(axis=…,
keepdims=…)``), without assignment into an array, which JAX has not. They compute what the
NumPy helpers (``helpers``) compute, with the same care: the row maximum subtracted, the
digits of an output near 1 kept. Each row's largest entry is marked by ``_top``, which each
library defines in its own words (``TOP``).

A generated module copies the source of each helper it calls (``source``) after binding
``xp`` to its library. Here ``xp`` is NumPy, so that these run, and are tested, against the
NumPy helpers.
"""

from __future__ import annotations

import inspect

import numpy as xp

from . import helpers

#: each library's ``_top``: a boolean array marking each row's largest entry (the first, on
#: ties, as argmax picks it)
TOP = {
    "torch": '''def _top(Z):
    """A boolean array marking each row's largest entry (the first of equals, as torch.max
    along a row gives its index: a quarter of the cost of torch.argmax's on short rows)."""
    first = Z.max(axis=1, keepdim=True).indices
    return torch.zeros_like(Z, dtype=torch.bool).scatter_(1, first, True)
''',
    "jax": '''def _top(Z):
    """A boolean array marking each row's largest entry (the first of equals)."""
    return jax.nn.one_hot(Z.argmax(axis=1), Z.shape[1], dtype=bool)
''',
}


def _top(Z):
    """A boolean array marking each row's largest entry (the first of equals)."""
    return xp.arange(Z.shape[1]) == Z.argmax(axis=1)[:, None]


def _row(top, V):
    """Each row's entry of V where top marks it, as a column."""
    return xp.where(top, V, 0).sum(axis=1, keepdims=True)


def _logsumexp(Z):
    """log Σ_k exp(Z) of each row as M + log Σ_k exp(Z − M), M the row's maximum: no overflow."""
    M = xp.amax(Z, axis=1, keepdims=True)
    return M + xp.log(xp.exp(Z - M).sum(axis=1, keepdims=True))


def _softmax(Z):
    """exp(Z)/Σ_k exp(Z) of each row as exp(Z − M)/Σ_k exp(Z − M), M the row's maximum: no
    overflow."""
    E = xp.exp(Z - xp.amax(Z, axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _softmax_parts(Z):
    """(D, R, softmax(Z)) of each row, with D = Z − M (M = Z_m the row's largest, so D_m is
    exactly 0) and R = Σ_{k≠m} exp(D_k), the other terms' sum apart from the 1 of exp(D_m):
    log softmax(Z) = D − log1p(R), and _softmax_minus takes R (see the NumPy helper)."""
    top = _top(Z)
    D = Z - xp.amax(Z, axis=1, keepdims=True)
    E = xp.where(top, 0, xp.exp(D))
    R = E.sum(axis=1, keepdims=True)
    return D, R, xp.where(top, 1, E) / (1 + R)


def _log_softmax(Z):
    """log softmax(Z) of each row, as (Z − M) − log1p(Σ_{k≠m} exp(Z_k − M)), M = Z_m the row's
    largest: no overflow, and the digits of the largest output's log kept."""
    top = _top(Z)
    D = Z - xp.amax(Z, axis=1, keepdims=True)
    E = xp.where(top, 0, xp.exp(D))
    return D - xp.log1p(E.sum(axis=1, keepdims=True))


def _log1m_softmax(Z):
    """log(1 − softmax(Z)) of each row: log1p(−A) below the row's largest logit; at it, the
    others' share, logsumexp of the other logits minus logsumexp of all (finite however far
    Z_m leads)."""
    top = _top(Z)
    M = _row(top, Z)
    E = xp.where(top, 0, xp.exp(Z - M))
    S = E.sum(axis=1, keepdims=True)  # Σ_{k≠m} exp(Z_k − M)
    others = xp.where(top, -xp.inf, Z)  # the logits below the largest
    M2 = xp.amax(others, axis=1, keepdims=True)
    at_top = (M2 - M) + xp.log(xp.exp(others - M2).sum(axis=1, keepdims=True))
    return xp.where(top, at_top - xp.log1p(S), xp.log1p(-E / (1 + S)))


def _softmax_backward(A, G):
    """A ⊙ (G − Σ_k A_k G_k) as A ⊙ (D − Σ_k A_k D_k), D = G − G_m at the row's largest output:
    the largest output's error keeps its digits where A_m is near 1."""
    D = G - _row(_top(A), G)
    return A * (D - (A * D).sum(axis=1, keepdims=True))


def _softmax_backward_pole(Z, T, below, at_top):
    """A ⊙ (G − Σ_k A_k G_k), A = softmax(Z), for an error G with a pole at A = 1, from the
    products that stay finite: below(A, C, D, T) = A ⊙ G below the row's largest output and
    at_top(A, C, D, T) = (1 − A) ⊙ G at it, C = 1 − A and D = A − T computed from the others'
    share (see the NumPy module's helper of the same name)."""
    top = _top(Z)
    M = _row(top, Z)
    E = xp.where(top, 0, xp.exp(Z - M))
    S = E.sum(axis=1, keepdims=True)  # Σ_{k≠m} exp(Z_k − M)
    A = xp.where(top, 1, E) / (1 + S)
    C = xp.where(top, S, 1 + S - E) / (1 + S)
    D = xp.where(top, (1 - T) - C, A - T)
    AG = xp.where(top, 0, below(A, C, D, T))  # its value at the largest is not used
    R = AG.sum(axis=1, keepdims=True)
    Q = at_top(_row(top, A), _row(top, C), _row(top, D), _row(top, T)) + 0 * R
    others = xp.where(top, -xp.inf, Z)  # the logits below the largest
    M2 = xp.amax(others, axis=1, keepdims=True)
    W = xp.exp(others - M2)
    W = W / W.sum(axis=1, keepdims=True)
    A_m = _row(top, A)
    return xp.where(top, A_m * (Q - R), AG - A * R - A_m * Q * W)


def _softmax_minus(A, T, R=None):
    """A − T for softmax outputs A, where an output above 1/2 takes (1 − T) − Σ_others A: the
    digits that A − T rounds away near 1 kept. Given R of _softmax_parts, Σ_others A is R·A
    where A is the row's largest, with no sum over the row."""
    big = A > 0.5
    others = xp.where(big, 0, A).sum(axis=1, keepdims=True) if R is None else R * A
    return xp.where(big, (1 - T) - others, A - T)


#: every helper, by name, in the NumPy module's order (``_top`` and ``_row`` come first where
#: one needs them)
HELPERS = {name: globals()[name] for name in helpers.HELPERS if name in globals()}
_NEEDS_TOP = {
    "_softmax_parts",
    "_log_softmax",
    "_log1m_softmax",
    "_softmax_backward",
    "_softmax_backward_pole",
}


def source(names: set[str], library: str) -> list[str]:
    """The source of each helper among ``names`` for a ``library`` ("torch", "jax") module,
    in a fixed order, ``_top`` and ``_row`` first where one needs them."""
    chosen = [inspect.getsource(fn) for name, fn in HELPERS.items() if name in names]
    if names & _NEEDS_TOP:
        chosen[:0] = [TOP[library], inspect.getsource(_row)]
    return chosen


__all__ = ["HELPERS", "TOP", "source"]
