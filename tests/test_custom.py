"""Users' own SymPy math is derived, simplified, checked and printed exactly like a built-in."""

from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.derive.calculus import derivative_in_output_form
from symbackprop.spec.files import load_networks

from .test_gradients import assert_matches_references

ROOT = Path(__file__).resolve().parent.parent
#: examples/custom.py's cross-entropy for targets and outputs in (−1, 1): no built-in pairs it
(CUSTOM_EXAMPLE,) = load_networks(ROOT / "examples" / "custom.py")
SIGNED_CE = CUSTOM_EXAMPLE.loss
#: 2σ(z) − 1, the bipolar sigmoid of older lecture notes
BIPOLAR = sb.Activation("bipolar_sigmoid", 2 / (1 + sp.exp(-sb.z)) - 1)


def _signed_ce(y, t, s):
    return -((1 + t) / 2 * anp.log((1 + y) / 2) + (1 - t) / 2 * anp.log((1 - y) / 2))


CUSTOM = {
    "sinus": lambda z, s: anp.sin(z),
    "bipolar_sigmoid": lambda z, s: 2 / (1 + anp.exp(-z)) - 1,
    "swish_beta": lambda z, s: z / (1 + anp.exp(-s["beta"] * z)),
    "signed_crossentropy": _signed_ce,
    "quartic": lambda y, t, s: (y - t) ** 4 / 4,
}


def test_custom_activation_in_every_position_matches_references():
    sinus = sb.Activation("sinus", sp.sin(sb.z))
    network = sb.Network(
        "waves", 3, [sb.Dense(4, sinus), sb.Dense(3, "tanh"), sb.Dense(2, sinus)], "mse"
    )
    assert_matches_references(network, np.random.default_rng(1), CUSTOM)
    source = sb.generate(network)
    assert "A1 = np.sin(Z1)" in source and "np.cos(Z1)" in source


@pytest.mark.parametrize(
    ("output", "delta"),
    [("tanh", sb.t - sb.y), (BIPOLAR, (sb.t - sb.y) / 2)],
    ids=["tanh", "bipolar_sigmoid"],
)
def test_a_users_own_canonical_pair_simplifies_by_the_same_mechanism(output, delta):
    network = sb.Network(
        "signed", 3, [sb.Dense(4, "relu"), sb.Dense(2, output)], SIGNED_CE
    )
    derivation = sb.derive(network)
    assert sp.simplify(derivation.output_delta - delta) == 0
    assert derivation.output_delta == sp.factor_terms(delta)
    assert_matches_references(network, np.random.default_rng(2), CUSTOM)


def test_exponential_with_poisson_gives_t_minus_y_and_a_stable_loss_of_the_log_rate():
    network = sb.Network("counts", 2, [sb.Dense(3, "exponential")], "poisson")
    assert sb.derive(network).output_delta == sb.t - sb.y
    assert "np.exp(Z1) - T * Z1" in sb.generate(network)


def test_custom_loss_matches_references():
    quartic = sb.Loss("quartic", (sb.y - sb.t) ** 4 / 4)
    network = sb.Network("quartic", 2, [sb.Dense(3, "softplus")], quartic)
    assert_matches_references(network, np.random.default_rng(3), CUSTOM)


def test_a_users_own_symbols_are_symbackprops_by_name():
    """sp.Symbol("z") (no assumptions) is symbackprop's z (real): it was refused with
    "uses ['z']; it may only use the symbols z". A name of neither stays refused, and so
    does a z of other assumptions, by which SymPy may have simplified the formula."""
    z, y, t, w = sp.symbols("z y t w")
    assert sb.Activation("sq", sp.sqrt(z**2 + 1)) == sb.Activation(
        "sq", sp.sqrt(sb.z**2 + 1)
    )
    assert sb.Loss("quartic", (y - t) ** 4 / 4).expr == (sb.y - sb.t) ** 4 / 4
    assert sb.Regularizer("r", w**2).expr == sb.w**2
    with pytest.raises(
        sb.SpecError, match=r"uses \['q'\]; it may only use the symbols z"
    ):
        sb.Activation("scaled", sp.Symbol("q") * z)
    # a z declared positive: SymPy has made √(z²) z already, the identity on the real line
    positive = sp.Symbol("z", positive=True)
    assert sp.sqrt(positive**2) == positive
    with pytest.raises(
        sb.SpecError, match="its symbol z is declared positive=True, which"
    ):
        sb.Activation("magnitude", sp.sqrt(positive**2))


def test_custom_activation_with_a_learnable_parameter():
    beta = sp.Symbol("beta", real=True)
    swish_beta = sb.Activation(
        "swish_beta", sb.z / (1 + sp.exp(-beta * sb.z)), learnable={beta: 1.0}
    )
    network = sb.Network("learned", 2, [sb.Dense(3, swish_beta), sb.Dense(1)], "mse")
    module = assert_matches_references(network, np.random.default_rng(4), CUSTOM)
    assert module.PARAMS == ("W1", "b1", "beta1", "W2", "b2")
    assert (
        r"\frac{\partial \mathcal{L}}{\partial \beta_{1}}" in sb.derive(network).latex()
    )


@pytest.mark.parametrize(
    ("name", "form"),
    [
        ("sigmoid", sb.a * (1 - sb.a)),
        ("tanh", 1 - sb.a**2),
        ("exponential", sb.a),
        ("softplus", 1 - sp.exp(-sb.a)),
        ("elu", sp.Piecewise((1, sb.a > 0), (sb.a + 1, True))),
        ("softsign", (1 - sp.Abs(sb.a)) ** 2),
        ("threshold", sp.Integer(1)),
    ],
)
def test_output_form_search_finds_the_known_forms(name, form):
    found = derivative_in_output_form(sb.ACTIVATIONS[name].expr)
    assert found.in_output
    assert sp.simplify(sp.piecewise_fold(found.expr - form)) == 0


@pytest.mark.parametrize("name", ["gelu", "mish", "swish", "hard_sigmoid", "prelu"])
def test_output_form_search_falls_back_to_z_cleanly(name):
    act = sb.ACTIVATIONS[name]
    found = derivative_in_output_form(act.expr)
    assert not found.in_output
    assert found.expr == sp.diff(act.expr, sb.z)


def test_a_derivative_that_needs_z_is_printed_in_z():
    source = sb.generate(sb.Network("g", 2, [sb.Dense(3, "gelu"), sb.Dense(1)], "mse"))
    assert "def erfc(x):" in source and "np.vectorize(math.erfc" in source
    backward = source[source.index("delta_h1 = ") : source.index("dW1 = ")]
    # 1 + erf(u) as erfc(−u): exact where erf(u) ≈ −1 (GELU's left tail)
    assert "erfc(-1 / 2 * math.sqrt(2) * Z1)" in backward and "A1" not in backward
