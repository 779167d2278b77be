"""The JAX implementations `make bench` times (in a process of their own: JAX's thread pool and
OpenBLAS's disturb each other). Each trains the benchmark network (``peers.network``) one epoch
at a time:

- the generated module with ``--target jax`` (its whole epoch compiled),
- hand-written JAX: the lecture's formulas, the epoch one ``jax.jit`` over a ``lax.scan`` of
  batches with the shuffle's gather inside, as a JAX user writes it,
- JAX's floor: the same compiled epoch doing the matrix products, the gather and the weight
  updates alone.
"""

from __future__ import annotations

import numpy as np
from peers import FIT_EPOCHS, Case, Generated, Peer


class HandJax(Peer):
    """Hand-written JAX: one compiled function per epoch (``lax.scan`` over the full batches,
    then the short last batch), gradients by the lecture's formulas."""

    name = "hand-written JAX (jitted epoch)"
    products_only = False

    requires = "jax"

    def __init__(self, case):
        super().__init__(case)
        if self.missing:
            return
        self.jax.config.update("jax_enable_x64", True)
        self.compiled = self.jax.jit(self._epoch)

    def _batch(self, params, X, T):
        jnp = self.jax.numpy
        W, b = params
        activations, x = [X], X
        for i in range(len(W)):
            z = x @ W[i].T + b[i]
            if i < len(W) - 1:
                x = jnp.maximum(z, 0)
            else:
                e = jnp.exp(z - z.max(axis=1, keepdims=True))
                x = e / e.sum(axis=1, keepdims=True)
            activations.append(x)
        delta = (x - T) / X.shape[0]
        W, b = list(W), list(b)
        for i in reversed(range(len(W))):
            dW, db = delta.T @ activations[i], delta.sum(axis=0)
            if i > 0:
                delta = (delta @ W[i]) * (activations[i] > 0)
            W[i], b[i] = W[i] - self.case.lr * dW, b[i] - self.case.lr * db
        return W, b

    def _epoch(self, params, X, T, order):
        X, T = X[order], T[order]
        size = self.case.batch_size
        full = X.shape[0] // size * size

        def scanned(params, batch):
            return self._batch(params, *batch), None

        split = (
            X[:full].reshape(-1, size, X.shape[1]),
            T[:full].reshape(-1, size, T.shape[1]),
        )
        params, _ = self.jax.lax.scan(scanned, params, split)
        if full < X.shape[0]:
            params = self._batch(params, X[full:], T[full:])
        return params

    def load(self, params):
        jnp = self.jax.numpy
        count = len(self.case.sizes)
        self.state = (
            [jnp.asarray(params[f"W{i}"]) for i in range(1, count)],
            [jnp.asarray(params[f"b{i}"]) for i in range(1, count)],
        )
        self.X, self.T = jnp.asarray(self.case.X), jnp.asarray(self.case.T)

    def params(self):
        self.W, self.b = ([np.asarray(a) for a in arrays] for arrays in self.state)
        return super().params()

    def epoch(self, order, seed):
        self.state = self.compiled(self.state, self.X, self.T, order)
        self.jax.block_until_ready(self.state)


class JaxFloor(HandJax):
    """JAX's floor: the compiled epoch doing the matrix products (forward, δ below the output,
    weight gradients), the shuffle's gather and the weight updates alone."""

    name = "JAX floor: products + gather + updates"
    trains = False

    def _batch(self, params, X, T):
        W, b = params
        rng = np.random.default_rng(0)
        noise = [1e-8 * rng.standard_normal((X.shape[0], w)) for w in self.case.sizes]
        activations = [X]
        for i in range(len(W)):
            activations.append(activations[-1] @ W[i].T)
        # the last product feeds the top error, so the compiler keeps it
        delta = noise[-1] + 1e-12 * activations[-1]
        W = list(W)
        for i in reversed(range(len(W))):
            gradient = delta.T @ activations[i]
            if i > 0:
                delta = delta @ W[i]
            W[i] = W[i] - gradient
        return W, b


def jax_peers(case: Case) -> list[Peer]:
    """The JAX implementations of ``case``."""
    return [
        Generated(case, target="jax"),
        Generated(case, target="jax", epochs=FIT_EPOCHS),
        Generated(case, target="jax", on_device=True),
        HandJax(case),
        JaxFloor(case),
    ]
