"""The derivation as a document: pdflatex compiles it, Chromium renders it, every step holds.

pdflatex and Chromium are system tools (Debian's texlive-latex-base and chromium, installed by
.ci/run). Without them these tests are skipped and say why; with SYMBACKPROP_REQUIRE_TOOLS=1
(set by .ci/run) a missing tool fails them instead.
"""

import html
import itertools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from sympy.core.function import AppliedUndef

import symbackprop as sb
from symbackprop.document import formats
from symbackprop.document.lecture import lecture
from symbackprop.document.model import Document
from symbackprop.expressions.algebra import RowSum, expand_rows
from symbackprop.expressions.notation import Partial
from symbackprop.spec.files import load_networks

from .test_generated_code import EVERY_ACTIVATION, EVERY_LOSS, EVERY_OPTIMIZER
from .test_graph import activation_chain, contract_network

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = [
    network
    for path in sorted((ROOT / "examples").glob("[!_]*.py"))
    for network in load_networks(path)
]
PRELU_SOFTMAX = sb.Network(
    "prelu_softmax",
    3,
    [sb.Dense(4, sb.prelu()), sb.Dense(3, "softmax"), sb.Dense(3, "softmax")],
    "categorical_crossentropy",
    regularizer=sb.L2(0.01),
)
CONVENTIONS = ["negative", "gradient"]


def _tool(names: tuple[str, ...], package: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    message = (
        f"{names[0]} is not installed (Debian package {package}; .ci/run installs it)"
    )
    if os.environ.get("SYMBACKPROP_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _compile(tex: str, folder: Path) -> Path:
    pdflatex = _tool(("pdflatex",), "texlive-latex-base")
    (folder / "doc.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = (folder / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert run.returncode == 0, log[log.find("\n!") :][:2000]
    return folder / "doc.pdf"


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("network", EXAMPLES, ids=lambda n: n.name)
def test_every_example_compiles_with_pdflatex(network, convention, tmp_path):
    pdf = _compile(sb.derive(network, convention).to_latex(), tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_every_catalog_entry_compiles_with_pdflatex(tmp_path):
    networks = [EVERY_ACTIVATION, PRELU_SOFTMAX, *EVERY_LOSS, *EVERY_OPTIMIZER]
    # one pdflatex run for all: every network's sections in one document
    sections = tuple(s for n in networks for s in lecture(sb.derive(n)).sections)
    document = Document("The catalog", sections)
    assert _compile(formats.to_latex(document), tmp_path).stat().st_size > 10_000


def _value(expr: sp.Basic, given, rng) -> complex:
    """``expr`` at a random point: the row's substitutions applied (a = f(z)), every row-wise
    sum written out on a row of 3 units, targets of a row summing to 1."""
    expr = sp.sympify(expr).doit().xreplace(dict(given))
    expr = expand_rows(expr, 3, (sb.z, sb.t, sb.y, sb.a)) if expr.has(RowSum) else expr
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    targets = iter(rng.dirichlet(np.ones(3)))
    point = []
    for symbol in symbols:
        if re.fullmatch(r"t_\d+", symbol.name):  # the targets of the written-out row
            point.append(float(next(targets)))
        elif symbol.name.startswith("t_"):  # one target, t_i
            point.append(float(rng.uniform(0, 1)))
        else:
            point.append(float(rng.uniform(-2, 2)))
    return complex(sp.lambdify(symbols, expr, modules="mpmath")(*point))


def _is_name(expr: sp.Basic) -> bool:
    """A step that names a quantity (∂ℓ/∂z, relu(Z1)) rather than computing it."""
    return bool(expr.atoms(Partial, AppliedUndef))


@pytest.mark.parametrize(
    "network",
    [
        *EXAMPLES,
        EVERY_ACTIVATION,
        PRELU_SOFTMAX,
        *EVERY_LOSS,
        *EVERY_OPTIMIZER,
        contract_network(),
        activation_chain(),
    ],
    ids=lambda n: n.name,
)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_every_displayed_equality_holds_at_random_points(network, convention):
    rng = np.random.default_rng(0)
    checked = 0
    for row in lecture(sb.derive(network, convention)).rows():
        if row.arrays:
            continue  # array rows are the derivation's own equations, tested as code
        steps = [s for s in row.steps if not _is_name(s)]
        for left, right in itertools.pairwise(steps):
            for _ in range(3):
                seed = int(rng.integers(1 << 30))
                lhs = _value(left, row.given, np.random.default_rng(seed))
                rhs = _value(right, row.given, np.random.default_rng(seed))
                assert mpmath.almosteq(lhs, rhs, rel_eps=1e-9, abs_eps=1e-9), (
                    row.lhs,
                    left,
                    right,
                )
            checked += 1
    assert checked >= 2  # at least ∂ℓ/∂y and the output error


def test_output_error_shows_the_factors_and_the_simplification_of_seed_002():
    multilabel = next(n for n in EXAMPLES if n.name == "multilabel")
    text = sb.derive(multilabel, "gradient").to_latex()
    assert r"{\color{blue}{\frac{\partial \ell}{\partial y}}}" in text
    assert r"{\color{red}{\frac{\partial y}{\partial z}}}" in text
    assert r"&= y \left(1 - y\right)" in text  # σ' in output form
    # seed 002: (1 − Y)·A − Y·(1 − A) = A − Y, term by term
    assert r"&= t \left(y - 1\right) + y \left(1 - t\right) \\" in text
    assert r"&= y - t" in text
    assert r"\delta_{y} &= A_{2} - T" in text


def test_convention_changes_every_formula_consistently():
    circles = next(n for n in EXAMPLES if n.name == "circles")
    negative, gradient = (sb.derive(circles, c).to_latex() for c in CONVENTIONS)
    assert (
        r"\delta_{y} &= T - A_{2}" in negative
        and r"&= - \frac{\delta_{h_{1}}^{\top} X}{N}" in negative
    )
    assert (
        r"\delta_{y} &= A_{2} - T" in gradient
        and r"&= \frac{\delta_{h_{1}}^{\top} X}{N}" in gradient
    )


def test_document_has_shapes_summary_regulariser_and_updates():
    seed001 = next(n for n in EXAMPLES if n.name == "seed001")
    text = sb.derive(seed001).to_latex()
    assert (
        r"\rule{\linewidth}" in text and r"\textbf{Backpropagation for seed001}" in text
    )
    assert r"W_{1} &\in \mathbb{R}^{6 \times 4}" in text
    assert r"r\left(w\right) &= \lambda w^{2}" in text and r"\lambda = 0.01" in text
    assert (
        r"W_{2} &\leftarrow W_{2} - \eta \frac{\partial \mathcal{L}}{\partial W_{2}}"
        in text
    )
    assert "b_{1}" not in text


def test_markdown_renders_math_blocks_for_github_and_jupyter():
    circles = next(n for n in EXAMPLES if n.name == "circles")
    derivation = sb.derive(circles)
    text = derivation.to_markdown()
    assert text.startswith("# Backpropagation for circles\n")
    assert text.count("$$") % 2 == 0 and text.count(r"\begin{aligned}") >= 6
    assert "> **Backpropagation for circles**" in text
    assert derivation._repr_mimebundle_()["text/markdown"] == text
    assert "\\section" not in text and "\\documentclass" not in text


def test_html_is_self_contained():
    text = sb.derive(PRELU_SOFTMAX).to_html()
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "http" not in text
    assert text.count("<math") == text.count("</math>") > 10


PROBE = """<script>
window.addEventListener("load", () => {
  const boxes = [...document.querySelectorAll("math")].map((m) => {
    const r = m.getBoundingClientRect();
    return [r.width, r.height];
  });
  const [top, bottom] = [...document.querySelector("mfrac").children].map(
    (c) => c.getBoundingClientRect());
  // a fraction in a display table, at display size: its numerator as large as the text
  const inTable = document.querySelector('math[display="block"] mtd mfrac');
  const size = (e) => parseFloat(getComputedStyle(e).fontSize);
  const display = size(inTable.children[0]) >= size(inTable.closest("math")) - 0.01;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({ boxes, stacked: top.bottom <= bottom.top + 1, display });
  document.body.appendChild(out);
});
</script>"""


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu"]


def chromium_probe(chromium: str, page: Path, budget_ms: int) -> dict:
    """What ``page`` reports in its ``<pre id="probe">`` (JSON) once loaded in headless
    Chromium, scripts given ``budget_ms`` of virtual time."""
    flags = [
        *CHROMIUM_FLAGS,
        "--allow-file-access-from-files",
        f"--virtual-time-budget={budget_ms}",
    ]
    run = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (
        '<pre id="probe">' in run.stdout
    ), f"{page.name} never reported: {run.stderr[-1500:]}"
    found = run.stdout.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0]
    return json.loads(html.unescape(found))


@pytest.mark.parametrize(
    "network",
    [
        EXAMPLES[0],
        PRELU_SOFTMAX,
        EVERY_OPTIMIZER[1],
        # X̃, Ã and the masks: accented names
        next(n for n in EXAMPLES if n.dropout),
        # batch normalisation: Â, σ², cases of training and inference
        next(n for n in EXAMPLES if n.batchnorm),
        # a graph: sums over consumers, routed edges (tests/test_graph.py: concatenation)
        next(n for n in EXAMPLES if n.name == "residual20"),
    ],
    ids=lambda n: n.name,
)
def test_html_renders_every_formula_in_headless_chromium(network, tmp_path):
    chromium = _tool(("chromium", "chromium-browser", "google-chrome"), "chromium")
    page = sb.derive(network).to_html()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = chromium_probe(chromium, probe, 10_000)
    assert len(result["boxes"]) == page.count("<math")
    assert all(width > 0 and height > 0 for width, height in result["boxes"])
    assert result["stacked"], "a fraction's numerator is not above its denominator"
    assert result["display"], "a fraction in a display is set at script size"

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{network.name}.png"
    page_file = tmp_path / f"{network.name}.html"
    page_file.write_text(page, encoding="utf-8")
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--screenshot={shot}",
            "--window-size=1000,3000",
            page_file.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("form", ["tex", "md", "html"])
def test_generated_documents_are_up_to_date(form):
    circles = next(n for n in EXAMPLES if n.name == "circles")
    path = ROOT / "generated" / f"circles.{form}"
    document = lecture(sb.derive(circles))
    assert path.read_text(encoding="utf-8") == formats.write(
        document, form
    ), f"{path} is stale: run make demo"
