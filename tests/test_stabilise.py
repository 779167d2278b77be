"""Each stabilising rule on its own: the form it gives, that it leaves other forms alone, that
the value is unchanged, and the overflow or cancellation it removes."""

import math

import numpy as np
import pytest
import sympy as sp

from symbackprop.derive import stabilise
from symbackprop.expressions import numeric
from symbackprop.expressions.algebra import (
    Erfc,
    Expm1,
    Log1p,
    LogAddExp,
    LogCosh,
    LogSoftplus,
    LogSumExp,
    RowSum,
    Softmax,
    Softplus,
)

U, V = sp.symbols("Z1 Z2", real=True)

#: rule → (an expression it rewrites, what it gives)
CASES = {
    "log_one_plus_exp": (sp.log(1 + sp.exp(U)), Softplus(U)),
    "log_row_sum_exp": (sp.log(RowSum(sp.exp(U))), LogSumExp(U)),
    "logistic": ((1 + sp.exp(-U)) ** -2, sp.exp(-2 * Softplus(-U))),
    "merge_exps": (
        sp.Mul(sp.exp(U), sp.exp(-2 * U), V, evaluate=False),
        V * sp.exp(-U),
    ),
    "log_cosh": (sp.log(sp.cosh(U)), LogCosh(U)),
    "tanh_ratio": (sp.sinh(U) / sp.cosh(U) * V, V * sp.tanh(U)),
    "x_log_x": (U * sp.log(U), U * sp.log(sp.Piecewise((U, U > 0), (1, True)))),
    "guarded_exp": (
        sp.Piecewise((U, U > 0), (sp.exp(U) - 1, True)),
        sp.Piecewise((U, U > 0), (sp.exp(sp.Min(U, 0)) - 1, True)),
    ),
    "normalised_exp": (sp.exp(U) / RowSum(sp.exp(U)), Softmax(U)),
    "exp_sum_power": (
        1 / (sp.exp(U) + sp.exp(-U)),
        sp.exp(-LogAddExp(U, -U)),
    ),
    "exp_minus_one": (3 * sp.exp(U) - 3 + V, V + 3 * Expm1(U)),
    "erf_complement": (1 + sp.erf(U), Erfc(-U)),
    "log_one_plus": (sp.log(1 + U**2), Log1p(U**2)),
    "softplus_shift": (2 * Softplus(U) - 2 * U, 2 * Softplus(-U)),
    "log_sum_exps": (
        sp.log(2 * sp.exp(U) + sp.exp(V)),
        LogAddExp(U + sp.log(2), V),
    ),
    "logaddexp_shift": (LogAddExp(U, V) - U, Softplus(V - U)),
    "symmetric_logaddexp": (LogAddExp(U, -U), LogCosh(U) + sp.log(2)),
    "guarded_ite": (
        sp.ITE(U > 0, V > 1, sp.exp(U) > V),
        sp.ITE(U > 0, V > 1, sp.exp(sp.Min(U, 0)) > V),
    ),
    "over_softplus": (1 / Softplus(U), sp.exp(-LogSoftplus(U))),
    "log_softplus": (sp.log(Softplus(U)), LogSoftplus(U)),
}

#: forms no rule touches
UNRELATED = (U * V + 1, sp.exp(U) * V, sp.log(U + V), sp.tanh(U) ** 2)

#: rows of points inside every rule's domain (u > 0 for u·log u)
POINTS = (
    np.array([[0.3, 1.2, 2.5], [0.7, 0.05, 1.9]]),
    np.array([[1.4, 0.2, 0.9], [2.2, 1.1, 0.6]]),
)


def test_every_rule_has_a_case():
    assert sorted(rule.__name__ for rule in stabilise.STABILISE) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rule_gives_its_stable_form(name):
    before, after = CASES[name]
    assert getattr(stabilise, name)(before) == after


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rule_leaves_other_forms_alone(name):
    rule = getattr(stabilise, name)
    for expr in UNRELATED:
        assert rule(expr) is None, expr


@pytest.mark.parametrize("name", sorted(n for n in CASES if n != "guarded_ite"))
def test_the_rule_keeps_the_value(name):
    before, after = CASES[name]
    old = numeric.evaluate(before, (U, V), POINTS)
    new = numeric.evaluate(after, (U, V), POINTS)
    assert np.all(np.isfinite(old))
    np.testing.assert_allclose(new, old, rtol=1e-13)


def test_guarded_ite_keeps_the_condition():
    before, after = CASES["guarded_ite"]
    for u in (-2.0, 0.5, 3.0):
        for v in (0.1, 1.5, 30.0):
            point = {U: u, V: v}
            assert bool(before.subs(point)) == bool(after.subs(point))


def _at(expr, u, v=0.0):
    return float(numeric.evaluate(expr, (U, V), ([u], [v]))[0])


@pytest.mark.parametrize(
    ("name", "u", "exact"),
    [
        # log(1 + e^1000) overflows; softplus is 1000
        ("log_one_plus_exp", 1000.0, 1000.0),
        # log cosh 800: cosh overflows beyond 710
        ("log_cosh", 800.0, 800.0 - math.log(2)),
        # e^u − 1 at u = 1e-12 keeps 4 digits; expm1 keeps all
        ("exp_minus_one", 1e-12, 3e-12 + 1.5e-24),
        # 1 + erf(−6) is 2e-17, every digit lost to the 1
        ("erf_complement", -6.0, math.erfc(6.0)),
        # 2·softplus(40) − 80 cancels to 0; 2·softplus(−40) is 2e^−40
        ("softplus_shift", 40.0, 2 * math.log1p(math.exp(-40.0))),
    ],
)
def test_the_stable_form_survives_where_the_other_does_not(name, u, exact):
    before, after = CASES[name]
    assert _at(after, u) == pytest.approx(exact, rel=1e-12, abs=1e-300)
    old = _at(before, u)
    assert not math.isfinite(old) or old != pytest.approx(exact, rel=1e-9, abs=0)


def test_stabilise_applies_rules_bottom_up_until_none_applies():
    # the log first (log_sum_exps), then the difference it is in (logaddexp_shift)
    assert stabilise.stabilise(sp.log(sp.exp(U) + sp.exp(V)) - U) == Softplus(V - U)
    assert stabilise.stabilise(U * V) == U * V


def test_rules_together_keep_a_ratio_of_overflowing_exps_finite():
    # e^u/(e^u + e^−u) is inf/inf at u = 800; exp(u − logcosh(u))/2 is 1 (within 250 ulp:
    # u − logcosh(u) cancels to log 2)
    ratio = sp.exp(U) / (sp.exp(U) + sp.exp(-U))
    assert math.isnan(_at(ratio, 800.0))
    assert _at(stabilise.stabilise(ratio), 800.0) == pytest.approx(1.0, rel=1e-12)


def test_a_complex_value_evaluates_to_nan_not_to_its_real_part():
    """numeric.evaluate is nan where a value is not a real number: a complex one is, not its
    real part (a cast to float64 drops the imaginary part, and a probe would pass)."""
    u = sp.Symbol("u", real=True)
    found = numeric.evaluate(sp.I * sp.exp(u) + u, [u], [[0.0, 1.0]])
    assert np.isnan(found).all()
    assert (numeric.evaluate(sp.exp(u), [u], [[0.0]]) == 1.0).all()


def test_a_rewrite_sympy_folds_back_ends():
    """2·log 2 is a number times its log: x_log_x's guard of it, 2·log(2 if 2 > 0 else 1),
    folds back to 2·log 2, and the rules ran until Python's recursion limit (found by a fuzz
    of random activations: d/dz of 1/((z − log 2)² + 1) holds 2·log 2). A number u is left as
    it is; a rewrite that gives its node back counts as none."""
    constant = 2 * sp.log(2) * U
    assert stabilise.stabilise(constant) == constant
    assert stabilise.stabilise(U * sp.log(U)) == CASES["x_log_x"][1]

    def gives_back(node: sp.Basic) -> sp.Basic | None:
        return node if node == U else None

    assert stabilise.stabilise(U + 1, (gives_back,)) == U + 1
