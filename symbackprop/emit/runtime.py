"""The network-independent part of every generated module: the checks of parameters, inputs,
targets (by their domain), sample weights, seeds and training settings, accuracy (by task),
the validation split, the progress bar and line, the per-layer diagnostics, the fit loop
(``train``) and the scikit-learn style ``Model``, save/load, summary and check_gradients.

A generated module copies these functions verbatim (``source``), after the constants of its
derived part; so they stay standalone, need NumPy alone, and are linted and tested here as
plain Python. The constants below are stand-ins for those a module defines (a 2-3-1 network),
for the tests and the linter; they are not copied.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import os
import sys
import tempfile
import time
import warnings
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
OPTIMIZER = "SGD (lr=0.1)"
LR = 0.1
TASK = "regression"
PROBABILITIES = False
TARGETS = "real"
TARGET_DOMAIN = {
    "description": "any real values",
    "low": None,
    "high": None,
    "values": (),
}
TARGETS_SUM_TO_ONE = False
DROPOUT = ()
SUMMARY = (
    ("dense_1 (Dense)", 3, ("W1", "b1"), "tanh", ()),
    ("dense_2 (Dense)", 1, ("W2", "b2"), "identity", ()),
)
TRAINED = PARAMS
BATCHNORM = ()


def _forward(W1, b1, W2, b2, X):
    """Stand-in for a module's derived forward pass: Z1, A1, Z2, A2."""
    Z1 = X @ W1.T + b1
    A1 = np.tanh(Z1)
    Z2 = A1 @ W2.T + b2
    return Z1, A1, Z2, Z2


def _loss(W1, b1, W2, b2, X, T, weights=1.0):
    """Stand-in for a module's derived mean loss: (L, the outputs)."""
    Y = _forward(W1, b1, W2, b2, X)[-1]
    return float((weights * (Y - T) ** 2).sum() / X.shape[0]), Y


def _step(W1, b1, W2, b2, X, T, scale=1.0, with_loss=True, weights=1.0):
    """Stand-in for a module's derived step (its gradients come from SymPy, never from here):
    the functions that call it are tested through generated modules."""
    raise NotImplementedError("the derived step of a generated module")


def init_params(seed=0):
    """Stand-in for a module's initial parameters: small normal values."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.normal(scale=0.5, size=shape).astype(DTYPE)
        for name, shape in SHAPES.items()
    }


def _initial_state(params):
    """Stand-in for a module's optimiser state at the start: one counter."""
    return [np.zeros(1)]


def _on_device(X, T, weights, given=()):
    """Stand-in for a module's data where its library computes (NumPy: as they are)."""
    return X, T, weights


def _checked_data(X, T):
    """Stand-in for a module's check of the training data: _check_data (a JAX module's runs
    it once for the same two JAX arrays)."""
    return _check_data(X, T)


def _epoch(
    params,
    state,
    X,
    T,
    weights,
    order,
    batch_size,
    lr,
    k,
    metrics,
    on_batch=None,
    masks=(),
):
    """Stand-in for a module's derived pass over the batches. No gradient: every parameter
    shrinks by the factor 1 − lr per batch and the state counts batches, so the fit loop around
    it can be tested (a generated module's pass runs its optimiser on the derived gradients).
    """
    if order is not None:
        X, T = X[order], T[order]
        weights = weights if isinstance(weights, float) else weights[order]
    total = dict.fromkeys(metrics, 0.0)
    L = None
    for start in range(0, X.shape[0], batch_size):
        X_batch, T_batch = X[start : start + batch_size], T[start : start + batch_size]
        w_batch = (
            weights
            if isinstance(weights, float)
            else weights[start : start + batch_size]
        )
        if "loss" in metrics or on_batch is not None:
            L = _loss(*params, X_batch, T_batch, w_batch)[0]
            total["loss"] = total.get("loss", 0.0) + L * X_batch.shape[0]
        for value in params:
            value *= 1 - lr
        state[0] += 1
        k += 1
        if on_batch is not None:
            on_batch(X_batch.shape[0], L, lr, params, [lr * value for value in params])
    return params, state, k, {key: total[key] for key in metrics}


def _unmasked(value, name):
    """value, unless it is a NumPy masked array that hides some of its values (np.asarray
    would read the values under the mask as data): then an error naming it."""
    hidden = np.ma.count_masked(value) if isinstance(value, np.ma.MaskedArray) else 0
    if hidden:
        raise ValueError(
            f"{name} has {hidden} masked values: fill them "
            f"({name}.filled(value)) or leave their samples out"
        )
    return value


def _numbers(value, name):
    """``value`` as a NumPy array of numbers, else an error naming it."""
    if hasattr(value, "toarray"):
        raise TypeError(
            f"{name} is sparse: sparse input is not supported, pass {name}.toarray()"
        )
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        # a PyTorch tensor, on any device, tracking gradients or not: its values (bfloat16
        # and float8, which NumPy lacks, as float32: exactly)
        value = value.detach().cpu()
        narrow = hasattr(value, "element_size") and value.element_size() <= 2
        if narrow and value.is_floating_point():
            value = value.float()
    try:
        array = np.asarray(_unmasked(value, name))
    except ValueError as error:
        raise ValueError(
            f"{name} must be a rectangular array of numbers: {error}"
        ) from None
    if array.dtype.kind == "V" and array.dtype.fields is None:
        # a number type NumPy lacks, as JAX gives bfloat16 and float8 (ml_dtypes): its values
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            pass  # raw bytes: refused below
    if array.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} must hold real numbers, got an array of "
            f"dtype {array.dtype}"
        )
    if array.dtype.kind == "O":
        # numbers held as Python objects, as scikit-learn converts them
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name} must hold real numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got an array of dtype {array.dtype}"
        )
    return array


def _same_samples(X, y):
    """y (an array), if it holds as many samples (rows) as X, else an error naming both
    counts."""
    samples = len(_numbers(X, "X"))
    if y.ndim and len(y) != samples:
        raise ValueError(
            f"X and y must hold one sample per row alike, got {samples} samples in X and "
            f"{len(y)} in y"
        )
    return y


def _own_error_handling(function):
    """function, run with NumPy's floating-point warnings and errors off whatever the program
    set: each public function checks what it returns (a non-finite result is an error naming
    its cause, _finite), and its formulas overflow and underflow by design where the result is
    right (exp(−800) is 0, 1/(1 + exp(800)) is 0, a branch np.where drops), which warned
    "overflow encountered in exp" over a right loss, and with np.seterr(all="raise") failed.
    A new np.errstate per call: one shared by nested calls or threads restores the wrong state
    on NumPy 1.x."""

    def run(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    run.__name__ = run.__qualname__ = function.__name__
    run.__doc__, run.__wrapped__ = function.__doc__, function
    return run


def _check_params(params):
    if not hasattr(params, "keys"):
        raise TypeError(
            f"params must be a dict of arrays keyed {list(PARAMS)}, got {type(params).__name__}"
        )
    missing = [name for name in PARAMS if name not in params]
    if missing:
        raise KeyError(f"params lacks {missing}; expected keys {list(PARAMS)}")
    # another network's parameters are not taken in part (as torch's strict load_state_dict)
    unexpected = [name for name in params if name not in SHAPES]
    if unexpected:
        raise KeyError(
            f"params holds {unexpected[:5]}, which {NAME} lacks; expected keys {list(PARAMS)}"
        )
    return [
        _checked_array(params[name], f"params[{name!r}]", SHAPES[name])
        for name in PARAMS
    ]


def _checked_array(value, name, shape, whose=""):
    """value as a new array of DTYPE, which must have this shape and finite entries: else an
    error naming it (name), and for a wrong shape, whose it seems to be (whose)."""
    value = _numbers(value, name).astype(DTYPE)
    if value.shape != shape:
        raise ValueError(f"{name} has shape {value.shape}, expected {shape}{whose}")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return value


def _number(value, integer=False):
    """value as a Python int (integer) or float where it is a real number: a Python or NumPy
    number, a 0-d NumPy array, a Fraction or a Decimal; else None, True and False included
    (flags).
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        return None
    if integer:
        return int(value) if isinstance(value, numbers.Integral) else None
    # a Decimal is a numbers.Number outside the tower (not Real), and real
    if not isinstance(value, numbers.Real) and (
        not isinstance(value, numbers.Number) or isinstance(value, numbers.Complex)
    ):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond the floats
        return math.inf if value > 0 else -math.inf
    except ValueError:  # a signalling NaN (Decimal("sNaN"))
        return math.nan


def _check_seed(seed):
    number = _number(seed, integer=True)
    if number is None or number < 0:
        raise ValueError(f"seed must be an integer ≥ 0, got {seed!r}")
    return number


def _carried(carried, values, rng):
    """The optimiser's state and the update count that a previous train call left in carried
    (its state dict), checked against this network and its optimiser (OPTIMIZER); rng takes
    the random state it left. An entry from another network or optimiser, or from none, is an
    error naming it."""
    missing = [key for key in ("optimizer", "k", "rng") if key not in carried]
    if missing:
        raise KeyError(
            f"state lacks {missing}: give an empty dict to start afresh, or the dict a "
            "previous train call filled"
        )
    fresh, given = _initial_state(values), carried["optimizer"]
    if not isinstance(given, (list, tuple)) or len(given) != len(fresh):
        count = (
            f"{len(given)} arrays" if isinstance(given, (list, tuple)) else repr(given)
        )
        raise ValueError(
            f"state['optimizer'] holds {count} where {OPTIMIZER} keeps {len(fresh)}: it "
            "is another network's or optimiser's state"
        )
    state = [
        _checked_array(
            value,
            f"state['optimizer'][{i}]",
            zero.shape,
            ": it is another network's state",
        )
        for i, (value, zero) in enumerate(zip(given, fresh))
    ]
    k = _number(carried["k"], integer=True)
    if k is None or k < 0:
        raise ValueError(
            f"state['k'] (the updates so far) must be an integer ≥ 0, got {carried['k']!r}"
        )
    try:
        rng.bit_generator.state = carried["rng"]
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(
            f"state['rng'] is not the random state a train call left: {error}"
        ) from None
    return state, k


def _masks(rng, n, dtype=None):
    """A dropout mask of n rows for each of DROPOUT, drawn from rng in order: inverted
    dropout (Srivastava et al., JMLR 15, 2014) keeps an entry with probability 1 − rate and
    scales it by 1/(1 − rate), so each entry is 0 or 1/(1 − rate) and its mean 1."""
    dtype = DTYPE if dtype is None else dtype
    return [
        (rng.random((n, width)) >= rate) * np.asarray(1 / (1 - rate), dtype)
        for _, rate, width in DROPOUT
    ]


def _mode(training, seed, n, dtype=None):
    """What puts _loss and _step in training or inference mode: the dropout masks (drawn
    from seed in training, none in inference) and the keyword that chooses batch or running
    statistics (where a BatchNorm needs it)."""
    if not isinstance(training, bool):
        raise TypeError(f"training must be True or False, got {training!r}")
    seed = _check_seed(seed)
    masks = _masks(np.random.default_rng(seed), n, dtype) if training else []
    return masks, ({"training": training} if BATCHNORM else {})


def _finite(value, what, data=None, gradients=False):
    """value, after checking it is finite. Where it is not, the error says why: given data
    (parameter arrays, X, T, weights), the sample whose loss (or, with gradients, whose
    gradient) the network's finite outputs leave undefined (_undefined_at), if one is; else
    the computation overflowed on X."""
    if np.all(np.isfinite(value)):
        return value
    found = None if data is None else _undefined_at(*data, gradients=gradients)
    if found is not None:
        raise ValueError(_undefined_message(what, *found, data[2]))
    raise ValueError(
        f"{what} is not finite (nan or inf): X holds values too large for these parameters "
        "(the computation overflows); scale the inputs"
    )


def _undefined_at(values, X, T, weights=1.0, gradients=False):
    """(n, outputs) for the first sample n whose loss (with gradients: or gradient) at
    parameter arrays values is not finite while the network's outputs for it are: the loss
    is then undefined at its outputs and targets (sqrt(t) at t < 0), which no scaling of X
    mends. Found by halving the samples (in inference: a sample's loss is its own); None
    where there is no such sample."""

    def finite(start, stop):
        rows = slice(start, stop)
        w = weights if isinstance(weights, float) else weights[rows]
        mode = {"training": False} if BATCHNORM else {}
        if gradients:
            L, _, *found = _step(*values, X[rows], T[rows], 1.0, True, w, **mode)
        else:
            L, found = _loss(*values, X[rows], T[rows], w, **mode)[0], ()
        return all(np.all(np.isfinite(value)) for value in (L, *found))

    start, stop = 0, X.shape[0]
    if finite(start, stop):
        return None
    while stop - start > 1:
        middle = (start + stop) // 2
        if finite(start, middle):
            start = middle
        else:
            stop = middle
    outputs = _forward(*values, X[start:stop])[-1][0]
    if finite(start, stop) or not np.all(np.isfinite(outputs)):
        return None
    return start, outputs


def _undefined_message(what, n, outputs, T):
    """Why what is not finite where the loss is undefined at sample n (_undefined_at)."""
    shown = {"precision": 4, "threshold": 8, "edgeitems": 3}
    return (
        f"{what} is not finite (nan or inf): at sample {n} the network's outputs are finite, "
        f"{np.array2string(np.asarray(outputs), **shown)}, but the loss or its gradient is "
        f"not at them and the targets T[{n}] = {np.array2string(np.asarray(T[n]), **shown)}: "
        f"the loss is undefined there (or overflows). Its targets may hold "
        f"{TARGET_DOMAIN['description']}: check its formula at such targets, or declare "
        "the targets it takes (Loss(..., targets=...))"
    )


def _check_inputs(X, name="X"):
    X = _numbers(X, name).astype(DTYPE, copy=False)
    if X.ndim != 2 or X.shape[1] != SIZES[0]:
        # the last words as scikit-learn words them, which its tools look for
        if X.ndim == 2 and X.shape[1] == 0:
            raise ValueError(
                f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required: "
                f"{name} must have shape (N, {SIZES[0]})"
            )
        words = (
            f": {name} has {X.shape[1]} feature(s), but {NAME} is expecting {SIZES[0]} "
            "features as input"
            if X.ndim == 2
            else ""
        )
        raise ValueError(
            f"{name} must have shape (N, {SIZES[0]}), got {X.shape}{words}"
        )
    # (entry by entry: row sums by a product with ones took a third of the time on a large X,
    # but OpenBLAS's threads spin after a product, and the PyTorch or JAX epoch that follows
    # ran half as fast again)
    if not np.isfinite(X).all():
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return X


def _check_flags(**flags):
    """Each flag True or False (or 1, 0): a string such as 'no' would act as True."""
    for name, value in flags.items():
        whole = isinstance(value, (bool, int, np.bool_, np.integer))
        if not (whole and value in (0, 1)):
            raise TypeError(f"{name} must be True or False, got {value!r}")


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
    """The numeric settings as Python numbers (epochs, batch_size, lr, validation_split,
    early_stopping, seed), once each is checked; an error names the first that is wrong.
    """
    seed = _check_seed(seed)
    counts = []
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        number = _number(value, integer=True)
        if number is None or number < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
        counts.append(number)
    rate = _number(lr)
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    split = _number(validation_split)
    if split is None or not 0 <= split < 1:
        raise ValueError(
            f"validation_split must be a fraction in [0, 1), got {validation_split!r}"
        )
    patience = early_stopping
    if early_stopping is not None:
        patience = _number(early_stopping, integer=True)
        if patience is None or patience < 1:
            raise ValueError(
                "early_stopping must be a patience in epochs (a positive integer) or None, "
                f"got {early_stopping!r}"
            )
    hooks = (
        "on_train_begin",
        "on_epoch_begin",
        "on_batch_end",
        "on_epoch_end",
        "on_train_end",
    )
    if not isinstance(callbacks, (tuple, list)) or not all(
        callable(callback) or any(hasattr(callback, hook) for hook in hooks)
        for callback in callbacks
    ):
        raise TypeError(
            "callbacks must be a sequence of functions callback(epoch, logs) or objects "
            f"with Keras' hooks ({', '.join(hooks)}), got {callbacks!r}"
        )
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(
            "verbose must be 0 (silent), 1 (a progress bar, where output shows one) or "
            f"2 (a line per epoch), got {verbose!r}"
        )
    if (
        isinstance(metrics, str)
        or not isinstance(metrics, (tuple, list))
        or not set(metrics) <= set(METRICS)
    ):
        raise ValueError(
            f"metrics must be a sequence of names from {METRICS} (() for none), got {metrics!r}"
        )
    return (*counts, rate, split, patience, seed)


def _validation(X, T, weights, validation_data, validation_split):
    """Training and validation sets with their weights (as _check_weights makes them):
    validation_data as given, or the last validation_split of the samples (taken before
    shuffling, as Keras does)."""
    if validation_data is not None:
        if validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if not isinstance(validation_data, (tuple, list)) or len(
            validation_data
        ) not in (
            2,
            3,
        ):
            raise ValueError(
                "validation_data must be a pair (X_val, T_val) or a triple (X_val, T_val, sample_weight_val)"
            )
        X_val, T_val = _check_data(
            *validation_data[:2], names=("validation_data[0]", "validation_data[1]")
        )
        weights_val = _check_weights(
            (*validation_data, None)[2], X_val.shape[0], "validation_data[2]"
        )
        return X, T, weights, X_val, T_val, weights_val
    if not validation_split:
        return X, T, weights, None, None, 1.0
    split = int(X.shape[0] * (1 - validation_split))
    if split < 1 or split == X.shape[0]:
        raise ValueError(
            f"validation_split={validation_split} of {X.shape[0]} samples leaves no training or no validation samples"
        )
    if np.ndim(weights) == 0:
        return X[:split], T[:split], weights, X[split:], T[split:], weights
    return (
        X[:split],
        T[:split],
        _check_weights(weights[:split, 0], split, "sample_weight (training part)"),
        X[split:],
        T[split:],
        _check_weights(
            weights[split:, 0], X.shape[0] - split, "sample_weight (validation part)"
        ),
    )


def _snapshot(values):
    """The parameters by name, each a copy, for a callback's logs: one that keeps them keeps
    them as they were when it ran, on every target (training goes on updating its own arrays,
    in place where its library allows)."""
    return {name: np.array(value) for name, value in zip(PARAMS, values)}


def _metric(value):
    """A metric for the progress line: 4 decimals, or 4 significant digits with an exponent
    where those would hide it (a diverging loss is 1.2346e+200, not 200 digits)."""
    value = float(value)
    if value == 0 or not np.isfinite(value) or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4f}"
    return f"{value:.4e}"


def _progress(epoch, epochs, logs, elapsed):
    left = elapsed / epoch * (epochs - epoch)
    return " - ".join(
        [f"Epoch {epoch:>{len(str(epochs))}}/{epochs}"]
        + [f"{key}: {_metric(value)}" for key, value in logs.items()]
        + [f"{elapsed:.1f}s elapsed, {left:.1f}s left"]
    )


def _check_data(X, T, names=("X", "T")):
    """Inputs and targets checked, targets by the loss's domain (TARGET_DOMAIN): integer
    labels become one-hot rows."""
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
        labels = TASK == "multiclass" and T.shape == (X.shape[0],)
        raise ValueError(
            f"{name} must have shape ({X.shape[0]}, {SIZES[-1]}), got {T.shape}"
            + (
                f": one row of the {SIZES[-1]} classes' probabilities per sample; class "
                f"labels become one-hot rows as np.eye({SIZES[-1]})[labels] (Model.fit "
                "takes labels as they are)"
                if labels
                else ""
            )
        )
    # nan and ±inf show in the least and largest target (min and max propagate nan), which
    # the domain's bounds are checked against: two passes over T, no temporary arrays
    least, largest = T.min(), T.max()
    if not (np.isfinite(least) and np.isfinite(largest)):
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    low, high, allowed = (TARGET_DOMAIN[key] for key in ("low", "high", "values"))
    if (
        (low is not None and least < low)
        or (high is not None and largest > high)
        or (allowed and not np.all(np.isin(T, allowed)))
    ):
        raise ValueError(f"{name} must hold {TARGET_DOMAIN['description']}")
    if TARGETS_SUM_TO_ONE:
        # δ_y was simplified by Σ_k t_k = 1: rows within 2e-5 of 1 are accepted and scaled to
        # sum to 1, so that the loss and its gradient are exact for the targets used
        # (Σ_k as a product with ones: NumPy reduces along short rows more slowly)
        sums = T @ np.ones((T.shape[1], 1), T.dtype)
        if not (np.abs(sums - 1) <= 2e-5).all():
            raise ValueError(
                f"each row of {name} must sum to 1 (one-hot or class probabilities)"
            )
        if not (sums == 1).all():
            T = T / sums
    return X, T


def _largest(Y, xp=np):
    """Each row's largest entry's index, the first of equals (PyTorch: by torch.max along the
    rows, a quarter of the cost of its argmax on short rows)."""
    if xp.__name__ == "torch":
        return Y.max(axis=1).indices
    return xp.argmax(Y, axis=1)


def _hits(Y, T, xp=np, predicted=None):
    """Whether each sample is right, by the task (TASK): the largest output is the target class
    (multiclass; an N × 1 column), the output is on the target's side of 0.5 (binary) or of 0
    (sign). xp: the array library (JAX counts inside its compiled epoch, PyTorch on DEVICE).
    predicted: each row's largest output's index where the step has it already (a softmax's
    largest logit), or None."""
    if TASK == "multiclass":
        predicted = _largest(Y, xp) if predicted is None else predicted
        return (predicted == _largest(T, xp))[:, None]
    if TASK == "binary":
        return (Y > 0.5) == (T > 0.5)
    if TASK == "sign":
        return (Y > 0) == (T > 0)
    raise TypeError(f"{NAME} is a regression network: it has no accuracy")


def _right(Y, T, weights=1.0, xp=np, predicted=None):
    """Σ_n of each sample's weight (an N × 1 column, or 1.0 for all) times its share of right
    outputs (_hits): the samples classified right, by weight. xp, predicted as in _hits.
    """
    hits = _hits(Y, T, xp, predicted)
    if isinstance(weights, float):  # every sample alike: a count, no product per sample
        # in float64 (PyTorch would make count × 1.0 in its default dtype, float32)
        return xp.sum(hits, dtype=xp.float64) * weights / hits.shape[1]
    return xp.sum(hits * weights) / hits.shape[1]


def _accuracy(Y, T, weights=1.0):
    """Fraction correct (_right over the samples; weights of mean 1, or 1.0)."""
    return float(_right(Y, T, weights) / Y.shape[0])


def _evaluate(values, X, T, weights=1.0):
    """The metrics of parameter arrays ``values`` on X, T: the loss, and the accuracy of a
    classifier (samples weighted by weights, as in _loss)."""
    L, Y = _loss(*values, X, T, weights)
    if TASK == "regression":
        return {"loss": L}
    return {"loss": L, "accuracy": _accuracy(Y, T, weights)}


def _check_weights(sample_weight, n, name="sample_weight"):
    """Per-sample weights as _loss takes them: an n × 1 column scaled to mean 1 (the loss is
    Σ_n w_n ℓ_n / Σ_n w_n, as scikit-learn weighs samples), or 1.0 for None."""
    if sample_weight is None:
        return 1.0
    weights = _numbers(sample_weight, name).astype(np.float64, copy=False)
    if weights.ndim == 0:
        weights = np.full(n, weights)
    if weights.shape != (n,):
        raise ValueError(
            f"{name} must hold one weight per sample, shape ({n},), got {weights.shape}"
        )
    if not np.isfinite(weights).all() or np.any(weights < 0):
        raise ValueError(f"{name} must hold finite weights ≥ 0")
    if not np.any(weights > 0):
        raise ValueError(
            f"{name}: every weight is zero: a mean weighted by them is undefined"
        )
    # in float64, divided by the largest first: the sum can neither overflow (weights near
    # the largest float) nor round to zero (subnormal weights)
    weights = weights / weights.max()
    return (weights * (n / weights.sum())).astype(DTYPE)[:, None]


def save(params, path, classes=None):
    """Write params to the .npz file `path` (".npz" appended if missing), atomically, tagged with
    this network's architecture so that `load` can refuse another network's file; and the
    class labels a Model was fitted on, if given (numbers or strings). Returns the path.
    """
    values = _check_params(params)
    extra = {}
    if classes is not None:
        extra["__classes__"] = np.asarray(np.asarray(classes).tolist())
        if extra["__classes__"].dtype.kind not in "biufUS":
            raise TypeError(
                "save stores class labels that are numbers or strings, got "
                f"{np.asarray(classes).dtype} labels"
            )
    path = os.fsdecode(os.fspath(path))
    if os.path.isdir(path):  # not path + ".npz" beside it
        raise IsADirectoryError(
            f"cannot save to {path!r}: it is a folder; give a file's path, such as "
            f"{os.path.join(path, 'params.npz')!r}"
        )
    if not path.endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot save to {path!r}: it is a folder")
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"cannot save to {path!r}: the folder {folder!r} does not exist"
        )
    handle, temporary = tempfile.mkstemp(prefix=".params.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(
                file,
                __network__=np.array(NAME),
                __architecture__=np.array(ARCHITECTURE),
                **extra,
                **dict(zip(PARAMS, values)),
            )
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def load(path):
    """Parameters saved by `save` for this network (same architecture), keyed like PARAMS."""
    return _read(path)[0]


def _read(path):
    """(the parameters, the class labels or None) of a file written by save: at path, or at
    path + ".npz" where path is not a file (save appends it, so the path given to save finds
    its file)."""
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.fsdecode(os.fspath(path))
        if not os.path.exists(path) and os.path.isfile(path + ".npz"):
            path += ".npz"
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        # NumPy takes bytes it does not know for a pickle, and says how to load one: a
        # parameter file never is one, and an unknown file is not to be unpickled
        why = "it is not an .npz archive" if "pickle" in str(error) else error
        raise ValueError(
            f"{os.fspath(path)!r} is not a parameter file written by save(): {why}"
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
        found = {name: data[name] for name in data.files if not name.startswith("__")}
        classes = data["__classes__"] if "__classes__" in data.files else None
        return dict(zip(PARAMS, _check_params(found))), classes


class Text(str):
    """Text that a notebook or the REPL shows as it reads: lines, not a quoted string."""

    def __repr__(self):
        return str(self)

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))


def summary():
    """The layers with their output shapes and parameter counts, as Keras' model.summary()
    (a str that a notebook shows as lines); for a graph, what each layer takes its inputs
    from too."""
    graph = any(sources for *_, sources in SUMMARY)
    rows = [("Layer (type)", "Output Shape", "Param #", "Activation")]
    if graph:
        rows[0] += ("Connected to",)
    for layer, width, names, note, sources in SUMMARY:
        count = sum(int(np.prod(SHAPES[name])) for name in names)
        row = (layer, f"(None, {width})", str(count), note)
        rows.append(row + ((", ".join(sources) or "-",) if graph else ()))
    widths = [max(len(row[i]) for row in rows) + 4 for i in range(len(rows[0]) - 1)]
    lines = [
        "".join(cell.ljust(width) for cell, width in zip(row, widths)) + row[-1]
        for row in rows
    ]
    rule = max(len(line) for line in lines)
    total = sum(int(np.prod(shape)) for shape in SHAPES.values())
    trained = sum(int(np.prod(SHAPES[name])) for name in TRAINED)
    body = [item for line in lines[1:] for item in (line, "_" * rule)][:-1]
    return Text(
        "\n".join(
            [f'Model: "{NAME}"', "_" * rule, lines[0], "=" * rule, *body, "=" * rule]
            + [
                f"Total params: {total}",
                f"Trainable params: {trained}",
                f"Non-trainable params: {total - trained}",
            ]
        )
    )


def _differences(values, value, X, T, step, masks=(), mode=None):
    """∂L/∂value by central differences of _loss with ``step``, value one of the parameter
    arrays ``values`` (each entry moved and put back in place), through the dropout masks,
    in the mode given (training=…)."""
    mode = mode or {}
    numeric = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        original = value[index]
        with np.errstate(all="ignore"):
            value[index] = original + step
            plus = _loss(*values, X, T, 1.0, *masks, **mode)[0]
            value[index] = original - step
            minus = _loss(*values, X, T, 1.0, *masks, **mode)[0]
        value[index] = original
        numeric[index] = (plus - minus) / (2 * step)
    return numeric


@_own_error_handling
def check_gradients(params, X, T, eps=1e-6, names=TRAINED):
    """Largest relative error ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖) over the parameter
    arrays named in `names`, the numeric gradient taken by central differences of `loss`, in
    float64 whatever DTYPE is. Rounding in the differences grows as the step shrinks, and a tiny
    gradient (a deep sigmoid network's lower layers) can drown in it at `eps`: an array off by
    more than 1e-8 there is differenced again at 10·eps and 100·eps (where truncation grows
    instead) and its smallest error counts, so that a right gradient agrees at one of the steps
    and a wrong one at none. A gradient that is 0 (a bias before a BatchNorm, whose mean
    removes it) agrees where both gradients lie below the rounding of the differences (64 ulp
    of the loss over the step); at the longest step, only the part of a disagreement beyond
    that rounding counts (a 20-layer sigmoid chain's middle layers have gradients of 1e-7
    against a loss of 2: what differences cannot resolve is no evidence either way). The
    layers in STRAIGHT_THROUGH (if any) use a straight-through gradient (a surrogate, not the
    true derivative of their step), so parameters below them are expected to differ here. So
    do the parameters of a unit whose input lies exactly on a kink (ReLU's 0, which zero
    biases reach where every unit below is inactive): the derived gradient takes one side
    there (0 for ReLU, as PyTorch does) and central differences the mean of both. Dropout and
    batch normalisation are checked in training mode, with one fixed draw of the dropout masks
    (seed 0) in both gradients and batch statistics. The running statistics of a BatchNorm are
    not trained and have no gradient (TRAINED lists the parameters that do)."""
    if isinstance(names, str) or not isinstance(names, (tuple, list)):
        raise TypeError(
            f"names must be a sequence of parameter names from TRAINED, got {names!r}"
        )
    unknown = [name for name in names if name not in TRAINED]
    if unknown:
        raise KeyError(
            f"no trained parameters named {unknown}; TRAINED is {list(TRAINED)}"
        )
    number = _number(eps)
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"eps must be a positive finite step, got {eps!r}")
    eps = number
    X, T = (array.astype(np.float64) for array in _check_data(X, T))
    values = [value.astype(np.float64) for value in _check_params(params)]
    masks, mode = _mode(True, 0, X.shape[0], np.float64)
    with np.errstate(all="ignore"):
        found = _step(*values, X, T, 1.0, True, 1.0, *masks, **mode)
        analytic = dict(zip(TRAINED, found[2:]))
    # what rounding leaves in a difference of two losses near this one (64 ulp), per step
    rounding = 64 * np.finfo(np.float64).eps * max(1.0, abs(found[0]))
    worst = 0.0
    for name, value in zip(PARAMS, values):
        if name not in names:
            continue
        if not np.isfinite(analytic[name]).all():
            return float("inf")  # a gradient that is not a number agrees with nothing
        errors = []
        for step in (eps, 10 * eps, 100 * eps):
            numeric = _differences(values, value, X, T, step, masks, mode)
            if not np.isfinite(numeric).all():
                if step == eps:
                    return float("inf")
                break  # a longer step left the loss's domain
            sizes = np.linalg.norm(analytic[name]), np.linalg.norm(numeric)
            scale = sum(sizes)
            difference = np.linalg.norm(analytic[name] - numeric)
            error = difference / scale if scale else 0.0
            # what rounding alone can put in the differences of this array at this step
            noise = rounding / step * np.sqrt(value.size)
            if max(sizes) <= noise:
                error = 0.0  # both zero as far as differences can tell
            errors.append(float(error))
            if step == 100 * eps:
                # the longest step, the least rounding: only what exceeds it counts
                errors.append(float(max(difference - noise, 0.0) / scale))
            if error <= 1e-8:
                break
        worst = max(worst, min(errors))
    return worst


@_own_error_handling
def forward(params, X):
    """The network's outputs for inputs X of shape (N, SIZES[0])."""
    return _finite(_forward(*_check_params(params), _check_inputs(X))[-1], "the output")


@_own_error_handling
def loss(params, X, T, sample_weight=None, training=False, seed=0):
    """Mean loss over the batch (with sample_weight, Σ_n w_n ℓ_n / Σ_n w_n); training=True
    applies dropout (DROPOUT, if any) with masks drawn from seed, as train does, and
    normalises by the batch's statistics (BATCHNORM, if any) instead of the running ones.
    """
    X, T = _check_data(X, T)
    weights = _check_weights(sample_weight, X.shape[0])
    masks, mode = _mode(training, seed, X.shape[0])
    values = _check_params(params)
    found = _loss(*values, X, T, weights, *masks, **mode)
    return _finite(found[0], "the loss", (values, X, T, weights))


@_own_error_handling
def gradients(params, X, T, sample_weight=None, training=False, seed=0):
    """Gradient of `loss` (with the same training and seed) with respect to every trained
    parameter, keyed like TRAINED."""
    X, T = _check_data(X, T)
    weights = _check_weights(sample_weight, X.shape[0])
    masks, mode = _mode(training, seed, X.shape[0])
    values = _check_params(params)
    found = _step(*values, X, T, 1.0, True, weights, *masks, **mode)[2:]
    return {
        name: _finite(value, f"the gradient of {name}", (values, X, T, weights), True)
        for name, value in zip(TRAINED, found)
    }


@_own_error_handling
def evaluate(params, X, T, sample_weight=None):
    """{"loss": mean loss, and for a classifier "accuracy": fraction correct} of params on
    X, T (each sample counted by its sample_weight, if given)."""
    X, T = _check_data(X, T)
    weights = _check_weights(sample_weight, X.shape[0])
    values = _check_params(params)
    metrics = _evaluate(values, X, T, weights)
    _finite(metrics["loss"], "the loss", (values, X, T, weights))
    return metrics


@_own_error_handling
def predict(params, X):
    """By the task (TASK): class labels, the index of the largest output (multiclass);
    labels 0 or 1 per output, whether it exceeds 0.5 (binary); -1 or 1 per output, its sign
    (sign); the outputs themselves (regression)."""
    Y = forward(params, X)
    if TASK == "multiclass":
        return np.argmax(Y, axis=1)
    if TASK == "binary":
        return (Y > 0.5).astype(np.int64)
    if TASK == "sign":
        return np.where(Y > 0, 1, -1)
    return Y


@_own_error_handling
def predict_proba(params, X):
    """Class probabilities: one row per sample, summing to 1 (multiclass); the probability of
    class 1 for each output (binary). A network whose outputs are not probabilities
    (PROBABILITIES: say, sigmoid outputs of a multiclass task) has none."""
    if not PROBABILITIES:
        raise TypeError(
            f"{NAME} is a {TASK} network whose outputs are not class probabilities"
        )
    return forward(params, X)


def _layer_norms(arrays, names=PARAMS):
    """The Euclidean norm of each layer's arrays together (``arrays`` keyed like names,
    the norms like LAYERS' names)."""
    found = dict(zip(names, arrays))
    return {
        layer: float(np.sqrt(sum(np.sum(found[name] ** 2) for name in names)))
        for layer, _, _, names in LAYERS
    }


def _diagnostics(values, before, X, T, weights):
    """Per layer: grad_norm_<layer>, the norm of the gradient of the training loss at the
    epoch's parameters (as gradients() computes it), and update_ratio_<layer>, the norm of
    the epoch's change of the layer's parameters over their norm before it."""
    grads = _step(*values, X, T, 1.0, False, weights)[2:]
    changes = _layer_norms([value - old for value, old in zip(values, before)])
    sizes = _layer_norms(before)
    logs = {
        f"grad_norm_{layer}": norm
        for layer, norm in _layer_norms(grads, TRAINED).items()
    }
    for layer, change in changes.items():
        size = sizes[layer]
        ratio = change / size if size > 0 else (np.inf if change > 0 else 0.0)
        logs[f"update_ratio_{layer}"] = float(ratio)
    return logs


def _interactive():
    """Whether output shows a line rewritten in place: a terminal, or a Jupyter kernel's
    stream (its sys.stdout is ipykernel's; having imported ipykernel is not enough)."""
    isatty = getattr(sys.stdout, "isatty", None)
    kernel = type(sys.stdout).__module__.startswith("ipykernel")
    return bool(isatty and isatty()) or kernel


def _bar(epoch, epochs, done, total, logs, elapsed, width=30):
    """The progress bar of an epoch under way, as Keras draws it:
    ``Epoch 3/10 - 12/56 [=====>........] - loss: 0.1234 - 0.3s``."""
    filled = width * done // total
    arrow = "=" * filled + (">" if filled < width else "")
    return " - ".join(
        [
            f"Epoch {epoch:>{len(str(epochs))}}/{epochs}",
            f"{done:>{len(str(total))}}/{total} [{arrow.ljust(width, '.')}]",
        ]
        + [f"{key}: {_metric(value)}" for key, value in logs.items()]
        + [f"{elapsed:.1f}s"]
    )


@_own_error_handling
def train(
    params,
    X,
    T,
    *,
    epochs,
    batch_size,
    lr=None,
    shuffle=True,
    seed=0,
    validation_data=None,
    validation_split=0.0,
    early_stopping=None,
    restore_best=True,
    callbacks=(),
    verbose=1,
    metrics=METRICS,
    state=None,
    sample_weight=None,
    diagnostics=False,
):
    """Mini-batch training with the network's optimiser (OPTIMIZER); returns (trained params,
    history).

    history holds one value per epoch of each of metrics (METRICS; () skips their work): the
    mean over the epoch's batches (before each update), and val_… of each of METRICS on the
    validation data (validation_data=(X_val, T_val) or (X_val, T_val, weights), or the last
    validation_split of X, T). sample_weight weighs each sample's loss (the loss is
    Σ_n w_n ℓ_n / Σ_n w_n; integer weights equal repeating samples). diagnostics=True adds,
    per layer of LAYERS and per epoch, grad_norm_<layer> (the norm of the training loss's
    gradient at the epoch's parameters) and update_ratio_<layer> (the epoch's change of the
    layer's parameters over their norm): gradients that vanish in the lower layers show there.
    lr replaces the optimiser's rate (LR). early_stopping=p stops once val_loss has not
    improved for p epochs, and with restore_best the parameters of the best epoch are returned.

    Each callback(epoch, logs) runs after an epoch; returning True stops training. A callback
    may instead be an object with Keras' hooks on_train_begin(logs), on_epoch_begin(epoch,
    logs), on_batch_end(batch, logs), on_epoch_end(epoch, logs) and on_train_end(logs) (any
    of them): logs["params"] holds a copy of the current parameters (kept, it stays as it
    was; changing it changes nothing), and on_batch_end's logs the batch's
    "size", "loss" and "gradients" (at the parameters before its update); setting its
    stop_training stops after the epoch. verbose=1 shows a progress bar rewritten in place
    during each epoch where output is a terminal or a notebook, and a line per epoch (all
    that verbose=2 prints, and all that reaches a file); 0 is silent. If the loss stops being
    finite, training stops with a warning and the last finite epoch's parameters; where it
    is not finite at the parameters given, for a sample whose outputs are (the loss is
    undefined at its targets), with an error naming the sample.

    The optimiser's state (and the update count and the shuffling's random state) starts
    afresh, unless state is a dict: it is read when it holds a previous call's state and
    updated at the end, so that training resumes where it stopped — two calls of 5 epochs
    equal one of 10, bit for bit.
    """
    lr = LR if lr is None else lr
    epochs, batch_size, lr, validation_split, early_stopping, seed = _check_training(
        epochs,
        batch_size,
        lr,
        validation_split,
        early_stopping,
        callbacks,
        verbose,
        metrics,
        seed,
    )
    _check_flags(shuffle=shuffle, restore_best=restore_best, diagnostics=diagnostics)
    given = X, T
    X, T = _checked_data(X, T)
    weights = _check_weights(sample_weight, X.shape[0])
    X, T, weights, X_val, T_val, weights_val = _validation(
        X, T, weights, validation_data, validation_split
    )
    if early_stopping is not None and X_val is None:
        raise ValueError(
            "early_stopping watches val_loss: give validation_data=(X_val, T_val) or validation_split"
        )
    # fresh copies (see _check_params), updated in place by _epoch
    values = _check_params(params)
    carried = state if isinstance(state, dict) else None
    if state is not None and carried is None:
        raise TypeError(f"state must be a dict (empty at first), got {state!r}")
    rng = np.random.default_rng(seed)
    if carried:
        state, k = _carried(carried, values, rng)
    else:
        state, k = _initial_state(values), 0  # k: updates so far
    metrics = tuple(metrics)
    validated = tuple(f"val_{key}" for key in METRICS if X_val is not None)
    history = {key: [] for key in metrics + validated}
    # the parameters after the last finite epoch
    last = [value.copy() for value in values]
    best_epoch, best_loss, best = 0, np.inf, last
    started = time.perf_counter()
    hooked = [c for c in callbacks if not callable(c)]
    batches = -(-X.shape[0] // batch_size)
    bar = verbose == 1 and _interactive()
    shown = [0, 0.0]  # the bar's length on screen, when it was drawn

    def hook(name, *arguments):
        for callback in hooked:
            if hasattr(callback, name):
                getattr(callback, name)(*arguments)

    def on_batch(size, L, scale, current, grads):
        """After each update: the batch hooks, and the bar at most 10 times a second."""
        progress["batch"] += 1
        progress["samples"] += size
        if L is not None:
            progress["loss"] += L * size
        if watching:
            logs = {"size": size, "loss": L, "params": _snapshot(current)}
            logs["gradients"] = {
                name: grad / scale for name, grad in zip(TRAINED, grads)
            }
            hook("on_batch_end", progress["batch"] - 1, logs)
        now = time.perf_counter()
        if bar and now - shown[1] >= 0.1 and progress["batch"] < batches:
            running = (
                {"loss": progress["loss"] / progress["samples"]}
                if L is not None
                else {}
            )
            line = _bar(
                epoch, epochs, progress["batch"], batches, running, now - started
            )
            print("\r" + line.ljust(shown[0]), end="", flush=True)
            shown[:] = [len(line), now]

    watching = any(hasattr(c, "on_batch_end") for c in hooked)
    # the training data where the module's library computes, for every epoch (X or T
    # given as the library's arrays, and kept as they are by the checks, stay where they are)
    data = _on_device(X, T, weights, given)
    if hooked:  # (a copy of the parameters for each hook's logs)
        hook("on_train_begin", {"params": _snapshot(values)})
    for epoch in range(1, epochs + 1):
        if hooked:
            hook("on_epoch_begin", epoch, {"params": _snapshot(values)})
        progress = {"batch": 0, "samples": 0, "loss": 0.0}
        # a permutation per epoch, applied where the module computes (one gather)
        order = rng.permutation(X.shape[0]) if shuffle else None
        # the epoch's dropout masks, a row per sample in the order the batches take them
        masks = _masks(rng, X.shape[0]) if DROPOUT else ()
        # a diverging run overflows on its way to inf or nan: that is caught below
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            values, state, k, total = _epoch(
                values,
                state,
                *data,
                order,
                batch_size,
                lr,
                k,
                metrics,
                on_batch if bar or watching else None,
                masks,
            )
        L = total["loss"] / X.shape[0] if "loss" in total else None
        lost = L is not None and not np.isfinite(L)
        if lost or not all(np.all(np.isfinite(value)) for value in values):
            # not the rate's doing where the loss is undefined at the parameters given
            found = _undefined_at(last, X, T, weights) if epoch == 1 else None
            if found is not None:
                what = "training cannot start: the loss at the parameters given"
                raise ValueError(_undefined_message(what, *found, T))
            values = last
            cause = (
                f"the loss became {L}"
                if lost
                else "the parameters stopped being finite"
            )
            message = (
                f"training diverged in epoch {epoch}: {cause} with learning rate {lr}; "
                f"returning the parameters after epoch {epoch - 1}. Try a smaller lr."
            )
            if shown[0]:
                print("\r" + " " * shown[0] + "\r", end="", flush=True)
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            break
        logs = {key: value / X.shape[0] for key, value in total.items()}
        if X_val is not None:
            logs.update(
                (f"val_{key}", value)
                for key, value in _evaluate(values, X_val, T_val, weights_val).items()
            )
        if verbose:
            line = _progress(epoch, epochs, logs, time.perf_counter() - started)
            print("\r" * bool(shown[0]) + line.ljust(shown[0]), flush=True)
            shown[0] = 0
        if diagnostics:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                logs.update(_diagnostics(values, last, X, T, weights))
        last = [value.copy() for value in values]
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        stop = False
        for callback in callbacks:
            if callable(callback):
                stop = bool(callback(epoch, dict(logs))) or stop
            elif hasattr(callback, "on_epoch_end"):
                callback.on_epoch_end(epoch, {**logs, "params": _snapshot(values)})
            stop = bool(getattr(callback, "stop_training", False)) or stop
        if early_stopping is not None:
            if logs["val_loss"] < best_loss:
                best_epoch, best_loss, best = epoch, logs["val_loss"], last
            elif epoch - best_epoch >= early_stopping:
                if verbose:
                    print(
                        f"Early stopping: val_loss has not improved for {early_stopping} "
                        f"epochs since epoch {best_epoch}"
                    )
                stop = True
        if stop:
            break
    if early_stopping is not None and restore_best and best_epoch:
        values = best
        if verbose:
            print(
                f"Restored the parameters of epoch {best_epoch} (val_loss {best_loss:.4f})"
            )
    if carried is not None:
        carried.update(
            optimizer=[np.array(value) for value in state],
            k=k,
            rng=rng.bit_generator.state,
        )
    hook("on_train_end", {**{key: h[-1] for key, h in history.items() if h}})
    return dict(zip(PARAMS, values)), history


class _Requests(dict):
    """The metadata a Model's methods ask for; scikit-learn's clone copies it."""

    def __sklearn_clone__(self):
        return _Requests(self)


class NotFittedError(ValueError, AttributeError):
    """A Model used before fit (both a ValueError and an AttributeError, as scikit-learn's)."""


class Model:
    """The network as a scikit-learn estimator (a classifier or a regressor by TASK):
    `Model(epochs=100).fit(X, y)`, then `predict`, `predict_proba` (classifiers with
    probabilities), `score`, `evaluate`, `save`; `Model.load(path)`. It works in scikit-learn's
    `cross_val_score`, `GridSearchCV` and pipelines.

    A classifier takes class labels of any kind (one per sample: `classes_` holds them sorted,
    output k stands for `classes_[k]`, and `predict` returns labels) or the network's own
    targets (one-hot rows, 0/1 per output). fit() starts from init_params(seed) and trains
    with the settings given here; the trained parameters are `params_`, the per-epoch metrics
    `history_`, the number of input features `n_features_in_`.
    """

    def __init__(
        self,
        *,
        epochs=200,
        batch_size=32,
        lr=None,
        shuffle=True,
        seed=0,
        validation_split=0.0,
        early_stopping=None,
        restore_best=True,
        verbose=0,
        warm_start=False,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.shuffle = shuffle
        self.seed = seed
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.restore_best = restore_best
        self.verbose = verbose
        self.warm_start = warm_start

    _SETTINGS = (
        "epochs",
        "batch_size",
        "lr",
        "shuffle",
        "seed",
        "validation_split",
        "early_stopping",
        "restore_best",
        "verbose",
        "warm_start",
    )

    def __reduce_ex__(self, protocol):
        """Pickled by reference to this module where it can be imported by name (a file),
        and with the module's source where symbackprop built it in memory (_REBUILD)."""
        rebuild = globals().get("_REBUILD")
        if rebuild is None:
            return object.__reduce_ex__(self, protocol)
        return rebuild(self)

    def get_params(self, deep=True):
        """The settings given to __init__ (for scikit-learn's clone and grid search)."""
        return {name: getattr(self, name) for name in self._SETTINGS}

    def set_params(self, **settings):
        """Change settings given to __init__; returns self."""
        for name, value in settings.items():
            if name not in self._SETTINGS:
                raise ValueError(
                    f"Model has no setting {name!r}; settings are {list(self._SETTINGS)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self):
        settings = ", ".join(
            f"{key}={value!r}" for key, value in self.get_params().items()
        )
        return f"{NAME}.Model({settings})"

    def __sklearn_tags__(self):
        """What scikit-learn reads of this estimator (called by scikit-learn only, so it is
        installed whenever this runs)."""
        from sklearn.utils import (
            ClassifierTags,
            InputTags,
            RegressorTags,
            Tags,
            TargetTags,
        )

        classifier = TASK != "regression"
        return Tags(
            estimator_type="classifier" if classifier else "regressor",
            target_tags=TargetTags(
                required=True,
                one_d_labels=classifier,
                multi_output=SIZES[-1] > 1 and TASK != "multiclass",
                single_output=SIZES[-1] == 1 or TASK == "multiclass",
            ),
            input_tags=InputTags(),
            classifier_tags=(
                ClassifierTags(multi_class=TASK == "multiclass") if classifier else None
            ),
            regressor_tags=None if classifier else RegressorTags(),
        )

    def __sklearn_is_fitted__(self):
        return getattr(self, "params_", None) is not None

    def _request(self, method, sample_weight):
        """Record whether `method` asks for sample_weight under scikit-learn's metadata
        routing (True, False, or None: not said); returns self."""
        if sample_weight not in (True, False, None):
            raise ValueError(
                f"sample_weight must be True, False or None, got {sample_weight!r}"
            )
        requests = getattr(self, "_metadata_request", None) or _Requests()
        requests[method] = sample_weight
        self._metadata_request = requests
        return self

    def set_fit_request(self, *, sample_weight=None):
        """Whether fit takes sample_weight when scikit-learn routes metadata."""
        return self._request("fit", sample_weight)

    def set_partial_fit_request(self, *, sample_weight=None):
        """Whether partial_fit takes sample_weight when scikit-learn routes metadata."""
        return self._request("partial_fit", sample_weight)

    def set_score_request(self, *, sample_weight=None):
        """Whether score takes sample_weight when scikit-learn routes metadata."""
        return self._request("score", sample_weight)

    def get_metadata_routing(self):
        """What each method asks for, as scikit-learn's metadata routing reads it (called by
        scikit-learn only)."""
        from sklearn.utils.metadata_routing import MetadataRequest

        routing = MetadataRequest(owner=type(self).__name__)
        requests = getattr(self, "_metadata_request", None) or {}
        for method in ("fit", "partial_fit", "score"):
            getattr(routing, method).add_request(
                param="sample_weight", alias=requests.get(method)
            )
        return routing

    def _targets(self, y, fitting, X=None):
        """The network's targets for y (as many as X has samples, where given). A
        classifier's labels (one per sample, of any kind, in a row or a column) are encoded —
        one-hot rows, 0/1 or −1/+1 for a single output, indices for integer-label losses — and
        `classes_` set when fitting; targets in the network's own form pass as given (one-hot
        rows, 0/1 or ±1 per output)."""
        if y is None:
            raise ValueError(
                f"{NAME}.Model requires y to be passed, but the target y is None"
            )
        array = np.asarray(_unmasked(y, "y"))
        if X is not None:
            _same_samples(X, array)
        classifier = TASK != "regression"
        one_per_sample = TASK == "multiclass" or SIZES[-1] == 1
        if classifier and one_per_sample and array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]  # a column of labels, which scikit-learn takes too
        if not classifier or not (
            (array.ndim == 1 and one_per_sample) or TARGETS == "labels"
        ):
            if fitting and not classifier:
                # a 1-D y of one output per sample: predict answers as y came, 1-D
                self._flat = array.ndim == 1 and SIZES[-1] == 1
            if fitting and classifier:
                self.classes_ = {
                    "multiclass": np.arange(SIZES[-1]),
                    "binary": np.array([0, 1]),
                    "sign": np.array([-1, 1]),
                }[TASK]
            return y
        if array.dtype.kind == "f" and not np.all(array == np.round(array)):
            raise ValueError(
                "Unknown label type: continuous. A classifier is fitted on class labels, "
                f"got values such as {array[array != np.round(array)][:3]}"
            )
        if fitting:
            try:
                self.classes_ = np.unique(array)
            except TypeError:  # labels that have no order among them
                kinds = sorted({type(label).__name__ for label in array.ravel()})
                raise ValueError(
                    f"y mixes labels of the types {', '.join(kinds)}, which cannot be "
                    "sorted into classes; give labels of one type"
                ) from None
            width = SIZES[-1] if TASK == "multiclass" else 2
            if len(self.classes_) != width:
                raise ValueError(
                    f"y holds {len(self.classes_)} classes, but {NAME} tells apart "
                    f"exactly {width} (its output layer has {SIZES[-1]} units)"
                )
        unknown = ~np.isin(array, self.classes_)
        if np.any(unknown):
            raise ValueError(
                f"y holds labels the model was not fitted on: {array[unknown][:5]}"
            )
        index = np.searchsorted(self.classes_, array)
        if TARGETS == "labels":
            return index
        if TASK == "multiclass":
            return np.eye(SIZES[-1], dtype=DTYPE)[index]
        last = (array == self.classes_[-1]).astype(DTYPE)[:, None]
        return 2 * last - 1 if TASK == "sign" else last

    def _encoded(self):
        """Whether predict answers in `classes_` (one label per sample) rather than in the
        network's own outputs (several binary or ±1 outputs)."""
        return hasattr(self, "classes_") and (TASK == "multiclass" or SIZES[-1] == 1)

    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        validation_data=None,
        callbacks=(),
        diagnostics=False,
    ):
        """Train from init_params(seed) — or, with warm_start, on from the fitted parameters
        and the optimiser's state — for `epochs`; returns self. sample_weight weighs each
        sample's loss; validation_data, callbacks and diagnostics are train's."""
        _numbers(X, "X")  # a sparse or complex X is refused before y is read
        _check_flags(warm_start=self.warm_start)
        resume = self.warm_start and self.__sklearn_is_fitted__()
        T = self._targets(y, fitting=not resume, X=X)
        return self._train(
            X,
            T,
            self.epochs,
            resume,
            validation_data=validation_data,
            callbacks=callbacks,
            sample_weight=sample_weight,
            diagnostics=diagnostics,
        )

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over X, y, on from where the last fit or partial_fit stopped (the first
        call starts from init_params(seed); `classes` names every label that will come).
        """
        _numbers(X, "X")
        resume = self.__sklearn_is_fitted__()
        if not resume and classes is not None:
            self._targets(np.asarray(classes), fitting=True)
            T = self._targets(y, fitting=False, X=X)
        else:
            T = self._targets(y, fitting=not resume, X=X)
        return self._train(X, T, 1, resume, sample_weight=sample_weight)

    def _train(self, X, T, epochs, resume, validation_data=None, **settings):
        if validation_data is not None:
            X_val, y_val, *weights = validation_data
            T_val = self._targets(y_val, fitting=False, X=X_val)
            validation_data = (X_val, T_val, *weights)
        if not resume:
            self._state, self.n_iter_, self.loss_curve_ = {}, 0, []
            self.validation_scores_ = None
        settings = {**self.get_params(), **settings, "epochs": epochs}
        del settings["warm_start"]
        start = self.params_ if resume else init_params(self.seed)
        self.params_, self.history_ = train(
            start,
            X,
            T,
            validation_data=validation_data,
            state=self._state,
            **settings,
        )
        self.n_iter_ += len(self.history_["loss"])
        self.loss_curve_ = self.loss_curve_ + list(self.history_["loss"])
        if "val_accuracy" in self.history_:
            scores = self.validation_scores_ or []
            self.validation_scores_ = scores + list(self.history_["val_accuracy"])
        self.n_features_in_ = SIZES[0]
        return self

    def _fitted(self):
        if getattr(self, "params_", None) is None:
            # scikit-learn's own error where scikit-learn is in use (it is one of ours too)
            sklearn = sys.modules.get("sklearn.exceptions")
            error = getattr(sklearn, "NotFittedError", NotFittedError)
            raise error(
                "this Model is not fitted yet: call fit(X, y) or Model.load(path)"
            )
        return self.params_

    def predict(self, X):
        """As predict(params, X) with the fitted parameters; a classifier fitted on labels
        returns labels (`classes_`), a regressor fitted on a 1-D y a 1-D array."""
        found = predict(self._fitted(), X)
        if getattr(self, "_flat", False):
            return found.ravel()
        if not self._encoded():
            return found
        if TASK == "multiclass":
            return self.classes_[found]
        return self.classes_[(found.ravel() > 0).astype(np.int64)]

    if PROBABILITIES:

        def predict_proba(self, X):
            """Class probabilities, one row per sample (multiclass); for a single binary
            output, the columns [1 - p, p] as scikit-learn lays them out; for several
            binary outputs, the probability of 1 per output."""
            p = predict_proba(self._fitted(), X)
            if TASK == "binary" and p.shape[1] == 1:
                return np.hstack([1 - p, p])
            return p

    def score(self, X, T, sample_weight=None):
        """Accuracy on X, T for a classifier; for regression R², the coefficient of
        determination, averaged over the outputs (as scikit-learn); each sample counted by
        its sample_weight, if given."""
        if TASK != "regression":
            if np.ndim(T) == 1 and self._encoded():
                hits = self.predict(X) == _same_samples(X, np.asarray(T))
                weights = _check_weights(sample_weight, hits.shape[0])
                return float(np.mean(hits[:, None] * weights))
            return self.evaluate(X, T, sample_weight)["accuracy"]
        X, T = _check_data(X, T)
        weights = _check_weights(sample_weight, X.shape[0])
        mean = np.mean(T * weights, axis=0)
        residual = np.sum((T - forward(self._fitted(), X)) ** 2 * weights, axis=0)
        spread = np.sum((T - mean) ** 2 * weights, axis=0)
        return float(np.mean(1 - residual / np.where(spread > 0, spread, 1)))

    def evaluate(self, X, T, sample_weight=None):
        """As evaluate(params, X, T, sample_weight) with the fitted parameters (labels
        encoded as in fit)."""
        params = self._fitted()
        return evaluate(params, X, self._targets(T, fitting=False, X=X), sample_weight)

    def save(self, path):
        """Save the fitted parameters and the class labels (see save); returns the path."""
        return save(self._fitted(), path, getattr(self, "classes_", None))

    @classmethod
    def load(cls, path, **settings):
        """A Model holding the parameters (and class labels) saved at `path`, with the given
        settings; it predicts as the Model that saved them."""
        model = cls(**settings)
        model.params_, classes = _read(path)
        if classes is not None:
            model.classes_ = classes
        model.n_features_in_ = SIZES[0]
        return model

    @staticmethod
    def summary():
        """See summary()."""
        return summary()


#: what a module copies, in order
FUNCTIONS = (
    _own_error_handling,
    _unmasked,
    _numbers,
    _same_samples,
    _check_params,
    _checked_array,
    _number,
    _check_seed,
    _carried,
    _check_flags,
    _masks,
    _mode,
    _finite,
    _undefined_at,
    _undefined_message,
    _check_inputs,
    _check_data,
    _largest,
    _hits,
    _right,
    _accuracy,
    _evaluate,
    _check_weights,
    _check_training,
    _validation,
    _snapshot,
    _metric,
    _progress,
    _layer_norms,
    _diagnostics,
    _interactive,
    _bar,
    forward,
    loss,
    gradients,
    evaluate,
    predict,
    predict_proba,
    train,
    _Requests,
    NotFittedError,
    Model,
    save,
    load,
    _read,
    Text,
    summary,
    _differences,
    check_gradients,
)


@functools.cache
def source() -> str:
    """The source of ``FUNCTIONS``, for a generated module (black-formatted, as this file is;
    read once per process)."""
    return "\n\n".join(inspect.getsource(fn) for fn in FUNCTIONS).rstrip("\n")


__all__ = ["FUNCTIONS", "source"]
