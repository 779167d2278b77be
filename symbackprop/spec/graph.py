"""Networks as graphs: ``sb.Input``, layers called on nodes, ``sb.Add`` and
``sb.Concatenate``, and the ordered steps every network, graph or chain, is derived from.

A node is what a layer gives when it is called on nodes (Keras' functional API): nodes are
immutable and know their inputs, so a graph is built forward and read back from its outputs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..errors import SpecError
from .functions import positive_int

#: creation order: a node is made after its inputs, so sorting by it is a topological order
_SERIAL = itertools.count()


@dataclass(frozen=True, eq=False)
class Node:
    """The outputs of ``layer`` applied to the nodes ``inputs``: ``units`` features per
    sample. Made by calling a layer on nodes, e.g. ``sb.Dense(16, "relu")(x)``."""

    layer: object
    inputs: tuple[Node, ...]
    units: int
    serial: int = field(default_factory=lambda: next(_SERIAL), repr=False)

    def __repr__(self) -> str:
        return f"{self.layer!r}(…) ({self.units} wide)"


class Input(Node):
    """The network's inputs, ``units`` features per sample: where every graph starts."""

    def __init__(self, units: int) -> None:
        super().__init__(None, (), positive_int(units, "Input.units"))

    def __repr__(self) -> str:
        return f"Input({self.units})"


def connect(layer: object, given: object, join: bool = False) -> Node:
    """``layer`` called on ``given``: one node, or (``join``) a list of two or more nodes."""
    what = f"{layer!r}"
    if join:
        if (
            isinstance(given, Node)
            or not isinstance(given, (list, tuple))
            or len(given) < 2
            or not all(isinstance(node, Node) for node in given)
        ):
            raise SpecError(
                f"{what} takes a list of two or more nodes (sb.Input(…) or a layer's "
                f"outputs), got {given!r}"
            )
        inputs = tuple(given)
    else:
        if not isinstance(given, Node):
            hint = (
                "; join several nodes with sb.Add() or sb.Concatenate() first"
                if isinstance(given, (list, tuple))
                else ""
            )
            raise SpecError(
                f"{what} takes one node (sb.Input(…) or a layer's outputs), got "
                f"{given!r}{hint}"
            )
        inputs = (given,)
    return Node(layer, inputs, layer.units_from(tuple(node.units for node in inputs)))


class Layer:
    """What every layer called on one node shares: calling it gives the node of its outputs,
    as wide as its input unless it says otherwise (``units_from``)."""

    def __call__(self, node: Node) -> Node:
        return connect(self, node)

    def units_from(self, widths: tuple[int, ...]) -> int:
        return widths[0]


@dataclass(frozen=True)
class Add:
    """The element-wise sum of nodes of one width, as a residual connection adds a layer's
    inputs to its outputs (He et al., CVPR 2016): each input receives the whole error.
    """

    def __call__(self, nodes: list[Node]) -> Node:
        return connect(self, nodes, join=True)

    def units_from(self, widths: tuple[int, ...]) -> int:
        if len(set(widths)) > 1:
            raise SpecError(
                f"Add() needs inputs of one width, got widths "
                f"{', '.join(map(str, widths))}; use sb.Concatenate() to join nodes of "
                "different widths"
            )
        return widths[0]

    def __repr__(self) -> str:
        return "Add()"


@dataclass(frozen=True)
class Concatenate:
    """Nodes side by side along the features: each input receives its own columns of the
    error."""

    def __call__(self, nodes: list[Node]) -> Node:
        return connect(self, nodes, join=True)

    def units_from(self, widths: tuple[int, ...]) -> int:
        return sum(widths)

    def __repr__(self) -> str:
        return "Concatenate()"


@dataclass(frozen=True)
class Step:
    """One node of a network in computation order: ``layer`` (None for the inputs) applied to
    the steps ``sources`` (indices of earlier steps), ``units`` wide."""

    layer: object
    sources: tuple[int, ...]
    units: int


def consumers(steps: tuple[Step, ...]) -> dict[int, list[tuple[int, int]]]:
    """Each step's consumers: (the step computed from it, its position among that step's
    inputs), in order."""
    used: dict[int, list[tuple[int, int]]] = {j: [] for j in range(len(steps))}
    for j, step in enumerate(steps):
        for position, source in enumerate(step.sources):
            used[source].append((j, position))
    return used


def chain(inputs: int, layers: tuple[object, ...]) -> tuple[Step, ...]:
    """The steps of ``layers=[…]``: each layer applied to the one before it."""
    steps = [Step(None, (), inputs)]
    for i, layer in enumerate(layers):
        units = getattr(layer, "units", steps[-1].units)
        steps.append(Step(layer, (i,), units))
    return tuple(steps)


def resolve(inputs: object, outputs: object) -> tuple[Step, ...]:
    """The steps of the graph from the Input ``inputs`` to the node ``outputs``, in creation
    order (inputs first): every node the outputs are computed from, each once."""
    if not isinstance(outputs, Node) or isinstance(outputs, Input):
        raise SpecError(
            "Network.outputs must be a layer's outputs, e.g. sb.Dense(3, 'softmax')(h), "
            f"got {outputs!r}"
        )
    if not isinstance(inputs, Input):
        raise SpecError(
            "Network.inputs must be the graph's sb.Input(…) when outputs= is given, got "
            f"{inputs!r}"
        )
    nodes = _ancestors(outputs)
    starts = [node for node in nodes if isinstance(node, Input)]
    if inputs not in starts:
        raise SpecError(
            f"Network.inputs: {inputs!r} does not reach the outputs; they are computed "
            f"from {', '.join(map(repr, starts))}"
        )
    if len(starts) > 1:
        raise SpecError(
            f"Network.outputs are computed from {len(starts)} Inputs "
            f"({', '.join(map(repr, starts))}); a network has one Input"
        )
    same = _merged(nodes)
    order = sorted({same[node] for node in nodes}, key=lambda node: node.serial)
    index = {node: i for i, node in enumerate(order)}
    return tuple(
        Step(node.layer, tuple(index[same[n]] for n in node.inputs), node.units)
        for node in order
    )


def _ancestors(outputs: Node) -> list[Node]:
    """Every node ``outputs`` is computed from (itself too), each once; a SpecError on a
    cycle (a node among its own inputs)."""
    found: list[Node] = []
    state: dict[int, str] = {}
    stack: list[tuple[Node, bool]] = [(outputs, False)]
    while stack:
        node, done = stack.pop()
        if done:
            state[id(node)] = "done"
            found.append(node)
            continue
        if state.get(id(node)) == "done":
            continue
        if state.get(id(node)) == "open":
            raise SpecError(
                f"Network.outputs: the graph has a cycle through {node!r}; a "
                "feed-forward network's nodes are computed from earlier nodes only"
            )
        state[id(node)] = "open"
        stack.append((node, True))
        for source in node.inputs:
            if state.get(id(source)) == "open":
                raise SpecError(
                    f"Network.outputs: the graph has a cycle through {source!r}; a "
                    "feed-forward network's nodes are computed from earlier nodes only"
                )
            if state.get(id(source)) != "done":
                stack.append((source, False))
    return found


def _merged(nodes: list[Node]) -> dict[Node, Node]:
    """Each node → the node it is: a layer called twice on the same inputs is one node; on
    different inputs, a SpecError (each layer has its own weights here)."""
    first: dict[int, Node] = {}
    same = {}
    for node in sorted(nodes, key=lambda node: node.serial):
        if node.layer is None:
            same[node] = node
            continue
        seen = first.setdefault(id(node.layer), node)
        if seen is not node and seen.inputs != node.inputs:
            raise SpecError(
                f"Network.outputs: {node.layer!r} is used twice, on different inputs; a "
                "layer has one set of parameters and one place in the graph here, so make "
                "a new layer for each use"
            )
        same[node] = seen
    return same
