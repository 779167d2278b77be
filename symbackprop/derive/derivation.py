"""The symbolic engine: from a ``Network`` to a ``Derivation`` of named equations.

SymPy does the scalar calculus (``calculus``); this module assembles the layer algebra
(δ_h = (δ_{l+1} W_{l+1}) ⊙ f'(A_l), dW = ±δᵀ A_prev / N, db = ±mean δ) per layer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import sympy as sp

from .. import budget
from ..errors import SpecError
from ..expressions import names
from ..expressions.algebra import (
    BatchLoss,
    BatchMean,
    Columns,
    Concat,
    Dot,
    ElementSum,
    InTraining,
    Transpose,
    count_units,
    value,
)
from ..expressions.symbols import a, g, t, w, y, z
from ..options import CONVENTIONS
from ..spec.functions import Activation
from ..spec.graph import Add, Concatenate
from ..spec.network import ActivationLayer, BatchNorm, Dense, Dropout, Network
from ..spec.optimizers import GRAD, LR_K, THETA, Optimizer
from . import batchnorm, calculus

#: δ = −∂ℓ/∂net (Rumelhart, Hinton & Williams' error signal, so δ_y = t − y) or δ = ∂ℓ/∂Z (Nielsen's δ, so δ_y = y − t)

STEPS = ("forward", "loss", "delta", "gradient", "update")

N = sp.Symbol("N", positive=True)
X = sp.Symbol("X")
T = sp.Symbol("T")
LOSS = sp.Symbol("L")


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs`` over arrays; ``step`` is one of STEPS, ``layer`` counts from 1 (0: none)."""

    lhs: sp.Symbol
    rhs: sp.Expr
    step: str
    layer: int
    #: what the right-hand side instantiates, e.g. ``relu(Z1)``; shown between lhs and rhs
    label: sp.Expr | None = None
    #: whether the equation overwrites a variable that lives on (a parameter, optimiser state)
    rebinds: bool = False
    #: the right-hand side as the code computes it, where that differs: an equal form that
    #: keeps its digits (``calculus.accurate_output_error``), e.g. (1 − T)σ(Z) − Tσ(−Z) for T − A
    computed: sp.Expr | None = None

    @property
    def code(self) -> sp.Expr:
        """The right-hand side the code computes."""
        return self.rhs if self.computed is None else self.computed

    @property
    def name(self) -> str:
        return self.lhs.name

    @property
    def relation(self) -> str:
        return ":=" if self.rebinds else "="


@dataclass(frozen=True, kw_only=True)
class ActivationAnalysis:
    """What is derived of an activation f (``_analysis``): f' and the backward rule. A Dense
    layer's and an ActivationLayer's derivations both carry it."""

    activation: Activation
    #: f' in ``a`` (the layer's output) where an output form exists, otherwise in ``z``;
    #: for a row-wise activation (softmax) the diagonal ∂a_i/∂z_i of its Jacobian
    activation_derivative: sp.Expr
    derivative_in_output_form: bool
    #: f' as SymPy first gives it, in ``z`` (element-wise activations; None for row-wise ones)
    derivative_in_z: sp.Expr | None
    #: the Jacobian of a row-wise activation in output form (None for element-wise ones)
    jacobian: calculus.RowJacobian | None
    #: ∂ℓ/∂z of a unit from g = ∂ℓ/∂a (all units of the row), in g, a and possibly z
    backward: sp.Expr
    #: ∂f/∂p for each learnable parameter p of the activation (PReLU's slope), in z and p
    parameter_derivatives: tuple[tuple[sp.Symbol, sp.Expr], ...] = ()


@dataclass(frozen=True, kw_only=True)
class LayerDerivation(ActivationAnalysis):
    """What was derived for layer ``index`` (1-based): f' and the backward rule."""

    index: int
    units: int
    inputs: int
    bias: bool
    #: (i, the BatchNorm) where the i-th BatchNorm normalises this layer's outputs A_l
    batchnorm: tuple[int, BatchNorm] | None = None
    #: what the layer weighs: X, A_{l−1}, B_{l−1}, a dropped Ã, a junction's S_k or C_k
    source: sp.Symbol = X

    @property
    def Z(self) -> sp.Symbol:
        return names.net(self.index)

    @property
    def A(self) -> sp.Symbol:
        return names.activation(self.index)

    @property
    def W(self) -> sp.Symbol:
        return names.weight(self.index)

    @property
    def b(self) -> sp.Symbol:
        return names.bias(self.index)

    @property
    def learnable(self) -> dict[sp.Symbol, sp.Symbol]:
        """Each learnable symbol of the activation → this layer's parameter (alpha → alpha2)."""
        return {
            p: names.learnable(p, self.index) for p, _ in self.parameter_derivatives
        }

    @property
    def normalisation(self) -> dict[sp.Symbol, sp.Symbol]:
        """Batch normalisation's scalar symbols (``batchnorm``) → this layer's arrays and
        parameters: x → A_l, x̂ → Â_l, μ → μ_i, γ → gamma<i>, … (empty without one)."""
        if self.batchnorm is None:
            return {}
        i, spec = self.batchnorm
        return {
            batchnorm.x: self.A,
            batchnorm.x_hat: names.normalised(self.index),
            batchnorm.y_bn: names.batchnorm_output(self.index),
            batchnorm.mu: names.batch_mean(i),
            batchnorm.var: names.batch_variance(i),
            batchnorm.gamma: names.batchnorm_parameter("gamma", i),
            batchnorm.beta: names.batchnorm_parameter("beta", i),
            batchnorm.eps: sp.Float(spec.eps),
        }

    @property
    def scale_and_shift(self) -> tuple[sp.Symbol, ...]:
        """The trained parameters of the layer's BatchNorm: gamma<i> and beta<i> (those its
        ``scale`` and ``center`` keep)."""
        if self.batchnorm is None:
            return ()
        _, spec = self.batchnorm
        kept = {batchnorm.gamma: spec.scale, batchnorm.beta: spec.center}
        return tuple(self.normalisation[p] for p, keep in kept.items() if keep)

    @property
    def statistics(self) -> tuple[tuple[sp.Symbol, sp.Symbol], ...]:
        """(running average, batch statistic) of the layer's BatchNorm: (mean<i>, μ_i) and
        (var<i>, σ²_i); updated after each step, never trained."""
        if self.batchnorm is None:
            return ()
        i, _ = self.batchnorm
        return (
            (names.batchnorm_parameter("mean", i), names.batch_mean(i)),
            (names.batchnorm_parameter("var", i), names.batch_variance(i)),
        )

    @property
    def starting_at_one(self) -> dict[sp.Symbol, float]:
        """The BatchNorm's parameters that start at 1 (γ and the running variance); every
        other of its starts at 0."""
        if self.batchnorm is None:
            return {}
        _, spec = self.batchnorm
        scale = (self.normalisation[batchnorm.gamma],) if spec.scale else ()
        _, running_variance = self.running_averages
        return dict.fromkeys((*scale, running_variance), 1.0)

    @property
    def running_averages(self) -> tuple[sp.Symbol, ...]:
        """mean<i> and var<i> of the layer's BatchNorm (none without one)."""
        return tuple(average for average, _ in self.statistics)

    @property
    def output(self) -> sp.Symbol:
        """What the next layer receives (before any dropout): A_l, or B_l after a
        BatchNorm."""
        return self.A if self.batchnorm is None else names.batchnorm_output(self.index)

    @property
    def params(self) -> tuple[sp.Symbol, ...]:
        weights = (self.W, self.b) if self.bias else (self.W,)
        return (*weights, *self.learnable.values(), *self.scale_and_shift)

    def at(self, expr: sp.Expr) -> sp.Expr:
        """A per-unit formula written over this layer's arrays: z → Z, a → A, alpha → alpha2,
        Σ_k 1 → its number of units."""
        return count_units(
            expr.xreplace({z: self.Z, a: self.A, **self.learnable}), self.units
        )


#: what the views of a Derivation are written by: ``write(derivation, view, *options)`` with
#: view one of "text", "latex", "to_latex", "to_markdown", "to_html" (options: values,
#: exercises, for the last three). The printing layer installs it
#: (``install_writer``), so that deriving never imports what renders a derivation.
_WRITER: list[Callable[..., str]] = []


def install_writer(write: Callable[..., str]) -> None:
    """Let a Derivation's ``latex()``, ``str()``, ``to_latex()`` and the others use ``write``."""
    _WRITER[:] = [write]


@dataclass(frozen=True)
class Derivation:
    """The derived backpropagation of one network: ordered equations both printers read."""

    network: Network
    convention: str
    layers: tuple[LayerDerivation, ...]
    #: ∂ℓ/∂y of one output element, in y and t
    loss_gradient: sp.Expr
    #: δ_y of one output element in y and t (and z only where f' has no output form)
    output_delta: sp.Expr
    #: the forms δ_y takes on its way to ``output_delta``: the chain-rule product, the
    #: cancellations, Σt = 1 where used, the tidy result (``calculus.output_error_steps``)
    output_error_steps: tuple[sp.Expr, ...]
    #: whether δ_y was simplified by Σ_k t_k = 1 (softmax + cross-entropy), so targets must
    #: sum to 1 too
    targets_sum_to_one: bool
    #: r'(w), the regulariser's derivative per weight (None without a regulariser)
    regularizer_derivative: sp.Expr | None
    equations: tuple[Equation, ...]
    #: (r(w), r'(w)) with the regulariser's strength as the symbol λ, where it has one
    #: (``L1``, ``L2``): the documents show λ and list its value once
    regularizer_in_symbols: tuple[sp.Expr, sp.Expr] | None = None
    #: one unit's weighted input z = Σ_k w_k a_k + b (on ``NEURON_INPUTS`` inputs) and its
    #: partial derivatives by SymPy: ((w_2, a_2), (b, 1), (a_2, w_2)) — ∂z/∂w_k, ∂z/∂b, ∂z/∂a_k
    neuron: tuple[sp.Expr, tuple[tuple[sp.Symbol, sp.Expr], ...]] | None = None
    #: each ActivationLayer's derivation, in order
    activations: tuple[ActivationDerivation, ...] = ()

    def step(self, name: str) -> tuple[Equation, ...]:
        """The equations of one step (see STEPS), in order."""
        return tuple(eq for eq in self.equations if eq.step == name)

    @property
    def params(self) -> tuple[sp.Symbol, ...]:
        """Parameter symbols in order: W1, b1, W2, b2, …"""
        return tuple(p for layer in self.layers for p in layer.params)

    def error_of(self, layer: LayerDerivation) -> sp.Symbol:
        """The layer's error symbol: δ_y for the output layer, δ_h{l} for hidden layer l."""
        return _delta(layer, self.layers)

    def inputs_of(self, layer: LayerDerivation) -> sp.Symbol:
        """What the layer weighs: X for the first layer of a chain, A_{l−1} after it; X̃ or
        Ã_{l−1} where a Dropout drops them; in a graph, whatever node it was called on.
        """
        return layer.source

    @property
    def masks(self) -> tuple[tuple[sp.Symbol, float, int], ...]:
        """Each dropout mask M_l with its rate and its width, in order."""
        steps, keys = self.network.steps, self.network.keys
        return tuple(
            (names.mask(keys[step.sources[0]]), step.layer.rate, step.units)
            for step in steps
            if isinstance(step.layer, Dropout)
        )

    @functools.cached_property
    def nodes(self) -> tuple[sp.Symbol, ...]:
        """The symbol of each step's outputs (``network.steps``): X, A_l, B_l, Ã, S_k, C_k."""
        return tuple(_values(self.network))

    @functools.cached_property
    def with_error(self) -> tuple[bool, ...]:
        """Whether each step's outputs get an error: those that depend on a parameter."""
        return tuple(_depends_on_parameters(self.network.steps))

    @property
    def is_graph(self) -> bool:
        """Whether the documents walk the network node by node: a graph (``outputs=``), or a
        chain with an ActivationLayer, rather than a chain of Dense layers."""
        return self.network.outputs is not None or bool(self.activations)

    def latex(self) -> str:
        """Every derived formula as LaTeX: one ``align*`` environment, a titled section per step."""
        return self._write("latex")

    def __str__(self) -> str:
        """The equations as plain text, one per line, grouped by step."""
        return self._write("text")

    def to_latex(self, values: bool = False, exercises: bool = False) -> str:
        """The derivation written out step by step, as a standalone LaTeX document
        (``values``: numbers in place of η, λ, …; ``exercises``: questions and answers).
        """
        return self._document("to_latex", values, exercises)

    def to_markdown(self, values: bool = False, exercises: bool = False) -> str:
        """The derivation written out step by step, as Markdown with ``$$`` math."""
        return self._document("to_markdown", values, exercises)

    def to_html(self, values: bool = False, exercises: bool = False) -> str:
        """The derivation written out step by step, as one self-contained HTML file."""
        return self._document("to_html", values, exercises)

    def _write(self, view: str, *options: bool) -> str:
        if not _WRITER:
            raise RuntimeError(
                "a Derivation is written by symbackprop.document: import symbackprop "
                "(and use sb.derive) or import symbackprop.document first"
            )
        (write,) = _WRITER
        return write(self, view, *options)

    def _document(self, view: str, values: bool, exercises: bool) -> str:
        return budget.bounded(
            lambda: self._write(view, values, exercises),
            f"Network {self.network.name!r}: writing its derivation document",
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """What Jupyter shows for a cell ending in a Derivation: the lecture as Markdown, LaTeX
        and HTML, and the equations as text. Never raises: a view that fails is left out, and
        the text says why."""
        bundle = {}
        views = {
            "text/markdown": self.to_markdown,
            "text/html": self.to_html,
            # MathJax has no \intertext
            "text/latex": lambda: "$$"
            + self.latex().split("\n", 1)[1].replace(r"\intertext", r"\text")
            + "$$",
            "text/plain": self.__str__,
        }
        failures = []
        for mime, view in views.items():
            try:
                bundle[mime] = view()
            except Exception as error:  # noqa: BLE001 - a display never raises
                failures.append(f"{mime}: {type(error).__name__}: {error}")
        if failures or "text/plain" not in bundle:
            plain = bundle.get("text/plain", f"Derivation of {self.network.name!r}")
            bundle["text/plain"] = "\n".join([plain, "Views that failed:", *failures])
        return bundle


def _analysis(act: Activation) -> dict[str, object]:
    """``ActivationAnalysis``'s fields for ``act``: f' (in output form where one exists), the
    row-wise Jacobian, the backward rule, ∂f/∂p of its learnable parameters."""
    jacobian = calculus.row_jacobian(act.expr) if act.is_vector else None
    if jacobian is not None:
        derivative, in_output = jacobian.diagonal, True
    else:
        form = calculus.derivative_in_output_form(act.expr)
        derivative, in_output = form.expr, form.in_output
    return {
        "activation": act,
        "activation_derivative": derivative,
        "derivative_in_output_form": in_output,
        "derivative_in_z": None if act.is_vector else sp.diff(act.expr, z),
        "jacobian": jacobian,
        "backward": calculus.backward_rule(act.expr),
        "parameter_derivatives": tuple(
            (p, sp.diff(act.expr, p)) for p, _ in act.learnable
        ),
    }


def _layer(
    index: int,
    inputs: int,
    dense,
    normalised: tuple[int, BatchNorm] | None,
    source: sp.Symbol,
) -> LayerDerivation:
    return LayerDerivation(
        index=index,
        units=dense.units,
        inputs=inputs,
        bias=dense.bias,
        batchnorm=normalised,
        source=source,
        **_analysis(dense.activation),
    )


@dataclass(frozen=True, kw_only=True)
class ActivationDerivation(ActivationAnalysis):
    """What was derived for an ActivationLayer: H_k = f(V) of the node V it acts on, with f'
    and the backward rule as a Dense layer's activation has them (z standing for V)."""

    key: tuple[str, int]
    units: int
    source: sp.Symbol

    @property
    def output(self) -> sp.Symbol:
        return names.junction(self.key)

    @property
    def index(self) -> str:
        """What names its f in the documents: f_{H1}."""
        return self.output.name

    def at(self, expr: sp.Expr) -> sp.Expr:
        """A per-unit formula over the arrays: z → V, a → H_k, Σ_k 1 → its number of units."""
        return count_units(expr.xreplace({z: self.source, a: self.output}), self.units)


def _activations(
    network: Network, values: list[sp.Symbol]
) -> dict[tuple[str, int], ActivationDerivation]:
    """Each ActivationLayer's derivation by its key ("H", k), in order."""
    return {
        key: ActivationDerivation(
            key=key,
            units=step.units,
            source=values[step.sources[0]],
            **_analysis(step.layer.activation),
        )
        for step, key in zip(network.steps, network.keys, strict=True)
        if isinstance(step.layer, ActivationLayer)
    }


def _values(network: Network) -> list[sp.Symbol]:
    """The symbol of each step's outputs: X, A_l (Dense layer l), B_l (its BatchNorm), the
    dropped Ã of a Dropout's node, S_k or C_k (a junction's)."""
    keys = network.keys
    values = []
    for step, key in zip(network.steps, keys, strict=True):
        layer = step.layer
        if layer is None:
            values.append(X)
        elif isinstance(layer, Dense):
            values.append(names.activation(key))
        elif isinstance(layer, BatchNorm):
            values.append(names.batchnorm_output(key))
        elif isinstance(layer, Dropout):
            values.append(names.dropped(keys[step.sources[0]]))
        else:  # a junction or an ActivationLayer: S_k, C_k, H_k
            values.append(names.junction(key))
    return values


def _normalise(layer: LayerDerivation) -> list[Equation]:
    """Batch normalisation of A_l by its definition's steps: μ_i, σ²_i (the batch's in
    training, the running averages in inference), Â_l, B_l = γ Â_l + β."""
    _, spec = layer.batchnorm
    steps = batchnorm.derive_batchnorm(spec.center, spec.scale).steps
    running = {batch: average for average, batch in layer.statistics}
    equations = []
    for quantity, formula in steps:
        lhs = layer.normalisation[quantity]
        rhs = formula.xreplace(layer.normalisation)
        if lhs in running:
            rhs = InTraining(rhs, running[lhs])
        equations.append(Equation(lhs, rhs, "forward", layer.index))
    return equations


def _forward(
    network: Network,
    layers: tuple[LayerDerivation, ...],
    activations: dict[tuple[str, int], ActivationDerivation],
    values: list[sp.Symbol],
) -> list[Equation]:
    """Each step in turn: Z_l = S W_lᵀ + b_l and A_l = f_l(Z_l) for a Dense layer on S (A_{l−1}
    in a chain, X first); Ã = S ⊙ M for a Dropout (X̃ = X ⊙ M_0, Ã_l = A_l ⊙ M_l); a BatchNorm's
    steps; S_k = the sum of its inputs (Add), C_k = them side by side (Concatenate)."""
    equations = []
    steps, keys = network.steps, network.keys
    dense = {layer.index: layer for layer in layers}
    filed = _filed_under(steps)
    for j, (step, key, value_) in enumerate(zip(steps, keys, values, strict=True)):
        kind = step.layer
        sources = [values[s] for s in step.sources]
        below = filed[j]
        if isinstance(kind, Dense):
            layer = dense[key]
            net = Dot(layer.source, Transpose(layer.W)) + (layer.b if layer.bias else 0)
            equations.append(Equation(layer.Z, net, "forward", layer.index))
            activation = layer.at(value(layer.activation.expr))
            label = sp.Function(layer.activation.name)(layer.Z)
            equations.append(
                Equation(layer.A, activation, "forward", layer.index, label)
            )
        elif isinstance(kind, BatchNorm):
            equations.extend(_normalise(dense[key]))
        elif isinstance(kind, Dropout):
            mask = names.mask(keys[step.sources[0]])
            equations.append(Equation(value_, sources[0] * mask, "forward", below))
        elif isinstance(kind, ActivationLayer):
            act = activations[key]
            formula = act.at(value(act.activation.expr))
            label = sp.Function(act.activation.name)(act.source)
            equations.append(Equation(value_, formula, "forward", below, label))
        elif isinstance(kind, Add):
            equations.append(Equation(value_, sp.Add(*sources), "forward", below))
        elif isinstance(kind, Concatenate):
            equations.append(Equation(value_, Concat(*sources), "forward", below))
    return equations


def _delta(layer: LayerDerivation, layers: tuple[LayerDerivation, ...]) -> sp.Symbol:
    """The error symbol of a layer: δ_y for the output layer, δ_h{l} for hidden layer l."""
    return names.output_error() if layer is layers[-1] else names.error(layer.index)


def _regularization(
    layers: tuple[LayerDerivation, ...], penalty: sp.Expr | None
) -> sp.Expr:
    """Σ_l Σ_ij r(W_l,ij): the regulariser summed over every weight (0 without one)."""
    if penalty is None:
        return sp.Integer(0)
    return sp.factor_terms(
        sp.Add(*(ElementSum(penalty.xreplace({w: layer.W})) for layer in layers))
    )


def _deltas(
    network: Network,
    layers: tuple[LayerDerivation, ...],
    activations: dict[tuple[str, int], ActivationDerivation],
    output_delta: sp.Expr,
    computed_delta: sp.Expr,
) -> list[Equation]:
    """δ_y from the fused output error, then each step's error from the top down: what
    arrives at a node is the sum of what its consumers send back — δ_l W_l from a Dense
    layer l, the arriving error times the mask M from a Dropout (∂Ã/∂A = M), G_l from a
    BatchNorm, a junction's error E_{S_k} from an Add, its own columns of E_{C_k} from a
    Concatenate, δ_{H_k} (its backward rule of the error at H_k) from an ActivationLayer —
    and δ_h = backward rule of it; each δ with the form the code computes where
    that differs (``Equation.computed``). Nodes computed from X alone get no error.

    A row-wise activation uses its incoming signal twice, so it gets a name of its own, E_l.
    """
    steps, keys = network.steps, network.keys
    out = layers[-1]
    dense = {layer.index: layer for layer in layers}
    trained = _depends_on_parameters(steps)

    def at_output(expr: sp.Expr) -> sp.Expr:
        return out.at(expr.xreplace({y: out.A, t: T}))

    filed = _filed_under(steps)
    equations = []
    sent: dict[int, list[sp.Expr]] = {j: [] for j in range(len(steps))}

    def send(source: int, error: sp.Expr) -> None:
        if trained[source]:
            sent[source].append(error)

    for j in reversed(range(1, len(steps))):
        step, key = steps[j], keys[j]
        kind, arriving = step.layer, sp.Add(*sent[j])
        if isinstance(kind, Dense):
            layer = dense[key]
            delta = _delta(layer, layers)
            if layer is out:
                equations.append(
                    _equation(
                        delta,
                        at_output(output_delta),
                        at_output(computed_delta),
                        out.index,
                    )
                )
            else:
                equations.extend(_hidden_delta(layer, delta, arriving))
            send(step.sources[0], Dot(delta, layer.W))
        elif isinstance(kind, BatchNorm):
            layer = dense[key]
            equations.append(
                Equation(names.signal(layer.index), arriving, "delta", layer.index)
            )
            equations.append(_normalisation_error(layer))
            send(step.sources[0], names.batchnorm_error(layer.index))
        elif isinstance(kind, Dropout):
            send(step.sources[0], arriving * names.mask(keys[step.sources[0]]))
        elif isinstance(kind, ActivationLayer):
            act = activations[key]
            delta = names.node_delta(key)
            equations.extend(_activation_delta(act, delta, arriving, filed[j]))
            send(step.sources[0], delta)
        else:
            error = names.junction_error(key)
            equations.append(Equation(error, arriving, "delta", filed[j]))
            start = 0
            for source in step.sources:
                width = steps[source].units
                if isinstance(kind, Add):
                    send(source, error)
                else:
                    send(source, Columns(error, start, start + width))
                start += width
    return equations


def _hidden_delta(
    layer: LayerDerivation, delta: sp.Symbol, arriving: sp.Expr
) -> list[Equation]:
    """δ_h = the activation's backward rule of the error arriving at A_l (G_l through a
    BatchNorm), named E_l first where the rule uses it more than once or a learnable
    parameter's gradient needs it."""
    named = layer.batchnorm is None and (
        layer.backward.count(g) > 1 or bool(layer.parameter_derivatives)
    )
    signal = names.signal(layer.index) if named else None
    return _backward(layer, delta, arriving, signal, layer.index)


def _activation_delta(
    act: ActivationDerivation, delta: sp.Symbol, arriving: sp.Expr, filed: int
) -> list[Equation]:
    """δ_{H_k} = an ActivationLayer's backward rule of the error arriving at H_k, named
    E_{H_k} first where the rule uses it more than once."""
    signal = names.junction_error(act.key) if act.backward.count(g) > 1 else None
    return _backward(act, delta, arriving, signal, filed)


def _backward(
    owner: LayerDerivation | ActivationDerivation,
    delta: sp.Symbol,
    arriving: sp.Expr,
    signal: sp.Symbol | None,
    filed: int,
) -> list[Equation]:
    """``delta`` = the backward rule of ``owner``'s activation (a Dense layer's or an
    ActivationLayer's) of the arriving error, given a name ``signal`` first if any."""
    equations = []
    if signal is not None:
        equations.append(Equation(signal, arriving, "delta", filed))
        arriving = signal
    rule = owner.at(owner.backward.xreplace({g: arriving}))
    accurate = calculus.accurate_backward_rule(owner.activation.expr)
    computed = owner.at(accurate.xreplace({g: arriving}))
    equations.append(_equation(delta, rule, computed, filed))
    return equations


def _filed_under(steps) -> list[int]:
    """The layer each step's equations are filed under: for a step that is no Dense
    layer's, the number of Dense layers before it."""
    before, filed = 0, []
    for step in steps:
        filed.append(before)
        before += isinstance(step.layer, Dense)
    return filed


def _depends_on_parameters(steps) -> list[bool]:
    """Whether each step's outputs depend on a parameter (a Dense layer at or before it):
    only those need an error."""
    depends = []
    for step in steps:
        depends.append(
            isinstance(step.layer, Dense) or any(depends[s] for s in step.sources)
        )
    return depends


def _normalisation_error(layer: LayerDerivation) -> Equation:
    """G_l, the error at A_l from the error E_l at B_l: batch normalisation's backward pass
    as derived (``batchnorm``), in training through the batch statistics, in inference
    through the running ones, constants."""
    _, spec = layer.batchnorm
    derived = batchnorm.derive_batchnorm(spec.center, spec.scale)
    at = {**layer.normalisation, g: names.signal(layer.index)}
    rhs = InTraining(
        derived.backward.xreplace(at), derived.inference_backward.xreplace(at)
    )
    return Equation(names.batchnorm_error(layer.index), rhs, "delta", layer.index)


def _arriving(layer: LayerDerivation) -> sp.Symbol:
    """The named error arriving at A_l: G_l through a BatchNorm, else E_l."""
    if layer.batchnorm is not None:
        return names.batchnorm_error(layer.index)
    return names.signal(layer.index)


def _equation(lhs: sp.Symbol, rhs: sp.Expr, computed: sp.Expr, layer: int) -> Equation:
    """A δ equation, with the form the code computes if it is another."""
    return Equation(
        lhs, rhs, "delta", layer, computed=None if computed == rhs else computed
    )


def _gradients(
    layers: tuple[LayerDerivation, ...],
    sign: int,
    loss_gradient: sp.Expr,
    penalty_derivative: sp.Expr | None,
) -> list[Equation]:
    """dW_l = ±δ_lᵀ A_{l-1} / N (+ r'(W_l)), db_l = ±mean δ_l (− under δ = −∂ℓ/∂Z), and
    dp_l = mean(∂ℓ/∂A_l ⊙ ∂f/∂p) for each learnable activation parameter p."""
    equations = []
    for layer in layers:
        delta = _delta(layer, layers)
        grad_w = sign * Dot(Transpose(delta), layer.source) / N
        if penalty_derivative is not None:
            grad_w += penalty_derivative.xreplace({w: layer.W})
        equations.append(
            Equation(names.gradient(layer.W), grad_w, "gradient", layer.index)
        )
        if layer.bias:
            grad_b = sign * BatchMean(delta)
            equations.append(
                Equation(names.gradient(layer.b), grad_b, "gradient", layer.index)
            )
        if layer is layers[-1]:
            upstream = loss_gradient.xreplace({y: layer.A, t: T})
        else:
            upstream = sign * _arriving(layer)
        for p, derivative in layer.parameter_derivatives:
            param = layer.learnable[p]
            grad_p = BatchMean(upstream * layer.at(derivative))
            equations.append(
                Equation(names.gradient(param), grad_p, "gradient", layer.index)
            )
        if layer.batchnorm is not None:
            equations.extend(_scale_and_shift_gradients(layer, sign))
    return equations


def _scale_and_shift_gradients(layer: LayerDerivation, sign: int) -> list[Equation]:
    """∂ℒ/∂γ_i = mean(∂ℓ/∂B_l ⊙ Â_l), ∂ℒ/∂β_i = mean ∂ℓ/∂B_l, as derived (``batchnorm``),
    with ∂ℓ/∂B_l = ∓E_l."""
    _, spec = layer.batchnorm
    derived = batchnorm.derive_batchnorm(spec.center, spec.scale)
    at = {**layer.normalisation, g: sign * names.signal(layer.index)}
    return [
        Equation(
            names.gradient(layer.normalisation[p]),
            formula.xreplace(at),
            "gradient",
            layer.index,
        )
        for p, formula in derived.parameters
    ]


def _updates(
    layers: tuple[LayerDerivation, ...], optimizer: Optimizer
) -> list[Equation]:
    """The optimiser's equations for every parameter, after the step's learning rate η_k when
    a schedule sets it."""
    equations = []
    if optimizer.schedule is not None:
        equations.append(Equation(LR_K, optimizer.schedule.expr, "update", 0))
    for layer in layers:
        for param in layer.params:
            variables = {THETA: param, GRAD: names.gradient(param)}
            for target, _ in optimizer.rules:
                if target != THETA:
                    variables[target] = names.state(target, param)
            for target, formula in optimizer.rules:
                equations.append(
                    Equation(
                        variables[target],
                        formula.xreplace(variables),
                        "update",
                        layer.index,
                        rebinds=target == THETA or target in optimizer.state,
                    )
                )
        if layer.batchnorm is not None:
            equations.extend(_running_averages(layer))
    return equations


def _running_averages(layer: LayerDerivation) -> list[Equation]:
    """mean<i> := ρ·mean<i> + (1 − ρ)·μ_i and var<i> likewise with σ²_i, ρ the BatchNorm's
    momentum (Keras's BatchNormalization; PyTorch's momentum is 1 − ρ)."""
    _, spec = layer.batchnorm
    keep = sp.Float(repr(spec.momentum))
    new = sp.Float(str(Decimal(1) - Decimal(repr(spec.momentum))))
    return [
        Equation(
            running, keep * running + new * batch, "update", layer.index, rebinds=True
        )
        for running, batch in layer.statistics
    ]


#: inputs of the unit whose scalar derivatives the documents show
NEURON_INPUTS = 3


def _neuron() -> tuple[sp.Expr, tuple[tuple[sp.Symbol, sp.Expr], ...]]:
    """z = w_1 a_1 + … + b and SymPy's ∂z/∂w_k, ∂z/∂b, ∂z/∂a_k (for k = 2)."""
    weights = sp.symbols(f"w_1:{NEURON_INPUTS + 1}", real=True)
    inputs = sp.symbols(f"a_1:{NEURON_INPUTS + 1}", real=True)
    bias = sp.Symbol("b", real=True)
    net = sp.Add(*(w_k * a_k for w_k, a_k in zip(weights, inputs))) + bias
    return net, tuple((v, sp.diff(net, v)) for v in (weights[1], bias, inputs[1]))


#: the strength of an L1 or L2 regulariser, as the documents write it
LAMBDA = sp.Symbol("lambda", positive=True)


def _in_symbols(regularizer) -> tuple[sp.Expr, sp.Expr] | None:
    """(r(w), r'(w)) with the strength λ as a symbol, where r is λ times a formula."""
    strength = dict(regularizer.settings).get("lam") if regularizer else None
    if strength is None or strength == 0:
        return None
    shape = regularizer.expr.xreplace({sp.Float(strength): LAMBDA})
    if shape.xreplace(
        {LAMBDA: sp.Float(strength)}
    ) != regularizer.expr or not shape.has(LAMBDA):
        return None
    return shape, sp.diff(shape, w)


def derive(network: Network, convention: str = "negative") -> Derivation:
    """Derive forward pass, loss, δ recursion, gradients and the optimiser's updates (within
    ``budget.TOTAL``)."""
    if not isinstance(network, Network):
        raise SpecError(f"derive needs a symbackprop Network, got {network!r}")
    if convention not in CONVENTIONS:
        raise SpecError(
            f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}"
        )
    return budget.bounded(
        lambda: _derive(network, convention),
        f"Network {network.name!r}: deriving its backpropagation",
    )


@functools.lru_cache(maxsize=8)
def _derive(network: Network, convention: str) -> Derivation:
    """The derivation of ``network`` (a frozen, hashable spec): the last few are kept, as
    compile and latex of one spec derive it more than once (``generate`` derives again).
    """
    steps, keys, values = network.steps, network.keys, _values(network)
    activations = _activations(network, values)
    normalised = {
        l: (i, spec) for i, (l, spec) in enumerate(network.batchnorm.items(), 1)
    }
    layers = tuple(
        _layer(
            key,
            steps[step.sources[0]].units,
            step.layer,
            normalised.get(key),
            values[step.sources[0]],
        )
        for step, key in zip(steps, keys, strict=True)
        if isinstance(step.layer, Dense)
    )
    out = layers[-1]
    loss = network.loss
    output_delta = calculus.output_error(out.activation, loss, convention)
    if calculus.loss_is_constant_over_a_row(out.activation, output_delta):
        raise SpecError(
            f"Network {network.name!r}: the loss {loss.name!r} summed over the outputs of "
            f"{out.activation.name!r} is the same for every input (those outputs sum to "
            "1), so δ_y = 0 and no gradient reaches the network; use a loss that compares "
            "the outputs with the targets, such as categorical_crossentropy"
        )
    penalty = network.regularizer.expr if network.regularizer else None
    penalty_derivative = None if penalty is None else sp.diff(penalty, w)
    in_symbols = _in_symbols(network.regularizer)
    regularization = _regularization(layers, penalty)
    computed_loss = calculus.accurate_loss(out.activation, loss)
    loss_equation = Equation(
        LOSS,
        BatchLoss(loss.expr.xreplace({y: out.A, t: T})) + regularization,
        "loss",
        0,
        computed=BatchLoss(out.at(computed_loss.xreplace({y: out.A, t: T})))
        + regularization,
    )
    loss_gradient = sp.diff(loss.expr, y)
    gradients = _gradients(
        layers,
        -1 if convention == "negative" else 1,
        loss_gradient,
        penalty_derivative,
    )
    return Derivation(
        network=network,
        convention=convention,
        layers=layers,
        loss_gradient=loss_gradient,
        output_delta=output_delta,
        output_error_steps=calculus.output_error_steps(
            out.activation, loss, convention
        ),
        targets_sum_to_one=calculus.uses_target_sum(out.activation, loss, convention),
        regularizer_derivative=penalty_derivative,
        regularizer_in_symbols=in_symbols,
        neuron=_neuron(),
        activations=tuple(activations.values()),
        equations=(
            *_forward(network, layers, activations, values),
            loss_equation,
            *_deltas(
                network,
                layers,
                activations,
                output_delta,
                calculus.accurate_output_error(out.activation, loss, convention),
            ),
            *gradients,
            *_updates(layers, network.optimizer),
        ),
    )
