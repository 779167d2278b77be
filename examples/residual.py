"""Skip connections against vanishing gradients (He et al., CVPR 2016): 20 Dense sigmoid
layers on the 8×8 digits, 16 units each, as a plain chain and with each hidden layer's
outputs added to its inputs (h ← h + σ(h Wᵀ + b)), trained alike by plain SGD.

A graph, described as Keras' functional API describes one: `sb.Input`, layers called on
nodes, `sb.Add` for the sums. In the plain chain each sigmoid layer shrinks δ by σ'(z) ≤ 1/4,
and 19 of them leave the first layer a gradient of about 1e-13: it never learns. In the
residual network the error reaching h is δ from the layer above *plus* the error of the sum
it feeds, unchanged (∂(h + f(h))/∂h = 1 + f'(h)), so every layer receives the output's error
directly and the network learns within a few epochs.

As a spec: `symbackprop compile examples/residual.py`. As a script (needs the `examples`
extra, `pip install -e ".[examples]"`): trains generated/plain20.py and
generated/residual20.py with `diagnostics=True`, prints the first layer's gradient norm
after the first epoch and the training and test accuracies, and draws both histories with
`sb.plot_history` into generated/residual.png.
"""

from pathlib import Path

import numpy as np

import symbackprop as sb

LAYERS, UNITS, EPOCHS = 20, 16, 20


def deep(residual: bool) -> sb.Network:
    """64 → Dense(16, sigmoid) → 18 × Dense(16, sigmoid) (each added to its inputs if
    asked) → Dense(10, softmax): 20 Dense layers, cross-entropy, SGD."""
    x = sb.Input(64)
    h = sb.Dense(UNITS, "sigmoid")(x)
    for _ in range(LAYERS - 2):
        f = sb.Dense(UNITS, "sigmoid")(h)
        h = sb.Add()([h, f]) if residual else f
    return sb.Network(
        name="residual20" if residual else "plain20",
        inputs=x,
        outputs=sb.Dense(10, "softmax")(h),
        loss="categorical_crossentropy",
        optimizer=sb.SGD(lr=0.2),
    )


plain20 = deep(False)
residual20 = deep(True)


def main() -> None:
    from _load import generated_module

    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        print('residual: needs scikit-learn for its data: pip install -e ".[examples]"')
        return
    X, labels = load_digits(return_X_y=True)
    X_train, X_test, T_train, T_test = train_test_split(
        X / 16.0, np.eye(10)[labels], test_size=0.25, random_state=0
    )
    histories = {}
    for name in ("plain20", "residual20"):
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
        histories["residual" if name == "residual20" else "plain"] = history
        test = module.evaluate(params, X_test, T_test)["accuracy"]
        print(
            f"residual: {name} layer 1 gradient norm after epoch 1 "
            f"{history['grad_norm_dense_1'][0]:.1e}, training accuracy "
            f"{history['accuracy'][-1]:.1%}, test accuracy {test:.1%} after {EPOCHS} epochs"
        )
    path = Path(__file__).resolve().parent.parent / "generated" / "residual.png"
    try:
        sb.plot_history(histories, path)
    except ImportError as error:
        print(f"residual: no plot ({error})")
        return
    print(f"residual: plot in {path}")


if __name__ == "__main__":
    main()
