"""The network-independent part of every generated module: the checks of parameters, inputs,
targets (by their domain), seeds and training settings, accuracy (by task), the validation
split, the progress line, save/load, summary and check_gradients.

A generated module copies these functions verbatim (``source``), after the constants of its
derived part; so they stay standalone, need NumPy alone, and are linted and tested here as
plain Python. The constants below are stand-ins for those a module defines (a 2-3-1 network),
for the tests and the linter; they are not copied.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import zipfile

import numpy as np

# --- stand-ins for the constants of a module's derived part (not copied) ---------------------
NAME = "stand_in"
ARCHITECTURE = "inputs 2 → Dense(3, tanh) → Dense(1, identity); loss mse"
DTYPE = np.float64
SIZES = (2, 3, 1)
PARAMS = ("W1", "b1", "W2", "b2")
SHAPES = {"W1": (3, 2), "b1": (3,), "W2": (1, 3), "b2": (1,)}
LAYERS = (
    ("dense_1", "tanh", 3, ("W1", "b1")),
    ("dense_2", "identity", 1, ("W2", "b2")),
)
METRICS = ("loss",)
TASK = "regression"
TARGETS = "real"
TARGETS_SUM_TO_ONE = False


def _loss(W1, b1, W2, b2, X, T):
    """Stand-in for a module's derived mean loss: (L, the outputs)."""
    Y = np.tanh(X @ W1.T + b1) @ W2.T + b2
    return float(((Y - T) ** 2).sum() / X.shape[0]), Y


def _step(W1, b1, W2, b2, X, T, scale=1.0, with_loss=True):
    """Stand-in for a module's derived step (its gradients come from SymPy, never from here):
    the functions that call it are tested through generated modules."""
    raise NotImplementedError("the derived step of a generated module")


def _numbers(value, name):
    """``value`` as a NumPy array of numbers, else an error naming it."""
    try:
        array = np.asarray(value)
    except ValueError as error:
        raise ValueError(
            f"{name} must be a rectangular array of numbers: {error}"
        ) from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got an array of dtype {array.dtype}"
        )
    return array


def _check_params(params):
    if not hasattr(params, "keys"):
        raise TypeError(
            f"params must be a dict of arrays keyed {list(PARAMS)}, got {type(params).__name__}"
        )
    missing = [name for name in PARAMS if name not in params]
    if missing:
        raise KeyError(f"params lacks {missing}; expected keys {list(PARAMS)}")
    values = []
    for name in PARAMS:
        value = _numbers(params[name], f"params[{name!r}]").astype(DTYPE)
        if value.shape != SHAPES[name]:
            raise ValueError(
                f"params[{name!r}] has shape {value.shape}, expected {SHAPES[name]}"
            )
        if not np.isfinite(value).all():
            raise ValueError(f"params[{name!r}] holds non-finite values (nan or inf)")
        values.append(value)
    return values


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer ≥ 0, got {seed!r}")
    return int(seed)


def _finite(value, what):
    """value, after checking it is finite: where it is not, the computation overflowed."""
    if not np.all(np.isfinite(value)):
        raise ValueError(
            f"{what} is not finite (nan or inf): X holds values too large for these parameters "
            "(the computation overflows); scale the inputs"
        )
    return value


def _check_inputs(X, name="X"):
    X = _numbers(X, name).astype(DTYPE, copy=False)
    if X.ndim != 2 or X.shape[1] != SIZES[0]:
        raise ValueError(f"{name} must have shape (N, {SIZES[0]}), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return X


def _check_training(
    epochs,
    batch_size,
    lr,
    validation_split,
    early_stopping,
    callbacks,
    verbose,
    metrics,
    seed,
):
    _check_seed(seed)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or value < 1
        ):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if (
        isinstance(lr, bool)
        or not isinstance(lr, (int, float, np.number))
        or not np.isfinite(lr)
        or lr <= 0
    ):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, (int, float))
        or not 0 <= validation_split < 1
    ):
        raise ValueError(
            f"validation_split must be a fraction in [0, 1), got {validation_split!r}"
        )
    if early_stopping is not None and (
        isinstance(early_stopping, bool)
        or not isinstance(early_stopping, (int, np.integer))
        or early_stopping < 1
    ):
        raise ValueError(
            f"early_stopping must be a patience in epochs (a positive integer) or None, got {early_stopping!r}"
        )
    if not isinstance(callbacks, (tuple, list)) or not all(
        callable(callback) for callback in callbacks
    ):
        raise TypeError(
            f"callbacks must be a sequence of functions callback(epoch, logs), got {callbacks!r}"
        )
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(
            f"verbose must be 0 (silent) or 1 (a line per epoch), got {verbose!r}"
        )
    if (
        isinstance(metrics, str)
        or not isinstance(metrics, (tuple, list))
        or not set(metrics) <= set(METRICS)
    ):
        raise ValueError(
            f"metrics must be a sequence of names from {METRICS} (() for none), got {metrics!r}"
        )


def _validation(X, T, validation_data, validation_split):
    """Training and validation sets: validation_data as given, or the last validation_split of
    the samples (taken before shuffling, as Keras does)."""
    if validation_data is not None:
        if validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (X_val, T_val)")
        return (
            X,
            T,
            *_check_data(
                *validation_data, names=("validation_data[0]", "validation_data[1]")
            ),
        )
    if not validation_split:
        return X, T, None, None
    split = int(X.shape[0] * (1 - validation_split))
    if split < 1 or split == X.shape[0]:
        raise ValueError(
            f"validation_split={validation_split} of {X.shape[0]} samples leaves no training or no validation samples"
        )
    return X[:split], T[:split], X[split:], T[split:]


def _progress(epoch, epochs, logs, elapsed):
    left = elapsed / epoch * (epochs - epoch)
    return " - ".join(
        [f"Epoch {epoch:>{len(str(epochs))}}/{epochs}"]
        + [f"{key}: {value:.4f}" for key, value in logs.items()]
        + [f"{elapsed:.1f}s elapsed, {left:.1f}s left"]
    )


def _check_data(X, T, names=("X", "T")):
    """Inputs and targets checked, targets by the loss's domain (TARGETS): integer labels
    become one-hot rows."""
    X = _check_inputs(X, names[0])
    if X.shape[0] == 0:
        raise ValueError(
            f"{names[0]} holds no samples: a mean over no samples is undefined"
        )
    name = names[1]
    if TARGETS == "labels":
        labels = _numbers(T, name)
        if labels.shape != (X.shape[0],):
            raise ValueError(
                f"{name} must hold one class label per sample, shape ({X.shape[0]},), "
                f"got {labels.shape}"
            )
        if (
            labels.dtype.kind not in "iu"
            or np.any(labels < 0)
            or np.any(labels >= SIZES[-1])
        ):
            raise ValueError(
                f"{name} must hold integer class labels 0 … {SIZES[-1] - 1}"
            )
        # integer labels → one-hot rows t
        T = np.eye(SIZES[-1], dtype=DTYPE)[labels]
    else:
        T = _numbers(T, name).astype(DTYPE, copy=False)
        if T.ndim == 1 and SIZES[-1] == 1:
            T = T[:, None]
    if T.shape != (X.shape[0], SIZES[-1]):
        raise ValueError(
            f"{name} must have shape ({X.shape[0]}, {SIZES[-1]}), got {T.shape}"
        )
    if not np.isfinite(T).all():
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    if TARGETS == "probability" and (np.any(T < 0) or np.any(T > 1)):
        raise ValueError(f"{name} must hold values in [0, 1]")
    if TARGETS == "nonnegative" and np.any(T < 0):
        raise ValueError(f"{name} must hold values ≥ 0")
    if TARGETS == "sign" and not np.all(np.abs(T) == 1):
        raise ValueError(f"{name} must hold values -1 or 1")
    if TARGETS_SUM_TO_ONE:
        # δ_y was simplified by Σ_k t_k = 1: rows within 2e-5 of 1 are accepted and scaled to
        # sum to 1, so that the loss and its gradient are exact for the targets used
        sums = T.sum(axis=1, keepdims=True)
        if not (np.abs(sums - 1) <= 2e-5).all():
            raise ValueError(
                f"each row of {name} must sum to 1 (one-hot or class probabilities)"
            )
        T = T / sums
    return X, T


def _accuracy(Y, T):
    """Fraction correct, by the task (TASK): the largest output is the target class
    (multiclass), the output is on the target's side of 0.5 (binary) or of 0 (sign)."""
    if TASK == "multiclass":
        return float(np.mean(np.argmax(Y, axis=1) == np.argmax(T, axis=1)))
    if TASK == "binary":
        return float(np.mean((Y > 0.5) == (T > 0.5)))
    if TASK == "sign":
        return float(np.mean((Y > 0) == (T > 0)))
    raise TypeError(f"{NAME} is a regression network: it has no accuracy")


def _evaluate(values, X, T):
    """The metrics of parameter arrays ``values`` on X, T: the loss, and the accuracy of a
    classifier."""
    L, Y = _loss(*values, X, T)
    if TASK == "regression":
        return {"loss": L}
    return {"loss": L, "accuracy": _accuracy(Y, T)}


def save(params, path):
    """Write params to the .npz file `path` (".npz" appended if missing), atomically, tagged with
    this network's architecture so that `load` can refuse another network's file. Returns the path.
    """
    values = _check_params(params)
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".params.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(
                file,
                __network__=np.array(NAME),
                __architecture__=np.array(ARCHITECTURE),
                **dict(zip(PARAMS, values)),
            )
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def load(path):
    """Parameters saved by `save` for this network (same architecture), keyed like PARAMS."""
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{os.fspath(path)!r} is not a parameter file written by save(): {error}"
        ) from None
    if not hasattr(data, "files"):  # np.load read one array (.npy), not an archive
        raise ValueError(
            f"{os.fspath(path)!r} is not a parameter file written by save(): it holds one array, not an .npz archive"
        )
    with data:
        if "__architecture__" not in data.files:
            raise ValueError(
                f"{os.fspath(path)!r} was not written by a symbackprop module's save()"
            )
        architecture = str(data["__architecture__"])
        if architecture != ARCHITECTURE:
            raise ValueError(
                f"{os.fspath(path)!r} holds parameters of network {str(data['__network__'])!r} ({architecture}), "
                f"not of {NAME!r} ({ARCHITECTURE})"
            )
        return dict(
            zip(PARAMS, _check_params({name: data[name] for name in data.files}))
        )


def summary():
    """The layers with their output shapes and parameter counts, as Keras' model.summary()."""
    rows = [("Layer (type)", "Output Shape", "Param #", "Activation")]
    for layer, activation, units, names in LAYERS:
        count = sum(int(np.prod(SHAPES[name])) for name in names)
        rows.append((f"{layer} (Dense)", f"(None, {units})", str(count), activation))
    widths = [max(len(row[i]) for row in rows) + 4 for i in range(3)]
    lines = [
        "".join(cell.ljust(width) for cell, width in zip(row, widths)) + row[3]
        for row in rows
    ]
    rule = max(len(line) for line in lines)
    total = sum(int(np.prod(shape)) for shape in SHAPES.values())
    body = [item for line in lines[1:] for item in (line, "_" * rule)][:-1]
    return "\n".join(
        [f'Model: "{NAME}"', "_" * rule, lines[0], "=" * rule, *body, "=" * rule]
        + [
            f"Total params: {total}",
            f"Trainable params: {total}",
            "Non-trainable params: 0",
        ]
    )


def check_gradients(params, X, T, eps=1e-6, names=PARAMS):
    """Largest relative error ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖) over the parameter
    arrays named in `names`, the numeric gradient taken by central differences of `loss`, in
    float64 whatever DTYPE is. The layers in STRAIGHT_THROUGH (if any) use a straight-through
    gradient (a surrogate, not the true derivative of their step), so parameters below them are
    expected to differ here."""
    if isinstance(names, str) or not isinstance(names, (tuple, list)):
        raise TypeError(
            f"names must be a sequence of parameter names from PARAMS, got {names!r}"
        )
    unknown = [name for name in names if name not in PARAMS]
    if unknown:
        raise KeyError(f"no parameters named {unknown}; PARAMS is {list(PARAMS)}")
    if (
        isinstance(eps, bool)
        or not isinstance(eps, (int, float, np.floating))
        or not np.isfinite(eps)
        or eps <= 0
    ):
        raise ValueError(f"eps must be a positive finite step, got {eps!r}")
    X, T = (array.astype(np.float64) for array in _check_data(X, T))
    values = [value.astype(np.float64) for value in _check_params(params)]
    with np.errstate(all="ignore"):
        analytic = dict(zip(PARAMS, _step(*values, X, T)[2:]))
    worst = 0.0
    for name, value in zip(PARAMS, values):
        if name not in names:
            continue
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            original = value[index]
            with np.errstate(all="ignore"):
                value[index] = original + eps
                plus = _loss(*values, X, T)[0]
                value[index] = original - eps
                minus = _loss(*values, X, T)[0]
            value[index] = original
            numeric[index] = (plus - minus) / (2 * eps)
        if not (np.isfinite(analytic[name]).all() and np.isfinite(numeric).all()):
            return float("inf")  # a gradient that is not a number agrees with nothing
        scale = np.linalg.norm(analytic[name]) + np.linalg.norm(numeric)
        if scale > 0:
            worst = max(worst, float(np.linalg.norm(analytic[name] - numeric) / scale))
    return worst


#: what a module copies, in order
FUNCTIONS = (
    _numbers,
    _check_params,
    _check_seed,
    _finite,
    _check_inputs,
    _check_data,
    _accuracy,
    _evaluate,
    _check_training,
    _validation,
    _progress,
    save,
    load,
    summary,
    check_gradients,
)


def source() -> str:
    """The source of ``FUNCTIONS``, for a generated module."""
    return "\n\n".join(inspect.getsource(fn) for fn in FUNCTIONS).rstrip("\n")


__all__ = ["FUNCTIONS", "source"]
