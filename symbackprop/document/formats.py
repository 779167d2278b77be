"""Writers of a derivation ``Document``: a standalone LaTeX file, Markdown with ``$$`` math, and
one self-contained HTML file whose formulas are MathML (rendered by the browser, offline).
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import sympy as sp

from .. import budget, output
from ..errors import SpecError
from ..expressions import mathml, names, printers
from ..expressions.notation import Partial
from ..options import FORMAT_OF_SUFFIX, FORMATS
from .model import Document, Figure, Math, Row, Section, Text

#: seconds pdflatex may take for one document
PDFLATEX_SECONDS = 120
_LATEX_RELATIONS = {"=": "=", "←": r"\leftarrow", "∈": r"\in", "∼": r"\sim"}

#: characters of our prose that pdflatex's text mode does not know, as LaTeX
_LATEX_TEXT = {
    "δ": r"$\delta$",
    "∂": r"$\partial$",
    "ℓ": r"$\ell$",
    "ℒ": r"$\mathcal{L}$",
    "η": r"$\eta$",
    "λ": r"$\lambda$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "γ": r"$\gamma$",
    "μ": r"$\mu$",
    "σ": r"$\sigma$",
    "ε": r"$\epsilon$",
    "ρ": r"$\rho$",
    "Σ": r"$\Sigma$",
    "ᵀ": r"$^{\top}$",
    "−": "-",
    "→": r"$\to$",
    "≠": r"$\neq$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "²": r"$^{2}$",
    "‖": r"$\|$",
    "·": r"$\cdot$",
    "×": r"$\times$",
    "⊙": r"$\odot$",
    "Ã": r"$\tilde{A}$",
    "ℝ": r"$\mathbb{R}$",
    "∈": r"$\in$",
    "←": r"$\leftarrow$",
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_text(words: str) -> str:
    """Prose for pdflatex: special characters escaped, our Greek and symbols as math."""
    return "".join(_LATEX_TEXT.get(c, printers.text(c)) for c in words)


def _note_latex(note: str | sp.Basic) -> str:
    if isinstance(note, str):
        return printers.math_text(note)
    return printers.latex(note)


def _math_latex(row: Row) -> str:
    relation = _LATEX_RELATIONS[row.relation]
    lines = []
    for i, step in enumerate(row.steps):
        lhs = printers.latex(row.lhs, hadamard=row.arrays) if i == 0 else ""
        line = f"{lhs} &{relation} {printers.latex(step, hadamard=row.arrays)}"
        if i == 0 and row.note != "":
            line += f" && {_note_latex(row.note)}"
        lines.append(line.strip())
    return " \\\\\n".join(lines)


def _display_latex(block: Math, environment: str) -> str:
    body = " \\\\\n".join(_math_latex(row) for row in block.rows)
    return f"\\begin{{{environment}}}\n{body}\n\\end{{{environment}}}"


def _paragraph(block: Text, math: str, words) -> str:
    return "".join(
        words(part) if isinstance(part, str) else f"{math}{printers.latex(part)}{math}"
        for part in block.parts
    )


#: centimetres per unit of a figure's coordinates in LaTeX, pixels per unit in SVG
_CM, _PX = 1.9, 72
#: the widest figure, in centimetres, before it is scaled down to the text width
_TEXT_WIDTH_CM = 17.0
#: gap between a node's centre and the ends of its edges, and between an edge pair
_GAP, _PAIR = 0.27, 0.07
_FORWARD, _BACKWARD = "blue", "red"


def _label_latex(expr: sp.Basic) -> str:
    if isinstance(expr, Partial):
        top, bottom = (printers.latex(arg) for arg in expr.args)
        return rf"\partial {top}/\partial {bottom}"
    return printers.latex(expr)


def _label_text(expr: sp.Basic) -> str:
    if isinstance(expr, Partial):
        top, bottom = (_label_text(arg) for arg in expr.args)
        return f"∂{top}/∂{bottom}"
    return names.unicode(
        names.lecture(expr if isinstance(expr, sp.Symbol) else str(expr))
    )


def _edge_geometry(figure: Figure):
    """Each edge as (x0, y0, x1, y1, colour, label, label_x, label_y, arrow): the two edges
    between a pair of nodes side by side, the backward one below (or right of) the forward
    one. A routed edge's segments meet at its corners (unnamed nodes), where no arrow ends.
    """
    at = {name: (x, y) for name, x, y in figure.nodes}

    def offset(source, target, backward) -> tuple[float, float]:
        """The pair's sideways shift: on a line, forward above and backward below; upright,
        forward on the left and backward on the right."""
        shift = -_PAIR if backward else _PAIR
        return (0.0, shift) if at[source][1] == at[target][1] else (-shift, 0.0)

    def joint(corner, backward) -> tuple[float, float]:
        """Where a routed edge's two shifted segments of one direction meet at ``corner``:
        the upright one's x and the level one's y."""
        shift = -_PAIR if backward else _PAIR
        return at[corner][0] - shift, at[corner][1] + shift

    for source, target, backward, label in figure.edges:
        (x0, y0), (x1, y1) = at[source], at[target]
        dx, dy = x1 - x0, y1 - y0
        length = (dx * dx + dy * dy) ** 0.5
        ux, uy = dx / length, dy / length
        lateral = offset(source, target, backward)
        start = (x0 + ux * _GAP + lateral[0], y0 + uy * _GAP + lateral[1])
        end = (x1 - ux * _GAP + lateral[0], y1 - uy * _GAP + lateral[1])
        if isinstance(source, sp.Dummy):
            start = joint(source, backward)
        if isinstance(target, sp.Dummy):
            end = joint(target, backward)
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        if dy == 0:  # a horizontal pair: the backward label under the line
            label_at = (middle[0], middle[1] - 0.22)
        else:  # a vertical pair: the label to the right
            label_at = (middle[0] + 0.12, middle[1])
        colour = _BACKWARD if backward else _FORWARD
        arrow = not isinstance(target, sp.Dummy)
        yield (*start, *end, colour, label, *label_at, arrow)


def _bounds(figure: Figure) -> tuple[float, float, float, float]:
    xs = [x for _, x, _ in figure.nodes]
    ys = [y for _, _, y in figure.nodes]
    return min(xs) - 0.5, min(ys) - 0.4, max(xs) + 0.5, max(ys) + 0.4


def _figure_latex(figure: Figure) -> str:
    """The figure in LaTeX's own picture environment (no package: texlive-latex-base has
    neither TikZ nor pict2e), edges horizontal or vertical."""
    left, bottom, right, top = _bounds(figure)
    lines = [
        r"\setlength{\unitlength}{" + f"{_CM}cm}}",
        (
            f"\\begin{{picture}}({right - left:.2f},{top - bottom:.2f})"
            f"({left:.2f},{bottom:.2f})"
        ),
    ]
    for name, x, y in figure.nodes:
        if isinstance(name, sp.Dummy):  # a corner of a routed edge
            continue
        lines.append(
            f"\\put({x:.2f},{y:.2f}){{\\makebox(0,0){{${printers.latex(name)}$}}}}"
        )
    for x0, y0, x1, y1, colour, label, lx, ly, arrow in _edge_geometry(figure):
        dx, dy = x1 - x0, y1 - y0
        direction = (
            f"{round(dx / abs(dx)) if dx else 0},{round(dy / abs(dy)) if dy else 0}"
        )
        length = abs(dx) if dx else abs(dy)
        kind = "vector" if arrow else "line"
        lines.append(
            f"\\put({x0:.2f},{y0:.2f}){{\\color{{{colour}}}\\{kind}({direction}){{{length:.2f}}}}}"
        )
        if label is not None:
            anchor = "" if dy == 0 else "[l]"
            lines.append(
                f"\\put({lx:.2f},{ly:.2f}){{\\makebox(0,0){anchor}"
                f"{{\\scriptsize\\color{{{colour}}}${_label_latex(label)}$}}}}"
            )
    lines.append(r"\end{picture}")
    picture = "\n".join(lines)
    if (right - left) * _CM > _TEXT_WIDTH_CM:
        picture = f"\\resizebox{{\\linewidth}}{{!}}{{%\n{picture}}}"
    caption = latex_text(figure.caption)
    return f"\\begin{{center}}\n{picture}\n\\end{{center}}\n\n{caption}"


def _figure_svg(figure: Figure) -> str:
    """The figure as one inline SVG element (one line: Markdown keeps it as HTML)."""
    left, bottom, right, top = _bounds(figure)
    width, height = (right - left) * _PX, (top - bottom) * _PX

    def px(x: float, y: float) -> tuple[float, float]:
        return (x - left) * _PX, (top - y) * _PX

    parts = [
        (
            f'<svg role="img" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            'font-family="Georgia, serif">'
        ),
        "<defs>",
        *(
            f'<marker id="sb-{colour}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>'
            for colour in (_FORWARD, _BACKWARD)
        ),
        "</defs>",
    ]
    for x0, y0, x1, y1, colour, label, lx, ly, arrow in _edge_geometry(figure):
        (a, b), (c, d) = px(x0, y0), px(x1, y1)
        head = f' marker-end="url(#sb-{colour})"' if arrow else ""
        parts.append(
            f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{c:.1f}" y2="{d:.1f}" stroke="{colour}" '
            f'stroke-width="1.5"{head}/>'
        )
        if label is not None:
            a, b = px(lx, ly)
            anchor = "middle" if y0 == y1 else "start"
            parts.append(
                f'<text x="{a:.1f}" y="{b + 4:.1f}" font-size="12" fill="{colour}" '
                f'text-anchor="{anchor}">{html.escape(_label_text(label))}</text>'
            )
    for name, x, y in figure.nodes:
        if isinstance(name, sp.Dummy):  # a corner of a routed edge
            continue
        a, b = px(x, y)
        parts.append(
            f'<text x="{a:.1f}" y="{b + 6:.1f}" font-size="17" font-style="italic" '
            f'text-anchor="middle">{html.escape(_label_text(name))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _section_latex(section: Section) -> str:
    body = "\n\n".join(
        (
            _display_latex(block, "align*")
            if isinstance(block, Math)
            else (
                _figure_latex(block)
                if isinstance(block, Figure)
                else _paragraph(block, "$", latex_text)
            )
        )
        for block in section.blocks
    )
    title = latex_text(section.title)
    if section.boxed:
        # ruled above and below, not boxed: a box cannot break across pages, and the summary
        # of a deep network or an Adam one is longer than a page
        rule = "\\noindent\\rule{\\linewidth}{0.8pt}"
        return (
            f"\\bigskip\n{rule}\\par\\nopagebreak\n\\noindent\\textbf{{{title}}}\n"
            f"{body}\n{rule}\\par\\bigskip"
        )
    return f"\\section*{{{title}}}\n{body}"


def to_latex(document: Document) -> str:
    """A complete LaTeX document (pdflatex; packages of Debian's texlive-latex-base only)."""
    body = "\n\n".join(_section_latex(section) for section in document.sections)
    return (
        "\\documentclass[11pt]{article}\n"
        "\\usepackage[utf8]{inputenc}\n"
        "\\usepackage{amsmath,amssymb}\n"
        "\\usepackage{color,graphicx}\n"
        "\\usepackage[margin=2cm]{geometry}\n"
        "\\setcounter{MaxMatrixCols}{16}\n"
        "\\allowdisplaybreaks\n"
        f"\\title{{{latex_text(document.title)}}}\n"
        "\\date{}\n"
        "\\begin{document}\n"
        "\\maketitle\n\n"
        f"{body}\n\n"
        "\\end{document}\n"
    )


def _display_markdown(block: Math) -> str:
    return f"$$\n{_display_latex(block, 'aligned')}\n$$"


def _section_markdown(section: Section) -> str:
    blocks = [
        (
            _display_markdown(block)
            if isinstance(block, Math)
            else (
                f"{_figure_svg(block)}\n\n{block.caption}"
                if isinstance(block, Figure)
                else _paragraph(block, "$", str)
            )
        )
        for block in section.blocks
    ]
    if section.boxed:
        text = "\n\n".join([f"**{section.title}**", *blocks])
        return "\n".join(f"> {line}".rstrip() for line in text.splitlines())
    return "\n\n".join([f"## {section.title}", *blocks])


def to_markdown(document: Document) -> str:
    """Markdown with ``$…$`` and ``$$…$$`` math, as GitHub and Jupyter render it."""
    parts = [f"# {document.title}", *map(_section_markdown, document.sections)]
    return "\n\n".join(parts) + "\n"


def write(document: Document, form: str) -> str:
    """``document`` in one of ``FORMATS``, under symbackprop's header (``output.sign``); a
    PDF as Latin-1 text (its bytes), signed in its Subject. Printed in SymPy's defaults
    (``budget.library_defaults``: SymPy's LaTeX printer wrote ∂^{0 + 1} for ∂ under
    ``sympy.evaluate(False)``)."""
    with budget.library_defaults():
        if form == "pdf":
            return to_pdf(document)
        writers = {"tex": to_latex, "md": to_markdown, "html": to_html}
        return output.sign(writers[form](document), form)


def to_pdf(document: Document) -> str:
    """The LaTeX document compiled by pdflatex (run twice, with a fixed date so that the same
    document gives the same bytes), as Latin-1 text. ``SpecError`` names what is missing
    when pdflatex is not installed, and quotes its log when it fails."""
    tex = to_latex(document)
    subject = output.PDF_SUBJECT.format(output.digest(tex))
    tex = tex.replace(
        "\\begin{document}",
        f"\\pdfinfo{{/Subject ({subject}) /Creator (symbackprop)}}\n\\begin{{document}}",
        1,
    )
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise SpecError(
            "--format pdf needs pdflatex, which is not installed: install TeX Live "
            "(Debian/Ubuntu: apt install texlive-latex-base), or write --format tex and "
            "compile it elsewhere"
        )
    environment = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    with tempfile.TemporaryDirectory(prefix="symbackprop-pdf-") as folder:
        (Path(folder) / "notes.tex").write_text(tex, encoding="utf-8")
        for _ in range(2):
            try:
                run = subprocess.run(
                    [
                        pdflatex,
                        "-interaction=nonstopmode",
                        "-halt-on-error",
                        "notes.tex",
                    ],
                    cwd=folder,
                    capture_output=True,
                    env=environment,
                    timeout=PDFLATEX_SECONDS,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise SpecError(
                    f"pdflatex took longer than {PDFLATEX_SECONDS} s on {document.title!r}"
                ) from None
            if run.returncode != 0:
                log = run.stdout.decode("utf-8", "replace")
                raise SpecError(
                    f"pdflatex failed on {document.title!r}:\n{log[log.find('!'):][:1500]}"
                )
        return (Path(folder) / "notes.pdf").read_bytes().decode("latin-1")


_STYLE = """
body { font-family: Georgia, serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
math[display="block"] { margin: 1rem 0; overflow-x: auto; }
section.summary { border: 2px solid #555; border-radius: 6px; padding: 0 1rem; }
mtd.lhs { text-align: right; }
mtd.rhs { text-align: left; }
mtd.note { text-align: left; color: #555; padding-left: 2em; }
"""


def _display_html(block: Math) -> str:
    rows = []
    for row in block.rows:
        for i, step in enumerate(row.steps):
            lhs = mathml.to_mathml(row.lhs, row.arrays) if i == 0 else ""
            relation = mathml.RELATIONS[row.relation]
            note = ""
            if i == 0 and row.note != "":
                note = (
                    f"<mtext>{html.escape(row.note)}</mtext>"
                    if isinstance(row.note, str)
                    else mathml.to_mathml(row.note)
                )
            rows.append(
                f'<mtr><mtd class="lhs">{lhs}</mtd>'
                f'<mtd class="rhs"><mrow><mo>{relation}</mo>'
                f"{mathml.to_mathml(step, row.arrays)}</mrow></mtd>"
                f'<mtd class="note">{note}</mtd></mtr>'
            )
    # displaystyle: a table's cells are set compact (script-size fractions) unless asked
    return (
        '<math display="block"><mtable displaystyle="true">'
        f'{"".join(rows)}</mtable></math>'
    )


def _section_html(section: Section) -> str:
    blocks = [
        (
            _display_html(block)
            if isinstance(block, Math)
            else (
                (
                    f"<figure>{_figure_svg(block)}"
                    f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
                )
                if isinstance(block, Figure)
                else "<p>"
                + "".join(
                    (
                        html.escape(part)
                        if isinstance(part, str)
                        else f"<math>{mathml.to_mathml(part)}</math>"
                    )
                    for part in block.parts
                )
                + "</p>"
            )
        )
        for block in section.blocks
    ]
    css = ' class="summary"' if section.boxed else ""
    return (
        f"<section{css}>\n<h2>{html.escape(section.title)}</h2>\n"
        + "\n".join(blocks)
        + "\n</section>"
    )


def to_html(document: Document) -> str:
    """One self-contained HTML file: formulas as MathML, which browsers render natively —
    nothing to download, no script."""
    title = html.escape(document.title)
    body = "\n".join(_section_html(section) for section in document.sections)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
    )


__all__ = [
    "FORMATS",
    "FORMAT_OF_SUFFIX",
    "latex_text",
    "to_html",
    "to_latex",
    "to_markdown",
    "to_pdf",
    "write",
]
