"""The classic digit classifier (Nielsen, Neural Networks and Deep Learning, ch. 1) at the size
the shipped data allows: 64-15-10 on scikit-learn's 8×8 digits, sigmoid hidden layer, softmax output, cross-entropy on integer labels.

As a spec: `symbackprop compile examples/digits.py`. As a script (needs the `examples` extra,
`pip install -e ".[examples]"`): trains generated/digits.py through its scikit-learn style
`Model` and scikit-learn's MLPClassifier with the same architecture, optimiser, batch size and
epochs on the same fixed split, prints both test accuracies, and writes the loss curves to
generated/digits_loss.png when matplotlib is installed. The generated module needs only NumPy.
"""

import time
import warnings
from pathlib import Path

import numpy as np

import symbackprop as sb

LR, MOMENTUM, BATCH_SIZE, EPOCHS = 0.1, 0.9, 32, 60

digits = sb.Network(
    name="digits",
    inputs=64,
    layers=[sb.Dense(15, activation="sigmoid"), sb.Dense(10, activation="softmax")],
    loss="sparse_categorical_crossentropy",
    optimizer=sb.SGD(lr=LR, momentum=MOMENTUM),
)


def load_split(seed: int = 0):
    """The 1797 digits scaled to [0, 1], split 75 / 25 by a fixed permutation."""
    from sklearn.datasets import load_digits

    X, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    X, labels = X[order] / 16.0, labels[order]
    cut = len(X) * 3 // 4
    return X[:cut], labels[:cut], X[cut:], labels[cut:]


def scikit_learn_peer(seed: int = 0):
    """MLPClassifier with our settings: SGD with the same momentum (not Nesterov), no L2 penalty,
    constant rate, the same batch size and exactly EPOCHS epochs (no early convergence stop).
    """
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=(15,),
        activation="logistic",
        solver="sgd",
        learning_rate_init=LR,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=BATCH_SIZE,
        max_iter=EPOCHS,
        n_iter_no_change=EPOCHS + 1,
        random_state=seed,
    )


def compare(seed: int = 0) -> dict[str, object]:
    """Train both on the same split; their test accuracies, fit times and loss curves."""
    from _load import generated_module
    from sklearn.exceptions import ConvergenceWarning

    X, labels, X_test, labels_test = load_split()
    module = generated_module("digits")
    started = time.perf_counter()
    ours = module.Model(epochs=EPOCHS, batch_size=BATCH_SIZE, seed=seed).fit(X, labels)
    ours_time = time.perf_counter() - started
    peer = scikit_learn_peer(seed)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", ConvergenceWarning
        )  # max_iter reached, as asked
        peer.fit(X, labels)
    peer_time = time.perf_counter() - started
    return {
        "symbackprop": ours.score(X_test, labels_test),
        "scikit-learn": peer.score(X_test, labels_test),
        "times": (ours_time, peer_time),
        "curves": (ours.history_["loss"], peer.loss_curve_),
    }


def plot(curves, path: Path) -> bool:
    """Both training-loss curves in one figure; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(6, 4))
    for curve, label in zip(curves, ("symbackprop", "scikit-learn MLPClassifier")):
        axes.plot(range(1, len(curve) + 1), curve, label=label)
    axes.set(xlabel="epoch", ylabel="training loss (mean over batches)", yscale="log")
    axes.set_title("digits 64-15-10, SGD with momentum")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return True


def main() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print('digits: needs scikit-learn for its data: pip install -e ".[examples]"')
        return
    result = compare()
    ours, peer = result["symbackprop"], result["scikit-learn"]
    print(f"digits: test accuracy symbackprop {ours:.2%}, scikit-learn {peer:.2%}")
    print(
        "digits: fit time symbackprop {:.2f} s, scikit-learn {:.2f} s".format(
            *result["times"]
        )
    )
    path = Path(__file__).resolve().parent.parent / "generated" / "digits_loss.png"
    if plot(result["curves"], path):
        print(
            f"digits: loss curves in {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
        )


if __name__ == "__main__":
    main()
