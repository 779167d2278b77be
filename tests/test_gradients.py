"""Every generated gradient against central differences and against HIPS autograd."""

import zlib

import numpy as np
import pytest

import symbackprop as sb

from . import reference

ALL = sorted(sb.ACTIVATIONS)
REGRESSION = ["mse", "half_sse", "mae", "huber", "log_cosh"]
#: losses that need outputs in a particular range, and the outputs that provide it
RANGED = {
    "binary_crossentropy": ["sigmoid", "softmax"],
    "categorical_crossentropy": ["softmax", "sigmoid"],
    "sparse_categorical_crossentropy": ["softmax"],
    "kl_divergence": ["softmax", "sigmoid"],
    "poisson": ["exponential", "softplus", "sigmoid", "softmax"],
    "hinge": ["identity", "tanh", "softsign"],
    "squared_hinge": ["identity", "tanh", "softsign"],
}
OUTPUTS = [(act, loss) for loss in REGRESSION for act in ALL] + [
    (act, loss) for loss, acts in RANGED.items() for act in acts
]


def _cases():
    for output, loss in OUTPUTS:
        yield pytest.param((), output, loss, id=f"{output}-{loss}")
    # every activation in a hidden layer at depth 2 and at depth 3, under rotating outputs
    for i, hidden in enumerate(ALL):
        for depth in (2, 3):
            output, loss = OUTPUTS[(7 * i + 31 * depth) % len(OUTPUTS)]
            layers = (hidden,) if depth == 2 else (hidden, ALL[(i + 5) % len(ALL)])
            yield pytest.param(
                layers, output, loss, id="-".join([*layers, output, loss])
            )


def _network(hidden, output, loss, rng, regularizer=None):
    def width(act, low=1):
        return int(rng.integers(max(low, 2 if act == "softmax" else 1), 6))

    layers = [sb.Dense(width(act), activation=act) for act in hidden]
    low = sb.LOSSES[loss].min_units
    layers.append(sb.Dense(width(output, low=low), activation=output))
    return sb.Network(
        "net",
        inputs=int(rng.integers(1, 5)),
        layers=layers,
        loss=loss,
        regularizer=regularizer,
    )


def assert_matches_references(network, rng, custom=None, samples=7):
    """Central differences (float64) and HIPS autograd agree with the generated gradients."""
    module = sb.build(network)
    params = {
        name: value + rng.normal(scale=0.1, size=value.shape)
        for name, value in module.init_params(seed=1).items()
    }
    X, T = reference.random_batch(network, samples, rng)

    exact = module.EXACT_PARAMS
    assert module.check_gradients(params, X, T, names=exact) < 1e-6

    assert module.loss(params, X, T) == pytest.approx(
        float(reference.loss(network, params, X, T, custom)), rel=1e-12
    )
    expected = reference.gradients(network, params, X, T, custom)
    actual = module.gradients(params, X, T)
    assert list(actual) == list(module.PARAMS)
    for name in module.PARAMS:
        error = np.linalg.norm(actual[name] - expected[name]) / max(
            np.linalg.norm(expected[name]), 1e-300
        )
        assert error < 1e-9, (name, error)
    return module


@pytest.mark.parametrize(("hidden", "output", "loss"), list(_cases()))
def test_generated_gradients_match_central_differences_and_autograd(
    hidden, output, loss
):
    rng = np.random.default_rng(zlib.crc32(repr((hidden, output, loss)).encode()))
    assert_matches_references(_network(hidden, output, loss, rng), rng)


@pytest.mark.parametrize("regularizer", [sb.L2(0.03), sb.L1(0.02)], ids=["L2", "L1"])
@pytest.mark.parametrize("bias", [True, False])
def test_regularised_gradients_match_references(regularizer, bias):
    network = sb.Network(
        "seed001",
        4,
        [sb.Dense(3, "sigmoid", bias=bias), sb.Dense(1, "sigmoid", bias=bias)],
        "binary_crossentropy",
        regularizer=regularizer,
    )
    assert_matches_references(network, np.random.default_rng(5))


def test_parameterised_entries_use_their_parameters():
    rng = np.random.default_rng(11)
    network = sb.Network(
        "params",
        3,
        [sb.Dense(4, sb.leaky_relu(alpha=0.2)), sb.Dense(3, sb.elu(alpha=0.5))],
        sb.huber(delta=0.3),
    )
    assert_matches_references(network, rng)
    source = sb.generate(network)
    assert "0.2 * Z1" in source and "0.3" in source and "0.5" in source


def test_prelu_slope_is_learned_per_unit():
    rng = np.random.default_rng(3)
    network = sb.Network(
        "prelu", 2, [sb.Dense(5, sb.prelu(init=0.1)), sb.Dense(1)], "mse"
    )
    module = assert_matches_references(network, rng)
    assert module.PARAMS == ("W1", "b1", "alpha1", "W2", "b2")
    assert np.all(module.init_params()["alpha1"] == 0.1)
    X, T = reference.random_batch(network, 40, rng)
    trained, _ = module.train(
        module.init_params(), X, T, epochs=5, batch_size=8, lr=0.1
    )
    assert not np.allclose(trained["alpha1"], 0.1)


def test_threshold_is_straight_through():
    rng = np.random.default_rng(4)
    network = sb.Network(
        "step", 3, [sb.Dense(4, "threshold"), sb.Dense(2, "sigmoid")], "mse"
    )
    module = assert_matches_references(network, rng)
    assert module.STRAIGHT_THROUGH == ("A1",)
    assert module.EXACT_PARAMS == ("W2", "b2")
    params = module.init_params(seed=2)
    X, T = reference.random_batch(network, 6, rng)
    # the step is flat, so differences see no gradient below it; the surrogate sees one
    assert module.check_gradients(params, X, T, names=("W1",)) > 0.5
    hidden = module._forward(*(params[name] for name in module.PARAMS), X)[1]
    assert set(np.unique(hidden)) == {0.0, 1.0}


def test_exact_parameters_are_those_above_the_topmost_straight_through_layer():
    layers = [sb.Dense(4, "threshold"), sb.Dense(3, "tanh"), sb.Dense(3, "threshold")]
    deep = sb.Network("deep", 2, [*layers, sb.Dense(1, bias=False)], "mse")
    assert sb.build(deep).EXACT_PARAMS == ("W4",)
    plain = sb.build(sb.Network("plain", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse"))
    assert plain.EXACT_PARAMS == plain.PARAMS


def test_check_gradients_detects_a_wrong_gradient():
    network = sb.Network(
        "wrong", 3, [sb.Dense(4, "tanh"), sb.Dense(2, "sigmoid")], "binary_crossentropy"
    )
    source = sb.generate(network)
    assert "dW2 = np.dot(delta_y.T, A1)" in source
    source = source.replace(
        "dW2 = np.dot(delta_y.T, A1)", "dW2 = 0.9 * np.dot(delta_y.T, A1)"
    )
    namespace: dict = {}
    code = compile(source, "<wrong>", "exec")
    exec(code, namespace)  # noqa: S102 - a deliberately broken module
    rng = np.random.default_rng(0)
    X, T = reference.random_batch(network, 5, rng)
    assert namespace["check_gradients"](namespace["init_params"](), X, T) > 1e-3


def test_a_vanishing_gradient_is_checked_beyond_the_rounding_of_its_differences():
    """Seven sigmoid layers: W1's gradient is 1e-4 of W7's, and at eps = 1e-6 the rounding of
    the loss differences was 5e-6 of it (`make demo` failed on examples/vanishing.py). The
    check resolves it at a longer step, and a W1 gradient 1 % off still fails at every step.
    """
    layers = [sb.Dense(16, "sigmoid") for _ in range(6)] + [sb.Dense(10, "softmax")]
    network = sb.Network("deep_sigmoid", 64, layers, "categorical_crossentropy")
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(8, 64)), np.eye(10)[rng.integers(0, 10, 8)]
    source = sb.generate(network)
    namespace: dict = {}
    exec(compile(source, "<deep>", "exec"), namespace)  # noqa: S102 - the module itself
    params = namespace["init_params"](0)
    assert namespace["check_gradients"](params, X, T) < 1e-7
    assert "dW1 = np.dot(delta_h1.T, X)" in source
    wrong = source.replace(
        "dW1 = np.dot(delta_h1.T, X)", "dW1 = 1.01 * np.dot(delta_h1.T, X)"
    )
    exec(compile(wrong, "<wrong>", "exec"), namespace)  # noqa: S102 - a broken module
    assert namespace["check_gradients"](params, X, T, names=("W1",)) > 1e-3


def test_a_gradient_below_the_resolution_of_differences_is_checked_beyond_it():
    """Twenty sigmoid layers (examples/residual.py's plain chain): W10's gradient is 6e-7
    against a loss of 2.3, and rounding leaves 2e-5 of it at every step differences can take
    (truncation takes over above 1e-3). Only what exceeds the rounding bound counts, at the
    longest step: the right gradient agrees, and one 1 % off still fails."""
    layers = [sb.Dense(16, "sigmoid") for _ in range(19)] + [sb.Dense(10, "softmax")]
    network = sb.Network("plain20", 64, layers, "categorical_crossentropy")
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(16, 64)), np.eye(10)[rng.integers(0, 10, 16)]
    source = sb.generate(network)
    namespace: dict = {}
    exec(compile(source, "<plain20>", "exec"), namespace)  # noqa: S102 - the module
    params = namespace["init_params"](0)
    assert namespace["check_gradients"](params, X, T, names=("W10", "b10")) < 1e-7
    assert "dW10 = np.dot(delta_h10.T, A9)" in source
    wrong = source.replace(
        "dW10 = np.dot(delta_h10.T, A9)", "dW10 = 1.01 * np.dot(delta_h10.T, A9)"
    )
    exec(compile(wrong, "<wrong>", "exec"), namespace)  # noqa: S102 - a broken module
    assert namespace["check_gradients"](params, X, T, names=("W10",)) > 1e-4


def test_bias_free_layers_have_no_bias_gradient():
    network = sb.Network(
        "nobias", 3, [sb.Dense(4, "relu", bias=False), sb.Dense(1, bias=False)], "mse"
    )
    module = sb.build(network)
    assert module.PARAMS == ("W1", "W2")
    X, T = reference.random_batch(network, 6, np.random.default_rng(2))
    assert module.check_gradients(module.init_params(), X, T) < 1e-6


# --- targets: Σt = 1 required only where the derivation used it, and then exact -------------


def test_softmax_with_squared_error_takes_any_real_targets():
    """δ_y of softmax + mse does not use Σ_k t_k = 1, so rows need not sum to 1."""
    network = sb.Network("soft_mse", 3, [sb.Dense(4, "softmax")], "mse")
    module = sb.build(network)
    assert not module.TARGETS_SUM_TO_ONE
    rng = np.random.default_rng(3)
    X, T = rng.normal(size=(6, 3)), rng.normal(size=(6, 4))
    assert module.check_gradients(module.init_params(0), X, T) < 1e-7


@pytest.mark.parametrize(
    "loss",
    [
        "poisson",  # counts: values ≥ 0
        sb.Loss("real_cross_entropy", "-t*log(y)", targets="real"),
        sb.Loss("count_cross_entropy", "-t*log(y)", targets="nonnegative"),
    ],
    ids=lambda loss: getattr(loss, "name", loss),
)
def test_softmax_with_targets_that_are_not_distributions_takes_rows_of_any_sum(loss):
    """Σ_k t_k = 1 is used only where the loss's targets are class distributions (labels,
    probabilities): a Poisson loss on counts, or a cross-entropy declared over real targets,
    after softmax is derived without it (δ_y = t − y·Σ_k t_k), and the module trains on rows
    of any sum (it refused them: "each row of T must sum to 1")."""
    network = sb.Network("soft_counts", 3, [sb.Dense(4, "softmax")], loss)
    module = sb.build(network)
    assert not module.TARGETS_SUM_TO_ONE
    rng = np.random.default_rng(4)
    X = rng.normal(size=(6, 3))
    T = rng.poisson(2.0, size=(6, 4)).astype(float)
    T[0] = [3.0, 0.0, 0.0, 0.0]  # a row whose sum is not 1
    params = module.init_params(0)
    assert module.check_gradients(params, X, T) < 1e-7
    for target in ("torch", "jax"):
        library = sb.build(network, target=target)
        for name, grad in module.gradients(params, X, T).items():
            np.testing.assert_allclose(
                library.gradients(params, X, T)[name], grad, rtol=1e-12, atol=1e-14
            )
    log = reference.anp.log  # autograd's, which it differentiates
    custom = None if isinstance(loss, str) else {loss.name: lambda Y, T, _: -T * log(Y)}
    expected = reference.gradients(network, params, X, T, custom)
    for name, grad in module.gradients(params, X, T).items():
        np.testing.assert_allclose(grad, expected[name], rtol=1e-9, atol=1e-12)
    _, history = module.train(params, X, T, epochs=3, batch_size=3, verbose=0)
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]


@pytest.mark.parametrize("off", [1.5e-5, -1.9e-5])
def test_softmax_cross_entropy_gradient_is_exact_for_every_accepted_target(off):
    """Rows within the tolerance of 1 are scaled to sum to 1: loss and gradient are then the
    exact pair for the targets used (without that, t − y was off by up to 8e-5)."""
    network = sb.Network(
        "soft_ce", 3, [sb.Dense(4, "softmax")], "categorical_crossentropy"
    )
    module = sb.build(network)
    assert module.TARGETS_SUM_TO_ONE
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 3))
    T = rng.dirichlet(np.ones(4), size=6)
    T[:, 0] += off
    params = module.init_params(0)
    assert module.check_gradients(params, X, T, eps=1e-5) < 1e-9
    normalised = T / T.sum(axis=1, keepdims=True)
    for name, grad in module.gradients(params, X, T).items():
        np.testing.assert_allclose(grad, module.gradients(params, X, normalised)[name])
    with pytest.raises(ValueError, match="each row of T must sum to 1"):
        module.loss(params, X, T + 1e-3)
