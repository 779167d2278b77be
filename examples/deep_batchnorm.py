"""Batch normalisation against vanishing gradients (Ioffe & Szegedy, ICML 2015): the
7-layer sigmoid network of examples/vanishing.py on the 8×8 digits, six hidden layers of 16
units, with and without a BatchNorm after each hidden layer, trained alike by plain SGD.

Without it each sigmoid layer shrinks δ by σ'(z) ≤ 1/4 and the lower layers barely move; with
it each layer's outputs are rescaled to unit variance per feature, the error coming back is
multiplied by γ/√(σ² + ε) (about 1/σ, large for a sigmoid's narrow outputs), and the network
learns within a few epochs.

As a spec: `symbackprop compile examples/deep_batchnorm.py`. As a script (needs the `examples`
extra, `pip install -e ".[examples]"`): trains generated/deep_sigmoid.py and
generated/deep_sigmoid_batchnorm.py with `diagnostics=True`, prints the first layer's
gradient norm after the first epoch, the training and test accuracies (the test in inference
mode, by the running averages), and draws both histories with `sb.plot_history` into
generated/deep_batchnorm.png.
"""

from pathlib import Path

import numpy as np

import symbackprop as sb

HIDDEN, UNITS, EPOCHS = 6, 16, 20


def deep(batchnorm: bool) -> sb.Network:
    """64 → 6 × Dense(16, sigmoid) (each followed by a BatchNorm if asked) → Dense(10,
    softmax), cross-entropy, SGD."""
    normalised = [sb.BatchNorm()] if batchnorm else []
    hidden = [
        layer
        for _ in range(HIDDEN)
        for layer in (sb.Dense(UNITS, "sigmoid"), *normalised)
    ]
    return sb.Network(
        name="deep_sigmoid_batchnorm" if batchnorm else "deep_sigmoid",
        inputs=64,
        layers=[*hidden, sb.Dense(10, "softmax")],
        loss="categorical_crossentropy",
        optimizer=sb.SGD(lr=0.1),
    )


deep_sigmoid = deep(False)
deep_sigmoid_batchnorm = deep(True)


def main() -> None:
    from _load import generated_module

    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        print(
            'deep_batchnorm: needs scikit-learn for its data: pip install -e ".[examples]"'
        )
        return
    X, labels = load_digits(return_X_y=True)
    X_train, X_test, T_train, T_test = train_test_split(
        X / 16.0, np.eye(10)[labels], test_size=0.25, random_state=0
    )
    histories = {}
    for name in ("deep_sigmoid", "deep_sigmoid_batchnorm"):
        module = generated_module(name)
        params, history = module.train(
            module.init_params(seed=0),
            X_train,
            T_train,
            epochs=EPOCHS,
            batch_size=32,
            verbose=0,
            diagnostics=True,
        )
        histories["BatchNorm" if "batchnorm" in name else "plain"] = history
        test = module.evaluate(params, X_test, T_test)["accuracy"]
        print(
            f"deep_batchnorm: {name} layer 1 gradient norm after epoch 1 "
            f"{history['grad_norm_dense_1'][0]:.1e}, training accuracy "
            f"{history['accuracy'][-1]:.1%}, test accuracy {test:.1%} after {EPOCHS} epochs"
        )
    path = Path(__file__).resolve().parent.parent / "generated" / "deep_batchnorm.png"
    try:
        sb.plot_history(histories, path)
    except ImportError as error:
        print(f"deep_batchnorm: no plot ({error})")
        return
    print(f"deep_batchnorm: plot in {path}")


if __name__ == "__main__":
    main()
