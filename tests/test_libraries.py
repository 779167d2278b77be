"""The PyTorch and JAX targets: the same derived formulas printed for another library.

For every catalog activation, loss and optimiser: their loss and gradients equal the NumPy
module's (float64, 1e-12) and their own library's automatic differentiation of the module's
loss (1e-9); three epochs of training follow the NumPy module's trajectory; float32 stays
float32. torch and jax are in the test extra: a missing one fails here rather than skipping.
"""

import contextlib
import math
import os
import random
import re
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest
import sympy as sp
import torch

import symbackprop as sb
from symbackprop.spec.optimizers import GRAD, LR, THETA, K, hyper
from symbackprop.spec.targets import DOMAINS

from .test_gradients import ALL, OUTPUTS
from .test_training import OPTIMIZERS

LIBRARIES = ("torch", "jax")
LOSSES = sorted(sb.LOSSES)


@pytest.fixture(autouse=True)
def _jax_64_bit_types_off():
    """Each test runs as a program with JAX's default, 64-bit types off (a peer run earlier in
    the session may have turned them on for the whole process): a JAX module turns them on for
    its own work alone (test_a_jax_module_leaves_the_programs_64_bit_setting_as_it_is).
    """
    with jax.enable_x64(False):
        yield


def _run(script, environment):
    """What ``script`` prints, run by this Python in a fresh process with ``environment``
    (JAX reads its settings and devices once, as it starts)."""
    run = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.strip()


def _output_for(loss):
    """The first output activation a loss is tested with."""
    return next(act for act, name in OUTPUTS if name == loss)


def _cases():
    for i, act in enumerate(ALL):
        output, loss = OUTPUTS[(5 * i + 3) % len(OUTPUTS)]
        yield pytest.param((act,), output, loss, None, sb.SGD(0.1), id=f"hidden-{act}")
    for loss in LOSSES:
        output = _output_for(loss)
        yield pytest.param(
            ("tanh",), output, loss, None, sb.SGD(0.1), id=f"loss-{loss}"
        )
    for name, optimizer, _ in OPTIMIZERS:
        yield pytest.param(
            ("relu",),
            "softmax",
            "categorical_crossentropy",
            sb.L2(0.01),
            optimizer,
            id=f"optimizer-{name}",
        )
    # a PReLU output's loss needs its slope, which each batch changes: the epoch then sums
    # the batches' own losses, in each target
    yield pytest.param(
        ("tanh",), "prelu", "log_cosh", sb.L2(0.01), sb.Adam(0.01), id="prelu-output"
    )
    yield pytest.param(
        ("softplus", "elu"),
        "sigmoid",
        "binary_crossentropy",
        sb.L1(0.02),
        sb.Adam(0.01),
        id="L1-deep",
    )


def _network(hidden, output, loss, regularizer, optimizer, dtype="float64"):
    low = sb.LOSSES[loss].min_units
    return sb.Network(
        "lib",
        inputs=3,
        layers=[sb.Dense(4, activation=act) for act in hidden]
        + [sb.Dense(max(3, low), activation=output)],
        loss=loss,
        regularizer=regularizer,
        optimizer=optimizer,
        dtype=dtype,
    )


def _data(network, rng, samples=10):
    X = rng.normal(size=(samples, network.inputs))
    domain = DOMAINS[network.loss.targets]
    T = domain.sample(rng, samples, network.layers[-1].units)
    if network.loss.targets == "probability" and network.loss.name in (
        "categorical_crossentropy",
        "kl_divergence",
    ):
        T = np.eye(T.shape[1])[rng.integers(0, T.shape[1], samples)]
    return X, T


def _close(found, expected, tolerance):
    found, expected = np.asarray(found), np.asarray(expected)
    assert found.dtype == expected.dtype
    scale = 1 + np.abs(expected)
    assert np.all(np.abs(found - expected) <= tolerance * scale), np.max(
        np.abs(found - expected) / scale
    )


def _autodiff(module, library, values, X, T):
    """The gradient of the module's own loss function, by its library's autodiff."""
    X, T = module._check_data(X, T)  # labels one-hot, as the module trains on them
    if library == "torch":
        tensors = [torch.tensor(v, requires_grad=True) for v in values]
        L, _ = module._torch_loss(*tensors, torch.tensor(X), torch.tensor(T))
        if L.requires_grad:  # not where a straight-through output cuts every path
            L.backward()
        return [
            np.zeros_like(v) if t.grad is None else t.grad.numpy()
            for v, t in zip(values, tensors)
        ]
    with jax.enable_x64(True):  # the raw kernel, outside the module's own context
        arrays = [jax.numpy.asarray(v) for v in values]
        found = jax.grad(
            lambda ps: module._jax_loss(
                *ps, jax.numpy.asarray(X), jax.numpy.asarray(T)
            )[0]
        )(arrays)
        return [np.asarray(g) for g in found]


@pytest.mark.parametrize(
    ("hidden", "output", "loss", "regularizer", "optimizer"), list(_cases())
)
def test_library_modules_compute_what_the_numpy_module_computes(
    hidden, output, loss, regularizer, optimizer
):
    network = _network(hidden, output, loss, regularizer, optimizer)
    rng = np.random.default_rng(len(hidden) + len(loss))
    X, T = _data(network, rng)
    reference = sb.build(network)
    params = {  # zero biases behind a dead ReLU layer would sit on an output's kink
        name: value + 0.1 * rng.normal(size=value.shape)
        for name, value in reference.init_params(3).items()
    }
    expected_loss = reference.loss(params, X, T)
    expected = reference.gradients(params, X, T)
    trained, history = reference.train(params, X, T, epochs=3, batch_size=4, verbose=0)
    # every loss is summed once per epoch but a PReLU output's log_cosh, written through
    # the slope each batch changes
    split = "def _loss_sum" in sb.generate(network)
    assert split != ((output, loss) == ("prelu", "log_cosh"))
    for library in LIBRARIES:
        module = sb.build(network, target=library)
        _close(module.loss(params, X, T), expected_loss, 1e-12)
        found = module.gradients(params, X, T)
        for name in module.PARAMS:
            _close(found[name], expected[name], 1e-12)
        values = [params[name] for name in module.PARAMS]
        auto = dict(zip(module.PARAMS, _autodiff(module, library, values, X, T)))
        for name in module.EXACT_PARAMS:  # below a straight-through step, a surrogate
            _close(found[name], auto[name], 1e-9)
        steps, record = module.train(params, X, T, epochs=3, batch_size=4, verbose=0)
        for name in module.PARAMS:
            _close(steps[name], trained[name], 1e-10)
        assert record.keys() == history.keys()
        for key in history:
            _close(record[key], history[key], 1e-10)


@pytest.mark.parametrize("library", LIBRARIES)
def test_float32_stays_float32(library):
    network = _network(
        ("tanh",),
        "softmax",
        "categorical_crossentropy",
        sb.L2(0.01),
        sb.Adam(0.01),
        "float32",
    )
    module = sb.build(network, target=library)
    X, T = _data(network, np.random.default_rng(0), 12)
    params = module.init_params(0)
    assert all(v.dtype == np.float32 for v in module.gradients(params, X, T).values())
    assert module.forward(params, X).dtype == np.float32
    trained, history = module.train(params, X, T, epochs=2, batch_size=5, verbose=0)
    assert all(v.dtype == np.float32 for v in trained.values())
    assert np.all(np.isfinite(history["loss"]))
    reference = sb.build(network).train(
        params, X, T, epochs=2, batch_size=5, verbose=0
    )[0]
    for name in module.PARAMS:
        np.testing.assert_allclose(trained[name], reference[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("library", ("numpy",) + LIBRARIES)
def test_a_float32_modules_gradient_check_runs_in_float64_through_branches_of_numbers(
    library,
):
    """check_gradients runs a float32 module's formulas in float64. threshold's [Z1 > 0] and
    leaky ReLU's derivative (1 or 0.01 by the sign of A2) are branches of numbers alone, which
    the PyTorch module made 0-d tensors of TORCH_DTYPE: [Z1 > 0] came out float32 and met
    the float64 weights in a product, which torch refuses ("expected m1 and m2 to have the
    same dtype"). Each number now takes the dtype of the array its branch compares."""
    network = sb.Network(
        "steps",
        3,
        [sb.Dense(5, "threshold"), sb.Dense(4, "leaky_relu"), sb.Dense(2)],
        "mse",
        dtype="float32",
    )
    module = sb.build(network, target=library)
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    params = module.init_params(0)
    # threshold's gradient is a straight-through surrogate: the layers above it are exact
    assert module.EXACT_PARAMS == ("W2", "b2", "W3", "b3")
    assert module.check_gradients(params, X, T, names=module.EXACT_PARAMS) < 1e-8
    # training stays in float32
    trained, _ = module.train(params, X, T, epochs=1, batch_size=3, verbose=0)
    assert all(value.dtype == np.float32 for value in trained.values())


@pytest.mark.parametrize("library", LIBRARIES)
def test_batch_hooks_see_what_the_numpy_module_shows(library):
    """on_batch_end runs the batches one by one (JAX: each compiled), and changes nothing."""
    network = _network(
        ("relu",), "sigmoid", "binary_crossentropy", None, sb.RMSprop(0.01)
    )
    X, T = _data(network, np.random.default_rng(1), 11)

    class Watch:
        def __init__(self):
            self.seen = []

        def on_batch_end(self, batch, logs):
            self.seen.append((logs["size"], logs["loss"], logs["gradients"]["W1"]))

    runs = {}
    for target in ("numpy", library):
        module = sb.build(network, target=target)
        watch = Watch()
        params = module.init_params(2)
        runs[target] = (
            module.train(
                params, X, T, epochs=2, batch_size=4, verbose=0, callbacks=[watch]
            ),
            watch.seen,
        )
    (numpy_params, numpy_history), numpy_seen = runs["numpy"]
    (params, history), seen = runs[library]
    assert len(seen) == len(numpy_seen) == 6
    for (size, L, g), (size0, L0, g0) in zip(seen, numpy_seen):
        assert size == size0 and isinstance(g, np.ndarray)
        _close(L, L0, 1e-12)
        _close(g, g0, 1e-12)
    for name in params:
        _close(params[name], numpy_params[name], 1e-12)
    _close(history["loss"], numpy_history["loss"], 1e-12)


def test_an_unknown_target_is_named():
    network = _network(("tanh",), "identity", "mse", None, sb.SGD(0.1))
    with pytest.raises(
        sb.SpecError, match="target must be one of numpy, torch, jax, got 'tensorflow'"
    ):
        sb.generate(network, target="tensorflow")
    with pytest.raises(sb.SpecError, match=r"got \['jax'\]"):
        sb.build(network, target=["jax"])


@pytest.mark.parametrize("library", LIBRARIES)
def test_library_modules_pass_ruff_and_are_deterministic(library, tmp_path):
    network = _network(("gelu",), "softmax", "kl_divergence", sb.L2(0.1), sb.Adam(0.01))
    source = sb.generate(network, target=library)
    assert source == sb.generate(network, target=library)
    path = tmp_path / f"lib_{library}.py"
    path.write_text(source)
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ruff.returncode == 0, ruff.stdout
    assert ("import torch" in source) == (library == "torch")
    assert ("import jax" in source) == (library == "jax")


def _hostile_rows(rng):
    """Logits with one far lead, ties at the top, large negatives and ordinary rows."""
    Z = rng.normal(size=(40, 4)) * rng.choice([1e-3, 1, 30, 700], size=(40, 1))
    Z[::5, 0] += 800  # one output at 1 to every digit
    Z[1::5, :2] = Z[1::5, 2:3]  # ties at a row's top
    Z[2::5] -= 1e4
    return Z


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_softmax_output_is_the_numpy_modules_on_hostile_rows(library):
    """The softmax output, its loss and δ_y as each library's module computes them (PyTorch's
    fused torch.softmax, JAX through the parts) against the NumPy module's, rows as below.
    """
    network = sb.Network(
        "rows", 4, [sb.Dense(4, "softmax")], "categorical_crossentropy"
    )
    params = {"W1": np.eye(4), "b1": np.zeros(4)}
    rng = np.random.default_rng(11)
    Z = _hostile_rows(rng)
    T = np.eye(4)[rng.integers(0, 4, len(Z))]
    numpy_module = sb.build(network)
    module = sb.build(network, target=library)
    np.testing.assert_allclose(
        module.forward(params, Z),
        numpy_module.forward(params, Z),
        rtol=1e-13,
        atol=1e-300,
    )
    # the loss (JAX: from the parts D and R) and δ_y, through the gradients, row by row
    for row in range(len(Z)):
        X, T_row = Z[row : row + 1], T[row : row + 1]
        assert module.loss(params, X, T_row) == pytest.approx(
            numpy_module.loss(params, X, T_row), rel=1e-13, abs=1e-300
        )
        expected = numpy_module.gradients(params, X, T_row)
        for name, found in module.gradients(params, X, T_row).items():
            np.testing.assert_allclose(found, expected[name], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("library", ("numpy",) + LIBRARIES)
def test_array_helpers_compute_what_the_numpy_helpers_compute(library):
    """The softmax family of the torch and jax modules, run in each library, against the
    NumPy module's own helpers on rows chosen to overflow, tie and round."""
    from symbackprop.expressions import array_helpers, helpers

    names = set(array_helpers.HELPERS)
    if library == "numpy":
        space = vars(array_helpers)
        to, back = np.asarray, np.asarray
    else:
        xp = torch if library == "torch" else jax.numpy
        space = {"xp": xp, "torch": torch, "jax": jax}
        code = "\n".join(array_helpers.source(names, library))
        exec(code, space)  # noqa: S102 - the helpers' own source
        to = torch.tensor if library == "torch" else jax.numpy.asarray
        back = np.asarray
    rng = np.random.default_rng(7)
    Z = _hostile_rows(rng)
    T = np.eye(4)[rng.integers(0, 4, len(Z))]
    A = helpers._softmax(Z)
    G = rng.normal(size=Z.shape)

    def below(A, C, D, T):
        return A * D / (1 + C)

    def at_top(A, C, D, T):
        return C * D - T

    _, R, A_parts = helpers._softmax_parts(Z)
    calls = {
        "_logsumexp": (Z,),
        "_softmax": (Z,),
        "_softmax_parts": (Z,),
        "_log_softmax": (Z,),
        "_log1m_softmax": (Z,),
        "_softmax_backward": (A, G),
        "_softmax_minus": (A, T),
    }
    assert names == set(calls) | {"_softmax_backward_pole"}
    calls = [*calls.items(), ("_softmax_minus", (A_parts, T, R))]
    for name, args in calls:
        with jax.enable_x64(True):  # as a generated jax module runs them
            found = space[name](*map(to, args))
        expected = getattr(helpers, name)(*args)
        if not isinstance(expected, tuple):  # _softmax_parts returns three arrays
            found, expected = (found,), (expected,)
        for part, wanted in zip(found, expected, strict=True):
            np.testing.assert_allclose(
                back(part), wanted, rtol=1e-13, atol=1e-300, err_msg=name
            )
    with jax.enable_x64(True):
        found = back(space["_softmax_backward_pole"](to(Z), to(T), below, at_top))
    expected = helpers._softmax_backward_pole(Z, T, below, at_top)
    np.testing.assert_allclose(found, expected, rtol=1e-12, atol=1e-300)


def test_torch_compile_trains_as_the_eager_step_does():
    """use_compile() runs the step through torch.compile; use_compile(False) undoes it."""
    network = _network(
        ("tanh",), "softmax", "categorical_crossentropy", None, sb.Adam(0.01)
    )
    module = sb.build(network, target="torch")
    X, T = _data(network, np.random.default_rng(3), 24)
    params = module.init_params(0)
    eager, eager_history = module.train(params, X, T, epochs=2, batch_size=8, verbose=0)
    module.use_compile()
    try:
        assert module._torch_step is not module._eager_step
        compiled, history = module.train(
            params, X, T, epochs=2, batch_size=8, verbose=0
        )
    finally:
        module.use_compile(False)
    assert module._torch_step is module._eager_step
    for name in module.PARAMS:
        _close(compiled[name], eager[name], 1e-12)
    _close(history["loss"], eager_history["loss"], 1e-12)
    for enabled in ("yes", None, 1):
        with pytest.raises(
            TypeError, match="use_compile's enabled must be True or False"
        ):
            module.use_compile(enabled)
    assert module._torch_step is module._eager_step
    module.use_device("cpu")
    assert module.DEVICE == torch.device("cpu")


def test_a_torch_device_is_one_this_machine_has_or_an_error_naming_its_setting(
    monkeypatch,
):
    """SYMBACKPROP_DEVICE and use_device take a device torch can name and this machine has:
    anything else is refused at once, naming the setting and the value, rather than failing
    at the first tensor that training puts there."""
    network = _network(
        ("tanh",), "softmax", "categorical_crossentropy", None, sb.SGD(0.1)
    )
    monkeypatch.setenv("SYMBACKPROP_DEVICE", "cpu")
    module = sb.build(network, target="torch")
    assert module.DEVICE == torch.device("cpu")
    lacking = (
        f"cuda:{torch.cuda.device_count()}"  # one past the last GPU, or no GPU at all
    )
    for device, words in (
        ("gpu", "use_device's device must name a device, such as 'cpu'.*got 'gpu'"),
        (None, "use_device's device must name a device.*got None"),
        (lacking, f"use_device's device is '{lacking}', which this machine lacks"),
    ):
        with pytest.raises(ValueError, match=words):
            module.use_device(device)
        assert module.DEVICE == torch.device("cpu")  # as it was
    for setting, words in (
        ("gpu", "must name a device"),
        (lacking, "this machine lacks"),
    ):
        monkeypatch.setenv("SYMBACKPROP_DEVICE", setting)
        with pytest.raises(ValueError, match=f"SYMBACKPROP_DEVICE .*{words}"):
            sb.build(network, target="torch")


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_the_whole_train_api_follows_the_numpy_module(library, batch_size):
    """Sample weights, a validation split, early stopping, metrics=(), state carried over
    (3 + 2 epochs = 5), batches of one, a short last batch and one batch larger than the data.
    """
    network = _network(
        ("elu",), "softmax", "categorical_crossentropy", sb.L2(0.01), sb.Adam(0.02)
    )
    rng = np.random.default_rng(batch_size)
    X, T = _data(network, rng, 23)
    w = rng.uniform(0.1, 3, 23)
    runs = {}
    for target in ("numpy", library):
        module = sb.build(network, target=target)
        params = module.init_params(4)
        settings = {"batch_size": batch_size, "verbose": 0, "sample_weight": w}
        first = module.train(
            params, X, T, epochs=4, validation_split=0.25, early_stopping=2, **settings
        )
        state = {}
        part, _ = module.train(params, X, T, epochs=3, state=state, **settings)
        rest, _ = module.train(part, X, T, epochs=2, state=state, **settings)
        bare, empty = module.train(params, X, T, epochs=2, metrics=(), **settings)
        runs[target] = (first, rest, bare, empty)
    (first, rest, bare, empty), expected = runs[library], runs["numpy"]
    assert empty == expected[3]
    for found, wanted in (
        (first[0], expected[0][0]),
        (rest, expected[1]),
        (bare, expected[2]),
    ):
        for name in wanted:
            _close(found[name], wanted[name], 1e-10)
    assert first[1].keys() == expected[0][1].keys()
    for key in expected[0][1]:
        _close(first[1][key], expected[0][1][key], 1e-10)


def _read_only(array):
    array = array.copy()
    array.flags.writeable = False
    return array


#: arrays as NumPy gives them where nobody made them for the module: a memory map opened "r" or
#: pandas' to_numpy (read-only), X[::-1] and np.flip (negative strides), Fortran order, and
#: another byte order
LAYOUTS = {
    "read-only": _read_only,
    "reversed": lambda array: array[::-1].copy()[::-1],
    "columns flipped": lambda array: np.flip(np.flip(array, -1).copy(), -1),
    "Fortran order": np.asfortranarray,
    "big-endian": lambda array: array.astype(array.dtype.newbyteorder(">")),
}


@pytest.mark.parametrize("target", ("numpy", *LIBRARIES))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_arrays_in_any_layout_numpy_takes_are_taken_alike(target, layout):
    """The same numbers in another memory layout train, and give the loss, gradients and
    outputs, as the plain arrays do, without a warning (torch's tensors have no negative
    strides and cannot be marked read-only: torch.as_tensor refused the one and warned of the
    other, once per process — set_warn_always makes it warn every time here)."""
    network = _network(
        ("tanh",), "softmax", "categorical_crossentropy", None, sb.Adam(0.01)
    )
    module = sb.build(network, target=target)
    X, T = _data(network, np.random.default_rng(3), 11)
    w = np.random.default_rng(4).uniform(0.5, 2, 11)
    params = module.init_params(0)

    def results(X, T, w, params):
        trained, history = module.train(
            params, X, T, epochs=2, batch_size=4, verbose=0, sample_weight=w
        )
        return [
            *trained.values(),
            history["loss"],
            module.loss(params, X, T, sample_weight=w),
            *module.gradients(params, X, T, sample_weight=w).values(),
            module.predict_proba(params, X),
        ]

    expected = results(X, T, w, params)
    change = LAYOUTS[layout]
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            found = results(
                change(X),
                change(T),
                change(w),
                {name: change(value) for name, value in params.items()},
            )
    finally:
        torch.set_warn_always(False)
    for value, wanted in zip(found, expected):
        _close(value, wanted, 1e-12)


@pytest.mark.parametrize("target", ("numpy", *LIBRARIES))
def test_the_parameters_a_callback_keeps_stay_as_they_were(target):
    """logs["params"] kept as they are (no copy, as a checkpoint of the best epoch would keep
    them) hold the parameters of the moment the hook ran: NumPy and PyTorch gave the arrays
    that training goes on updating in place, so every epoch's kept parameters became the last
    ones."""
    network = _network(
        ("tanh",), "softmax", "categorical_crossentropy", None, sb.Adam(0.01)
    )
    module = sb.build(network, target=target)
    X, T = _data(network, np.random.default_rng(5), 11)
    params = module.init_params(0)
    kept = []

    class Keep:
        def on_train_begin(self, logs):
            kept.append(("begin", 0, logs["params"], _copies(logs["params"])))

        def on_epoch_begin(self, epoch, logs):
            kept.append(("epoch begin", epoch, logs["params"], _copies(logs["params"])))

        def on_batch_end(self, batch, logs):
            kept.append(("batch", batch, logs["params"], _copies(logs["params"])))

        def on_epoch_end(self, epoch, logs):
            kept.append(("epoch end", epoch, logs["params"], _copies(logs["params"])))

    module.train(params, X, T, epochs=3, batch_size=4, verbose=0, callbacks=[Keep()])
    assert len(kept) == 1 + 3 * (1 + 3 + 1)
    for hook, when, found, then in kept:
        for name in module.PARAMS:
            np.testing.assert_array_equal(found[name], then[name], f"{hook} {when}")
    for hook, when, found, _ in kept:
        if hook == "epoch end":
            trained, _ = module.train(
                params, X, T, epochs=when, batch_size=4, verbose=0
            )
            for name in module.PARAMS:
                np.testing.assert_array_equal(found[name], trained[name])


def _copies(params):
    return {name: np.array(value) for name, value in params.items()}


@pytest.mark.parametrize("target", ("numpy", *LIBRARIES))
def test_a_state_left_by_another_network_or_by_hand_is_refused_naming_its_entry(target):
    """train(state=…) reads the dict a previous call filled. One from another optimiser or
    network, or edited, ended in 'too many values to unpack', a broadcasting error or JAX's
    pytree error, or trained on (Adam's bias correction at a negative update count diverged;
    plain SGD ignored Adam's moments). A state the NumPy module left resumes on every target.
    """

    def network(optimizer, units=4):
        return sb.Network(
            "resume",
            inputs=3,
            layers=[
                sb.Dense(units, activation="tanh"),
                sb.Dense(3, activation="softmax"),
            ],
            loss="categorical_crossentropy",
            optimizer=optimizer,
        )

    adam = sb.build(network(sb.Adam(0.01)), target=target)
    X, T = _data(network(sb.Adam(0.01)), np.random.default_rng(6), 12)
    params = adam.init_params(0)
    settings = {"batch_size": 5, "verbose": 0}
    left = {}
    half, _ = sb.build(network(sb.Adam(0.01))).train(
        params, X, T, epochs=2, state=left, **settings
    )
    whole, _ = adam.train(params, X, T, epochs=4, **settings)
    resumed, _ = adam.train(half, X, T, epochs=2, state=dict(left), **settings)
    for name in adam.PARAMS:
        _close(resumed[name], whole[name], 1e-10)
    wider = sb.build(network(sb.Adam(0.01), units=5), target=target)
    cases = [
        (
            sb.build(network(sb.SGD(0.1, momentum=0.9)), target=target),
            {},
            "state['optimizer'] holds 8 arrays where SGD(lr=0.1, momentum=0.9) keeps 4",
        ),
        (
            sb.build(network(sb.SGD(0.1)), target=target),
            {},
            "state['optimizer'] holds 8 arrays where SGD(lr=0.1) keeps 0",
        ),
        (wider, {}, "state['optimizer'][0] has shape (4, 3), expected (5, 3)"),
        (adam, {"optimizer": "moments"}, "state['optimizer'] holds 'moments'"),
        (
            adam,
            {"optimizer": [np.nan] + left["optimizer"][1:]},
            "state['optimizer'][0] has shape ()",
        ),
        (
            adam,
            {"optimizer": [np.full((4, 3), np.inf)] + left["optimizer"][1:]},
            "state['optimizer'][0] holds non-finite values",
        ),
        (
            adam,
            {"k": -5},
            "state['k'] (the updates so far) must be an integer ≥ 0, got -5",
        ),
        (adam, {"k": 2.5}, "got 2.5"),
        (adam, {"k": True}, "got True"),
        (
            adam,
            {"rng": {"bit_generator": "MT19937"}},
            "state['rng'] is not the random state",
        ),
    ]
    for module, change, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            module.train(
                module.init_params(0),
                X,
                T,
                epochs=1,
                state={**left, **change},
                **settings,
            )
    with pytest.raises(KeyError, match=re.escape("state lacks ['k', 'rng']")):
        adam.train(params, X, T, epochs=1, state={"optimizer": []}, **settings)


@pytest.mark.parametrize("target", ("numpy", *LIBRARIES))
def test_settings_as_numpy_numbers_train_as_python_numbers_do(target):
    """A batch size as a 0-d array (unhashable: JAX compiles per batch size) and the other
    settings as NumPy scalars train as the same Python numbers do."""
    network = _network(
        ("tanh",), "softmax", "categorical_crossentropy", None, sb.Adam(0.01)
    )
    module = sb.build(network, target=target)
    X, T = _data(network, np.random.default_rng(7), 13)
    params = module.init_params(0)
    plain = module.train(
        params,
        X,
        T,
        epochs=3,
        batch_size=4,
        lr=0.02,
        seed=5,
        verbose=0,
        validation_split=0.25,
        early_stopping=1,
    )
    numpy = module.train(
        params,
        X,
        T,
        epochs=np.int64(3),
        batch_size=np.array(4),
        lr=np.float32(0.02),
        seed=np.uint8(5),
        verbose=0,
        validation_split=np.float32(0.25),
        early_stopping=np.array(1),
    )
    for name in module.PARAMS:
        _close(numpy[0][name], plain[0][name], 1e-7)  # float32(0.02) is not 0.02
    assert numpy[1].keys() == plain[1].keys()


@pytest.mark.parametrize("library", LIBRARIES)
def test_weighted_multilabel_metrics_follow_the_numpy_module(library):
    """Three sigmoid outputs (a binary task per output) with sample weights and a short last
    batch: the accuracy averages over the outputs of each sample and weighs samples, which the
    JAX module does inside its compiled epoch."""
    network = _network(("tanh",), "sigmoid", "binary_crossentropy", None, sb.SGD(0.5))
    rng = np.random.default_rng(5)
    X, T = _data(network, rng, 29)
    w = rng.uniform(0.1, 3, 29)
    histories = {}
    for target in ("numpy", library):
        module = sb.build(network, target=target)
        _, histories[target] = module.train(
            module.init_params(2),
            X,
            T,
            epochs=3,
            batch_size=8,
            verbose=0,
            sample_weight=w,
        )
    assert set(histories[library]) == {"loss", "accuracy"}
    for key, values in histories["numpy"].items():
        _close(histories[library][key], values, 1e-10)


@pytest.mark.parametrize("target", ("numpy",) + LIBRARIES)
def test_an_epochs_accuracy_takes_the_first_of_equal_outputs_and_targets(target):
    """From zero weights every output of the one batch ties, so each sample's predicted class
    is the first, 0; targets tie too (soft rows such as (½, ½, 0), whose class is also the
    first of equals, as np.argmax picks it). The epoch's accuracy, counted on each library's
    device, is then the share of rows whose first largest target is class 0, counted here by
    hand."""
    network = _network(
        ("relu",), "softmax", "categorical_crossentropy", None, sb.SGD(0.1)
    )
    rng = np.random.default_rng(3)
    X, _ = _data(network, rng, 20)
    rows = [(1, 0, 0), (0, 1, 0), (0.5, 0.5, 0), (0, 0.5, 0.5), (0.5, 0, 0.5)]
    T = np.array([rows[i % len(rows)] for i in range(20)])
    first_is_zero = [
        next(k for k, t in enumerate(row) if t == max(row)) == 0 for row in T
    ]
    zeros = {name: np.zeros(shape) for name, shape in sb.build(network).SHAPES.items()}
    module = sb.build(network, target=target)
    _, history = module.train(zeros, X, T, epochs=1, batch_size=20, verbose=0)
    # 12 of 20: the last of equals, for outputs and targets alike, would give 8
    assert history["accuracy"] == [sum(first_is_zero) / 20] == [0.6]


@pytest.mark.parametrize("library", LIBRARIES)
def test_the_model_of_a_library_module_fits_scores_and_pickles(library):
    import pickle

    network = _network(
        ("tanh",), "softmax", "sparse_categorical_crossentropy", None, sb.SGD(0.3)
    )
    module = sb.build(network, target=library)
    reference = sb.build(network)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 3))
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, 40)]
    model = module.Model(epochs=5, batch_size=8).fit(X, labels)
    expected = reference.Model(epochs=5, batch_size=8).fit(X, labels)
    assert list(model.predict(X)) == list(expected.predict(X))
    assert model.score(X, labels) == pytest.approx(expected.score(X, labels), abs=1e-12)
    np.testing.assert_allclose(
        model.predict_proba(X), expected.predict_proba(X), atol=1e-12
    )
    revived = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(revived.predict_proba(X), model.predict_proba(X))
    assert module.check_gradients(model.params_, X, np.arange(40) % 3) < 1e-6


@pytest.mark.parametrize("library", LIBRARIES)
def test_divergence_is_caught_inside_the_compiled_epoch(library):
    network = sb.Network("wild", 3, [sb.Dense(5, "relu"), sb.Dense(2)], "mse")
    X = np.random.default_rng(0).normal(size=(64, 3)) * 3
    T = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]])
    messages = {}
    for target in ("numpy", library):
        module = sb.build(network, target=target)
        with pytest.warns(RuntimeWarning, match="training diverged") as caught:
            params, history = module.train(
                module.init_params(), X, T, epochs=100, lr=0.5, batch_size=8, verbose=0
            )
        messages[target] = (str(caught[0].message), len(history["loss"]), params)
    assert messages[library][:2] == messages["numpy"][:2]
    for name, value in messages["numpy"][2].items():
        _close(messages[library][2][name], value, 1e-12)


def test_jax_arrays_given_to_train_are_used_where_they_lie(monkeypatch):
    """X and T given as JAX arrays train exactly as the same NumPy arrays do; those the checks
    keep as they are reach the compiled epoch themselves, with no copy back to the device;
    those the checks change (float32 into a float64 module, rows rescaled to sum to 1, a
    validation split) reach it as the changed values."""
    network = _network(
        ("relu",), "softmax", "categorical_crossentropy", None, sb.SGD(0.3)
    )
    module = sb.build(network, target="jax")
    rng = np.random.default_rng(3)
    X, T = _data(network, rng, 23)
    with jax.enable_x64(
        True
    ):  # float64 JAX arrays, as a program that turned them on has
        jX, jT, jT_off = map(jax.device_put, (X, T, T * (1 - 1e-6)))
    params = module.init_params(1)
    settings = {"epochs": 2, "batch_size": 8, "verbose": 0}
    seen = []
    epoch = module._epoch

    def spy(values, state, X, T, *rest):
        seen.append((X, T))
        return epoch(values, state, X, T, *rest)

    monkeypatch.setattr(module, "_epoch", spy)
    expected = module.train(params, X, T, **settings)
    found = module.train(params, jX, jT, **settings)
    assert all(x is jX and t is jT for x, t in seen[-2:])
    for name in module.PARAMS:
        np.testing.assert_array_equal(found[0][name], expected[0][name])
        # NumPy arrays the caller may change (views of the one array the epoch returns)
        assert isinstance(found[0][name], np.ndarray) and found[0][name].flags.writeable
    assert found[1] == expected[1]
    # changed by the checks: each reaches the epoch as what the NumPy arrays give
    # (jT_off: rows within 2e-5 of 1 are rescaled to sum to 1)
    for given, split, changed in (
        ((jX.astype(np.float32), jT), 0.0, (True, False)),
        ((jX, jT_off), 0.0, (False, True)),
        ((jX, jT), 0.25, (True, True)),
    ):
        expected = module.train(
            params, *map(np.asarray, given), validation_split=split, **settings
        )
        wanted = seen[-1]
        found = module.train(params, *given, validation_split=split, **settings)
        for used, value, array, new in zip(seen[-1], wanted, given, changed):
            assert (used is not array) == new
            assert used.dtype == np.float64
            np.testing.assert_array_equal(np.asarray(used), np.asarray(value))
        np.testing.assert_array_equal(found[0]["W1"], expected[0]["W1"])


_DEVICES_SCRIPT = """
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import symbackprop as sb

network = sb.Network(
    "devices",
    inputs=3,
    layers=[sb.Dense(4, activation="tanh"), sb.Dense(3, activation="softmax")],
    loss="categorical_crossentropy",
    optimizer=sb.Adam(0.01),
)
module, reference = (sb.build(network, target=t) for t in ("jax", "numpy"))
rng = np.random.default_rng(0)
X, T = rng.normal(size=(36, 3)), np.eye(3)[rng.integers(0, 3, 36)]
params = module.init_params(0)
settings = {"epochs": 2, "batch_size": 8, "verbose": 0}
expected, history = reference.train(params, X, T, **settings)
first, second = jax.devices()
rows = NamedSharding(Mesh(np.array([first, second]), ("rows",)), PartitionSpec("rows"))
places = {
    "NumPy": lambda array: array,
    "the default device": jax.device_put,
    "device 0": lambda array: jax.device_put(array, first),
    "device 1": lambda array: jax.device_put(array, second),
    "rows over both": lambda array: jax.device_put(array, rows),
}
with jax.enable_x64(True):
    placed = {name: (put(X), put(T)) for name, put in places.items()}
for x_at, (jX, _) in placed.items():
    for t_at, (_, jT) in placed.items():
        found, found_history = module.train(params, jX, jT, **settings)
        for name in module.PARAMS:
            assert np.allclose(found[name], expected[name], rtol=1e-12, atol=1e-12), (x_at, t_at)
        assert np.allclose(found_history["loss"], history["loss"], rtol=1e-12), (x_at, t_at)
with jax.default_device(second):
    found, _ = module.train(params, X, T, **settings)
assert all(np.allclose(found[n], expected[n], rtol=1e-12) for n in module.PARAMS)
print("trained alike on every device")
"""


def test_jax_training_data_on_any_devices_trains_as_numpy_arrays_do():
    """X and T as JAX arrays put on any device (two CPU devices stand for a GPU and the CPU:
    XLA's --xla_force_host_platform_device_count=2), on different ones, or with their rows
    sharded over both, train as the NumPy arrays do; so does the program's default device
    set to the second. A compiled function refuses committed arrays on different devices:
    T is copied to X's."""
    environment = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert _run(_DEVICES_SCRIPT, environment).endswith("trained alike on every device")


def test_sympys_erfc_is_computed_element_wise_on_every_target():
    """SymPy's own erfc, in a custom activation and a custom loss, prints as each library's
    element-wise erfc (SymPy's NumPy printer writes math.erfc, which takes one number): the
    loss and gradients equal the NumPy module's, and the library's autodiff."""
    cdf = sb.Activation("gauss_cdf", sp.erfc(-sb.z / sp.sqrt(2)) / 2)
    loss = sb.Loss("erfc_loss", (sb.y - sb.t) ** 2 + sp.erfc(sb.y))
    _agrees_on_every_target(
        sb.Network("erfc", 3, [sb.Dense(4, cdf), sb.Dense(2)], loss)
    )


def _agrees_on_every_target(
    network: sb.Network, seed: int = 6, probabilities: bool = False
) -> None:
    """``network``'s gradients pass check_gradients; each library's module gives the NumPy
    module's loss and gradients (1e-12) and its library's autodiff (1e-9). Nine samples of
    three inputs; the targets normal, or rows of probabilities."""
    reference = sb.build(network)
    rng = np.random.default_rng(seed)
    outputs = network.layers[-1].units
    X = rng.normal(size=(9, 3))
    T = (
        rng.dirichlet(np.ones(outputs), size=9)
        if probabilities
        else rng.normal(size=(9, outputs))
    )
    params = reference.init_params(seed)
    expected = reference.gradients(params, X, T)
    assert reference.check_gradients(params, X, T) < 1e-7
    for library in LIBRARIES:
        module = sb.build(network, target=library)
        _close(module.loss(params, X, T), reference.loss(params, X, T), 1e-12)
        found = module.gradients(params, X, T)
        values = [params[name] for name in module.PARAMS]
        auto = dict(zip(module.PARAMS, _autodiff(module, library, values, X, T)))
        for name in module.PARAMS:
            _close(found[name], expected[name], 1e-12)
            _close(found[name], auto[name], 1e-9)


def test_a_stable_form_of_a_constant_runs_on_every_target():
    """The stable forms rewrite numbers too: 1/(1 + e⁴) in a formula becomes e^(−softplus(4)),
    which PyTorch's logaddexp refused as a number where it takes a tensor (found by a fuzz of
    random formulas); so did expm1, log1p, erfc and the others of a number. The loss and
    gradients equal the NumPy module's and the library's autodiff."""
    squashed = sb.Activation(
        "squashed",
        sp.atan(sb.z / ((1 + sp.exp(4)) * (sb.z**2 + 1))) + sp.erfc(sp.exp(1)),
    )
    # (its derivative holds 2·log 2, whose guard as a u·log u folded back: see test_stabilise)
    bump = sb.Activation("bump", 1 / ((sb.z - sp.log(2)) ** 2 + 1))
    layers = [sb.Dense(4, squashed), sb.Dense(3, bump), sb.Dense(2, "sigmoid")]
    _agrees_on_every_target(sb.Network("constant", 3, layers), seed=7)


def test_a_derivative_in_sin_and_cos_stays_real_on_every_target():
    """An accurate form of f' was chosen among rewrites in exp, which wrote cos(u) as
    (e^(iu) + e^(−iu))/2: the NumPy module returned complex128 gradients for W1 and b1, and
    PyTorch's stopped on a complex × real product (found by a fuzz of random formulas).
    Rewrites in exp now take the hyperbolic functions alone, and a form in I is never
    printed."""
    wave = sb.Activation("wave", sp.sin(sb.z**2 / (sb.z**2 + 1)))
    network = sb.Network("waves", 3, [sb.Dense(4, wave), sb.Dense(2)], "mse")
    assert "1j" not in sb.generate(network)
    _agrees_on_every_target(network)
    module = sb.build(network)
    found = module.gradients(module.init_params(0), np.ones((2, 3)), np.ones((2, 2)))
    assert {value.dtype for value in found.values()} == {np.dtype(np.float64)}


def test_a_row_sum_of_a_constant_counts_the_units_on_every_target():
    """Σ_k 1 is the layer's width. A softmax under −t·y + (1 − t)·log y leaves Σ_k 1 in δ_y
    (its 1 − t sums to K − 1), and an activation may write one: the modules printed
    ``1.sum(axis=1, …)``, which is not Python (black's InvalidInput from build)."""
    leaky = sb.Loss(
        "leaky", "-t*y + (1 - t)*log(y)", task="multiclass", targets="probability"
    )
    padded = sb.Activation("padded", "exp(z)/(row_sum(exp(z)) + row_sum(1))")
    for output, loss in ((sb.Dense(3, "softmax"), leaky), (sb.Dense(3, padded), "mse")):
        network = sb.Network("counted", 3, [sb.Dense(4, "tanh"), output], loss)
        _agrees_on_every_target(network, probabilities=True)


SCHEDULES = {
    "max": sp.Max(sp.Rational(1, 10), 1 - K / 4),
    "piecewise": sp.Piecewise((1, K < 3), (sp.Rational(1, 2), True)),
    "abs": sp.Abs(sp.cos(K)),
    "floor": 1 / (1 + sp.floor(K / 3)),
    "sign": sp.sign(K - 4) ** 2 + sp.Rational(1, 10),
    "erfc": sp.erfc(K / 4 - 1),
    # an integer argument: NumPy's erfc helper cast its result to k's dtype, 0
    "erfc_of_an_integer": sp.erfc(sp.Min(2, K + 1)),
    # our stable functions of k: log1p and softplus (σ(5 − k) = e^(−softplus(k − 5)), whose
    # max(k − 5, 0) counts from k = 6), which PyTorch's math printer lacked
    "log1p": 1 / (1 + sp.log(1 + K)),
    "sigmoid": 1 / (1 + sp.exp(K - 5)),
}


@pytest.mark.parametrize("library", ("numpy",) + LIBRARIES)
@pytest.mark.parametrize("name", SCHEDULES)
def test_a_schedule_of_any_function_numpy_has_runs_on_every_target(library, name):
    """A schedule written with Max, Piecewise, Abs, floor, sign or erfc (printed with NumPy,
    with Python's math and built-ins in a PyTorch module, with jnp inside the compiled JAX
    epoch) gives update k the rate SymPy computes for it: each target ends where plain
    gradient steps with those rates end."""
    schedule = sb.Schedule(name, LR * SCHEDULES[name], ())
    network = sb.Network(
        "scheduled",
        2,
        [sb.Dense(3, "tanh"), sb.Dense(1)],
        "mse",
        optimizer=sb.SGD(0.3, schedule=schedule),
    )
    _trains_at_sympys_rates(network, library)


def _trains_at_sympys_rates(network: sb.Network, library: str) -> None:
    """3 epochs of 3 batches of ``network`` (plain SGD under a schedule) on ``library`` end
    where gradient steps at the rates SymPy computes for k = 0 … 8 end (1e-12)."""
    schedule, lr = network.optimizer.schedule, network.optimizer.lr
    module, reference = sb.build(network, target=library), sb.build(network)
    rng = np.random.default_rng(5)
    X, T = rng.normal(size=(12, 2)), rng.normal(size=(12, 1))
    params = module.init_params(2)
    found, _ = module.train(
        params, X, T, epochs=3, batch_size=4, shuffle=False, verbose=0
    )
    expected, k = {key: value.copy() for key, value in params.items()}, 0
    for _ in range(3):
        for start in range(0, 12, 4):
            rate = float(schedule.expr.subs({LR: lr, K: k}))
            grads = reference.gradients(
                expected, X[start : start + 4], T[start : start + 4]
            )
            for key in expected:
                expected[key] -= rate * grads[key]
            k += 1
    for key, value in expected.items():
        _close(found[key], value, 1e-12)


def _random_schedule(draw: random.Random, depth: int = 3) -> sp.Expr:
    """A formula in k from a grammar of the functions a schedule may use."""
    unary = (
        sp.sin,
        sp.cos,
        sp.sqrt,
        sp.log,
        sp.floor,
        sp.ceiling,
        sp.Abs,
        sp.erfc,
        sp.tanh,
        lambda u: sp.exp(-u),
        lambda u: 1 / (1 + u),
        lambda u: sp.Max(u, sp.Rational(1, 10)),
        lambda u: sp.Min(u, 2),
        lambda u: sp.Piecewise((1, u < 3), (u / 10, True)),
    )
    binary = (sp.Add, sp.Mul, lambda u, v: u - v, lambda u, v: u / (1 + v**2))
    if depth == 0 or draw.random() < 0.3:
        return draw.choice((K, K / 10, K + 1, sp.Rational(draw.randint(1, 5), 3)))
    if draw.random() < 0.6:
        return draw.choice(unary)(_random_schedule(draw, depth - 1))
    return draw.choice(binary)(
        _random_schedule(draw, depth - 1), _random_schedule(draw, depth - 1)
    )


def test_random_schedules_train_at_sympys_rates_or_stop_at_the_first_bad_one():
    """Schedules drawn from a grammar of the functions a schedule may use (a fuzz of these
    found erfc of an integer k computed as 0 by NumPy, log1p and softplus missing from
    PyTorch's math printer, and rates below 0 or nan used silently): on every target,
    training ends where gradient steps at SymPy's rates end, or stops naming the first
    update whose rate SymPy finds no finite number ≥ 0."""
    draw, tried = random.Random(19), 0
    while tried < 8:
        factor = _random_schedule(draw)
        rates = []
        for k in range(9):
            value = complex(factor.subs(K, k).evalf())
            rates.append(value.real if value.imag == 0 else math.nan)
        if any(0 <= abs(rate) < 1e-9 or abs(rate) > 3 for rate in rates):
            continue  # a rate at 0 is a rounding away from negative; large ones diverge
        tried += 1
        network = sb.Network(
            "drawn",
            2,
            [sb.Dense(3, "tanh"), sb.Dense(1)],
            "mse",
            optimizer=sb.SGD(0.1, schedule=sb.Schedule("drawn", LR * factor, ())),
        )
        wrong = [k for k, rate in enumerate(rates) if not 0 <= rate < math.inf]
        for library in ("numpy",) + LIBRARIES:
            if not wrong:
                _trains_at_sympys_rates(network, library)
                continue
            message = f"at update k = {wrong[0]} "
            with pytest.raises(ValueError, match=message), np.errstate(all="ignore"):
                _trains_at_sympys_rates(network, library)


@pytest.mark.parametrize("library", ("numpy",) + LIBRARIES)
def test_a_schedule_below_zero_or_nan_stops_training_naming_the_update(library):
    """A linear decay past its end (11/2 − k: −1/2 at update 6) went on as gradient ascent,
    a rate of nan ended in "training diverged ... Try a smaller lr", and 1/(k − 4)² in a
    ZeroDivisionError (math.log(−3) in PyTorch's math domain error): each target stops with
    the update and the rate named. JAX checks the pass's rates before it (nothing can be
    raised inside the compiled pass); a decay held at 0 by max(…, 0) trains."""
    X, T = np.ones((12, 2)), np.zeros((12, 1))

    def train(factor):
        schedule = sb.Schedule("linear", LR * factor, ())
        network = sb.Network(
            "decayed",
            2,
            [sb.Dense(3, "tanh"), sb.Dense(1)],
            "mse",
            optimizer=sb.SGD(0.1, schedule=schedule),
        )
        module = sb.build(network, target=library)
        return module.train(
            module.init_params(0), X, T, epochs=3, batch_size=4, verbose=0
        )

    wrong = {
        r"-0\.0\d+ at update k = 6": (sp.Rational(11, 2) - K) / 5,
        "nan at update k = 0": sp.log(K - 3),
        "(nan|inf) at update k = 4": 1 / (K - 4) ** 2,
        # one rate for every update (JAX's check indexed it as an array of them)
        r"-0\.0693\d+ at update k = 0": -sp.log(2),
    }
    for message, factor in wrong.items():
        rate = pytest.raises(ValueError, match=f"gives the learning rate {message}")
        with rate, np.errstate(invalid="ignore", divide="ignore"):
            train(factor)
    _, history = train(sp.Max((sp.Rational(11, 2) - K) / 5, 0))
    assert np.isfinite(history["loss"]).all()


def test_jax_arrays_are_checked_once_while_they_live(monkeypatch):
    """A JAX array cannot change: train reads the values of the X and T it takes as they are
    at their first call only, and forgets them when either dies (its id may be reused). Arrays
    the checks change, arrays that fail them and NumPy arrays are checked at every call.
    """
    import gc

    network = _network(
        ("relu",), "softmax", "categorical_crossentropy", None, sb.SGD(0.3)
    )
    module = sb.build(network, target="jax")
    X, T = _data(network, np.random.default_rng(4), 23)
    with jax.enable_x64(True):
        jX, jT, jT_off = map(jax.device_put, (X, T, T * (1 - 1e-6)))
        bad = jX.at[5, 1].set(np.nan)
    params = module.init_params(1)
    settings = {"epochs": 2, "batch_size": 8, "verbose": 0}
    checked = []
    check = module._check_data

    def spy(X, T, *names):
        checked.append(None)  # (not the arrays, which would then live on)
        return check(X, T, *names)

    monkeypatch.setattr(module, "_check_data", spy)
    runs = [module.train(params, jX, jT, **settings) for _ in range(3)]
    assert len(checked) == 1 and len(module._PASSED) == 1
    for found in runs[1:]:  # the same training, bit for bit
        assert found[1] == runs[0][1]
        for name in module.PARAMS:
            np.testing.assert_array_equal(found[0][name], runs[0][0][name])
    for X_given, T_given in ((X, T), (jX, jT_off), (jX.astype(np.float32), jT)):
        for _ in range(2):
            module.train(params, X_given, T_given, **settings)
    assert len(checked) == 1 + 6 and len(module._PASSED) == 1
    for _ in range(2):
        with pytest.raises(ValueError, match="X holds non-finite values"):
            module.train(params, bad, jT, **settings)
    assert len(checked) == 1 + 6 + 2
    # another T with the same X is checked; each key goes when one of its arrays dies
    with jax.enable_x64(True):
        other = jax.device_put(T.copy())
    module.train(params, jX, other, **settings)
    assert len(checked) == 10 and len(module._PASSED) == 2
    del other
    gc.collect()
    assert len(module._PASSED) == 1
    del jX, runs
    gc.collect()
    assert not module._PASSED


_X64_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np
import symbackprop as sb

assert not jax.config.jax_enable_x64, "JAX starts with 64-bit types off"
rng = np.random.default_rng(0)
X, labels = rng.normal(size=(13, 4)), rng.integers(0, 3, 13)
T = np.eye(3)[labels]
for dtype, tolerance in (("float64", 1e-12), ("float32", 1e-5)):
    network = sb.Network(
        "x64", 4, [sb.Dense(5, "gelu"), sb.Dense(3, "softmax")], "categorical_crossentropy",
        optimizer=sb.Adam(0.05), dtype=dtype,
    )
    reference, module = sb.build(network), sb.build(network, target="jax")
    params = module.init_params(3)
    for name, value in reference.init_params(3).items():
        assert value.dtype == params[name].dtype and (value == params[name]).all(), name
    settings = dict(epochs=3, batch_size=4, verbose=0, validation_split=0.2)
    (found, history), (wanted, expected) = (
        m.train(params, X, T, **settings) for m in (module, reference)
    )
    for name in wanted:
        assert found[name].dtype == np.dtype(dtype), (name, found[name].dtype)
        np.testing.assert_allclose(found[name], wanted[name], rtol=tolerance, atol=tolerance)
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=tolerance)
    np.testing.assert_allclose(
        module.forward(params, X), reference.forward(params, X), rtol=tolerance
    )
    for name, value in reference.gradients(params, X, T).items():
        np.testing.assert_allclose(
            module.gradients(params, X, T)[name], value, rtol=tolerance, atol=tolerance
        )
    assert module.check_gradients(params, X[:4], T[:4]) < 1e-6
    assert module.Model(epochs=2, verbose=0).fit(X, labels).score(X, labels) >= 0
    # the callbacks, the caller's code, run with the program's setting, whichever it is
    for theirs in (False, True):
        seen = set()
        probe = type("Probe", (), {})()
        probe.on_batch_end = probe.on_epoch_end = lambda *_: seen.add(
            (jax.config.jax_enable_x64, jnp.ones(2).dtype)
        )
        with jax.enable_x64(theirs):
            module.train(params, X, T, epochs=2, batch_size=4, verbose=0, callbacks=[probe])
        assert seen == {(theirs, np.dtype("float64" if theirs else "float32"))}, seen
    # the program's own JAX arrays and its setting, as they were
    assert not jax.config.jax_enable_x64 and jnp.ones(2).dtype == np.float32
print("left as it was")
"""


def test_a_jax_module_leaves_the_programs_64_bit_setting_as_it_is():
    """In a fresh process, where JAX starts with 64-bit types off (its default): importing and
    using a JAX module leaves them off for the program, while its float64 modules compute what
    the NumPy module computes (1e-12, initial parameters bit for bit) and its float32 modules
    stay float32: the module turns them on for its own work alone, not for the callbacks it
    calls."""
    environment = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    assert _run(_X64_SCRIPT, environment).endswith("left as it was")


@contextlib.contextmanager
def _default_device(device):
    torch.set_default_device(device)
    try:
        yield
    finally:
        torch.set_default_device(None)


@contextlib.contextmanager
def _jax_option(name, value):
    before = getattr(jax.config, name)
    jax.config.update(name, value)
    try:
        yield
    finally:
        jax.config.update(name, before)


def _jax_seen():
    return jax.config.jax_numpy_rank_promotion, jax.config.jax_numpy_dtype_promotion


#: a program's setting of its library: (the target, the setting, what a callback sees in it)
PROGRAM_SETTINGS = {
    # a default device other than the module's (as a program on a GPU with the module on the
    # CPU has): a number the formulas took as a tensor was made there
    "torch default device": (
        "torch",
        lambda: _default_device("meta"),
        lambda: str(torch.get_default_device()),
        "meta",
    ),
    # a bias row added to X·W1ᵀ, [A1 > 0] * (δ·W2): refused where a program asks JAX to
    "jax rank promotion raise": (
        "jax",
        lambda: _jax_option("jax_numpy_rank_promotion", "raise"),
        _jax_seen,
        ("raise", "standard"),
    ),
    "jax dtype promotion strict": (
        "jax",
        lambda: _jax_option("jax_numpy_dtype_promotion", "strict"),
        _jax_seen,
        ("allow", "strict"),
    ),
    "jax debug nans": (
        "jax",
        lambda: _jax_option("jax_debug_nans", True),
        lambda: jax.config.jax_debug_nans,
        True,
    ),
    # a program debugging its own code op by op: the module's epoch stays compiled (eager, it
    # was 70 times slower and rounded otherwise)
    "jax jit disabled": (
        "jax",
        lambda: _jax_option("jax_disable_jit", True),
        lambda: jax.config.jax_disable_jit,
        True,
    ),
    # a program that refuses implicit transfers in its own code: the module is given NumPy
    # arrays, which its formulas take to the device and back
    "jax transfers refused": (
        "jax",
        lambda: _jax_option("jax_transfer_guard", "disallow"),
        lambda: (
            jax.config.jax_transfer_guard_host_to_device,
            jax.config.jax_transfer_guard_device_to_host,
        ),
        ("disallow", "disallow"),
    ),
}


@pytest.mark.parametrize("setting", PROGRAM_SETTINGS)
def test_a_programs_own_library_settings_leave_the_modules_results_as_they_are(setting):
    """A program's settings of its library (torch's default device, JAX's stricter broadcasting
    and type promotion, its NaN checks, its eager mode, its transfer guards) do not reach the
    module's formulas: train, loss, gradients and the outputs are bit for bit the module's
    without them, and equal the NumPy module's (1e-12); a callback runs in the program's
    settings."""
    library, program, view, theirs = PROGRAM_SETTINGS[setting]
    network = _network(
        ("tanh",), "softmax", "categorical_crossentropy", sb.L2(0.01), sb.Adam(0.01)
    )
    X, T = _data(network, np.random.default_rng(8), 11)
    reference, module = sb.build(network), sb.build(network, target=library)
    params, seen = module.init_params(0), []

    class Probe:
        def on_batch_end(self, batch, logs):
            seen.append(view())

    def results(module):
        # the epoch compiled whole, and batch by batch (for a batch hook)
        trained, history = module.train(params, X, T, epochs=2, batch_size=4, verbose=0)
        hooked, _ = module.train(
            params, X, T, epochs=2, batch_size=4, verbose=0, callbacks=[Probe()]
        )
        return [
            *trained.values(),
            *hooked.values(),
            history["loss"],
            module.loss(params, X, T),
            *module.gradients(params, X, T).values(),
            module.predict_proba(params, X),
        ]

    expected, own = results(reference), results(module)
    with program():
        seen.clear()
        found = results(module)
    for value, wanted, alone in zip(found, expected, own):
        _close(value, wanted, 1e-12)
        np.testing.assert_array_equal(value, alone)
    assert seen and all(value == theirs for value in seen)


def test_a_jax_modules_float32_products_keep_float32s_precision_unless_the_program_chose(
    monkeypatch,
):
    """JAX's default precision for float32 matrix products takes TensorFloat-32 (a 10-bit
    mantissa) on recent NVIDIA GPUs, where NumPy and PyTorch compute in float32: a JAX
    module's formulas are compiled at "highest" (float32's own), or at the precision the
    program chose (jax_default_matmul_precision); its callbacks run in the program's."""
    network = _network(
        ("tanh",), "softmax", "categorical_crossentropy", None, sb.SGD(0.1), "float32"
    )
    module = sb.build(network, target="jax")
    X, T = _data(network, np.random.default_rng(3), 9)
    params, traced, seen = module.init_params(0), set(), set()

    class Traced:
        """The module's jax.numpy, noting the precision its formulas are compiled at."""

        def __getattr__(self, name):
            traced.add(jax.config.jax_default_matmul_precision)
            return getattr(jax.numpy, name)

    monkeypatch.setattr(module, "jnp", Traced())
    monkeypatch.setattr(module, "xp", Traced())
    probe = type("Probe", (), {})()
    probe.on_batch_end = probe.on_epoch_end = lambda *_: seen.add(
        jax.config.jax_default_matmul_precision
    )
    for theirs, compiled in ((None, "highest"), ("bfloat16", "bfloat16")):
        traced.clear(), seen.clear()
        with jax.default_matmul_precision(theirs):
            module.train(params, X, T, epochs=1, batch_size=4, verbose=0)
            module.train(
                params, X, T, epochs=1, batch_size=4, verbose=0, callbacks=[probe]
            )
            module.gradients(params, X, T), module.predict(params, X)
        assert traced == {compiled} and seen == {theirs}, (traced, seen)


def test_a_torch_module_trains_in_inference_mode_and_calls_back_in_the_programs_mode():
    """A PyTorch module's pass runs in torch's inference mode (its gradients are derived, so
    autograd records nothing), while the callbacks, the caller's code, run in the program's
    own mode: a callback may use autograd."""
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(13, 4)), np.eye(3)[rng.integers(0, 3, 13)]
    network = sb.Network(
        "modes",
        4,
        [sb.Dense(5, "tanh"), sb.Dense(3, "softmax")],
        "categorical_crossentropy",
    )
    module = sb.build(network, target="torch")
    params, seen = module.init_params(1), []

    def probe(*_):
        x = torch.ones(2, requires_grad=True)
        (x * x).sum().backward()  # refused in inference mode
        seen.append(
            (
                torch.is_inference_mode_enabled(),
                torch.is_grad_enabled(),
                float(x.grad[0]),
            )
        )

    callback = type("Probe", (), {"on_batch_end": probe, "on_epoch_end": probe})()
    module.train(params, X, T, epochs=2, batch_size=4, verbose=0, callbacks=[callback])
    assert seen and set(seen) == {(False, True, 2.0)}, set(seen)
    spied = []
    original = module._torch_step

    def spy(*arrays, **named):
        spied.append(torch.is_inference_mode_enabled())
        return original(*arrays, **named)

    module._torch_step = spy
    try:
        module.train(params, X, T, epochs=1, batch_size=4, verbose=0)
        module.gradients(params, X, T)
    finally:
        module._torch_step = original
    assert spied and all(spied), spied
    assert not torch.is_inference_mode_enabled() and torch.is_grad_enabled()


#: setting names the fit loop uses for something else: a local (X, rate), a library (np), a
#: helper (_step), a module constant (SIZES), a built-in (print), a derived array (A2)
BORROWED = ("X", "rate", "np", "_step", "SIZES", "print", "A2")


@pytest.mark.parametrize("library", ("numpy",) + LIBRARIES)
def test_a_setting_named_as_the_loops_own_variables_is_renamed(library):
    """A custom optimiser's setting is bound by name in the fit loop, where X, np or rate
    already mean something: the module renames it after the optimiser (mine_X), and the
    rule θ − 2·s·η·dθ with s = 1/2 trains as plain SGD on every target. A setting may not
    take the name of a rule's own symbol (lr, k, lr_k, theta, dtheta), nor a schedule's
    setting its optimiser's with another value."""
    X, T = np.random.default_rng(3).normal(size=(8, 2)), np.zeros((8, 1))

    def trained(optimizer):
        network = sb.Network(
            "named", 2, [sb.Dense(3, "tanh"), sb.Dense(1)], "mse", optimizer=optimizer
        )
        module = sb.build(network, target=library)
        return module.train(
            module.init_params(1),
            X,
            T,
            epochs=2,
            batch_size=4,
            shuffle=False,
            verbose=0,
        )[0]

    expected = trained(sb.SGD(0.1))
    for key in BORROWED:
        rule = THETA - 2 * hyper(key) * LR * GRAD
        mine = sb.Optimizer("mine", 0.1, ((THETA, rule),), settings=((key, 0.5),))
        found = trained(mine)
        for name, value in expected.items():
            _close(found[name], value, 1e-14)
    for key in ("lr", "k", "lr_k", "theta", "dtheta"):
        with pytest.raises(sb.SpecError, match=f"a setting cannot be named '{key}'"):
            sb.Schedule("s", LR, ((key, 0.5),))
    with pytest.raises(sb.SpecError, match="its setting beta1=0.9 and its schedule's"):
        sb.Adam(schedule=sb.Schedule("s", LR * hyper("beta1"), (("beta1", 0.5),)))
