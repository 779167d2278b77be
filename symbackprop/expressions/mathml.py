"""Presentation MathML for derivation documents: SymPy's MathML printer with the nodes of the
layer algebra and the lecture names. Browsers render it natively, offline, with no script.
"""

from __future__ import annotations

from typing import ClassVar

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.precedence import PRECEDENCE

from . import layout, names
from .printers import ExactFloats, LectureOrder, OwnSettings, is_fraction_name

#: relations of a document row, as MathML operators
RELATIONS = {"=": "=", "←": "←", "∈": "∈", "∼": "∼"}


class MathMLPrinter(OwnSettings, ExactFloats, LectureOrder, MathMLPresentationPrinter):
    """MathML in the lecture notation; with ``hadamard``, products of arrays get ⊙."""

    _default_settings: ClassVar[dict] = {
        **MathMLPresentationPrinter._default_settings,
        "hadamard": False,
    }

    def element(self, tag: str, *children, text: str | None = None, **attributes):
        """A MathML element with children (elements) or a text, and attributes."""
        node = self.dom.createElement(tag)
        for key, val in attributes.items():
            node.setAttribute(key, val)
        if text is not None:
            node.appendChild(self.dom.createTextNode(text))
        for child in children:
            node.appendChild(child)
        return node

    def row(self, *children):
        return self.element("mrow", *children)

    def op(self, text: str):
        return self.element("mo", text=text)

    def fenced(self, child, left: str = "(", right: str = ")"):
        return self.row(self.op(left), child, self.op(right))

    def _name(self, name: names.Name):
        kind, *parts = name
        if kind == "glyph":
            return self.element("mi", text=names.GLYPHS[parts[0]][1])
        if kind == "text":
            (word,) = parts
            return self.element("mn" if word.isdigit() else "mi", text=word)
        if kind == "sub":
            return self.element("msub", self._name(parts[0]), self._name(parts[1]))
        if kind == "squared":
            return self.element(
                "msup", self._name(parts[0]), self.element("mn", text="2")
            )
        if kind in names.ACCENTS:
            return self.element(
                "mover",
                self._name(parts[0]),
                self.op(names.ACCENTS[kind][0]),
                accent="true",
            )
        top, bottom = parts
        return self.element(
            "mfrac",
            self.row(self.op("∂"), self._name(top)),
            self.row(self.op("∂"), self._name(bottom)),
        )

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain"):
        return self._name(names.lecture(expr))

    def _print_Pow(self, expr: sp.Pow):
        base, exp = expr.args
        if is_fraction_name(base) and exp.is_positive:
            return self.element(
                "msup", self.fenced(self._print(base)), self._print(exp)
            )
        return super()._print_Pow(expr)

    def _print_Exp1(self, expr: sp.Expr):
        # e as the LaTeX printer writes it, not MathML's double-struck ⅇ
        return self.element("mi", text="e")

    def _print_Float(self, expr: sp.Float):
        return self.element("mn", text=super()._print_Float(expr))

    def _print_Function(self, expr: sp.Expr):
        if not isinstance(expr, AppliedUndef):
            return super()._print_Function(expr)
        name = expr.func.__name__
        parsed = names.lecture(name.rstrip("'"))
        if parsed[0] == "text" and len(name) > 1:
            # a catalog entry such as leaky_relu: an operator name, upright
            head = self.element("mi", text=name, mathvariant="normal")
        else:
            head = self._name(parsed)
            if name.endswith("'"):
                head = self.element("msup", head, self.op("′"))
        args = [self._print(arg) for arg in expr.args]
        inner = self.row(*_interleave(args, self.op(",")))
        return self.row(head, self.fenced(inner))

    def _print_Derivative(self, expr: sp.Derivative):
        (variable,) = expr.variables
        d = "∂" if len(expr.expr.free_symbols) > 1 else "d"
        frac = self.element(
            "mfrac", self.op(d), self.row(self.op(d), self._print(variable))
        )
        return self.row(frac, self.parenthesize(expr.expr, PRECEDENCE["Mul"]))

    def _print_Dot(self, expr: sp.Expr):
        left, right = (self.parenthesize(arg, PRECEDENCE["Mul"]) for arg in expr.args)
        return self.row(left, self.op("\u2062"), right)

    def _print_Transpose(self, expr: sp.Expr):
        return self.element(
            "msup", self._print(expr.args[0]), self.element("mi", text="⊤")
        )

    def _print_Concat(self, expr: sp.Expr):
        cells = [self.element("mtd", self._print(arg)) for arg in expr.args]
        table = self.element("mtable", self.element("mtr", *cells))
        return self.fenced(table, "[", "]")

    def _print_Columns(self, expr: sp.Expr):
        """Columns start + 1 to stop (counted from 1, as lecture notes count)."""
        array, start, stop = expr.args
        columns = self.row(
            self.op(":"), self.op(","), self.element("mn", text=f"{start + 1}"),
            self.op("…"), self.element("mn", text=f"{stop}"),
        )  # fmt: skip
        return self.element("msub", self.fenced(self._print(array)), columns)

    def _sum(self, index: str, body, subscript: str):
        total = self.element("munder", self.op("∑"), self.element("mi", text=index))
        return self.row(
            total,
            self.element("msub", self.fenced(body), self.element("mi", text=subscript)),
        )

    def _print_RowSum(self, expr: sp.Expr):
        return self._sum("k", self._print(expr.args[0]), "k")

    def _mean(self):
        return self.element(
            "mfrac", self.element("mn", text="1"), self.element("mi", text="N")
        )

    def _print_BatchMean(self, expr: sp.Expr):
        return self.row(self._mean(), self._sum("n", self._print(expr.args[0]), "n"))

    def _print_BatchLoss(self, expr: sp.Expr):
        inner = self._sum("k", self._print(expr.args[0]), "nk")
        outer = self.element("munder", self.op("∑"), self.element("mi", text="n"))
        return self.row(self._mean(), outer, inner)

    def _print_ElementSum(self, expr: sp.Expr):
        (arg,) = expr.args
        found = layout.norm(arg)
        if found is None:
            return self._sum("i,j", self._print(arg), "ij")
        kind, base = found
        norm = self.row(self.op("‖"), self._print(base), self.op("‖"))
        if kind == "F":
            return self.element(
                "msubsup",
                norm,
                self.element("mi", text="F"),
                self.element("mn", text="2"),
            )
        return self.element("msub", norm, self.element("mn", text="1"))

    def _named(self, name: str, expr: sp.Expr):
        head = self.element("mi", text=name, mathvariant="normal")
        return self.row(head, self.fenced(self._print(expr.args[0])))

    def _print_Softplus(self, expr: sp.Expr):
        return self._named("softplus", expr)

    def _print_LogSumExp(self, expr: sp.Expr):
        return self._named("logsumexp", expr)

    def _print_StopGradient(self, expr: sp.Expr):
        return self._named("sg", expr)

    def _print_InTraining(self, expr: sp.Expr):
        """The two values as cases: a brace, then a table of value and when."""
        rows = [
            self.element(
                "mtr",
                self.element("mtd", self._print(value)),
                self.element("mtd", self.element("mtext", text=f"in {when}")),
            )
            for value, when in zip(expr.args, ("training", "inference"))
        ]
        return self.row(self.op("{"), self.element("mtable", *rows, columnalign="left"))

    def _print_Partial(self, expr: sp.Expr):
        top, bottom = (self._print(arg) for arg in expr.args)
        return self.element(
            "mfrac", self.row(self.op("∂"), top), self.row(self.op("∂"), bottom)
        )

    def _print_Chain(self, expr: sp.Expr):
        return self.row(
            *(self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in expr.args)
        )

    def _print_Colored(self, expr: sp.Expr):
        return self.element(
            "mstyle", self._print(expr.args[0]), mathcolor=expr.args[1].name
        )

    def _print_Dots(self, expr: sp.Expr):
        return self.op("⋯")

    def _print_Space(self, expr: sp.Expr):
        dims = _interleave([self._print(arg) for arg in expr.args], self.op("×"))
        return self.element("msup", self.element("mi", text="ℝ"), self.row(*dims))

    def _print_Indexed(self, expr: sp.Indexed):
        """An entry: y_i, or (W₂)_{kj} where the name has a subscript of its own."""
        name = names.lecture(str(expr.base))
        base = self._name(name)
        if names.is_compound(name):
            base = self.fenced(base)
        indices = self.row(*(self._print(i) for i in expr.indices))
        return self.element("msub", base, indices)

    def _print_Piecewise(self, expr: sp.Piecewise):
        rows = []
        for branch, condition in expr.args:
            words = "otherwise" if condition is sp.true else "if\u00a0"
            cells = [self.element("mtd", self._print(branch), columnalign="left")]
            label = self.element("mtext", text=f"\u2003{words}")
            cond = [] if condition is sp.true else [self._print(condition)]
            cells.append(
                self.element("mtd", self.row(label, *cond), columnalign="left")
            )
            rows.append(self.element("mtr", *cells))
        return self.row(self.op("{"), self.element("mtable", *rows))

    def _print_Relational(self, expr: sp.Expr):
        symbol = {"==": "=", "!=": "≠", "<=": "≤", ">=": "≥"}.get(
            expr.rel_op, expr.rel_op
        )
        return self.row(self._print(expr.lhs), self.op(symbol), self._print(expr.rhs))

    def _print_Mul(self, expr: sp.Expr):
        hadamard = self._settings["hadamard"] and isinstance(expr, sp.Mul)
        product = layout.hadamard(expr) if hadamard else None
        if product is None:
            return self._plain_product(expr)
        if product.bare:
            parts = [self._print(product.arrays[0])]
        else:
            parts = _interleave(
                [self.parenthesize(f, PRECEDENCE["Mul"]) for f in product.arrays],
                self.op("⊙"),
            )
        if product.top != 1:
            parts = [
                self.parenthesize(product.top, PRECEDENCE["Mul"], strict=True),
                *parts,
            ]
        body = self.row(*parts)
        if product.bottom != 1:
            body = self.element("mfrac", body, self._print(product.bottom))
        return self.row(self.op("-"), body) if product.negative else body

    def _plain_product(self, expr: sp.Expr):
        """A product as the LaTeX printer writes it: e^{−z} stays in the numerator
        (SymPy's MathML printer would move it below as 1/e^{z})."""
        if expr.could_extract_minus_sign():
            return self.row(self.op("-"), self._print(-expr))
        top, bottom = sp.fraction(expr, exact=True)
        if bottom != 1 and top != expr:
            return self.element("mfrac", self._print(top), self._print(bottom))
        if not expr.has(sp.exp):
            return super()._print_Mul(expr)
        factors = [
            self.parenthesize(f, PRECEDENCE["Mul"]) for f in expr.as_ordered_factors()
        ]
        return self.row(*_interleave(factors, self.op("\u2062")))


def _interleave(items: list, separator) -> list:
    out = []
    for i, item in enumerate(items):
        if i:
            out.append(separator.cloneNode(True))
        out.append(item)
    return out


def to_mathml(expr: sp.Basic, hadamard: bool = False) -> str:
    """``expr`` as MathML markup (the content of a ``<math>`` element)."""
    markup = MathMLPrinter({"hadamard": hadamard})._print(expr).toxml()
    return markup.replace("<mo>-</mo>", "<mo>−</mo>")
