"""The printers on their own (symbackprop/expressions/printers.py): NumPy code that records
what it needs, lecture names in LaTeX from the naming module, comment text, equations.
"""

import sympy as sp

from symbackprop.derive.derivation import Equation
from symbackprop.expressions import names, printers
from symbackprop.expressions.algebra import BatchMean, Dot, RowSum, Softmax, Transpose

Z1, A1 = names.net(1), names.activation(1)
W2 = names.weight(2)
DELTA = names.output_error()


def test_array_operators_print_as_numpy():
    code = printers.numpy_code
    assert code(Dot(DELTA, W2)) == "(delta_y @ W2)"
    assert code(Transpose(W2)) == "W2.T"
    assert code(RowSum(A1)) == "A1.sum(axis=1, keepdims=True)"
    assert code(BatchMean(DELTA)) == "delta_y.mean(axis=0)"


def test_relu_is_a_maximum_and_its_derivative_a_mask():
    relu = sp.Piecewise((Z1, Z1 > 0), (0, True))
    assert printers.numpy_code(relu) == "np.maximum(Z1, 0)"
    mask = sp.Piecewise((1, A1 > 0), (0, True))
    assert printers.numpy_code(mask * Dot(DELTA, W2)) == "(A1 > 0) * (delta_y @ W2)"


def test_scalar_factors_of_an_array_are_grouped_into_one():
    scale, n = sp.Symbol("scale", positive=True), sp.Symbol("N", positive=True)
    # one array operation: the scalars multiply first (black spaces the operators later)
    assert printers.numpy_code(A1 * scale / n) == "A1 * (scale/N)"


def test_the_printer_records_the_helpers_and_modules_the_code_needs():
    printer = printers.NumPyCodePrinter()
    printers.numpy_code(Softmax(Z1) + sp.erf(Z1) + sp.sqrt(2) * Z1, printer)
    assert {"_softmax", "erf", "math"} <= printer.needs
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
