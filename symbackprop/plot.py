"""Training curves drawn from a history of ``train`` (matplotlib, the optional ``plot`` extra):
loss and accuracy per epoch with their validation values, and — when trained with
``diagnostics=True`` — each layer's gradient norm and update ratio on a log scale, the picture
in which vanishing gradients show (Nielsen, Neural Networks and Deep Learning, ch. 5); a deep
network's layers shaded from the first to the last.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

#: the panels, in order: (title, the history keys drawn in it, log scale)
PANELS = (
    ("loss", ("loss", "val_loss"), False),
    ("accuracy", ("accuracy", "val_accuracy"), False),
    ("gradient norm per layer", ("grad_norm_",), True),
    ("update / weight ratio per layer", ("update_ratio_",), True),
)


#: above this many lines in a panel (a deep network's layers), they are shaded along one
#: colour map and only the first and the last are named
MANY = 8


def _runs(history: object) -> dict[str, Mapping[str, Sequence[float]]]:
    """{run name: history}: one history (a dict of per-epoch lists) or a dict of them."""
    if not isinstance(history, Mapping) or not history:
        raise TypeError(
            "history must be what train returns (a dict of per-epoch lists) or a dict "
            f"of such histories by run name, got {history!r:.80}"
        )
    if all(isinstance(value, Mapping) for value in history.values()):
        return {str(name): run for name, run in history.items()}
    for key, values in history.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(
                f"history[{key!r}] must be a list of per-epoch values, got {values!r:.80}"
            )
    return {"": history}


def _keys(run: Mapping[str, Sequence[float]], wanted: tuple[str, ...]) -> list[str]:
    """The keys of ``run`` a panel draws: those named, or those starting with a prefix."""
    return [
        key
        for key in run
        if any(key == w or (w.endswith("_") and key.startswith(w)) for w in wanted)
    ]


def plot_history(history: object, path: str | os.PathLike | None = None):
    """A matplotlib Figure of one or several training histories (``{"sigmoid": h1, "relu":
    h2}``: a row each): loss, accuracy, and with diagnostics the per-layer gradient norms and
    update ratios. Written as PNG to ``path`` (atomically) when given; returned either way.
    """
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'plot_history draws with matplotlib: pip install "symbackprop[plot]"'
        ) from None
    runs = _runs(history)
    panels = [
        panel for panel in PANELS if any(_keys(run, panel[1]) for run in runs.values())
    ]
    if not panels:
        raise ValueError(
            f"history holds nothing to draw: no {', '.join(p[1][0] for p in PANELS)} values"
        )
    figure = Figure(figsize=(4.2 * len(panels), 3.2 * len(runs)), layout="constrained")
    axes = figure.subplots(len(runs), len(panels), squeeze=False)
    for row, (name, run) in zip(axes, runs.items()):
        for ax, (title, wanted, log) in zip(row, panels):
            keys = _keys(run, wanted)
            for i, key in enumerate(keys):
                values = [float(v) for v in run[key]]
                label = key.removeprefix("grad_norm_").removeprefix("update_ratio_")
                style = {}
                if len(keys) > MANY:  # shaded from the first layer to the last
                    style["color"] = colormaps["viridis"](i / (len(keys) - 1))
                    label = label if i in (0, len(keys) - 1) else None
                ax.plot(range(1, len(values) + 1), values, label=label, **style)
            if log and ax.lines:
                ax.set_yscale("log")
            ax.set_title(f"{name}: {title}" if name else title)
            ax.set_xlabel("epoch")
            if ax.lines:
                ax.legend(fontsize="small")
    if path is not None:
        _write_png(figure, Path(path))
    return figure


def _write_png(figure, path: Path) -> None:
    """The figure as PNG at ``path``: drawn in memory, then written beside it and renamed, so
    that a failure leaves no half-written file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(buffer.getvalue())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


__all__ = ["plot_history"]
