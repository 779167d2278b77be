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

from .. import output
from ..errors import SpecError
from ..expressions import mathml, printers
from .model import Document, Math, Row, Section, Text

FORMATS = ("tex", "md", "html", "pdf")
#: the format a file's suffix asks for (``-o notes.html`` without --format)
FORMAT_OF_SUFFIX = {
    ".tex": "tex",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
#: seconds pdflatex may take for one document
PDFLATEX_SECONDS = 120
_LATEX_RELATIONS = {"=": "=", "←": r"\leftarrow", "∈": r"\in", "∼": r"\sim"}

#: characters of our prose that pdflatex's text mode does not know, as LaTeX
_LATEX_TEXT = {
    "δ": r"$\delta$",
    "∂": r"$\partial$",
    "ℓ": r"$\ell$",
    "η": r"$\eta$",
    "λ": r"$\lambda$",
    "α": r"$\alpha$",
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
    "ℝ": r"$\mathbb{R}$",
    "∈": r"$\in$",
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


def _section_latex(section: Section) -> str:
    body = "\n\n".join(
        (
            _display_latex(block, "align*")
            if isinstance(block, Math)
            else _paragraph(block, "$", latex_text)
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
        "\\usepackage{color}\n"
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
            else _paragraph(block, "$", str)
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
    PDF as Latin-1 text (its bytes), signed in its Subject."""
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
