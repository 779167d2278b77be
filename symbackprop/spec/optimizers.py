"""Optimisers and learning-rate schedules: their published update equations as SymPy expressions.

An optimiser's equations are written once over a generic parameter θ, its gradient dθ, its
state arrays (velocity, moments) and the step's learning rate; ``derive`` instantiates them per
parameter (θ → W1, dθ → dW1, m → m_W1). Hyperparameters stay symbols (β₁, ε) in the
derivation; the generated module binds them to the values given here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from ..errors import SpecError
from .functions import (
    check_computable,
    check_real,
    identifier,
    number,
    plain,
    positive,
    positive_int,
)

#: the generic parameter, its gradient, the base and the scheduled learning rate
THETA = sp.Symbol("theta", real=True)
GRAD = sp.Symbol("dtheta", real=True)
LR = sp.Symbol("lr", positive=True)
LR_K = sp.Symbol("lr_k", positive=True)
#: updates done before this one (0 for the first), as Keras' ``iterations``
K = sp.Symbol("k", integer=True, nonnegative=True)


#: the names of the rules' own symbols, which no setting may take
_RULE_SYMBOLS = {
    THETA.name: "a parameter",
    GRAD.name: "its gradient",
    LR.name: "the learning rate",
    LR_K.name: "the scheduled learning rate",
    K.name: "the update count",
}


def hyper(name: str) -> sp.Symbol:
    """The symbol of an optimiser's setting: positive, a scalar to the lowering."""
    return sp.Symbol(name, positive=True)


def _settings(owner: str, settings: object) -> tuple[tuple[str, float | int], ...]:
    """Hyperparameters as (identifier, finite number) pairs, made exact built-ins: they are
    bound by name in the generated module."""
    if not isinstance(settings, (tuple, list)) or not all(
        isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in settings
    ):
        raise SpecError(
            f"{owner}: settings must be (name, value) pairs, got {settings!r}"
        )
    checked = []
    for key, value in settings:
        name = identifier(key, f"{owner}: setting name")
        if name in _RULE_SYMBOLS:
            raise SpecError(
                f"{owner}: a setting cannot be named {name!r}, which the update rules "
                f"use for {_RULE_SYMBOLS[name]}"
            )
        number(value, f"{owner}: setting {name}")
        checked.append((name, plain(value, f"{owner}: setting {name}")))
    return tuple(checked)


def _symbol(symbol: object, field_: str) -> sp.Symbol:
    """A symbol whose name becomes a name in generated code: a plain identifier."""
    name = getattr(symbol, "name", None)
    if not isinstance(symbol, sp.Symbol) or type(name) is not str:
        raise SpecError(f"{field_} must be a SymPy Symbol, got {symbol!r}")
    identifier(name, field_)
    return symbol


def _check_range(value: object, field_: str, low: float, high: float) -> float:
    """``value`` as a float in [low, high), else a SpecError naming it."""
    result = float(number(value, field_))
    if not low <= result < high:
        raise SpecError(f"{field_} must be in [{low}, {high}), got {value!r}")
    return result


def _fraction(value: object, field_: str) -> float:
    """``value`` as a float in (0, 1], else a SpecError naming it."""
    result = float(number(value, field_))
    if not 0 < result <= 1:
        raise SpecError(f"{field_} must be in (0, 1], got {value!r}")
    return result


@dataclass(frozen=True)
class Schedule:
    """A learning rate per update: ``expr`` in the base rate ``lr``, the update count ``k`` and
    the symbols of ``settings`` (name → value)."""

    name: str
    expr: sp.Expr
    settings: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", identifier(self.name, "Schedule.name"))
        owner = f"Schedule {self.name!r}"
        object.__setattr__(self, "settings", _settings(owner, self.settings))
        if not isinstance(self.expr, sp.Expr) or not self.expr.free_symbols <= {
            LR,
            K,
            *(hyper(key) for key, _ in self.settings),
        }:
            raise SpecError(
                f"Schedule {self.name!r}: expr must be a SymPy expression in lr, k and its "
                f"settings, got {self.expr!r}"
            )
        check_real(owner, self.expr)
        check_computable(owner, self.expr)

    @property
    def title(self) -> str:
        args = ", ".join(f"{key}={val!r}" for key, val in self.settings)
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return self.title


def time_decay(decay: float) -> Schedule:
    """η_k = η / (1 + decay·k): Keras' ``decay=`` argument (e.g. ``Adam(lr=0.01, decay=0.1)``)."""
    value = float(number(decay, "time_decay.decay"))
    if value < 0:
        raise SpecError(f"time_decay.decay must be ≥ 0, got {decay!r}")
    return Schedule("time_decay", LR / (1 + hyper("decay") * K), (("decay", value),))


def step_decay(drop: float = 0.5, every: int = 1000) -> Schedule:
    """η_k = η·drop^⌊k / every⌋: the rate multiplied by ``drop`` every ``every`` updates."""
    factor = _fraction(drop, "step_decay.drop")
    period = positive_int(every, "step_decay.every")
    expr = LR * hyper("drop") ** sp.floor(K / hyper("every"))
    return Schedule("step_decay", expr, (("drop", factor), ("every", period)))


def exponential_decay(rate: float = 0.96, steps: int = 1000) -> Schedule:
    """η_k = η·rate^(k / steps): smooth decay by ``rate`` per ``steps`` updates (Keras'
    ``ExponentialDecay``)."""
    factor = _fraction(rate, "exponential_decay.rate")
    period = positive_int(steps, "exponential_decay.steps")
    expr = LR * hyper("rate") ** (K / hyper("steps"))
    return Schedule("exponential_decay", expr, (("rate", factor), ("steps", period)))


@dataclass(frozen=True)
class Optimizer:
    """An update rule: ``rules`` are ``(target, formula)`` pairs over θ, dθ, the state symbols
    (``state``, zero at the start) and the learning rate; a target that is neither θ nor a
    state is a temporary (Adam's m̂). ``settings`` binds the hyperparameter symbols. With a
    ``schedule``, the rules take its rate at update k as ``lr_k`` (``LR_K``), and lr alone
    without one."""

    name: str
    lr: float
    rules: tuple[tuple[sp.Symbol, sp.Expr], ...]
    state: tuple[sp.Symbol, ...] = ()
    settings: tuple[tuple[str, float], ...] = ()
    schedule: Schedule | None = None
    #: the arguments as the user wrote them, for ``title``
    arguments: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", identifier(self.name, "Optimizer.name"))
        owner = f"Optimizer {self.name!r}"
        object.__setattr__(self, "lr", float(positive(self.lr, f"{owner}: lr")))
        object.__setattr__(self, "settings", _settings(owner, self.settings))
        object.__setattr__(
            self,
            "arguments",
            tuple(
                (key, value if isinstance(value, Schedule) else plain(value, key))
                for key, value in self.arguments
            ),
        )
        if self.schedule is not None and not isinstance(self.schedule, Schedule):
            raise SpecError(
                f"{owner}: schedule must be a Schedule, got {self.schedule!r}"
            )
        mine = dict(self.settings)
        for key, value in self.schedule.settings if self.schedule else ():
            if key in mine and mine[key] != value:
                raise SpecError(
                    f"{owner}: its setting {key}={mine[key]!r} and its schedule's "
                    f"{key}={value!r} share a name, which the formulas could not tell "
                    "apart; rename the schedule's"
                )
        targets = [target for target, _ in self.rules]
        for symbol in (*targets, *self.state):
            _symbol(symbol, f"{owner}: the name of {symbol}")
        allowed = {THETA, GRAD, LR, LR_K, K, *targets, *self.state}
        allowed |= {hyper(key) for key, _ in self.constants}
        for target, formula in self.rules:
            if not isinstance(formula, sp.Expr) or not formula.free_symbols <= allowed:
                raise SpecError(
                    f"{owner}: the rule for {target} must be a SymPy expression in theta, k, "
                    f"dtheta, lr (or lr_k), its state and its settings, got {formula!r}"
                )
        scheduled = any(formula.has(LR_K) for _, formula in self.rules)
        if scheduled and self.schedule is None:
            raise SpecError(
                f"{owner}: its rules use lr_k, the rate of a schedule, but it has none: "
                "write lr, or give it schedule="
            )
        if self.schedule is not None and not scheduled:
            raise SpecError(
                f"{owner}: its rules use lr, so its schedule {self.schedule!r} would change "
                "nothing: write lr_k (symbackprop.spec.optimizers.LR_K), the rate at "
                "update k, where the scheduled rate goes"
            )

    @property
    def title(self) -> str:
        args = ", ".join(f"{key}={val!r}" for key, val in self.arguments)
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return self.title

    @property
    def constants(self) -> tuple[tuple[str, float], ...]:
        """Every hyperparameter symbol with its value (the optimiser's and the schedule's)."""
        return self.settings + (self.schedule.settings if self.schedule else ())


def _optimizer(
    name: str,
    lr: float,
    decay: float,
    schedule: Schedule | None,
    arguments: dict[str, object],
    rules: Callable[[sp.Symbol], tuple],
    settings: tuple[tuple[str, float], ...] = (),
) -> Optimizer:
    """Validate the learning rate and its schedule, then build the rules with the step's rate
    (η, or η_k under a schedule); ``rules(rate)`` returns (rules, state)."""
    rate = float(positive(lr, f"{name}.lr"))
    if float(number(decay, f"{name}.decay")) < 0:
        raise SpecError(f"{name}.decay must be ≥ 0, got {decay!r}")
    if schedule is not None and not isinstance(schedule, Schedule):
        raise SpecError(
            f"{name}.schedule must be a schedule such as sb.step_decay(0.5, every=1000), "
            f"got {schedule!r}"
        )
    if decay and schedule is not None:
        raise SpecError(
            f"{name}: give decay={decay!r} or schedule={schedule!r}, not both"
        )
    plan = time_decay(decay) if decay else schedule
    formulas, state = rules(LR if plan is None else LR_K)
    shown = {"lr": lr, **arguments, "decay": decay or None, "schedule": schedule}
    return Optimizer(
        name,
        rate,
        formulas,
        state=state,
        settings=settings,
        schedule=plan,
        arguments=tuple((k, v) for k, v in shown.items() if v is not None),
    )


def SGD(
    lr: float = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    decay: float = 0.0,
    schedule: Schedule | None = None,
) -> Optimizer:
    """Stochastic gradient descent, with classical or Nesterov momentum (Sutskever et al. 2013,
    in Keras' form): v ← μv − η dθ; θ ← θ + v, or θ ← θ + μv − η dθ with Nesterov."""
    mu = _check_range(momentum, "SGD.momentum", 0.0, 1.0)
    if not isinstance(nesterov, bool):
        raise SpecError(f"SGD.nesterov must be True or False, got {nesterov!r}")
    if nesterov and mu == 0:
        raise SpecError("SGD.nesterov needs a momentum > 0, got momentum=0.0")
    v, MU = sp.Symbol("v", real=True), hyper("momentum")

    def rules(eta: sp.Symbol) -> tuple:
        if mu == 0:
            return ((THETA, THETA - eta * GRAD),), ()
        step = THETA + MU * v - eta * GRAD if nesterov else THETA + v
        return ((v, MU * v - eta * GRAD), (THETA, step)), (v,)

    return _optimizer(
        "SGD",
        lr,
        decay,
        schedule,
        {"momentum": momentum or None, "nesterov": nesterov or None},
        rules,
        (("momentum", mu),) if mu else (),
    )


def Adam(
    lr: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    decay: float = 0.0,
    schedule: Schedule | None = None,
) -> Optimizer:
    """Adam (Kingma & Ba 2015, Algorithm 1): moments m, v, bias-corrected at step k + 1."""
    settings = (
        ("beta1", _check_range(beta1, "Adam.beta1", 0.0, 1.0)),
        ("beta2", _check_range(beta2, "Adam.beta2", 0.0, 1.0)),
        ("eps", float(positive(eps, "Adam.eps"))),
    )
    m, v = sp.Symbol("m", real=True), sp.Symbol("v", real=True)
    m_hat, v_hat = sp.Symbol("mhat", real=True), sp.Symbol("vhat", real=True)
    B1, B2, EPS = hyper("beta1"), hyper("beta2"), hyper("eps")

    def rules(eta: sp.Symbol) -> tuple:
        return (
            (m, B1 * m + (1 - B1) * GRAD),
            (v, B2 * v + (1 - B2) * GRAD**2),
            (m_hat, m / (1 - B1 ** (K + 1))),
            (v_hat, v / (1 - B2 ** (K + 1))),
            (THETA, THETA - eta * m_hat / (sp.sqrt(v_hat) + EPS)),
        ), (m, v)

    arguments = {"beta1": beta1, "beta2": beta2, "eps": eps}
    return _optimizer("Adam", lr, decay, schedule, arguments, rules, settings)


def RMSprop(
    lr: float = 0.001,
    rho: float = 0.9,
    eps: float = 1e-7,
    decay: float = 0.0,
    schedule: Schedule | None = None,
) -> Optimizer:
    """RMSprop (Tieleman & Hinton 2012): s ← ρs + (1 − ρ)dθ²; θ ← θ − η dθ / (√s + ε)."""
    settings = (
        ("rho", _check_range(rho, "RMSprop.rho", 0.0, 1.0)),
        ("eps", float(positive(eps, "RMSprop.eps"))),
    )
    s, RHO, EPS = sp.Symbol("s", real=True), hyper("rho"), hyper("eps")

    def rules(eta: sp.Symbol) -> tuple:
        return (
            (s, RHO * s + (1 - RHO) * GRAD**2),
            (THETA, THETA - eta * GRAD / (sp.sqrt(s) + EPS)),
        ), (s,)

    arguments = {"rho": rho, "eps": eps}
    return _optimizer("RMSprop", lr, decay, schedule, arguments, rules, settings)


def Adagrad(
    lr: float = 0.01,
    eps: float = 1e-7,
    decay: float = 0.0,
    schedule: Schedule | None = None,
) -> Optimizer:
    """Adagrad (Duchi et al. 2011): G ← G + dθ²; θ ← θ − η dθ / (√G + ε)."""
    settings = (("eps", float(positive(eps, "Adagrad.eps"))),)
    G, EPS = sp.Symbol("G", real=True), hyper("eps")

    def rules(eta: sp.Symbol) -> tuple:
        return (
            (G, G + GRAD**2),
            (THETA, THETA - eta * GRAD / (sp.sqrt(G) + EPS)),
        ), (G,)

    return _optimizer("Adagrad", lr, decay, schedule, {"eps": eps}, rules, settings)


#: optimisers by name, with their defaults (``optimizer="adam"``)
OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop, "adagrad": Adagrad}


def optimizer(value: object, field_: str) -> Optimizer:
    """An ``Optimizer`` or the name of one (taking its defaults), else a SpecError naming it."""
    if isinstance(value, Optimizer):
        return value
    if isinstance(value, str) and value.lower() in OPTIMIZERS:
        return OPTIMIZERS[value.lower()]()
    raise SpecError(
        f"{field_} must be an optimiser such as sb.SGD(lr=0.1) or one of "
        f"{', '.join(OPTIMIZERS)}, got {value!r}"
    )
