"""Batch normalisation (Ioffe & Szegedy, ICML 2015), derived like every other layer: its
backward pass comes from its definition by reverse mode and SymPy, simplified to the compact
form and proved on concrete batches; the generated gradients are checked against central
differences and PyTorch's own ``F.batch_norm`` under autograd, in training and in inference;
the running averages follow Keras's rule; every target computes the same."""

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.derive import batchnorm
from symbackprop.expressions.algebra import BatchMean
from symbackprop.expressions.symbols import g
from symbackprop.spec.files import load_networks

from . import reference, torch_reference

x_hat, gamma, var, eps = batchnorm.x_hat, batchnorm.gamma, batchnorm.var, batchnorm.eps


def test_compact_backward_pass_is_ioffe_and_szegedys():
    derived = batchnorm.derive_batchnorm()
    # Ioffe & Szegedy's ∂ℓ/∂x_i, times N: γ/√(σ² + ε) (g − mean g − x̂ mean(g x̂))
    expected = (
        gamma * (g - BatchMean(g) - x_hat * BatchMean(g * x_hat)) / sp.sqrt(var + eps)
    )
    assert sp.expand(derived.backward - expected) == 0
    assert dict(derived.parameters) == {
        gamma: BatchMean(g * x_hat),
        batchnorm.beta: BatchMean(g),
    }
    assert derived.inference_backward == g * gamma / sp.sqrt(var + eps)


def test_long_form_comes_from_reverse_mode_through_the_definition():
    derived = batchnorm.derive_batchnorm()
    long_form = derived.adjoint(batchnorm.x)
    # the long form still goes through μ and σ² (means of x − μ), unsimplified
    assert long_form.has(batchnorm.mu) and long_form.count(BatchMean) >= 3
    assert batchnorm.compact(long_form) == derived.backward
    assert [q for q, _ in derived.steps] == [
        batchnorm.mu,
        var,
        x_hat,
        batchnorm.y_bn,
    ]


@pytest.mark.parametrize(
    "drop",
    [BatchMean(g), x_hat * BatchMean(g * x_hat)],
    ids=["mean", "projection"],
)
def test_proof_refuses_a_backward_pass_missing_a_term(drop):
    derived = batchnorm.derive_batchnorm()
    wrong = sp.expand(derived.backward * sp.sqrt(var + eps) / gamma) + drop
    wrong = gamma * wrong / sp.sqrt(var + eps)
    assert batchnorm._proved(True, True, derived.backward, derived.parameters)
    assert not batchnorm._proved(True, True, wrong, derived.parameters)
    off = ((gamma, BatchMean(g * x_hat)), (batchnorm.beta, 2 * BatchMean(g)))
    assert not batchnorm._proved(True, True, derived.backward, off)


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("scale", [True, False])
def test_without_scale_or_shift_their_gradients_go(center, scale):
    derived = batchnorm.derive_batchnorm(center, scale)
    assert [p for p, _ in derived.parameters] == [
        p for p, kept in ((gamma, scale), (batchnorm.beta, center)) if kept
    ]
    assert derived.backward.has(gamma) == scale


NETWORKS = [
    sb.Network(
        "after_activation",
        4,
        [sb.Dense(6, "tanh"), sb.BatchNorm(), sb.Dense(3, "softmax")],
        "categorical_crossentropy",
    ),
    sb.Network(
        "before_the_next_activation",
        3,
        [
            sb.Dense(5),
            sb.BatchNorm(momentum=0.9, eps=1e-5),
            sb.Dense(4, "relu"),
            sb.BatchNorm(center=False),
            sb.Dropout(0.3),
            sb.Dense(2, "sigmoid"),
        ],
        "binary_crossentropy",
        optimizer=sb.Adam(0.01),
    ),
    sb.Network(
        "no_scale_prelu",
        3,
        [sb.Dense(5, sb.prelu()), sb.BatchNorm(scale=False), sb.Dense(2)],
        "mse",
        regularizer=sb.L2(0.01),
        optimizer=sb.SGD(0.05, momentum=0.9),
    ),
]
IDS = [network.name for network in NETWORKS]


def _setting(network, rng, samples=9):
    """A module, parameters off their initial values (γ, β and the running statistics
    too), a batch and dropout masks."""
    module = sb.build(network)
    params = {
        name: value + 0.3 * rng.normal(size=value.shape)
        for name, value in module.init_params(1).items()
    }
    for name, value in params.items():
        if name.startswith("var"):
            params[name] = rng.uniform(0.5, 2.0, size=value.shape)
    X, T = reference.random_batch(network, samples, rng)
    masks = module._masks(rng, samples)
    return module, params, X, T, masks


def _close(found, expected, tolerance):
    scale = np.linalg.norm(expected) + np.linalg.norm(found)
    assert np.linalg.norm(found - expected) <= tolerance * max(scale, 1.0), (
        found,
        expected,
    )


def _derived(module, params, X, T, masks, training):
    values = [params[name] for name in module.PARAMS]
    X, T = module._check_data(X, T)
    mode = {"training": training} if module.BATCHNORM else {}
    found = module._step(*values, X, T, 1.0, True, 1.0, *masks, **mode)
    return dict(zip(module.TRAINED, found[2:]))


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_gradients_match_torch_batch_norm_and_central_differences(network, training):
    rng = np.random.default_rng(len(network.name))
    module, params, X, T, masks = _setting(network, rng)
    masks = masks if training else [np.ones_like(m) for m in masks]
    derived = _derived(module, params, X, T, masks, training)
    by_layer = dict(zip(network.dropout, masks))
    X_checked, T_checked = module._check_data(X, T)
    by_torch = torch_reference.gradients(
        network, params, X_checked, T_checked, by_layer, training, module.TRAINED
    )
    assert set(derived) == set(module.TRAINED)
    for name in module.TRAINED:
        _close(derived[name], by_torch[name], 1e-9)
    L = module._loss(
        *(params[n] for n in module.PARAMS),
        X_checked,
        T_checked,
        1.0,
        *masks,
        training=training,
    )[0]
    expected = torch_reference.loss(
        network,
        {k: torch.tensor(v) for k, v in params.items()},
        X_checked,
        T_checked,
        by_layer,
        training,
    )
    assert abs(L - float(expected)) <= 1e-12 * max(1.0, abs(L))
    if training:  # check_gradients checks training mode, with the masks of seed 0
        assert module.check_gradients(params, X, T) < 1e-6


_HIDDEN = ["relu", "tanh", "sigmoid", "softplus", "identity"]
_OUTPUTS = [
    ("softmax", "categorical_crossentropy"),
    ("sigmoid", "binary_crossentropy"),
    ("identity", "mse"),
    ("softmax", "sparse_categorical_crossentropy"),
]


@st.composite
def _chains(draw):
    """A random chain: 1–3 hidden Dense layers (identity ones make a BatchNorm come before
    the next layer's activation), each followed by a BatchNorm of random settings or not,
    and by a Dropout or not."""
    output, loss = draw(st.sampled_from(_OUTPUTS))
    layers = []
    for width in draw(st.lists(st.integers(2, 5), min_size=1, max_size=3)):
        layers.append(sb.Dense(width, draw(st.sampled_from(_HIDDEN))))
        if draw(st.booleans()):
            layers.append(
                sb.BatchNorm(
                    momentum=draw(st.sampled_from([0.0, 0.5, 0.99])),
                    eps=draw(st.sampled_from([1e-5, 1e-3, 0.1])),
                    center=draw(st.booleans()),
                    scale=draw(st.booleans()),
                )
            )
        if draw(st.booleans()):
            layers.append(sb.Dropout(draw(st.sampled_from([0.0, 0.5]))))
    layers.append(sb.Dense(3, output))
    return sb.Network("chain", draw(st.integers(1, 4)), layers, loss)


@settings(max_examples=10, deadline=None)
@given(network=_chains(), seed=st.integers(0, 2**16), training=st.booleans())
def test_random_chains_with_batch_norm_match_torch(network, seed, training):
    rng = np.random.default_rng(seed)
    module, params, X, T, masks = _setting(network, rng, samples=6)
    masks = masks if training else [np.ones_like(m) for m in masks]
    derived = _derived(module, params, X, T, masks, training)
    X_checked, _ = module._check_data(X, T)
    expected = torch_reference.gradients(
        network,
        params,
        X_checked,
        T,
        dict(zip(network.dropout, masks)),
        training,
        module.TRAINED,
    )
    for name in module.TRAINED:
        _close(derived[name], expected[name], 1e-9)


@pytest.mark.parametrize("network", NETWORKS, ids=IDS)
def test_inference_outputs_are_torch_eval_mode(network):
    rng = np.random.default_rng(3)
    module, params, X, _, _ = _setting(network, rng, samples=7)
    layers = []
    b = i = 0
    for layer in network.layers:
        if isinstance(layer, sb.Dense):
            i += 1
            linear = torch.nn.Linear(
                network.sizes[i - 1],
                layer.units,
                bias=layer.bias,
                dtype=torch.float64,
            )
            linear.weight.data = torch.tensor(params[f"W{i}"])
            if layer.bias:
                linear.bias.data = torch.tensor(params[f"b{i}"])
            layers.append(linear)
            name = layer.activation.name
            if name == "prelu":
                slope = torch.tensor(params[f"alpha{i}"])
                layers.append(_Lambda(lambda z, s=slope: torch.where(z > 0, z, s * z)))
            else:
                layers.append(_Lambda(torch_reference.ACTIVATIONS[name]))
        elif isinstance(layer, sb.BatchNorm):
            b += 1
            norm = torch.nn.BatchNorm1d(
                network.sizes[i],
                eps=layer.eps,
                momentum=1 - layer.momentum,
                affine=True,
                dtype=torch.float64,
            )
            norm.running_mean = torch.tensor(params[f"mean{b}"])
            norm.running_var = torch.tensor(params[f"var{b}"])
            if layer.scale:
                norm.weight.data = torch.tensor(params[f"gamma{b}"])
            else:
                norm.weight.data = torch.ones(network.sizes[i], dtype=torch.float64)
            if layer.center:
                norm.bias.data = torch.tensor(params[f"beta{b}"])
            else:
                norm.bias.data = torch.zeros(network.sizes[i], dtype=torch.float64)
            layers.append(norm)
        else:
            layers.append(torch.nn.Dropout(layer.rate))
    model = torch.nn.Sequential(*layers).eval()
    with torch.no_grad():
        theirs = model(torch.tensor(X)).numpy()
    np.testing.assert_allclose(
        module.forward(params, X), theirs, rtol=1e-12, atol=1e-14
    )


class _Lambda(torch.nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, z):
        return self.function(z)


def test_running_statistics_follow_keras_rule_from_the_batch():
    network = NETWORKS[0]
    module, params, X, T, _ = _setting(network, np.random.default_rng(5), samples=8)
    trained, _ = module.train(
        params, X, T, epochs=1, batch_size=8, shuffle=False, verbose=0
    )
    # the one batch's statistics of A1, before the step, by torch
    A1 = torch.tanh(
        torch.tensor(X) @ torch.tensor(params["W1"]).T + torch.tensor(params["b1"])
    )
    mu, sigma2 = A1.mean(0).numpy(), A1.var(0, unbiased=False).numpy()
    rho = network.layers[1].momentum
    np.testing.assert_allclose(
        trained["mean1"], rho * params["mean1"] + (1 - rho) * mu, rtol=1e-12
    )
    np.testing.assert_allclose(
        trained["var1"], rho * params["var1"] + (1 - rho) * sigma2, rtol=1e-12
    )
    # PyTorch's BatchNorm1d agrees on the mean (its momentum is 1 − ρ)
    norm = torch.nn.BatchNorm1d(6, momentum=1 - rho, dtype=torch.float64)
    norm.running_mean = torch.tensor(params["mean1"])
    norm(A1)
    np.testing.assert_allclose(trained["mean1"], norm.running_mean.numpy(), rtol=1e-12)


def test_running_statistics_are_parameters_but_not_trained():
    network = NETWORKS[1]
    module = sb.build(network)
    assert module.PARAMS == (
        "W1", "b1", "gamma1", "beta1", "mean1", "var1",
        "W2", "b2", "gamma2", "mean2", "var2", "W3", "b3",
    )  # fmt: skip
    assert module.TRAINED == (
        "W1",
        "b1",
        "gamma1",
        "beta1",
        "W2",
        "b2",
        "gamma2",
        "W3",
        "b3",
    )
    params = module.init_params(0)
    assert (params["gamma1"] == 1).all() and (params["beta1"] == 0).all()
    assert (params["mean1"] == 0).all() and (params["var1"] == 1).all()
    rng = np.random.default_rng(0)
    X, T = reference.random_batch(network, 6, rng)
    assert set(module.gradients(params, X, T)) == set(module.TRAINED)
    with pytest.raises(KeyError, match="no trained parameters named \\['mean1'\\]"):
        module.check_gradients(params, X, T, names=["mean1"])


def test_targets_compute_what_numpy_computes(tmp_path):
    network = NETWORKS[1]
    rng = np.random.default_rng(11)
    X, T = reference.random_batch(network, 20, rng)
    found = {}
    for target in ("numpy", "torch", "jax"):
        module = sb.build(network, target=target)
        params = module.init_params(2)
        trained, history = module.train(
            params, X, T, epochs=3, batch_size=6, seed=4, verbose=0
        )
        found[target] = (
            module.gradients(params, X, T, training=True, seed=1),
            module.forward(trained, X),
            trained,
            history["loss"],
        )
        path = module.save(trained, tmp_path / f"{target}.npz")
        loaded = module.load(path)
        assert set(loaded) == set(module.PARAMS)
        np.testing.assert_array_equal(loaded["var2"], trained["var2"])
    # b1, the bias of the Dense layer before a BatchNorm, has a gradient of exactly 0 (the
    # BatchNorm subtracts the batch's mean): computed, it is rounding (~1e-17), which Adam
    # divides by its own root mean square plus eps = 1e-8 into steps of up to ~1e-11, so b1
    # drifts by noise that depends on each library's order of addition; it must stay near 0
    initial = module.init_params(2)
    noise = {name for name, g in found["numpy"][0].items() if np.abs(g).max() < 1e-15}
    assert noise == {"b1"}
    for target in ("numpy", "torch", "jax"):
        assert np.abs(found[target][2]["b1"] - initial["b1"]).max() < 1e-8
    for target in ("torch", "jax"):
        grads, outputs, trained, losses = found[target]
        for name, value in found["numpy"][0].items():
            _close(grads[name], value, 1e-12)
        for name, value in found["numpy"][2].items():
            if name not in noise:
                _close(trained[name], value, 1e-9)
        _close(outputs, found["numpy"][1], 1e-9)
        np.testing.assert_allclose(losses, found["numpy"][3], rtol=1e-9)


def test_float32_stays_float32():
    network = sb.Network(
        "bn32",
        3,
        [sb.Dense(4, "relu"), sb.BatchNorm(), sb.Dense(1)],
        "mse",
        dtype="float32",
    )
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    for target in ("numpy", "torch", "jax"):
        module = sb.build(network, target=target)
        trained, _ = module.train(
            module.init_params(0), X, T, epochs=2, batch_size=4, verbose=0
        )
        assert all(value.dtype == np.float32 for value in trained.values()), target


def test_training_fits_and_inference_uses_the_running_statistics():
    network = sb.Network(
        "fit",
        2,
        [sb.Dense(16, "relu"), sb.BatchNorm(momentum=0.9), sb.Dense(1, "sigmoid")],
        "binary_crossentropy",
        optimizer=sb.Adam(0.02),
    )
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    T = (X[:, :1] * X[:, 1:] > 0).astype(float)
    module = sb.build(network)
    params, history = module.train(
        module.init_params(0), X, T, epochs=60, batch_size=20, verbose=0
    )
    assert history["accuracy"][-1] > 0.9
    assert module.evaluate(params, X, T)["accuracy"] > 0.9
    # inference normalises by the running averages, which the fit moved
    assert not np.allclose(params["mean1"], 0) and not np.allclose(params["var1"], 1)
    shifted = {**params, "mean1": params["mean1"] + 1.0}
    assert not np.allclose(module.forward(shifted, X), module.forward(params, X))


def test_adam_settings_make_way_for_the_batch_norm_shift():
    network = NETWORKS[1]
    source = sb.generate(network)
    # the first BatchNorm's shift takes beta1; the second has none (center=False)
    assert "adam_beta1, beta2, eps = 0.9, 0.999, 1e-08" in source
    assert "m_beta1 *= adam_beta1" in source


def test_summary_counts_like_keras():
    text = str(sb.build(NETWORKS[1]).summary())
    # Keras: a BatchNormalization of n features has 4n parameters, 2n of them trainable
    assert "batch_normalization_1 (BatchNormalization)    (None, 5)       20" in text
    assert "batch_normalization_2 (BatchNormalization)    (None, 4)       12" in text
    lines = [line.split()[0] for line in text.splitlines() if "(None" in line]
    assert lines == [
        "dense_1", "batch_normalization_1", "dense_2", "batch_normalization_2",
        "dropout_1", "dense_3",
    ]  # fmt: skip
    assert "Non-trainable params: 18" in text


def test_toml_layer_is_a_batch_norm(tmp_path):
    path = tmp_path / "bn.toml"
    path.write_text(
        '[[network]]\nname = "bn_toml"\ninputs = 2\nlayers = [{ units = 4, '
        'activation = "relu" }, { batchnorm = {} }, { units = 3 }, { batchnorm = '
        "{ momentum = 0.9, center = false } }, { units = 1 }]\n"
    )
    (network,) = load_networks(path)
    assert network.layers[1] == sb.BatchNorm()
    assert network.layers[3] == sb.BatchNorm(momentum=0.9, center=False)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: sb.BatchNorm(momentum=1.0), "BatchNorm.momentum must be a number in"),
        (lambda: sb.BatchNorm(eps=0.0), "BatchNorm.eps must be a positive number"),
        (lambda: sb.BatchNorm(scale="yes"), "BatchNorm.scale must be True or False"),
        (
            lambda: sb.Network("n", 2, [sb.BatchNorm(), sb.Dense(1)]),
            r"layers\[0\]: BatchNorm\(\) follows the inputs",
        ),
        (
            lambda: sb.Network(
                "n", 2, [sb.Dense(3), sb.Dropout(0.1), sb.BatchNorm(), sb.Dense(1)]
            ),
            r"layers\[2\]: BatchNorm\(\) follows Dropout\(0.1\)",
        ),
        (
            lambda: sb.Network("n", 2, [sb.Dense(3), sb.BatchNorm()]),
            r"the output layer must be Dense, got BatchNorm\(\)",
        ),
    ],
)
def test_bad_batch_norms_are_refused_by_name(make, message):
    with pytest.raises(sb.SpecError, match=message):
        make()


def test_a_prelu_slope_beside_a_batch_norm_is_named_apart():
    network = sb.Network("n", 2, [sb.Dense(3, sb.prelu()), sb.BatchNorm(), sb.Dense(1)])
    assert {"alpha1", "gamma1", "beta1"} <= set(sb.build(network).TRAINED)


def test_documents_derive_it_and_compile(tmp_path):
    derivation = sb.derive(NETWORKS[1])
    markdown = derivation.to_markdown(exercises=True)
    assert "## Batch normalisation" in markdown
    assert "Ioffe & Szegedy" in markdown
    assert r"\hat{x}" in markdown and r"\begin{cases}" in markdown
    # the chain for layer 1 passes through the BatchNorm's Jacobian and the dropout mask
    assert r"\frac{\partial B_{1}}{\partial A_{1}}" in markdown
    assert r"\left(G_{2}\right)_{nj}" in markdown


def test_running_statistics_average_every_batch_of_the_epoch():
    network = NETWORKS[1]
    module, params, X, T, _ = _setting(network, np.random.default_rng(8), samples=23)
    seen = [params]

    class Record:
        def on_batch_end(self, batch, logs):
            seen.append({k: v.copy() for k, v in logs["params"].items()})

    module.train(
        params, X, T, epochs=1, batch_size=5, shuffle=False, verbose=0,
        callbacks=[Record()],
    )  # fmt: skip
    names = [eq.lhs.name for eq in sb.derive(network).step("forward")]
    expected = {name: params[name] for name in ("mean1", "var1", "mean2", "var2")}
    for k, start in enumerate(range(0, 23, 5)):
        before = seen[k]
        values = [before[name] for name in module.PARAMS]
        masks = [np.ones((len(X[start : start + 5]), 4))]
        found = dict(
            zip(
                names,
                module._forward(*values, X[start : start + 5], *masks, training=True),
            )
        )
        for i, rho in ((1, 0.9), (2, 0.99)):
            for running, batch in ((f"mean{i}", f"mu{i}"), (f"var{i}", f"sigma2_{i}")):
                expected[running] = rho * expected[running] + (1 - rho) * found[batch]
                # the running averages are the parameters' own, never trained
                np.testing.assert_allclose(
                    seen[k + 1][running], expected[running], rtol=1e-12
                )


def test_batch_norm_names_leave_adams_and_a_layers_beta1_alone():
    from symbackprop.expressions import printers

    network = sb.Network(
        "shared_names", 3, [sb.Dense(4), sb.BatchNorm(), sb.Dense(1)], "mse",
        optimizer=sb.Adam(),
    )  # fmt: skip
    markdown = sb.derive(network).to_markdown()
    # the BatchNorm's shift and Adam's β₁ both appear, told apart
    assert r"\beta_{\mathrm{BN1}}" in markdown and r"\beta_{1} m_{W_{1}}" in markdown
    assert printers.latex(sp.Symbol("beta1", positive=True)) == r"\beta_{1}"
    assert printers.latex(sp.Symbol("beta1")) == r"\beta_{1}"


def test_a_proof_out_of_time_is_a_clear_error(monkeypatch):
    # the proof runs under a budget: out of it, a SpecError that says what was not proved
    monkeypatch.setattr(batchnorm, "PROOF_SECONDS", 1e-6)
    with pytest.raises(sb.SpecError, match="could not be proved equal"):
        batchnorm.derive_batchnorm.__wrapped__(True, True)
