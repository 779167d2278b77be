"""Batch normalisation (Ioffe & Szegedy, ICML 2015), derived from its definition.

One feature of a batch of N samples, by its definition's steps:

    μ = mean_n x_n,   σ² = mean_n (x_n − μ)²,   x̂ = (x − μ) / √(σ² + ε),   y = γ x̂ + β.

Reverse mode through these steps gives the error of every quantity; each step's partial
derivatives are SymPy's, and the batch mean adds the only structure: a statistic's error is
the mean over the batch of what each sample's use of it contributes, and a sample's share of a
mean is 1/N of it. Errors of per-sample quantities are N·∂ℒ/∂u_n, as δ is; those of the
statistics and of γ, β are ∂ℒ/∂u. The long form of ∂ℒ/∂x is then simplified by the mean's
linearity and by mean x̂ = 0 (itself proved from μ's definition) to the compact

    γ / √(σ² + ε) · (g − mean g − x̂ · mean(g x̂)),

and both forms are proved equal to the derivative of the written-out definition on concrete
batches of 3 and 4 samples. In inference the statistics are running averages, constants, and
the layer is an element-wise affine map.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from .. import budget
from ..errors import SpecError
from ..expressions import names
from ..expressions.algebra import BatchMean
from ..expressions.symbols import g
from .calculus import PROOF_SECONDS, is_identically_zero

#: one feature of one sample: the layer's input, its normalised value and its output
x = sp.Symbol("x", real=True)
x_hat = names.feature_normalised()
y_bn = sp.Symbol("y", real=True)
#: the batch's statistics and the layer's constants (positive: batch constants, scalars to
#: ``algebra.is_scalar``)
mu = sp.Symbol("mu", positive=True)
var = names.feature_variance()
gamma = sp.Symbol("gamma", positive=True)
beta = sp.Symbol("beta", positive=True)
eps = sp.Symbol("epsilon", positive=True)

#: what is the same for every sample of a batch
CONSTANTS = frozenset({mu, var, gamma, beta, eps})
#: concrete batch sizes the compact form is proved on
PROOF_BATCHES = (3, 4)


@dataclass(frozen=True)
class BatchNormDerivation:
    """What was derived for batch normalisation with or without γ (``scale``) and β
    (``center``)."""

    #: the definition: (quantity, its formula), in order
    steps: tuple[tuple[sp.Symbol, sp.Expr], ...]
    #: reverse mode's result as derived, before simplification: (quantity, its error)
    adjoints: tuple[tuple[sp.Symbol, sp.Expr], ...]
    #: N·∂ℒ/∂x in training (batch statistics), compact, in g, x̂, σ², γ, ε
    backward: sp.Expr
    #: (γ or β, ∂ℒ/∂ it) for the learnable ones
    parameters: tuple[tuple[sp.Symbol, sp.Expr], ...]
    #: N·∂ℒ/∂x in inference (running statistics as constants)
    inference_backward: sp.Expr

    def adjoint(self, quantity: sp.Symbol) -> sp.Expr:
        """The error of ``quantity`` as reverse mode derived it."""
        return dict(self.adjoints)[quantity]


def definition(
    center: bool = True, scale: bool = True
) -> tuple[tuple[sp.Symbol, sp.Expr], ...]:
    """The steps of batch normalisation: batch mean, batch variance, normalise, scale, shift."""
    output = (gamma if scale else 1) * x_hat + (beta if center else 0)
    return (
        (mu, BatchMean(x)),
        (var, BatchMean((x - mu) ** 2)),
        (x_hat, (x - mu) / sp.sqrt(var + eps)),
        (y_bn, output),
    )


def reverse(
    steps: tuple[tuple[sp.Symbol, sp.Expr], ...], error: sp.Expr
) -> dict[sp.Symbol, sp.Expr]:
    """Every quantity's error, from ``error`` arriving at the last step's: SymPy's partial
    derivative of each step, the batch mean's rule for statistics (ε is a constant)."""
    adjoints: dict[sp.Symbol, sp.Expr] = {steps[-1][0]: error}
    for quantity, formula in reversed(steps):
        arriving = adjoints.get(quantity, sp.Integer(0))
        statistic = isinstance(formula, BatchMean)
        inner = formula.args[0] if statistic else formula
        for variable in sorted(inner.free_symbols - {eps}, key=str):
            partial = sp.diff(inner, variable)
            if variable in CONSTANTS:  # the batch mean of every sample's share
                share = (
                    arriving * BatchMean(partial)
                    if statistic
                    else BatchMean(arriving * partial)
                )
            else:  # a sample's share of a mean is 1/N of it: N·∂ℒ/∂u_n keeps it whole
                share = arriving * partial
            adjoints[variable] = adjoints.get(variable, sp.Integer(0)) + share
    return adjoints


def _linear(node: sp.Expr) -> sp.Expr:
    """A batch mean distributed over sums, batch constants taken out, the mean of a constant
    the constant."""
    if not isinstance(node, BatchMean):
        return node
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(node.args[0])):
        varying = term.free_symbols - CONSTANTS
        constant, rest = term.as_independent(*varying, as_Add=False)
        total += constant * (rest if rest == 1 else BatchMean(rest))
    return total


def _means(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda node: isinstance(node, BatchMean), _linear)


def _centred() -> bool:
    """mean_n x̂_n = 0: mean(x − μ) = mean x − μ, and μ is mean x."""
    return _means(BatchMean(x - mu)).xreplace({BatchMean(x): mu}) == 0


def compact(long_form: sp.Expr) -> sp.Expr:
    """The long form in x̂ (x = μ + x̂√(σ² + ε)), its means linear, mean x̂ = 0, factored."""
    if not _centred():  # pragma: no cover - a fact of the definition
        raise SpecError("batch normalisation: mean x̂ = 0 was not proved")
    in_hat = long_form.xreplace({x: mu + x_hat * sp.sqrt(var + eps)})
    return sp.factor_terms(sp.expand(_means(in_hat)).xreplace({BatchMean(x_hat): 0}))


@dataclass(frozen=True)
class _Batch:
    """A concrete batch of ``size`` samples: x_k, g_k, its mean and variance, and r, a
    positive symbol for √(σ² + ε) (ε = r² − σ², so no square root is left to simplify).
    """

    size: int

    @functools.cached_property
    def xs(self) -> tuple[sp.Symbol, ...]:
        return sp.symbols(f"x_1:{self.size + 1}", real=True)

    @functools.cached_property
    def gs(self) -> tuple[sp.Symbol, ...]:
        return sp.symbols(f"g_1:{self.size + 1}", real=True)

    r = sp.Symbol("r", positive=True)

    @property
    def mean(self) -> sp.Expr:
        return sp.Add(*self.xs) / self.size

    @property
    def variance(self) -> sp.Expr:
        return sp.Add(*((x_k - self.mean) ** 2 for x_k in self.xs)) / self.size

    def settled(self, expr: sp.Expr) -> sp.Expr:
        """ε as r² − σ² (σ² the batch's variance): √(σ² + ε) becomes r."""
        return expr.xreplace({eps: self.r**2 - self.variance})

    def sample(self, expr: sp.Expr, k: int = 0) -> sp.Expr:
        """A derived form for sample k: every mean written out, μ, σ² and x̂ by their
        definitions."""

        def at(n: int, node: sp.Expr) -> sp.Expr:
            return node.xreplace(
                {x_hat: (self.xs[n] - self.mean) / self.r, x: self.xs[n], g: self.gs[n]}
            ).xreplace({mu: self.mean})

        written = expr.replace(
            lambda node: isinstance(node, BatchMean),
            lambda node: sp.Add(*(at(n, node.args[0]) for n in range(self.size)))
            / self.size,
        )
        return self.settled(at(k, written).xreplace({var: self.variance}))

    def weighted_outputs(self, center: bool, scale: bool) -> sp.Expr:
        """Σ_n g_n y_n by the definition: its derivative by x_1 is N·∂ℒ/∂x_1, by γ N·∂ℒ/∂γ."""
        shift = beta if center else 0
        factor = gamma if scale else 1
        spread = sp.sqrt(self.variance + eps)
        return sp.Add(
            *(
                g_k * (factor * (x_k - self.mean) / spread + shift)
                for x_k, g_k in zip(self.xs, self.gs)
            )
        )


def _proved(center: bool, scale: bool, backward: sp.Expr, parameters) -> bool:
    """Whether ∂ℒ/∂x_1, ∂ℒ/∂γ and ∂ℒ/∂β of the written-out definition equal the derived
    forms on batches of every size in ``PROOF_BATCHES``."""
    for size in PROOF_BATCHES:
        batch = _Batch(size)
        total = batch.weighted_outputs(center, scale)
        claims = [(sp.diff(total, batch.xs[0]), backward)]
        claims += [(sp.diff(total, p) / size, d) for p, d in parameters]
        for truth, derived in claims:
            if not is_identically_zero(batch.settled(truth) - batch.sample(derived)):
                return False
    return True


@functools.lru_cache(maxsize=4)
def derive_batchnorm(center: bool = True, scale: bool = True) -> BatchNormDerivation:
    """Batch normalisation's backward pass, derived from its definition, simplified and proved
    (within ``PROOF_SECONDS`` per identity); a SpecError if a proof does not finish."""
    steps = definition(center, scale)
    adjoints = reverse(steps, g)
    backward = compact(adjoints[x])
    parameters = tuple(
        (p, compact(adjoints[p])) for p in (gamma, beta) if p in adjoints
    )
    if not budget.within(
        PROOF_SECONDS * 4,
        lambda: _proved(center, scale, backward, parameters),
        lambda: False,
    ):
        raise SpecError(
            "batch normalisation: its compact backward pass could not be proved equal to "
            "the derivative of its definition"
        )
    running = {quantity: formula for quantity, formula in steps[2:]}
    in_x = running[y_bn].xreplace({x_hat: running[x_hat]})
    inference = g * sp.diff(in_x, x)
    return BatchNormDerivation(
        steps=steps,
        adjoints=tuple(
            (quantity, adjoints[quantity])
            for quantity in (y_bn, x_hat, var, mu, x, *(p for p, _ in parameters))
            if quantity in adjoints
        ),
        backward=backward,
        parameters=parameters,
        inference_backward=inference,
    )
