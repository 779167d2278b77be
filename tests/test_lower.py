"""Lowering a Derivation to a Program: each rewrite rule on its own, the phases in order, and
what they give the generated step (errors scaled before the products, the rate folded into the
step for SGD, in-place updates).
"""

import dataclasses

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.derive.derivation import Equation, N, X
from symbackprop.expressions.algebra import (
    BatchLoss,
    BatchMean,
    BatchSum,
    Dot,
    ElementSum,
    Log1p,
    LogSoftmax,
    SoftmaxMinus,
    SoftmaxParts,
    Transpose,
)
from symbackprop.expressions.names import WEIGHTS
from symbackprop.lower import rules as lower
from symbackprop.lower.program import FUNCTIONS, SCALE, Context, Statement
from symbackprop.spec.optimizers import LR, LR_K

from .reference import random_batch

SMALL = sb.Network(
    "small",
    4,
    [sb.Dense(6, "relu"), sb.Dense(3, "softmax")],
    "categorical_crossentropy",
    optimizer=sb.SGD(lr=0.1),
)

#: a loss linear in the output: its δ_y takes neither log softmax nor A − T
LINEAR = sb.Loss("linear", -sb.t * sb.y)

# every shape of gradient equation: biases or none, L1/L2 terms, learnable parameters in a
# hidden and the output layer, a row-wise hidden activation, a fused and an unfused output
SCALED = [
    SMALL,
    sb.Network(
        "l2", 3, [sb.Dense(5, "tanh"), sb.Dense(2)], "mse", regularizer=sb.L2(0.01)
    ),
    sb.Network(
        "l1",
        3,
        [sb.Dense(4, "sigmoid", bias=False), sb.Dense(1, "sigmoid")],
        "binary_crossentropy",
        regularizer=sb.L1(0.003),
    ),
    sb.Network("prelu", 3, [sb.Dense(4, sb.prelu()), sb.Dense(2, sb.prelu())], "mse"),
    sb.Network(
        "rowwise", 3, [sb.Dense(4, "softmax"), sb.Dense(2, "softplus")], "poisson"
    ),
    sb.Network("unfused", 3, [sb.Dense(4, "elu"), sb.Dense(2, "tanh")], "mae"),
]


@pytest.mark.parametrize("convention", ["negative", "gradient"])
@pytest.mark.parametrize("network", SCALED, ids=lambda n: n.name)
def test_step_returns_scale_times_every_gradient(network, convention):
    module = sb.build(network, convention)
    X, T = random_batch(network, 7, np.random.default_rng(1))
    values = module._check_params(module.init_params(seed=2))
    _, _, *plain = module._step(*values, X, T)
    _, _, *scaled = module._step(*values, X, T, 0.37)
    for name, g, h in zip(module.PARAMS, plain, scaled):
        np.testing.assert_allclose(h, 0.37 * g, rtol=1e-12, atol=1e-15, err_msg=name)
    assert module.check_gradients(module.init_params(seed=2), X, T) < 1e-6


def test_no_gradient_is_divided_after_its_product():
    source = sb.generate(SMALL)
    step = source[source.index("def _step") : source.index("def _accuracy")]
    assert "delta_y = _softmax_minus(A2, T, R2) * (scale * weights / N)" in step
    assert (
        "dW1 = np.dot(delta_h1.T, X)" in step and "db1 = _column_sums(delta_h1)" in step
    )
    assert "/ N" not in step.split("delta_y =")[1].split("\n", 1)[1]


def test_relu_prints_as_a_maximum_and_its_derivative_as_a_mask():
    source = sb.generate(SMALL)
    assert "A1 = np.maximum(Z1, 0)" in source
    assert "delta_h1 = (A1 > 0) * np.dot(delta_y, W2)" in source
    assert "DTYPE(1), DTYPE(0)" not in source


def test_softmax_and_its_log_and_error_are_module_helpers():
    source = sb.generate(SMALL)
    # NumPy: one pass over the logits gives the softmax and the parts its loss and δ_y reuse
    assert "def _softmax_parts(Z, out=None):" in source
    # (out: the epoch's arrays that the metrics read, which the parts are written into)
    assert "D2, R2, A2 = _softmax_parts(Z2, out)" in source
    assert "def _forward(W1, b1, W2, b2, X, out=None):" in source
    assert "return Z1, A1, Z2, D2, R2, A2" in source
    # the weights (1.0 where every sample counts alike) and the sign kept off the outputs
    assert "-_weighted_sum(T * (D2 - np.log1p(R2)), weights)" in source
    assert "def _softmax_minus(A, T, R=None):" in source
    assert "_softmax_minus(A2, T, R2)" in source
    assert "def _loss_sum(D2, R2, A2, T, weights):" in source
    for unused in ("def _softmax(Z):", "def _log_softmax(Z):", "def _logsumexp(Z):"):
        assert unused not in source
    # JAX too (XLA fuses each pass, but does not share the exp of the softmax and the loss)
    jax_source = sb.generate(SMALL, target="jax")
    assert "D2, R2, A2 = _softmax_parts(Z2)" in jax_source
    assert "-(T * weights * (D2 - jnp.log1p(R2))).sum()" in jax_source
    assert "_softmax_minus(A2, T, R2)" in jax_source
    assert "_log_softmax" not in jax_source
    # PyTorch keeps the three helpers: torch.softmax is one op, the parts would take several
    torch_source = sb.generate(SMALL, target="torch")
    assert "torch.softmax(Z2, dim=1)" in torch_source
    assert (
        "_log_softmax(Z2)" in torch_source and "_softmax_minus(A2, T)" in torch_source
    )
    assert "_softmax_parts(Z2)" not in torch_source and "R2" not in torch_source
    # a softmax whose loss takes neither its log nor A − T computes no parts
    linear = sb.generate(dataclasses.replace(SMALL, loss=LINEAR))
    assert "A2 = _softmax(Z2)" in linear and "_softmax_parts" not in linear
    plain = sb.generate(sb.Network("p", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse"))
    assert "_softmax" not in plain and "_logsumexp" not in plain


def test_fuse_computes_the_output_softmax_with_its_parts_and_reuses_them():
    derivation = sb.derive(SMALL)
    plain, fused = lower.lower(derivation), lower.lower(derivation, fuse=True)
    Z2, A2 = sp.Symbol("Z2", real=True), sp.Symbol("A2", real=True)
    D2, R2 = sp.Symbol("D2", real=True), sp.Symbol("R2", real=True)
    assert plain.context.softmax is None
    assert fused.context.softmax == (Z2, A2, D2, R2)
    output = fused.function("forward")[-1]
    assert output.expr == SoftmaxParts(Z2) and output.targets == (D2, R2, A2)
    (loss,) = fused.function("loss")
    assert not loss.expr.has(LogSoftmax) and loss.expr.has(Log1p(R2))
    delta_y = fused.function("backward")[0]
    assert delta_y.expr.atoms(SoftmaxMinus) == {SoftmaxMinus(A2, T, R2)}
    # the rest of the program is untouched, statement by statement
    changed = {
        name
        for (name, ours), (_, theirs) in zip(plain.functions, fused.functions)
        for a, b in zip(ours, theirs, strict=True)
        if a != b
    }
    assert changed == {"forward", "loss", "backward"}
    assert fused.function("backward")[1:] == plain.function("backward")[1:]
    # a program whose softmax no loss or δ reuses, or with no softmax output, is left as is
    for network in (
        dataclasses.replace(SMALL, loss=LINEAR),
        sb.Network("rowwise", 3, [sb.Dense(4, "softmax"), sb.Dense(2)], "mse"),
    ):
        program = lower.lower(sb.derive(network))
        assert lower.fused(program) is program


@pytest.mark.parametrize(
    ("optimizer", "rate"),
    [
        (sb.SGD(lr=0.1), LR),
        (sb.SGD(lr=0.1, momentum=0.9), LR),
        (sb.SGD(lr=0.1, momentum=0.9, nesterov=True), LR),
        (sb.SGD(lr=0.1, decay=0.01), LR_K),
        (sb.SGD(lr=0.1, schedule=sb.step_decay(0.5, 10)), LR_K),
        (sb.Adam(), None),
        (sb.RMSprop(), None),
        (sb.Adagrad(), None),
    ],
    ids=lambda value: getattr(value, "title", str(value)),
)
def test_the_rate_is_folded_into_the_step_only_where_every_rule_is_linear_in_it(
    optimizer, rate
):
    assert lower.folded_rate(optimizer) == rate
    network = sb.Network(
        "n", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse", optimizer=optimizer
    )
    scale = rate.name if rate else "1.0"
    assert f"W1, b1, W2, b2, X_batch, T_batch, {scale}, with_batch_loss" in sb.generate(
        network
    )


@pytest.mark.parametrize(
    "optimizer",
    [sb.SGD(lr=0.1), sb.SGD(lr=0.1, momentum=0.9), sb.SGD(lr=0.1, decay=0.01)],
    ids=lambda optimizer: optimizer.title,
)
def test_a_jax_module_keeps_the_rate_in_its_updates(optimizer):
    """JAX updates by new arrays, where XLA fuses η's product into the update: folded, the
    update would be a lone subtraction, slower on XLA:CPU. NumPy and PyTorch fold it."""
    network = sb.Network(
        "n", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse", optimizer=optimizer
    )
    rate = lower.folded_rate(optimizer)
    kept = lower.lower(sb.derive(network), fold=False)
    assert kept.context.rate is None
    assert all(s.held == () for s in kept.function("update"))
    assert any(s.expr.has(rate) for s in kept.function("update"))
    jax_source = sb.generate(network, target="jax")
    assert "X_batch, T_batch, 1.0, with_batch_loss" in jax_source
    assert f"* {rate.name}" in jax_source.split("def _jax_batch")[1]
    for target in ("numpy", "torch"):
        source = sb.generate(network, target=target)
        assert f"X_batch, T_batch, {rate.name}, with_batch_loss" in source


def test_updates_run_in_place():
    momentum = sb.generate(
        sb.Network(
            "m",
            2,
            [sb.Dense(3, "tanh"), sb.Dense(1)],
            "mse",
            optimizer=sb.SGD(0.1, 0.9),
        )
    )
    assert "v_W1 *= momentum\n" in momentum and "v_W1 -= dW1\n" in momentum
    assert "W1 += v_W1\n" in momentum
    adam = sb.generate(
        sb.Network("a", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse", optimizer="adam")
    )
    assert "m_W1 *= beta1\n" in adam and "m_W1 += dW1 * (1 - beta1)\n" in adam
    assert "mhat_W1 = m_W1 / (1 - beta1 ** (k + 1))" in adam
    assert "W1 -= lr * mhat_W1 / (eps + np.sqrt(vhat_W1))" in adam


W1, dW1, v = (sp.Symbol(name, real=True) for name in ("W1", "dW1", "v_W1"))
DELTA_Y, DELTA_H = sp.Symbol("delta_y"), sp.Symbol("delta_h1")
A2, T = sp.Symbol("A2", real=True), sp.Symbol("T")
#: the context of a network with δ_y and δ_h1 under δ = −∂ℓ/∂Z, plain SGD
CONTEXT = Context(
    error_scale=-SCALE / N,
    errors=(DELTA_Y, DELTA_H),
    rate=LR,
    gradients=(dW1,),
)


def _statement(lhs, rhs, step="delta", rebinds=False):
    return Statement(lhs, rhs, Equation(lhs, rhs, step, 1, rebinds=rebinds))


def test_scaled_output_error_multiplies_delta_y_once_with_its_number_in_the_scale():
    lowered = lower.scaled_output_error(_statement(DELTA_Y, 2 * T - 2 * A2), CONTEXT)
    assert lowered.expr == -2 * SCALE / N * (T - A2)
    assert lowered.factor == -SCALE / N
    # once only, and only the output error
    assert lower.scaled_output_error(lowered, CONTEXT) is None
    assert lower.scaled_output_error(_statement(DELTA_H, DELTA_Y), CONTEXT) is None


def test_scaled_gradient_is_one_product_of_the_scaled_errors():
    weight = _statement(
        dW1, -Dot(Transpose(DELTA_H), X) / N + 2 * sp.Symbol("lam") * W1, "gradient"
    )
    lowered = lower.scaled_gradient(weight, CONTEXT)
    assert (
        lowered.expr == Dot(Transpose(DELTA_H), X) + 2 * sp.Symbol("lam") * W1 * SCALE
    )
    assert lowered.factor == SCALE
    bias = _statement(sp.Symbol("db1"), -BatchMean(DELTA_H), "gradient")
    assert lower.scaled_gradient(bias, CONTEXT).expr == BatchSum(DELTA_H)
    assert lower.scaled_gradient(_statement(DELTA_H, DELTA_Y), CONTEXT) is None


def test_stable_forms_rewrite_only_what_would_overflow_or_cancel():
    z = sp.Symbol("Z1", real=True)
    lowered = lower.stable_forms(_statement(v, sp.log(1 + sp.exp(z))), CONTEXT)
    assert lowered.expr == lower.stabilise.Softplus(z)
    assert lower.stable_forms(_statement(v, z**2), CONTEXT) is None


def test_fold_rate_drops_the_rate_and_says_what_the_gradient_holds():
    update = _statement(W1, W1 - LR * dW1, "update", rebinds=True)
    lowered = lower.fold_rate(update, CONTEXT)
    assert lowered.expr == W1 - dW1 and lowered.held == ((dW1, LR),)
    assert lower.fold_rate(update, dataclasses.replace(CONTEXT, rate=None)) is None
    assert lower.fold_rate(_statement(DELTA_H, DELTA_Y), CONTEXT) is None


@pytest.mark.parametrize(
    ("rhs", "steps"),
    [
        (W1 - dW1, (("-=", dW1),)),
        (
            sp.Symbol("mu", positive=True) * W1 - dW1,
            (("*=", sp.Symbol("mu", positive=True)), ("-=", dW1)),
        ),
        (W1 + dW1, (("+=", dW1),)),
        (W1**2 - dW1, None),
        (dW1 * W1, None),
    ],
)
def test_update_in_place_needs_a_linear_rebinding(rhs, steps):
    lowered = lower.update_in_place(
        _statement(W1, rhs, "update", rebinds=True), CONTEXT
    )
    assert (lowered and lowered.in_place) == steps
    assert lower.update_in_place(_statement(W1, rhs, "update"), CONTEXT) is None


def test_every_rule_belongs_to_one_phase_and_phases_run_in_order():
    names = [name for name, _ in lower.PHASES]
    assert names == ["canonicalise", "stabilise", "weigh", "specialise"]
    rules = [rule for _, phase in lower.PHASES for rule in phase]
    assert len(rules) == len(set(rules))
    # the scaled output error is stabilised after scaling: the whole line is one stable form
    z = sp.Symbol("Z2", real=True)
    statement = lower.rewrite(_statement(DELTA_Y, T - 1 / (1 + sp.exp(-z))), CONTEXT)
    assert statement.factor == -SCALE * WEIGHTS / N
    assert not statement.expr.has(sp.Pow(1 + sp.exp(-z), -1))


def test_weights_multiply_each_samples_loss_and_output_error_not_the_regulariser():
    loss_term = BatchLoss(T - A2) + 2 * ElementSum(W1**2)
    weighted = lower.weighted_loss(
        _statement(sp.Symbol("L"), loss_term, "loss"), CONTEXT
    )
    assert weighted.expr == BatchLoss(WEIGHTS * (T - A2)) + 2 * ElementSum(W1**2)
    delta = lower.weighted_output_error(_statement(DELTA_Y, T - A2), CONTEXT)
    assert delta.expr == WEIGHTS * (T - A2) and delta.factor == WEIGHTS
    assert lower.weighted_output_error(_statement(DELTA_H, T - A2), CONTEXT) is None
    assert lower.weighted_loss(_statement(DELTA_Y, T - A2), CONTEXT) is None


def test_a_program_has_every_derived_equation_once_in_its_function():
    derivation = sb.derive(SMALL)
    program = lower.lower(derivation)
    sources = [s.source for _, statements in program.functions for s in statements]
    assert sources == list(derivation.equations)
    assert [name for name, _ in program.functions] == list(FUNCTIONS)
    assert [s.target.name for s in program.function("loss")] == ["L"]
