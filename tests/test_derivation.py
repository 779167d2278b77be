"""The derived formulas read like the lecture notes: identities SymPy must find by itself."""

import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.expressions.algebra import RowSum
from symbackprop.expressions.symbols import a, t, w, y, z


def _same(left, right) -> bool:
    return sp.simplify(left - right) == 0


def _delta(output, loss, units=3, convention="negative"):
    network = sb.Network("n", 2, [sb.Dense(units, activation=output)], loss)
    return sb.derive(network, convention=convention).output_delta


def test_softmax_cross_entropy_delta_is_t_minus_y():
    assert _delta("softmax", "categorical_crossentropy") == t - y


def test_sigmoid_binary_cross_entropy_delta_is_t_minus_y():
    assert _delta("sigmoid", "binary_crossentropy", units=1) == t - y


def test_identity_mse_delta_is_two_times_t_minus_y():
    assert _same(_delta("identity", "mse"), 2 * (t - y))


def test_gradient_convention_flips_the_sign_to_y_minus_t():
    assert _delta("softmax", "categorical_crossentropy", convention="gradient") == y - t
    assert (
        _delta("sigmoid", "binary_crossentropy", units=1, convention="gradient")
        == y - t
    )


def test_a_canonical_pair_no_catalog_entry_covers_simplifies_too():
    exponential = sb.Activation("exponential", sp.exp(z))
    poisson = sb.Loss("poisson", y - t * sp.log(y))
    assert _delta(exponential, poisson) == t - y


def test_softmax_with_mse_keeps_the_row_sum_of_its_jacobian():
    delta = _delta("softmax", "mse")
    assert delta.has(RowSum)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("sigmoid", a * (1 - a)), ("tanh", 1 - a**2), ("identity", sp.Integer(1))],
)
def test_activation_derivatives_are_found_in_output_form(name, expected):
    network = sb.Network("n", 2, [sb.Dense(3, activation=name)], "mse")
    layer = sb.derive(network).layers[0]
    assert layer.derivative_in_output_form
    assert _same(layer.activation_derivative, expected)


def test_relu_derivative_is_the_step_of_its_output_and_zero_at_zero():
    layer = sb.derive(
        sb.Network("n", 2, [sb.Dense(3, activation="relu")], "mse")
    ).layers[0]
    assert layer.derivative_in_output_form
    step = layer.activation_derivative
    assert step.free_symbols == {a}
    assert [step.subs(a, v) for v in (-1, 0, 2)] == [0, 0, 1]


def test_softmax_derivative_diagonal_is_a_times_one_minus_a():
    layer = sb.derive(
        sb.Network("n", 2, [sb.Dense(3, activation="softmax")], "mse")
    ).layers[0]
    assert _same(layer.activation_derivative, a * (1 - a))


def test_a_derivative_without_output_form_falls_back_to_z():
    sine = sb.Activation("sine", sp.sin(z))
    layer = sb.derive(sb.Network("n", 2, [sb.Dense(3, activation=sine)], "mse")).layers[
        0
    ]
    assert not layer.derivative_in_output_form
    assert layer.activation_derivative == sp.cos(z)


def test_equations_are_named_like_the_lecture():
    network = sb.Network(
        "deep",
        2,
        [sb.Dense(3, "tanh"), sb.Dense(3, "relu"), sb.Dense(2, "softmax")],
        "categorical_crossentropy",
    )
    d = sb.derive(network)
    names = [eq.name for eq in d.equations]
    assert names[:6] == ["Z1", "A1", "Z2", "A2", "Z3", "A3"]
    assert ["delta_y", "delta_h2", "delta_h1"] == [eq.name for eq in d.step("delta")]
    assert [eq.name for eq in d.step("gradient")] == [
        "dW1",
        "db1",
        "dW2",
        "db2",
        "dW3",
        "db3",
    ]
    assert [eq.name for eq in d.step("update")] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p.name for p in d.params] == ["W1", "b1", "W2", "b2", "W3", "b3"]


def test_latex_holds_every_derived_formula():
    circles = sb.Network(
        "circles",
        2,
        [sb.Dense(20, "relu"), sb.Dense(1, "sigmoid")],
        "binary_crossentropy",
    )
    text = sb.derive(circles).latex()
    assert r"\begin{align*}" in text and r"\end{align*}" in text
    assert r"\delta_{y} = -\frac{\partial \ell}{\partial z_{2}} &= t - y" in text
    assert r"f_{2}'(a) &= a \left(1 - a\right)" in text
    assert r"\delta_{h_{1}} &= \left(\delta_{y} W_{2}\right) \odot" in text
    assert r"Z_{1} &= X W_{1}^{\top} + b_{1}" in text
    assert sb.derive(circles)._repr_mimebundle_()["text/latex"].startswith("$$")


def test_latex_shows_the_regulariser_learnable_slopes_and_catalog_names():
    network = sb.Network(
        "seed001",
        3,
        [sb.Dense(4, sb.leaky_relu(alpha=0.2), bias=False), sb.Dense(2, "prelu")],
        "mse",
        regularizer=sb.L2(0.01),
    )
    text = sb.derive(network).latex()
    assert (
        r"+ 0.01 \left(\left\lVert W_{1} \right\rVert_{F}^{2} "
        r"+ \left\lVert W_{2} \right\rVert_{F}^{2}\right)" in text
    )
    assert (
        r"\frac{\partial \mathcal{L}}{\partial W_{1}} &= - \frac{\delta_{h_{1}}^{\top} X}{N} + 0.02 W_{1}"
        in text
    )
    assert r"A_{1} &= \operatorname{leaky\_relu}\left(Z_{1}\right)" in text
    assert r"\text{leaky}\_\text{relu(alpha=0.2)}" in text
    assert (
        r"\alpha_{2} &\leftarrow \alpha_{2} - \eta \frac{\partial \mathcal{L}}{\partial \alpha_{2}}"
        in text
    )
    assert r"r(w) &= 0.01 w^{2}" in text and r"r'(w) &= 0.02 w" in text


def test_sigmoid_forward_prints_as_a_fraction():
    network = sb.Network("s", 2, [sb.Dense(1, "sigmoid")], "binary_crossentropy")
    assert r"= \frac{1}{1 + e^{- Z_{1}}}" in sb.derive(network).latex()


def test_derivation_prints_as_plain_text_equations():
    circles = sb.Network(
        "circles",
        2,
        [sb.Dense(20, "relu"), sb.Dense(1, "sigmoid")],
        "binary_crossentropy",
    )
    text = str(sb.derive(circles))
    assert "  δ_y = T - A2\n" in text
    assert "  δ_h1 = [A1 > 0]*(δ_y·W2)\n" in text


def test_the_derivation_records_every_fact_the_documents_show():
    network = sb.Network(
        "facts",
        3,
        [sb.Dense(4, "tanh"), sb.Dense(3, "softmax")],
        "categorical_crossentropy",
        regularizer=sb.L2(0.01),
    )
    derivation = sb.derive(network)
    hidden, output = derivation.layers
    assert hidden.derivative_in_z == 1 - sp.tanh(z) ** 2 and hidden.jacobian is None
    assert output.derivative_in_z is None
    assert _same(output.jacobian.diagonal, a * (1 - a))
    assert derivation.output_error_steps[-1] == t - y
    assert _same(derivation.regularizer_derivative, 0.02 * w)


def test_an_unknown_convention_is_named():
    net = sb.Network("n", 2, [sb.Dense(1)], "mse")
    with pytest.raises(
        sb.SpecError, match="convention must be one of negative, gradient, got 'upside'"
    ):
        sb.derive(net, convention="upside")


@pytest.mark.parametrize("activation", sorted(sb.ACTIVATIONS))
def test_a_derivation_shows_itself_in_sympys_own_text(activation):
    # repr() of a Derivation (a notebook cell ending in it) and str() of each SymPy formula
    # go through SymPy's printers, which know array nodes only by their names
    output = "sigmoid" if activation == "softmax" else "softmax"
    loss = "binary_crossentropy" if output == "sigmoid" else "categorical_crossentropy"
    network = sb.Network(
        "shown",
        3,
        [sb.Dense(4, activation), sb.Dense(3, output)],
        loss,
        optimizer="adam",
        regularizer=sb.L2(0.01),
    )
    derivation = sb.derive(network)
    assert repr(derivation).startswith("Derivation(network=Network(name='shown'")
    for eq in derivation.equations:
        assert str(eq.rhs) and str(eq.code) and sp.srepr(eq.code)


def test_a_derivation_with_a_fused_softmax_pole_shows_itself_too():
    network = sb.Network(
        "pole", 3, [sb.Dense(3, "softmax")], "binary_crossentropy", optimizer="sgd"
    )
    derivation = sb.derive(network)
    assert "SoftmaxBackwardPole" in repr(derivation)
    assert all(str(eq.code) for eq in derivation.equations)
