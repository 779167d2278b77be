"""Exercises on the user's own network, in the style of lecture notes ("What is the shape of
δ_{h₁}?"), with their answers for the end of the document."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from ..derive.derivation import N
from ..expressions import names
from ..expressions.notation import Partial, Space
from . import example
from .model import Section, Text

if TYPE_CHECKING:
    from ..derive.derivation import Derivation

Item = tuple[tuple[str | sp.Basic, ...], tuple[str | sp.Basic, ...]]
_CONVENTION = {
    "negative": "error-signal (δ = −∂ℓ/∂z)",
    "gradient": "gradient (δ = ∂ℓ/∂z)",
}


def _items(derivation: Derivation) -> list[Item]:
    """(question, answer) pairs, each a paragraph of words and formulas."""
    layers = derivation.layers
    out = layers[-1]
    first = layers[0]
    delta = derivation.error_of(first)
    items: list[Item] = [
        (
            ("What is the shape of ", delta, "?"),
            (
                delta,
                " ∈ ",
                Space(N, first.units),
                ": one row per sample and one column per unit of layer 1, like ",
                first.Z,
                ".",
            ),
        ),
        (
            ("What is the shape of ", names.gradient(out.W), ", and why?"),
            (
                Space(out.units, out.inputs),
                ", the shape of ",
                out.W,
                ": the gradient has one entry per weight, so that the update ",
                out.W,
                " ← ",
                out.W,
                " − η ∂ℒ/∂W can subtract it.",
            ),
        ),
    ]
    if len(layers) > 1:
        below = layers[-2]
        items.append(
            (
                ("What is ", Partial(out.Z, derivation.inputs_of(out)), ", and why?"),
                (
                    out.W,
                    (
                        ": each unit computes z = Σ_k w_k a_k + b, and SymPy's ∂z/∂a_k = w_k; "
                        "it is how the error of layer "
                    ),
                    *(
                        (
                            f"{out.index} reaches the node it weighs, ",
                            derivation.inputs_of(out),
                            ".",
                        )
                        if derivation.is_graph
                        else (f"{out.index} reaches layer {below.index}.",)
                    ),
                ),
            )
        )
    if first is not out and not first.activation.is_vector:
        form = first.at(first.activation_derivative)
        where = "its output A" if first.derivative_in_output_form else "Z"
        items.append(
            (
                (
                    (
                        f"Write f' of layer 1 ({first.activation.title}) so that the backward "
                        "pass needs only what the forward pass kept."
                    ),
                ),
                (f"In {where}: f_1' = ", form, "."),
            )
        )
    items += [
        (
            (
                (
                    f"What is δ_y for a {out.activation.title} output with "
                    f"{derivation.network.loss.title}, in the "
                    f"{_CONVENTION[derivation.convention]} convention?"
                ),
            ),
            (
                names.output_error(),
                " = ",
                derivation.output_delta,
                " per output (see Output error).",
            ),
        ),
        (
            ("Why is the gradient of a bias the mean of δ over the batch?",),
            (
                (
                    "Z = A Wᵀ + 1bᵀ adds b to every row (the column 1 of N ones): ∂Z/∂b = 1, so the "
                    "chain multiplies δ by 1ᵀ, a sum over the samples, and the mean loss divides by N."
                ),
            ),
        ),
        (
            ("How many numbers does the network learn?",),
            (
                f"{_parameter_count(derivation)}: ",
                ", ".join(
                    f"{p.name} has {size}" for p, size in _parameter_sizes(derivation)
                ),
                ".",
            ),
        ),
        (
            (
                "Why is the error computed from the output layer down, not from the input up?",
            ),
            (
                (
                    (
                        "A node's error is the sum of what the nodes it feeds send back; "
                        if derivation.is_graph
                        else "A layer's δ is the δ of the layer above sent back through its "
                        "weights; "
                    )
                    + "going down, each δ is computed once and every chain through it "
                    "reuses it."
                ),
            ),
        ),
    ]
    values = example.computed(derivation)
    entry = float(values[first.A][0][0])
    items.append(
        (
            (
                "In the worked example, what is the first sample's first entry of ",
                first.A,
                "?",
            ),
            (f"{entry:.4g}, f of the same entry of ", first.Z, "."),
        )
    )
    return items


def _parameter_sizes(derivation: Derivation) -> list[tuple[sp.Symbol, int]]:
    sizes = []
    for layer in derivation.layers:
        for p in layer.params:
            sizes.append(
                (p, layer.units * layer.inputs if p == layer.W else layer.units)
            )
    return sizes


def _parameter_count(derivation: Derivation) -> int:
    return sum(size for _, size in _parameter_sizes(derivation))


def exercises(derivation: Derivation) -> tuple[Section, Section]:
    """The questions, and their answers (for the end of the document)."""
    items = _items(derivation)
    questions = tuple(
        Text((f"{i}. ", *question)) for i, (question, _) in enumerate(items, 1)
    )
    answers = tuple(Text((f"{i}. ", *answer)) for i, (_, answer) in enumerate(items, 1))
    return Section("Exercises", questions), Section("Answers", answers)
