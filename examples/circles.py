"""A circles classifier: 2-20-1, ReLU hidden layer, sigmoid output, binary cross-entropy.

As a spec: `symbackprop compile examples/circles.py`. As a script: trains generated/circles.py on
two noisy concentric circles and prints its training accuracy.
"""

import numpy as np

import symbackprop as sb

circles = sb.Network(
    name="circles",
    inputs=2,
    layers=[sb.Dense(20, activation="relu"), sb.Dense(1, activation="sigmoid")],
    loss="binary_crossentropy",
    optimizer=sb.SGD(lr=0.5),
)


def make_circles(samples: int = 400, noise: float = 0.08, seed: int = 0):
    """Two concentric circles (radius 0.5: class 1, radius 1.0: class 0) with Gaussian noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=samples)
    angles = rng.uniform(0, 2 * np.pi, size=samples)
    radii = np.where(labels == 1, 0.5, 1.0)
    X = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
    X += rng.normal(scale=noise, size=X.shape)
    return X, labels[:, None].astype(float)


def main() -> float:
    """Train the generated module; returns the training accuracy."""
    from _load import generated_module

    print(sb.derive(circles), end="\n\n")
    model = generated_module("circles")
    X, T = make_circles()
    params, history = model.train(
        model.init_params(seed=0), X, T, epochs=300, batch_size=32, verbose=0
    )
    accuracy = float(np.mean(model.predict(params, X) == T))
    print(
        f"circles: loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f} after 300 epochs"
    )
    print(f"circles: training accuracy {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    main()
