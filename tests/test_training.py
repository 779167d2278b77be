"""The fit loop of generated modules: optimisers against their published equations, validation,
early stopping, divergence, callbacks, progress, save/load, summary, float32 and the Model class.
"""

import ast
import dataclasses
import importlib
import os
import pickle
import re
import subprocess
import sys

import joblib
import numpy as np
import pytest

import symbackprop as sb
from symbackprop.cli import random_batch

from .reference import random_batch as network_batch
from .test_generated_code import EVERY_ACTIVATION, EVERY_LOSS

REGRESSION = sb.Network("fit", 3, [sb.Dense(5, "tanh"), sb.Dense(2)], "mse")
CLASSIFIER = sb.Network(
    "classes",
    4,
    [sb.Dense(6, "relu"), sb.Dense(3, "softmax")],
    "sparse_categorical_crossentropy",
    optimizer=sb.SGD(lr=0.2, momentum=0.5),
)


def _data(samples=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(samples, 3))
    return X, np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])


def _classes(samples=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(samples, 4))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


# --- each optimiser against a direct NumPy transcription of its published equations ---------


def sgd(lr):
    def rule(k, theta, g, state):
        return theta - lr * g

    return rule


def momentum(lr, mu, nesterov=False):
    """Sutskever et al. (2013); Nesterov in the form of Bengio et al. (2013), as Keras."""

    def rule(k, theta, g, state):
        state["v"] = mu * state.get("v", 0.0) - lr * g
        return theta + (mu * state["v"] - lr * g if nesterov else state["v"])

    return rule


def adam(lr, beta1=0.9, beta2=0.999, eps=1e-8, decay=0.0):
    """Kingma & Ba (2015), Algorithm 1, with Keras' time-based decay of the rate."""

    def rule(k, theta, g, state):
        t = k + 1
        state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
        state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g**2
        m_hat = state["m"] / (1 - beta1**t)
        v_hat = state["v"] / (1 - beta2**t)
        return theta - lr / (1 + decay * k) * m_hat / (np.sqrt(v_hat) + eps)

    return rule


def rmsprop(lr, rho=0.9, eps=1e-7):
    """Tieleman & Hinton (2012), lecture 6.5."""

    def rule(k, theta, g, state):
        state["s"] = rho * state.get("s", 0.0) + (1 - rho) * g**2
        return theta - lr * g / (np.sqrt(state["s"]) + eps)

    return rule


def adagrad(lr, eps=1e-7):
    """Duchi et al. (2011)."""

    def rule(k, theta, g, state):
        state["G"] = state.get("G", 0.0) + g**2
        return theta - lr * g / (np.sqrt(state["G"]) + eps)

    return rule


def scheduled(rate):
    """Plain SGD at the rate ``rate(k)`` of update k."""

    def rule(k, theta, g, state):
        return theta - rate(k) * g

    return rule


OPTIMIZERS = [
    ("sgd", sb.SGD(lr=0.1), sgd(0.1)),
    ("momentum", sb.SGD(lr=0.1, momentum=0.9), momentum(0.1, 0.9)),
    ("nesterov", sb.SGD(0.05, momentum=0.8, nesterov=True), momentum(0.05, 0.8, True)),
    ("adam", sb.Adam(lr=0.01), adam(0.01)),
    ("adam_decay", sb.Adam(lr=0.01, decay=0.1), adam(0.01, decay=0.1)),
    (
        "adam_betas",
        sb.Adam(0.02, beta1=0.5, beta2=0.9, eps=1e-3),
        adam(0.02, 0.5, 0.9, 1e-3),
    ),
    ("rmsprop", sb.RMSprop(lr=0.01, rho=0.8), rmsprop(0.01, 0.8)),
    ("adagrad", sb.Adagrad(lr=0.1), adagrad(0.1)),
    (
        "step_decay",
        sb.SGD(0.2, schedule=sb.step_decay(drop=0.5, every=4)),
        scheduled(lambda k: 0.2 * 0.5 ** (k // 4)),
    ),
    (
        "exponential_decay",
        sb.SGD(0.2, schedule=sb.exponential_decay(rate=0.9, steps=3)),
        scheduled(lambda k: 0.2 * 0.9 ** (k / 3)),
    ),
    (
        "sgd_time_decay",
        sb.SGD(0.2, decay=0.5),
        scheduled(lambda k: 0.2 / (1 + 0.5 * k)),
    ),
]


def _transcribe(module, params, X, T, rule, epochs, batch_size):
    """Apply ``rule`` to every parameter batch by batch, in order, from the module's gradients."""
    params = {name: value.copy() for name, value in params.items()}
    state = {name: {} for name in params}
    k = 0
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            batch = slice(start, start + batch_size)
            grads = module.gradients(params, X[batch], T[batch])
            for name in params:
                params[name] = rule(k, params[name], grads[name], state[name])
            k += 1
    return params


@pytest.mark.parametrize(
    ("optimizer", "rule"),
    [case[1:] for case in OPTIMIZERS],
    ids=[case[0] for case in OPTIMIZERS],
)
def test_optimizer_follows_its_published_equations(optimizer, rule):
    module = sb.build(dataclasses.replace(REGRESSION, optimizer=optimizer))
    X, T = _data()
    start = module.init_params(seed=1)
    trained, history = module.train(
        start, X, T, epochs=3, batch_size=4, shuffle=False, verbose=0
    )
    expected = _transcribe(module, start, X, T, rule, epochs=3, batch_size=4)
    for name in module.PARAMS:
        np.testing.assert_allclose(
            trained[name], expected[name], rtol=1e-12, atol=1e-14
        )
        assert not np.allclose(trained[name], start[name])  # it did move
    assert len(history["loss"]) == 3


#: each optimiser beside torch.optim's own implementation of the same rule (PyTorch's SGD
#: keeps v as Σ μ^j dθ, Keras' form as −η times that: the same steps at a fixed rate), and the
#: rate's schedule as torch's LambdaLR applies it after each update; SGD's cases with an L2
#: penalty, which the torch network adds to its loss (tests/torch_reference.py)
TORCH_OPTIMIZERS = [
    (
        "momentum_l2",
        sb.SGD(0.1, momentum=0.9),
        ("SGD", {"momentum": 0.9}),
        None,
        sb.L2(0.01),
    ),
    (
        "nesterov",
        sb.SGD(0.05, momentum=0.8, nesterov=True),
        ("SGD", {"momentum": 0.8, "nesterov": True}),
        None,
        sb.L2(0.01),
    ),
    (
        "adam_decay",
        sb.Adam(0.02, beta1=0.5, beta2=0.9, eps=1e-3, decay=0.1),
        ("Adam", {"betas": (0.5, 0.9), "eps": 1e-3}),
        lambda k: 1 / (1 + 0.1 * k),
        None,
    ),
    (
        "rmsprop",
        sb.RMSprop(0.01, rho=0.8, eps=1e-4),
        ("RMSprop", {"alpha": 0.8, "eps": 1e-4}),
        None,
        None,
    ),
    (
        "adagrad_decay",
        sb.Adagrad(0.1, eps=1e-4, decay=0.3),
        ("Adagrad", {"eps": 1e-4, "lr_decay": 0.3}),
        None,
        None,
    ),
    (
        "step_decay",
        sb.SGD(0.2, schedule=sb.step_decay(drop=0.5, every=4)),
        ("SGD", {}),
        lambda k: 0.5 ** (k // 4),
        None,
    ),
]


@pytest.mark.parametrize(
    ("optimizer", "theirs", "schedule", "regularizer"),
    [case[1:] for case in TORCH_OPTIMIZERS],
    ids=[case[0] for case in TORCH_OPTIMIZERS],
)
def test_optimizer_trains_as_torch_optim_does(optimizer, theirs, schedule, regularizer):
    """An oracle of another hand: the network in torch's functions (tests/torch_reference.py),
    its gradients by autograd, each update by torch.optim; 3 epochs of batches in order.
    """
    import torch

    from . import torch_reference

    network = dataclasses.replace(
        CLASSIFIER, optimizer=optimizer, regularizer=regularizer
    )
    module = sb.build(network)
    X, labels = _classes(21)
    start = module.init_params(seed=1)
    trained, _ = module.train(
        start, X, labels, epochs=3, batch_size=8, shuffle=False, verbose=0
    )
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    name, settings = theirs
    step = getattr(torch.optim, name)(tensors.values(), lr=optimizer.lr, **settings)
    rate = torch.optim.lr_scheduler.LambdaLR(step, schedule or (lambda k: 1.0))
    for _ in range(3):
        for rows in (slice(0, 8), slice(8, 16), slice(16, 21)):
            step.zero_grad()
            torch_reference.loss(
                network, tensors, X[rows], torch.as_tensor(labels[rows]), {}
            ).backward()
            step.step()
            rate.step()
    for key in module.PARAMS:
        expected = tensors[key].detach().numpy()
        np.testing.assert_allclose(trained[key], expected, rtol=1e-10, atol=1e-13)
        assert not np.allclose(trained[key], start[key])  # it did move


def test_lr_argument_replaces_the_optimizers_rate():
    module = sb.build(dataclasses.replace(REGRESSION, optimizer=sb.SGD(lr=0.1)))
    X, T = _data()
    start = module.init_params()
    trained, _ = module.train(
        start, X, T, epochs=2, batch_size=6, lr=0.03, shuffle=False, verbose=0
    )
    expected = _transcribe(module, start, X, T, sgd(0.03), epochs=2, batch_size=6)
    np.testing.assert_allclose(trained["W1"], expected["W1"], rtol=1e-12)
    assert module.LR == 0.1 and module.OPTIMIZER == "SGD(lr=0.1)"


def test_update_equations_appear_in_the_derivation_and_its_latex():
    derivation = sb.derive(
        dataclasses.replace(REGRESSION, optimizer=sb.Adam(decay=0.1))
    )
    text = str(derivation)
    assert "m_W1 := beta1*m_W1 + dW1*(1 - beta1)" in text
    assert "mhat_W1 = m_W1/(1 - beta1**(k + 1))" in text
    latex = derivation.to_latex()
    assert r"\hat{m}_{W_{1}} &= \frac{m_{W_{1}}}{1 - \beta_{1}^{k + 1}}" in latex
    assert r"\eta_{k} &= \frac{\eta}{\mathrm{decay} k + 1}" in latex
    assert r"\beta_{1} = 0.9" in latex and r"\section*{Update (Adam)}" in latex


# --- initialisers -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(sb.INITIALIZERS))
def test_initializers_draw_from_their_distribution(name):
    network = sb.Network("init", 400, [sb.Dense(300, init=name), sb.Dense(2)], "mse")
    W = sb.build(network).init_params(seed=0)["W1"]
    fan_in, fan_out = 400, 300
    expected = {
        "glorot_uniform": ("uniform", np.sqrt(6 / (fan_in + fan_out))),
        "glorot_normal": ("normal", np.sqrt(2 / (fan_in + fan_out))),
        "he_uniform": ("uniform", np.sqrt(6 / fan_in)),
        "he_normal": ("normal", np.sqrt(2 / fan_in)),
        "lecun_normal": ("normal", np.sqrt(1 / fan_in)),
        "normal_fan_in": ("normal", 1 / np.sqrt(fan_in)),
        "uniform_fan_in": ("uniform", 1 / np.sqrt(fan_in)),
        "zeros": ("zeros", 0.0),
    }[name]
    kind, scale = expected
    if kind == "zeros":
        assert not W.any()
        return
    assert abs(W.mean()) < 0.01 * scale
    if kind == "uniform":
        assert np.abs(W).max() <= scale and np.abs(W).max() > 0.99 * scale
        assert W.std() == pytest.approx(scale / np.sqrt(3), rel=0.01)
    else:
        assert W.std() == pytest.approx(scale, rel=0.01)


def test_network_initializer_applies_where_a_layer_names_none():
    network = sb.Network(
        "inits", 3, [sb.Dense(4, init="zeros"), sb.Dense(2)], "mse", init="he_normal"
    )
    source = sb.generate(network)
    assert (
        '"W1": _zeros(rng, (4, 3))' in source
        and '"W2": _he_normal(rng, (2, 4))' in source
    )
    assert "std = np.sqrt(2 / fan_in)" in source


# --- the fit loop -------------------------------------------------------------------------------


def test_history_has_loss_and_accuracy_with_validation():
    module = sb.build(CLASSIFIER)
    X, labels = _classes()
    _, history = module.train(
        module.init_params(),
        X,
        labels,
        epochs=4,
        batch_size=16,
        validation_split=0.2,
        verbose=0,
    )
    assert list(history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(values) == 4 for values in history.values())
    assert all(
        0 <= value <= 1 for value in history["accuracy"] + history["val_accuracy"]
    )
    _, plain = sb.build(REGRESSION).train(
        sb.build(REGRESSION).init_params(), *_data(), epochs=2, batch_size=4, verbose=0
    )
    assert list(plain) == ["loss"]


def test_validation_split_takes_the_last_samples_before_shuffling():
    module = sb.build(CLASSIFIER)
    X, labels = _classes(100)
    params, history = module.train(
        module.init_params(),
        X,
        labels,
        epochs=3,
        batch_size=10,
        validation_split=0.3,
        verbose=0,
    )
    assert history["val_loss"][-1] == pytest.approx(
        module.evaluate(params, X[70:], labels[70:])["loss"]
    )


def test_early_stopping_restores_the_best_epoch():
    module = sb.build(dataclasses.replace(REGRESSION, optimizer=sb.SGD(lr=0.1)))
    X, T = _data(64)
    # what lowers the training loss raises this one: val_loss must turn up
    validation = (X, -T)
    settings = {
        "epochs": 300,
        "batch_size": 16,
        "validation_data": validation,
        "verbose": 0,
    }
    params, history = module.train(
        module.init_params(), X, T, early_stopping=3, **settings
    )
    val = history["val_loss"]
    best = int(np.argmin(val))
    assert len(val) == best + 1 + 3 < 300
    assert module.evaluate(params, *validation)["loss"] == pytest.approx(
        val[best], rel=1e-12
    )
    last, history = module.train(
        module.init_params(), X, T, early_stopping=3, restore_best=False, **settings
    )
    assert module.evaluate(last, *validation)["loss"] == pytest.approx(
        history["val_loss"][-1]
    )
    assert history["val_loss"][-1] > val[best]


def test_early_stopping_needs_validation_data():
    module = sb.build(REGRESSION)
    with pytest.raises(ValueError, match="early_stopping watches val_loss"):
        module.train(
            module.init_params(), *_data(), epochs=2, batch_size=4, early_stopping=2
        )


def test_divergence_stops_with_a_warning_and_the_last_finite_parameters():
    network = sb.Network("wild", 3, [sb.Dense(5, "relu"), sb.Dense(2)], "mse")
    module = sb.build(network)
    X = np.random.default_rng(0).normal(size=(64, 3)) * 3
    T = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])
    start = module.init_params()
    settings = {"batch_size": 8, "verbose": 0, "shuffle": False}
    for lr, diverges_in in ((0.05, 2), (0.5, 1)):
        with pytest.warns(RuntimeWarning, match="training diverged") as caught:
            params, history = module.train(start, X, T, epochs=100, lr=lr, **settings)
        message = str(caught[0].message)
        assert re.match(  # inf, or nan where outputs of inf meet in the epoch's loss
            f"training diverged in epoch {diverges_in}: the loss became (inf|nan) with "
            f"learning rate {lr}; returning the parameters after epoch {diverges_in - 1}",
            message,
        )
        assert len(history["loss"]) == diverges_in - 1
        # the parameters of the last finite epoch: what training that long returns
        if diverges_in > 1:
            last, _ = module.train(
                start, X, T, epochs=diverges_in - 1, lr=lr, **settings
            )
        else:
            last = start
        for name in module.PARAMS:
            np.testing.assert_array_equal(params[name], last[name])


def test_callbacks_see_each_epoch_and_can_stop_training():
    module = sb.build(CLASSIFIER)
    seen = []

    def record(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch == 2

    _, history = module.train(
        module.init_params(),
        *_classes(),
        epochs=10,
        batch_size=30,
        callbacks=[record],
        verbose=0,
    )
    assert seen == [(1, ["accuracy", "loss"]), (2, ["accuracy", "loss"])]
    assert len(history["loss"]) == 2


def test_progress_line_per_epoch_and_silence(capsys):
    module = sb.build(CLASSIFIER)
    X, labels = _classes()
    module.train(
        module.init_params(), X, labels, epochs=3, batch_size=30, validation_split=0.2
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(
        r"Epoch 2/3 - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d\.\d{4} - "
        r"val_accuracy: \d\.\d{4} - \d+\.\ds elapsed, \d+\.\ds left",
        lines[1],
    )
    module.train(module.init_params(), X, labels, epochs=3, batch_size=30, verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            {"X": np.array([["a", "b", "c", "d"]])},
            TypeError,
            "X must hold real numbers",
        ),
        ({"X": np.full((3, 4), np.inf)}, ValueError, "X holds non-finite values"),
        ({"X": np.full((3, 4), np.nan)}, ValueError, "X holds non-finite values"),
        (
            {"X": np.zeros((3, 4), dtype=complex)},
            ValueError,
            (
                "Complex data not supported: X must hold real numbers, got an array of dtype "
                "complex128"
            ),
        ),
        (
            {"X": [[0, 1, 2, 3], [0, 1]]},
            ValueError,
            "X must be a rectangular array of numbers",
        ),
        ({"X": np.zeros((3, 5))}, ValueError, "X must have shape (N, 4), got (3, 5)"),
        (
            {"X": np.zeros((3, 4, 1))},
            ValueError,
            "X must have shape (N, 4), got (3, 4, 1)",
        ),
        (
            {"T": np.array([0, 1])},
            ValueError,
            "T must hold one class label per sample, shape (3,), got (2,)",
        ),
        ({"T": np.array([0, 1, 9])}, ValueError, "T must hold integer class labels"),
        ({"T": np.array([0.5, 1, 2])}, ValueError, "T must hold integer class labels"),
        (
            {"validation_split": 1.5},
            ValueError,
            "validation_split must be a fraction in [0, 1), got 1.5",
        ),
        (
            {"validation_split": 0.2, "validation_data": ([[0] * 4], [0])},
            ValueError,
            "not both",
        ),
        (
            {"validation_data": np.zeros((2, 4))},
            ValueError,
            "validation_data must be a pair",
        ),
        (
            {"validation_data": (np.zeros((2, 3)), [0, 1])},
            ValueError,
            "validation_data[0] must have shape (N, 4)",
        ),
        ({"early_stopping": 0}, ValueError, "early_stopping must be a patience"),
        ({"callbacks": [1]}, TypeError, "callbacks must be a sequence of functions"),
        ({"verbose": "loud"}, ValueError, "verbose must be 0"),
        (
            {"validation_split": 0.9, "X": np.zeros((3, 4)), "T": [0, 1, 2]},
            ValueError,
            "leaves no training",
        ),
    ],
)
def test_training_data_and_settings_are_validated_up_front(arguments, error, message):
    module = sb.build(CLASSIFIER)
    X, labels = _classes(3)
    call = {"X": X, "T": labels, "epochs": 1, "batch_size": 2, **arguments}
    with pytest.raises(error, match=re.escape(message)):
        module.train(module.init_params(), call.pop("X"), call.pop("T"), **call)


def test_class_labels_given_for_one_hot_targets_are_refused_with_the_way_to_encode_them():
    """A categorical_crossentropy network takes one-hot rows: labels are refused, the message
    saying how to encode them (the Model takes them as they are); a regression network's
    wrong shape gets no such advice."""
    module = sb.build(
        sb.Network("onehot", 4, [sb.Dense(3, "softmax")], "categorical_crossentropy")
    )
    X, labels = np.eye(3, 4), np.array([2, 0, 1])
    with pytest.raises(
        ValueError, match=re.escape("got (3,): one row of the 3 classes'")
    ) as error:
        module.train(module.init_params(), X, labels, epochs=1, batch_size=2)
    assert "np.eye(3)[labels]" in str(error.value)
    assert module.Model(epochs=1, batch_size=2, verbose=0).fit(X, labels).predict(
        X
    ).shape == (3,)
    regression = sb.build(REGRESSION)
    with pytest.raises(
        ValueError, match=re.escape("T must have shape (4, 2), got (4,)") + "$"
    ):
        regression.train(
            regression.init_params(),
            np.zeros((4, 3)),
            np.zeros(4),
            epochs=1,
            batch_size=2,
        )


# --- saving, loading, summary ----------------------------------------------------------------


def test_save_and_load_round_trip_atomically(tmp_path):
    module = sb.build(CLASSIFIER)
    params = module.init_params(seed=4)
    path = module.save(params, tmp_path / "weights")
    assert path == str(tmp_path / "weights.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.npz"]
    loaded = module.load(path)
    assert list(loaded) == list(module.PARAMS)
    for name in module.PARAMS:
        np.testing.assert_array_equal(loaded[name], params[name])


def test_load_refuses_a_file_of_another_network(tmp_path):
    other = sb.build(
        dataclasses.replace(
            CLASSIFIER, layers=(sb.Dense(6, "tanh"), sb.Dense(3, "softmax"))
        )
    )
    path = other.save(other.init_params(), tmp_path / "other.npz")
    with pytest.raises(
        ValueError,
        match=r"holds parameters of network 'classes' \(inputs 4 → Dense\(6, activation='tanh'\)",
    ):
        sb.build(CLASSIFIER).load(path)
    np.savez(tmp_path / "plain.npz", W1=np.zeros((6, 4)))
    with pytest.raises(ValueError, match="not written by a symbackprop module"):
        sb.build(CLASSIFIER).load(tmp_path / "plain.npz")


def test_summary_counts_seed_003s_parameters():
    stack = sb.Network("stack", 3, [sb.Dense(4), sb.Dense(4), sb.Dense(1)], "mse")
    table = sb.build(stack).summary()
    rows = re.findall(
        r"^(dense_\d) \(Dense\)\s+\(None, (\d)\)\s+(\d+)\s+identity$",
        table,
        re.MULTILINE,
    )
    assert rows == [
        ("dense_1", "4", "16"),
        ("dense_2", "4", "20"),
        ("dense_3", "1", "5"),
    ]
    assert "Total params: 41\nTrainable params: 41\nNon-trainable params: 0" in table
    assert table.startswith('Model: "stack"')


# --- float32 ---------------------------------------------------------------------------------


#: one network per loss, each with an output its loss is defined on
EVERY_LOSS = [
    dataclasses.replace(
        network,
        layers=(
            sb.Dense(
                2,
                (
                    "softplus"
                    if network.loss.targets == "nonnegative"
                    else network.layers[0].activation
                ),
            ),
        ),
    )
    for network in EVERY_LOSS
]


@pytest.mark.parametrize(
    "network", [EVERY_ACTIVATION, *EVERY_LOSS, CLASSIFIER], ids=lambda n: n.name
)
def test_float32_modules_keep_float32_throughout(network):
    module = sb.build(
        dataclasses.replace(network, dtype="float32", optimizer=sb.Adam())
    )
    X, T = random_batch(module, 8, seed=0)
    params = module.init_params()
    values = list(params.values())
    assert {value.dtype for value in values} == {np.dtype(np.float32)}
    X32, T32 = module._check_data(X, T)
    assert X32.dtype == T32.dtype == np.float32
    for array in module._forward(*values, X32):
        assert array.dtype == np.float32
    _, (*_, Y), *grads = module._step(*values, X32, T32)
    assert Y.dtype == np.float32 and all(grad.dtype == np.float32 for grad in grads)
    trained, history = module.train(params, X, T, epochs=2, batch_size=4, verbose=0)
    assert all(value.dtype == np.float32 for value in trained.values())
    assert all(np.isfinite(history["loss"]))
    names = module.EXACT_PARAMS
    if names:  # checked in float64 whatever the module's dtype
        assert module.check_gradients(params, X, T, names=names) < 1e-6


# --- the scikit-learn style Model ------------------------------------------------------------


def test_model_fits_predicts_scores_and_saves(tmp_path):
    module = sb.build(CLASSIFIER)
    X, labels = _classes(200)
    model = module.Model(epochs=30, batch_size=16, seed=1).fit(X, labels)
    assert len(model.history_["loss"]) == 30
    assert model.predict(X).shape == (200,)
    proba = model.predict_proba(X)
    assert proba.shape == (200, 3) and np.allclose(proba.sum(axis=1), 1)
    assert (
        model.score(X, labels)
        == module.evaluate(model.params_, X, labels)["accuracy"]
        > 0.8
    )
    path = model.save(tmp_path / "model")
    again = module.Model.load(path)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="not fitted yet"):
        module.Model().predict(X)


def test_model_works_with_scikit_learns_clone_and_binary_probabilities():
    from sklearn.base import clone

    module = sb.build(
        sb.Network(
            "bin",
            2,
            [sb.Dense(8, "tanh"), sb.Dense(1, "sigmoid")],
            "binary_crossentropy",
            optimizer=sb.SGD(0.5),
        )
    )
    model = module.Model(epochs=40, batch_size=10, seed=2)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    X = np.random.default_rng(0).normal(size=(100, 2))
    T = (X[:, 0] * X[:, 1] > 0).astype(float)
    proba = model.fit(X, T).predict_proba(X)
    assert proba.shape == (100, 2) and np.allclose(proba.sum(axis=1), 1)
    assert model.set_params(epochs=5).epochs == 5
    with pytest.raises(ValueError, match="Model has no setting 'epoch'"):
        model.set_params(epoch=5)


def test_regression_model_scores_r_squared():
    module = sb.build(dataclasses.replace(REGRESSION, optimizer=sb.Adam(lr=0.01)))
    X, T = _data(200)
    model = module.Model(epochs=100, batch_size=20).fit(X, T)
    assert 0.9 < model.score(X, T) <= 1
    assert not hasattr(model, "predict_proba")


# --- bad data to a generated module: an error naming the argument, or a correct result -------


@pytest.fixture(scope="module")
def classes():
    return sb.build(CLASSIFIER)


@pytest.fixture(scope="module")
def regression():
    return sb.build(REGRESSION)


def _no_samples(module):
    return np.zeros((0, module.SIZES[0])), np.zeros((0,), dtype=int)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, p, X, T: m.loss(p, X, T),
        lambda m, p, X, T: m.evaluate(p, X, T),
        lambda m, p, X, T: m.gradients(p, X, T),
        lambda m, p, X, T: m.check_gradients(p, X, T),
    ],
)
def test_no_samples_is_refused_not_nan(classes, call):
    with pytest.raises(ValueError, match="X holds no samples"):
        call(classes, classes.init_params(), *_no_samples(classes))


def test_a_regressor_with_no_samples_has_no_score(regression):
    X, T = _data(12)
    model = regression.Model(epochs=1).fit(X, T)
    with pytest.raises(ValueError, match="X holds no samples"):
        model.score(np.zeros((0, 3)), np.zeros((0, 2)))


def test_no_samples_predicts_no_rows(classes):
    assert classes.predict(classes.init_params(), np.zeros((0, 4))).shape == (0,)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"callbacks": None}, "callbacks must be a sequence of functions"),
        ({"callbacks": print}, "callbacks must be a sequence of functions"),
        ({"seed": -1}, "seed must be an integer ≥ 0, got -1"),
        ({"seed": 1.5}, "seed must be an integer ≥ 0, got 1.5"),
    ],
)
def test_bad_training_arguments_are_named(classes, arguments, message):
    X, labels = _classes(6)
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        classes.train(
            classes.init_params(), X, labels, epochs=1, batch_size=2, **arguments
        )


def test_init_params_names_a_bad_seed(classes):
    with pytest.raises(ValueError, match="seed must be an integer ≥ 0, got -1"):
        classes.init_params(-1)


def test_inputs_that_overflow_give_an_error_naming_x_not_class_0(classes):
    params = classes.init_params()
    params["W1"] = np.ones_like(params["W1"])  # Z1 = 4e308 overflows: A1 = inf, Z2 nan
    huge = np.full((2, 4), 1e308)
    for call in (classes.forward, classes.predict, classes.predict_proba):
        with pytest.raises(ValueError, match="not finite .*: X holds values too large"):
            call(params, huge)
    with pytest.raises(ValueError, match="X holds values too large"):
        classes.loss(params, huge, [0, 1])


@pytest.mark.parametrize("target", ["numpy", "torch", "jax"])
def test_a_loss_undefined_at_a_target_names_the_sample_instead_of_blaming_x(target):
    """√t·(y − t)² declared over real targets is undefined at t < 0: loss, gradients,
    evaluate and train named X ("values too large … scale the inputs") or the rate ("Try a
    smaller lr"), which no scaling or rate mends. They name the sample, its finite outputs
    and its targets; an overflow on X is still told as one."""
    loss = sb.Loss("root_weighted", "sqrt(t)*(y - t)**2", targets="real")
    network = sb.Network("undefined", 3, [sb.Dense(4, "relu"), sb.Dense(2)], loss)
    module = sb.build(network, target=target)
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(37, 3)), rng.uniform(0.5, 2.0, size=(37, 2))
    T[23, 1] = -2.0
    params = module.init_params(0)
    sample = r"at sample 23 the network's outputs are finite, \[.*\], but the loss"
    targets = r"T\[23\] = \[ ?\d\.\d+ -2\. *\]: the loss is undefined there"
    calls = {
        "the loss": lambda: module.loss(params, X, T),
        "the gradient of W1": lambda: module.gradients(params, X, T),
        "the loss ": lambda: module.evaluate(params, X, T),
        "training cannot start: the loss at the parameters given": lambda: module.train(
            params, X, T, epochs=2, batch_size=8, verbose=0
        ),
    }
    for what, call in calls.items():
        with pytest.raises(
            ValueError, match=re.escape(what.strip()) + r" is not finite"
        ) as error:
            call()
        assert re.search(sample, str(error.value)), str(error.value)
        assert re.search(targets, str(error.value)), str(error.value)
        assert "values too large" not in str(error.value)
    T[23, 1] = (
        1.0  # defined everywhere: it trains, and X too large is still named as such
    )
    module.train(params, X, T, epochs=1, batch_size=8, verbose=0)
    params["W1"] = np.ones_like(params["W1"])  # Z1 = 3e308 overflows: A1 = inf
    with pytest.raises(ValueError, match="X holds values too large"):
        module.loss(params, np.full((2, 3), 1e308), T[:2])


def test_training_from_parameters_that_are_not_numbers_is_refused(classes):
    params = classes.init_params()
    params["W2"][0, 0] = np.nan
    X, labels = _classes(6)
    with pytest.raises(ValueError, match=r"params\['W2'\] holds non-finite values"):
        classes.train(params, X, labels, epochs=1, batch_size=2, verbose=0)


def test_check_gradients_never_passes_a_gradient_that_is_not_a_number(classes):
    X, labels = _classes(6)
    params = classes.init_params()
    step = classes._step
    try:
        classes._step = lambda *args, **kw: (
            *step(*args, **kw)[:2],
            *(np.full_like(g, np.nan) for g in step(*args, **kw)[2:]),
        )
        assert classes.check_gradients(params, X, labels) == float("inf")
    finally:
        classes._step = step
    for eps in (float("nan"), 0.0, -1e-6, float("inf")):
        with pytest.raises(ValueError, match="eps must be a positive finite step"):
            classes.check_gradients(params, X, labels, eps=eps)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not a parameter file written by save()"),
        (
            b"PK\x05\x06" + b"\x00" * 18,
            "was not written by a symbackprop module's save()",
        ),
        (b"not an archive at all", "save(): it is not an .npz archive"),
    ],
)
def test_load_of_a_file_that_is_not_a_parameter_archive_says_so(
    classes, tmp_path, content, message
):
    path = tmp_path / "params.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        classes.load(path)
    assert "allow_pickle" not in str(raised.value)  # an unknown file is not unpickled


def test_save_names_a_path_it_cannot_write_and_leaves_nothing(classes, tmp_path):
    params = classes.init_params()
    (tmp_path / "taken.npz").mkdir()
    with pytest.raises(
        IsADirectoryError, match=r"cannot save to '.*taken.npz': it is a folder"
    ):
        classes.save(params, tmp_path / "taken")
    with pytest.raises(
        FileNotFoundError, match=r"the folder '.*missing' does not exist"
    ):
        classes.save(params, tmp_path / "missing" / "params.npz")
    # a folder given is not saved beside as folder.npz
    (tmp_path / "folder").mkdir()
    with pytest.raises(
        IsADirectoryError,
        match=r"cannot save to '.*folder': it is a folder; give a file's path, such as "
        r"'.*folder/params.npz'",
    ):
        classes.save(params, tmp_path / "folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "taken.npz"]
    # a path as bytes, as os.fsencode gives it, is a path
    written = classes.save(params, os.fsencode(tmp_path / "params"))
    assert written == str(tmp_path / "params.npz")
    np.testing.assert_array_equal(classes.load(written)["W1"], params["W1"])


def test_the_path_given_to_save_loads_what_it_wrote(classes, tmp_path):
    """save appends ".npz" (as np.savez does); load, given the same path, finds that file (where
    np.load would not), as Model.load does; a file at the path itself comes first."""
    params = classes.init_params(3)
    classes.save(params, tmp_path / "model")
    for path in (
        tmp_path / "model",
        str(tmp_path / "model"),
        os.fsencode(tmp_path / "model"),
    ):
        np.testing.assert_array_equal(classes.load(path)["W1"], params["W1"])
    X, labels = np.random.default_rng(0).normal(size=(9, 4)), np.arange(9) % 3
    model = classes.Model(epochs=1).fit(X, labels)
    model.save(tmp_path / "fitted")
    np.testing.assert_array_equal(
        classes.Model.load(tmp_path / "fitted").predict(X), model.predict(X)
    )
    (tmp_path / "other").write_bytes(b"not an archive")
    classes.save(params, tmp_path / "other")
    with pytest.raises(ValueError, match="'.*other' is not a parameter file"):
        classes.load(tmp_path / "other")
    with pytest.raises(FileNotFoundError):
        classes.load(tmp_path / "absent")


def test_load_of_a_single_array_file_says_so(classes, tmp_path):
    path = tmp_path / "W1.npy"
    np.save(path, np.zeros((6, 4)))
    with pytest.raises(ValueError, match="it holds one array, not an .npz archive"):
        classes.load(path)


LOOP = sb.Network(
    "small",
    4,
    [sb.Dense(6, "relu"), sb.Dense(3, "softmax")],
    "categorical_crossentropy",
    optimizer=sb.SGD(lr=0.1),
)


def test_training_leaves_the_callers_parameters_alone():
    module = sb.build(LOOP)
    X, T = network_batch(LOOP, 20, np.random.default_rng(0))
    params = module.init_params()
    before = {key: value.copy() for key, value in params.items()}
    trained, _ = module.train(params, X, T, epochs=3, batch_size=4, verbose=0)
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])
        assert not np.shares_memory(trained[key], params[key])


def test_metrics_change_the_history_not_the_training():
    module = sb.build(LOOP)
    X, T = network_batch(LOOP, 30, np.random.default_rng(0))
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


BINARY = sb.Network(
    "binary", 4, [sb.Dense(5, "tanh"), sb.Dense(1, "sigmoid")], "binary_crossentropy"
)
#: a softmax whose loss the epoch takes from the batches' own losses (log(1 − y) needs the
#: logits, which the epoch does not keep), its accuracy from the step's predicted classes
SOFTMAX_BINARY_LOSS = sb.Network(
    "softmax_binary_loss",
    4,
    [sb.Dense(5, "tanh"), sb.Dense(3, "softmax")],
    "binary_crossentropy",
    task="multiclass",
)


@pytest.mark.parametrize(
    "network",
    [CLASSIFIER, BINARY, REGRESSION, SOFTMAX_BINARY_LOSS],
    ids=lambda network: network.name,
)
def test_an_epochs_metrics_are_its_batches_metrics_before_their_updates(network):
    """history's loss and accuracy, gathered from the batches' outputs after the pass, equal
    the size-weighted mean of each batch's own loss (computed apart, for on_batch_end) and of
    evaluate's accuracy at the parameters the batch was taken at; uneven last batch."""
    module = sb.build(network)
    X, labels = _classes(21)
    T = {
        "classes": labels,
        "binary": (labels > 0)[:, None],
        "softmax_binary_loss": np.eye(3)[labels],
    }.get(network.name, X[:, :2] * X[:, 3:])
    X = X[:, : module.SIZES[0]]
    before = [module.init_params(1)]
    batches = []

    class Batches:
        def on_batch_end(self, batch, logs):
            batches.append((logs["size"], logs["loss"]))
            before.append({k: v.copy() for k, v in logs["params"].items()})

    _, history = module.train(
        before[0],
        X,
        T,
        epochs=2,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[Batches()],
    )
    for epoch in range(2):
        loss = accuracy = 0.0
        for index in range(3):
            size, batch_loss = batches[3 * epoch + index]
            rows = slice(8 * index, 8 * index + size)
            loss += size * batch_loss
            if network is not REGRESSION:
                metrics = module.evaluate(before[3 * epoch + index], X[rows], T[rows])
                assert metrics["loss"] == pytest.approx(batch_loss, rel=1e-12)
                accuracy += size * metrics["accuracy"]
        assert history["loss"][epoch] == pytest.approx(loss / 21, rel=1e-12)
        if network is not REGRESSION:
            assert history["accuracy"][epoch] == pytest.approx(accuracy / 21, abs=1e-12)


@pytest.mark.parametrize("metrics", ["loss", ("loss", "mae"), 3])
def test_unknown_metrics_are_refused(metrics):
    module = sb.build(LOOP)
    X, T = network_batch(LOOP, 10, np.random.default_rng(0))
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


_UNPICKLE = (
    "import pickle, sys, numpy as np; model = pickle.loads(sys.stdin.buffer.read()); "
    "print(repr(model.predict(np.linspace(-1, 1, 8).reshape(4, 2)).tolist())); "
    "print('sympy' in sys.modules)"
)


def _unpickled_elsewhere(data: bytes, path: str = "") -> tuple[list, bool]:
    run = subprocess.run(
        [sys.executable, "-c", _UNPICKLE],
        input=data,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
        check=True,
    )
    predictions, sympy_loaded = run.stdout.decode().splitlines()
    return ast.literal_eval(predictions), sympy_loaded == "True"


def test_models_pickle_for_joblib_from_build_and_from_files(tmp_path):
    """A Model of sb.build carries its module's source (another process rebuilds it with NumPy
    alone); one of a module on the path is pickled by name. joblib's worker processes work.
    """
    network = sb.Network(
        "isrunet",
        2,
        [sb.Dense(3, "tanh"), sb.Dense(1, "sigmoid")],
        "binary_crossentropy",
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    T = (X[:, :1] > 0).astype(float)
    probe = np.linspace(-1, 1, 8).reshape(4, 2)
    built = sb.build(network).Model(epochs=5).fit(X, T)
    expected = built.predict(probe).tolist()
    again = pickle.loads(pickle.dumps(built))
    assert type(again) is type(built) and again.predict(probe).tolist() == expected
    assert _unpickled_elsewhere(pickle.dumps(built)) == (expected, False)
    sb.write_module(network, tmp_path / "isrunet.py")
    sys.path.insert(0, str(tmp_path))
    try:
        from_file = importlib.import_module("isrunet").Model(epochs=5).fit(X, T)
        data = pickle.dumps(from_file)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("isrunet", None)
    assert from_file.predict(probe).tolist() == expected
    assert _unpickled_elsewhere(data, str(tmp_path)) == (expected, False)
    sums = joblib.Parallel(n_jobs=2)(
        joblib.delayed(lambda model: model.predict(probe).tolist())(built)
        for _ in range(2)
    )
    assert sums == [expected, expected]


@pytest.mark.parametrize("optimizer", [sb.SGD(0.1), sb.Adam(lr=0.01)], ids=str)
def test_training_resumes_bit_for_bit_with_its_state(optimizer):
    """train(state=…) carries the optimiser's state, the update count and the shuffling's
    random state: 5 + 5 epochs equal 10, bit for bit; Model's warm_start and partial_fit
    resume the same way."""
    network = sb.Network(
        "resume",
        2,
        [sb.Dense(4, "tanh"), sb.Dense(3, "softmax")],
        "categorical_crossentropy",
        optimizer=optimizer,
    )
    module = sb.build(network)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    labels = rng.integers(0, 3, 50)
    T = np.eye(3)[labels]
    settings = {"batch_size": 8, "verbose": 0}
    whole, history = module.train(module.init_params(0), X, T, epochs=10, **settings)
    state = {}
    half, first = module.train(
        module.init_params(0), X, T, epochs=5, state=state, **settings
    )
    assert set(state) == {"optimizer", "k", "rng"} and state["k"] == 5 * 7
    resumed, second = module.train(half, X, T, epochs=5, state=state, **settings)
    for name in module.PARAMS:
        np.testing.assert_array_equal(resumed[name], whole[name])
    assert first["loss"] + second["loss"] == history["loss"]
    # without state the optimiser starts afresh: Adam's second half differs
    fresh, _ = module.train(half, X, T, epochs=5, **settings)
    if str(optimizer).startswith("Adam"):
        assert any(not np.array_equal(fresh[n], whole[n]) for n in module.PARAMS)
    once = module.Model(epochs=4, batch_size=8).fit(X, labels)
    warm = module.Model(epochs=2, batch_size=8, warm_start=True).fit(X, labels)
    warm.fit(X, labels)
    steps = module.Model(batch_size=8)
    for _ in range(4):
        steps.partial_fit(X, labels, classes=[0, 1, 2])
    for model in (warm, steps):
        for name in module.PARAMS:
            np.testing.assert_array_equal(model.params_[name], once.params_[name])
        assert model.n_iter_ == 4 and model.loss_curve_ == once.loss_curve_


def test_callbacks_with_keras_hooks_see_the_parameters_and_can_stop():
    module = sb.build(CLASSIFIER)
    X, labels = _classes(40)

    class Recorder:
        def __init__(self):
            self.seen = []
            self.stop_training = False

        def on_train_begin(self, logs):
            self.seen.append(("train_begin", sorted(logs["params"])))

        def on_epoch_begin(self, epoch, logs):
            self.seen.append(("epoch_begin", epoch))

        def on_epoch_end(self, epoch, logs):
            self.seen.append(("epoch_end", epoch, "loss" in logs))
            assert logs["params"]["W1"].shape == module.SHAPES["W1"]
            self.stop_training = epoch == 2

        def on_train_end(self, logs):
            self.seen.append(("train_end", "loss" in logs))

    recorder = Recorder()
    _, history = module.train(
        module.init_params(0),
        X,
        labels,
        epochs=5,
        batch_size=8,
        verbose=0,
        callbacks=[recorder],
    )
    assert recorder.seen == [
        ("train_begin", sorted(module.PARAMS)),
        ("epoch_begin", 1),
        ("epoch_end", 1, True),
        ("epoch_begin", 2),
        ("epoch_end", 2, True),
        ("train_end", True),
    ]
    assert len(history["loss"]) == 2
    with pytest.raises(TypeError, match="Keras' hooks"):
        module.train(
            module.init_params(0),
            X,
            np.eye(3)[labels],
            epochs=1,
            batch_size=8,
            callbacks=[object()],
        )


# --- sample weights ----------------------------------------------------------------------------


@pytest.mark.parametrize("network", EVERY_LOSS, ids=lambda n: n.name)
def test_sample_weight_equals_repeating_samples(network):
    """Integer weights give the loss, gradients, metrics and a full-batch training run of the
    data with each sample repeated that many times (0: left out)."""
    module = sb.build(network)
    rng = np.random.default_rng(3)
    X, T = network_batch(network, 9, rng)
    weights = rng.integers(0, 4, size=9)
    weights[0] = 2
    X_rep, T_rep = np.repeat(X, weights, axis=0), np.repeat(T, weights, axis=0)
    params = module.init_params(1)
    assert module.loss(params, X, T, sample_weight=weights) == pytest.approx(
        module.loss(params, X_rep, T_rep), rel=1e-12
    )
    weighted = module.gradients(params, X, T, sample_weight=weights)
    repeated = module.gradients(params, X_rep, T_rep)
    for name in module.PARAMS:
        np.testing.assert_allclose(
            weighted[name], repeated[name], rtol=1e-10, atol=1e-14, err_msg=name
        )
    settings = {"epochs": 3, "batch_size": 64, "shuffle": False, "verbose": 0}
    trained, history = module.train(params, X, T, sample_weight=weights, **settings)
    trained_rep, history_rep = module.train(params, X_rep, T_rep, **settings)
    for name in module.PARAMS:
        np.testing.assert_allclose(
            trained[name], trained_rep[name], rtol=1e-10, atol=1e-13, err_msg=name
        )
    for key in history_rep:
        np.testing.assert_allclose(history[key], history_rep[key], rtol=1e-10)
    assert module.evaluate(params, X, T, sample_weight=weights) == pytest.approx(
        module.evaluate(params, X_rep, T_rep), rel=1e-12
    )


@pytest.mark.parametrize("network", [CLASSIFIER, REGRESSION], ids=lambda n: n.name)
def test_fractional_sample_weights_differentiate_their_weighted_loss(network):
    """The weighted gradients against central differences of the weighted loss."""
    module = sb.build(network)
    rng = np.random.default_rng(4)
    X, T = network_batch(network, 6, rng)
    weights = rng.uniform(0.1, 3.0, size=6)
    params = module.init_params(2)
    analytic = module.gradients(params, X, T, sample_weight=weights)
    eps = 1e-6
    for name in module.PARAMS:
        numeric = np.zeros_like(params[name])
        for index in np.ndindex(numeric.shape):
            shifted = {key: value.copy() for key, value in params.items()}
            shifted[name][index] += eps
            plus = module.loss(shifted, X, T, sample_weight=weights)
            shifted[name][index] -= 2 * eps
            minus = module.loss(shifted, X, T, sample_weight=weights)
            numeric[index] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-6, atol=1e-8)
    # scaling every weight changes nothing: the loss is Σ w ℓ / Σ w
    assert module.loss(params, X, T, sample_weight=7 * weights) == pytest.approx(
        module.loss(params, X, T, sample_weight=weights), rel=1e-13
    )


def test_model_fit_and_score_take_sample_weight_as_scikit_learn():
    module = sb.build(CLASSIFIER)
    X, labels = _classes(30)
    weights = np.arange(30) % 3
    settings = {"epochs": 4, "batch_size": 100, "shuffle": False}
    weighted = module.Model(**settings).fit(X, labels, sample_weight=weights)
    repeated = module.Model(**settings).fit(
        np.repeat(X, weights, axis=0), np.repeat(labels, weights)
    )
    for name in module.PARAMS:
        np.testing.assert_allclose(
            weighted.params_[name], repeated.params_[name], rtol=1e-10, atol=1e-13
        )
    hits = weighted.predict(X) == labels
    assert weighted.score(X, labels, sample_weight=weights) == pytest.approx(
        np.average(hits, weights=weights)
    )
    assert weighted.score(X, labels) == pytest.approx(np.mean(hits))
    regression = sb.build(REGRESSION)
    X, T = _data(20)
    model = regression.Model(epochs=2, batch_size=8).fit(
        X, T, sample_weight=np.ones(20)
    )
    from sklearn.metrics import r2_score

    w = np.linspace(0.5, 2.0, 20)
    assert model.score(X, T, sample_weight=w) == pytest.approx(
        r2_score(T, model.predict(X), sample_weight=w)
    )
    with pytest.raises(
        ValueError, match="sample_weight must hold one weight per sample"
    ):
        model.fit(X, T, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="validation_data\\[2\\] must hold finite"):
        model.fit(X, T, validation_data=(X, T, -np.ones(20)))


# --- watching training: diagnostics, batch hooks, the progress bar -----------------------------


def test_diagnostics_equal_norms_computed_from_gradients():
    """grad_norm_<layer> is ‖gradients(params after the epoch)‖ over the layer's parameters;
    update_ratio_<layer> the epoch's change over the norm before it."""
    network = sb.Network(
        "deep",
        3,
        [sb.Dense(4, "sigmoid"), sb.Dense(4, "sigmoid"), sb.Dense(2)],
        "mse",
        optimizer=sb.Adam(lr=0.01),
    )
    module = sb.build(network)
    X, T = _data(24)
    weights = np.linspace(0.2, 2.0, 24)
    seen = [module.init_params(5)]

    class Keep:
        def on_epoch_end(self, epoch, logs):
            seen.append({k: v.copy() for k, v in logs["params"].items()})

    _, history = module.train(
        seen[0],
        X,
        T,
        epochs=3,
        batch_size=5,
        verbose=0,
        diagnostics=True,
        sample_weight=weights,
        callbacks=[Keep()],
    )
    layers = [layer for layer, *_ in module.LAYERS]
    assert set(history) == {"loss"} | {
        f"{kind}_{layer}" for kind in ("grad_norm", "update_ratio") for layer in layers
    }
    for epoch in range(3):
        grads = module.gradients(seen[epoch + 1], X, T, sample_weight=weights)
        for layer, _, _, names in module.LAYERS:
            norm = np.sqrt(sum(np.sum(grads[n] ** 2) for n in names))
            assert history[f"grad_norm_{layer}"][epoch] == pytest.approx(
                norm, rel=1e-12
            )
            change = np.sqrt(
                sum(np.sum((seen[epoch + 1][n] - seen[epoch][n]) ** 2) for n in names)
            )
            size = np.sqrt(sum(np.sum(seen[epoch][n] ** 2) for n in names))
            assert history[f"update_ratio_{layer}"][epoch] == pytest.approx(
                change / size, rel=1e-12
            )
    fitted = module.Model(epochs=2, batch_size=5).fit(X, T, diagnostics=True)
    assert set(fitted.history_) == set(history)
    # diagnostics only watch: the parameters are those of a run without them
    plain, _ = module.train(
        seen[0], X, T, epochs=3, batch_size=5, verbose=0, sample_weight=weights
    )
    for name in module.PARAMS:
        np.testing.assert_array_equal(plain[name], seen[-1][name])


@pytest.mark.parametrize("optimizer", [sb.SGD(0.1), sb.Adam(lr=0.01)], ids=str)
def test_on_batch_end_sees_each_batchs_true_gradients_and_updated_parameters(optimizer):
    network = dataclasses.replace(CLASSIFIER, optimizer=optimizer)
    module = sb.build(network)
    X, labels = _classes(20)
    batches = []

    class Batches:
        def on_batch_end(self, batch, logs):
            batches.append(
                (
                    batch,
                    logs["size"],
                    logs["loss"],
                    {k: v.copy() for k, v in logs["gradients"].items()},
                    {k: v.copy() for k, v in logs["params"].items()},
                )
            )

    start = module.init_params(0)
    trained, _ = module.train(
        start,
        X,
        labels,
        epochs=2,
        batch_size=8,
        shuffle=False,
        verbose=0,
        callbacks=[Batches()],
    )
    assert [(b, size) for b, size, *_ in batches] == [(0, 8), (1, 8), (2, 4)] * 2
    before = start
    for index, (_, size, loss, grads, after) in enumerate(batches):
        start_row = (index % 3) * 8
        rows = slice(start_row, start_row + size)
        expected = module.gradients(before, X[rows], labels[rows])
        assert loss == pytest.approx(module.loss(before, X[rows], labels[rows]))
        for name in module.PARAMS:
            np.testing.assert_allclose(grads[name], expected[name], rtol=1e-12)
        before = after
    for name in module.PARAMS:
        np.testing.assert_array_equal(before[name], trained[name])


_BAR_SCRIPT = """
import time, numpy as np, symbackprop as sb
net = sb.Network("bar", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse")
module = sb.build(net)
class Slow:
    def on_batch_end(self, batch, logs):
        time.sleep(0.03)
X = np.random.default_rng(0).normal(size=(40, 2))
module.train(module.init_params(0), X, X[:, :1], epochs=2, batch_size=2, verbose={verbose},
            callbacks=[Slow()])
print("done")
"""


def _in_terminal(script):
    """The output of a Python script run with a pseudo-terminal as its stdout."""
    import pty

    main, child = pty.openpty()
    run = subprocess.run(
        [sys.executable, "-c", script],
        stdout=child,
        stderr=subprocess.PIPE,
        check=False,
        timeout=300,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal is closed once read to its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert run.returncode == 0, run.stderr.decode()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_the_progress_bar_updates_one_line_in_a_terminal():
    output = _in_terminal(_BAR_SCRIPT.replace("{verbose}", "1"))
    lines = output.split("\n")
    assert lines[-2:] == ["done", ""]
    for epoch, line in zip((1, 2), lines[:2]):
        drawn = line.split("\r")
        # the bar drawn several times in place, then the epoch's line over it
        assert len(drawn) >= 3, line
        for bar in drawn[1:-1]:
            assert re.fullmatch(
                rf"Epoch {epoch}/2 - +\d+/20 \[=*>?\.*\] - loss: \d+\.\d{{4}} - \d+\.\ds",
                bar.rstrip(),
            ), bar
        assert re.fullmatch(
            rf"Epoch {epoch}/2 - loss: \d\.\d{{4}} - \d+\.\ds elapsed, \d+\.\ds left",
            drawn[-1].rstrip(),
        )
        assert len(drawn[-1]) >= max(len(bar) for bar in drawn[1:-1])  # wiped
    # a file gets lines only, as does verbose=2 in a terminal
    quiet = _in_terminal(_BAR_SCRIPT.replace("{verbose}", "2"))
    assert "\r" not in quiet and len(quiet.split("\n")) == 4
    piped = subprocess.run(
        [sys.executable, "-c", _BAR_SCRIPT.replace("{verbose}", "1")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "\r" not in piped and "[" not in piped


def test_a_saved_model_keeps_its_class_labels(tmp_path):
    module = sb.build(CLASSIFIER)
    X, labels = _classes(40)
    for kind in (np.array(["ant", "bee", "cat"]), np.array([-3, 0, 7])):
        model = module.Model(epochs=3, batch_size=8).fit(X, kind[labels])
        path = model.save(tmp_path / "model")
        loaded = module.Model.load(path)
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        assert loaded.score(X, kind[labels]) == model.score(X, kind[labels])
        assert loaded.n_features_in_ == 4
        np.testing.assert_array_equal(
            module.load(path)["W1"], model.params_["W1"]
        )  # the parameters alone, as before
    bare = module.Model.load(module.save(model.params_, tmp_path / "params"))
    assert not hasattr(bare, "classes_")
    np.testing.assert_array_equal(bare.predict(X), module.predict(model.params_, X))
    with pytest.raises(TypeError, match="numbers or strings"):
        module.save(model.params_, tmp_path / "odd", classes=[object(), object()])


def test_the_progress_bar_shows_in_a_notebook():
    """In a Jupyter kernel (nbclient) verbose=1 draws the bar with carriage returns, which the
    notebook shows as one line rewritten, and leaves a line per epoch."""
    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(
        nbformat.v4.new_code_cell(_BAR_SCRIPT.replace("{verbose}", "1"))
    )
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    text = "".join(
        output.get("text", "")
        for output in notebook.cells[0].outputs
        if output.output_type == "stream" and output.name == "stdout"
    )
    assert re.search(r"\rEpoch 1/2 - +\d+/20 \[=+>\.*\] - loss: ", text)
    assert re.search(r"\rEpoch 2/2 - loss: \d\.\d{4} - [\d.]+s elapsed", text)
    assert text.endswith("done\n")
