"""Accuracy, not only stability: the loss and ∂L/∂z of every catalog pair against mpmath.

For every element-wise catalog activation at the output × every loss defined on its outputs,
the generated module's loss and gradient of the bias (= ∂ℓ/∂z per unit) are compared with the
exact values, computed by mpmath from the plain definitions with enough digits, over logits from
−1000 to 1000 and targets from each loss's domain: relative error ≤ 1e-12 in float64 and
≤ 1e-5 in float32 wherever the exact value is a normal float of that dtype — times the
function's condition number κ = (|z ∂f/∂z| + |t ∂f/∂t|) / |f| where that exceeds 1 (near
y = t, (y − t)² has κ ≫ 1 and no algorithm given z and t does better; elsewhere κ ≈ 1 and the
bound is plain). Every element-wise activation's derivative in a hidden layer's δ is held to
the same bound. The grid differs from the one ``symbackprop.accuracy`` chooses forms on, so
the choice is tested, not replayed.
"""

import functools
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop import options
from symbackprop.derive import accuracy, calculus
from symbackprop.expressions import helpers
from symbackprop.expressions.algebra import value
from symbackprop.expressions.symbols import t, y, z
from symbackprop.spec import domain

BOUND = {"float64": 1e-12, "float32": 1e-5}
#: logits log-spaced from 1e-9 to 1000 on both sides, exact in float32 (so one reference),
#: and ±89, ±710: e^z is subnormal at −89 in float32 and at −710 in float64, while
#: e^z·(1 + z) (swish′) is a normal float
LOGITS = np.unique(
    np.float32(np.concatenate([[0.0, 89.0, 710.0], np.geomspace(1e-9, 1000, 70)]))
    * np.array([[1], [-1]], dtype=np.float32)
).astype(np.float64)
#: the array libraries of the modules (sb.build's targets), each held to the bounds above
LIBRARIES = options.TARGETS
#: a JAX module's value may be 0 where the exact value lies below FLUSHED × the smallest
#: normal float: XLA flushes subnormal numbers to zero, and e^z·(1 + z) at z = −89 in
#: float32 (−88·e^(−89), 2^4 × the smallest normal) is computed from a flushed e^(−89);
#: within float32's and float64's range, |1 + z| stays below 2^10 where e^z is subnormal
FLUSHED = 2.0**10
TARGETS = {
    "real": (-2.25, 0.4375, 1.75),
    "probability": (0.0, 1.0, 0.71875),
    "nonnegative": (0.0, 1.0, 2.5),
    "sign": (-1.0, 1.0),
}
PAIRS = [
    pytest.param(act_name, loss_name, id=f"{act_name}-{loss_name}")
    for act_name, act in sorted(sb.ACTIVATIONS.items())
    if not act.is_vector and not act.straight_through
    for loss_name, loss in sorted(sb.LOSSES.items())
    if loss.targets != "labels" and domain.violation(act, loss) is None
]


def _smooth(expr):
    """Where the function is smooth: Dirac deltas (at kinks, |u|' = sign u) left out."""
    return expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)


def _mp(fn, logit, target, gaussian):
    """``fn(logit, target)`` by mpmath with enough digits for e^(±2z) beside 1 and, if the
    formula holds erf (``gaussian``), e^(−z²/2): 40 more than 0.87·|z| or 0.44·z²
    (σ(1000) − 1 needs 435, 1 + erf(−13) 74), at most 910 (a normal float is not below
    1e-308)."""
    depth = min(max(abs(logit), logit * logit / 2 if gaussian else 0), 1000)
    with mpmath.workdps(41 + int(0.87 * depth)):
        try:
            return fn(mpmath.mpf(logit), mpmath.mpf(target))
        except ZeroDivisionError:
            return mpmath.mpf("nan")


@functools.cache
def _erf(prec, x):
    return mpmath.erf(x)


#: erf(z/√2) by argument and precision: the value, its slopes and every target share it
MPMATH = [{"erf": lambda x: _erf(mpmath.mp.prec, x)}, "mpmath"]


def _exact(expr, targets):
    """``expr`` in z and t at every (target, logit) by mpmath, and its condition number
    there: (values, κ) as float64 arrays."""
    fn, dz, dt = (
        sp.lambdify([z, t], _smooth(e), modules=MPMATH)
        for e in (expr, sp.diff(expr, z), sp.diff(expr, t))
    )
    gaussian = expr.has(sp.erf)
    values = np.empty((len(targets), len(LOGITS)))
    condition = np.empty_like(values)
    largest = np.finfo(np.float64).max
    for i, target in enumerate(targets):
        for j, logit in enumerate(LOGITS):
            at = (float(logit), target)
            exact = _mp(fn, *at, gaussian)
            slope = abs(at[0] * _mp(dz, *at, gaussian)) + abs(
                at[1] * _mp(dt, *at, gaussian)
            )
            with mpmath.workdps(40):
                kappa = slope / abs(exact) if exact else mpmath.inf
            if mpmath.isnan(exact) or abs(exact) <= largest:
                values[i, j] = float(exact)  # nan: undefined there (t log t at t = 0)
            else:
                values[i, j] = math.copysign(math.inf, exact)
            condition[i, j] = float(kappa) if kappa <= largest else math.inf
    return values, condition


def _errors(computed, exact, condition, dtype, library="numpy"):
    """Relative errors over max(1, κ), nan where the exact value is not a normal float (and
    for a JAX module, where it is 0 in place of an exact value below FLUSHED × the smallest
    normal float)."""
    info = np.finfo(dtype)
    normal = (np.abs(exact) >= info.tiny) & (np.abs(exact) <= info.max)
    if library == "jax":
        normal &= ~((computed == 0) & (np.abs(exact) < FLUSHED * info.tiny))
    with np.errstate(all="ignore"):
        errors = np.abs(computed - exact) / np.abs(exact) / np.fmax(1.0, condition)
    errors = np.where(np.isfinite(computed), errors, np.inf)
    return np.where(normal, errors, np.nan)


def _activation(act_name):
    """The activation's expression with any learnable parameter at its initial value."""
    activation = sb.ACTIVATIONS[act_name]
    return value(activation.expr).xreplace(dict(activation.learnable))


@pytest.fixture(scope="module")
def references():
    """The exact loss and ∂ℓ/∂z of each pair (computed once for both dtypes)."""
    cache = {}

    def exact(act_name, loss_name):
        if (act_name, loss_name) not in cache:
            loss = sb.LOSSES[loss_name]
            composed = loss.expr.xreplace({y: _activation(act_name)})
            targets = TARGETS[loss.targets]
            cache[act_name, loss_name] = (
                _exact(composed, targets),
                _exact(sp.diff(composed, z), targets),
            )
        return cache[act_name, loss_name]

    return exact


def _logits(exact, dtype):
    """The logits where the exact loss and gradient are finite numbers of ``dtype`` at every
    target (beyond, the module rightly refuses: e^z overflows past 709 in float64)."""
    largest = np.finfo(dtype).max
    finite = [~np.any(np.abs(values) > largest, axis=0) for values, _ in exact]
    return np.logical_and(*finite)


def _computed(act_name, loss_name, dtype, logits, library):
    """The ``library`` module's loss of each unit and ∂ℓ/∂z of each unit: one output layer
    with W = I and b = 0, so that z is the input; the gradient of b on one sample is ∂ℓ/∂z
    unit by unit.
    """
    loss = sb.LOSSES[loss_name]
    units = len(logits)
    wide = sb.build(
        sb.Network("wide", units, [sb.Dense(units, act_name)], loss_name, dtype=dtype),
        target=library,
    )
    # two units (categorical cross-entropy needs two), the same logit in both: half the loss
    two = sb.build(
        sb.Network("two", 2, [sb.Dense(2, act_name)], loss_name, dtype=dtype),
        target=library,
    )
    # z = diag(logits)·1 + 0 exactly; dW1 = δ·1ᵀ stays as finite as δ
    params = {**wide.init_params(), "W1": np.diag(logits), "b1": np.zeros(units)}
    identity = {**two.init_params(), "W1": np.eye(2), "b1": np.zeros(2)}
    losses, grads = [], []
    for target in TARGETS[loss.targets]:
        T = np.full((1, units), target)
        grads.append(wide.gradients(params, np.ones((1, units)), T)["b1"])
        losses.append(
            [
                two.loss(identity, [[logit, logit]], [[target, target]]) / 2
                for logit in logits
            ]
        )
    return np.array(losses), np.array(grads)


HIDDEN = sorted(
    name
    for name, activation in sb.ACTIVATIONS.items()
    if not activation.is_vector and not activation.straight_through
)


@pytest.fixture(scope="module")
def slopes():
    """The exact activation f(z) and f'(z) of each name, with their condition numbers."""
    cache = {}

    def exact(act_name):
        if act_name not in cache:
            f = _activation(act_name)
            cache[act_name] = (
                _exact(f, (0.0,)),
                _exact(_smooth(sp.diff(f, z)), (0.0,)),
            )
        return cache[act_name]

    return exact


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act_name", HIDDEN)
def test_a_hidden_layers_derivative_keeps_its_digits(act_name, dtype, library, slopes):
    """f'(z) in a hidden layer's δ (the printed form, which may differ from the output's)
    against mpmath over logits from −1000 to 1000, as the pairs above: the module's gradient
    of b1 with W1 = diag(z), X = 1, a linear output with W2 = I and mae on targets far below
    (∂ℓ/∂y = 1), is f'(z) unit by unit."""
    pair = slopes(act_name)
    kept = _logits(pair, dtype)
    logits = LOGITS[kept]
    units = len(logits)
    network = sb.Network(
        "hidden",
        units,
        [sb.Dense(units, act_name), sb.Dense(units)],
        "mae",
        dtype=dtype,
    )
    module = sb.build(network, target=library)
    params = {
        **module.init_params(),
        "W1": np.diag(logits),
        "b1": np.zeros(units),
        "W2": np.eye(units),
        "b2": np.zeros(units),
    }
    far_below = np.full((1, units), -np.finfo(dtype).max / 4)
    # y − t may round to inf (the module warns of nothing: its sign is still 1)
    ours = module.gradients(params, np.ones((1, units)), far_below)["b1"]
    exact, condition = (values[:, kept] for values in pair[1])
    errors = _errors(ours[None, :], exact, condition, dtype, library)
    worst = np.nanmax(errors, initial=0.0)
    if worst > BOUND[dtype]:
        j = int(np.nanargmax(errors[0]))
        pytest.fail(
            f"{library}: f'(z) off by {worst:.1e} (relative, over κ = "
            f"{condition[0, j]:.1e}) at z = {logits[j]}: {ours[j]!r} against {exact[0, j]!r}"
        )


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("act_name", "loss_name"), PAIRS)
def test_loss_and_its_gradient_keep_their_digits(
    act_name, loss_name, dtype, library, references
):
    exact_pair = references(act_name, loss_name)
    kept = _logits(exact_pair, dtype)
    computed = _computed(act_name, loss_name, dtype, LOGITS[kept], library)
    for what, ours, (exact, condition) in zip(("loss", "∂ℓ/∂z"), computed, exact_pair):
        exact, condition = exact[:, kept], condition[:, kept]
        errors = _errors(ours, exact, condition, dtype, library)
        worst = np.nanmax(errors, initial=0.0)
        if worst > BOUND[dtype]:
            i, j = np.unravel_index(np.nanargmax(errors), errors.shape)
            target = TARGETS[sb.LOSSES[loss_name].targets][i]
            pytest.fail(
                f"{library}: {what} off by {worst:.1e} (relative, over κ = "
                f"{condition[i, j]:.1e}) at z = {LOGITS[kept][j]}, t = {target}: "
                f"{ours[i, j]!r} against {exact[i, j]!r}"
            )


def test_softplus_with_poisson_learns_from_far_below_zero():
    """The reported case: softplus' = 1 − e^(−a) rounded to 0 for z < −37, so a model
    started there never learned (its bias stayed at −40). Now the gradient is ≈ −t."""
    network = sb.Network(
        "counts", 1, [sb.Dense(1, "softplus")], "poisson", optimizer=sb.SGD(lr=1.0)
    )
    module = sb.build(network)
    params = {"W1": np.zeros((1, 1)), "b1": np.array([-40.0])}
    X, T = np.zeros((8, 1)), np.full((8, 1), 3.0)
    np.testing.assert_allclose(module.gradients(params, X, T)["b1"], [-3.0], rtol=1e-12)
    trained, _ = module.train(params, X, T, epochs=60, batch_size=8, verbose=0)
    np.testing.assert_allclose(module.forward(trained, X), 3.0, rtol=1e-3)


# --- softmax: the same bounds for rows of three logits ---------------------------------------

#: the targets of a row of three units, by the loss's target domain (rows sum to 1 for
#: probabilities; labels are given as integers)
ROW_TARGETS = {
    "real": ((1.75, -2.25, 0.4375),),
    "probability": (
        (1.0, 0.0, 0.0),
        (0.0, 1.0, 0.0),
        (0.0, 0.0, 1.0),
        (0.71875, 0.25, 0.03125),
    ),
    "labels": (0, 1, 2),
    "nonnegative": ((2.5, 0.0, 1.0),),
    "sign": ((1.0, -1.0, -1.0), (-1.0, -1.0, 1.0)),
}
SOFTMAX_PAIRS = [
    pytest.param(loss_name, id=f"softmax-{loss_name}")
    for loss_name, loss in sorted(sb.LOSSES.items())
    if domain.violation(sb.ACTIVATIONS["softmax"], loss) is None
]


def _one_hot(target, width=3):
    return (
        tuple(float(k == target) for k in range(width))
        if isinstance(target, int)
        else target
    )


@functools.cache
def _row_functions(loss_expr, width):
    """The loss of a row, Σ_j ℓ(y_j, t_j) with y = softmax(z), its gradient in z, and the
    slopes of each for κ: sympy expressions differentiated from the plain definitions.
    """
    zs = sp.symbols(f"z0:{width}", real=True)
    ts = sp.symbols(f"t0:{width}", real=True)
    exps = [sp.exp(u) for u in zs]
    total = sum(
        loss_expr.xreplace({y: e / sum(exps), t: target}) for e, target in zip(exps, ts)
    )
    functions = [total, *(sp.diff(total, u) for u in zs)]
    return [
        (
            sp.lambdify([*zs, *ts], _smooth(f), modules="mpmath"),
            [
                sp.lambdify([*zs, *ts], _smooth(sp.diff(f, u)), modules="mpmath")
                for u in (*zs, *ts)
            ],
        )
        for f in functions
    ]


def _row_exact(loss_expr, rows, targets):
    """Exact loss and gradient of each row at each target, and their κ: arrays of shape
    (targets, rows, 1 + width) (the loss, then ∂ℓ/∂z of each unit)."""
    width = len(rows[0])
    functions = _row_functions(loss_expr, width)
    largest = np.finfo(np.float64).max
    values = np.empty((len(targets), len(rows), 1 + width))
    condition = np.empty_like(values)
    for i, target in enumerate(targets):
        for j, row in enumerate(rows):
            # e^(−spread) beside 1 needs spread·log10(e) < spread/2 digits; 60 to spare
            spread = float(np.max(row) - np.min(row))
            with mpmath.workdps(60 + int(spread / 2)):
                at = [mpmath.mpf(float(u)) for u in (*row, *_one_hot(target, width))]
                for k, (fn, slopes) in enumerate(functions):
                    exact = fn(*at)
                    slope = sum(abs(u * s(*at)) for u, s in zip(at, slopes))
                    kappa = slope / abs(exact) if exact else mpmath.inf
                    values[i, j, k] = float(exact)
                    condition[i, j, k] = float(kappa) if kappa <= largest else math.inf
    return values, condition


def _row_computed(module, rows, targets):
    """The module's loss and gradient of b1 (= ∂ℓ/∂z) of each row, one row at a time through
    an output layer with W = I and b = 0."""
    width = len(rows[0])
    params = {**module.init_params(), "W1": np.eye(width), "b1": np.zeros(width)}
    computed = np.empty((len(targets), len(rows), 1 + width))
    for i, target in enumerate(targets):
        for j, row in enumerate(rows):
            X = np.asarray(row, dtype=np.float64)[None, :]
            T = np.array([target])  # a label, or a row of targets
            computed[i, j, 0] = module.loss(params, X, T)
            computed[i, j, 1:] = module.gradients(params, X, T)["b1"]
    return computed


def _check_rows(computed, exact, condition, dtype, rows, targets, library="numpy"):
    """Fails naming the worst value if any is off by more than BOUND × max(1, κ)."""
    errors = _errors(computed, exact, condition, dtype, library)
    worst = np.nanmax(errors, initial=0.0)
    if worst > BOUND[dtype]:
        i, j, k = np.unravel_index(np.nanargmax(errors), errors.shape)
        what = "loss" if k == 0 else f"∂ℓ/∂z{k - 1}"
        pytest.fail(
            f"{library}: {what} off by {worst:.1e} (relative, over κ = "
            f"{condition[i, j, k]:.1e}) at z = {list(rows[j])}, t = {targets[i]}: "
            f"{computed[i, j, k]!r} against {exact[i, j, k]!r}"
        )


#: rows (L, 0, −L/2) for L from −1000 to 1000: one output near 1 and two far below, or all
#: three comparable
GRID_ROWS = np.stack([LOGITS, np.zeros_like(LOGITS), LOGITS / 2], axis=1)


@functools.cache
def _grid_targets_and_exact(loss_name):
    """The targets of a softmax row for ``loss_name``, and the exact loss and gradient of
    each row of GRID_ROWS at each (computed once for every dtype and library)."""
    loss = sb.LOSSES[loss_name]
    kind = loss.targets
    if kind != "labels" and calculus.uses_target_sum(
        sb.ACTIVATIONS["softmax"], loss, "negative"
    ):
        kind = (
            "probability"  # the derivation used Σt = 1: the module takes such rows only
        )
    targets = ROW_TARGETS[kind]
    return targets, _row_exact(loss.expr, GRID_ROWS, targets)


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss_name", SOFTMAX_PAIRS)
def test_softmax_loss_and_its_gradient_keep_their_digits(loss_name, dtype, library):
    """The rows of GRID_ROWS: the module's loss and ∂ℓ/∂z of each unit against mpmath."""
    targets, (exact, condition) = _grid_targets_and_exact(loss_name)
    module = sb.build(
        sb.Network("row", 3, [sb.Dense(3, "softmax")], loss_name, dtype=dtype),
        target=library,
    )
    computed = _row_computed(module, GRID_ROWS, targets)
    _check_rows(computed, exact, condition, dtype, GRID_ROWS, targets, library)


#: a loss with log(1 − y) that the catalog lacks: binary cross-entropy weighting positives 3×
WEIGHTED_BCE = sb.Loss(
    "weighted_bce",
    -(3 * t * sp.log(y) + (1 - t) * sp.log(1 - y)),
    targets="probability",
)
#: logits exact in float32; the listed ones where e^z, 1 − y or their logs turn over
_LOGIT = st.one_of(
    st.floats(-1000, 1000, width=32),
    st.sampled_from([0.0, 1.0, -1.0, 17.0, 37.0, 88.0, 745.0, -745.0, 1000.0, -1000.0]),
)
_ROWS = st.integers(2, 5).flatmap(
    lambda width: st.tuples(
        st.lists(_LOGIT, min_size=width, max_size=width),
        st.integers(0, width - 1),
        st.integers(0, width - 1),
        st.sampled_from([0.25, 0.5, 0.71875]),
    )
)


@functools.cache
def _row_module(loss, width, dtype):
    return sb.build(
        sb.Network("row", width, [sb.Dense(width, "softmax")], loss, dtype=dtype)
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "loss", ["binary_crossentropy", WEIGHTED_BCE], ids=["catalog", "custom"]
)
@settings(max_examples=25, deadline=None)
@given(case=_ROWS)
def test_softmax_with_log_of_one_minus_y_keeps_its_digits_on_any_row(loss, dtype, case):
    """Losses with log(1 − y) after softmax (the error has a pole where an output is 1), on rows
    unlike the grid above: 2–5 units, ties, several large logits, soft and one-hot targets; the
    loss and ∂ℓ/∂z against mpmath."""
    logits, hot, other, share = case
    width = len(logits)
    rows = [tuple(logits)]
    one_hot = np.eye(width)[hot]
    # a row of targets summing to 1 exactly (share at one unit, the rest at another)
    targets = [
        tuple(one_hot),
        tuple((1 - share) * one_hot + share * np.eye(width)[other]),
    ]
    expr = sb.LOSSES[loss].expr if isinstance(loss, str) else loss.expr
    exact, condition = _row_exact(expr, rows, targets)
    computed = _row_computed(_row_module(loss, width, dtype), rows, targets)
    _check_rows(computed, exact, condition, dtype, rows, targets)


_MATRICES = st.tuples(
    st.integers(1, 6),
    st.integers(1, 5),
    st.sampled_from(["C", "F", "strided"]),
    st.sampled_from(["float64", "float32"]),
).flatmap(
    lambda shape: st.tuples(
        st.just(shape),
        st.lists(_LOGIT, min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]),
    )
)


def _laid_out(values, rows, width, layout, dtype):
    """values as a rows × width array of dtype in C order, Fortran order, or as a strided
    view (every other row and column of a larger array)."""
    Z = np.asarray(values, dtype=dtype).reshape(rows, width)
    if layout == "F":
        return np.asfortranarray(Z)
    if layout == "strided":
        big = np.full((2 * rows, 2 * width), np.nan, dtype=dtype)
        big[::2, ::2] = Z
        return big[::2, ::2]
    return Z


@settings(max_examples=60, deadline=None)
@given(case=_MATRICES)
@example(case=((1, 2, "C", "float64"), [65.0, 9.99999993922529e-09]))  # found by CI
def test_the_softmax_helpers_keep_their_digits_on_any_rows_in_any_layout(case):
    """The module's _softmax, _log_softmax and _softmax_parts (whose softmax and log softmax
    D − log1p(R) a NumPy module computes) gather each row's largest entry by a flat index and
    sum rows by a product with ones: on several rows at once (ties, leads of 1000, −745 where
    e^z turns over), in C order, Fortran order and strided views, float64 and float32, every
    entry against mpmath, and the input left unchanged; _softmax_parts writes the same parts
    into arrays given as out."""
    (rows, width, layout, dtype), values = case
    Z = _laid_out(values, rows, width, layout, dtype)
    before = Z.copy()
    eps = np.finfo(dtype).eps
    tiny = np.finfo(dtype).smallest_normal
    D, R, A = helpers._softmax_parts(Z)
    assert D.dtype == R.dtype == Z.dtype and R.shape == (rows, 1)
    # written into rows of larger arrays, as a training epoch passes them: the same bits there,
    # nothing outside those rows
    # (and each row's index of its largest entry, the first of equals, as argmax gives it)
    whole = [np.full((rows + 3, units), np.nan, dtype) for units in (width, 1, width)]
    predicted = np.full(rows + 3, -1, np.intp)
    out = [array[2 : 2 + rows] for array in whole]
    written = helpers._softmax_parts(Z, [*out, predicted[2 : 2 + rows]])
    assert all(into is given for into, given in zip(written, out))
    for made, into in zip((D, R, A), written):
        np.testing.assert_array_equal(into, made)
    assert all(
        np.isnan(np.delete(array, np.s_[2 : 2 + rows], 0)).all() for array in whole
    )
    np.testing.assert_array_equal(predicted[2 : 2 + rows], np.argmax(before, axis=1))
    assert (np.delete(predicted, np.s_[2 : 2 + rows]) == -1).all()

    def softmax(row, k):
        return mpmath.exp(row[k]) / sum(map(mpmath.exp, row))

    def log_softmax(row, k):
        return row[k] - mpmath.log(sum(map(mpmath.exp, row)))

    # A − T from the parts, T one-hot at each unit j in turn (at the largest output or not)
    minus = [
        (
            f"_softmax_minus(A, T, R), T at unit {j}",
            helpers._softmax_minus(A, np.eye(width, dtype=dtype)[[j] * rows], R),
            lambda row, k, j=j: softmax(row, k) - (k == j),
        )
        for j in range(width)
    ]
    # all shifted by the row's largest M (exact in mpmath), so that 0 − log(1) is 0
    for name, computed, exact_of in (
        ("_softmax", helpers._softmax(Z), softmax),
        ("_log_softmax", helpers._log_softmax(Z), log_softmax),
        ("_softmax_parts's softmax", A, softmax),
        ("_softmax_parts's D - log1p(R)", D - np.log1p(R), log_softmax),
        *minus,
    ):
        assert computed.dtype == Z.dtype and computed.shape == Z.shape, name
        for n in range(rows):
            with mpmath.workdps(60 + int(np.ptp(Z[n].astype(np.float64)))):
                top = max(float(u) for u in Z[n])
                row = [mpmath.mpf(float(u)) - mpmath.mpf(top) for u in Z[n]]
                for k in range(width):
                    exact = float(exact_of(row, k))
                    error = abs(float(computed[n, k]) - exact)
                    # each z_j − M rounds in the dtype, so e^(z_j − M) is off by up to
                    # |z_j − M| ulps, and every entry of the row depends on every such term
                    # (the sum): κ = 1 + the row's largest |z_j − M| (750: e^(−750) is 0)
                    kappa = 1 + min(max(abs(float(u)) for u in row), 750)
                    assert error <= 16 * eps * kappa * abs(exact) + tiny, (
                        f"{name} of row {list(Z[n])} ({layout}, {dtype}) at {k}: "
                        f"{computed[n, k]!r} against {exact!r}"
                    )
    np.testing.assert_array_equal(Z, before)


def test_the_row_constants_are_kept_per_shape_and_dtype_and_cannot_be_changed():
    """The softmax helpers take each shape's row offsets and column of ones from a cache:
    read-only (a caller cannot corrupt the next call's), in the dtype asked, and the helpers
    stay right after the cache has turned over (more shapes than it keeps, both dtypes).
    """
    for dtype in (np.float32, np.float64):
        offsets, ones = helpers._row_constants(3, 4, np.dtype(dtype))
        assert ones.dtype == dtype and ones.shape == (4, 1) and (ones == 1).all()
        assert offsets.tolist() == [0, 4, 8]
        for array in (offsets, ones):
            with pytest.raises(ValueError, match="read-only"):
                array[0] = 2
    rng = np.random.default_rng(0)
    shapes = [(rows, width) for rows in range(1, 11) for width in range(1, 9)]
    for rows, width in shapes + shapes[:5]:
        for dtype in (np.float32, np.float64):
            Z = (10 * rng.standard_normal((rows, width))).astype(dtype)
            plain = np.exp(Z - Z.max(axis=1, keepdims=True))
            plain /= plain.sum(axis=1, keepdims=True)
            for computed in (helpers._softmax(Z), helpers._softmax_parts(Z)[2]):
                assert computed.dtype == dtype
                np.testing.assert_allclose(computed, plain, rtol=1e-5, atol=1e-30)
            np.testing.assert_allclose(
                helpers._log_softmax(Z), np.log(plain), rtol=1e-4, atol=1e-6
            )


def test_a_form_wrong_at_every_logit_loses_to_forms_that_overflow_at_a_few():
    """Where no candidate is within tolerance everywhere and no two join, the form right at the
    most logits is chosen: −z + e^(2z)·e^(−e^(4z)) is nan where e^(2z) overflows, but 0 (off
    by all of the value at every logit) had the smaller largest error."""
    from symbackprop.derive import accuracy

    overflowing = -z + sp.exp(2 * z) * sp.exp(-sp.exp(4 * z))
    exact = -z + sp.exp(2 * z - sp.exp(4 * z))
    chosen = accuracy.most_accurate([sp.Integer(0), overflowing], exact, z)
    assert chosen == overflowing


def test_a_loss_whose_forms_all_overflow_somewhere_keeps_its_output_error():
    """(y − t)² + erf(e^(2y))/10 after identity: every right form of δ_y overflows at some
    logit, and the derivative of the loss's output form was taken in z with the output held,
    giving 0 — chosen, so δ_y = 0 and the module failed on 0 @ W2 (found by a fuzz of random
    losses). δ_y is now −∂ℓ/∂y, and the gradients pass the central differences."""
    loss = sb.Loss("g", (y - t) ** 2 + sp.erf(sp.exp(2 * y)) / 10)
    computed = calculus.accurate_output_error(
        sb.ACTIVATIONS["identity"], loss, "negative"
    )
    expected = -sp.diff(loss.expr, y)
    for point in ({y: 0.3, t: 0.1}, {y: -1.0, t: 0.5}):
        assert float(computed.subs(point)) == pytest.approx(
            float(expected.subs(point)), rel=1e-13
        )
    network = sb.Network("g", 3, [sb.Dense(4, "tanh"), sb.Dense(2)], loss)
    module = sb.build(network)
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(6, 3)), 0.5 * rng.normal(size=(6, 2))
    assert module.check_gradients(module.init_params(0), X, T) < 1e-7


def test_a_rewrite_in_exp_keeps_sin_and_cos_real():
    """rewritten writes the hyperbolic functions in exp (1 − t·tanh z → logistic terms) and
    leaves sin and cos: in exp they are complex exponentials, which the module would compute
    as complex arrays."""
    z = sb.z
    written = sp.cos(z**2) * sp.tanh(z) + sp.sin(z)
    form = accuracy.rewritten(written)
    assert not form.has(sp.I) and form.has(sp.cos, sp.sin) and not form.has(sp.tanh)
    points = np.linspace(-3, 3, 13)
    assert np.allclose(sp.lambdify(z, form)(points), sp.lambdify(z, written)(points))
