"""A derivation document as plain data: sections of prose and aligned formulas.

``lecture`` fills it from a ``Derivation``; ``formats`` writes it as LaTeX, Markdown or HTML.
Every formula is a SymPy expression, so each output format prints it with its own printer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..expressions import printers


@dataclass(frozen=True)
class Row:
    """``lhs = steps[0] = steps[1] = …`` on aligned lines, with an optional note on the right
    (plain words, or a SymPy expression shown as math).

    ``arrays``: the formulas are over whole arrays (``⊙`` marks element-wise products).
    ``given`` are the substitutions under which consecutive steps are equal (``a = f(z)``);
    ``relation`` is ``"="``, ``"←"`` (an update), ``"∈"`` (a shape) or ``"∼"`` (drawn from).
    """

    lhs: sp.Basic
    steps: tuple[sp.Basic, ...]
    note: str | sp.Basic = ""
    arrays: bool = False
    relation: str = "="
    given: tuple[tuple[sp.Symbol, sp.Expr], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "steps", _without_loops(self.lhs, self.steps, self.arrays)
        )


def _without_loops(
    lhs: sp.Basic, steps: tuple[sp.Basic, ...], arrays: bool
) -> tuple[sp.Basic, ...]:
    """``steps`` with every detour cut out: a step shown as an earlier one was (or as the left
    side) returns there, dropping the steps between (``y(1−y)(y−t) = … = y(1−y)(y−t)``).
    """

    def seen(expr: sp.Basic) -> tuple[str, str]:
        # as LaTeX, and as plain text (a function by name prints as the function itself)
        return printers.latex(expr, hadamard=arrays), str(expr)

    shown = [seen(lhs)]
    kept: list[sp.Basic] = []
    for step in steps:
        text = seen(step)
        found = [i for i, old in enumerate(shown) if set(old) & set(text)]
        if found:
            back = found[0]
            del shown[back + 1 :]
            del kept[back:]
            continue
        shown.append(text)
        kept.append(step)
    return tuple(kept) or steps[-1:]


@dataclass(frozen=True)
class Math:
    """A display of aligned rows."""

    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Figure:
    """A graph drawn by the writers themselves (picture in LaTeX, SVG in HTML and Markdown):
    ``nodes`` are (name, x, y) in units of the node spacing, ``edges`` (source, target,
    backward, label) — forward edges in one colour, backward ones in another, labelled.
    """

    nodes: tuple[tuple[sp.Symbol, float, float], ...]
    edges: tuple[tuple[sp.Symbol, sp.Symbol, bool, sp.Basic | None], ...]
    caption: str = ""


@dataclass(frozen=True)
class Text:
    """A paragraph: strings of prose and SymPy expressions shown as inline math."""

    parts: tuple[str | sp.Basic, ...]


@dataclass(frozen=True)
class Section:
    """A titled section; ``boxed`` frames it (the summary box)."""

    title: str
    blocks: tuple[Math | Text | Figure, ...]
    boxed: bool = False


@dataclass(frozen=True)
class Document:
    title: str
    sections: tuple[Section, ...]

    def rows(self) -> list[Row]:
        """Every row of every display, in order."""
        return [
            row
            for section in self.sections
            for block in section.blocks
            if isinstance(block, Math)
            for row in block.rows
        ]
