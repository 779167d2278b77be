"""The command line: compile, latex, check."""

import subprocess
import sys
from pathlib import Path

import pytest

import symbackprop as sb
from symbackprop.specfile import load_networks

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "symbackprop", *args],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
    )


def test_compile_writes_the_module_of_every_network(tmp_path):
    run = _cli(
        "compile", "examples/circles.py", "examples/stack.py", "-o", str(tmp_path)
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["circles.py", "stack.py"]
    (circles,) = load_networks(ROOT / "examples" / "circles.py")
    assert (tmp_path / "circles.py").read_text(encoding="utf-8") == sb.generate(circles)


def test_latex_prints_the_derivation_as_a_standalone_document():
    run = _cli("latex", "examples/circles.py")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(r"\documentclass")
    assert run.stdout.rstrip().endswith(r"\end{document}")
    assert r"\delta_{y} &= T - A_{2}" in run.stdout


def test_latex_with_gradient_convention_writes_a_file(tmp_path):
    out = tmp_path / "multilabel.tex"
    run = _cli(
        "latex", "examples/multilabel.py", "--convention", "gradient", "-o", str(out)
    )
    assert run.returncode == 0, run.stderr
    text = out.read_text(encoding="utf-8")
    assert r"\delta_{y} &= \frac{\partial \ell}{\partial z}" in text
    assert r"\delta_{y} &= A_{2} - T" in text


@pytest.mark.parametrize(
    ("form", "start"),
    [("md", "# Backpropagation for circles"), ("html", "<!DOCTYPE html>")],
)
def test_latex_writes_markdown_and_html(tmp_path, form, start):
    out = tmp_path / f"circles.{form}"
    run = _cli("latex", "examples/circles.py", "--format", form, "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert out.read_text(encoding="utf-8").startswith(start)


def test_check_passes_a_generated_module_and_fails_a_tampered_one(tmp_path):
    run = _cli("check", "generated/circles.py")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok" in run.stdout
    tampered = tmp_path / "circles.py"
    source = (ROOT / "generated" / "circles.py").read_text(encoding="utf-8")
    assert "delta_y = (A2 - T)" in source
    tampered.write_text(
        source.replace("delta_y = (A2 - T)", "delta_y = (0.9 * A2 - T)"),
        encoding="utf-8",
    )
    run = _cli("check", str(tampered))
    assert run.returncode == 1
    assert "FAILED" in run.stdout


def test_a_missing_spec_is_a_clear_error_and_writes_nothing(tmp_path):
    run = _cli("compile", "examples/nope.py", "-o", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "spec file 'examples/nope.py' does not exist" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_spec_with_a_bad_network_is_reported_with_its_field(tmp_path):
    spec = tmp_path / "bad.py"
    spec.write_text(
        "import symbackprop as sb\nnet = sb.Network('bad', 2, [sb.Dense(0)], 'mse')\n"
    )
    run = _cli("compile", str(spec), "-o", str(tmp_path))
    assert run.returncode == 2
    assert "Dense.units must be a positive integer, got 0" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.py"]


def test_a_spec_that_raises_is_reported_without_a_traceback(tmp_path):
    spec = tmp_path / "broken.py"
    spec.write_text("import symbackprop as sb\nraise RuntimeError('boom')\n")
    run = _cli("latex", str(spec))
    assert run.returncode == 2
    assert "failed: RuntimeError: boom" in run.stderr
    assert "Traceback" not in run.stderr


def test_check_draws_targets_from_each_losss_domain(tmp_path):
    spec = tmp_path / "domains.py"
    spec.write_text(
        "import symbackprop as sb\n"
        "labels = sb.Network('labels', 3, [sb.Dense(4, 'softmax')],"
        " 'sparse_categorical_crossentropy')\n"
        "margins = sb.Network('margins', 3, [sb.Dense(2, 'tanh')], 'hinge')\n"
        "counts = sb.Network('counts', 3, [sb.Dense(2, 'exponential')], 'poisson')\n"
        "step = sb.Network('step', 3, [sb.Dense(4, 'threshold'), sb.Dense(1)], 'mse')\n"
        "top = sb.Network('top', 3, [sb.Dense(4, 'threshold')], 'mse')\n",
        encoding="utf-8",
    )
    assert _cli("compile", str(spec), "-o", str(tmp_path)).returncode == 0
    names = ["labels", "margins", "counts", "step", "top"]
    run = _cli("check", *(str(tmp_path / f"{name}.py") for name in names))
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert all(line.endswith("ok") for line in lines[:3])
    assert "ok (straight-through A1: checked W2, b2)" in lines[3]
    assert "skipped, every gradient passes through a surrogate" in lines[4]
