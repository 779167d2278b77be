"""A Keras Sequential stack: Dense(4, input_dim=3), Dense(4), Dense(1) — 16 + 20 + 5 = 41 parameters.

Keras leaves the layers linear (Keras' default); here the hidden layers get tanh so the stack is
more than one linear map, and the single linear output is trained on the mean squared error.
"""

import numpy as np

import symbackprop as sb

stack = sb.Network(
    name="stack",
    inputs=3,
    layers=[
        sb.Dense(4, activation="tanh"),
        sb.Dense(4, activation="tanh"),
        sb.Dense(1),
    ],
    loss="mse",
    # the Keras original compiles with Adam(lr=0.01, decay=0.1); decay counts updates, as in Keras, and
    # 0.1 per update all but stops this run within a few epochs (mse 0.106 vs 0.003 here)
    optimizer=sb.Adam(lr=0.02, decay=0.001),
)


def main() -> None:
    from _load import generated_module

    model = generated_module("stack")
    print(model.summary())
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(512, 3))
    T = np.sin(X[:, :1] * 2) + X[:, 1:2] * X[:, 2:3]
    params, history = model.train(
        model.init_params(), X, T, epochs=200, batch_size=32, verbose=0
    )
    count = sum(np.size(value) for value in params.values())
    print(
        f"stack: {count} parameters, mse {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}"
    )


if __name__ == "__main__":
    main()
