"""The printers on their own (symbackprop/expressions/printers.py): NumPy code that records
what it needs, lecture names in LaTeX from the naming module, comment text, equations.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from symbackprop.derive.derivation import Equation, T
from symbackprop.expressions import algebra, helpers, layout, libraries, names, printers
from symbackprop.expressions.algebra import (
    BatchLoss,
    BatchMean,
    BatchSum,
    Dot,
    ElementSum,
    RowSum,
    Softmax,
    Transpose,
)
from symbackprop.expressions.mathml import to_mathml

Z1, A1 = names.net(1), names.activation(1)
W2 = names.weight(2)
DELTA = names.output_error()


def test_array_operators_print_as_numpy():
    code = printers.numpy_code
    assert code(Dot(DELTA, W2)) == "np.dot(delta_y, W2)"
    assert code(Transpose(W2)) == "W2.T"
    assert code(RowSum(A1)) == "A1.sum(axis=1, keepdims=True)"
    assert code(BatchMean(DELTA)) == "delta_y.mean(axis=0)"
    printer = printers.NumPyCodePrinter()
    assert printer.doprint(BatchSum(DELTA)) == "_column_sums(delta_y)"
    assert printer.needs == {"_column_sums"}
    # PyTorch's torch.dot takes vectors alone: the libraries keep @ and the sum's method
    for target in ("torch", "jax"):
        printer = libraries.PRINTERS[target]()
        assert printer.doprint(Dot(DELTA, W2)) == "(delta_y @ W2)"
        assert printer.doprint(BatchSum(DELTA)) == "delta_y.sum(axis=0)"
        assert not printer.needs


def test_a_torch_layer_adds_its_bias_in_the_product():
    """(A1·W2ᵀ) + b2 as torch.addmm (one op, as torch.nn.functional.linear); a sum of more
    terms, or of a product and anything but an array, stays a sum."""
    X, b2, S = sp.Symbol("X"), names.bias(2), sp.Symbol("S")
    layer = Dot(A1, Transpose(W2)) + b2
    torch_code = libraries.PRINTERS["torch"]().doprint
    assert torch_code(layer) == "torch.addmm(b2, A1, W2.T)"
    assert torch_code(Dot(DELTA, W2) + S) == "torch.addmm(S, delta_y, W2)"
    for other in (layer + X, Dot(A1, Transpose(W2)) + 2 * b2, Dot(A1, W2) + 1):
        assert "addmm" not in torch_code(other)
    # NumPy's and JAX's printers keep the sum (XLA fuses it)
    assert printers.numpy_code(layer) == "np.dot(A1, W2.T) + b2"
    assert libraries.PRINTERS["jax"]().doprint(layer) == "(A1 @ W2.T) + b2"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(1, 3), (32, 15), (128, 256), (5, 1)])
def test_column_sums_are_numpys_sums_over_the_rows(shape, dtype):
    """_column_sums (a product with a cached row of ones) gives x.sum(axis=0): within the
    rounding of two orders of addition, in x's dtype, inf and nan where a column holds them;
    its cached row of ones is read-only, so no caller can change what later sums take.
    """
    rng = np.random.default_rng(shape[0])
    x = rng.normal(size=shape).astype(dtype)
    found = helpers._column_sums(x)
    assert found.dtype == x.dtype and found.shape == shape[1:]
    scale = np.abs(x).sum(axis=0)
    assert np.all(
        np.abs(found - x.sum(axis=0)) <= 4 * shape[0] * np.finfo(dtype).eps * scale
    )
    x[0, 0], x[-1, -1] = np.inf, np.nan
    if shape[1] > 1:
        x[0, 1] = -np.inf
        x[-1, 1] = np.inf if shape[0] > 1 else -np.inf
    with np.errstate(invalid="ignore"):  # inf − inf
        expected, found = x.sum(axis=0), helpers._column_sums(x)
    np.testing.assert_array_equal(np.isnan(found), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(found), np.isinf(expected))
    np.testing.assert_array_equal(found[np.isinf(found)], expected[np.isinf(expected)])
    ones = helpers._ones(shape[0], np.dtype(dtype))
    assert np.all(ones == 1) and not ones.flags.writeable


def test_a_loss_sum_keeps_the_weights_and_the_sign_off_the_outputs():
    # NumPy's weights are the number 1.0 where every sample counts alike: _weighted_sum then
    # sums the terms alone, where (-T * weights * …).sum() made two more passes over them
    weights = names.WEIGHTS
    term = -weights * T * sp.log(A1)
    printer = printers.NumPyCodePrinter()
    assert (
        printer.doprint(BatchLoss(term)) == "-_weighted_sum(T*np.log(A1), weights) / N"
    )
    assert "_weighted_sum" in printer.needs
    assert printers.numpy_code(ElementSum(W2**2)) == "(W2**2).sum()"
    # PyTorch and JAX hold the weights as a 0-d array: a product, as the loss is written
    for target in ("torch", "jax"):
        code = libraries.PRINTERS[target]().doprint(BatchLoss(term))
        assert code.startswith("-(T*weights*") and code.endswith(").sum() / N")
    rng = np.random.default_rng(0)
    terms, column = rng.normal(size=(5, 3)), rng.uniform(size=(5, 1))
    assert helpers._weighted_sum(terms, 1.0) == terms.sum()
    assert helpers._weighted_sum(terms, 0.5) == 0.5 * terms.sum()
    assert np.isclose(helpers._weighted_sum(terms, column), (terms * column).sum())
    f32 = terms.astype(np.float32)
    assert helpers._weighted_sum(f32, 1.0).dtype == np.float32


def test_relu_is_a_maximum_and_its_derivative_a_mask():
    relu = sp.Piecewise((Z1, Z1 > 0), (0, True))
    assert printers.numpy_code(relu) == "np.maximum(Z1, 0)"
    mask = sp.Piecewise((1, A1 > 0), (0, True))
    assert (
        printers.numpy_code(mask * Dot(DELTA, W2)) == "(A1 > 0) * np.dot(delta_y, W2)"
    )


def test_scalar_factors_of_an_array_are_grouped_into_one():
    scale, n = sp.Symbol("scale", positive=True), sp.Symbol("N", positive=True)
    # one array operation: the scalars multiply first (black spaces the operators later)
    assert printers.numpy_code(A1 * scale / n) == "A1 * (scale/N)"


def test_the_printer_records_the_helpers_and_modules_the_code_needs():
    printer = printers.NumPyCodePrinter()
    printers.numpy_code(Softmax(Z1) + sp.erf(Z1) + sp.sqrt(2) * Z1, printer)
    assert {"_softmax", "erf"} <= printer.needs
    plain = printers.NumPyCodePrinter()
    printers.numpy_code(sp.tanh(Z1), plain)
    assert plain.needs == set()


def test_names_made_by_the_naming_module_print_as_the_lecture_writes_them():
    latex = printers.latex
    assert latex(names.gradient(W2)) == r"\frac{\partial \mathcal{L}}{\partial W_{2}}"
    assert latex(names.error(1)) == r"\delta_{h_{1}}"
    assert latex(DELTA) == r"\delta_{y}"
    assert latex(names.state(sp.Symbol("mhat"), W2)) == r"\hat{m}_{W_{2}}"
    alpha2 = names.learnable(sp.Symbol("alpha"), 2)
    assert (
        latex(names.gradient(alpha2))
        == r"\frac{\partial \mathcal{L}}{\partial \alpha_{2}}"
    )


def test_words_no_builder_made_follow_sympys_subscript_convention():
    latex = printers.latex
    assert latex(sp.Symbol("beta1")) == r"\beta_{1}"
    assert latex(sp.Symbol("lr_k")) == r"\eta_{k}"
    assert latex(sp.Symbol("n_in")) == r"n_{\mathrm{in}}"
    assert latex(sp.Symbol("decay")) == r"\mathrm{decay}"


def test_comments_read_as_the_lecture():
    assert printers.comment(Dot(Transpose(DELTA), A1)) == "(δ_yᵀ·A1)"
    assert printers.comment(sp.Piecewise((1, A1 > 0), (0, True))) == "[A1 > 0]"


def test_an_equation_prints_with_its_relation():
    W1, dW1 = names.weight(1), names.gradient(names.weight(1))
    update = Equation(W1, W1 - dW1, "update", 1, rebinds=True)
    assert printers.equation_text(update) == "W1 := W1 - dW1"
    assert printers.equation_latex(update) == (
        r"W_{1} \leftarrow W_{1} - \frac{\partial \mathcal{L}}{\partial W_{1}}"
    )
    labelled = Equation(A1, sp.tanh(Z1), "forward", 1, label=sp.Function("tanh")(Z1))
    assert printers.equation_text(labelled) == "A1 = tanh(Z1)"


def test_latex_and_mathml_follow_one_layout_for_a_product_of_arrays():
    n = sp.Symbol("N", positive=True)
    expr = -Dot(Transpose(DELTA), A1) * A1 / n
    product = layout.hadamard(expr)
    assert product.negative and product.bottom == n and product.top == 1
    assert product.arrays[0] == Dot(Transpose(DELTA), A1)  # matrix products first
    tex = printers.latex(expr, hadamard=True)
    assert tex.startswith(r"- \frac{") and r"\odot" in tex
    markup = to_mathml(expr, hadamard=True)
    assert markup.startswith("<mrow><mo>−</mo><mfrac>") and "⊙" in markup
    # without an array to lay out, both print SymPy's plain product
    assert layout.hadamard(2 * n) is None


def test_latex_and_mathml_write_the_same_norms():
    W1 = names.weight(1)
    assert layout.norm(W1**2) == ("F", W1) and layout.norm(sp.Abs(W1)) == ("1", W1)
    assert layout.norm(W1**3) is None
    squared = ElementSum(W1**2)
    assert printers.latex(squared) == r"\left\lVert W_{1} \right\rVert_{F}^{2}"
    assert "<msubsup>" in to_mathml(squared) and "‖" in to_mathml(squared)


def test_a_lone_matrix_product_has_no_parentheses_in_either_document():
    n = sp.Symbol("N", positive=True)
    gradient = -Dot(Transpose(DELTA), A1) / n
    assert layout.hadamard(gradient).bare
    assert printers.latex(gradient, hadamard=True) == (
        r"- \frac{\delta_{y}^{\top} A_{1}}{N}"
    )
    assert "<mo>(</mo>" not in to_mathml(gradient, hadamard=True)
    # a sum keeps its parentheses: 2·(T − A1)/N
    assert not layout.hadamard(2 * (sp.Symbol("T") - A1) / n).bare


#: each stable function's definition, for mpmath to evaluate at 50 digits
STABLE = {
    algebra.Softplus: lambda u: mpmath.log(1 + mpmath.exp(u)),
    algebra.LogSoftplus: lambda u: mpmath.log(mpmath.log1p(mpmath.exp(u))),
    algebra.LogCosh: lambda u: mpmath.log(mpmath.cosh(u)),
    algebra.Expm1: lambda u: mpmath.expm1(u),
    algebra.Erfc: lambda u: mpmath.erfc(u),
    algebra.Log1p: lambda u: mpmath.log1p(u),
}


@pytest.mark.parametrize("function", STABLE, ids=lambda f: f.__name__)
def test_the_scalar_printer_writes_the_stable_functions_with_math(function):
    """A PyTorch module computes a schedule's rate with Python's math, which has none of our
    stable functions: printing log(1 + k/10) (log1p) failed the build. Each is printed from
    math's functions, keeping its digits where it exists to (log softplus far below 0, log
    cosh near 0, softplus of ±700, where math.exp overflows), negated and squared (a form of
    several terms is parenthesised: −softplus(u) read max(u, 0) with a plus)."""
    x = sp.Symbol("x", real=True)
    mpmath.mp.dps = 50
    for context in (lambda f: f, lambda f: -f, lambda f: 2 - 3 * f**2):
        code = libraries.MathCodePrinter(set()).doprint(context(function(x)))
        for u in (
            -1000,
            -700,
            -80.5,
            -30,
            -1,
            -1e-9,
            0,
            1e-9,
            0.5,
            1,
            2,
            30,
            700,
            1000,
        ):
            if function is algebra.Log1p and u <= -1:
                continue  # outside its domain
            exact = context(STABLE[function](mpmath.mpf(u)))
            if not abs(exact) < 1e300:
                continue  # beyond floating point
            found = eval(code, {"math": math, "x": float(u)})  # (our own printed code)
            assert found == pytest.approx(float(exact), rel=1e-14, abs=1e-300), (
                code,
                u,
            )


def test_a_stable_function_of_a_stable_function_of_two_numbers_prints_with_math():
    u, v = sp.symbols("u v", real=True)
    code = libraries.MathCodePrinter(set()).doprint(-algebra.LogAddExp(u, v))
    for a, b in ((-1000.0, 999.0), (3.0, 3.0), (1e-9, -2.0)):
        exact = -mpmath.log(mpmath.exp(a) + mpmath.exp(b))
        found = eval(code, {"math": math, "u": a, "v": b})  # (our own printed code)
        assert found == pytest.approx(float(exact), rel=1e-14)
