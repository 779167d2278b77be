"""Dropout against overfitting (Srivastava et al., JMLR 15, 2014): a wide 1-100-100-1 ReLU
network fitted to 24 noisy samples of sin(x), with and without Dropout(0.2) after each hidden
layer, trained alike by Adam for 2000 epochs.

Without dropout the network has enough weights to follow the noise of its 24 samples; with it,
each batch trains a different thinned network, and the fit stays close to sin(x) itself.

As a spec: `symbackprop compile examples/dropout.py`. As a script: trains generated/sine.py
and generated/sine_dropout.py on four draws of the data (seeds 0–3), prints each one's mean
squared error against the noise-free sin(x) on a grid, and draws the fits of seed 0 into
generated/dropout.png when matplotlib is installed. The generated modules need only NumPy.
"""

from pathlib import Path

import numpy as np

import symbackprop as sb

SAMPLES, NOISE, EPOCHS, RATE, SEEDS = 24, 0.3, 2000, 0.2, range(4)


def sine_network(rate: float | None) -> sb.Network:
    """1 → Dense(100, relu) → Dense(100, relu) → Dense(1), mse, Adam; a Dropout after each
    hidden layer when rate is given."""
    dropped = [sb.Dropout(rate)] if rate is not None else []
    return sb.Network(
        name="sine" if rate is None else "sine_dropout",
        inputs=1,
        layers=[
            sb.Dense(100, "relu"),
            *dropped,
            sb.Dense(100, "relu"),
            *dropped,
            sb.Dense(1),
        ],
        loss="mse",
        optimizer=sb.Adam(lr=0.01),
    )


sine = sine_network(None)
sine_dropout = sine_network(RATE)


def data(seed: int):
    """SAMPLES noisy samples of sin on [−3, 3], and the noise-free curve on a grid."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(SAMPLES, 1))
    X_grid = np.linspace(-3, 3, 200)[:, None]
    return X, np.sin(X) + NOISE * rng.normal(size=X.shape), X_grid, np.sin(X_grid)


def fit(module, seed: int):
    """The module trained on the data of seed; its test error and its curve on the grid."""
    X, T, X_grid, T_grid = data(seed)
    params, _ = module.train(
        module.init_params(seed),
        X,
        T,
        epochs=EPOCHS,
        batch_size=SAMPLES,
        seed=seed,
        verbose=0,
    )
    return module.loss(params, X_grid, T_grid), module.forward(params, X_grid)


def plot(curves, path: Path) -> bool:
    """The samples of seed 0 and both fits; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    X, T, X_grid, T_grid = data(0)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(X_grid, T_grid, "k--", label="sin(x)")
    axes.plot(X, T, "ko", markersize=4, label=f"{SAMPLES} noisy samples")
    for name, curve in curves.items():
        axes.plot(X_grid, curve, label=name)
    axes.set(xlabel="x", ylabel="y", ylim=(-2.5, 2.5))
    axes.set_title("1-100-100-1 ReLU, Adam, 2000 epochs")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return True


def main() -> None:
    from _load import generated_module

    modules = {
        "no dropout": generated_module("sine"),
        f"Dropout({RATE})": generated_module("sine_dropout"),
    }
    curves = {}
    for name, module in modules.items():
        errors = []
        for seed in SEEDS:
            error, curve = fit(module, seed)
            errors.append(error)
            curves.setdefault(name, curve)
        shown = " ".join(f"{error:.4f}" for error in errors)
        print(f"dropout: {name} test mse by seed {shown}")
    path = Path(__file__).resolve().parent.parent / "generated" / "dropout.png"
    if plot(curves, path):
        print(f"dropout: plot in {path}")


if __name__ == "__main__":
    main()
