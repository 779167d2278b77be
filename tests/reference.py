"""An independent reference: the same networks written directly in HIPS autograd's NumPy.

Nothing here comes from symbackprop's derivation: only the spec (widths, activation and loss
names and settings, the regulariser) is read, and each function is written from its textbook
definition. autograd differentiates these plain forward definitions by itself.
"""

import autograd.numpy as anp
import numpy as np
from autograd import grad
from autograd.extend import defvjp, primitive
from autograd.scipy.special import erf

from symbackprop.spec.targets import DOMAINS

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


@primitive
def stop_gradient(x):
    return x


defvjp(stop_gradient, lambda ans, x: lambda g: anp.zeros_like(g))


def _sigmoid(z):
    # e^(−softplus(−z)): 1/(1 + e^(−z)) overflows below z = −709, and its gradient is then
    # inf/inf (a hypothesis chain exp → sigmoid reached z = −10⁶)
    return anp.exp(-_softplus(-z))


def _softplus(z):
    return anp.logaddexp(0, z)


def _softmax(z):
    shifted = z - anp.max(z, axis=1, keepdims=True)
    return anp.exp(shifted) / anp.sum(anp.exp(shifted), axis=1, keepdims=True)


def _threshold(z):
    # straight-through: the value of a step, the gradient of the identity
    return z + stop_gradient(anp.where(z > 0, 1.0, 0.0) - z)


ACTIVATIONS = {
    "identity": lambda z, s: z,
    "sigmoid": lambda z, s: _sigmoid(z),
    "tanh": lambda z, s: anp.tanh(z),
    "relu": lambda z, s: anp.where(z > 0, z, 0.0),
    "softmax": lambda z, s: _softmax(z),
    "threshold": lambda z, s: _threshold(z),
    "leaky_relu": lambda z, s: anp.where(z > 0, z, s.get("alpha", 0.01) * z),
    "prelu": lambda z, s: anp.where(z > 0, z, s["alpha"] * z),
    "elu": lambda z, s: anp.where(
        z > 0, z, s.get("alpha", 1.0) * (anp.exp(anp.minimum(z, 0)) - 1)
    ),
    "selu": lambda z, s: SELU_SCALE
    * anp.where(z > 0, z, SELU_ALPHA * (anp.exp(anp.minimum(z, 0)) - 1)),
    "softplus": lambda z, s: _softplus(z),
    "softsign": lambda z, s: z / (1 + anp.abs(z)),
    "swish": lambda z, s: z * _sigmoid(z),
    "gelu": lambda z, s: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "mish": lambda z, s: z * anp.tanh(_softplus(z)),
    "hard_sigmoid": lambda z, s: anp.clip(z / 6 + 0.5, 0, 1),
    "exponential": lambda z, s: anp.exp(z),
}


def _huber(u, delta):
    return anp.where(anp.abs(u) <= delta, u**2 / 2, delta * (anp.abs(u) - delta / 2))


LOSSES = {
    "mse": lambda y, t, s: (t - y) ** 2,
    "half_sse": lambda y, t, s: (y - t) ** 2 / 2,
    "mae": lambda y, t, s: anp.abs(y - t),
    "huber": lambda y, t, s: _huber(y - t, s.get("delta", 1.0)),
    # log cosh u = log((e^u + e^-u) / 2), without overflowing cosh
    "log_cosh": lambda y, t, s: anp.logaddexp(y - t, t - y) - np.log(2),
    "binary_crossentropy": lambda y, t, s: -(t * anp.log(y) + (1 - t) * anp.log(1 - y)),
    "categorical_crossentropy": lambda y, t, s: -t * anp.log(y),
    "sparse_categorical_crossentropy": lambda y, t, s: -t * anp.log(y),
    "kl_divergence": lambda y, t, s: t * anp.log(t / y),
    "poisson": lambda y, t, s: y - t * anp.log(y),
    "hinge": lambda y, t, s: anp.maximum(0.0, 1 - t * y),
    "squared_hinge": lambda y, t, s: anp.maximum(0.0, 1 - t * y) ** 2,
}

PENALTIES = {"L2": lambda W: anp.sum(W**2), "L1": lambda W: anp.sum(anp.abs(W))}


def loss(network, params, X, T, custom=None, masks=None):
    """Mean over the batch of the per-sample loss summed over outputs, plus the regulariser.

    ``custom`` maps the name of a custom activation or loss to its autograd definition;
    ``masks`` the number of Dense layers before each Dropout to the mask it multiplies by
    (none: inference, nothing dropped).
    """
    custom = custom or {}
    A, penalty, i = X, 0.0, 0
    for layer in network.layers:
        if not hasattr(layer, "units"):  # a Dropout
            A = A if masks is None else A * masks[i]
            continue
        i += 1
        Z = anp.dot(A, params[f"W{i}"].T)
        if layer.bias:
            Z = Z + params[f"b{i}"]
        act = layer.activation
        settings = dict(act.settings)
        for symbol, _ in act.learnable:
            settings[symbol.name] = params[f"{symbol.name}{i}"]
        A = custom.get(act.name) or ACTIVATIONS[act.name]
        A = A(Z, settings)
        if network.regularizer is not None:
            lam = dict(network.regularizer.settings)["lam"]
            penalty = penalty + lam * PENALTIES[network.regularizer.name](
                params[f"W{i}"]
            )
    if network.loss.targets == "labels":
        T = np.eye(network.sizes[-1])[T]
    per_element = custom.get(network.loss.name) or LOSSES[network.loss.name]
    per_element = per_element(A, T, dict(network.loss.settings))
    return anp.sum(per_element) / X.shape[0] + penalty


def gradients(network, params, X, T, custom=None, masks=None):
    """autograd's gradient of ``loss`` with respect to every parameter."""
    return grad(lambda p: loss(network, p, X, T, custom, masks))(params)


def random_batch(network, samples, rng):
    """Random inputs and targets valid for the network's loss."""
    n_in, n_out = network.sizes[0], network.sizes[-1]
    X = rng.normal(size=(samples, n_in))
    targets = network.loss.targets
    if targets == "labels":
        return X, rng.integers(0, n_out, size=samples)
    softmax = network.dense[-1].activation.name == "softmax"
    # class distributions where the loss takes them (counts and real targets need not sum
    # to 1, and a softmax's loss is derived without Σ_k t_k = 1 for them)
    if (softmax and targets == "probability") or network.loss.name in (
        "categorical_crossentropy",
        "kl_divergence",
    ):
        T = rng.dirichlet(np.ones(n_out), size=samples)
        if network.loss.name != "kl_divergence":
            T = np.eye(n_out)[rng.integers(0, n_out, size=samples)]
    else:
        T = DOMAINS[targets].sample(rng, samples, n_out)
    return X, T
