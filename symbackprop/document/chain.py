"""The chain rule written out: one unit first, then every layer with its factors coloured, then
the four backpropagation equations index by index (Nielsen, Neural Networks and Deep Learning,
ch. 2, equations BP1–BP4).

The scalar derivatives come from the ``Derivation`` (SymPy took them); the matrix factors are
their array reading — ∂Z/∂W = A because ∂z/∂w_k = a_k — and are named, not differentiated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from ..derive.derivation import LOSS, N
from ..expressions import names
from ..expressions.algebra import Concat, Dot, Transpose
from ..expressions.notation import Partial, chain, colored
from ..expressions.symbols import a, t, w, y, z
from ..spec import graph
from ..spec.graph import Add
from ..spec.network import ActivationLayer, BatchNorm, Dense, Dropout
from .model import Math, Row, Section, Text
from .settings import in_symbols

if TYPE_CHECKING:
    from ..derive.derivation import Derivation, LayerDerivation

ELL = sp.Symbol("ell")
ONE = sp.Symbol("1")
#: colours of the chain's factors, as the lecture notes colour them: the output's two, then a
#: pair per hidden layer
OUTPUT_COLORS = ("blue", "red")
HIDDEN_COLORS = ("cyan", "magenta")


def _sign(derivation: Derivation) -> int:
    return -1 if derivation.convention == "negative" else 1


def one_unit(derivation: Derivation) -> Section | None:
    """∂z/∂w_k, ∂z/∂b and ∂z/∂a_k of one unit by SymPy, and the chain rule for one sample."""
    if derivation.neuron is None:
        return None
    net, partials = derivation.neuron
    (weight, by_weight), (bias, by_bias), (inputs, by_input) = partials
    sign = _sign(derivation)
    delta = sp.Symbol("delta")
    blue = colored(Partial(ELL, z), "blue")
    rows = [
        Row(z, (net,)),
        *(
            Row(Partial(z, v), (sp.Derivative(net, v), d))
            for v, d in ((weight, by_weight), (bias, by_bias), (inputs, by_input))
        ),
        Row(
            Partial(ELL, weight),
            (chain(blue, Partial(z, weight)), sign * delta * by_weight),
            note=sp.Eq(delta, sign * Partial(ELL, z), evaluate=False),
        ),
        Row(
            Partial(ELL, bias), (chain(blue, Partial(z, bias)), sign * delta * by_bias)
        ),
    ]
    text = (
        (
            "One unit and one sample first: the unit weighs its inputs a_k with weights w_k "
            "and adds its bias b (three inputs shown; k = 2 stands for any of them). SymPy "
            "differentiates z; the chain rule through z then gives every weight's gradient "
            "from one number per unit, its error δ:"
        ),
    )
    after = (
        (
            "So each weight's gradient is its unit's error times the input it weighs, the "
            "bias's is the error itself, and ∂z/∂a_k = w_k is how an error travels back to "
            "the unit below. The sections below do the same for whole layers and batches."
        ),
    )
    return Section("One unit", (Text(text), Math(tuple(rows)), Text(after)))


def _as(top: str, bottom: str, value: str | int) -> sp.Basic:
    """The scalar fact a matrix factor reads: ∂z/∂w_k = a_k, shown beside it."""
    return sp.Eq(
        Partial(sp.Symbol(top), sp.Symbol(bottom)), sp.sympify(value), evaluate=False
    )


def _factors(derivation: Derivation, layer: LayerDerivation) -> list[sp.Expr]:
    """∂ℒ/∂A_L, ∂A_L/∂Z_L, then ∂Z_{m+1}/∂A_m, ∂A_m/∂Z_m down to this layer, coloured."""
    out = derivation.layers[-1]
    factors = [
        colored(Partial(LOSS, out.A), OUTPUT_COLORS[0]),
        colored(Partial(out.A, out.Z), OUTPUT_COLORS[1]),
    ]
    for below in reversed(derivation.layers[layer.index - 1 : -1]):
        above = derivation.layers[below.index]
        weighed = derivation.inputs_of(above)
        factors.append(colored(Partial(above.Z, weighed), HIDDEN_COLORS[0]))
        if weighed != below.output:  # dropped: Ã = A ⊙ M, one more factor
            factors.append(Partial(weighed, below.output))
        if below.batchnorm is not None:  # normalised: B = γ Â + β, one more
            factors.append(Partial(below.output, below.A))
        factors.append(colored(Partial(below.A, below.Z), HIDDEN_COLORS[1]))
    return factors


def _product(factors: list[sp.Expr]) -> sp.Expr:
    return chain(*factors)


def layer_by_layer(derivation: Derivation) -> Section:
    """Each layer's gradients by the chain rule from the loss down, the shared factor named δ
    (in a graph, node by node: ``node_by_node``)."""
    if derivation.is_graph:
        return node_by_node(derivation)
    sign = _sign(derivation)
    symbols = in_symbols(derivation)
    blocks: list[Math | Text] = [
        Text(
            (
                (
                    "Every gradient is a chain of factors from the loss down to the parameter. "
                    "The chains of one layer share all factors but the last, and a layer's chain "
                    "begins with the whole chain of the layer above: their product is named "
                    "the layer's error δ (per sample, so ∂ℒ/∂Z = "
                ),
                sp.Integer(sign) * sp.Symbol("delta") / N,
                " for the mean loss ℒ), and is computed once, from the output down.",
            )
        )
    ]
    for layer in reversed(derivation.layers):
        factors = _factors(derivation, layer)
        delta = derivation.error_of(layer)
        below = derivation.inputs_of(layer)
        rows = [
            Row(
                Partial(LOSS, layer.W),
                (
                    _product([*factors, Partial(layer.Z, layer.W)]),
                    _product([Partial(LOSS, layer.Z), Partial(layer.Z, layer.W)]),
                ),
            ),
            Row(
                Partial(LOSS, layer.Z),
                (_product(factors), sign * delta / N),
                note=f"shared by every chain of layer {layer.index} and below",
            ),
        ]
        if layer.index < len(derivation.layers):
            above = derivation.layers[layer.index]
            weighed = derivation.inputs_of(above)
            forward = _net(weighed, above)
            rows.append(
                Row(
                    colored(Partial(above.Z, weighed), HIDDEN_COLORS[0]),
                    (sp.Derivative(forward, weighed), above.W),
                    arrays=True,
                    note=_as("z", "a_k", "w_k"),
                )
            )
            if weighed != layer.output:
                mask = names.mask(layer.index)
                rows.append(
                    Row(
                        Partial(weighed, layer.output),
                        (sp.Derivative(layer.output * mask, layer.output), mask),
                        arrays=True,
                        note="dropout: its mask, entry by entry, a Hadamard product",
                    )
                )
            if layer.batchnorm is not None:
                rows.append(
                    Row(
                        Partial(layer.output, layer.A),
                        (sp.Function("J_BN")(layer.A),),
                        arrays=True,
                        note=(
                            "batch-wise: its Jacobian couples the samples of each "
                            f"feature; applied to the error it gives G_{layer.index} "
                            "(Batch normalisation)"
                        ),
                    )
                )
            rows.append(
                Row(
                    colored(Partial(layer.A, layer.Z), HIDDEN_COLORS[1]),
                    (_local_derivative(layer),),
                    arrays=True,
                    note=_local_note(layer),
                )
            )
        net = _net(below, layer)
        rows.append(
            Row(
                Partial(layer.Z, layer.W),
                (sp.Derivative(net, layer.W), below),
                arrays=True,
                note=_as("z", "w_k", "a_k"),
            )
        )
        if layer.bias:
            rows.append(
                Row(
                    Partial(layer.Z, layer.b),
                    (sp.Derivative(net, layer.b), ONE),
                    arrays=True,
                    note=_as("z", "b", 1),
                )
            )
        rows += [
            Row(eq.lhs, (eq.rhs.xreplace(symbols),), arrays=True)
            for eq in derivation.step("gradient")
            if eq.layer == layer.index
        ]
        blocks += [
            Text((f"Layer {layer.index}:",)),
            Math(tuple(rows)),
        ]
    blocks.append(
        Text(
            (
                (
                    "The bias is added to every row, Z = A Wᵀ + 1bᵀ with 1 the column of N ones "
                    "(NumPy's broadcasting); so ∂Z/∂b = 1 and the chain multiplies δ by 1ᵀ: "
                    "the bias gradient sums δ over the samples of the batch, and ∂Z/∂W = A makes "
                    "the weight gradient δᵀA, one product over the batch."
                ),
            )
        )
    )
    return Section("The chain rule, layer by layer", tuple(blocks))


def _local(derivation: Derivation, j: int, position: int) -> tuple:
    """(the consumer's node c, ∂c/∂V, a note) for input ``position`` of step ``j``."""
    steps, keys = derivation.network.steps, derivation.network.keys
    step, node = steps[j], derivation.nodes[j]
    kind = step.layer
    if isinstance(kind, (Dense, BatchNorm)):
        layer = next(layer for layer in derivation.layers if layer.index == keys[j])
        if isinstance(kind, Dense):
            return layer.Z, layer.W, _as("z", "a_k", "w_k")
        note = "batch-wise: its Jacobian, applied to the error in Batch normalisation"
        return node, sp.Function("J_BN")(layer.A), note
    if isinstance(kind, Dropout):
        mask = names.mask(keys[step.sources[0]])
        return node, mask, "dropout: its mask, a Hadamard product"
    if isinstance(kind, Add):
        return node, ONE, "a sum passes its error to each input whole"
    if isinstance(kind, ActivationLayer):
        act = next(act for act in derivation.activations if act.key == keys[j])
        return node, _local_derivative(act), _local_note(act)
    widths = [steps[s].units for s in step.sources]
    start = sum(widths[:position])
    blocks = [
        sp.Integer(0) if start else None,
        IDENTITY,
        sp.Integer(0) if start + widths[position] < step.units else None,
    ]
    note = f"I in columns {start + 1}…{start + widths[position]}: its own columns of the error"
    return node, Concat(*(b for b in blocks if b is not None)), note


#: the identity matrix, as the documents write it
IDENTITY = sp.Symbol("I")


def node_by_node(derivation: Derivation) -> Section:
    """The chain rule on a graph, from the loss down: at a node that feeds several others,
    the sum over them of their error times their local derivative (the multivariable chain
    rule); each layer's gradients from the error at its Z."""
    network = derivation.network
    steps, keys = network.steps, network.keys
    values = derivation.nodes
    used = graph.consumers(steps)
    trained = derivation.with_error
    sign = _sign(derivation)
    symbols = in_symbols(derivation)
    dense = {layer.index: layer for layer in derivation.layers}
    blocks: list[Math | Text] = [
        Text(
            (
                (
                    "In a graph a node can feed several others, and its error is then the sum "
                    "of what each sends back (the multivariable chain rule): ∂ℒ/∂V = "
                    "Σ_c ∂ℒ/∂c · ∂c/∂V over the nodes c computed from V. From the loss down, "
                    "each node's error is found once and reused by every chain through it; "
                    "a layer's shared factor ∂ℒ/∂Z is named its error δ (per sample, so "
                    "∂ℒ/∂Z = "
                ),
                sp.Integer(sign) * sp.Symbol("delta") / N,
                "). Nodes computed from X alone need no error.",
            )
        )
    ]
    for j in reversed(range(1, len(steps))):
        if not trained[j]:
            continue
        rows = []
        value = values[j]
        if used[j]:
            terms, locals_ = [], []
            for consumer, position in used[j]:
                node, factor, note = _local(derivation, consumer, position)
                terms.append(chain(Partial(LOSS, node), Partial(node, value)))
                locals_.append(
                    Row(Partial(node, value), (factor,), arrays=True, note=note)
                )
            note = (
                f"summed over the {len(terms)} nodes it feeds" if len(terms) > 1 else ""
            )
            rows.append(
                Row(Partial(LOSS, value), (sp.Add(*terms, evaluate=False),), note=note)
            )
            rows += list(dict.fromkeys(locals_))
        if isinstance(steps[j].layer, Dense):
            layer = dense[keys[j]]
            rows += _layer_rows(derivation, layer, sign, symbols)
            title = (f"Layer {layer.index}:",)
        else:
            title = ("Node ", value, ":")
        if rows:
            blocks += [Text(title), Math(tuple(rows))]
    return Section("The chain rule, node by node", tuple(blocks))


def _layer_rows(derivation, layer, sign, symbols) -> list[Row]:
    """∂ℒ/∂Z = ∂ℒ/∂A ∂A/∂Z = ±δ/N, then the layer's gradients through ∂Z/∂W = S, ∂Z/∂b = 1."""
    delta = derivation.error_of(layer)
    below = derivation.inputs_of(layer)
    net = _net(below, layer)
    rows = [
        Row(
            Partial(LOSS, layer.Z),
            (
                chain(Partial(LOSS, layer.A), Partial(layer.A, layer.Z)),
                sign * delta / N,
            ),
        ),
        Row(
            Partial(layer.A, layer.Z),
            (_local_derivative(layer),),
            arrays=True,
            note=_local_note(layer),
        ),
        Row(
            Partial(LOSS, layer.W),
            (chain(Partial(LOSS, layer.Z), Partial(layer.Z, layer.W)),),
        ),
        Row(
            Partial(layer.Z, layer.W),
            (sp.Derivative(net, layer.W), below),
            arrays=True,
            note=_as("z", "w_k", "a_k"),
        ),
    ]
    return rows + [
        Row(eq.lhs, (eq.rhs.xreplace(symbols),), arrays=True)
        for eq in derivation.step("gradient")
        if eq.layer == layer.index
    ]


def _net(inputs: sp.Symbol, layer: LayerDerivation) -> sp.Expr:
    """Z = A Wᵀ + 1bᵀ, with 1 the column of N ones (no bias term for a layer without one)."""
    bias = Dot(ONE, Transpose(layer.b)) if layer.bias else 0
    return Dot(inputs, Transpose(layer.W)) + bias


def _local_derivative(layer: LayerDerivation) -> sp.Expr:
    if layer.activation.is_vector:
        return sp.Function(f"J_{layer.activation.name}")(layer.at(z))
    return layer.at(layer.activation_derivative)


def _local_note(layer: LayerDerivation) -> str:
    if layer.activation.is_vector:
        return "row-wise: its Jacobian, entry by entry in the output error"
    return "element-wise: f' of each entry, a Hadamard product in the chain"


def _renamed(expr: sp.Expr, entries: dict) -> sp.Expr:
    """``expr`` with its symbols renamed to indexed entries, as written: evaluating it again
    would make SymPy re-examine every function of it (tanh of tanh of … asks whether each
    argument is real, through polynomial gcds: minutes for a nested formula)."""
    with sp.evaluate(False):
        return expr.xreplace(entries)


def index_form(derivation: Derivation) -> Section | None:
    """BP1–BP4 entry by entry: sample n, unit j of the layer, unit k of the layer below (for
    a chain: in a graph BP2 is the node-by-node sum, shown in the chain rule)."""
    if derivation.is_graph:
        return None
    n, j, k = (sp.Symbol(s) for s in "njk")
    sign = _sign(derivation)
    out = derivation.layers[-1]
    rows = []
    entry = {y: sp.Indexed(out.A.name, n, j), t: sp.Indexed("T", n, j)}
    rows.append(
        Row(
            sp.Indexed(names.output_error().name, n, j),
            (_renamed(derivation.output_delta, {**entry, a: entry[y]}),),
            note="BP1",
        )
    )
    for layer in reversed(derivation.layers[:-1]):
        if layer.activation.is_vector:
            continue  # row-wise: its Jacobian mixes the units (see the output error)
        above = derivation.layers[layer.index]
        back = sp.Sum(
            sp.Indexed(derivation.error_of(above).name, n, k)
            * sp.Indexed(above.W.name, k, j),
            (k, 1, above.units),
        )
        local = _renamed(
            layer.activation_derivative,
            {a: sp.Indexed(layer.A.name, n, j), z: sp.Indexed(layer.Z.name, n, j)},
        )
        if layer.batchnorm is not None:  # the batch's samples mix: G_l (its section)
            error = sp.Mul(
                sp.Indexed(names.batchnorm_error(layer.index).name, n, j),
                local,
                evaluate=False,
            )
        else:
            if layer.index in derivation.network.dropout:
                local = sp.Mul(
                    sp.Indexed(names.mask(layer.index).name, n, j),
                    local,
                    evaluate=False,
                )
            error = back * local
        rows.append(
            Row(sp.Indexed(derivation.error_of(layer).name, n, j), (error,), note="BP2")
        )
    for layer in derivation.layers:
        delta = sp.Indexed(derivation.error_of(layer).name, n, j)
        below = derivation.inputs_of(layer)
        if layer.bias:
            rows.append(
                Row(
                    sp.Indexed(names.gradient(layer.b).name, j),
                    (sign * sp.Sum(delta, (n, 1, N)) / N,),
                    note="BP3",
                )
            )
        weight = sign * sp.Sum(delta * sp.Indexed(below.name, n, k), (n, 1, N)) / N
        if derivation.regularizer_in_symbols is not None:
            r_prime = derivation.regularizer_in_symbols[1]
            weight += r_prime.xreplace({w: sp.Indexed(layer.W.name, j, k)})
        rows.append(
            Row(sp.Indexed(names.gradient(layer.W).name, j, k), (weight,), note="BP4")
        )
    text = (
        (
            "The same equations entry by entry, as Nielsen writes them (Neural Networks and Deep "
            "Learning, ch. 2, equations BP1–BP4): n counts the samples, j the units of a "
            "layer and k the units of the layer below (or above, in BP2); each matrix equation "
            "above is all of these at once."
        ),
    )
    return Section("Index form", (Text(text), Math(tuple(rows))))
