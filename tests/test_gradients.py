"""Every generated gradient against central differences and against HIPS autograd."""

import zlib

import numpy as np
import pytest

import symbackprop as sb

from . import reference

OUTPUTS = [
    ("identity", "mse"),
    ("sigmoid", "mse"),
    ("sigmoid", "binary_crossentropy"),
    ("sigmoid", "categorical_crossentropy"),
    ("tanh", "mse"),
    ("relu", "mse"),
    ("softmax", "mse"),
    ("softmax", "categorical_crossentropy"),
]
HIDDEN = ["identity", "sigmoid", "tanh", "relu", "softmax"]


def _cases():
    cases = [
        (),
        *((h,) for h in HIDDEN),
        *((h, HIDDEN[(i + 2) % 5]) for i, h in enumerate(HIDDEN)),
    ]
    for hidden in cases:
        for output, loss in OUTPUTS:
            yield pytest.param(
                hidden, output, loss, id="-".join([*hidden, output, loss])
            )


def _network(hidden, output, loss, rng):
    def width(act, low=1):
        return int(rng.integers(max(low, 2 if act == "softmax" else 1), 6))

    layers = [sb.Dense(width(act), activation=act) for act in hidden]
    layers.append(
        sb.Dense(
            width(output, low=2 if loss == "categorical_crossentropy" else 1),
            activation=output,
        )
    )
    return sb.Network("net", inputs=int(rng.integers(1, 5)), layers=layers, loss=loss)


@pytest.mark.parametrize(("hidden", "output", "loss"), list(_cases()))
def test_generated_gradients_match_central_differences_and_autograd(
    hidden, output, loss
):
    rng = np.random.default_rng(zlib.crc32(repr((hidden, output, loss)).encode()))
    network = _network(hidden, output, loss, rng)
    module = sb.build(network)
    params = module.init_params(seed=1)
    params = {
        name: value + rng.normal(scale=0.1, size=value.shape)
        for name, value in params.items()
    }
    X, T = reference.random_batch(network, 7, rng)

    assert module.check_gradients(params, X, T) < 1e-6

    assert module.loss(params, X, T) == pytest.approx(
        float(reference.loss(network, params, X, T)), rel=1e-12
    )
    expected = reference.gradients(network, params, X, T)
    actual = module.gradients(params, X, T)
    assert list(actual) == list(module.PARAMS)
    for name in module.PARAMS:
        error = np.linalg.norm(actual[name] - expected[name]) / max(
            np.linalg.norm(expected[name]), 1e-300
        )
        assert error < 1e-9, (name, error)


def test_check_gradients_detects_a_wrong_gradient():
    network = sb.Network(
        "wrong", 3, [sb.Dense(4, "tanh"), sb.Dense(2, "sigmoid")], "binary_crossentropy"
    )
    source = sb.generate(network).replace("delta_y = T - A2", "delta_y = T - 0.9 * A2")
    namespace: dict = {}
    code = compile(source, "<wrong>", "exec")
    exec(code, namespace)  # noqa: S102 - a deliberately broken module
    rng = np.random.default_rng(0)
    X, T = reference.random_batch(network, 5, rng)
    assert namespace["check_gradients"](namespace["init_params"](), X, T) > 1e-3


def test_bias_free_layers_have_no_bias_gradient():
    network = sb.Network(
        "nobias", 3, [sb.Dense(4, "relu", bias=False), sb.Dense(1, bias=False)], "mse"
    )
    module = sb.build(network)
    assert module.PARAMS == ("W1", "W2")
    X, T = reference.random_batch(network, 6, np.random.default_rng(2))
    assert module.check_gradients(module.init_params(), X, T) < 1e-6


@pytest.mark.parametrize(
    ("output", "loss", "units"),
    [
        ("sigmoid", "binary_crossentropy", 1),
        ("softmax", "categorical_crossentropy", 3),
        ("sigmoid", "mse", 2),
    ],
)
def test_outputs_and_losses_stay_finite_for_logits_of_1000(output, loss, units):
    network = sb.Network("stable", 1, [sb.Dense(units, activation=output)], loss)
    module = sb.build(network)
    params = {"W1": np.linspace(1000, -1000, units)[:, None], "b1": np.zeros(units)}
    X = np.array([[1.0], [-1.0]])
    T = np.eye(units)[[units - 1, 0]] if units > 1 else np.array([[0.0], [1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = module.loss(params, X, T)
        grads = module.gradients(params, X, T)
        outputs = module.forward(params, X)
    # the confidently wrong sample costs ~1000 under cross-entropy, the mse is bounded
    assert np.isfinite(value) and value > (0.5 if loss == "mse" else 100)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert np.all(np.isfinite(outputs))
