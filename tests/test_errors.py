"""Bad specs fail at construction with a message naming the field and the value."""

import keyword
import re

import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.spec.files import load_networks
from symbackprop.spec.optimizers import GRAD, LR, LR_K, THETA, K


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
            lambda: _net(layers=[sb.Dense(1, "relu")], loss="binary_crossentropy"),
            (
                "Network.loss: 'binary_crossentropy' needs outputs in (0, 1), but the output "
                "activation 'relu' gives 0 at z = -3.7; use an output activation such as "
                "sigmoid, softmax"
            ),
        ),
        (
            lambda: _net(layers=[sb.Dense(1, "tanh")], loss="binary_crossentropy"),
            (
                "'binary_crossentropy' needs outputs in (0, 1), but the output activation 'tanh' "
                "gives -0.9988 at z = -3.7"
            ),
        ),
        (
            lambda: _net(layers=[sb.Dense(1, "softplus")], loss="binary_crossentropy"),
            "the output activation 'softplus' gives 1.037 at z = 0.6",
        ),
        (
            lambda: _net(layers=[sb.Dense(3, "identity")]),
            (
                "Network.loss: 'categorical_crossentropy' needs outputs in (0, ∞), but the "
                "output activation 'identity' gives -3.700 at z = -3.7"
            ),
        ),
        (
            lambda: _net(layers=[sb.Dense(2, "relu")], loss="poisson"),
            "'poisson' needs outputs in (0, ∞), but the output activation 'relu' gives 0",
        ),
        (
            lambda: _net(name="ﬁt"),
            "Network.name must be a Python identifier as Python reads it: 'ﬁt' is read as 'fit'",
        ),
        (
            lambda: sb.Activation("f", "z +"),
            "Activation 'f': formula 'z +': not a formula (invalid syntax)",
        ),
        (
            lambda: sb.Loss("l", "(y - t)**2 + os"),
            (
                "Loss 'l': formula '(y - t)**2 + os' at 'os': unknown name 'os'; a formula may use "
                "e, pi, t, y"
            ),
        ),
        (lambda: sb.SGD(lr=-0.1), "SGD.lr must be positive, got -0.1"),
        (lambda: sb.SGD(momentum=-0.5), "SGD.momentum must be in [0.0, 1.0), got -0.5"),
        (lambda: sb.Adam(eps=-1e-8), "Adam.eps must be positive, got -1e-08"),
        (
            lambda: sb.Adam(lr=float("nan")),
            "Adam.lr must be a finite real number, got nan",
        ),
        (
            lambda: _net(layers=["dense"]),
            "Network.layers[0] must be a Dense layer, a Dropout, a BatchNorm or an ActivationLayer, got 'dense'",
        ),
        (
            lambda: sb.Dropout(1.0),
            (
                "Dropout.rate must be a number in [0, 1) (the fraction of entries "
                "dropped), got 1.0"
            ),
        ),
        (lambda: sb.Dropout(-0.1), "Dropout.rate must be a number in [0, 1)"),
        (
            lambda: _net(
                layers=[
                    sb.Dense(3, sb.Activation("scaled", "M*z", learnable={"M": 1.0})),
                    sb.Dropout(0.5),
                    sb.Dense(2, "softmax"),
                ]
            ),
            (
                "Network.layers: learnable parameter 'M' of layer 1 and the mask of the "
                "Dropout after layer 1 would both be named 'M1' in the generated module"
            ),
        ),
        (lambda: sb.Dropout(float("nan")), "got nan"),
        (lambda: sb.Dropout("0.5"), "got '0.5'"),
        (lambda: sb.Dropout(True), "got True"),
        (
            lambda: _net(layers=[sb.Dense(3, "relu"), sb.Dropout(0.5)]),
            "Network.layers[1]: the output layer must be Dense, got Dropout(0.5)",
        ),
        (
            lambda: _net(layers=[sb.Dropout(0.5)]),
            "Network.layers[0]: the output layer must be Dense, got Dropout(0.5)",
        ),
        (
            lambda: _net(
                layers=[sb.Dropout(0.1), sb.Dropout(0.2), sb.Dense(2, "softmax")]
            ),
            (
                "Network.layers[1]: Dropout(0.2) follows another Dropout; use one "
                "Dropout of rate 1 − (1 − p)(1 − q) instead"
            ),
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
        (
            lambda: sb.Regularizer("bad", sb.w**2 + sb.z),
            "Regularizer 'bad': expression w**2 + z uses ['z']",
        ),
        (
            lambda: sb.Activation("sign", sp.sign(sb.z)),
            (
                "Activation 'sign': sign(z) is not differentiable where it matters: its "
                "derivative with respect to z is 2*DiracDelta(z)"
            ),
        ),
        (
            lambda: sb.Activation("mystery", sp.Function("f")(sb.z)),
            "Activation 'mystery': SymPy cannot differentiate f(z) with respect to z",
        ),
        (
            lambda: sb.Activation("step", sp.Piecewise((1, sb.z > 0), (0, True))),
            (
                "Activation 'step': the derivative of Piecewise((1, z > 0), (0, True)) with "
                "respect to z is 0 everywhere"
            ),
        ),
        # a loss the output does not move, a penalty the weights do not: the module would
        # train nothing (and a constant's sum over the weights was not code)
        (
            lambda: sb.Loss("constant", sp.Integer(3)),
            (
                "Loss 'constant': the derivative of 3 with respect to y is 0 everywhere, so "
                "no gradient reaches the network: a loss must depend on the output y"
            ),
        ),
        (
            lambda: sb.Loss("targets_only", sb.t**2),
            "Loss 'targets_only': the derivative of t**2 with respect to y is 0 everywhere",
        ),
        (
            lambda: sb.Regularizer("constant", sp.Integer(3)),
            (
                "Regularizer 'constant': the derivative of 3 with respect to w is 0 "
                "everywhere, so it changes the loss but no gradient; leave regularizer=None"
            ),
        ),
        (
            lambda: sb.Regularizer("steps", sp.Piecewise((1, sb.w > 0), (2, True))),
            "Regularizer 'steps': the derivative of Piecewise",
        ),
        (
            lambda: sb.Activation("root", sp.sqrt(sb.z)),
            "Activation 'root': the value sqrt(z) is not real and finite at z = -3.7",
        ),
        # undefined between the probes: SymPy's continuous_domain finds where
        (
            lambda: sb.Activation("shifted_root", sp.sqrt(sb.z + 4)),
            (
                "Activation 'shifted_root': the value sqrt(z + 4) is not real and finite at "
                "z = -5 (SymPy finds it continuous on Interval(-4, oo) only)"
            ),
        ),
        (
            lambda: sb.Activation("arcsine", sp.asin(sb.z / 5)),
            "Activation 'arcsine': the value asin(z/5) is not real and finite at z = -6",
        ),
        (
            lambda: sb.Activation("pole", sb.z + 1 / (sb.z - sp.Rational(1, 2))),
            "Activation 'pole': the value z + 1/(z - 1/2) is not real and finite at z = 1/2",
        ),
        (
            lambda: sb.Activation("tangent", sp.tan(sb.z)),
            "Activation 'tangent': the value tan(z) is not real and finite at z = pi/2",
        ),
        (
            lambda: _net(
                layers=[sb.Dense(1)],
                loss=sb.Loss("shifted", (sb.y - sb.t) ** 2 + sp.sqrt(sb.y + 4)),
            ),
            (
                "Network.loss: 'shifted' needs outputs in [-4, ∞), but the output activation "
                "'identity' gives -5.000 at z = -5.0"
            ),
        ),
        (
            lambda: _net(
                layers=[sb.Dense(1, "tanh")],
                loss=sb.Loss(
                    "pole", (sb.y - sb.t) ** 2 + 1 / (sb.y - sp.Rational(1, 3))
                ),
            ),
            "but the output activation 'tanh' gives 0.3333 at z = 0.34657359027997264",
        ),
        # complex formulas: float64 probes would see only their real part
        (
            lambda: sb.Activation("euler", sp.exp(sp.I * sb.z) + sp.exp(-sp.I * sb.z)),
            "Activation 'euler': exp(I*z) + exp(-I*z) holds the imaginary unit I",
        ),
        (
            lambda: sb.Activation("shifted", sb.z + sp.I),
            "Activation 'shifted': z + I holds the imaginary unit I",
        ),
        (
            lambda: sb.Regularizer("imaginary", sp.I * sb.w**2),
            "Regularizer 'imaginary': I*w**2 holds the imaginary unit I, and a formula must be real",
        ),
        (
            lambda: sb.Schedule("spin", LR * sp.exp(sp.I * K), ()),
            "Schedule 'spin': lr*exp(I*k) holds the imaginary unit I",
        ),
        # functions NumPy has no element-wise form of: named, not called non-finite
        (
            lambda: sb.Activation("bessel", sp.besselj(0, sb.z) + sb.z),
            (
                "Activation 'bessel': besselj in z + besselj(0, z) has no element-wise NumPy "
                "function, and a generated module computes with NumPy alone"
            ),
        ),
        (
            lambda: sb.Loss("sine_integral", (sb.y - sb.t) ** 2 + sp.Si(sb.y)),
            "Loss 'sine_integral': Si in (-t + y)**2 + Si(y) has no element-wise NumPy",
        ),
        (
            lambda: sb.Loss("gamma", sp.gamma(sb.y**2 + 1) * (sb.y - sb.t) ** 2),
            "Loss 'gamma': gamma in (-t + y)**2*gamma(y**2 + 1) has no element-wise NumPy",
        ),
        (
            lambda: sb.Regularizer("si", sp.Si(sb.w) ** 2),
            "Regularizer 'si': Si in Si(w)**2 has no element-wise NumPy function",
        ),
        (
            lambda: sb.Schedule("gamma", LR * sp.gamma(K + 1) / sp.gamma(K + 2), ()),
            "Schedule 'gamma': gamma in lr*gamma(k + 1)/gamma(k + 2) has no element-wise",
        ),
        (
            lambda: sb.Activation("logz", sp.log(sp.Abs(sb.z))),
            "Activation 'logz': the value log(Abs(z)) is not real and finite at z = 0.0",
        ),
        (
            lambda: sb.Activation("text", ["z"]),
            (
                "Activation 'text': the expression must be a SymPy expression or a formula "
                "string in z, got ['z']"
            ),
        ),
        (
            lambda: sb.Loss("zero_one", sp.Heaviside(sb.y - sb.t)),
            "Loss 'zero_one': Heaviside(-t + y) is not differentiable where it matters",
        ),
        (
            lambda: sb.Activation(
                "bad", sb.z * sp.Symbol("W"), learnable={sp.Symbol("W"): 1.0}
            ),
            "Activation 'bad': learnable parameter W must be a SymPy Symbol (or a name) made of",
        ),
        (
            lambda: sb.Activation(
                "softer", sb.z / sp.Symbol("k") + 0 * sp.Symbol("k"), learnable={}
            ),
            "Activation 'softer': expression z/k uses ['k']",
        ),
        (
            lambda: sb.leaky_relu(alpha="0.2"),
            "leaky_relu.alpha must be a finite real number, got '0.2'",
        ),
        (
            lambda: sb.elu(alpha=float("nan")),
            "elu.alpha must be a finite real number, got nan",
        ),
        (lambda: sb.huber(delta=0), "huber.delta must be positive, got 0"),
        (lambda: sb.L2(-0.1), "L2.lam must be ≥ 0, got -0.1"),
        (
            lambda: sb.L1(float("inf")),
            "L1.lam must be a finite real number, got inf",
        ),
        (
            lambda: _net(regularizer="l2"),
            "Network.regularizer must be a Regularizer such as sb.L2(0.01) or None, got 'l2'",
        ),
        (
            lambda: sb.Loss("odd", (sb.y - sb.t) ** 2, task="ranking"),
            (
                "Loss 'odd': task must be one of regression, binary, multiclass, sign, "
                "got 'ranking'"
            ),
        ),
        (
            lambda: sb.Loss("odd", (sb.y - sb.t) ** 2, targets="ints"),
            (
                "Loss 'odd': targets must be one of real, probability, nonnegative, sign, "
                "labels, got 'ints'"
            ),
        ),
        (
            lambda: _net(optimizer="adamw"),
            (
                "Network.optimizer must be an optimiser such as sb.SGD(lr=0.1) or one of "
                "sgd, adam, rmsprop, adagrad, got 'adamw'"
            ),
        ),
        (lambda: sb.SGD(lr=0), "SGD.lr must be positive, got 0"),
        (
            lambda: sb.SGD(lr=float("inf")),
            "SGD.lr must be a finite real number, got inf",
        ),
        (lambda: sb.SGD(momentum=1.0), "SGD.momentum must be in [0.0, 1.0), got 1.0"),
        (
            lambda: sb.SGD(nesterov=True),
            "SGD.nesterov needs a momentum > 0, got momentum=0.0",
        ),
        (lambda: sb.Adam(beta1=1.2), "Adam.beta1 must be in [0.0, 1.0), got 1.2"),
        (lambda: sb.Adam(beta2=-0.1), "Adam.beta2 must be in [0.0, 1.0), got -0.1"),
        (lambda: sb.Adam(eps=0), "Adam.eps must be positive, got 0"),
        (
            lambda: sb.RMSprop(rho="x"),
            "RMSprop.rho must be a finite real number, got 'x'",
        ),
        (lambda: sb.Adagrad(decay=-1), "Adagrad.decay must be ≥ 0, got -1"),
        (
            lambda: sb.Adam(decay=0.1, schedule=sb.step_decay()),
            "Adam: give decay=0.1 or schedule=step_decay(drop=0.5, every=1000), not both",
        ),
        (
            lambda: sb.SGD(schedule=0.5),
            "SGD.schedule must be a schedule such as sb.step_decay(0.5, every=1000), got 0.5",
        ),
        (lambda: sb.step_decay(drop=0), "step_decay.drop must be in (0, 1], got 0"),
        (
            lambda: sb.step_decay(every=2.5),
            "step_decay.every must be a positive integer, got 2.5",
        ),
        (
            lambda: sb.exponential_decay(rate=1.5),
            "exponential_decay.rate must be in (0, 1], got 1.5",
        ),
        (
            lambda: sb.Dense(3, init="xavier"),
            (
                "Dense.init must be one of glorot_uniform, glorot_normal, he_uniform, he_normal, "
                "lecun_normal, normal_fan_in, uniform_fan_in, zeros, got 'xavier'"
            ),
        ),
        (lambda: _net(init=None), "Network.init must be one of glorot_uniform"),
        (
            lambda: _net(dtype="float16"),
            "Network.dtype must be one of float64, float32, got 'float16'",
        ),
        # a module name that would shadow what scripts import, or that cannot be imported
        *(
            (
                lambda name=name: _net(name=name),
                (
                    f"Network.name cannot be {name!r}: a module {name}.py beside a script would "
                    "be imported in place of"
                ),
            )
            for name in ("numpy", "math", "random", "types", "symbackprop")
        ),
        (
            lambda: _net(name="__debug__"),
            "Network.name cannot be '__debug__': dunder names belong to Python",
        ),
        (
            lambda: _net(name="__init__"),
            "Network.name cannot be '__init__': dunder names belong to Python",
        ),
        (lambda: _net(name="NUL"), "Windows reserves 'NUL' for a device"),
        (lambda: _net(name="com1"), "Windows reserves 'com1' for a device"),
        (
            lambda: _net(name="n" * 101),
            "Network.name must be at most 100 characters (it names the module's file), got 101",
        ),
        (
            lambda: sb.Activation("f", "z", min_units="two"),
            "Activation 'f': min_units must be a positive integer, got 'two'",
        ),
        (
            lambda: sb.Loss("l", "(y - t)**2", targets=[]),
            (
                "Loss 'l': targets must be one of real, probability, nonnegative, sign, labels, "
                "got []"
            ),
        ),
        (
            lambda: sb.Activation("f", "z", settings=(("note", object),)),
            "Activation 'f': setting note must be a number, a string or None",
        ),
        # a custom optimiser's schedule acts through lr_k in its rules, and only there
        (
            lambda: sb.Optimizer(
                "mine", 0.1, ((THETA, THETA - LR * GRAD),), schedule=sb.step_decay()
            ),
            (
                "Optimizer 'mine': its rules use lr, so its schedule step_decay(drop=0.5, "
                "every=1000) would change nothing: write lr_k"
            ),
        ),
        (
            lambda: sb.Optimizer("mine", 0.1, ((THETA, THETA - LR_K * GRAD),)),
            "Optimizer 'mine': its rules use lr_k, the rate of a schedule, but it has none",
        ),
        # a setting named as a parameter: the setting is what to rename
        (
            lambda: _net(
                optimizer=sb.SGD(0.1, schedule=sb.Schedule("s", LR, (("W1", 0.5),)))
            ),
            (
                "W1 and the optimiser's setting W1 would both be named 'W1' in the generated "
                "module; rename the setting"
            ),
        ),
        # softmax's outputs sum to 1: a loss linear in them alone is a constant
        (
            lambda: sb.derive(_net(loss=sb.Loss("linear", "2*y/3 + t"))),
            (
                "Network 'n': the loss 'linear' summed over the outputs of 'softmax' is the same "
                "for every input (those outputs sum to 1), so δ_y = 0"
            ),
        ),
        # a sum over a row belongs to row-wise activations; Σ_k 1 is the layer's width
        (
            lambda: sb.Loss("l", "(y - t)**2 + row_sum(1)"),
            (
                "Loss 'l': (-t + y)**2 + RowSum(1) sums over a row (row_sum), and a loss is per "
                "output"
            ),
        ),
        (
            lambda: sb.Regularizer("r", "w**2 * row_sum(1)"),
            (
                "Regularizer 'r': w**2*RowSum(1) sums over a row (row_sum), and a penalty is per "
                "weight"
            ),
        ),
        (
            lambda: sb.build(
                _net(
                    layers=[
                        sb.Dense(
                            3, sb.Activation("centred", "z - row_sum(z)/row_sum(1)")
                        ),
                        sb.Dense(2, "softmax"),
                    ]
                )
            ),
            (
                "(it sums a constant over the row, Σ_k 1 = the number of units, so its Jacobian "
                "depends on the layer's width"
            ),
        ),
    ],
)
def test_bad_spec_names_field_and_value(make, message):
    with pytest.raises(sb.SpecError) as error:
        make()
    assert message in str(error.value)


def test_a_zero_penalty_is_no_penalty():
    """L2(0) and L1(0) (a strength a grid search may try) are the unpenalised network, while
    a nonzero constant penalty is refused above."""
    plain = sb.build(_net())
    X, T = np.ones((3, 2)), np.full((3, 2), 0.5)
    params = plain.init_params(0)
    for zero in (sb.L2(0), sb.L1(0.0), sb.Regularizer("nothing", sp.Integer(0))):
        module = sb.build(_net(regularizer=zero))
        assert module.loss(params, X, T) == plain.loss(params, X, T)


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(
        sb.SpecError,
        match="known activations: elu, exponential, gelu, .*, swish, tanh, threshold$",
    ):
        sb.Dense(3, activation="swishy")


def test_a_loss_undefined_inside_a_softmax_rows_range_is_refused_with_sound_advice():
    """A softmax unit, the others held, reaches any output in (0, 1): a pole at 1/3 is found
    there too. The advice names only activations SymPy shows the loss defined on (threshold
    gives 0 and 1), not those it cannot decide (swish, whose range holds 1/3)."""
    loss = sb.Loss("pole", (sb.y - sb.t) ** 2 + 1 / (sb.y - sp.Rational(1, 3)))
    for output in ("softmax", "identity"):
        with pytest.raises(sb.SpecError) as error:
            _net(layers=[sb.Dense(3, output)], loss=loss)
        message = str(error.value)
        assert f"the output activation {output!r} gives 0.3333 at z = " in message
        assert message.endswith("; use an output activation such as threshold")


def test_a_loss_undefined_only_where_the_output_never_goes_is_accepted():
    """√(y + 4) needs y ≥ −4: after sigmoid, tanh or relu the output never goes below."""
    loss = sb.Loss("shifted", (sb.y - sb.t) ** 2 + sp.sqrt(sb.y + 4))
    for output in ("sigmoid", "tanh", "relu"):
        assert _net(layers=[sb.Dense(1, output)], loss=loss).loss == loss


@pytest.mark.parametrize(
    "expr",
    [
        sb.z / (1 + sp.Abs(sb.z)),  # softsign: Abs
        sp.log(1 + sp.exp(sb.z)),  # softplus as written: large z is SymPy's to bound
        sp.acosh(sb.z**2 + 2),  # defined where its argument is at least 1: everywhere
        sb.z + sb.stop_gradient(sp.sign(sb.z) - sb.z),  # a jump at 0, defined there
        sp.log(1 + sb.z**2),
    ],
    ids=str,
)
def test_an_activation_defined_on_the_whole_line_is_accepted(expr):
    """The domain check refuses only a point where the value is not real and finite, not a
    jump, nor where SymPy's sets say nothing."""
    assert sb.Activation("fine", expr).expr == expr


def test_linear_is_an_alias_of_identity():
    assert sb.Dense(3, activation="linear").activation is sb.Dense(3).activation


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ('Network("one", 2, [Dense(1)])', "names two networks 'one'"),
        (
            'Network("One", 2, [Dense(1)])',
            "names networks 'one' and 'One', which differ only in case",
        ),
    ],
)
def test_two_networks_with_one_name_in_a_spec_file_are_refused(
    tmp_path, second, message
):
    spec = tmp_path / "spec.py"
    spec.write_text(
        "from symbackprop import Dense, Network\n"
        f'a = Network("one", 2, [Dense(1)])\nb = {second}\n',
        encoding="utf-8",
    )
    with pytest.raises(sb.SpecError) as error:
        load_networks(spec)
    assert f"spec file {str(spec)!r} {message}" in str(error.value)


def _every_kind_of_node(first, second, third):
    """A graph with each node that gets a numbered name (Add, Concatenate, ActivationLayer,
    Dropout, BatchNorm) and the given activations on its first three Dense layers."""
    x = sb.Input(3)
    h1 = sb.BatchNorm()(sb.Dense(4, first)(sb.Dropout(0.1)(x)))
    h2 = sb.Dropout(0.2)(sb.Dense(4, second)(h1))
    c = sb.Concatenate()([x, sb.Add()([h1, h2])])
    h = sb.ActivationLayer("relu")(sb.BatchNorm()(sb.Dense(4, third)(c)))
    return sb.Network(
        "every",
        inputs=x,
        outputs=sb.Dense(2, "softmax")(h),
        loss="categorical_crossentropy",
    )


def test_a_learnable_parameter_never_silently_shares_a_generated_name():
    """Named after anything the generated module numbers (harvested from its source:
    weights, masks, BatchNorm's values and statistics, junctions, gradients), a learnable
    parameter of any layer is refused with the clash named, or its module's gradients check
    out: never a module where two values share a name."""
    source = sb.generate(_every_kind_of_node("tanh", "tanh", "tanh"))
    prefixes = {
        prefix
        for prefix, _ in re.findall(r"\b([A-Za-z]+)([1-3])\b", source)
        if not keyword.iskeyword(prefix)
    }
    assert {"M", "B", "G", "S", "C", "H", "mu", "gamma", "W", "dW"} <= prefixes
    X = np.random.default_rng(0).normal(size=(12, 3))
    T = np.eye(2)[np.arange(12) % 2]
    for prefix in sorted(prefixes):
        symbol = sp.Symbol(prefix)
        for layer in range(3):
            activations = ["tanh"] * 3
            try:
                activations[layer] = sb.Activation(
                    f"scaled_{prefix}", symbol * sp.tanh(sb.z), learnable={symbol: 0.7}
                )
                module = sb.build(_every_kind_of_node(*activations))
            except sb.SpecError as error:
                assert re.search("would both be named|must be a SymPy", str(error))
                continue
            error = module.check_gradients(module.init_params(1), X, T)
            assert error < 1e-6, (prefix, layer + 1, error)
