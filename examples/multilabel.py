"""A multi-label network: 3 inputs, 2 sigmoid hidden units, 3 sigmoid outputs, BCE.

Each of the 3 outputs is an independent yes/no label; lecture notes derive its backpropagation
step by step with δ = ∂ℓ/∂Z = A − Y (`symbackprop latex examples/multilabel.py --convention gradient`).
"""

import numpy as np

import symbackprop as sb

multilabel = sb.Network(
    name="multilabel",
    inputs=3,
    layers=[sb.Dense(2, activation="sigmoid"), sb.Dense(3, activation="sigmoid")],
    loss="binary_crossentropy",
    optimizer=sb.SGD(lr=0.5),
)


def main() -> None:
    from _load import generated_module

    model = generated_module("multilabel")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 3))
    T = (
        X @ np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 1.0]]) > 0
    ).astype(float)
    params, history = model.train(
        model.init_params(), X, T, epochs=200, batch_size=16, verbose=0
    )
    accuracy = float(np.mean(model.predict(params, X) == T))
    print(
        f"multilabel: loss {history['loss'][-1]:.4f}, per-label accuracy {accuracy:.1%}"
    )


if __name__ == "__main__":
    main()
