"""Whether a loss is defined on what the output layer can produce: binary cross-entropy needs
outputs in (0, 1), Poisson positive ones. Checked by evaluating the loss, exactly, on the output
activation's values at a few points; one point where it is not real and finite refutes the pair.
Beyond those points, SymPy's continuous_domain finds where the loss may be undefined, and
solveset whether the activation gives such an output (a loss with √(y + 4) after identity; for
a row-wise activation, its first unit with the others held).
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy.calculus.util import continuous_domain

from .. import budget
from ..expressions import numeric
from ..expressions.algebra import expand_rows, indexed, value
from ..expressions.symbols import t, y, z
from .functions import Activation, Loss, undefined_at
from .targets import DOMAINS

#: pre-activations the output is probed at (exact rationals: no rounding reaches 0 or 1)
PROBE = tuple(
    sp.Rational(p) for p in ("-3.7", "-1.3", "-0.4", "0", "0.6", "1.9", "4.2")
)
#: the other units of a row for a row-wise activation (softmax)
_ROW = (sp.Rational("0.5"), sp.Rational("-1.2"))
#: seconds an exact evaluation may take before float64 decides
EXACT_SECONDS = 2.0
#: seconds SymPy may take to find outputs beyond the probes where a loss is undefined
DOMAIN_SECONDS = 3.0
#: what the search beyond the probes answers where SymPy cannot tell
UNDECIDED = "undecided"


def _outputs(activation: Activation) -> list[tuple[sp.Rational, sp.Expr]]:
    """(z, exact output) at each probe point, learnable parameters at their initial values."""
    expr = value(activation.expr).xreplace(dict(activation.learnable))
    if not activation.is_vector:
        return [(p, expr.xreplace({z: p})) for p in PROBE]
    row = expand_rows(expr, 1 + len(_ROW), (z,))
    others = {indexed(z, k + 2): v for k, v in enumerate(_ROW)}
    return [(p, row.xreplace({indexed(z, 1): p, **others})) for p in PROBE]


def _finite(expr: sp.Expr) -> bool:
    """Whether a constant formula is a finite real number: exactly (SymPy's evalf), or in
    float64 when that takes longer than ``EXACT_SECONDS`` (e^(e^(e^(e^66))) never finishes).
    """

    def exact() -> bool:
        result = expr.evalf()
        return bool(result.is_Number and result.is_finite and result.is_real)

    def approximate() -> bool:
        return numeric.finite(numeric.evaluate(expr, [], []))

    def guarded() -> bool:
        try:
            return exact()
        except Exception:  # noqa: BLE001 - SymPy failing to evaluate: decide in float64
            return approximate()

    return budget.within(EXACT_SECONDS, guarded, approximate)


def violation(activation: Activation, loss: Loss) -> tuple[sp.Expr, sp.Expr] | None:
    """A point ``(z, output)`` where ``loss`` is not real and finite: at a probe, or beyond
    them (``_beyond_probes``); else None (also where SymPy cannot tell)."""
    found = _violation(activation, loss)
    return None if found is UNDECIDED else found


def fits(activation: Activation, loss: Loss) -> bool:
    """Whether ``loss`` is shown defined on the outputs ``activation`` gives: no violation,
    and none that SymPy could not rule out (advice names only these)."""
    return _violation(activation, loss) is None


def _violation(
    activation: Activation, loss: Loss
) -> tuple[sp.Expr, sp.Expr] | str | None:
    """``violation``, or UNDECIDED where SymPy cannot tell whether the activation reaches an
    output where the loss is undefined (or ran out of time finding out)."""
    for point, output in _outputs(activation):
        for target in DOMAINS[loss.targets].probes:
            if not _finite(loss.expr.xreplace({y: output, t: sp.Rational(target)})):
                return point, output
    return budget.within(
        DOMAIN_SECONDS, lambda: _beyond_probes(activation, loss), lambda: UNDECIDED
    )


@functools.lru_cache(maxsize=256)
def _beyond_probes(
    activation: Activation, loss: Loss
) -> tuple[sp.Expr, sp.Expr] | str | None:
    """An output where SymPy finds ``loss`` undefined at a target probe (``undefined_at``) and
    some z gives (``solveset``): (z, output); else UNDECIDED where solveset could not tell for
    some such output, else None. (Cached: a pair costs up to 50 ms, and every Network checks
    its own.)"""
    expr, variable = value(activation.expr).xreplace(dict(activation.learnable)), z
    if activation.is_vector:  # the row's first unit, the others at _ROW (as _outputs)
        variable = indexed(z, 1)
        others = {indexed(z, k + 2): v for k, v in enumerate(_ROW)}
        expr = expand_rows(expr, 1 + len(_ROW), (z,)).xreplace(others)
    answer = None
    for target in DOMAINS[loss.targets].probes:
        outputs, _ = undefined_at(loss.expr.xreplace({t: sp.Rational(target)}), y)
        for output in outputs:
            found = _solved(sp.Eq(expr, output), variable)
            if isinstance(found, sp.FiniteSet) and found:
                return min(found, key=sp.default_sort_key), output
            if isinstance(found, sp.Interval):
                return found.start if found.start.is_finite else found.end, output
            if found != sp.S.EmptySet:
                answer = UNDECIDED  # a ConditionSet, or SymPy failed: it cannot tell
    return answer


def _solved(equation: sp.Eq, variable: sp.Symbol) -> sp.Set:
    """solveset's real solutions, or all reals where SymPy fails (it cannot tell)."""
    try:
        return sp.solveset(equation, variable, sp.S.Reals)
    except Exception:  # noqa: BLE001 - NotImplementedError, and SymPy's own failures
        return sp.S.Reals


def needs(loss: Loss) -> str:
    """Where ``loss`` is defined in y, as an interval such as ``(0, 1)``, when SymPy finds it."""
    target = sp.Rational(DOMAINS[loss.targets].probes[0])
    try:
        found = continuous_domain(loss.expr.xreplace({t: target}), y, sp.S.Reals)
    except (NotImplementedError, ValueError, TypeError):
        return "outputs where it is real and finite"
    if not isinstance(found, sp.Interval):
        return f"outputs in {found}"

    def end(x: sp.Expr) -> str:
        return {sp.oo: "∞", -sp.oo: "-∞"}.get(x, str(x))

    left = "(" if found.left_open else "["
    right = ")" if found.right_open else "]"
    return f"outputs in {left}{end(found.start)}, {end(found.end)}{right}"


__all__ = ["PROBE", "needs", "violation"]
