"""Nothing a spec says can add code to a generated module: names are validated as identifiers,
free text is escaped. Property-based: arbitrary strings in every place text reaches the source.
"""

import ast
import functools

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.emit.codegen import one_line
from symbackprop.spec import optimizers
from symbackprop.spec.initializers import FAN_IN, Initializer
from symbackprop.spec.optimizers import THETA, Optimizer, Schedule

from .reference import random_batch

SLOW = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
#: identifiers from all of Unicode, including ones Python reads differently (NFKC)
IDENTIFIERS = st.from_regex(r"[^\W\d]\w{0,12}", fullmatch=True)
HOSTILE_TEXT = st.one_of(
    st.text(),
    st.sampled_from(
        [
            '"""\nimport os\nos.system("echo pwned")\n"""',
            "\nimport os  # ",
            "\r\nx = 1",
            "\\N{",
            "\\",
            "'''",
            "\x00",
            "\u202eevil",
            "\u2028y = 2",
        ]
    ),
)


class _Stringly:
    """A settings value whose repr is any text at all."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _Mask(ast.NodeTransformer):
    """Every string constant (docstrings, NAME, descriptions) made empty."""

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        return ast.Constant("") if isinstance(node.value, str) else node


def _shape(source: str) -> str:
    """The module's code with its strings masked: what it does, not what it says."""
    return ast.dump(_Mask().visit(ast.parse(source)))


def _top_level(source: str) -> list[str]:
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names.extend(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _network(name="benign", activation="tanh", loss="mse"):
    return sb.Network(name, 2, [sb.Dense(3, activation), sb.Dense(1)], loss)


@functools.cache
def _benign_shape() -> str:
    return _shape(sb.generate(_network()))


@SLOW
@given(st.one_of(st.text(), IDENTIFIERS))
def test_any_network_name_is_refused_or_changes_no_code(name):
    try:
        network = _network(name)
    except sb.SpecError as error:
        assert str(error).startswith("Network.name ")
        return
    source = sb.generate(network)
    assert _shape(source) == _benign_shape()
    namespace = {}
    exec(compile(source, "<test>", "exec"), namespace)  # noqa: S102
    assert namespace["NAME"] == name


def _noted(value):
    """The network with ``value`` among the settings of its hidden activation and its loss."""
    activation = sb.Activation("act", sp.tanh(sb.z), settings=(("note", value),))
    loss = sb.Loss("los", (sb.y - sb.t) ** 2, settings=(("note", value),))
    return _network(activation=activation, loss=loss)


@SLOW
@given(HOSTILE_TEXT, st.booleans())
def test_any_settings_text_changes_no_code(text, as_repr):
    if as_repr:  # an object that prints itself as anything is refused, not printed
        with pytest.raises(
            sb.SpecError, match="setting note must be a number, a string"
        ):
            _noted(_Stringly(text))
        return
    assert _shape(sb.generate(_noted(text))) == _noted_shape()


@functools.cache
def _noted_shape() -> str:
    return _shape(sb.generate(_noted("x")))


@SLOW
@given(st.one_of(st.text(max_size=8), IDENTIFIERS))
def test_any_learnable_name_is_refused_or_gives_a_module_that_checks(name):
    symbol = sp.Symbol(name, real=True) if name else name
    try:
        activation = sb.Activation(
            "scaled", symbol * sp.tanh(sb.z) if name else sb.z, learnable={symbol: 1.0}
        )
        network = _network(activation=activation)
    except sb.SpecError as error:
        assert "learnable parameter" in str(error)
        return
    source = sb.generate(network)
    assert _top_level(source) == _top_level(sb.generate(_network()))
    module = sb.build(network)
    assert module.PARAMS == ("W1", "b1", f"{name}1", "W2", "b2")
    X, T = random_batch(network, 5, np.random.default_rng(0))
    assert module.check_gradients(module.init_params(0), X, T) < 1e-6


@settings(max_examples=500)
@given(HOSTILE_TEXT)
def test_escaped_text_stays_inside_its_comment_or_docstring(text):
    safe = one_line(text)
    assert "\n" not in safe and "\r" not in safe
    comment = ast.parse(f"# {safe}\nx = 1\n")
    assert len(comment.body) == 1
    docstring = ast.parse(f'"""{safe} """\n')
    assert len(docstring.body) == 1
    assert isinstance(docstring.body[0].value.value, str)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: Initializer("x(): pass\nimport os\ndef y", "uniform", FAN_IN),
            "Initializer.name must be a Python identifier",
        ),
        (
            lambda: Initializer("mine", "laplace", FAN_IN),
            "Initializer 'mine': distribution must be one of uniform, normal, zeros",
        ),
        (
            lambda: Initializer("mine", "normal", sp.Symbol("os")),
            "Initializer 'mine': scale must be a SymPy expression in fan_in and fan_out",
        ),
        (
            lambda: Schedule("x = 1; y", optimizers.LR, ()),
            "Schedule.name must be a Python identifier",
        ),
        (
            lambda: Schedule("s", optimizers.LR, (("a, os", 1.0),)),
            "Schedule 's': setting name must be a Python identifier, got 'a, os'",
        ),
        (
            lambda: Optimizer("o", 0.1, ((THETA, THETA - sp.Symbol("os")),)),
            "Optimizer 'o': the rule for theta must be a SymPy expression in theta",
        ),
        (
            lambda: Optimizer("o", 0.1, (), settings=(("import os\nx", 1.0),)),
            "Optimizer 'o': setting name must be a Python identifier",
        ),
        (
            lambda: Optimizer("o", 0.1, (), settings=(("mu", float("nan")),)),
            "Optimizer 'o': setting mu must be a finite real number, got nan",
        ),
        (
            lambda: Optimizer("o", -1, ()),
            "Optimizer 'o': lr must be positive, got -1",
        ),
    ],
)
def test_objects_whose_names_become_code_refuse_non_identifiers(make, message):
    with pytest.raises(sb.SpecError) as error:
        make()
    assert message in str(error.value)


def test_a_name_python_reads_differently_is_refused_with_its_reading():
    with pytest.raises(sb.SpecError, match="'ﬁt' is read as 'fit'; write 'fit'"):
        _network("ﬁt")


def test_learnable_names_that_collide_in_the_module_are_refused():
    both = sb.Activation(
        "two", "dbeta*z*sigmoid(beta*z)", learnable={"dbeta": 1.0, "beta": 1.0}
    )
    with pytest.raises(sb.SpecError, match="'dbeta1' in the generated module"):
        _network(activation=both)
    beta = sb.Activation("sw", "z*sigmoid(beta*z)", learnable={"beta": 1.0})
    with pytest.raises(sb.SpecError, match="the optimiser's setting beta1"):
        sb.Network("n", 2, [sb.Dense(3, beta), sb.Dense(1)], optimizer="adam")


# --- values are written into modules only as exact built-ins ----------------------------------

PAYLOAD = "__import__('os').system('touch PWNED')"


class _EvilFloat(float):
    """A float whose repr, str and format are code."""

    def __repr__(self):
        return PAYLOAD

    __str__ = __repr__

    def __format__(self, spec):
        return PAYLOAD


class _EvilInt(int):
    def __repr__(self):
        return PAYLOAD

    __str__ = __repr__


class _EvilStr(str):
    def __repr__(self):
        return PAYLOAD

    __str__ = __repr__

    def __format__(self, spec):
        return PAYLOAD


def _payload_free(network, tmp_path, monkeypatch):
    source = sb.generate(network)
    assert "PWNED" not in source
    monkeypatch.chdir(tmp_path)
    module = sb.build(network)
    module.init_params(0)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "make",
    [
        lambda: _network(
            activation=sb.Activation(
                "scaled", "beta*tanh(z)", learnable={"beta": _EvilFloat(1.5)}
            )
        ),
        lambda: _network(activation=sb.prelu(init=_EvilFloat(0.3))),
        lambda: _network(activation=sb.leaky_relu(alpha=_EvilFloat(0.2))),
        lambda: sb.Network(
            "o", 2, [sb.Dense(1)], optimizer=sb.SGD(lr=_EvilFloat(0.1), momentum=0.5)
        ),
        lambda: sb.Network(
            "o",
            2,
            [sb.Dense(1)],
            optimizer=Optimizer(
                "plain",
                _EvilFloat(0.1),
                ((THETA, THETA - optimizers.LR * optimizers.GRAD),),
            ),
        ),
        lambda: sb.Network(
            "o",
            2,
            [sb.Dense(1)],
            optimizer=sb.SGD(
                schedule=sb.step_decay(_EvilFloat(0.5), every=_EvilInt(7))
            ),
        ),
        lambda: sb.Network(
            _EvilStr("plainname"), 2, [sb.Dense(_EvilInt(2)), sb.Dense(1)]
        ),
        lambda: _network(activation=sb.Activation(_EvilStr("act"), "tanh(z)")),
        lambda: sb.Network(
            "o",
            2,
            [sb.Dense(1)],
            loss=sb.Loss("l", "(y - t)**2", task=_EvilStr("regression")),
        ),
    ],
)
def test_a_value_that_prints_itself_as_code_reaches_no_module(
    make, tmp_path, monkeypatch
):
    _payload_free(make(), tmp_path, monkeypatch)


def test_a_learnable_name_that_is_a_letter_but_no_identifier_is_refused():
    symbol = sp.Symbol("\u2e2f")  # VERTICAL TILDE: isalpha(), not an identifier
    with pytest.raises(sb.SpecError, match="learnable parameter"):
        sb.Activation("tilde", symbol * sb.z, learnable={symbol: 1.0})


@pytest.mark.parametrize(
    "value",
    [
        _EvilFloat(1.0),
        _EvilInt(1),
        _EvilStr("x"),
        (1, _EvilStr("x")),
        float("nan"),
        object(),
    ],
)
def test_the_template_refuses_a_value_that_is_not_plain(value):
    from symbackprop.emit.codegen import literal

    with pytest.raises(TypeError, match="not a plain value"):
        literal(value)


def test_plain_values_print_as_python_reads_them():
    from symbackprop.emit.codegen import literal

    value = {"W1": (3, 2), "name": "n'\"x", "flags": [True, None, 0.1, -2]}
    assert eval(literal(value)) == value  # the literal under test
