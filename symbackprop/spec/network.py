"""The network DSL: small immutable objects that validate themselves on construction."""

from __future__ import annotations

import functools
import math
import numbers
import sys
from dataclasses import dataclass, field

import sympy as sp

from .. import budget
from ..errors import SpecError
from ..expressions import names
from . import catalog, domain, graph
from .functions import (
    TASKS,
    Activation,
    Loss,
    Regularizer,
    identifier,
    one_of,
    positive_int,
)
from .initializers import Initializer, initializer
from .optimizers import SGD, Optimizer, optimizer
from .targets import DOMAINS

#: the floating-point types a generated module can compute in
DTYPES = ("float64", "float32")

#: the target values a classifier's classes become: a one-hot row, 0/1 per output, ±1
CLASS_TARGETS = {"multiclass": (0.0, 1.0), "binary": (0.0, 1.0), "sign": (-1.0, 1.0)}


#: modules a generated module imports (a file of that name beside a script would be imported
#: in their place), and the package itself
_NEEDED_MODULES = frozenset(
    {"numpy", "symbackprop", *sys.stdlib_module_names, *sys.builtin_module_names}
)
#: names Windows reserves for devices: no file can have them, whatever the suffix
_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"{port}{i}" for port in ("com", "lpt") for i in range(1, 10)}
)
#: the longest network name: its module's file name, and the temporary file written on the
#: way to it, must fit every file system's 255-byte limit
MAX_NAME = 100


def module_name(value: object) -> str:
    """A network's name, which names its module ``<name>.py``: a Python identifier as
    Python reads it that can be imported, shadows no module that generated code or Python
    needs (``numpy``, ``random``, …), is no dunder name (``__debug__`` cannot be imported)
    or Windows device name, and is at most ``MAX_NAME`` characters."""
    name = identifier(value, "Network.name")
    if len(name) > MAX_NAME:
        raise SpecError(
            f"Network.name must be at most {MAX_NAME} characters (it names the module's "
            f"file), got {len(name)}: {name[:20]!r}…"
        )
    why = None
    if name in _NEEDED_MODULES:
        why = (
            f"a module {name}.py beside a script would be imported in place of Python's "
            f"or NumPy's own {name!r}"
        )
    elif name.startswith("__") and name.endswith("__"):
        why = (
            "dunder names belong to Python (a module __debug__ cannot even be imported)"
        )
    elif name.casefold() in _DEVICE_NAMES:
        why = f"Windows reserves {name!r} for a device: no file can be called {name}.py"
    if why:
        raise SpecError(f"Network.name cannot be {name!r}: {why}; choose another name")
    return name


@dataclass(frozen=True)
class Dense(graph.Layer):
    """A fully connected layer ``A = f(A_prev Wᵀ + b)`` with ``W`` of shape (units, inputs);
    ``init`` names W's initialiser (the network's when None; biases start at zero)."""

    units: int
    activation: str | Activation = "identity"
    bias: bool = True
    init: str | Initializer | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", positive_int(self.units, "Dense.units"))
        object.__setattr__(
            self, "activation", catalog.activation(self.activation, "Dense.activation")
        )
        if not isinstance(self.bias, bool):
            raise SpecError(f"Dense.bias must be True or False, got {self.bias!r}")
        if self.init is not None:
            object.__setattr__(self, "init", initializer(self.init, "Dense.init"))

    def units_from(self, widths: tuple[int, ...]) -> int:
        return self.units

    def __repr__(self) -> str:
        bias = "" if self.bias else ", bias=False"
        init = f", init={self.init.name!r}" if self.init else ""
        return f"Dense({self.units}, activation={self.activation.title!r}{bias}{init})"


@dataclass(frozen=True)
class Dropout(graph.Layer):
    """Inverted dropout (Srivastava et al., JMLR 15, 2014) of the layer before it (or of the
    inputs): while training, each entry is kept with probability 1 − ``rate`` and scaled by
    1/(1 − rate), so that its expected value is unchanged; in inference it passes unchanged.
    """

    rate: float

    def __post_init__(self) -> None:
        rate = _fraction(self.rate, "Dropout.rate", "the fraction of entries dropped")
        object.__setattr__(self, "rate", rate)

    def __repr__(self) -> str:
        return f"Dropout({self.rate!r})"


@dataclass(frozen=True)
class ActivationLayer(graph.Layer):
    """An activation applied on its own to the node before it (Keras' layers.Activation):
    after a linear Dense layer and a BatchNorm, batch normalisation comes before the
    activation, where Ioffe & Szegedy place it."""

    activation: str | Activation

    def __post_init__(self) -> None:
        activation = catalog.activation(self.activation, "ActivationLayer.activation")
        if activation.learnable:
            raise SpecError(
                f"ActivationLayer.activation: {activation.name!r} has learnable parameters, "
                "which belong to a Dense layer here; use sb.Dense(n, activation) instead"
            )
        object.__setattr__(self, "activation", activation)

    def __repr__(self) -> str:
        return f"ActivationLayer({self.activation.title!r})"


def _fraction(value: object, field: str, meaning: str) -> float:
    """A real number in [0, 1) (not a bool, nan or text)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not 0 <= value < 1
    ):
        raise SpecError(
            f"{field} must be a number in [0, 1) ({meaning}), got {value!r}"
        )
    return float(value)


@dataclass(frozen=True)
class BatchNorm(graph.Layer):
    """Batch normalisation (Ioffe & Szegedy, ICML 2015) of the outputs of the Dense layer
    before it: in training each feature is normalised by its batch mean and variance, then
    scaled by γ (``scale``) and shifted by β (``center``); in inference by running averages
    of them, updated by ``mean := momentum·mean + (1 − momentum)·μ_batch`` (and likewise the
    variance) after each training step, as Keras's BatchNormalization does. ``eps`` keeps
    the division finite."""

    momentum: float = 0.99
    eps: float = 1e-3
    center: bool = True
    scale: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "momentum",
            _fraction(
                self.momentum,
                "BatchNorm.momentum",
                "the share of the running statistics kept at each step",
            ),
        )
        eps = self.eps
        if (
            isinstance(eps, bool)
            or not isinstance(eps, numbers.Real)
            or not math.isfinite(eps)
            or eps <= 0
        ):
            raise SpecError(
                f"BatchNorm.eps must be a positive number (added to the variance), got {eps!r}"
            )
        object.__setattr__(self, "eps", float(eps))
        for flag in ("center", "scale"):
            if not isinstance(getattr(self, flag), bool):
                raise SpecError(
                    f"BatchNorm.{flag} must be True or False, got {getattr(self, flag)!r}"
                )

    def __repr__(self) -> str:
        settings = [
            f"{key}={value!r}"
            for key, value, default in (
                ("momentum", self.momentum, 0.99),
                ("eps", self.eps, 1e-3),
                ("center", self.center, True),
                ("scale", self.scale, True),
            )
            if value != default
        ]
        return f"BatchNorm({', '.join(settings)})"


def _check_layers(layers: tuple[object, ...]) -> None:
    """Dense layers, each Dropout before a Dense one, never two Dropouts in a row, each
    BatchNorm right after a Dense one."""
    for i, layer in enumerate(layers):
        if not isinstance(layer, (Dense, Dropout, BatchNorm, ActivationLayer)):
            raise SpecError(
                f"Network.layers[{i}] must be a Dense layer, a Dropout, a BatchNorm or an "
                f"ActivationLayer, got {layer!r}"
            )
        if isinstance(layer, BatchNorm) and (
            i == 0 or not isinstance(layers[i - 1], Dense)
        ):
            before = "the inputs" if i == 0 else repr(layers[i - 1])
            raise SpecError(
                f"Network.layers[{i}]: {layer!r} follows {before}; a BatchNorm normalises "
                "the outputs of the Dense layer right before it"
            )
        if isinstance(layer, Dropout) and i and isinstance(layers[i - 1], Dropout):
            raise SpecError(
                f"Network.layers[{i}]: {layer!r} follows another Dropout; use one Dropout "
                "of rate 1 − (1 − p)(1 − q) instead"
            )
    if not isinstance(layers[-1], Dense):
        raise SpecError(
            f"Network.layers[{len(layers) - 1}]: the output layer must be Dense, got "
            f"{layers[-1]!r} (a Dropout or a BatchNorm acts on the outputs of the layer "
            "before it)"
        )


def _chain_layers(given: object) -> tuple[object, ...]:
    """``layers=[…]`` as a checked tuple."""
    if isinstance(given, (str, bytes)) or not hasattr(given, "__iter__"):
        raise SpecError(
            "Network.layers must be a list of Dense layers (and Dropouts, BatchNorms), "
            f"got {given!r}"
        )
    layers = tuple(given)
    if not layers:
        raise SpecError("Network.layers must hold at least one Dense layer, got []")
    _check_layers(layers)
    return layers


def _check_widths(network: Network) -> None:
    """Each activation, a Dense layer's or an ActivationLayer's, must fit the width it acts
    on (softmax needs two units or more)."""
    for i, step in enumerate(network.steps):
        layer = step.layer
        if isinstance(layer, (Dense, ActivationLayer)):
            need = layer.activation.min_units
            if step.units < need:
                where = (
                    f"Network.layers[{i - 1}]"
                    if network.outputs is None
                    else "Network.outputs"
                )
                raise SpecError(
                    f"{where}: {layer!r}: activation {layer.activation.name!r} "
                    f"needs at least {need} units, got {step.units}"
                )


def _graph_layers(network: Network) -> tuple[object, ...]:
    """The layers of the graph from ``network.inputs`` to ``network.outputs``, checked, in
    computation order (``layers=`` may repeat them, as ``dataclasses.replace`` does)."""
    steps = graph.resolve(network.inputs, network.outputs)
    layers = tuple(step.layer for step in steps[1:])
    given = tuple(network.layers) if hasattr(network.layers, "__iter__") else None
    if given and (
        len(given) != len(layers) or any(a is not b for a, b in zip(given, layers))
    ):
        raise SpecError(
            "Network: give layers=[…] (a chain) or outputs= (a graph from an sb.Input), "
            "not both"
        )
    _check_graph(steps)
    return layers


def _check_graph(steps: tuple[graph.Step, ...]) -> None:
    """Known layers; the outputs a Dense layer's; a BatchNorm the only use of a Dense
    layer's outputs; never a Dropout of a Dropout, nor two of one node."""
    users = {
        i: [j for j, _ in consumers] for i, consumers in graph.consumers(steps).items()
    }
    kinds = (Dense, Dropout, BatchNorm, ActivationLayer, graph.Add, graph.Concatenate)
    for j, step in enumerate(steps[1:], 1):
        layer = step.layer
        if not isinstance(layer, kinds):
            raise SpecError(
                f"Network.outputs: {layer!r} is not a layer of symbackprop's (Dense, "
                "Dropout, BatchNorm, ActivationLayer, Add, Concatenate)"
            )
        sources = [steps[s].layer for s in step.sources]
        if isinstance(layer, BatchNorm) and (
            not isinstance(sources[0], Dense) or users[step.sources[0]] != [j]
        ):
            normalised = steps[step.sources[0]].layer or "the inputs"
            raise SpecError(
                f"Network.outputs: {layer!r} normalises {normalised!r}; a BatchNorm "
                "normalises the outputs of a Dense layer, and is their only use"
            )
        if isinstance(layer, Dropout):
            (source,) = step.sources
            if isinstance(sources[0], Dropout):
                raise SpecError(
                    f"Network.outputs: {layer!r} drops the outputs of another Dropout; use "
                    "one Dropout of rate 1 − (1 − p)(1 − q) instead"
                )
            dropouts = [u for u in users[source] if isinstance(steps[u].layer, Dropout)]
            if len(dropouts) > 1:
                raise SpecError(
                    f"Network.outputs: {len(dropouts)} Dropouts drop the same node "
                    f"({steps[source].layer or 'the inputs'!r}); use one and reuse its "
                    "outputs"
                )
    if not isinstance(steps[-1].layer, Dense):
        raise SpecError(
            f"Network.outputs must be a Dense layer's outputs, got those of "
            f"{steps[-1].layer!r}"
        )


def _check_output_domain(activation: Activation, loss: Loss) -> None:
    """The loss must be defined on every output the output activation can give."""
    found = domain.violation(activation, loss)
    if found is None:
        return
    point, output = found
    fitting = [
        name
        for name, candidate in catalog.ACTIVATIONS.items()
        if domain.fits(candidate, loss)
    ]
    advice = (
        f"; use an output activation such as {', '.join(fitting[:3])}"
        if fitting
        else ""
    )
    raise SpecError(
        f"Network.loss: {loss.name!r} needs {domain.needs(loss)}, but the output activation "
        f"{activation.name!r} gives {sp.N(output, 4)} at z = {float(point)}{advice}"
    )


def _task(task: object, loss: Loss, units: int) -> str | None:
    """``task`` checked against the loss and the output width (None: the loss's own)."""
    if task is None:
        return None
    task = one_of(task, TASKS, "Network.task")
    if loss.targets == "labels" and task != "multiclass":
        raise SpecError(
            f"Network.task: {task!r} does not fit the loss {loss.name!r}, which takes "
            "integer class labels (a multiclass task)"
        )
    domain = DOMAINS[loss.targets]
    if task in CLASS_TARGETS and not domain.contains(CLASS_TARGETS[task]):
        low, high = CLASS_TARGETS[task]
        raise SpecError(
            f"Network.task: {task!r} encodes classes as targets {low:g} and {high:g}, but "
            f"the loss {loss.name!r} needs {domain.description}"
        )
    if task == "multiclass" and units < 2:
        raise SpecError(
            "Network.task: 'multiclass' needs an output unit per class (at least 2), "
            f"got {units}"
        )
    return task


def _check_generated_names(
    layers: tuple[Dense, ...],
    optimizer: Optimizer,
    dropout: dict[object, float],
    batchnorm: dict[int, BatchNorm],
    keys: tuple[object, ...] = (),
) -> None:
    """No two things in the generated module get the same name: a learnable parameter
    ``dalpha`` beside ``alpha`` (both ``dalpha1``), ``beta`` in layer 1 under Adam
    (``beta1`` is Adam's setting), ``M`` in layer 1 beside the dropout mask M1, or
    ``gamma`` in layer 1 beside the first BatchNorm's gamma1, ``B`` or ``G`` in a layer
    beside its BatchNorm's outputs B1 and their error G1. (A BatchNorm's own beta1
    renames Adam's setting in the module instead: adam_beta1.)"""
    owners = {
        name: f"the optimiser's setting {name}" for name, _ in optimizer.constants
    }
    for i, l in enumerate(batchnorm, 1):
        owner = f"the BatchNorm after layer {l}"
        for kind in ("gamma", "beta", "mean", "var"):
            param = names.batchnorm_parameter(kind, i)
            owners[param.name] = owner
            owners[names.gradient(param).name] = owner
        for statistic in (names.batch_mean(i), names.batch_variance(i)):
            owners[statistic.name] = owner
        owners[names.batchnorm_output(l).name] = f"the outputs of {owner}"
        owners[names.batchnorm_error(l).name] = f"the error arriving at {owner}"
    for key in keys:
        if isinstance(key, tuple):
            junction = names.junction(key).name
            owner = f"the graph's node {junction}"
            for name in (junction, f"E_{junction}", f"delta_{junction}"):
                owners[name] = owner
    owners.update(
        (
            names.mask(l).name,
            (
                f"the mask of the Dropout after layer {l}"
                if l
                else "the inputs' dropout mask"
            ),
        )
        for l in dropout
    )
    for i, layer in enumerate(layers, 1):
        params = [(names.weight(i), f"W{i}"), (names.bias(i), f"b{i}")] + [
            (
                names.learnable(symbol, i),
                f"learnable parameter {symbol.name!r} of layer {i}",
            )
            for symbol, _ in layer.activation.learnable
        ]
        gradients = [(names.gradient(p), f"the gradient of {p}") for p, _ in params]
        for symbol, owner in params + gradients:
            name = symbol.name
            if name in owners:
                settings = {key for key, _ in optimizer.constants}
                rename = (
                    "the setting" if name in settings else "the learnable parameter"
                )
                raise SpecError(
                    f"Network.layers: {owner} and {owners[name]} would both be named "
                    f"{name!r} in the generated module; rename {rename}"
                )
            owners[name] = owner


#: the letter of each kind of node that is no Dense layer's (S_k, C_k, H_k)
_LETTERS = {graph.Add: "S", graph.Concatenate: "C", ActivationLayer: "H"}


@dataclass(frozen=True)
class Network:
    """A feed-forward network: ``inputs`` features, then ``layers`` (Dense, and Dropouts
    between or before them, a BatchNorm after any hidden Dense layer) — or a graph, from the
    node ``inputs = sb.Input(n)`` to the node ``outputs`` (layers called on nodes, joined by
    ``sb.Add`` and ``sb.Concatenate``) — trained on ``loss`` (plus ``regularizer`` summed
    over every weight, if given) by ``optimizer``; weights start from ``init`` unless a layer
    names its own; the module computes in ``dtype``. ``task`` ("regression", "binary",
    "multiclass" or "sign") overrides the loss's own: the quadratic cost with
    ``task="multiclass"`` makes a classifier, with labels, accuracy and predict.
    """

    name: str
    inputs: int | graph.Input
    layers: tuple[Dense, ...] = field(default_factory=tuple)
    loss: str | Loss = "mse"
    regularizer: Regularizer | None = None
    optimizer: str | Optimizer = field(default_factory=SGD)
    init: str | Initializer = "glorot_uniform"
    dtype: str = "float64"
    task: str | None = None
    outputs: graph.Node | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", module_name(self.name))
        if self.outputs is not None:
            object.__setattr__(self, "layers", _graph_layers(self))
        else:
            object.__setattr__(
                self, "inputs", positive_int(self.inputs, "Network.inputs")
            )
            object.__setattr__(self, "layers", _chain_layers(self.layers))
        _check_widths(self)
        dense = self.dense
        loss = catalog.loss(self.loss, "Network.loss")
        object.__setattr__(self, "loss", loss)
        budget.bounded(
            lambda: _check_output_domain(dense[-1].activation, loss),
            f"Network {self.name!r}: checking the loss against the output activation",
        )
        if dense[-1].units < loss.min_units:
            raise SpecError(
                f"Network.loss: {loss.name!r} needs at least {loss.min_units} output units, "
                f"got {dense[-1].units}"
            )
        if self.regularizer is not None and not isinstance(
            self.regularizer, Regularizer
        ):
            raise SpecError(
                "Network.regularizer must be a Regularizer such as sb.L2(0.01) or None, "
                f"got {self.regularizer!r}"
            )
        object.__setattr__(
            self, "optimizer", optimizer(self.optimizer, "Network.optimizer")
        )
        _check_generated_names(
            dense, self.optimizer, self.dropout, self.batchnorm, self.keys
        )
        object.__setattr__(self, "init", initializer(self.init, "Network.init"))
        object.__setattr__(self, "dtype", one_of(self.dtype, DTYPES, "Network.dtype"))
        object.__setattr__(self, "task", _task(self.task, loss, dense[-1].units))

    @property
    def effective_task(self) -> str:
        """What the network does: ``task`` if given, else its loss's task."""
        return self.task or self.loss.task

    @property
    def gives_probabilities(self) -> bool:
        """Whether a classifier's outputs are class probabilities: softmax rows (multiclass),
        or values where binary cross-entropy is defined, in [0, 1] (binary)."""
        output = self.dense[-1].activation
        if self.effective_task == "multiclass":
            return output.name == "softmax"
        if self.effective_task != "binary":
            return False
        probability = catalog.LOSSES["binary_crossentropy"]
        return budget.bounded(
            lambda: domain.violation(output, probability) is None,
            f"Network {self.name!r}: checking whether its outputs are probabilities",
        )

    @property
    def dense(self) -> tuple[Dense, ...]:
        """The Dense layers, in order (W1, b1 belong to the first)."""
        return tuple(layer for layer in self.layers if isinstance(layer, Dense))

    @functools.cached_property
    def keys(self) -> tuple[object, ...]:
        """What each step's outputs are numbered by: 0 the inputs, l those of Dense layer l
        (and of its BatchNorm), ("S", k) the k-th Add's, ("C", k) the k-th Concatenate's,
        ("H", k) the k-th ActivationLayer's; None a Dropout's."""
        keys: list[object] = []
        counts = {Dense: 0, ActivationLayer: 0, graph.Add: 0, graph.Concatenate: 0}
        for step in self.steps:
            layer = step.layer
            if layer is None:
                keys.append(0)
            elif isinstance(layer, BatchNorm):
                keys.append(keys[step.sources[0]])
            elif type(layer) in counts:
                counts[type(layer)] += 1
                count = counts[type(layer)]
                if isinstance(layer, Dense):
                    keys.append(count)
                else:
                    keys.append((_LETTERS[type(layer)], count))
            else:
                keys.append(None)
        return tuple(keys)

    def _applied(self, kind: type) -> dict[object, object]:
        """Each layer of ``kind`` by the key of the node it is applied to, in order."""
        keys = self.keys
        return {
            keys[step.sources[0]]: step.layer
            for step in self.steps
            if isinstance(step.layer, kind)
        }

    @property
    def dropout(self) -> dict[object, float]:
        """Each Dropout's rate by the key of the node it drops (``keys``): 0 for the inputs
        X, l for the outputs A_l of Dense layer l (B_l after its BatchNorm)."""
        return {key: layer.rate for key, layer in self._applied(Dropout).items()}

    @property
    def batchnorm(self) -> dict[int, BatchNorm]:
        """Each BatchNorm by the Dense layer l whose outputs A_l it normalises, in order
        (the i-th owns gamma<i>, beta<i>, mean<i>, var<i>)."""
        return self._applied(BatchNorm)

    @property
    def sizes(self) -> tuple[int, ...]:
        """The inputs' width, then each Dense layer's, e.g. (2, 20, 1)."""
        return (self.steps[0].units, *(layer.units for layer in self.dense))

    @functools.cached_property
    def steps(self) -> tuple[graph.Step, ...]:
        """Every node in computation order, the inputs first: the chain's layers in turn, or
        the graph's nodes in the order they were made."""
        if self.outputs is None:
            return graph.chain(self.inputs, self.layers)
        return graph.resolve(self.inputs, self.outputs)

    def initializer(self, index: int) -> Initializer:
        """The initialiser of Dense layer ``index`` (0-based): its own, else the network's."""
        return self.dense[index].init or self.init

    def architecture(self) -> str:
        """Inputs and layers (Dropouts too), and for a graph what each node is computed from:
        what the parameters mean (a saved file must match it)."""
        if self.outputs is None:
            stack = " → ".join(repr(layer) for layer in self.layers)
            return f"inputs {self.inputs} → {stack}"
        nodes = [
            f"[{i}] {step.layer!r} of {', '.join(f'[{s}]' for s in step.sources)}"
            for i, step in enumerate(self.steps[1:], 1)
        ]
        return f"[0] inputs {self.sizes[0]}; {'; '.join(nodes)}"

    def describe(self) -> str:
        """One line: inputs → layers; loss; optimiser (and any non-default init or dtype)."""
        penalty = f" + {self.regularizer.title}" if self.regularizer else ""
        extras = "".join(
            f"; {key} {value}"
            for key, value, default in (
                ("init", self.init.name, "glorot_uniform"),
                ("dtype", self.dtype, "float64"),
                ("task", self.effective_task, self.loss.task),
            )
            if value != default
        )
        return (
            f"{self.architecture()}; loss {self.loss.title}{penalty}; "
            f"optimizer {self.optimizer.title}{extras}"
        )
