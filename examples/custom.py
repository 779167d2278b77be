"""Your own math: a custom activation and a custom loss, derived like the built-ins.

The hidden layer uses the bent identity ((√(z² + 1) − 1)/2 + z), which no catalog has; the output
is tanh trained on a cross-entropy for targets ±1 that we write ourselves. SymPy finds that this
pair simplifies to δ_y = t − y — no table of pairs, the same mechanism as softmax + cross-entropy.

As a spec: `symbackprop compile examples/custom.py`. As a script: trains generated/custom.py on two
interleaved half-moons labelled ±1 and prints its training accuracy.
"""

import numpy as np
import sympy as sp

import symbackprop as sb

bent_identity = sb.Activation("bent_identity", (sp.sqrt(sb.z**2 + 1) - 1) / 2 + sb.z)

signed_crossentropy = sb.Loss(
    "signed_crossentropy",
    -(
        (1 + sb.t) / 2 * sp.log((1 + sb.y) / 2)
        + (1 - sb.t) / 2 * sp.log((1 - sb.y) / 2)
    ),
    task="sign",
    targets="sign",
)

custom = sb.Network(
    name="custom",
    inputs=2,
    layers=[sb.Dense(16, activation=bent_identity), sb.Dense(1, activation="tanh")],
    loss=signed_crossentropy,
    optimizer=sb.SGD(lr=0.1),
)


def make_moons(samples: int = 300, noise: float = 0.1, seed: int = 2):
    """Two interleaved half circles, labelled -1 and 1."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([-1.0, 1.0], size=samples)
    angles = rng.uniform(0, np.pi, size=samples)
    X = np.column_stack([np.cos(angles), np.sin(angles)])
    X = np.where(labels[:, None] > 0, X, [1.0, 0.5] - X)
    X += rng.normal(scale=noise, size=X.shape)
    return X, labels[:, None]


def main() -> float:
    """Train the generated module; returns the training accuracy."""
    from _load import generated_module

    derivation = sb.derive(custom)
    print(derivation, end="\n\n")
    model = generated_module("custom")
    X, T = make_moons()
    params, history = model.train(
        model.init_params(seed=0), X, T, epochs=300, batch_size=16, verbose=0
    )
    accuracy = float(np.mean(model.predict(params, X) == T))
    print(f"custom: δ_y = {derivation.output_delta}")
    print(f"custom: loss {history['loss'][0]:.4f} -> {history['loss'][-1]:.4f}")
    print(f"custom: training accuracy {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    main()
