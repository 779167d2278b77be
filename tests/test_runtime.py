"""The network-independent runtime (symbackprop/runtime.py), tested as plain Python: the
functions every generated module copies verbatim, on the stand-in 2-3-1 network the file
declares."""

import inspect
import re
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.emit import runtime
from symbackprop.spec.targets import DOMAINS


def test_every_module_carries_the_runtime_verbatim():
    source = sb.generate(
        sb.Network("carrier", 2, [sb.Dense(3, "tanh"), sb.Dense(1, "sigmoid")], "mse")
    )
    for function in runtime.FUNCTIONS:
        assert inspect.getsource(function) in source, function.__name__


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ([[1, 2], [3]], ValueError, "x must be a rectangular array of numbers"),
        (["a", "b"], TypeError, "x must hold real numbers, got an array of dtype <U1"),
        ([1 + 2j], ValueError, "Complex data not supported.*complex128"),
        ({"a": 1}, TypeError, "x must hold real numbers: float.. argument must be"),
        (
            np.array([[1, "b"]], dtype=object),
            ValueError,
            "x must hold real numbers: could not convert string",
        ),
    ],
)
def test_numbers_name_what_is_not_an_array_of_numbers(value, error, words):
    with pytest.raises(error, match=words):
        runtime._numbers(value, "x")


def test_numbers_take_the_values_of_a_tensor_that_tracks_gradients():
    import torch

    values = np.arange(6.0).reshape(2, 3)
    tensor = torch.tensor(values, requires_grad=True)
    np.testing.assert_array_equal(runtime._numbers(tensor, "x"), values)
    assert tensor.requires_grad  # the caller's tensor is left as it was


@pytest.mark.parametrize(
    "make",
    [
        lambda values: __import__("torch")
        .tensor(values)
        .to(__import__("torch").bfloat16),
        lambda values: __import__("torch")
        .tensor(values)
        .to(__import__("torch").float16),
        lambda values: __import__("torch")
        .tensor(values)
        .to(__import__("torch").float8_e4m3fn),
        lambda values: __import__("jax.numpy").numpy.asarray(values, dtype="bfloat16"),
        lambda values: np.asarray(values).astype(__import__("ml_dtypes").float8_e5m2),
    ],
    ids=[
        "torch bfloat16",
        "torch float16",
        "torch float8",
        "jax bfloat16",
        "ml_dtypes float8",
    ],
)
def test_numbers_take_the_values_of_number_types_numpy_lacks(make):
    """bfloat16 and float8, from PyTorch or as JAX gives them (ml_dtypes): their values, exactly
    (these are representable in each), as a NumPy float array."""
    values = np.array([[0.5, -2.0, 1.5], [0.0, 3.0, -0.25]])
    array = runtime._numbers(make(values), "x")
    assert array.dtype.kind == "f"
    np.testing.assert_array_equal(array, values)


def test_numbers_refuse_raw_bytes_naming_them():
    with pytest.raises(
        TypeError, match=r"x must hold real numbers, got an array of dtype \|V8"
    ):
        runtime._numbers(np.zeros(3, "V8"), "x")
    structured = np.zeros(2, [("a", float), ("b", float)])
    with pytest.raises(
        TypeError, match="x must hold real numbers, got an array of dtype"
    ):
        runtime._numbers(structured, "x")


def test_masked_values_are_refused_not_read_as_data():
    """np.asarray reads a masked array's values under the mask as data: a mask that hides
    any value is refused, naming the argument; a mask that hides none loses nothing."""
    data = np.arange(6.0).reshape(2, 3)
    hidden = np.ma.masked_array(data, mask=[[0, 1, 0], [0, 0, 1]])
    with pytest.raises(
        ValueError, match=r"X has 2 masked values: fill them \(X.filled"
    ):
        runtime._numbers(hidden, "X")
    for unhidden in (np.ma.masked_array(data), np.ma.masked_array(data, mask=False)):
        np.testing.assert_array_equal(runtime._numbers(unhidden, "X"), data)
    labels = np.ma.masked_array(["a", "b", "a"], mask=[0, 1, 0])
    module = sb.build(
        sb.Network("masked", 3, [sb.Dense(2, "softmax")], "categorical_crossentropy")
    )
    with pytest.raises(ValueError, match=r"y has 1 masked values"):
        module.Model(epochs=1, verbose=0).fit(data[[0, 1, 0]], labels)


def _params(**changes):
    params = {name: np.zeros(shape) for name, shape in runtime.SHAPES.items()}
    return {**params, **changes}


def test_params_come_back_in_order_and_in_dtype(monkeypatch):
    monkeypatch.setattr(runtime, "DTYPE", np.float32)
    values = runtime._check_params(_params(W1=np.ones((3, 2), dtype=int)))
    assert [v.shape for v in values] == [runtime.SHAPES[n] for n in runtime.PARAMS]
    assert all(v.dtype == np.float32 for v in values)
    assert values[0].sum() == 6


@pytest.mark.parametrize(
    ("params", "error", "words"),
    [
        ([1, 2], TypeError, r"params must be a dict of arrays keyed \['W1'"),
        ({"W1": np.zeros((3, 2))}, KeyError, r"params lacks \['b1', 'W2', 'b2'\]"),
        (_params(b1=np.zeros(4)), ValueError, r"params\['b1'\] has shape \(4,\)"),
        (
            _params(W2=np.full((1, 3), np.nan)),
            ValueError,
            r"params\['W2'\] holds non-finite",
        ),
        (_params(b2=["x"]), TypeError, r"params\['b2'\] must hold real numbers"),
        (
            _params(W3=np.zeros((1, 1))),  # a deeper network's: not taken in part
            KeyError,
            r"params holds \['W3'\], which .* lacks; expected keys \['W1'",
        ),
    ],
)
def test_bad_params_are_named(params, error, words):
    with pytest.raises(error, match=words):
        runtime._check_params(params)


@pytest.mark.parametrize(
    "flag", ["shuffle", "restore_best", "diagnostics", "warm_start"]
)
def test_a_flag_is_true_or_false_never_a_truthy_string(flag):
    """shuffle='no' would shuffle: a flag given as anything but True/False (1/0) is refused,
    naming it, in train and in Model."""
    module = sb.build(
        sb.Network("flags", 2, [sb.Dense(2, "softmax")], "categorical_crossentropy")
    )
    X, labels = np.eye(2), np.array([0, 1])
    for value in ("no", "False", None, 2, [True]):
        with pytest.raises(
            TypeError, match=re.escape(f"{flag} must be True or False, got {value!r}")
        ):
            if flag == "warm_start":
                module.Model(epochs=1, warm_start=value).fit(X, labels)
            else:
                module.train(
                    module.init_params(),
                    X,
                    np.eye(2),
                    epochs=1,
                    batch_size=2,
                    **{flag: value},
                )
    for value in (True, False, 1, 0, np.True_):
        runtime._check_flags(**{flag: value})


@pytest.mark.parametrize("seed", [True, -1, 1.5, "3", None])
def test_a_seed_is_a_nonnegative_integer(seed):
    with pytest.raises(ValueError, match="seed must be an integer ≥ 0"):
        runtime._check_seed(seed)


def test_numpy_integer_seeds_are_plain_ints():
    assert (
        runtime._check_seed(np.int64(3)) == 3
        and type(runtime._check_seed(np.int64(3))) is int
    )


def test_inputs_are_checked_by_shape_and_value():
    assert runtime._check_inputs([[1, 2]]).dtype == runtime.DTYPE
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\), got \(2,\)"):
        runtime._check_inputs([1, 2])
    with pytest.raises(ValueError, match="X_val holds non-finite"):
        runtime._check_inputs([[np.inf, 0]], "X_val")
    with pytest.raises(ValueError, match="the output is not finite"):
        runtime._finite(np.array([np.nan]), "the output")


GOOD = {
    "epochs": 1,
    "batch_size": 2,
    "lr": 0.1,
    "validation_split": 0.0,
    "early_stopping": None,
    "callbacks": (),
    "verbose": 0,
    "metrics": ("loss",),
    "seed": 0,
}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("epochs", 0),
        ("epochs", True),
        ("batch_size", 2.0),
        ("lr", -1.0),
        ("lr", np.inf),
        ("validation_split", 1.0),
        ("early_stopping", 0),
        ("callbacks", print),
        ("verbose", 3),
        ("metrics", "loss"),
        ("metrics", ("accuracy",)),
        ("seed", -2),
    ],
)
def test_each_bad_training_setting_is_named(name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        runtime._check_training(**{**GOOD, name: value})
    runtime._check_training(**GOOD)


def test_settings_of_any_real_number_type_are_taken_as_python_numbers():
    """NumPy scalars, 0-d arrays, fractions and decimals are numbers: np.float32(0.25) was
    refused as "validation_split must be a fraction in [0, 1), got np.float32(0.25)", and
    Decimal("0.1") as "lr must be a positive finite number". An integer setting takes
    integers alone (Decimal(3) is refused, as 3.0 is)."""
    found = runtime._check_training(
        **{
            **GOOD,
            "epochs": np.array(3),
            "batch_size": np.int32(4),
            "lr": Fraction(1, 8),
            "validation_split": np.float32(0.25),
            "early_stopping": np.int64(2),
            "seed": np.uint64(2**63),
        }
    )
    assert found == (3, 4, 0.125, 0.25, 2, 2**63)
    assert [type(value) for value in found] == [int, int, float, float, int, int]
    assert runtime._check_training(**GOOD)[4] is None
    assert runtime._check_training(**{**GOOD, "lr": Decimal("0.1")})[2] == 0.1
    for name, value in (
        ("lr", 10**400),
        ("lr", Decimal("sNaN")),
        ("lr", Decimal("-Infinity")),
        ("lr", 1j),
        ("epochs", Decimal(3)),
        ("lr", np.array([0.1])),
        ("lr", np.True_),
        ("epochs", np.array(2.0)),
        ("validation_split", np.float32("nan")),
    ):
        with pytest.raises(ValueError, match=name):
            runtime._check_training(**{**GOOD, name: value})


def test_the_validation_split_takes_the_last_samples():
    X, T = np.arange(20.0).reshape(10, 2), np.arange(10.0)[:, None]
    X_train, T_train, w, X_val, T_val, w_val = runtime._validation(X, T, 1.0, None, 0.3)
    assert T_train[-1, 0] == 6.0 and w == w_val == 1.0
    assert X_train.shape == (7, 2) and X_val[0, 0] == 14.0 and T_val.shape == (3, 1)
    assert runtime._validation(X, T, 1.0, None, 0.0)[3:] == (None, None, 1.0)
    with pytest.raises(ValueError, match="leaves no training or no validation samples"):
        runtime._validation(X[:1], T[:1], 1.0, None, 0.5)
    with pytest.raises(ValueError, match="not both"):
        runtime._validation(X, T, 1.0, (X, T), 0.5)
    with pytest.raises(ValueError, match="must be a pair"):
        runtime._validation(X, T, 1.0, (X,), 0.0)


def test_weights_are_split_with_their_samples_and_each_part_scaled_to_mean_one():
    X, T = np.arange(20.0).reshape(10, 2), np.arange(10.0)[:, None]
    weights = runtime._check_weights(np.arange(1.0, 11.0), 10)
    _, _, w, _, _, w_val = runtime._validation(X, T, weights, None, 0.3)
    np.testing.assert_allclose(w[:, 0], np.arange(1.0, 8.0) / 4)
    np.testing.assert_allclose(w_val[:, 0], np.arange(8.0, 11.0) / 9)
    given = runtime._validation(X, T, 1.0, (X[:2], T[:2], [1, 3]), 0.0)[5]
    np.testing.assert_allclose(given[:, 0], [0.5, 1.5])


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, 2.0], r"one weight per sample, shape \(3,\), got \(2,\)"),
        ([[1.0, 2.0, 3.0]], r"one weight per sample"),
        ([1.0, -1.0, 1.0], "finite weights ≥ 0"),
        ([1.0, np.nan, 1.0], "finite weights ≥ 0"),
        ([0, 0, 0], "every weight is zero"),
        (["a", "b", "c"], "sample_weight"),
    ],
)
def test_bad_sample_weights_are_named(weights, message):
    with pytest.raises((ValueError, TypeError), match=message):
        runtime._check_weights(weights, 3)
    assert runtime._check_weights(None, 3) == 1.0
    np.testing.assert_array_equal(runtime._check_weights(2, 3), np.ones((3, 1)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1.0, 1e308, 1e40, 1e-300, 1e-40, 5e-324])
def test_weights_alike_are_no_weights_at_any_scale(monkeypatch, dtype, scale):
    """Equal weights, however large or small (near the largest float, beyond float32's
    range, subnormal), weigh every sample alike; unequal ones keep their ratios."""
    monkeypatch.setattr(runtime, "DTYPE", dtype)
    alike = runtime._check_weights(np.full(6, scale), 6)
    assert alike.dtype == dtype
    np.testing.assert_array_equal(alike, np.ones((6, 1)))
    if scale > 1e-300:  # ratios of normal floats (a subnormal scale has few digits)
        given = np.array([1.0, 2, 3, 0, 2, 4]) / 4 * scale
        found = runtime._check_weights(given, 6)[:, 0]
        np.testing.assert_allclose(found, [0.5, 1, 1.5, 0, 1, 2], rtol=1e-6)


def test_the_progress_line_aligns_epochs_and_estimates_the_rest():
    line = runtime._progress(5, 10, {"loss": 0.25}, 2.0)
    assert line == "Epoch  5/10 - loss: 0.2500 - 2.0s elapsed, 2.0s left"


def test_the_progress_line_writes_a_diverging_loss_in_a_few_digits():
    logs = {
        "loss": 1.2345678e200,
        "val_loss": float("inf"),
        "tiny": 2.5e-7,
        "nan": np.nan,
    }
    line = runtime._progress(1, 3, logs, 1.0)
    assert "loss: 1.2346e+200" in line and "val_loss: inf" in line
    assert "tiny: 2.5000e-07" in line and "nan: nan" in line and len(line) < 120


def _domain(monkeypatch, name):
    """Make the stand-in's targets those of domain ``name``, as a module's would be."""
    monkeypatch.setattr(runtime, "TARGETS", name)
    monkeypatch.setattr(runtime, "TARGET_DOMAIN", DOMAINS[name].constants())


def test_the_stand_in_checks_targets_as_a_module_of_its_domain_does():
    assert runtime.TARGET_DOMAIN == DOMAINS[runtime.TARGETS].constants()


@pytest.mark.parametrize("name", sorted(set(DOMAINS) - {"labels"}))
def test_targets_pass_exactly_when_their_domain_contains_them(monkeypatch, name):
    _domain(monkeypatch, name)
    rng = np.random.default_rng(7)
    candidates = [
        *(DOMAINS[name].sample(rng, 3, 1) for _ in range(5)),
        *(np.array([[v]]) for v in (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 3.0)),
    ]
    for T in candidates:
        inside = DOMAINS[name].contains(T)
        try:
            runtime._check_data(np.zeros((T.shape[0], 2)), T)
        except ValueError as error:
            assert not inside and DOMAINS[name].description in str(error), T
        else:
            assert inside, T


@pytest.mark.parametrize(
    ("targets", "T", "words"),
    [
        ("probability", [[1.5]], r"T must hold values in \[0, 1\]"),
        ("nonnegative", [[-0.5]], "T must hold values ≥ 0"),
        ("sign", [[0.5]], "T must hold values -1 or 1"),
        ("real", [[np.nan]], "T holds non-finite values"),
        ("real", [[1.0, 2.0]], r"T must have shape \(1, 1\), got \(1, 2\)"),
    ],
)
def test_targets_outside_their_domain_are_named(monkeypatch, targets, T, words):
    _domain(monkeypatch, targets)
    with pytest.raises(ValueError, match=words):
        runtime._check_data([[0.0, 0.0]], T)


def test_targets_inside_their_domain_pass_as_columns_of_dtype(monkeypatch):
    for targets, T in (("probability", [1.0]), ("nonnegative", [7.0]), ("sign", [-1])):
        _domain(monkeypatch, targets)
        _, checked = runtime._check_data([[0.0, 0.0]], T)
        assert checked.shape == (1, 1) and checked.dtype == runtime.DTYPE
    with pytest.raises(ValueError, match="X holds no samples"):
        runtime._check_data(np.zeros((0, 2)), np.zeros((0, 1)))


def test_labels_become_one_hot_rows_and_bad_labels_are_named(monkeypatch):
    _domain(monkeypatch, "labels")
    monkeypatch.setattr(runtime, "SIZES", (2, 3))
    _, T = runtime._check_data([[0.0, 0.0], [1.0, 1.0]], [2, 0])
    assert T.tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="integer class labels 0 … 2"):
        runtime._check_data([[0.0, 0.0]], [3])
    with pytest.raises(ValueError, match="one class label per sample"):
        runtime._check_data([[0.0, 0.0]], [[1]])


def test_rows_that_must_sum_to_one_are_scaled_to_one(monkeypatch):
    _domain(monkeypatch, "probability")
    monkeypatch.setattr(runtime, "TARGETS_SUM_TO_ONE", True)
    monkeypatch.setattr(runtime, "SIZES", (2, 2))
    _, T = runtime._check_data([[0.0, 0.0]], [[0.25, 0.75 + 1e-6]])
    assert T.sum() == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(ValueError, match="each row of T must sum to 1"):
        runtime._check_data([[0.0, 0.0]], [[0.25, 0.5]])


@pytest.mark.parametrize(
    ("task", "Y", "T", "expected"),
    [
        ("multiclass", [[0.1, 0.9], [0.8, 0.2]], [[0, 1], [0, 1]], 0.5),
        ("binary", [[0.7], [0.2], [0.6]], [[1], [0], [0]], 2 / 3),
        ("sign", [[0.3], [-2.0]], [[1], [1]], 0.5),
    ],
)
def test_accuracy_by_task(monkeypatch, task, Y, T, expected):
    monkeypatch.setattr(runtime, "TASK", task)
    assert runtime._accuracy(np.array(Y), np.array(T)) == pytest.approx(expected)


def test_a_regression_network_has_no_accuracy_and_evaluates_its_loss_alone():
    with pytest.raises(TypeError, match="stand_in is a regression network"):
        runtime._accuracy(np.zeros((1, 1)), np.zeros((1, 1)))
    values = runtime._check_params(_params())
    assert runtime._evaluate(values, np.zeros((2, 2)), np.ones((2, 1))) == {"loss": 1.0}


def test_save_and_load_round_trip_and_refuse_other_files(tmp_path, monkeypatch):
    params = _params(W1=np.arange(6.0).reshape(3, 2))
    path = runtime.save(params, tmp_path / "weights")
    assert path.endswith("weights.npz") and sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["weights.npz"]
    np.testing.assert_array_equal(runtime.load(path)["W1"], params["W1"])
    np.save(tmp_path / "one.npy", np.zeros(2))
    with pytest.raises(ValueError, match="holds one array, not an .npz archive"):
        runtime.load(tmp_path / "one.npy")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="is not a parameter file written by save"):
        runtime.load(tmp_path / "text.npz")
    monkeypatch.setattr(runtime, "ARCHITECTURE", "inputs 2 → Dense(4, relu)")
    with pytest.raises(ValueError, match="holds parameters of network 'stand_in'"):
        runtime.load(path)


def test_summary_counts_parameters_as_keras_does():
    text = runtime.summary()
    assert text.splitlines()[0] == 'Model: "stand_in"'
    assert "dense_1 (Dense)" in text and "(None, 3)" in text
    assert "Total params: 13" in text  # 3·2 + 3 + 1·3 + 1
    # a notebook and the REPL show it as lines, not as a quoted string with \n
    assert isinstance(text, str) and repr(text) == str(text)
    shown = []
    text._repr_pretty_(
        type("Printer", (), {"text": lambda self, s: shown.append(s)})(), False
    )
    assert shown == [str(text)]


# --- the fit loop and Model, around the stand-in pass (parameters × (1 − lr) per batch) -------


def _data(samples=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(samples, 2)), rng.normal(size=(samples, 1))


def test_train_runs_a_pass_per_epoch_and_records_its_metrics():
    X, T = _data()
    start = _params(W1=np.ones((3, 2)))
    trained, history = runtime.train(
        start, X, T, epochs=3, batch_size=4, lr=0.5, verbose=0
    )
    # 3 batches per epoch (4 + 4 + 2 samples), 9 in all
    np.testing.assert_allclose(trained["W1"], 0.5**9)
    np.testing.assert_array_equal(start["W1"], 1.0)
    assert list(history) == ["loss"] and len(history["loss"]) == 3
    _, bare = runtime.train(start, X, T, epochs=2, batch_size=4, verbose=0, metrics=())
    assert bare == {}


def test_train_reports_validation_metrics_and_stops_early_at_the_best_epoch(capsys):
    X, T = _data(20)
    start = _params(W1=np.ones((3, 2)))
    # 1 − 1e-300 is 1: nothing changes, so val_loss never improves after the first epoch
    trained, history = runtime.train(
        start,
        X,
        T,
        epochs=50,
        batch_size=5,
        lr=1e-300,
        validation_split=0.25,
        early_stopping=2,
        verbose=1,
    )
    assert set(history) == {"loss", "val_loss"} and len(history["val_loss"]) == 3
    out = capsys.readouterr().out
    assert "Early stopping: val_loss has not improved for 2 epochs since epoch 1" in out
    assert "Restored the parameters of epoch 1" in out
    np.testing.assert_array_equal(trained["W1"], 1.0)


def test_a_callback_that_returns_true_stops_training_and_sees_the_logs():
    X, T = _data()
    seen = []
    _, history = runtime.train(
        _params(),
        X,
        T,
        epochs=10,
        batch_size=5,
        verbose=0,
        callbacks=[lambda epoch, logs: seen.append((epoch, logs)) or epoch == 2],
    )
    assert [epoch for epoch, _ in seen] == [1, 2] and len(history["loss"]) == 2
    assert seen[0][1] == {"loss": history["loss"][0]}


def test_divergence_returns_the_last_finite_epoch_with_a_warning():
    X, T = _data()
    start = _params(W1=np.ones((3, 2)))
    with pytest.warns(RuntimeWarning, match="training diverged in epoch 1"):
        trained, _ = runtime.train(
            start, X, T, epochs=5, batch_size=5, lr=1e300, verbose=0, metrics=()
        )
    np.testing.assert_array_equal(trained["W1"], 1.0)


def test_the_first_sample_whose_loss_is_undefined_is_found_by_halving():
    """_undefined_at names the first sample whose loss is not finite while the network's
    outputs for it are (here a target nan, past the checks), in log₂ N passes; none where
    the outputs are not finite themselves or the loss is finite."""
    X, T = _data(37)
    values = runtime._check_params(init := runtime.init_params(0))
    assert runtime._undefined_at(values, X, T) is None
    T[[23, 30]] = np.nan
    n, outputs = runtime._undefined_at(values, X, T)
    assert n == 23
    np.testing.assert_array_equal(outputs, runtime.forward(init, X[23:24])[0])
    values[2][:] = np.inf  # the outputs are not finite: not the loss's doing
    # (as a module's public functions call it: NumPy's warnings off, _finite says why)
    with np.errstate(all="ignore"):
        assert runtime._undefined_at(values, X, T) is None


def test_early_stopping_needs_validation_data():
    X, T = _data()
    with pytest.raises(ValueError, match="early_stopping watches val_loss"):
        runtime.train(_params(), X, T, epochs=1, batch_size=2, early_stopping=1)


def test_model_settings_round_trip_and_name_unknown_ones():
    model = runtime.Model(epochs=3, lr=0.1)
    assert model.get_params()["epochs"] == 3
    assert repr(model).startswith("stand_in.Model(epochs=3, batch_size=32, lr=0.1")
    assert model.set_params(seed=4) is model and model.seed == 4
    with pytest.raises(ValueError, match="Model has no setting 'rate'"):
        model.set_params(rate=0.1)
    # a ValueError and an AttributeError, as scikit-learn's NotFittedError (which it is,
    # where scikit-learn is loaded)
    with pytest.raises(ValueError, match="this Model is not fitted yet"):
        model.predict(np.zeros((1, 2)))
    with pytest.raises(AttributeError, match="this Model is not fitted yet"):
        model.predict(np.zeros((1, 2)))


def test_a_regression_model_scores_r2_and_has_no_probabilities():
    X, T = _data(12)
    model = runtime.Model(epochs=1, batch_size=4, lr=1e-300).fit(X, T)
    predicted = model.predict(X)
    residual = ((T - predicted) ** 2).sum()
    spread = ((T - T.mean()) ** 2).sum()
    assert model.score(X, T) == pytest.approx(1 - residual / spread)
    assert not hasattr(model, "predict_proba")
    assert model.evaluate(X, T) == runtime.evaluate(model.params_, X, T)


def test_the_runtime_is_copied_black_formatted_as_it_stands():
    """Modules append the runtime without formatting it again (most of a module's black
    time): it must be black's own output already."""
    import black

    text = runtime.source() + "\n"
    assert black.format_str(text, mode=black.Mode()) == text


def test_the_bar_is_drawn_only_where_a_line_can_be_rewritten(monkeypatch):
    """A terminal or a Jupyter kernel's stream; not a pipe, a file or pytest's capture — even
    in a process that has imported ipykernel."""
    import io
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert not runtime._interactive()
    stream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    monkeypatch.setattr(sys, "stdout", stream())
    assert runtime._interactive()

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert runtime._interactive()
