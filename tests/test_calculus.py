"""The scalar calculus on its own (symbackprop/derive/calculus.py): output forms, row
Jacobians, backward rules and the output error's simplification steps."""

import sympy as sp

import symbackprop as sb
from symbackprop.derive import calculus
from symbackprop.expressions import names
from symbackprop.expressions.algebra import RowSum
from symbackprop.expressions.symbols import a, g, t, y, z


def _equal(left, right):
    return sp.simplify(left - right) == 0


def test_sigmoid_derivative_is_found_in_its_output():
    form = calculus.derivative_in_output_form(sb.ACTIVATIONS["sigmoid"].expr)
    assert form.in_output and _equal(form.expr, a * (1 - a))


def test_exp_derivative_is_its_output_and_sine_keeps_z():
    assert calculus.derivative_in_output_form(sp.exp(z)).expr == a
    sine = calculus.derivative_in_output_form(sp.sin(z))
    assert not sine.in_output and sine.expr == sp.cos(z)


def test_softmax_jacobian_is_a_times_one_minus_a_and_minus_a_a_k():
    jacobian = calculus.row_jacobian(sb.ACTIVATIONS["softmax"].expr)
    assert _equal(jacobian.diagonal, a * (1 - a))
    assert _equal(jacobian.off, -a * names.other(a))


def test_an_element_wise_backward_rule_is_g_times_f_prime():
    assert _equal(calculus.backward_rule(sp.tanh(z)), g * (1 - a**2))


def test_softmax_backward_rule_sums_over_the_row():
    # ∂ℓ/∂z_i = a_i (g_i − Σ_k g_k a_k)
    rule = calculus.backward_rule(sb.ACTIVATIONS["softmax"].expr)
    assert rule.has(RowSum)
    assert _equal(
        rule.xreplace({RowSum(a * g): sp.Symbol("s")}), a * (g - sp.Symbol("s"))
    )


def test_output_error_steps_end_at_t_minus_y_and_never_repeat():
    steps = calculus.output_error_steps(
        sb.ACTIVATIONS["sigmoid"], sb.LOSSES["binary_crossentropy"], "negative"
    )
    assert steps[-1] == t - y
    assert len({str(step) for step in steps}) == len(steps)
    assert all(_equal(step, t - y) for step in steps)  # every step is the same value


def test_softmax_cross_entropy_uses_the_sum_of_the_targets():
    softmax, cross = sb.ACTIVATIONS["softmax"], sb.LOSSES["categorical_crossentropy"]
    assert calculus.uses_target_sum(softmax, cross, "negative")
    assert calculus.output_error(softmax, cross, "negative") == t - y
    assert calculus.output_error(softmax, cross, "gradient") == y - t
