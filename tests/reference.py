"""An independent reference: the same networks written directly in HIPS autograd's NumPy.

Nothing here comes from symbackprop's derivation; only the spec (layer widths, activation and
loss names) is read. autograd differentiates these plain forward definitions by itself.
"""

import autograd.numpy as anp
import numpy as np
from autograd import grad


def _softmax(z):
    shifted = z - anp.max(z, axis=1, keepdims=True)
    return anp.exp(shifted) / anp.sum(anp.exp(shifted), axis=1, keepdims=True)


ACTIVATIONS = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
    "tanh": anp.tanh,
    "relu": lambda z: anp.maximum(z, 0.0),
    "softmax": _softmax,
}

LOSSES = {
    "mse": lambda y, t: (t - y) ** 2,
    "binary_crossentropy": lambda y, t: -(t * anp.log(y) + (1 - t) * anp.log(1 - y)),
    "categorical_crossentropy": lambda y, t: -t * anp.log(y),
}


def loss(network, params, X, T):
    """Mean over the batch of the per-sample loss summed over outputs."""
    A = X
    for i, layer in enumerate(network.layers, start=1):
        Z = anp.dot(A, params[f"W{i}"].T)
        if layer.bias:
            Z = Z + params[f"b{i}"]
        A = ACTIVATIONS[layer.activation.name](Z)
    return anp.sum(LOSSES[network.loss.name](A, T)) / X.shape[0]


def gradients(network, params, X, T):
    """autograd's gradient of ``loss`` with respect to every parameter."""
    return grad(lambda p: loss(network, p, X, T))(params)


def random_batch(network, samples, rng):
    """Random inputs and targets valid for the network's loss."""
    n_in, n_out = network.sizes[0], network.sizes[-1]
    X = rng.normal(size=(samples, n_in))
    if (
        network.loss.name == "categorical_crossentropy"
        or network.layers[-1].activation.name == "softmax"
    ):
        T = np.eye(n_out)[rng.integers(0, n_out, size=samples)]
    elif network.loss.name == "binary_crossentropy":
        T = rng.integers(0, 2, size=(samples, n_out)).astype(float)
    else:
        T = rng.normal(size=(samples, n_out))
    return X, T
