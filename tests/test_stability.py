"""Every activation and loss gives finite values and gradients for logits of ±1000.

Run with overflow, invalid operations and division by zero raising: not even a discarded branch of ``np.where`` may
overflow. The one exception is the exponential activation, whose value e^1000 exceeds the
largest float64 (1.8e308): it is checked at ±300, where its true value is representable.
"""

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.spec import domain

LOGIT = {"exponential": 300.0}
#: a compatible output for every loss
OUTPUT_FOR = {
    "binary_crossentropy": "sigmoid",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
    "kl_divergence": "softmax",
    "poisson": "exponential",
}


def _targets(network, samples):
    loss, units = network.loss, network.sizes[-1]
    if loss.targets == "labels":
        return np.arange(samples) % units
    if loss.targets == "sign":
        return np.where(np.arange(samples * units) % 2, 1.0, -1.0).reshape(
            samples, units
        )
    if network.layers[-1].activation.name == "softmax":
        return np.eye(units)[np.arange(samples) % units]
    return np.linspace(0, 1, samples * units).reshape(samples, units)


def _finite_everywhere(network, scale):
    """Loss, gradients and outputs with pre-activations of ±scale in the first layer."""
    module = sb.build(network)
    params = module.init_params()
    units = network.layers[0].units
    params["W1"] = np.linspace(scale, -scale, units)[:, None]
    X = np.array([[1.0], [-1.0]])
    T = _targets(network, 2)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = module.loss(params, X, T)
        grads = module.gradients(params, X, T)
        outputs = module.forward(params, X)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert np.all(np.isfinite(outputs))
    return value


@pytest.mark.parametrize("name", sorted(sb.ACTIVATIONS))
@pytest.mark.parametrize("position", ["hidden", "output"])
def test_activation_is_finite_for_logits_of_1000(name, position):
    act = sb.ACTIVATIONS[name]
    layers = [sb.Dense(3, act)]
    if position == "hidden":
        layers.append(sb.Dense(2))
    network = sb.Network("stable", 1, layers, "mse")
    _finite_everywhere(network, LOGIT.get(name, 1000.0))


@pytest.mark.parametrize("name", sorted(sb.LOSSES))
def test_loss_is_finite_for_logits_of_1000(name):
    output = OUTPUT_FOR.get(name, "identity")
    network = sb.Network("stable", 1, [sb.Dense(3, output)], name)
    value = _finite_everywhere(network, LOGIT.get(output, 1000.0))
    if name != "kl_divergence" and output != "exponential":
        # some sample is confidently wrong: the loss is large, not clipped away
        assert value > 1


PAIRS = [
    pytest.param(act_name, loss_name, id=f"{act_name}-{loss_name}")
    for act_name, act in sorted(sb.ACTIVATIONS.items())
    for loss_name, loss in sorted(sb.LOSSES.items())
    if domain.violation(act, loss) is None
]


@pytest.mark.parametrize(("act_name", "loss_name"), PAIRS)
def test_every_output_pair_is_finite_for_logits_of_1000(act_name, loss_name):
    """Every activation with every loss it pairs with: the accurate forms chosen per pair
    (pieces joined at a threshold, conditions rewritten in exp) must not overflow either.
    """
    network = sb.Network("stable", 1, [sb.Dense(4, act_name)], loss_name)
    _finite_everywhere(network, LOGIT.get(act_name, 1000.0))
