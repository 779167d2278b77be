"""The fast training step: errors scaled before the products, the rate folded into the step for
SGD, in-place updates, the forms the printer picks, and metrics computed only when asked for.
"""

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop import fitstep
from symbackprop.derive import Equation
from symbackprop.optimizers import LR, LR_K

from .reference import random_batch

SMALL = sb.Network(
    "small",
    4,
    [sb.Dense(6, "relu"), sb.Dense(3, "softmax")],
    "categorical_crossentropy",
    optimizer=sb.SGD(lr=0.1),
)

# every shape of gradient equation: biases or none, L1/L2 terms, learnable parameters in a
# hidden and the output layer, a row-wise hidden activation, a fused and an unfused output
SCALED = [
    SMALL,
    sb.Network(
        "l2", 3, [sb.Dense(5, "tanh"), sb.Dense(2)], "mse", regularizer=sb.L2(0.01)
    ),
    sb.Network(
        "l1",
        3,
        [sb.Dense(4, "sigmoid", bias=False), sb.Dense(1, "sigmoid")],
        "binary_crossentropy",
        regularizer=sb.L1(0.003),
    ),
    sb.Network("prelu", 3, [sb.Dense(4, sb.prelu()), sb.Dense(2, sb.prelu())], "mse"),
    sb.Network(
        "rowwise", 3, [sb.Dense(4, "softmax"), sb.Dense(2, "softplus")], "poisson"
    ),
    sb.Network("unfused", 3, [sb.Dense(4, "elu"), sb.Dense(2, "tanh")], "mae"),
]


@pytest.mark.parametrize("convention", ["negative", "gradient"])
@pytest.mark.parametrize("network", SCALED, ids=lambda n: n.name)
def test_step_returns_scale_times_every_gradient(network, convention):
    module = sb.build(network, convention)
    X, T = random_batch(network, 7, np.random.default_rng(1))
    values = module._check_params(module.init_params(seed=2))
    _, _, *plain = module._step(*values, X, T)
    _, _, *scaled = module._step(*values, X, T, 0.37)
    for name, g, h in zip(module.PARAMS, plain, scaled):
        np.testing.assert_allclose(h, 0.37 * g, rtol=1e-12, atol=1e-15, err_msg=name)
    assert module.check_gradients(module.init_params(seed=2), X, T) < 1e-6


def test_no_gradient_is_divided_after_its_product():
    source = sb.generate(SMALL)
    step = source[source.index("def _step") : source.index("def _accuracy")]
    assert "delta_y = _softmax_minus(A2, T) * (scale / N)" in step
    assert "dW1 = delta_h1.T @ X" in step and "db1 = delta_h1.sum(axis=0)" in step
    assert "/ N" not in step.split("delta_y =")[1].split("\n", 1)[1]


def test_relu_prints_as_a_maximum_and_its_derivative_as_a_mask():
    source = sb.generate(SMALL)
    assert "A1 = np.maximum(Z1, 0)" in source
    assert "delta_h1 = (A1 > 0) * (delta_y @ W2)" in source
    assert "DTYPE(1), DTYPE(0)" not in source


def test_softmax_and_its_log_and_error_are_module_helpers():
    source = sb.generate(SMALL)
    assert "def _softmax(Z):" in source and "A2 = _softmax(Z2)" in source
    assert "def _log_softmax(Z):" in source and "_log_softmax(Z2)" in source
    assert "def _softmax_minus(A, T):" in source
    assert "def _logsumexp(Z):" not in source
    plain = sb.generate(sb.Network("p", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse"))
    assert "_softmax" not in plain and "_logsumexp" not in plain


@pytest.mark.parametrize(
    ("optimizer", "rate"),
    [
        (sb.SGD(lr=0.1), LR),
        (sb.SGD(lr=0.1, momentum=0.9), LR),
        (sb.SGD(lr=0.1, momentum=0.9, nesterov=True), LR),
        (sb.SGD(lr=0.1, decay=0.01), LR_K),
        (sb.SGD(lr=0.1, schedule=sb.step_decay(0.5, 10)), LR_K),
        (sb.Adam(), None),
        (sb.RMSprop(), None),
        (sb.Adagrad(), None),
    ],
    ids=lambda value: getattr(value, "title", str(value)),
)
def test_the_rate_is_folded_into_the_step_only_where_every_rule_is_linear_in_it(
    optimizer, rate
):
    assert fitstep.folded_rate(optimizer) == rate
    network = sb.Network(
        "n", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse", optimizer=optimizer
    )
    scale = rate.name if rate else "1.0"
    assert f"W1, b1, W2, b2, X_batch, T_batch, {scale}, with_loss" in sb.generate(
        network
    )


def test_updates_run_in_place():
    momentum = sb.generate(
        sb.Network(
            "m",
            2,
            [sb.Dense(3, "tanh"), sb.Dense(1)],
            "mse",
            optimizer=sb.SGD(0.1, 0.9),
        )
    )
    assert "v_W1 *= momentum\n" in momentum and "v_W1 -= dW1\n" in momentum
    assert "W1 += v_W1\n" in momentum
    adam = sb.generate(
        sb.Network("a", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse", optimizer="adam")
    )
    assert "m_W1 *= beta1\n" in adam and "m_W1 += dW1 * (1 - beta1)\n" in adam
    assert "mhat_W1 = m_W1 / (1 - beta1 ** (k + 1))" in adam
    assert "W1 -= lr * mhat_W1 / (eps + np.sqrt(vhat_W1))" in adam


def test_in_place_needs_a_linear_rebinding():
    theta = sp.Symbol("W1", real=True)
    grad = sp.Symbol("dW1", real=True)
    assert fitstep.in_place(
        Equation(theta, theta - grad, "update", 1, rebinds=True)
    ) == (1, -grad)
    assert (
        fitstep.in_place(Equation(theta, theta**2 - grad, "update", 1, rebinds=True))
        is None
    )
    assert (
        fitstep.in_place(Equation(theta, 2 * grad, "update", 1, rebinds=False)) is None
    )


def test_training_leaves_the_callers_parameters_alone():
    module = sb.build(SMALL)
    X, T = random_batch(SMALL, 20, np.random.default_rng(0))
    params = module.init_params()
    before = {key: value.copy() for key, value in params.items()}
    trained, _ = module.train(params, X, T, epochs=3, batch_size=4, verbose=0)
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])
        assert not np.shares_memory(trained[key], params[key])


def test_metrics_change_the_history_not_the_training():
    module = sb.build(SMALL)
    X, T = random_batch(SMALL, 30, np.random.default_rng(0))
    start = module.init_params()
    full, history = module.train(start, X, T, epochs=4, batch_size=8, verbose=0)
    bare, nothing = module.train(
        start, X, T, epochs=4, batch_size=8, verbose=0, metrics=()
    )
    for key in full:
        np.testing.assert_array_equal(full[key], bare[key])
    assert set(history) == {"loss", "accuracy"} and nothing == {}
    _, losses = module.train(
        start, X, T, epochs=2, batch_size=8, verbose=0, metrics=["loss"]
    )
    assert losses["loss"] == history["loss"][:2]
    _, logs = module.train(
        start, X, T, epochs=2, batch_size=8, verbose=0, metrics=(), validation_split=0.2
    )
    assert set(logs) == {"val_loss", "val_accuracy"}


@pytest.mark.parametrize("metrics", ["loss", ("loss", "mae"), 3])
def test_unknown_metrics_are_refused(metrics):
    module = sb.build(SMALL)
    X, T = random_batch(SMALL, 10, np.random.default_rng(0))
    with pytest.raises(
        ValueError,
        match=r"metrics must be a sequence of names from \('loss', 'accuracy'\)",
    ):
        module.train(
            module.init_params(), X, T, epochs=1, batch_size=4, metrics=metrics
        )


def test_divergence_without_the_loss_is_caught_from_the_parameters():
    module = sb.build(sb.Network("r", 2, [sb.Dense(3, "linear"), sb.Dense(1)], "mse"))
    X = np.random.default_rng(0).normal(size=(16, 2)) * 100
    T = X[:, :1] * 1000
    start = module.init_params()
    with pytest.warns(
        RuntimeWarning,
        match="the parameters stopped being finite with learning rate 10.0",
    ):
        params, _ = module.train(
            start, X, T, epochs=50, batch_size=4, lr=10.0, verbose=0, metrics=()
        )
    assert all(np.all(np.isfinite(value)) for value in params.values())
