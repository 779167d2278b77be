"""plot_history: training curves and per-layer diagnostics drawn from train's history."""

import os

import numpy as np
import pytest
from matplotlib.image import imread

import symbackprop as sb

HISTORY = {
    "loss": [0.9, 0.5, 0.3],
    "accuracy": [0.5, 0.7, 0.9],
    "val_loss": [1.0, 0.6, 0.4],
    "val_accuracy": [0.4, 0.6, 0.8],
}
DIAGNOSED = {
    "loss": [0.9, 0.5],
    "grad_norm_dense_1": [1e-4, 2e-4],
    "grad_norm_dense_2": [1e-1, 2e-1],
    "update_ratio_dense_1": [1e-5, 1e-5],
    "update_ratio_dense_2": [1e-2, 1e-2],
}


def _titles(figure):
    return [ax.get_title() for ax in figure.axes]


def test_a_history_is_drawn_panel_by_panel_with_validation_curves(tmp_path):
    path = tmp_path / "history.png"
    figure = sb.plot_history(HISTORY, path)
    assert _titles(figure) == ["loss", "accuracy"]
    loss = figure.axes[0]
    assert [line.get_label() for line in loss.lines] == ["loss", "val_loss"]
    np.testing.assert_array_equal(loss.lines[1].get_ydata(), HISTORY["val_loss"])
    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 600
    assert image.std() > 0.05  # not a blank canvas
    assert os.listdir(tmp_path) == ["history.png"]  # no temporary left beside it


def test_diagnostics_are_drawn_per_layer_on_a_log_scale_one_row_per_run(tmp_path):
    figure = sb.plot_history({"sigmoid": DIAGNOSED, "relu": HISTORY})
    assert _titles(figure) == [
        "sigmoid: loss",
        "sigmoid: accuracy",
        "sigmoid: gradient norm per layer",
        "sigmoid: update / weight ratio per layer",
        "relu: loss",
        "relu: accuracy",
        "relu: gradient norm per layer",
        "relu: update / weight ratio per layer",
    ]
    norms = figure.axes[2]
    assert norms.get_yscale() == "log"
    assert [line.get_label() for line in norms.lines] == ["dense_1", "dense_2"]
    assert (
        not figure.axes[1].lines and not figure.axes[6].lines
    )  # nothing to draw there
    # the same history gives the same bytes
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    sb.plot_history(DIAGNOSED, first)
    sb.plot_history(DIAGNOSED, second)
    assert first.read_bytes() == second.read_bytes()


def test_a_trained_history_plots():
    module = sb.build(sb.Network("plotted", 2, [sb.Dense(3, "tanh"), sb.Dense(1)]))
    X = np.random.default_rng(0).normal(size=(20, 2))
    _, history = module.train(
        module.init_params(),
        X,
        X[:, :1],
        epochs=2,
        batch_size=5,
        verbose=0,
        diagnostics=True,
        validation_split=0.25,
    )
    figure = sb.plot_history(history)
    assert _titles(figure) == [
        "loss",
        "gradient norm per layer",
        "update / weight ratio per layer",
    ]


@pytest.mark.parametrize(
    ("history", "error", "message"),
    [
        ([0.1, 0.2], TypeError, "history must be what train returns"),
        ({}, TypeError, "history must be what train returns"),
        ({"loss": 0.3}, TypeError, r"history\['loss'\] must be a list"),
        ({"loss": "0.3"}, TypeError, r"history\['loss'\] must be a list"),
        ({"mae": [0.1]}, ValueError, "nothing to draw"),
    ],
)
def test_what_cannot_be_drawn_is_named(history, error, message, tmp_path):
    with pytest.raises(error, match=message):
        sb.plot_history(history, tmp_path / "never.png")
    assert not any(tmp_path.iterdir())


def test_a_deep_networks_layers_are_shaded_and_only_the_ends_named():
    layers = 20
    history = {f"grad_norm_dense_{l}": [10.0**-l, 10.0**-l] for l in range(1, 21)}
    figure = sb.plot_history(history)
    (norms,) = figure.axes
    assert len(norms.lines) == layers
    named = [text.get_text() for text in norms.get_legend().get_texts()]
    assert named == ["dense_1", "dense_20"]
    colours = {tuple(line.get_color()) for line in norms.lines}
    assert len(colours) == layers  # one shade per layer, first to last
