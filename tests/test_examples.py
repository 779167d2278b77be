"""The examples run as scripts and learn their data."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(name):
    run = subprocess.run(
        [sys.executable, f"examples/{name}.py"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def _accuracy(output):
    return float(re.search(r"training accuracy ([\d.]+)%", output).group(1))


def test_circles_reaches_95_percent_training_accuracy():
    assert _accuracy(_run("circles")) >= 95.0


def test_custom_pair_simplifies_and_learns_the_moons():
    output = _run("custom")
    assert "custom: δ_y = t - y" in output
    assert _accuracy(output) >= 95.0


def test_seed_001_regulariser_keeps_the_weights_small():
    output = _run("regularised")
    assert "seed001: parameters ('W1', 'W2') (no biases)" in output
    norms = re.search(r"= ([\d.]+) with λ = 0.01, ([\d.]+) without", output)
    assert float(norms.group(1)) < float(norms.group(2)) / 5
    assert _accuracy(output) >= 80.0


@pytest.mark.parametrize("name", ["multilabel", "stack"])
def test_example_scripts_run(name):
    assert name in _run(name)


def test_stack_has_seed_003s_41_parameters_and_learns_with_adam():
    output = _run("stack")
    assert "stack: 41 parameters" in output
    assert "Total params: 41" in output
    assert float(re.search(r"mse [\d.]+ -> ([\d.]+)", output).group(1)) < 0.01


def test_digits_classifier_is_at_least_as_accurate_as_scikit_learn():
    output = _run("digits")
    ours, peer = re.search(
        r"test accuracy symbackprop ([\d.]+)%, scikit-learn ([\d.]+)%", output
    ).groups()
    assert float(ours) >= float(peer) and float(ours) > 95


def test_vanishing_gradients_show_in_the_sigmoid_stack_not_the_relu_one():
    output = _run("vanishing")
    ratios = dict(
        re.findall(r"vanishing: (\w+) layer 1 / layer 7 = ([\d.e+-]+)", output)
    )
    accuracies = dict(
        re.findall(r"vanishing: (\w+) .*training accuracy ([\d.]+)%", output)
    )
    assert float(ratios["sigmoid"]) < 1e-2 and float(ratios["relu"]) > 0.1
    assert float(accuracies["relu"]) > 90.0 and float(accuracies["sigmoid"]) < 50.0
    png = ROOT / "generated" / "vanishing.png"
    assert f"vanishing: plot in {png}" in output
    assert (
        png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        and png.stat().st_size > 20_000
    )


def test_dropout_fits_the_sine_closer_than_the_same_network_without_it():
    output = _run("dropout")
    errors = {
        name: [float(e) for e in shown.split()]
        for name, shown in re.findall(
            r"dropout: (.+) test mse by seed ([\d. ]+)", output
        )
    }
    plain, dropped = errors["no dropout"], errors["Dropout(0.2)"]
    assert len(plain) == len(dropped) == 4
    # on each draw of the data: without dropout the 24 samples' noise (σ² = 0.09) is learnt
    assert all(d < p for d, p in zip(dropped, plain)) and max(dropped) < 0.08
    png = ROOT / "generated" / "dropout.png"
    assert f"dropout: plot in {png}" in output
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_every_committed_module_passes_its_gradient_check():
    """What `make demo` runs after compiling: `symbackprop check generated/*.py` (it once
    failed on the vanishing-gradient example while every test passed)."""
    modules = sorted(str(path) for path in (ROOT / "generated").glob("*.py"))
    run = subprocess.run(
        [sys.executable, "-m", "symbackprop", "check", *modules],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(" ok") == len(modules), run.stdout


def test_batchnorm_trains_the_deep_sigmoid_stack_that_stalls_without_it():
    output = _run("deep_batchnorm")
    found = {
        name: (float(norm), float(train), float(test))
        for name, norm, train, test in re.findall(
            r"deep_batchnorm: (\w+) layer 1 gradient norm after epoch 1 ([\d.e+-]+), "
            r"training accuracy ([\d.]+)%, test accuracy ([\d.]+)%",
            output,
        )
    }
    plain, normalised = found["deep_sigmoid"], found["deep_sigmoid_batchnorm"]
    # the first layer's gradient grows by an order of magnitude with the BatchNorms
    assert normalised[0] > 5 * plain[0]
    assert plain[1] < 20.0 and plain[2] < 20.0
    assert normalised[1] > 90.0 and normalised[2] > 60.0
    png = ROOT / "generated" / "deep_batchnorm.png"
    assert f"deep_batchnorm: plot in {png}" in output
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_skip_connections_train_the_twenty_layer_stack_that_stalls_without_them():
    output = _run("residual")
    found = {
        name: (float(norm), float(train), float(test))
        for name, norm, train, test in re.findall(
            r"residual: (\w+) layer 1 gradient norm after epoch 1 ([\d.e+-]+), "
            r"training accuracy ([\d.]+)%, test accuracy ([\d.]+)%",
            output,
        )
    }
    plain, residual = found["plain20"], found["residual20"]
    # the plain chain's first layer gets no gradient to speak of; the sums carry it down
    assert plain[0] < 1e-9 and residual[0] > 1e-2
    assert plain[1] < 20.0 and plain[2] < 20.0
    assert residual[1] > 85.0 and residual[2] > 80.0
    png = ROOT / "generated" / "residual.png"
    assert f"residual: plot in {png}" in output
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
