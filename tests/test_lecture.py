"""The lecture a teacher hands out: its worked example checked against the generated module,
no chain that returns to an earlier step, settings as symbols, no MathJax 2 pitfalls, a summary
that breaks across pages, one document per network, PDF, and a notebook display that never
raises."""

import re
import shutil

import numpy as np
import pytest
import sympy as sp
from pypdf import PdfReader

import symbackprop as sb
from symbackprop import cli
from symbackprop.derive.calculus import derivative_in_output_form
from symbackprop.derive.derivation import N as N_SYMBOL
from symbackprop.document import example, formats
from symbackprop.document.lecture import lecture
from symbackprop.document.settings import hyperparameters as hyper
from symbackprop.expressions import printers
from symbackprop.expressions.notation import Colored, Dots, Partial
from symbackprop.expressions.symbols import z
from symbackprop.lower import rules
from symbackprop.output import status

from .test_documents import EXAMPLES, _compile, _tool
from .test_generated_code import EVERY_ACTIVATION
from .test_graph import activation_chain, contract_network

WORKED = [
    *EXAMPLES,
    # a graph: a residual sum, a concatenation with the inputs, its dropout, a BatchNorm
    contract_network(),
    # a BatchNorm before an ActivationLayer (softmax: its error named, used twice)
    activation_chain(),
    sb.Network(
        "dropout_prelu",
        3,
        [
            sb.Dropout(0.25),
            sb.Dense(4, sb.prelu()),
            sb.Dropout(0.5),
            sb.Dense(3, "tanh"),
            sb.Dropout(0.1),
            sb.Dense(2, "sigmoid"),
        ],
        "binary_crossentropy",
    ),
    sb.Network(
        "batchnorm_dropout_adam",
        3,
        [
            sb.Dense(4),
            sb.BatchNorm(),
            sb.Dense(3, "tanh"),
            sb.BatchNorm(center=False),
            sb.Dropout(0.5),
            sb.Dense(2, "softmax"),
        ],
        "categorical_crossentropy",
        optimizer=sb.Adam(),
    ),
    sb.Network(
        "softmax_l2",
        3,
        [sb.Dense(4, "tanh"), sb.Dense(3, "softmax")],
        "categorical_crossentropy",
        regularizer=sb.L2(0.01),
    ),
    sb.Network(
        "prelu_adam",
        2,
        [sb.Dense(3, sb.prelu()), sb.Dense(2, "sigmoid")],
        "binary_crossentropy",
        optimizer=sb.Adam(),
    ),
    sb.Network("wide", 12, [sb.Dense(10, "relu"), sb.Dense(1)], "mse"),
]


def _worked_rows(network: sb.Network, convention: str) -> dict[str, np.ndarray]:
    """The numbers the document prints in its worked example, by the name of each row."""
    document = lecture(sb.derive(network, convention))
    (section,) = [s for s in document.sections if s.title == "Worked example"]
    shown = {}
    for block in section.blocks:
        for row in getattr(block, "rows", ()):
            (value,) = row.steps
            matrix = sp.Matrix([[value]]) if not isinstance(value, sp.Matrix) else value
            shown[row.lhs.name] = np.array(
                [
                    [np.nan if isinstance(v, Dots) else float(v) for v in matrix.row(i)]
                    for i in range(matrix.rows)
                ]
            )
    return shown


def _agrees(printed: np.ndarray, exact: np.ndarray, name: str) -> None:
    exact = np.atleast_2d(exact)
    printed = printed[:, : exact.shape[1]]
    columns = min(printed.shape[1], exact.shape[1])
    if np.isnan(printed).any():  # a wide matrix: the columns shown
        columns = int(np.argmax(np.isnan(printed[0])))
    shown, exact = printed[:, :columns], exact[:, :columns]
    # four significant digits: within half a unit of the fourth digit
    tolerance = 5.01e-4 * np.maximum(np.abs(exact), 1e-300)
    assert shown.shape == exact.shape, name
    assert np.all(np.abs(shown - exact) <= tolerance + 1e-12), (name, shown, exact)


@pytest.mark.parametrize("convention", ["negative", "gradient"])
@pytest.mark.parametrize("network", WORKED, ids=lambda n: n.name)
def test_worked_example_equals_the_generated_module(network, convention):
    shown = _worked_rows(network, convention)
    module = sb.build(network, convention)
    given = {
        s.name: v for s, v in example.inputs(sb.derive(network, convention)).items()
    }
    # the batch and weights printed are those computed with (the running statistics of a
    # BatchNorm are not: training mode normalises by the batch's)
    running = set(module.PARAMS) - set(module.TRAINED)
    for name, exact in given.items():
        if name not in running:
            _agrees(shown[name], exact, name)
    X, T = given["X"], given["T"]
    params = [given[name] for name in module.PARAMS]
    # the example runs in training mode: its dropout masks are given too, and a
    # BatchNorm normalises by the batch's statistics
    masks = {name: given[name] for name, *_ in module.DROPOUT}
    assert len(masks) == len(network.dropout)
    if module.BATCHNORM:
        masks["training"] = True
    # the module's forward pass returns a softmax output's parts too (rules.fused)
    derivation = sb.derive(network, convention)
    program = rules.lower(derivation, fuse=True)
    returned = [t.name for s in program.function("forward") for t in s.targets]
    values = dict(zip(returned, module._forward(*params, X, **masks), strict=True))
    for eq in derivation.step("forward"):
        _agrees(shown[eq.lhs.name], values[eq.lhs.name], eq.lhs.name)
    X, T_module = module._check_data(
        X, T.argmax(axis=1) if module.TARGETS == "labels" else T
    )
    L = module._loss(*params, X, T_module, 1.0, **masks)[0]
    _agrees(shown["L"], np.array([[L]]), "L")
    found = module._step(*params, X, T_module, 1.0, True, 1.0, **masks)[2:]
    gradients = dict(zip(module.TRAINED, found))
    layers = len(network.dense)
    for name in module.TRAINED:
        _agrees(shown[f"d{name}"], gradients[name], f"d{name}")
    # each δ printed gives the module's bias gradient: ∂ℒ/∂b = ∓ mean of δ over the batch
    sign = -1 if convention == "negative" else 1
    for i in range(layers):
        delta = shown["delta_y" if i == layers - 1 else f"delta_h{i + 1}"]
        bias = gradients.get(f"b{i + 1}")
        if bias is not None and not np.isnan(delta).any():
            # δ is printed to four digits: its mean is as exact as its largest entry
            error = np.abs(sign * delta.mean(axis=0) - bias)
            assert np.all(error <= 5.01e-4 * np.abs(delta).max(axis=0) + 1e-12), i


def _chains(network: sb.Network, convention: str):
    for row in lecture(sb.derive(network, convention)).rows():
        shown = [printers.latex(row.lhs, hadamard=row.arrays)]
        shown += [printers.latex(step, hadamard=row.arrays) for step in row.steps]
        yield row, shown


@pytest.mark.parametrize("convention", ["negative", "gradient"])
def test_no_displayed_chain_repeats_an_earlier_step_of_itself(convention):
    networks = [
        *EXAMPLES,
        *(
            sb.Network(f"n{i}", 2, [sb.Dense(3, act), sb.Dense(1, out)], loss)
            for i, (act, out, loss) in enumerate(
                [
                    ("tanh", "sigmoid", "half_sse"),
                    ("identity", "identity", "mse"),
                    ("relu", "sigmoid", "binary_crossentropy"),
                ]
            )
        ),
    ]
    for network in networks:
        for row, shown in _chains(network, convention):
            assert len(set(shown)) == len(shown), (network.name, shown)


def test_sigmoid_half_sse_output_error_ends_in_the_textbook_form():
    network = sb.Network("s", 2, [sb.Dense(1, "sigmoid")], "half_sse")
    rows = lecture(sb.derive(network, "gradient")).rows()
    steps = [r.steps for r in rows if r.lhs == sp.Symbol("delta_y") and not r.arrays][
        -1
    ]
    # the product y(1 − y)(y − t) alone, not expanded and factored back to itself
    assert len(steps) == 1 and "t y^{2}" not in printers.latex(steps[0])


def test_isru_derivative_is_found_in_its_output_and_absence_is_never_claimed():
    form = derivative_in_output_form(z / sp.sqrt(1 + z**2))
    assert form.in_output and form.expr == (1 - sb.a**2) ** sp.Rational(3, 2)
    arctan = sb.Network(
        "arctan",
        1,
        [sb.Dense(2, sb.Activation("arctan", sp.atan(z))), sb.Dense(1)],
        "mse",
    )
    text = sb.derive(arctan).to_markdown()
    assert "exists" not in text and "found none" in text


def test_mathjax_2_reads_every_formula():
    """MathJax 2 takes \\color with two arguments and shows \\text verbatim."""
    network = sb.Network(
        "m",
        64,
        [sb.Dense(3, "leaky_relu"), sb.Dense(2, "softmax")],
        "categorical_crossentropy",
    )
    text = sb.derive(network).to_markdown()
    assert r"{\color{blue} \frac" not in text and r"{\color{blue}{\frac" in text
    for body in re.findall(r"\\text\{([^}]*)\}", text):
        assert "\\" not in body, body


def test_settings_are_symbols_listed_once_and_values_on_request():
    network = sb.Network(
        "reg",
        2,
        [sb.Dense(2, "tanh"), sb.Dense(1, "sigmoid")],
        "binary_crossentropy",
        regularizer=sb.L2(0.001),
        optimizer=sb.SGD(0.25),
    )
    derivation = sb.derive(network)
    symbols = formats.to_latex(lecture(derivation))
    assert r"2 \lambda W_{1}" in symbols and r"\lambda = 0.001" in symbols

    displays = "".join(
        re.findall(r"\\begin\{align\*\}.*?\\end\{align\*\}", symbols, re.DOTALL)
    )
    numbers = re.findall(r"(?<![\d.])(0\.001|0\.25)(?!\d)", displays)
    assert (
        not numbers
    )  # in the formulas: λ and η only; their values in the settings line
    numbers = formats.to_latex(lecture(derivation, values=True))
    assert r"0.002 W_{1}" in numbers and r"0.25 \frac{\partial" in numbers


LONG = [
    sb.Network(
        "deep",
        4,
        [sb.Dense(5, "tanh") for _ in range(7)] + [sb.Dense(2, "softmax")],
        "categorical_crossentropy",
        optimizer=sb.Adam(),
    ),
    sb.Network(
        "every_adam",
        3,
        EVERY_ACTIVATION.layers,
        "kl_divergence",
        optimizer=sb.Adam(),
        regularizer=sb.L2(0.01),
    ),
]


@pytest.mark.parametrize("network", LONG, ids=lambda n: n.name)
def test_long_documents_break_across_pages_with_nothing_cut_off(network, tmp_path):
    _compile(sb.derive(network).to_latex(), tmp_path)
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert "Overfull \\vbox" not in log
    pages = int(re.search(r"\((\d+) pages?", log).group(1))
    assert pages >= 3
    # every numbered equation of the summary, and every BP label, is in the PDF's text
    text = "".join(
        page.extract_text() for page in PdfReader(tmp_path / "doc.pdf").pages
    )
    document = lecture(sb.derive(network))
    summary = next(s for s in document.sections if s.boxed)
    (display,) = summary.blocks
    for number in range(1, len(display.rows) + 1):
        assert f"({number})" in text, number
    for label in ("BP1", "BP2", "BP3", "BP4"):
        assert label in text


def _two_networks(tmp_path):
    spec = tmp_path / "two.py"
    spec.write_text(
        "import symbackprop as sb\n"
        "a = sb.Network('first', 2, [sb.Dense(1, 'sigmoid')], 'binary_crossentropy')\n"
        "b = sb.Network('second', 2, [sb.Dense(2, 'softmax')], 'categorical_crossentropy')\n",
        encoding="utf-8",
    )
    return spec


def test_one_clean_document_per_network(tmp_path, capsys):
    spec = _two_networks(tmp_path)
    assert cli.main(["latex", str(spec), "--format", "md"]) == 2
    assert "--network NAME" in capsys.readouterr().err
    assert (
        cli.main(
            ["latex", str(spec), "--network", "second", "-o", str(tmp_path / "s.html")]
        )
        == 0
    )
    html = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert html.count("<h1>") == 1 and "<h1>Backpropagation for second</h1>" in html
    assert "Backpropagation for first" not in html
    assert "<math" in html and "\\begin" not in html
    assert (
        cli.main(["latex", str(spec), "-o", str(tmp_path / "notes"), "--format", "md"])
        == 0
    )
    for name in ("first", "second"):
        text = (tmp_path / "notes" / f"{name}.md").read_text(encoding="utf-8")
        assert text.count("# Backpropagation for") == 1
        assert f"Backpropagation for {name}:" not in text
    assert cli.main(["latex", str(spec), "--network", "third"]) == 2
    assert "defines no such network" in capsys.readouterr().err


def test_pdf_is_written_by_pdflatex_and_signed(tmp_path, capsys):
    _tool(("pdflatex",), "texlive-latex-base")
    spec = _two_networks(tmp_path)
    target = tmp_path / "first.pdf"
    assert cli.main(["latex", str(spec), "--network", "first", "-o", str(target)]) == 0
    data = target.read_bytes()
    assert (
        data.startswith(b"%PDF-")
        and status(data.decode("latin-1"), "pdf") == "generated"
    )
    again = tmp_path / "again.pdf"
    assert cli.main(["latex", str(spec), "--network", "first", "-o", str(again)]) == 0
    assert again.read_bytes() == data  # same spec, same bytes
    assert cli.main(["latex", str(spec), "--network", "first", "-o", str(target)]) == 0
    foreign = tmp_path / "mine.pdf"
    foreign.write_bytes(b"%PDF-1.4 a user's own file")
    assert cli.main(["latex", str(spec), "--network", "first", "-o", str(foreign)]) == 2
    assert foreign.read_bytes() == b"%PDF-1.4 a user's own file"
    assert cli.main(["latex", str(spec), "--network", "first", "--format", "pdf"]) == 2
    assert "-o NAME.pdf" in capsys.readouterr().err


def test_pdf_without_pdflatex_names_the_package(tmp_path, monkeypatch, capsys):
    spec = _two_networks(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    target = tmp_path / "x.pdf"
    assert cli.main(["latex", str(spec), "--network", "first", "-o", str(target)]) == 2
    assert "texlive-latex-base" in capsys.readouterr().err and not target.exists()


def test_notebook_display_never_raises(monkeypatch):
    derivation = sb.derive(EXAMPLES[0])
    bundle = derivation._repr_mimebundle_()
    assert set(bundle) == {"text/markdown", "text/html", "text/latex", "text/plain"}
    assert bundle["text/markdown"] == derivation.to_markdown()

    def broken(self):
        raise RuntimeError("no HTML today")

    monkeypatch.setattr(sb.Derivation, "to_html", broken)
    bundle = derivation._repr_mimebundle_()
    assert "text/html" not in bundle and "no HTML today" in bundle["text/plain"]
    assert repr(derivation)


def test_html_fractions_are_display_size_and_e_is_upright_italic_not_double_struck():
    html = sb.derive(EXAMPLES[0]).to_html()
    assert (
        '<mtable displaystyle="true">' in html
        and "ⅇ" not in html
        and "&ExponentialE;" not in html
    )


def test_mimebundle_survives_a_real_kernel(tmp_path):
    """nbclient runs a notebook (in an IPython kernel) whose cell ends in a Derivation."""
    import nbclient
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import symbackprop as sb\n"
            "sb.derive(sb.Network('nb', 2, [sb.Dense(2, 'tanh'), sb.Dense(1, 'sigmoid')], "
            "'binary_crossentropy'))"
        )
    )
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    (output,) = notebook.cells[0].outputs
    assert output.output_type == "execute_result"
    assert output.data["text/markdown"].startswith("# Backpropagation for nb")


def _section(document, title):
    return next(s for s in document.sections if s.title == title)


@pytest.mark.parametrize("convention", ["negative", "gradient"])
@pytest.mark.parametrize("network", WORKED[:4], ids=lambda n: n.name)
def test_index_form_entries_equal_the_generated_module(network, convention):
    """BP1–BP4, evaluated entry by entry on the worked example, give the module's δ and
    gradients."""
    derivation = sb.derive(network, convention)
    values = {
        s.name: np.asarray(v, dtype=float)
        for s, v in example.computed(derivation).items()
    }
    module = sb.build(network, convention)
    given = {s.name: v for s, v in example.inputs(derivation).items()}
    T = given["T"].argmax(axis=1) if module.TARGETS == "labels" else given["T"]
    gradients = module.gradients({p: given[p] for p in module.PARAMS}, given["X"], T)
    (display,) = [
        b
        for b in _section(lecture(derivation), "Index form").blocks
        if hasattr(b, "rows")
    ]
    checked = 0
    for row in display.rows:
        (formula,) = row.steps
        name = str(row.lhs.base)
        target = values[name] if name in values else gradients[name[1:]]
        target = np.atleast_2d(target)
        for index in np.ndindex(*target.shape):
            at = dict(zip(row.lhs.indices, (i + 1 for i in index)))
            if len(row.lhs.indices) == 1:  # a bias gradient, (∂ℒ/∂b)_j
                at = {row.lhs.indices[0]: index[-1] + 1}
            exact = formula.subs({**at, N_SYMBOL: 2}).doit()
            number = exact.replace(
                lambda e: isinstance(e, sp.Indexed),
                lambda e: sp.Float(_entry(values, e)),
            )
            number = number.subs(dict(hyper(derivation)))
            assert abs(float(number) - target[index]) <= 1e-9 * max(
                1, abs(target[index])
            ), (
                row.note,
                index,
            )
            checked += 1
    assert checked > 0


def _entry(values, indexed):
    array = np.atleast_2d(values[str(indexed.base)])
    indices = [int(i) - 1 for i in indexed.indices]
    if len(indices) == 1:
        return float(array[0][indices[0]])
    return float(array[indices[0]][indices[1]])


def test_every_layer_is_derived_by_a_coloured_chain():
    network = sb.Network(
        "deep3",
        2,
        [sb.Dense(3, "tanh"), sb.Dense(3, "relu"), sb.Dense(1, "sigmoid")],
        "binary_crossentropy",
    )
    document = lecture(sb.derive(network))
    blocks = _section(document, "The chain rule, layer by layer").blocks
    chains = [
        row
        for block in blocks
        for row in getattr(block, "rows", ())
        if row.lhs.func is Partial
        and row.lhs.args[0] == sp.Symbol("L")
        and str(row.lhs.args[1]).startswith("W")
    ]
    assert [str(r.lhs.args[1]) for r in chains] == ["W3", "W2", "W1"]
    for row, layers_above in zip(chains, (0, 1, 2)):
        colours = row.steps[0].atoms(Colored)
        assert len(colours) == 2 + 2 * layers_above
    unit = _section(document, "One unit")
    (display,) = [b for b in unit.blocks if hasattr(b, "rows")]
    facts = {str(r.lhs): r.steps[-1] for r in display.rows}
    assert facts["Partial(z, w_2)"] == sp.Symbol("a_2", real=True)
    assert facts["Partial(z, b)"] == 1
    assert facts["Partial(z, a_2)"] == sp.Symbol("w_2", real=True)


def test_softmax_output_error_sums_over_the_outputs_with_indices():
    network = sb.Network("sm", 2, [sb.Dense(3, "softmax")], "categorical_crossentropy")
    text = sb.derive(network).to_latex()
    assert (
        r"- \sum_{k=1}^{3} {\color{blue}{\frac{\partial \ell}{\partial y_{k}}}}" in text
    )
    assert r"\frac{\partial y_{i}}{\partial z_{i}}}} &= y_{i} - y_{i}^{2}" in text
    assert r"\left(\delta_{y}\right)_{i} &= t_{i} - y_{i}" in text


def test_computational_graph_is_drawn_in_every_format(tmp_path):
    network = WORKED[-3]  # softmax with L2
    derivation = sb.derive(network)
    html = derivation.to_html()
    svg = html[html.index("<svg") : html.index("</svg>")]
    # forward: X, W₁, b₁ → Z₁ → A₁; A₁, W₂, b₂ → Z₂ → A₂; A₂, T → ℒ
    assert svg.count('stroke="blue"') == 10 and "∂Z₁/∂W₁" in svg and "∂ℒ/∂A₂" in svg
    # backward, each labelled: ℒ → A₂ → Z₂ → W₂, b₂, A₁ → Z₁ → W₁, b₁
    assert svg.count('stroke="red"') == 8 == svg.count('font-size="12" fill="red"')
    assert "<svg" in derivation.to_markdown()
    tex = derivation.to_latex()
    assert r"\begin{picture}" in tex and r"\partial Z_{1}/\partial W_{1}" in tex
    _compile(tex, tmp_path)


def test_exercises_come_before_the_worked_example_and_answers_at_the_end(
    tmp_path, capsys
):
    network = WORKED[-3]
    document = lecture(sb.derive(network), exercises=True)
    titles = [s.title for s in document.sections]
    assert titles[-3:] == ["Exercises", "Worked example", "Answers"]
    questions, answers = _section(document, "Exercises"), _section(document, "Answers")
    assert len(questions.blocks) == len(answers.blocks) >= 8
    text = formats.to_markdown(document)
    assert r"What is the shape of $\delta_{h_{1}}$?" in text
    assert r"$\mathbb{R}^{N \times 4}$" in text.split("## Answers")[1]
    worked = example.computed(sb.derive(network))
    first = float(np.asarray(worked[sp.Symbol("A1", real=True)])[0][0])
    assert f"{first:.4g}, f of the same entry" in text
    assert "Exercises" not in formats.to_markdown(lecture(sb.derive(network)))
    spec = _two_networks(tmp_path)
    assert (
        cli.main(
            ["latex", str(spec), "--network", "first", "--exercises", "--format", "md"]
        )
        == 0
    )
    assert "## Answers" in capsys.readouterr().out


def test_cases_read_the_same_in_latex_and_html():
    network = EXAMPLES[0]  # relu: a piecewise f and f'
    derivation = sb.derive(network)
    assert r"\text{if } Z_{1} > 0" in derivation.to_latex()
    assert r"\text{for}" not in derivation.to_latex()
    assert "if\u00a0" in derivation.to_html()


def test_derivation_methods_take_the_document_options():
    network = WORKED[-3]
    derivation = sb.derive(network)
    assert "## Answers" in derivation.to_markdown(exercises=True)
    assert r"0.02 W_{1}" in derivation.to_latex(values=True)
    assert "<h2>Exercises</h2>" in derivation.to_html(exercises=True)


def test_html_writes_each_step_in_the_form_latex_writes_it():
    """e^{−z}/(1 + e^{−z})² stays a fraction with e^{−z} on top in MathML too, and chain-rule
    factors keep their order in both."""
    derivation = sb.derive(EXAMPLES[0])  # circles: sigmoid output, two layers
    html, tex = derivation.to_html(), derivation.to_latex()
    assert r"\frac{e^{- z}}{\left(1 + e^{- z}\right)^{2}}" in tex
    assert (
        "<mfrac><msup><mi>e</mi><mrow><mo>−</mo><mi>z</mi></mrow></msup><msup>" in html
    )
    chain_tex = (
        r"{\color{blue}{\frac{\partial \mathcal{L}}{\partial A_{2}}}} "
        r"{\color{red}{\frac{\partial A_{2}}{\partial Z_{2}}}} "
        r"{\color{cyan}{\frac{\partial Z_{2}}{\partial A_{1}}}}"
    )
    assert chain_tex in tex
    blue, red, cyan = (html.index(f'mathcolor="{c}"') for c in ("blue", "red", "cyan"))
    assert blue < red < cyan
