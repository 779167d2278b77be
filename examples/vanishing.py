"""Vanishing gradients (Nielsen, Neural Networks and Deep Learning, ch. 5): the same 7-layer
network on the 8×8 digits, six hidden layers of 16 units with sigmoid or with ReLU, trained by
plain SGD.

σ'(z) ≤ 1/4, so each sigmoid layer multiplies δ by at most a quarter of ‖W‖ on its way down:
the first layer's gradient is about a thousand times smaller than the last's, and the sigmoid
network barely learns while the ReLU network (f'(z) = 1 where active) does.

As a spec: `symbackprop compile examples/vanishing.py`. As a script (needs the `examples`
extra, `pip install -e ".[examples]"`): trains generated/vanishing_sigmoid.py and
generated/vanishing_relu.py with `diagnostics=True`, prints each layer's gradient norm after the
first epoch and the accuracies, and draws both histories with `sb.plot_history` into
generated/vanishing.png.
"""

from pathlib import Path

import numpy as np

import symbackprop as sb

HIDDEN, UNITS, EPOCHS = 6, 16, 20


def deep(activation: str) -> sb.Network:
    """64 → 6 × Dense(16, activation) → Dense(10, softmax), cross-entropy, SGD."""
    return sb.Network(
        name=f"vanishing_{activation}",
        inputs=64,
        layers=[sb.Dense(UNITS, activation) for _ in range(HIDDEN)]
        + [sb.Dense(10, "softmax")],
        loss="categorical_crossentropy",
        optimizer=sb.SGD(lr=0.1),
    )


vanishing_sigmoid = deep("sigmoid")
vanishing_relu = deep("relu")


def main() -> None:
    from _load import generated_module

    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print(
            'vanishing: needs scikit-learn for its data: pip install -e ".[examples]"'
        )
        return
    X, labels = load_digits(return_X_y=True)
    X, T = X / 16.0, np.eye(10)[labels]
    histories = {}
    for activation in ("sigmoid", "relu"):
        module = generated_module(f"vanishing_{activation}")
        _, history = module.train(
            module.init_params(seed=0),
            X,
            T,
            epochs=EPOCHS,
            batch_size=32,
            verbose=0,
            diagnostics=True,
        )
        histories[activation] = history
        norms = [history[f"grad_norm_{layer}"][0] for layer, *_ in module.LAYERS]
        print(
            f"vanishing: {activation} gradient norms, layer 1 → 7 after epoch 1: "
            + " ".join(f"{norm:.1e}" for norm in norms)
        )
        print(
            f"vanishing: {activation} layer 1 / layer 7 = {norms[0] / norms[-1]:.1e}, "
            f"training accuracy {history['accuracy'][-1]:.1%} after {EPOCHS} epochs"
        )
    path = Path(__file__).resolve().parent.parent / "generated" / "vanishing.png"
    try:
        sb.plot_history(histories, path)
    except ImportError as error:
        print(f"vanishing: no plot ({error})")
        return
    print(f"vanishing: plot in {path}")


if __name__ == "__main__":
    main()
