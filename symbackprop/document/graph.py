"""The computational graph of the network, as a figure the writers draw themselves.

Nodes on one line, X → Z₁ → A₁ → … → Z_L → A_L → ℒ, each layer's W above its Z and b below it,
the targets T above ℒ, a batch-normalised B_l = γ Â_l + β after A_l with its scale γ above
and shift β below it, a dropped Ã_l = A_l ⊙ M_l (or B_l ⊙ M_l) after that with its mask M_l
below it; in a graph, each node in the order it is computed, a junction S_k or C_k after its
last input, and an edge from a node further back routed above the line (up, along a lane of
its own, down; its corners are unnamed nodes). Forward edges follow the computation; each
backward edge runs the other way and carries the local derivative the chain rule multiplies
by (∂Z₁/∂W₁, ∂A₁/∂Z₁, …).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import sympy as sp

from ..derive.derivation import LOSS, T, X
from ..expressions import names
from ..expressions.notation import Partial
from ..spec.network import BatchNorm, Dense, Dropout
from .model import Figure

if TYPE_CHECKING:
    from ..derive.derivation import Derivation

#: how far above (W, T) or below (b) the line a parameter sits
OFFSET = 1.4
#: the height of the lowest lane an edge from further back runs along, and between lanes
LANE, LANE_STEP = 2.2, 0.6


def computational_graph(derivation: Derivation) -> Figure:
    """The figure of ``derivation``'s network: forward edges and labelled backward edges."""
    network = derivation.network
    steps, keys = network.steps, network.keys
    dense = {layer.index: layer for layer in derivation.layers}
    nodes: list[tuple[sp.Symbol, float, float]] = [(X, 0.0, 0.0)]
    edges: list[tuple[sp.Symbol, sp.Symbol, bool, sp.Basic | None]] = []
    lanes: list[list[tuple[float, float]]] = []  # the spans each lane above holds

    def link(source: sp.Symbol, target: sp.Symbol, to_parameter: bool = True) -> None:
        edges.append((source, target, False, None))
        if to_parameter:
            edges.append((target, source, True, Partial(target, source)))

    def route(source: sp.Symbol, target: sp.Symbol) -> None:
        """An edge from a node further back: up from it to a lane above the parameters,
        along, and down to ``target``; the backward edge the same way back."""
        at = {name: x for name, x, _ in nodes}
        start, end = at[source], at[target]
        lane = next(
            (
                i
                for i, spans in enumerate(lanes)
                if all(b < start or a > end for a, b in spans)
            ),
            len(lanes),
        )
        if lane == len(lanes):
            lanes.append([])
        lanes[lane].append((start, end))
        height = LANE + LANE_STEP * lane
        up, over = sp.Dummy("up"), sp.Dummy("over")
        nodes.extend([(up, start, height), (over, end, height)])
        path = [source, up, over, target]
        edges.extend((a, b, False, None) for a, b in itertools.pairwise(path))
        if source == X:  # the inputs get no error
            return
        back = path[::-1]
        for a, b in itertools.pairwise(back):
            label = Partial(target, source) if a is over else None
            edges.append((a, b, True, label))

    def connect(source: sp.Symbol, target: sp.Symbol, last: sp.Symbol) -> None:
        if source == last:
            link(source, target, to_parameter=source != X)
        else:
            route(source, target)

    values: list[sp.Symbol] = []
    x, last = 0.0, X
    for j, (step, key) in enumerate(zip(steps, keys)):
        kind = step.layer
        sources = [values[s] for s in step.sources]
        if kind is None:
            values.append(X)
            continue
        x += 1.0
        if isinstance(kind, Dense):
            layer = dense[key]
            nodes += [(layer.Z, x, 0.0), (layer.W, x, OFFSET)]
            connect(sources[0], layer.Z, last)
            link(layer.W, layer.Z)
            if layer.bias:
                nodes.append((layer.b, x, -OFFSET))
                link(layer.b, layer.Z)
            x += 1.0
            nodes.append((layer.A, x, 0.0))
            link(layer.Z, layer.A)
            value = layer.A
        elif isinstance(kind, BatchNorm):
            layer = dense[key]
            value = layer.output
            nodes.append((value, x, 0.0))
            link(layer.A, value)
            for param, height in zip(layer.scale_and_shift, (OFFSET, -OFFSET)):
                nodes.append((param, x, height))
                link(param, value)
        elif isinstance(kind, Dropout):
            value, mask = names.dropped(keys[step.sources[0]]), names.mask(
                keys[step.sources[0]]
            )
            nodes.extend([(value, x, 0.0), (mask, x, -OFFSET)])
            connect(sources[0], value, last)
            edges.append((mask, value, False, None))
        else:
            value = names.junction(key)
            nodes.append((value, x, 0.0))
            for source in dict.fromkeys(sources):
                connect(source, value, last)
        values.append(value)
        last = value
    x += 1.0
    nodes += [(LOSS, x, 0.0), (T, x, OFFSET)]
    link(last, LOSS)
    edges.append((T, LOSS, False, None))
    caption = (
        "The computational graph: forward edges (blue) compute each node from those it "
        "points from; backward edges (red) carry the local derivative the chain rule "
        "multiplies by, from the loss back to every parameter."
    )
    if derivation.is_graph:
        caption += (
            " An edge from a node further back runs above the line; where a node feeds "
            "several others, the errors their backward edges carry are summed."
        )
    return Figure(tuple(nodes), tuple(edges), caption)
