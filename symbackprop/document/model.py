"""A derivation document as plain data: sections of prose and aligned formulas.

``lecture`` fills it from a ``Derivation``; ``formats`` writes it as LaTeX, Markdown or HTML.
Every formula is a SymPy expression, so each output format prints it with its own printer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


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


@dataclass(frozen=True)
class Math:
    """A display of aligned rows."""

    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Text:
    """A paragraph: strings of prose and SymPy expressions shown as inline math."""

    parts: tuple[str | sp.Basic, ...]


@dataclass(frozen=True)
class Section:
    """A titled section; ``boxed`` frames it (the summary box)."""

    title: str
    blocks: tuple[Math | Text, ...]
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


def combine(documents: list[Document], title: str) -> Document:
    """One document holding several, each section titled with its own document's title."""
    if len(documents) == 1:
        return documents[0]
    sections = tuple(
        Section(f"{doc.title}: {section.title}", section.blocks, section.boxed)
        for doc in documents
        for section in doc.sections
    )
    return Document(title, sections)
