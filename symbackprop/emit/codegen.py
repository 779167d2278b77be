"""Code generation: printed formulas into the Jinja template, black, then atomic writes."""

from __future__ import annotations

import builtins
import dataclasses
import math
import os
import types
import unicodedata
from importlib import resources
from pathlib import Path

import black
import jinja2
import sympy as sp

from .. import budget
from ..derive.derivation import Derivation, derive
from ..derive.derivation import T as TARGET_VALUES
from ..errors import SpecError
from ..expressions import libraries, names, printers
from ..expressions.algebra import BatchLoss, ElementSum
from ..expressions.names import WEIGHTS
from ..lower.program import Program, Statement
from ..lower.rules import lower
from ..output import sign, write_atomic
from ..spec.initializers import FAN_IN, FAN_OUT
from ..spec.network import Network
from ..spec.optimizers import hyper
from ..spec.targets import DOMAINS
from . import revive, runtime

TEMPLATE = "module.py.j2"
#: black for the derived part, for the Pythons the module runs on (requires-python): alone,
#: black would infer older ones from it and format ``f(…, *masks)`` as the whole module's
#: formatting would not
BLACK = black.Mode(
    target_versions={black.TargetVersion[f"PY3{minor}"] for minor in range(10, 14)}
)
#: Unicode categories never copied into generated text: controls, format characters, line and
#: paragraph separators, lone surrogates
_UNSAFE = {"Cc", "Cf", "Zl", "Zp", "Cs"}
CONVENTION_TEXT = {
    "negative": "δ = −∂ℓ/∂Z (error-signal convention, Rumelhart, Hinton & Williams, Nature 323, 1986: δ_y = t − y for matched output and loss)",
    "gradient": "δ = ∂ℓ/∂Z (gradient convention, Nielsen, Neural Networks and Deep Learning, ch. 2: δ_y = y − t for matched output and loss)",
}


def template_dir() -> Path:
    """The templates folder: beside the package in a checkout, inside it in a wheel."""
    checkout = Path(__file__).resolve().parents[2] / "templates"
    if (checkout / TEMPLATE).is_file():
        return checkout
    return Path(str(resources.files("symbackprop") / "templates"))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["py"] = literal
    env.filters["text"] = one_line
    env.filters["rstrip"] = str.rstrip
    return env


#: the only types written into generated source as Python literals
_LITERALS = (bool, int, float, str, type(None))


def literal(value: object) -> str:
    """A Python literal for ``value``, which must be built of exact built-ins (bool, int,
    finite float, str, None, and tuples, lists and dicts of them): a subclass could print
    itself as code, so none reaches generated source (the spec objects make their values
    plain; this refuses one that slipped through)."""
    kind = type(value)
    if kind in (tuple, list):
        items = [literal(item) for item in value]
        if kind is tuple and len(items) == 1:
            return f"({items[0]},)"
        body = ", ".join(items)
        return f"({body})" if kind is tuple else f"[{body}]"
    if kind is dict:
        pairs = (f"{literal(k)}: {literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if kind not in _LITERALS or (kind is float and not math.isfinite(value)):
        raise TypeError(f"not a plain value to write into generated code: {value!r}")
    return repr(value)


def one_line(value: object) -> str:
    """Free text made safe inside a comment or a docstring: control, format (bidirectional)
    and line-breaking characters become spaces, backslashes and double quotes are escaped, so
    no text can end the comment or the docstring it is in."""
    text = "".join(
        " " if unicodedata.category(char) in _UNSAFE else char for char in str(value)
    )
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _statement(
    printer: printers.NumPyCodePrinter, statement: Statement
) -> dict[str, object]:
    """One generated statement: its code (``lhs``, then each operator with its printed
    expression), under a comment printed from the very expression the code computes (so the
    two always agree), followed by the lecture's equation where that reads differently, with
    what the lowering made the variables hold; ``uses`` names its inputs."""
    target = ", ".join(printers.comment(symbol) for symbol in statement.targets)
    formula = printers.comment(statement.expr)
    source = statement.source
    own = f"{target} {source.relation} {formula}"
    text = printers.equation_text(source)
    lecture = text
    if statement.factor != 1:
        lecture += f", times {printers.comment(statement.factor)}"
    for variable, factor in statement.held:
        held = printers.comment(variable)
        lecture += f"; here {held} holds {printers.comment(factor)}·{held}"
    differs = lecture != text or formula != printers.comment(source.rhs)
    if any(expr.has(sp.I) for _, expr in statement.operations):
        # a spec's formulas are real (check_real): a form in I (cos as complex exponentials)
        # would make the module compute complex arrays, silently
        raise SpecError(
            f"{own}: the form computed for it holds the imaginary unit I, and the module "
            "would compute complex numbers; symbackprop refuses to print it (please report "
            "the spec)"
        )
    operations = [
        (op, printers.numpy_code(expr, printer)) for op, expr in statement.operations
    ]
    return {
        "lhs": ", ".join(symbol.name for symbol in statement.targets),
        "code": operations[0][1],
        "statements": [f"{op} {code}" for op, code in operations],
        "comment": f"{own}  (lecture: {lecture})" if differs else lecture,
        "uses": {symbol.name for symbol in statement.expr.free_symbols},
    }


def _unpacking(variables: list[str], lines: list[dict[str, object]]) -> str:
    """Targets for unpacking the forward pass: names the lines use, ``_`` for the rest."""
    used = set().union(*(line["uses"] for line in lines))
    return ", ".join(name if name in used else "_" for name in variables)


def _params(derivation: Derivation) -> list[dict[str, object]]:
    """Each parameter's name, shape and initialiser: the layer's for W, zeros for b, the
    activation's initial value for its learnable parameters; a BatchNorm's γ and running
    variance start at 1, its β and running mean at 0 (the running ones after the layer's
    trained parameters)."""
    params = []
    for layer in derivation.layers:
        initial = {layer.learnable[p]: v for p, v in layer.activation.learnable}
        initial.update(layer.starting_at_one)
        init = derivation.network.initializer(layer.index - 1)
        for param in (*layer.params, *layer.running_averages):
            entry = {"name": param.name, "init": "bias", "shape": (layer.units,)}
            if param == layer.W:
                entry.update(init=init.name, shape=(layer.units, layer.inputs))
            elif param in initial:
                entry.update(init="constant", value=initial[param])
            params.append(entry)
    return params


def _layer_rows(derivation: Derivation) -> tuple[tuple, ...]:
    """For train's diagnostics (per-layer norms): (name, activation, units, its parameters)
    of each Dense layer."""
    return tuple(
        (
            f"dense_{layer.index}",
            layer.activation.title,
            layer.units,
            tuple(p.name for p in layer.params if p not in layer.scale_and_shift),
        )
        for layer in derivation.layers
    )


def _summary_rows(derivation: Derivation) -> tuple[tuple, ...]:
    """For summary(), as Keras' model.summary() shows a model: (layer (type), width, its
    parameters, activation or rate, the layers it takes its inputs from) of each node in
    order; for a graph the inputs first, and whose outputs each node takes."""
    network = derivation.network
    is_graph = network.outputs is not None
    kinds = {
        "ActivationLayer": ("activation", "Activation"),
        "Dense": ("dense", "Dense"),
        "Dropout": ("dropout", "Dropout"),
        "BatchNorm": ("batch_normalization", "BatchNormalization"),
        "Add": ("add", "Add"),
        "Concatenate": ("concatenate", "Concatenate"),
    }
    counts = dict.fromkeys(kinds, 0)
    dense = {layer.index: layer for layer in derivation.layers}
    labels, rows = [], []
    for step, key in zip(network.steps, network.keys, strict=True):
        if step.layer is None:
            labels.append("input_layer")
            if is_graph:
                rows.append(("input_layer (InputLayer)", step.units, (), "", ()))
            continue
        kind = type(step.layer).__name__
        counts[kind] += 1
        label, shown = kinds[kind]
        labels.append(f"{label}_{counts[kind]}")
        params, note = (), ""
        if kind == "Dense":
            layer = dense[key]
            params = tuple(
                p.name for p in layer.params if p not in layer.scale_and_shift
            )
            note = layer.activation.title
        elif kind == "BatchNorm":  # keyed by the Dense layer it normalises
            layer = dense[key]
            params = tuple(
                p.name for p in (*layer.scale_and_shift, *layer.running_averages)
            )
        elif kind == "Dropout":
            note = f"rate {step.layer.rate:g}"
        elif kind == "ActivationLayer":
            note = step.layer.activation.title
        sources = tuple(labels[s] for s in step.sources) if is_graph else ()
        rows.append((f"{labels[-1]} ({shown})", step.units, params, note, sources))
    return tuple(rows)


def _batchnorm_rows(derivation: Derivation) -> tuple[tuple, ...]:
    """For the runtime (training= where there is one): (the Dense layer it follows, its
    width, its parameters) of each BatchNorm, in order."""
    return tuple(
        (
            layer.index,
            layer.units,
            tuple(p.name for p in (*layer.scale_and_shift, *layer.running_averages)),
        )
        for layer in derivation.layers
        if layer.batchnorm is not None
    )


def _exact_params(derivation: Derivation) -> tuple[str, ...]:
    """The parameters whose gradient is exact: those of the layers above the topmost
    straight-through activation (below it the gradient is a surrogate by design)."""
    top = max(
        (
            layer.index
            for layer in derivation.layers
            if layer.activation.straight_through
        ),
        default=0,
    )
    return tuple(
        param.name for layer in derivation.layers[top:] for param in layer.params
    )


def _initializers(
    printer: printers.NumPyCodePrinter, derivation: Derivation
) -> list[dict[str, object]]:
    """The initialisers the weights use, each with its scale printed from SymPy."""
    network = derivation.network
    used = {
        network.initializer(i).name: network.initializer(i)
        for i in range(len(network.dense))
    }
    return [
        {
            "name": init.name,
            "distribution": init.distribution,
            "source": init.source,
            "code": printers.numpy_code(init.scale, printer.for_host()),
            "fans": ", ".join(
                fan.name if fan in init.scale.free_symbols else "_"
                for fan in (FAN_OUT, FAN_IN)
            ),
            "comment": printers.comment(init.scale),
        }
        for init in sorted(used.values(), key=lambda init: init.name)
    ]


def _training(
    printer: printers.NumPyCodePrinter, program: Program, param_names: tuple[str, ...]
) -> dict[str, object]:
    """The optimiser in the fit loop: its state arrays, constants, the factor ``_step``
    scales gradients by, the schedule and the update lines."""
    derivation = program.derivation
    optimizer = derivation.network.optimizer
    rate = program.context.rate
    state = [
        {"name": names.state(s, param).name, "param": param.name}
        for param in derivation.params
        for s in optimizer.state
    ]
    own = _own_names(program)
    lowered = [_renamed(statement, own) for statement in program.function("update")]
    updates = [_statement(printer, statement) for statement in lowered]
    schedule = optimizer.schedule is not None
    if schedule:  # the rate at update k: numbers alone
        updates[0] = _statement(printer.for_scalars(), lowered[0])
    with_state = {entry["param"] for entry in state}
    return {
        "optimizer": optimizer.title,
        "lr": optimizer.lr,
        "state": state,
        # the parameters unpacked for their state: a BatchNorm's running ones have none
        "state_unpacking": ", ".join(
            name if name in with_state else "_" for name in param_names
        ),
        "constants": _constants(optimizer.settings, own),
        # the schedule's own settings, for the function that computes its rate
        "schedule_constants": _constants(
            optimizer.schedule.settings if schedule else (), own
        ),
        "step_scale": "1.0" if rate is None else rate.name,
        "schedule": updates[0] if schedule else None,
        "updates": updates[1:] if schedule else updates,
    }


def _constants(
    settings: tuple[tuple[str, float], ...], own: dict[sp.Symbol, sp.Symbol]
) -> list[dict[str, str]]:
    """Each setting's name in the module and its value as a literal."""
    return [
        {"name": own.get(hyper(key), hyper(key)).name, "value": literal(value)}
        for key, value in settings
    ]


#: names the fit loop's functions bind or read besides the derived ones (its locals, the
#: libraries, Python's built-ins): a setting of one of these names is renamed too
RESERVED = frozenset(dir(builtins)) | {
    *("np", "math", "jax", "jnp", "torch", "functools"),
    *("L", "M", "T", "T_batch", "X", "X_batch", "Y", "array", "batch", "batch_outputs"),
    *("batch_size", "batched", "batches", "c", "carry", "d", "data", "flat", "full"),
    *("grads", "k", "kept", "loss", "lr", "lr_k", "m_batch", "masks", "metrics", "n"),
    *("on_batch", "order", "outputs", "params", "part", "penalty", "predicted", "rate"),
    *("rates", "right", "rows", "start", "state", "sums", "theirs", "total", "update"),
    *("updates", "value", "values", "w_batch", "w_rest", "weights", "whole", "width"),
    *("widths", "with_accuracy", "with_batch_loss", "with_loss", "wrong", "zero"),
}


def _own_names(program: Program) -> dict[sp.Symbol, sp.Symbol]:
    """The optimiser's settings whose names the module's fit loop uses for something else —
    a parameter's (Adam's beta1 beside the first BatchNorm's beta1), another variable's
    (a custom optimiser's setting X), a name of ``RESERVED``, ``_`` names and capitals (the
    module's helpers and constants) — each renamed after its optimiser: adam_beta1."""
    derivation = program.derivation
    optimizer = derivation.network.optimizer
    taken = {
        symbol.name
        for layer in derivation.layers
        for symbol in (*layer.params, *layer.running_averages)
    }
    taken |= {
        symbol.name
        for _, statements in program.functions
        for statement in statements
        for symbol in (statement.target, *statement.parts)
    }
    return {
        hyper(key): hyper(f"{optimizer.name.lower()}_{key}")
        for key, _ in optimizer.constants
        if key in taken or key in RESERVED or key.startswith("_") or key.isupper()
    }


def _renamed(statement: Statement, own: dict[sp.Symbol, sp.Symbol]) -> Statement:
    """``statement`` with the optimiser's settings under their own names (``_own_names``)."""
    if not own:
        return statement
    return dataclasses.replace(
        statement,
        expr=statement.expr.xreplace(own),
        in_place=tuple((op, expr.xreplace(own)) for op, expr in statement.in_place),
    )


#: each target's library as the module's text names it, and the prefix of its derived
#: kernels (``_torch_step``)
_LIBRARY = {
    "numpy": ("NumPy", ""),
    "torch": ("PyTorch", "torch_"),
    "jax": ("JAX", "jax_"),
}


def _outputs(program: Program) -> tuple[sp.Symbol, ...]:
    """What ``_step`` returns of each batch for the epoch's metrics: the output layer's Z and
    A, or D, R and A where it computes a softmax with its parts (``rules.fused``)."""
    if program.context.softmax is None:
        layer = program.derivation.layers[-1]
        return (layer.Z, layer.A)
    _, output, shift, rest = program.context.softmax
    return (shift, rest, output)


def _split_loss(
    printer: printers.NumPyCodePrinter, program: Program
) -> dict[str, object] | None:
    """The loss as the epoch computes it once from the batches' outputs: its per-sample term
    (the argument of the batch mean, summed over all rows) and the rest (the regulariser, added
    per batch); None where that term needs more than ``_outputs``, the targets and the weights
    — a PReLU output's trainable slope, which changes from batch to batch — so that the epoch
    sums the batches' own losses instead."""
    (statement,) = program.function("loss")
    expr = statement.expr
    means = [term for term in sp.Add.make_args(expr) if isinstance(term, BatchLoss)]
    allowed = {*_outputs(program), TARGET_VALUES, WEIGHTS}
    if len(means) != 1 or not means[0].args[0].free_symbols <= allowed:
        return None
    (mean,) = means
    sample = mean.args[0]
    rest = expr - mean

    def line(value: sp.Expr, code: sp.Expr) -> dict[str, object]:
        return {
            "code": printers.numpy_code(code, printer),
            "comment": printers.comment(value),
        }

    return {
        "sample": line(sample, ElementSum(sample)),
        "penalty": line(rest, rest) if rest != 0 else None,
    }


def render(derivation: Derivation, target: str = "numpy") -> str:
    """Source of the standalone training module for ``derivation`` in ``target``'s library
    ("numpy", "torch", "jax"), black-formatted (within ``budget.TOTAL``)."""
    libraries.check_target(target)
    return budget.bounded(
        lambda: _render(derivation, target),
        f"Network {derivation.network.name!r}: generating its module",
    )


def _render(derivation: Derivation, target: str) -> str:
    from .. import __version__

    network = derivation.network
    params = _params(derivation)
    param_names = tuple(p["name"] for p in params)
    masks = [mask.name for mask, _, _ in derivation.masks]
    statistics = [
        batch.name for layer in derivation.layers for _, batch in layer.statistics
    ]
    output = derivation.layers[-1].A.name
    # one printer for the module: it records what the code needs
    printer = libraries.PRINTERS[target]()
    program = lower(derivation, fuse=printer.fuses_softmax, fold=printer.folds_rate)
    # a NumPy epoch has _softmax_parts write each batch's parts into its rows of the epoch's
    # arrays (_forward's out), which the metrics read after the pass
    fused = target == "numpy" and program.context.softmax is not None
    printer.parts_out = "out" if fused else None
    forward = [t.name for s in program.function("forward") for t in s.targets]
    outputs = [symbol.name for symbol in _outputs(program)]
    library, kernel = _LIBRARY[target]
    # the loss as computed: from the logits where that is stable (calculus.accurate_loss)
    (loss,) = (_statement(printer, s) for s in program.function("loss"))
    forward_lines = [_statement(printer, s) for s in program.function("forward")]
    backward = [_statement(printer, s) for s in program.function("backward")]
    task = network.effective_task
    context = {
        "target": target,
        "library": library,
        "kernel": kernel,
        "outputs": ", ".join(outputs),
        # a softmax output's parts, which _forward returns before it (rules.fused)
        "parts": ", ".join(
            t.name for s in program.function("forward") for t in s.parts
        ),
        "split": _split_loss(printer, program),
        "parts_out": fused,
        "name": network.name,
        "version": __version__,
        "description": network.describe(),
        "architecture": network.architecture(),
        "dtype": network.dtype,
        "targets": network.loss.targets,
        "target_domain": DOMAINS[network.loss.targets].constants(),
        "straight_through": tuple(
            layer.A.name
            for layer in derivation.layers
            if layer.activation.straight_through
        ),
        "exact_params": _exact_params(derivation),
        "convention": CONVENTION_TEXT[derivation.convention],
        "sizes": network.sizes,
        "params": params,
        "initializers": _initializers(printer, derivation),
        "param_names": param_names,
        "shapes": {p["name"]: p["shape"] for p in params},
        "layers": _layer_rows(derivation),
        "batchnorm": _batchnorm_rows(derivation),
        "trained": tuple(p.name for p in derivation.params),
        # batch normalisation: the kernels take training= (batch or running statistics),
        # and the step returns the batch statistics for the running averages
        "mode_default": ", training=False" if network.batchnorm else "",
        "mode_arg": ", training=training" if network.batchnorm else "",
        "batch_statistics": "".join(f", {name}" for name in statistics),
        "task": task,
        "probabilities": network.gives_probabilities,
        "metrics": ("loss", "accuracy") if task != "regression" else ("loss",),
        "targets_sum_to_one": derivation.targets_sum_to_one,
        "args": ", ".join(param_names),
        # the dropout masks: 1.0 (nothing dropped) unless given
        "masks": masks,
        "mask_defaults": "".join(f", {mask}=1.0" for mask in masks),
        "mask_args": "".join(f", {mask}" for mask in masks),
        "dropout": tuple(
            (mask.name, rate, width) for mask, rate, width in derivation.masks
        ),
        "summary": _summary_rows(derivation),
        "activations": ", ".join(forward),
        "output": output,
        "loss_unpacking": _unpacking(forward, [loss, {"uses": {output}}]),
        "step_unpacking": _unpacking(
            forward,
            [loss, *backward, {"uses": {*outputs, *statistics}}],
        ),
        "forward": forward_lines,
        "loss": loss,
        "backward": backward,
        "error_scale": printers.comment(program.context.error_scale),
        "grads": ", ".join(names.gradient(p).name for p in derivation.params),
        **_training(printer, program, param_names),
    }
    # everything is printed now: the helpers and modules the code needs are known
    context["helpers"], imports = libraries.helper_source(target, printer.needs)
    context["needs"] = printer.needs | imports
    derived = _environment().get_template(TEMPLATE).render(context)
    # black formats the derived part; the runtime is copied as it stands in runtime.py,
    # black-formatted already (formatting it again cost most of a module's generation)
    formatted = black.format_str(derived, mode=BLACK)
    return sign(f"{formatted}\n\n{runtime.source()}\n", "py")


def generate(
    network: Network, convention: str = "negative", target: str = "numpy"
) -> str:
    """Black-formatted source of a standalone training module for ``network`` in ``target``'s
    library ("numpy", "torch", "jax"), derivation and module together within ``budget.TOTAL``.
    """
    libraries.check_target(target)
    return budget.bounded(
        lambda: render(derive(network, convention), target),
        f"Network {getattr(network, 'name', network)!r}: generating its module",
    )


def write_module(
    network: Network,
    path: str | os.PathLike,
    convention: str = "negative",
    force: bool = False,
    target: str = "numpy",
) -> Path:
    """Generate the module for ``network`` and write it atomically to ``path``; a file there
    is replaced only if symbackprop generated it and nobody edited it since (``force``: even
    if edited), see ``output.check_overwrite``."""
    return write_atomic(path, generate(network, convention, target), force)


def build(
    network: Network, convention: str = "negative", target: str = "numpy"
) -> types.ModuleType:
    """The generated module for ``network``, imported (not written to disk); its Models
    pickle with the module's source (``revive``), so joblib and other processes can load them.
    """
    return revive.module(generate(network, convention, target), network.name)


__all__ = [
    "build",
    "generate",
    "render",
    "template_dir",
    "write_module",
]
