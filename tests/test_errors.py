"""Bad specs fail at construction with a message naming the field and the value."""

import pytest
import sympy as sp

import symbackprop as sb


def _net(**overrides):
    spec = {
        "name": "n",
        "inputs": 2,
        "layers": [sb.Dense(3, "relu"), sb.Dense(2, "softmax")],
    }
    spec["loss"] = "categorical_crossentropy"
    spec.update(overrides)
    return sb.Network(**spec)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: sb.Dense(3, activation="swishy"),
            "Dense.activation: unknown activation 'swishy'",
        ),
        (lambda: _net(loss="hinge_loss"), "Network.loss: unknown loss 'hinge_loss'"),
        (lambda: sb.Dense(0), "Dense.units must be a positive integer, got 0"),
        (lambda: sb.Dense(-3), "Dense.units must be a positive integer, got -3"),
        (lambda: sb.Dense(2.5), "Dense.units must be a positive integer, got 2.5"),
        (lambda: sb.Dense(True), "Dense.units must be a positive integer, got True"),
        (lambda: sb.Dense("8"), "Dense.units must be a positive integer, got '8'"),
        (lambda: _net(inputs=0), "Network.inputs must be a positive integer, got 0"),
        (
            lambda: _net(layers=[sb.Dense(1, "softmax")], loss="mse"),
            "activation 'softmax' needs at least 2 units, got 1",
        ),
        (
            lambda: _net(layers=[sb.Dense(1, "sigmoid")]),
            "Network.loss: 'categorical_crossentropy' needs at least 2 output units, got 1",
        ),
        (lambda: _net(layers=[]), "Network.layers must hold at least one Dense layer"),
        (
            lambda: _net(layers=["dense"]),
            "Network.layers[0] must be a Dense layer, got 'dense'",
        ),
        (
            lambda: _net(name="my net"),
            "Network.name must be a Python identifier, got 'my net'",
        ),
        (
            lambda: _net(name="class"),
            "Network.name must be a Python identifier, got 'class'",
        ),
        (
            lambda: sb.Activation("bad", sp.Symbol("q") * sb.z),
            "Activation 'bad': expression q*z uses ['q']",
        ),
        (
            lambda: sb.Loss("bad", sb.y - sb.z),
            "Loss 'bad': expression y - z uses ['z']",
        ),
    ],
)
def test_bad_spec_names_field_and_value(make, message):
    with pytest.raises(sb.SpecError) as error:
        make()
    assert message in str(error.value)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(
        sb.SpecError,
        match="known activations: elu, exponential, gelu, .*, swish, tanh, threshold$",
    ):
        sb.Dense(3, activation="swishy")


def test_linear_is_an_alias_of_identity():
    assert sb.Dense(3, activation="linear").activation is sb.Dense(3).activation
