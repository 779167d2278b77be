"""The computational graph of the network, as a figure the writers draw themselves.

Nodes on one line, X → Z₁ → A₁ → … → Z_L → A_L → ℒ, each layer's W above its Z and b below it,
the targets T above ℒ, a batch-normalised B_l = γ Â_l + β after A_l with its scale γ above
and shift β below it, a dropped Ã_l = A_l ⊙ M_l (or B_l ⊙ M_l) after that with its mask M_l
below it. Forward edges follow the computation; each backward edge runs the other
way and carries the local derivative the chain rule multiplies by (∂Z₁/∂W₁, ∂A₁/∂Z₁, …).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..derive.derivation import LOSS, T, X
from ..expressions import names
from ..expressions.notation import Partial
from .model import Figure

if TYPE_CHECKING:
    import sympy as sp

    from ..derive.derivation import Derivation

#: how far above (W, T) or below (b) the line a parameter sits
OFFSET = 1.4


def computational_graph(derivation: Derivation) -> Figure:
    """The figure of ``derivation``'s network: forward edges and labelled backward edges."""
    nodes: list[tuple[sp.Symbol, float, float]] = [(X, 0.0, 0.0)]
    edges: list[tuple[sp.Symbol, sp.Symbol, bool, sp.Basic | None]] = []

    def link(source: sp.Symbol, target: sp.Symbol, to_parameter: bool = True) -> None:
        edges.append((source, target, False, None))
        if to_parameter:
            edges.append((target, source, True, Partial(target, source)))

    below, x = X, 0.0

    def dropped(index: int, source: sp.Symbol) -> sp.Symbol:
        """Ã = A ⊙ M after ``source`` where a Dropout drops it, its mask M below it."""
        nonlocal x
        if index not in derivation.network.dropout:
            return source
        x += 1.0
        target, mask = names.dropped(index), names.mask(index)
        nodes.extend([(target, x, 0.0), (mask, x, -OFFSET)])
        link(source, target, to_parameter=source is not X)
        edges.append((mask, target, False, None))
        return target

    def normalised(layer) -> sp.Symbol:
        """B = γ Â + β after A where a BatchNorm normalises it, γ above and β below."""
        nonlocal x
        if layer.batchnorm is None:
            return layer.A
        x += 1.0
        nodes.append((layer.output, x, 0.0))
        link(layer.A, layer.output)
        for param, height in zip(layer.scale_and_shift, (OFFSET, -OFFSET)):
            nodes.append((param, x, height))
            link(param, layer.output)
        return layer.output

    below = dropped(0, X)
    for layer in derivation.layers:
        x += 1.0
        nodes.append((layer.Z, x, 0.0))
        nodes.append((layer.W, x, OFFSET))
        link(below, layer.Z, to_parameter=below is not X)
        link(layer.W, layer.Z)
        if layer.bias:
            nodes.append((layer.b, x, -OFFSET))
            link(layer.b, layer.Z)
        x += 1.0
        nodes.append((layer.A, x, 0.0))
        link(layer.Z, layer.A)
        below = dropped(layer.index, normalised(layer))
    x += 1.0
    nodes += [(LOSS, x, 0.0), (T, x, OFFSET)]
    link(below, LOSS)
    edges.append((T, LOSS, False, None))
    caption = (
        "The computational graph: forward edges (blue) compute each node from those it "
        "points from; backward edges (red) carry the local derivative the chain rule "
        "multiplies by, from the loss back to every parameter."
    )
    return Figure(tuple(nodes), tuple(edges), caption)
