"""Printers: the only place an expression becomes text (NumPy code, LaTeX, plain-text comments).

Each follows SymPy's printer design: a subclass with one ``_print_<Node>`` per array operator.
"""

from __future__ import annotations

import functools
import re
from typing import ClassVar, Protocol

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.codeprinter import PrintMethodNotImplementedError
from sympy.printing.latex import LatexPrinter
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter

from . import layout, names
from .algebra import BatchLoss, Defined, Dot, ElementSum, is_scalar
from .names import WEIGHTS


def _lecture_order(terms: list[sp.Expr]) -> list[sp.Expr]:
    """Matrix products and the mean loss first, subtracted terms last: ``X W1ᵀ + b1``,
    ``T - A2``, ``mean ℓ + λ‖W‖²``."""
    return sorted(
        terms,
        key=lambda term: (
            not term.has(Dot, BatchLoss),
            term.could_extract_minus_sign(),
        ),
    )


class OwnSettings:
    """Printer mix-in: its own default settings, not those a program set for every SymPy
    printer (``init_printing(order="rev-lex")`` reordered the sums of modules and documents).
    """

    @classmethod
    def _get_initial_settings(cls) -> dict:
        return cls._default_settings.copy()


class LectureOrder:
    """Printer mix-in: sums in the order lecture notes write them."""

    def _as_ordered_terms(
        self, expr: sp.Expr, order: str | None = None
    ) -> list[sp.Expr]:
        return _lecture_order(super()._as_ordered_terms(expr, order=order))


class ExactFloats:
    """Printer mix-in: a float as the shortest decimal that reads back as the same double
    (SELU's 1.0507009873554805, where SymPy would print 15 digits)."""

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))


#: below it, log softplus(u) is u to within e^(−80), where softplus(u) itself underflows
LOG_SOFTPLUS_FLOOR = -80
#: |u| below which log cosh(u) is log1p(2 sinh²(u/2)); above, |u| + softplus(−2|u|) − log 2
LOG_COSH_SPLIT = 1


class ScalarCodePrinter(OwnSettings, ExactFloats, PythonCodePrinter):
    """Python source for a constant, with the ``math`` module: √2 → ``math.sqrt(2)``."""


#: the row-wise functions the module defines as helpers, by SymPy class: the template's names
_HELPERS = {
    "LogSumExp": "_logsumexp",
    "Softmax": "_softmax",
    "LogSoftmax": "_log_softmax",
    "Log1mSoftmax": "_log1m_softmax",
    "SoftmaxMinus": "_softmax_minus",
    "SoftmaxParts": "_softmax_parts",
    "SoftmaxBackward": "_softmax_backward",
    "SoftmaxBackwardPole": "_softmax_backward_pole",
}


class NumPyCodePrinter(OwnSettings, ExactFloats, LectureOrder, NumPyPrinter):
    """NumPy source for array formulas, written against ``import numpy as np`` (and ``math``)
    in a module that defines ``DTYPE``. Constants such as √2 print with ``math``: Python floats,
    which NumPy casts to the arrays' dtype (``np.sqrt(2)`` is a float64 scalar and would turn
    float32 arrays into float64).

    ``needs`` records, while printing, what the code uses besides NumPy: the modules
    (``math``) and the module's helpers (``erf``, ``_softmax``, ``_logsumexp``) — the module
    imports and defines exactly those.
    """

    #: whether its modules compute a softmax output with its parts (``rules.FUSE``): a NumPy
    #: call costs as much as a small batch's arithmetic, so one pass over a row beats three
    fuses_softmax = True
    #: whether its modules fold the rate into the step's gradients where the optimiser allows
    #: (``rules.folded_rate``): W1 -= dW1 in place saves a product and a temporary
    folds_rate = True
    #: whether a loss's sum takes the weights apart (``_print_ElementSum``): they are the
    #: number 1.0 where every sample counts alike
    sums_weights_apart = True

    def __init__(self, settings: dict | None = None) -> None:
        super().__init__({"fully_qualified_modules": True, **(settings or {})})
        self.needs: set[str] = set()

    def _print(self, expr: object, **kwargs: object) -> str:
        if (
            isinstance(expr, sp.Expr)
            and expr.is_number
            and expr.is_real
            and not expr.is_Rational
            and not expr.is_Float
        ):
            scalar = ScalarCodePrinter()
            code = scalar.doprint(expr)
            self.needs.update(scalar.module_imports)
            return code
        return super()._print(expr, **kwargs)

    def _module_format(self, fqn: str, register: bool = True) -> str:
        return re.sub(r"^numpy\.", "np.", super()._module_format(fqn, register))

    def _print_Dot(self, expr: sp.Expr) -> str:
        """A matrix product as ``np.dot(X, W1.T)``: on a small batch's arrays a quarter of a
        microsecond less than ``@`` (NumPy's matmul ufunc), 4 % of the small benchmark
        network's epoch; the same BLAS product on large ones."""
        left, right = (self._print(arg) for arg in expr.args)
        return f"np.dot({left}, {right})"

    def _print_Transpose(self, expr: sp.Expr) -> str:
        return f"{self._print(expr.args[0])}.T"

    def _print_Concat(self, expr: sp.Expr) -> str:
        arrays = ", ".join(self._print(arg) for arg in expr.args)
        return f"np.concatenate(({arrays}), axis=1)"

    def _print_Columns(self, expr: sp.Expr) -> str:
        array, start, stop = expr.args
        return f"{self.parenthesize(array, PRECEDENCE['Func'], strict=True)}[:, {start}:{stop}]"

    def _reduce(self, expr: sp.Expr, call: str) -> str:
        """A reduction as an array method (``delta_y.sum(axis=0)``): NumPy's function form
        goes through a Python wrapper, which costs more than the sum of a small batch.
        """
        return (
            f"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}.{call}"
        )

    def _print_RowSum(self, expr: sp.Expr) -> str:
        return self._reduce(expr, "sum(axis=1, keepdims=True)")

    def _print_BatchMean(self, expr: sp.Expr) -> str:
        return self._reduce(expr, "mean(axis=0)")

    def _print_BatchSum(self, expr: sp.Expr) -> str:
        """Σ_n over the batch as ``_column_sums(delta_y)``, a product with a row of ones: half
        the time of ``delta_y.sum(axis=0)`` on a batch's arrays."""
        self.needs.add("_column_sums")
        return f"_column_sums({self._print(expr.args[0])})"

    def _print_BatchLoss(self, expr: sp.Expr) -> str:
        return f"{self._print(ElementSum(expr.args[0]))} / N"

    # What a library spells differently, for its printer to override (libraries.py): a
    # number where a function wants an array, an array clipped at a number, a number of the
    # module's dtype.

    def _operand(self, expr: sp.Expr) -> str:
        """``expr`` as an argument of an element-wise function (NumPy: numbers as they are)."""
        return self._print(expr)

    def _clip(self, code: str, low: object = None, high: object = None) -> str:
        """The array ``code`` clipped below at ``low`` or above at ``high``."""
        if low is not None:
            return f"np.maximum({code}, {low})"
        return f"np.minimum({code}, {high})"

    def _typed(self, value: sp.Expr, like: sp.Symbol | None = None) -> str:
        """A number of the module's dtype (np.where would otherwise give int64 or float64);
        ``like``: an array of the Piecewise's conditions (NumPy promotes a float32 result
        where it meets float64 arrays, so its printer needs none)."""
        return f"DTYPE({self._print(value)})"

    def _print_Softplus(self, expr: sp.Expr) -> str:
        return (
            f"np.logaddexp({self._operand(sp.S.Zero)}, {self._operand(expr.args[0])})"
        )

    def _print_LogAddExp(self, expr: sp.Expr) -> str:
        left, right = (self._operand(arg) for arg in expr.args)
        return f"np.logaddexp({left}, {right})"

    def _print_LogSoftplus(self, expr: sp.Expr) -> str:
        # log(softplus(u)) = u + log(softplus(u)/e^u), and softplus(u)/e^u = 1 − e^u/2 + … is
        # 1 to within e^(−80) below u = −80, where softplus(u) would underflow (in float32 too)
        u = self._operand(expr.args[0])
        clipped = self._clip(u, low=LOG_SOFTPLUS_FLOOR)
        zero = self._operand(sp.S.Zero)
        return f"(np.log(np.logaddexp({zero}, {clipped})) + ({u} - {clipped}))"

    def _print_LogCosh(self, expr: sp.Expr) -> str:
        # |u| + softplus(−2|u|) − log 2 cancels to 0 for small u, log1p(2 sinh²(u/2)) is exact
        # there; sinh is clipped so that the branch np.where discards cannot overflow
        u = f"np.abs({self._operand(expr.args[0])})"
        small = f"np.log1p(2 * np.sinh({self._clip(u, high=LOG_COSH_SPLIT)} / 2) ** 2)"
        large = (
            f"{u} + np.logaddexp({self._operand(sp.S.Zero)}, -2 * {u}) - math.log(2)"
        )
        return f"np.where({u} < {LOG_COSH_SPLIT}, {small}, {large})"

    def _print_Expm1(self, expr: sp.Expr) -> str:
        return f"np.expm1({self._operand(expr.args[0])})"

    def _print_Log1p(self, expr: sp.Expr) -> str:
        return f"np.log1p({self._operand(expr.args[0])})"

    def _print_Erfc(self, expr: sp.Expr) -> str:
        # the module defines ``erfc`` element-wise from math.erfc, as it does ``erf``
        self.needs.add("erfc")
        return f"erfc({self._operand(expr.args[0])})"

    def _print_erfc(self, expr: sp.Expr) -> str:
        """SymPy's erfc as the module's (``_print_Erfc``): math.erfc takes one number."""
        return self._print_Erfc(expr)

    def _print_scalar_only(self, expr: sp.Expr) -> str:
        """A function that Python's math has and NumPy lacks: math's takes one number, so
        array code has no form for it (SymPy's NumPy printer would print math.gamma(Z1)).
        """
        return self._print_not_supported(expr)

    _print_gamma = _print_loggamma = _print_factorial = _print_scalar_only

    def _print_helper(self, expr: sp.Expr, *extra: str) -> str:
        """A row-wise function the module defines as a helper (``_softmax``, ``_log_softmax``,
        …: the row maximum subtracted, the digits near 1 kept), called by its name with the
        expression's arguments, then ``extra`` (names, as they stand)."""
        name = _HELPERS[type(expr).__name__]
        self.needs.add(name)
        return f"{name}({', '.join([*map(self._print, expr.args), *extra])})"

    _print_LogSumExp = _print_Softmax = _print_LogSoftmax = _print_helper
    _print_Log1mSoftmax = _print_SoftmaxMinus = _print_SoftmaxBackward = _print_helper

    #: the name of the arrays ``_softmax_parts`` is to write its parts into (a module's
    #: ``_forward`` passes on its ``out``), or None: new arrays
    parts_out: str | None = None

    def _print_SoftmaxParts(self, expr: sp.Expr) -> str:
        """``_softmax_parts(Z2)``, or ``_softmax_parts(Z2, out)`` given ``parts_out``."""
        return self._print_helper(expr, *filter(None, [self.parts_out]))

    def _print_SoftmaxBackwardPole(self, expr: sp.Expr) -> str:
        """``_softmax_backward_pole(Z, T, lambda A, C, D, T: a·g, lambda …: (1 − a)·g)``."""
        u, _, target, _, *products = expr.args
        name = _HELPERS[type(expr).__name__]
        self.needs.add(name)
        lambdas = (
            f"lambda {', '.join(map(self._print, f.variables))}: {self._print(f.expr)}"
            for f in products
        )
        return f"{name}({self._print(u)}, {self._print(target)}, {', '.join(lambdas)})"

    def _print_Mul(self, expr: sp.Expr) -> str:
        """Indicator factors as boolean masks (``(A1 > 0) * (δ·W)``), and several scalar
        factors of an array as one scalar (``(A2 - T) * (lr / N)``): one array operation each.
        """
        if not isinstance(expr, sp.Mul):
            return super()._print_Mul(expr)
        masks = [f for f in expr.args if _indicator(f) is not None]
        scalars = [f for f in expr.args if f not in masks and is_scalar(f)]
        arrays = [f for f in expr.args if f not in masks and not is_scalar(f)]
        several = _several(scalars)
        if not arrays or not (masks or several):
            return super()._print_Mul(expr)
        scale = sp.Mul(*scalars)
        body = sp.Mul(*arrays)
        if several and scale.could_extract_minus_sign() and body.is_Add:
            scale, body = -scale, -body
        parts = [f"({self._print(_indicator(f))})" for f in masks]
        parts.append(self.parenthesize(body, PRECEDENCE["Mul"]))
        if several:
            parts.append(f"({self._print(scale)})")
        elif scalars:
            parts.insert(0, self.parenthesize(scale, PRECEDENCE["Mul"]))
        return " * ".join(parts)

    def for_scalars(self) -> NumPyCodePrinter:
        """The printer for formulas of numbers alone (a schedule's rate at update k)."""
        return self

    def for_host(self) -> NumPyCodePrinter:
        """The printer for numbers the module computes on the host (an initialiser's scale)."""
        return self

    def _print_ElementSum(self, expr: sp.Expr) -> str:
        """Σ over every entry as the array's sum; a loss's per-sample term weights·ℓ as
        ``_weighted_sum(ℓ, weights)`` (``sums_weights_apart``): with every sample alike
        (weights 1.0), no pass over the outputs multiplies them by it."""
        term = expr.args[0]
        factors = sp.Mul.make_args(term)
        if not self.sums_weights_apart or WEIGHTS not in factors:
            return self._reduce(expr, "sum()")
        self.needs.add("_weighted_sum")
        loss = sp.Mul(*(factor for factor in factors if factor != WEIGHTS))
        return f"_weighted_sum({self._print(loss)}, weights)"

    def _print_StopGradient(self, expr: sp.Expr) -> str:
        return self._print(expr.args[0])

    def _print_InTraining(self, expr: sp.Expr) -> str:
        training, inference = (self._print(arg) for arg in expr.args)
        return f"({training} if training else {inference})"

    def _print_Grouped(self, expr: sp.Expr) -> str:
        return self.parenthesize(expr.args[0], PRECEDENCE["Atom"])

    def _print_Abs(self, expr: sp.Expr) -> str:
        return f"np.abs({self._print(expr.args[0])})"

    def _print_Min(self, expr: sp.Expr) -> str:
        return self._pairwise("np.minimum", expr.args)

    def _print_Max(self, expr: sp.Expr) -> str:
        return self._pairwise("np.maximum", expr.args)

    def _pairwise(self, function: str, args: tuple[sp.Expr, ...]) -> str:
        code = self._print(args[-1])
        for arg in reversed(args[:-1]):
            code = f"{function}({self._print(arg)}, {code})"
        return code

    def _print_erf(self, expr: sp.Expr) -> str:
        # NumPy has no error function: the module defines ``erf`` element-wise from math.erf
        self.needs.add("erf")
        return f"erf({self._print(expr.args[0])})"

    def _print_Relational(self, expr: sp.Expr) -> str:
        return f"{self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)}"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        *pieces, (last, cond) = expr.args
        if cond is not sp.true:
            raise ValueError(f"Piecewise without a default branch: {expr}")
        if _clipped_below(expr):
            # (u if u > c else c) is max(u, c): one pass instead of a comparison and a where
            return self._pairwise("np.maximum", (pieces[0][0], last))
        # numbers in every branch: np.where would give an integer or float64 array
        if all(branch.is_number for branch, _ in expr.args):
            value = functools.partial(self._typed, like=_compared(expr))
        else:
            value = self._print
        code = value(last)
        for branch, condition in reversed(pieces):
            code = f"np.where({self._print(condition)}, {value(branch)}, {code})"
        return code


def _compared(expr: sp.Piecewise) -> sp.Symbol | None:
    """The first array (by name) that a Piecewise's conditions compare, else None."""
    compared = set().union(*(condition.free_symbols for _, condition in expr.args))
    return min(compared, key=str, default=None)


def _indicator(expr: sp.Expr) -> sp.Expr | None:
    """The condition of ``[cond]`` (1 where it holds, else 0), else None."""
    if (
        isinstance(expr, sp.Piecewise)
        and len(expr.args) == 2
        and expr.args[0][0] == 1
        and expr.args[1] == (0, sp.true)
    ):
        return expr.args[0][1]
    return None


def _several(scalars: list[sp.Expr]) -> bool:
    """Whether scalar factors printed in SymPy's order would cost more than one array
    operation: two besides a sign (``lam*scale*W1``), or a sign with a division (``-x/N``).
    """
    symbolic = [f for f in scalars if not f.is_number]  # numbers print first anyway
    unsigned = [f for f in scalars if f != -1]
    divides = any(f.is_Pow and f.exp.is_negative for f in symbolic)
    signed = len(unsigned) < len(scalars)
    return bool(symbolic) and (len(unsigned) > 1 or (signed and divides))


def _clipped_below(expr: sp.Piecewise) -> bool:
    """Whether ``expr`` is ``(u if u > c else c)`` for a number c (ReLU)."""
    if len(expr.args) != 2:
        return False
    (branch, condition), (last, _) = expr.args
    return (
        isinstance(condition, sp.StrictGreaterThan)
        and condition.lhs == branch
        and condition.rhs == last
        and last.is_number
    )


def _function_name(name: str) -> str:
    """A named function in LaTeX: a lecture name (ℓ, f_1', r) or an operator name
    (``\\operatorname{leaky\\_relu}``) for catalog entries."""
    base = name.rstrip("'")
    parsed = names.lecture(base)
    if parsed[0] == "text" and len(base) > 1:
        return rf"\operatorname{{{text(name)}}}"
    return names.latex(parsed) + name[len(base) :]


def is_fraction_name(expr: sp.Basic) -> bool:
    """Whether ``expr`` is a symbol written as a fraction (∂ℒ/∂W₁), so a power needs parentheses."""
    return isinstance(expr, sp.Symbol) and names.lecture(expr)[0] == "partial"


class MathLatexPrinter(OwnSettings, LectureOrder, LatexPrinter):
    """LaTeX for derived formulas in lecture names; with ``hadamard``, products of arrays get ⊙."""

    _default_settings: ClassVar[dict] = {
        **LatexPrinter._default_settings,
        "hadamard": False,
    }

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        return names.latex(names.lecture(expr))

    def _print_Pow(self, expr: sp.Pow) -> str:
        base, exp = expr.args
        if is_fraction_name(base) and exp.is_positive:
            return rf"\left({self._print(base)}\right)^{{{self._print(exp)}}}"
        return super()._print_Pow(expr)

    def _print_Dot(self, expr: sp.Expr) -> str:
        left, right = (self.parenthesize(arg, PRECEDENCE["Mul"]) for arg in expr.args)
        return f"{left} {right}"

    def _print_Transpose(self, expr: sp.Expr) -> str:
        return f"{self._print(expr.args[0])}^{{\\top}}"

    def _print_Concat(self, expr: sp.Expr) -> str:
        arrays = " & ".join(self._print(arg) for arg in expr.args)
        return rf"\begin{{bmatrix}} {arrays} \end{{bmatrix}}"

    def _print_Columns(self, expr: sp.Expr) -> str:
        """Columns start + 1 to stop (counted from 1, as lecture notes count)."""
        array, start, stop = expr.args
        return rf"\left({self._print(array)}\right)_{{:,\,{start + 1}\ldots {stop}}}"

    def _print_RowSum(self, expr: sp.Expr) -> str:
        return rf"\sum_{{k}} \left({self._print(expr.args[0])}\right)_{{k}}"

    def _print_BatchMean(self, expr: sp.Expr) -> str:
        return rf"\frac{{1}}{{N}} \sum_{{n}} \left({self._print(expr.args[0])}\right)_{{n}}"

    def _print_BatchLoss(self, expr: sp.Expr) -> str:
        return rf"\frac{{1}}{{N}} \sum_{{n}} \sum_{{k}} \left({self._print(expr.args[0])}\right)_{{nk}}"

    def _print_Softplus(self, expr: sp.Expr) -> str:
        return rf"\operatorname{{softplus}}\left({self._print(expr.args[0])}\right)"

    def _print_StopGradient(self, expr: sp.Expr) -> str:
        return rf"\operatorname{{sg}}\left({self._print(expr.args[0])}\right)"

    def _print_InTraining(self, expr: sp.Expr) -> str:
        training, inference = (self._print(arg) for arg in expr.args)
        return (
            rf"\begin{{cases}} {training} & \text{{in training}} \\ {inference} & "
            r"\text{in inference} \end{cases}"
        )

    def _print_Function(self, expr: sp.Expr, exp: str | None = None) -> str:
        if not isinstance(expr, AppliedUndef):
            return super()._print_Function(expr, exp)
        args = ", ".join(self._print(arg) for arg in expr.args)
        power = f"^{{{exp}}}" if exp else ""
        return rf"{_function_name(expr.func.__name__)}{power}\left({args}\right)"

    def _print_Partial(self, expr: sp.Expr) -> str:
        top, bottom = (self._print(arg) for arg in expr.args)
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        """An entry: y_{i}, or (W_{2})_{kj} where the name has a subscript of its own."""
        name = names.lecture(str(expr.base))
        base = names.latex(name)
        if names.is_compound(name):
            base = rf"\left({base}\right)"
        indices = "".join(self._print(i) for i in expr.indices)
        return f"{base}_{{{indices}}}"

    def _print_Colored(self, expr: sp.Expr) -> str:
        # {\color{c}{x}} reads the same in LaTeX, KaTeX, MathJax 3 (a colour switch, then a
        # group) and MathJax 2 (where \color takes two arguments, and \textcolor is unknown)
        return rf"{{\color{{{expr.args[1].name}}}{{{self._print(expr.args[0])}}}}}"

    def _print_Chain(self, expr: sp.Expr) -> str:
        return " ".join(
            self.parenthesize(f, PRECEDENCE["Mul"], strict=True) for f in expr.args
        )

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        # "if", as the MathML printer and lecture notes write a case (SymPy writes "for")
        return super()._print_Piecewise(expr).replace(r"\text{for}\: ", r"\text{if } ")

    def _print_Space(self, expr: sp.Expr) -> str:
        dims = r" \times ".join(self._print(arg) for arg in expr.args)
        return rf"\mathbb{{R}}^{{{dims}}}"

    def _print_ElementSum(self, expr: sp.Expr) -> str:
        (arg,) = expr.args
        found = layout.norm(arg)
        if found is None:
            return rf"\sum_{{i,j}} \left({self._print(arg)}\right)_{{ij}}"
        kind, base = found
        power = "^{2}" if kind == "F" else ""
        return rf"\left\lVert {self._print(base)} \right\rVert_{{{kind}}}{power}"

    def _print_LogSumExp(self, expr: sp.Expr) -> str:
        return rf"\operatorname{{logsumexp}}\left({self._print(expr.args[0])}\right)"

    def _print_LogSoftmax(self, expr: sp.Expr) -> str:
        return rf"\log \operatorname{{softmax}}\left({self._print(expr.args[0])}\right)"

    def _print_Log1mSoftmax(self, expr: sp.Expr) -> str:
        u = self._print(expr.args[0])
        return rf"\log\left(1 - \operatorname{{softmax}}\left({u}\right)\right)"

    def _print_SoftmaxMinus(self, expr: sp.Expr) -> str:
        return self._print(sp.Add(expr.args[0], -expr.args[1], evaluate=False))

    def _print_Mul(self, expr: sp.Mul) -> str:
        if not isinstance(expr, sp.Mul):  # LatexPrinter prints 1/u through _print_Mul
            return super()._print_Mul(expr)
        product = layout.hadamard(expr) if self._settings["hadamard"] else None
        if product is None:
            return super()._print_Mul(expr)
        if product.bare:
            body = self._print(product.arrays[0])
        else:
            body = r" \odot ".join(
                self.parenthesize(f, PRECEDENCE["Mul"]) for f in product.arrays
            )
        if product.top != 1:
            body = f"{self.parenthesize(product.top, PRECEDENCE['Mul'], strict=True)} {body}"
        if product.bottom != 1:
            body = rf"\frac{{{body}}}{{{self._print(product.bottom)}}}"
        return f"- {body}" if product.negative else body


class CommentPrinter(OwnSettings, ExactFloats, LectureOrder, StrPrinter):
    """Plain-text formulas for the comments of generated code (· is the matrix product)."""

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return expr.name.replace("delta_", "δ_")

    def _print_Dot(self, expr: sp.Expr) -> str:
        left, right = (self._print(arg) for arg in expr.args)
        return f"({left}·{right})"

    def _print_Transpose(self, expr: sp.Expr) -> str:
        return f"{self._print(expr.args[0])}ᵀ"

    def _print_Concat(self, expr: sp.Expr) -> str:
        return f"[{', '.join(self._print(arg) for arg in expr.args)}]"

    def _print_Columns(self, expr: sp.Expr) -> str:
        array, start, stop = expr.args
        return f"{self._print(array)}[:, {start}:{stop}]"

    def _print_RowSum(self, expr: sp.Expr) -> str:
        return f"Σ_k({self._print(expr.args[0])})"

    def _print_BatchMean(self, expr: sp.Expr) -> str:
        return f"mean_n({self._print(expr.args[0])})"

    def _print_BatchLoss(self, expr: sp.Expr) -> str:
        return f"mean_n Σ_k({self._print(expr.args[0])})"

    def _print_BatchSum(self, expr: sp.Expr) -> str:
        return f"Σ_n({self._print(expr.args[0])})"

    def _print_ElementSum(self, expr: sp.Expr) -> str:
        return f"Σ_ij({self._print(expr.args[0])})"

    def _print_Function(self, expr: sp.Expr) -> str:
        """A stable form by its own name: softplus(u), logaddexp(u, v), log1p(u), …"""
        if not isinstance(expr, Defined):
            return super()._print_Function(expr)
        args = ", ".join(self._print(u) for u in expr.args)
        return f"{type(expr).__name__.lower()}({args})"

    def _print_StopGradient(self, expr: sp.Expr) -> str:
        return f"sg({self._print(expr.args[0])})"

    def _print_InTraining(self, expr: sp.Expr) -> str:
        training, inference = (self._print(arg) for arg in expr.args)
        return f"{training} in training, {inference} in inference"

    def _print_Grouped(self, expr: sp.Expr) -> str:
        return f"({self._print(expr.args[0])})"

    def _print_LogSoftmax(self, expr: sp.Expr) -> str:
        return f"log(softmax({self._print(expr.args[0])}))"

    def _print_Log1mSoftmax(self, expr: sp.Expr) -> str:
        return f"log(1 - softmax({self._print(expr.args[0])}))"

    def _print_SoftmaxBackwardPole(self, expr: sp.Expr) -> str:
        """As the error it carries back: softmax_backward(A2, (1 - T)/(1 - A2) - T/A2)."""
        _, output, _, error, *_ = expr.args
        return f"softmax_backward({self._print(output)}, {self._print(error)})"

    def _print_SoftmaxParts(self, expr: sp.Expr) -> str:
        """What ``D2, R2, A2 = _softmax_parts(Z2)`` assigns, as a tuple of formulas."""
        u = self._print(expr.args[0])
        shift = f"{u} - max_k({u})"
        return f"{shift}, Σ_k(exp({shift})) - 1, softmax({u})"

    def _print_helper(self, expr: sp.Expr) -> str:
        """A module helper by its name without the underscore: softmax_minus(A2, T)."""
        name = _HELPERS[type(expr).__name__].lstrip("_")
        return f"{name}({', '.join(self._print(u) for u in expr.args)})"

    _print_LogSumExp = _print_Softmax = _print_helper
    _print_SoftmaxMinus = _print_SoftmaxBackward = _print_helper

    def _print_ITE(self, expr: sp.Basic) -> str:
        return self._print(expr.rewrite(sp.Piecewise))

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        if (condition := _indicator(expr)) is not None:
            return f"[{self._print(condition)}]"
        *pieces, (last, _) = expr.args
        text = self._print(last)
        for branch, cond in reversed(pieces):
            text = f"({self._print(branch)} if {self._print(cond)} else {text})"
        return text


_TEXT_ESCAPES = {c: "\\" + c for c in "_&%#$"}
_MATH_ESCAPES = {
    **{c: "\\" + c for c in "_&%#${}"},
    "~": r"\sim",
    "^": r"\wedge",
    "\\": r"\backslash",
}


def text(words: str) -> str:
    """Plain words for LaTeX text mode (``leaky_relu`` → ``leaky\\_relu``)."""
    return "".join(_TEXT_ESCAPES.get(c, c) for c in words)


def math_text(words: str) -> str:
    """Plain words inside math: ``\\text{…}`` runs, with the characters text mode would need
    escaped set in math instead (``leaky_relu`` → ``\\text{leaky}\\_\\text{relu}``), since
    MathJax shows a ``\\text`` verbatim, backslashes and all."""
    runs = re.split(r"([_&%#${}~^\\])", words)
    return "".join(
        (rf"\text{{{run}}}" if i % 2 == 0 else _MATH_ESCAPES[run])
        for i, run in enumerate(runs)
        if run
    )


def unprintable(expr: sp.Expr) -> list[str]:
    """The functions of ``expr`` that a generated module cannot compute element-wise, by name,
    innermost only: those NumPy's printer has no form for (Si, besselj, gamma)."""
    failing: list[sp.Expr] = []
    for call in sorted(expr.atoms(sp.Function), key=sp.count_ops):
        if not call.free_symbols or any(call.has(inner) for inner in failing):
            continue  # a number prints with math; a call around a failing one fails by it
        try:
            NumPyCodePrinter().doprint(call)
        except PrintMethodNotImplementedError:
            failing.append(call)
    return sorted({type(call).__name__ for call in failing})


def numpy_code(expr: sp.Expr, printer: NumPyCodePrinter | None = None) -> str:
    """NumPy source for ``expr`` (by ``printer``, which records what the code needs)."""
    return (printer or NumPyCodePrinter()).doprint(expr)


def latex(expr: sp.Basic, hadamard: bool = False) -> str:
    """LaTeX for ``expr`` in the lecture notation; ``hadamard`` for formulas over arrays."""
    return MathLatexPrinter({"hadamard": hadamard}).doprint(expr)


def comment(expr: sp.Basic) -> str:
    """Plain-text formula for a code comment."""
    return CommentPrinter().doprint(expr)


class Relation(Protocol):
    """An equation as shown: ``lhs = label = rhs`` (``:=``/``←`` when it rebinds a variable
    that lives on); the derivation's ``Equation`` is one."""

    lhs: sp.Expr
    rhs: sp.Expr
    label: sp.Expr | None
    rebinds: bool
    #: the relation in text: ``=``, or ``:=`` when it rebinds
    relation: str


def equation_latex(eq: Relation, align: bool = False) -> str:
    """``eq`` in LaTeX (``←`` when it rebinds); ``align`` puts ``&`` before the relation."""
    rel = r"\leftarrow" if eq.rebinds else "="
    amp = "&" if align else ""
    label = f"{latex(eq.label)} = " if eq.label is not None else ""
    rhs = latex(eq.rhs, hadamard=True)
    return f"{latex(eq.lhs)} {amp}{rel} {label}{rhs}"


def equation_text(eq: Relation) -> str:
    """``eq`` as plain text, for a code comment."""
    rhs = comment(eq.rhs)
    label = "" if eq.label is None else comment(eq.label)
    label = f"{label} = " if label not in ("", rhs) else ""
    return f"{comment(eq.lhs)} {eq.relation} {label}{rhs}"
