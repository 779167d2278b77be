"""Named activations, losses and regularisers: each is one SymPy expression, its own documentation.

Parameterised entries are functions taking their parameters as keyword arguments
(``leaky_relu(alpha=0.2)``); by name (``"leaky_relu"``) they take their defaults.
"""

from __future__ import annotations

import sympy as sp

from ..errors import SpecError
from ..expressions.algebra import RowSum, StopGradient
from ..expressions.symbols import t, w, y, z
from . import formula
from .functions import Activation, Loss, Regularizer, number, positive

#: PReLU's learnable slope (one per unit)
alpha = sp.Symbol("alpha", real=True)

#: SELU's constants (Klambauer et al. 2017), to double precision
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def stop_gradient(expr: sp.Expr) -> sp.Expr:
    """``expr`` in value, a constant to differentiation (for straight-through estimators)."""
    return StopGradient(expr)


def leaky_relu(alpha: float = 0.01) -> Activation:
    """max(z, αz): slope α for negative inputs."""
    slope = number(alpha, "leaky_relu.alpha")
    return Activation(
        "leaky_relu",
        sp.Piecewise((z, z > 0), (slope * z, True)),
        settings=(("alpha", alpha),),
    )


def prelu(init: float = 0.25) -> Activation:
    """Leaky ReLU whose slope α is learned, one per unit, starting at ``init``."""
    return Activation(
        "prelu",
        sp.Piecewise((z, z > 0), (alpha * z, True)),
        learnable=((alpha, float(number(init, "prelu.init"))),),
        settings=(("init", init),) if init != 0.25 else (),
    )


def elu(alpha: float = 1.0) -> Activation:
    """z for z > 0, α(eᶻ − 1) otherwise."""
    scale = number(alpha, "elu.alpha")
    return Activation(
        "elu",
        sp.Piecewise((z, z > 0), (scale * (sp.exp(z) - 1), True)),
        settings=(("alpha", alpha),) if alpha != 1.0 else (),
    )


def huber(delta: float = 1.0) -> Loss:
    """½(y − t)² within δ of the target, δ(|y − t| − δ/2) beyond."""
    d = positive(delta, "huber.delta")
    u = y - t
    return Loss(
        "huber",
        sp.Piecewise((u**2 / 2, sp.Abs(u) <= d), (d * (sp.Abs(u) - d / 2), True)),
        settings=(("delta", delta),) if delta != 1.0 else (),
    )


def _penalty(name: str, lam: float, expr: sp.Expr) -> Regularizer:
    strength = number(lam, f"{name}.lam")
    if strength < 0:
        raise SpecError(f"{name}.lam must be ≥ 0, got {lam!r}")
    return Regularizer(name, strength * expr, settings=(("lam", lam),))


def L2(lam: float) -> Regularizer:
    """λ Σ w² over every weight (weight decay; biases are not penalised)."""
    return _penalty("L2", lam, w**2)


def L1(lam: float) -> Regularizer:
    """λ Σ |w| over every weight (biases are not penalised)."""
    return _penalty("L1", lam, sp.Abs(w))


_step = sp.Piecewise((1, z > 0), (0, True))

ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("identity", z),
        Activation("sigmoid", 1 / (1 + sp.exp(-z))),
        Activation("tanh", sp.tanh(z)),
        Activation("relu", sp.Piecewise((z, z > 0), (0, True))),
        Activation("softmax", sp.exp(z) / RowSum(sp.exp(z)), min_units=2),
        # the step's derivative is taken as 1 (straight-through estimator, Bengio et al. 2013)
        Activation("threshold", z + StopGradient(_step - z)),
        leaky_relu(),
        prelu(),
        elu(),
        Activation(
            "selu",
            sp.Piecewise(
                (SELU_SCALE * z, z > 0),
                (sp.Float(SELU_SCALE * SELU_ALPHA) * (sp.exp(z) - 1), True),
            ),
        ),
        Activation("softplus", sp.log(1 + sp.exp(z))),
        Activation("softsign", z / (1 + sp.Abs(z))),
        Activation("swish", z / (1 + sp.exp(-z))),
        Activation("gelu", z * (1 + sp.erf(z / sp.sqrt(2))) / 2),
        Activation("mish", z * sp.tanh(sp.log(1 + sp.exp(z)))),
        Activation(
            "hard_sigmoid",
            sp.Piecewise((0, z <= -3), (1, z >= 3), (z / 6 + sp.Rational(1, 2), True)),
        ),
        Activation("exponential", sp.exp(z)),
    )
}
ACTIVATION_ALIASES = {"linear": "identity", "silu": "swish", "step": "threshold"}

LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("mse", (t - y) ** 2),
        # the quadratic cost C = ½‖y − a‖² (Nielsen, ch. 1)
        Loss("half_sse", (y - t) ** 2 / 2),
        Loss("mae", sp.Abs(y - t)),
        huber(),
        Loss("log_cosh", sp.log(sp.cosh(y - t))),
        Loss(
            "binary_crossentropy",
            -(t * sp.log(y) + (1 - t) * sp.log(1 - y)),
            task="binary",
            targets="probability",
        ),
        Loss(
            "categorical_crossentropy",
            -t * sp.log(y),
            task="multiclass",
            min_units=2,
            targets="probability",
        ),
        Loss(
            "sparse_categorical_crossentropy",
            -t * sp.log(y),
            task="multiclass",
            min_units=2,
            targets="labels",
        ),
        Loss("kl_divergence", t * sp.log(t / y), targets="probability"),
        Loss("poisson", y - t * sp.log(y), targets="nonnegative"),
        Loss(
            "hinge",
            sp.Piecewise((1 - t * y, t * y < 1), (0, True)),
            task="sign",
            targets="sign",
        ),
        Loss(
            "squared_hinge",
            sp.Piecewise(((1 - t * y) ** 2, t * y < 1), (0, True)),
            task="sign",
            targets="sign",
        ),
    )
}

# user formulas may call the element-wise entries by name: 2*softplus(z), binary_crossentropy(y, t)
formula.name_functions(
    {
        **{
            name: (act.expr, (z,))
            for name, act in ACTIVATIONS.items()
            if not act.is_vector and not act.learnable
        },
        **{name: (loss.expr, (y, t)) for name, loss in LOSSES.items()},
    }
)


def known_names(kind: str) -> frozenset[str]:
    """Every name the catalog gives an activation, loss or regulariser, aliases included: a
    spec's own entry may take none of them."""
    names = {
        "activation": (*ACTIVATIONS, *ACTIVATION_ALIASES),
        "loss": tuple(LOSSES),
        "regularizer": ("L1", "L2"),
    }
    return frozenset(names[kind])


def activation(spec: str | Activation, field: str = "activation") -> Activation:
    """The catalog activation named ``spec`` (or ``spec`` itself if already an ``Activation``)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        name = ACTIVATION_ALIASES.get(spec, spec)
        if name in ACTIVATIONS:
            return ACTIVATIONS[name]
    known = ", ".join(sorted([*ACTIVATIONS, *ACTIVATION_ALIASES]))
    raise SpecError(f"{field}: unknown activation {spec!r}; known activations: {known}")


def loss(spec: str | Loss, field: str = "loss") -> Loss:
    """The catalog loss named ``spec`` (or ``spec`` itself if already a ``Loss``)."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str) and spec in LOSSES:
        return LOSSES[spec]
    raise SpecError(
        f"{field}: unknown loss {spec!r}; known losses: {', '.join(sorted(LOSSES))}"
    )
