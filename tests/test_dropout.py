"""Dropout (inverted dropout, Srivastava et al., JMLR 15, 2014), derived like every other layer:
its mask is a symbol of the equations, its gradients are checked against central differences,
HIPS autograd and PyTorch autograd through the same mask, every target applies the same masks,
and inference drops nothing."""

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.spec.files import load_networks

from . import reference, torch_reference
from .test_gradients import OUTPUTS

NETWORKS = [
    sb.Network(
        "inputs_dropped",
        5,
        [sb.Dropout(0.3), sb.Dense(6, "relu"), sb.Dense(3, "softmax")],
        "categorical_crossentropy",
    ),
    sb.Network(
        "every_layer",
        4,
        [
            sb.Dropout(0.2),
            sb.Dense(5, "tanh"),
            sb.Dropout(0.5),
            sb.Dense(4, "sigmoid"),
            sb.Dropout(0.25),
            sb.Dense(2, "sigmoid"),
        ],
        "binary_crossentropy",
        optimizer=sb.Adam(0.01),
    ),
    sb.Network(
        "prelu_slope",
        3,
        [sb.Dense(6, sb.prelu()), sb.Dropout(0.4), sb.Dense(2)],
        "mse",
        regularizer=sb.L2(0.01),
        optimizer=sb.SGD(0.05, momentum=0.9),
    ),
    sb.Network(
        "no_bias_rate_zero",
        4,
        [sb.Dense(5, "softplus", bias=False), sb.Dropout(0.0), sb.Dense(3, "softmax")],
        "sparse_categorical_crossentropy",
    ),
]
IDS = [network.name for network in NETWORKS]


def _without_dropout(network):
    """The same network with its Dropouts left out."""
    return sb.Network(
        network.name,
        network.inputs,
        network.dense,
        network.loss,
        network.regularizer,
        network.optimizer,
        dtype=network.dtype,
    )


def _setting(network, rng, samples=9):
    """A module, parameters off the initial point, a batch and training-mode masks."""
    module = sb.build(network)
    params = {
        name: value + 0.1 * rng.normal(size=value.shape)
        for name, value in module.init_params(1).items()
    }
    X, T = reference.random_batch(network, samples, rng)
    masks = module._masks(rng, samples)
    return module, params, X, T, masks


def _by_layer(network, masks):
    """Each mask by the number of Dense layers before its Dropout (reference.loss' keys)."""
    return dict(zip(network.dropout, masks, strict=True))


def _close(found, expected, tolerance):
    scale = np.linalg.norm(expected) + np.linalg.norm(found)
    assert np.linalg.norm(found - expected) <= tolerance * max(scale, 1.0), (
        found,
        expected,
    )


def _central_differences(module, params, X, T, masks, step=1e-6):
    values = [params[name].copy() for name in module.PARAMS]
    X, T = module._check_data(X, T)
    found = {}
    for name, value in zip(module.PARAMS, values):
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            original = value[index]
            value[index] = original + step
            plus = module._loss(*values, X, T, 1.0, *masks)[0]
            value[index] = original - step
            minus = module._loss(*values, X, T, 1.0, *masks)[0]
            value[index] = original
            numeric[index] = (plus - minus) / (2 * step)
        found[name] = numeric
    return found


@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_dropout_gradients_match_differences_autograd_and_torch_through_one_mask(
    network,
):
    rng = np.random.default_rng(len(network.name))
    module, params, X, T, masks = _setting(network, rng)
    assert len(masks) == len(network.dropout) and all(m.shape[0] == 9 for m in masks)
    values = [params[name] for name in module.PARAMS]
    X_checked, T_checked = module._check_data(X, T)
    derived = dict(
        zip(
            module.PARAMS,
            module._step(*values, X_checked, T_checked, 1.0, True, 1.0, *masks)[2:],
        )
    )
    differences = _central_differences(module, params, X, T, masks)
    by_autograd = reference.gradients(
        network, params, X, T, masks=_by_layer(network, masks)
    )
    by_torch = torch_reference.gradients(
        network, params, X_checked, T, _by_layer(network, masks)
    )
    for name in module.PARAMS:
        _close(derived[name], differences[name], 1e-7)
        _close(derived[name], by_autograd[name], 1e-9)
        _close(derived[name], by_torch[name], 1e-9)
    # the loss itself, through the masks, as PyTorch computes it
    L = module._loss(*values, X_checked, T_checked, 1.0, *masks)[0]
    expected = torch_reference.loss(
        network,
        {k: torch.tensor(v) for k, v in params.items()},
        X_checked,
        T,
        _by_layer(network, masks),
    )
    assert abs(L - float(expected)) <= 1e-12 * max(1.0, abs(L))


@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_gradients_in_training_mode_are_those_of_loss_in_training_mode(network):
    rng = np.random.default_rng(7)
    module, params, X, T, _ = _setting(network, rng)
    for seed in (0, 5):
        grads = module.gradients(params, X, T, training=True, seed=seed)
        masks = module._masks(np.random.default_rng(seed), X.shape[0])
        numeric = _central_differences(module, params, X, T, masks)
        for name in module.PARAMS:
            _close(grads[name], numeric[name], 1e-7)
        # the public loss applies those very masks
        X_checked, T_checked = module._check_data(X, T)
        L = module._loss(
            *(params[n] for n in module.PARAMS), X_checked, T_checked, 1.0, *masks
        )[0]
        assert module.loss(params, X, T, training=True, seed=seed) == L
    assert module.check_gradients(params, X, T) < 1e-6


def test_a_gradient_that_forgets_the_mask_fails_the_check():
    network = NETWORKS[1]
    module, params, X, T, _ = _setting(network, np.random.default_rng(3))
    assert module.check_gradients(params, X, T) < 1e-6
    step = module._step
    # the derived step, but blind to the masks: the gradients of the undropped network
    module._step = lambda *arrays: step(*arrays[: len(module.PARAMS) + 5])
    try:
        assert module.check_gradients(params, X, T) > 1e-3
    finally:
        module._step = step


@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_inference_drops_nothing(network):
    rng = np.random.default_rng(11)
    module, params, X, T, _ = _setting(network, rng)
    plain = sb.build(_without_dropout(network))
    assert module.PARAMS == plain.PARAMS
    np.testing.assert_array_equal(module.forward(params, X), plain.forward(params, X))
    np.testing.assert_array_equal(module.predict(params, X), plain.predict(params, X))
    assert module.evaluate(params, X, T) == plain.evaluate(params, X, T)
    assert module.loss(params, X, T) == plain.loss(params, X, T)
    for name, grad in module.gradients(params, X, T).items():
        np.testing.assert_array_equal(grad, plain.gradients(params, X, T)[name])
    if any(rate > 0 for rate in network.dropout.values()):
        assert module.loss(params, X, T, training=True) != plain.loss(params, X, T)


@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_training_applies_dropout_and_rate_zero_drops_nothing(network):
    rng = np.random.default_rng(5)
    module, params, X, T, _ = _setting(network, rng, samples=20)
    plain = sb.build(_without_dropout(network))
    settings = {"epochs": 3, "batch_size": 8, "verbose": 0, "shuffle": False}
    trained, history = module.train(params, X, T, **settings)
    unmasked, plain_history = plain.train(params, X, T, **settings)
    same = all(rate == 0 for rate in network.dropout.values())
    for name in module.PARAMS:
        assert np.array_equal(trained[name], unmasked[name]) == same, name
    assert (history == plain_history) == same
    # the same seed, the same masks and the same run; another seed, other masks
    again, _ = module.train(params, X, T, **settings)
    assert all(np.array_equal(again[k], trained[k]) for k in trained)
    if not same:
        other, _ = module.train(params, X, T, seed=1, **settings)
        assert not all(np.array_equal(other[k], trained[k]) for k in trained)


def test_masks_are_inverted_dropout_as_pytorch_draws_it():
    network = sb.Network(
        "masks", 3, [sb.Dense(400, "relu"), sb.Dropout(0.3), sb.Dense(1)], "mse"
    )
    module = sb.build(network)
    (mask,) = module._masks(np.random.default_rng(0), 500)
    assert mask.shape == (500, 400) and mask.dtype == np.float64
    # PyTorch's own dropout of ones: 0 where dropped, 1/(1 − p) where kept
    torch.manual_seed(0)
    theirs = F.dropout(torch.ones(500, 400, dtype=torch.float64), 0.3, training=True)
    assert set(np.unique(mask)) == set(np.unique(theirs.numpy())) == {0.0, 1 / 0.7}
    # entries kept with probability 0.7: within 5 standard deviations of the binomial
    kept = np.count_nonzero(mask)
    assert abs(kept - 0.7 * mask.size) <= 5 * np.sqrt(mask.size * 0.7 * 0.3)
    float32 = sb.build(
        sb.Network("masks", 3, network.layers, "mse", dtype="float32")
    )._masks(np.random.default_rng(0), 4)
    assert float32[0].dtype == np.float32


@pytest.mark.parametrize("target", ["torch", "jax"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_every_target_applies_the_same_masks(network, dtype, target):
    network = sb.Network(
        network.name,
        network.inputs,
        network.layers,
        network.loss,
        network.regularizer,
        network.optimizer,
        dtype=dtype,
    )
    rng = np.random.default_rng(2)
    reference_module, params, X, T, _ = _setting(network, rng, samples=11)
    module = sb.build(network, target=target)
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    for training in (False, True):
        expected = reference_module.loss(params, X, T, training=training, seed=3)
        found = module.loss(params, X, T, training=training, seed=3)
        assert abs(found - expected) <= tolerance * max(1.0, abs(expected))
        expected = reference_module.gradients(params, X, T, training=training, seed=3)
        for name, grad in module.gradients(
            params, X, T, training=training, seed=3
        ).items():
            assert grad.dtype == np.dtype(dtype)
            _close(grad, expected[name], tolerance)

    class Hook:  # batch by batch: the per-batch path of each target
        def on_batch_end(self, batch, logs):
            pass

    for callbacks in ((), (Hook(),)):
        settings = {"epochs": 3, "batch_size": 4, "verbose": 0, "callbacks": callbacks}
        expected, expected_history = reference_module.train(params, X, T, **settings)
        trained, history = module.train(params, X, T, **settings)
        for name in module.PARAMS:
            assert trained[name].dtype == np.dtype(dtype)
            _close(trained[name], expected[name], 10 * tolerance)
        for key, values in expected_history.items():
            np.testing.assert_allclose(history[key], values, rtol=10 * tolerance)


def test_dropout_reads_from_a_spec_file(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(
        '[[network]]\nname = "dropped"\ninputs = 3\nloss = "mse"\n'
        '[[network.layers]]\nunits = 4\nactivation = "relu"\n'
        "[[network.layers]]\ndropout = 0.2\n"
        "[[network.layers]]\nunits = 1\n",
        encoding="utf-8",
    )
    (network,) = load_networks(path)
    assert network.layers[1] == sb.Dropout(0.2) and network.dropout == {1: 0.2}
    path.write_text(path.read_text().replace("dropout = 0.2", "dropout = 1.5"))
    with pytest.raises(sb.SpecError, match=r"layers\[1\]: Dropout.rate must be"):
        load_networks(path)
    path.write_text(
        path.read_text().replace("dropout = 1.5", "dropout = 0.2\nunits = 3")
    )
    with pytest.raises(sb.SpecError, match=r"layers\[1\]: unknown key 'units'"):
        load_networks(path)


def test_documents_show_the_mask_in_every_step():
    network = NETWORKS[1]
    text = sb.derive(network).to_markdown()
    assert r"\tilde{X} &= M_{0} \odot X" in text
    assert r"\tilde{A}_{1} &= M_{1} \odot A_{1}" in text
    assert r"Z_{2} &= \tilde{A}_{1} W_{2}^{\top} + b_{2}" in text
    # the error arriving at A_1 passes its mask: δ_h1 = (δ_h2 W_2) ⊙ M_1 ⊙ f'
    assert r"\left(\delta_{h_{2}} W_{2}\right) \odot M_{1}" in text
    assert r"\frac{\partial \tilde{A}_{1}}{\partial A_{1}}" in text
    assert r"\left(M_{1}\right)_{nj}" in text  # BP2, entry by entry
    assert r"M_{1} &\in \mathbb{R}^{N \times 5}" in text
    assert "Srivastava et al., JMLR 15, 2014" in text
    # and none where nothing is dropped
    plain = sb.derive(_without_dropout(network)).to_markdown()
    assert "tilde" not in plain and "M_{1}" not in plain and "Dropout" not in plain


def test_summary_lists_each_dropout_where_it_acts():
    summary = str(sb.build(NETWORKS[1]).summary())
    layers = [line.split()[0] for line in summary.splitlines() if " (D" in line]
    assert layers == [
        "dropout_1",
        "dense_1",
        "dropout_2",
        "dense_2",
        "dropout_3",
        "dense_3",
    ]
    (line,) = [line for line in summary.splitlines() if line.startswith("dropout_2")]
    assert line.split() == [
        "dropout_2",
        "(Dropout)",
        "(None,",
        "5)",
        "0",
        "rate",
        "0.5",
    ]
    assert "Total params: 59" in summary  # 25 + 24 + 10: a Dropout learns nothing


#: activations a random chain draws from (the straight-through threshold aside: its
#: gradient is a surrogate by design)
_HIDDEN = [act for act in sb.ACTIVATIONS if act not in ("threshold", "softmax")]


@st.composite
def _chains(draw):
    """A random chain: 1–3 hidden layers, a Dropout of a random rate before any Dense layer
    or none, and an output and loss that fit each other."""
    output, loss = draw(st.sampled_from(OUTPUTS))
    widths = draw(st.lists(st.integers(2, 5), min_size=1, max_size=3))
    hidden = [sb.Dense(width, draw(st.sampled_from(_HIDDEN))) for width in widths]
    dense = [*hidden, sb.Dense(max(3, sb.LOSSES[loss].min_units), output)]
    layers = []
    for layer in dense:
        if draw(st.booleans()):
            layers.append(sb.Dropout(draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))))
        layers.append(layer)
    return sb.Network("chain", draw(st.integers(1, 4)), layers, loss)


@settings(max_examples=12, deadline=None)
@given(network=_chains(), seed=st.integers(0, 2**16))
# found by hypothesis: exp's outputs drive the sigmoid's logits to −10⁶, where the reference's
# 1/(1 + e^(−z)) had a gradient of inf/inf
@example(
    network=sb.Network(
        "chain",
        1,
        [
            sb.Dropout(0.9),
            sb.Dense(2, "exponential"),
            sb.Dense(5, "sigmoid"),
            sb.Dense(3, "elu"),
        ],
        "mse",
    ),
    seed=0,
)
def test_random_chains_with_dropout_match_autograd_through_their_masks(network, seed):
    rng = np.random.default_rng(seed)
    module, params, X, T, masks = _setting(network, rng, samples=7)
    values = [params[name] for name in module.PARAMS]
    X_checked, T_checked = module._check_data(X, T)
    derived = module._step(*values, X_checked, T_checked, 1.0, True, 1.0, *masks)[2:]
    expected = reference.gradients(
        network, params, X, T, masks=_by_layer(network, masks)
    )
    for name, found in zip(module.PARAMS, derived):
        _close(found, expected[name], 1e-9)


def test_training_resumes_with_the_masks_it_would_have_drawn():
    network = NETWORKS[1]
    module, params, X, T, _ = _setting(network, np.random.default_rng(4), samples=13)
    whole, history = module.train(params, X, T, epochs=4, batch_size=5, verbose=0)
    state = {}
    half, first = module.train(
        params, X, T, epochs=2, batch_size=5, verbose=0, state=state
    )
    resumed, second = module.train(
        half, X, T, epochs=2, batch_size=5, verbose=0, state=state
    )
    assert all(np.array_equal(resumed[k], whole[k]) for k in whole)
    assert first["loss"] + second["loss"] == history["loss"]


def test_a_model_with_dropout_fits_clones_and_pickles():
    from sklearn.base import clone

    network = NETWORKS[0]
    module = sb.build(network)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, network.inputs))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    model = module.Model(epochs=5, batch_size=8, verbose=0).fit(X, y)
    again = clone(model).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    # predictions are inference: dropout leaves them alone
    np.testing.assert_array_equal(
        model.predict_proba(X), module.forward(model.params_, X)
    )
    revived = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(revived.predict(X), model.predict(X))
