"""A worked example: two samples through the user's own network in training mode (dropout
masks drawn, batch statistics), every value as numbers.

The inputs, targets and initial weights are drawn (NumPy's default_rng(0)) and rounded to two decimals, so the
numbers shown are exactly the ones computed with; every forward value, the loss, each δ and each
gradient is then the derivation's own formula evaluated in float64 by the code the generated
module runs for it, and shown to four significant digits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from ..derive.derivation import N, T, X
from ..expressions.notation import Dots
from ..expressions.numeric import on_arrays
from ..spec.initializers import FAN_IN, FAN_OUT
from ..spec.targets import DOMAINS
from .model import Math, Row, Section, Text

if TYPE_CHECKING:
    from ..derive.derivation import Derivation

SAMPLES = 2
SEED = 0
#: significant digits of the values shown
DIGITS = 4
#: columns shown of a wider matrix (the first ones, then ⋯)
COLUMNS = 8


def _shown(values: np.ndarray) -> sp.Basic:
    """An array as a matrix of numbers to ``DIGITS`` significant digits (a vector as a row;
    of more than ``COLUMNS`` columns, the first ones and ⋯)."""
    array = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if array.size == 1:
        return _number(float(array.flat[0]))
    wide = array.shape[1] > COLUMNS
    return sp.Matrix(
        [[_number(float(v)) for v in row[:COLUMNS]] + [Dots()] * wide for row in array]
    )


def _number(value: float) -> sp.Expr:
    if value == 0 or not np.isfinite(value):
        return sp.Integer(0) if value == 0 else sp.nan
    rounded = float(f"{value:.{DIGITS}g}")
    if rounded == int(rounded) and abs(rounded) < 10**DIGITS:
        return sp.Integer(int(rounded))
    return sp.Float(rounded, DIGITS)


def inputs(derivation: Derivation) -> dict[sp.Symbol, np.ndarray]:
    """X, T and every initial parameter of the example, as exactly the numbers shown."""
    network = derivation.network
    rng = np.random.default_rng(SEED)
    X_values = np.round(rng.normal(size=(SAMPLES, network.sizes[0])), 2)
    outputs = network.sizes[-1]
    domain = DOMAINS[network.loss.targets]
    if derivation.targets_sum_to_one or network.loss.targets == "labels":
        # one-hot rows, one class per sample
        T_values = np.eye(outputs)[DOMAINS["labels"].sample(rng, SAMPLES, outputs)]
    else:
        T_values = np.round(domain.sample(rng, SAMPLES, outputs), 2)
    values = {X: X_values, T: T_values}
    for layer in derivation.layers:
        init = network.initializer(layer.index - 1)
        scale = float(init.scale.xreplace({FAN_IN: layer.inputs, FAN_OUT: layer.units}))
        shape = (layer.units, layer.inputs)
        draw = (
            rng.uniform(-scale, scale, size=shape)
            if init.distribution == "uniform"
            else rng.normal(0.0, scale, size=shape)
        )
        values[layer.W] = np.round(draw, 2)
        if layer.bias:
            values[layer.b] = np.zeros(layer.units)
        for p, initial in layer.activation.learnable:
            values[layer.learnable[p]] = np.full(layer.units, float(initial))
        ones = layer.starting_at_one
        for p in (*layer.scale_and_shift, *(stat for stat, _ in layer.statistics)):
            values[p] = np.full(layer.units, ones.get(p, 0.0))
    for mask, rate, width in derivation.masks:
        # training mode: each entry kept with probability 1 − rate, scaled by 1/(1 − rate)
        values[mask] = (rng.random((SAMPLES, width)) >= rate) / (1 - rate)
    return values


def computed(derivation: Derivation) -> dict[sp.Symbol, np.ndarray]:
    """Every value of the example: the inputs, then each equation's left side in order
    (forward pass, loss, δ, gradients), by the formula the module computes."""
    values = {**inputs(derivation), N: float(SAMPLES)}
    for step in ("forward", "loss", "delta", "gradient"):
        for eq in derivation.step(step):
            values[eq.lhs] = on_arrays(eq.code, values, training=True)
    return values


def worked_example(derivation: Derivation) -> Section:
    """The section: the batch and the initial weights, then every value computed from them."""
    values = computed(derivation)
    given = [X, T, *derivation.params, *(mask for mask, _, _ in derivation.masks)]
    rows = [Row(symbol, (_shown(values[symbol]),)) for symbol in given]
    results = [
        Row(eq.lhs, (_shown(values[eq.lhs]),))
        for step in ("forward", "loss", "delta", "gradient")
        for eq in derivation.step(step)
    ]
    text = (
        (
            f"{SAMPLES} samples through this network (N = {SAMPLES}): inputs, targets and "
            "initial weights drawn as above (NumPy's default_rng(0)) and rounded to two "
            "decimals, biases 0"
            + (
                ", each BatchNorm's γ 1 and β 0, normalising by the batch's statistics"
                if derivation.network.batchnorm
                else ""
            )
            + (
                ", dropout masks drawn for training mode (each entry kept with "
                "probability 1 − rate, then scaled by 1/(1 − rate)). "
                if derivation.masks
                else ". "
            )
            + f"Every value below follows from them by the formulas above, computed in float64 "
            f"and shown to {DIGITS} significant digits; the tests check each against the "
            "generated module."
        ),
    )
    return Section(
        "Worked example",
        (
            Text(text),
            Math(tuple(rows)),
            Text(("Forward pass, loss, errors and gradients:",)),
            Math(tuple(results)),
        ),
    )
