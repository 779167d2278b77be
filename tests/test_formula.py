"""Formula strings: a whitelist parser turns them into SymPy; anything else is refused and
nothing in them is ever run."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.expressions.symbols import t, w, y, z
from symbackprop.spec import formula
from symbackprop.spec.catalog import ACTIVATIONS, LOSSES

from .reference import random_batch


def _parse(text, symbols=(z,)):
    return formula.parse(text, symbols, "Activation 'f'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("z*tanh(softplus(z))", z * sp.tanh(sp.log(1 + sp.exp(z)))),
        ("sigmoid(z)", ACTIVATIONS["sigmoid"].expr),
        ("where(z > 0, z, 0.2*z)", sp.Piecewise((z, z > 0), (sp.Float(0.2) * z, True))),
        (
            "where(-1 <= z < 1, z, 0)",
            sp.Piecewise((z, sp.And(z >= -1, z < 1)), (0, True)),
        ),
        (
            "where(z < -1 or z > 1, 1, z**2)",
            sp.Piecewise((1, (z < -1) | (z > 1)), (z**2, True)),
        ),
        ("(sqrt(z**2 + 1) - 1)/2 + z", (sp.sqrt(z**2 + 1) - 1) / 2 + z),
        ("-pi*e + abs(z)", -sp.pi * sp.E + sp.Abs(z)),
        ("2**-3 * z", z / 8),
        ("exp(z)/row_sum(exp(z))", ACTIVATIONS["softmax"].expr),
        ("z + stop_gradient(where(z > 0, 1, 0) - z)", ACTIVATIONS["threshold"].expr),
    ],
)
def test_formula_means_the_sympy_expression(text, expected):
    assert _parse(text) == expected


def test_a_loss_formula_may_call_the_catalog_losses():
    parsed = formula.parse("binary_crossentropy(y, t) + (y - t)**2", (y, t), "Loss 'l'")
    assert parsed == LOSSES["binary_crossentropy"].expr + (y - t) ** 2


SENTINEL = "symbackprop_formula_was_run"

HOSTILE = [
    (
        f"__import__('os').system('touch {SENTINEL}')",
        "only named functions may be called",
    ),
    (f"__import__('pathlib').Path('{SENTINEL}').touch()", "only named functions"),
    ("__import__('os')", "unknown function '__import__'"),
    (f"open('{SENTINEL}', 'w')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("z.__class__.__mro__", "attribute access is not allowed"),
    ("exp.__globals__", "attribute access is not allowed"),
    ("(lambda: 1)()", "only named functions may be called, not a lambda"),
    ("lambda z: z", "a lambda is not allowed"),
    ("[c for c in ()]", "a ListComp is not allowed"),
    ("z[0]", "subscripting is not allowed"),
    ("(z := 1)", "an assignment expression is not allowed"),
    ("z if z > 0 else 0", "use where(condition, a, b)"),
    ("f'{z}'", "a JoinedStr is not allowed"),
    ("'z'", "'z' is not a number"),
    ("b'z'", "b'z' is not a number"),
    ("True", "True is not a number"),
    ("1j*z", "1j is not a number"),
    ("9**9**9", "the exponent 387420489 is larger than 100"),
    ("z**1000", "the exponent 1000 is larger than 100"),
    ("10**(10**10)", "the exponent 10000000000 is larger than 100"),
    ("(10**99)**99", "beyond floating point"),
    ("1e308*10", "beyond floating point"),
    ("1e999", "inf is not a finite number"),
    ("z + exp(1000)", "the number exp(1000) is beyond floating point"),
    ("1/0", "it is not a finite expression (it is zoo)"),
    ("sigmoid(z, 2)", "sigmoid() does not take 2 argument(s)"),
    ("sigmoid(z=1)", "takes plain positional arguments only"),
    ("exp(*z)", "takes plain positional arguments only"),
    ("prelu(z)", "unknown function 'prelu'"),
    ("softmax(z)", "unknown function 'softmax'"),
    ("q * z", "unknown name 'q'; a formula may use e, pi, z"),
    ("where(z, 1, 0)", "a where() condition is a comparison"),
    ("where(z > 0, 1)", "where() takes (condition, value if true, value if not)"),
    ("z > 0", "a comparison outside where()"),
    ("z @ z", "the operator MatMult is not allowed"),
    ("z // 2", "the operator FloorDiv is not allowed"),
    ("not z", "the operator Not is not allowed"),
    ("z +", "not a formula (invalid syntax)"),
    ("z; import os", "not a formula"),
    ("(" * 300 + "z" + ")" * 300, "not a formula (too many nested parentheses)"),
    ("-" * 999 + "z", "more than 400 parts"),
    ("z" + "+z" * 600, "longer than 1000 characters"),
    ("+".join(["z"] * 450), "more than 400 parts"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_hostile_formula_is_refused_and_nothing_runs(
    text, message, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("a formula string reached sympify")

    monkeypatch.setattr(sp, "sympify", never)
    with pytest.raises(sb.SpecError) as error:
        _parse(text)
    assert message in str(error.value)
    assert str(error.value).startswith("Activation 'f': formula ")
    assert not (tmp_path / SENTINEL).exists()


def test_a_formula_must_be_a_string():
    with pytest.raises(sb.SpecError, match=r"a formula must be a string, got 3"):
        formula.parse(3, (z,), "Activation 'f'")


def test_formula_strings_work_wherever_an_expression_does():
    act = sb.Activation("pswish", "z*sigmoid(beta*z)", learnable={"beta": 1.0})
    loss = sb.Loss("half_sse_l1", "(y - t)**2/2 + 0.1*abs(y - t)")
    reg = sb.Regularizer("elastic", "0.01*w**2 + 0.001*abs(w)")
    assert act.learnable[0][0].name == "beta"
    assert reg.expr == sp.Float(0.01) * w**2 + sp.Float(0.001) * sp.Abs(w)
    network = sb.Network("n", 2, [sb.Dense(3, act), sb.Dense(1)], loss, reg)
    module = sb.build(network)
    X, T = random_batch(network, 6, np.random.default_rng(0))
    assert module.check_gradients(module.init_params(0), X, T) < 1e-6


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_formula_or_a_spec_error(text):
    try:
        result = _parse(text)
    except sb.SpecError:
        return
    assert isinstance(result, sp.Expr)
    assert result.free_symbols <= {z}


_leaf = st.one_of(
    st.just(("z", z)),
    st.integers(-9, 9).map(lambda n: (f"({n})", sp.Integer(n))),
)


def _combine(children):
    unary = st.sampled_from(["exp", "tanh", "sigmoid", "softplus", "abs"])
    return st.one_of(
        st.tuples(children, st.sampled_from("+-*"), children).map(
            lambda c: (f"({c[0][0]} {c[1]} {c[2][0]})", _apply(c[1], c[0][1], c[2][1]))
        ),
        st.tuples(unary, children).map(
            lambda c: (f"{c[0]}({c[1][0]})", _call(c[0], c[1][1]))
        ),
    )


def _apply(op, a, b):
    return {"+": a + b, "-": a - b, "*": a * b}[op]


def _call(name, arg):
    if name in ACTIVATIONS:
        return ACTIVATIONS[name].expr.xreplace({z: arg})
    return {"exp": sp.exp, "tanh": sp.tanh, "abs": sp.Abs}[name](arg)


@settings(max_examples=200, deadline=None)
@given(st.recursive(_leaf, _combine, max_leaves=12), st.sampled_from([-1.3, 0.4, 2.2]))
def test_generated_formulas_evaluate_as_their_expression(case, point):
    text, expected = case
    try:
        parsed = _parse(text)
    except sb.SpecError as error:  # exp(exp(7)): refused, a float64 cannot hold it
        assert "beyond floating point" in str(error)
        constants = [
            c for c in expected.atoms(sp.Function, sp.Pow) if not c.free_symbols
        ]
        assert any(not math.isfinite(complex(c.evalf()).real) for c in constants)
        return
    got = complex(parsed.evalf(subs={z: point}))
    want = complex(expected.evalf(subs={z: point}))
    assert math.isclose(got.real, want.real, rel_tol=1e-9, abs_tol=1e-9)
