"""Bounded symbolic work: a budget with a clean fallback, never a hang and never a traceback.

First the mechanism (``budget.within``), then every stage that can blow up falling back, then
the short formulas that used to hang or crash the compiler, each within the documented bound.
"""

import cProfile
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop import budget
from symbackprop.derive import accuracy, calculus
from symbackprop.expressions.symbols import a, t, y
from symbackprop.spec import domain

ROOT = Path(__file__).resolve().parent.parent


def _spin(seconds):
    """Pure-Python work that takes ``seconds`` unless stopped."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return "done"


def _timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


# --- the mechanism ---------------------------------------------------------------------------


def test_work_that_finishes_in_time_gives_its_result():
    assert budget.within(2.0, lambda: _spin(0.05), lambda: "fallback") == "done"


def test_work_past_its_budget_is_stopped_and_falls_back():
    result, took = _timed(
        lambda: budget.within(0.2, lambda: _spin(5), lambda: "fallback")
    )
    assert result == "fallback"
    assert took < 1.0


def test_an_inner_budget_falls_back_inside_an_outer_one():
    def outer():
        inner = budget.within(0.1, lambda: _spin(5), lambda: "inner fallback")
        return f"{inner}, then {_spin(0.05)}"

    assert budget.within(3.0, outer, lambda: "outer") == "inner fallback, then done"


def test_an_outer_budget_stops_inner_work_with_a_longer_budget():
    def outer():
        return budget.within(30.0, lambda: _spin(5), lambda: "inner fallback")

    result, took = _timed(lambda: budget.within(0.2, outer, lambda: "outer fallback"))
    assert result == "outer fallback"
    assert took < 1.0


def test_work_that_swallows_the_stop_is_stopped_again():
    def stubborn():
        try:
            _spin(5)
        except budget.OutOfTime:
            pass  # as careless library code might
        return _spin(5)

    result, took = _timed(lambda: budget.within(0.2, stubborn, lambda: "fallback"))
    assert result == "fallback"
    assert took < 1.5


def test_budgets_hold_in_other_threads():
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            budget.within(0.2, lambda: _spin(5), lambda: "fb")
        )
    )
    worker.start()
    worker.join(timeout=5)
    assert results == ["fb"]


def test_no_stop_arrives_after_its_budget_has_ended():
    """Many nested budgets that run out at random moments, in eight threads at once: every
    OutOfTime lands inside the budget it belongs to, none escapes afterwards. (CPython 3.11
    signals asynchronous exceptions per interpreter: one thread taking its own can leave
    another's pending past its budget; with eight threads that happens within seconds.)
    """
    failures = []

    def nest(rng, depth):
        seconds, work = rng.uniform(0.0005, 0.01), rng.uniform(0, 0.015)
        if depth and rng.random() < 0.6:

            def inner():
                return (nest(rng, depth - 1), _spin(work))[1]

            return budget.within(seconds, inner, lambda: "fb")
        return budget.within(seconds, lambda: _spin(work), lambda: "fb")

    def run(seed):
        rng = random.Random(seed)
        try:
            for _ in range(150):
                assert nest(rng, 3) in ("done", "fb")
            _spin(0.2)  # a stray stop would arrive here
        except BaseException as error:  # noqa: BLE001 - any escape fails the test
            failures.append(repr(error))

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(7)]
    for thread in threads:
        thread.start()
    run(99)
    for thread in threads:
        thread.join()
    assert failures == []


def test_ending_a_budget_raises_until_its_own_stop_arrives(monkeypatch):
    """A stop raised in this thread may not arrive at the next call: another thread taking its
    own clears the interpreter's signal (CPython 3.11), and it stays pending until some call
    far outside the budget (the full suite saw it in pytest's teardown). ``_end`` raises it
    again until it arrives; here the first one is lost on purpose."""
    raised = []
    real = budget._RAISE

    def losing_the_first(thread, exception):
        raised.append(exception)
        if len(raised) > 1:
            real(thread, exception)

    monkeypatch.setattr(budget, "_RAISE", losing_the_first)
    deadline = time.monotonic() + 60
    limit = budget._Limit(deadline, deadline, threading.get_ident())
    budget._WATCHDOG.watch(limit)
    with pytest.raises(budget.OutOfTime):
        budget._end(limit)
    budget._WATCHDOG.forget(limit)
    assert raised == [budget.OutOfTime, budget.OutOfTime]


def test_a_stop_arriving_before_the_work_starts_gives_the_fallback(monkeypatch):
    """The watchdog may raise as soon as it sees a limit, before ``within`` calls the work:
    a budget of 0.5 ms on a loaded machine. That stop is this budget's, never its caller's.
    """
    real = budget._WATCHDOG.watch

    def watch_then_stop(limit):
        real(limit)
        raise budget.OutOfTime  # what the watchdog raises once the deadline has passed

    monkeypatch.setattr(budget._WATCHDOG, "watch", watch_then_stop)
    assert budget.within(0.0, lambda: "done", lambda: "fb") == "fb"


def test_a_budget_under_a_profiler_neither_hangs_nor_leaks():
    profiler = cProfile.Profile()
    result = profiler.runcall(
        lambda: budget.within(0.2, lambda: _spin(3), lambda: "fallback")
    )
    assert result == "fallback"
    assert profiler.runcall(lambda: budget.within(1, lambda: "fine", lambda: "fb")) == (
        "fine"
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX")
def test_a_forked_child_enforces_its_own_budgets():
    budget.within(1.0, lambda: "watchdog started", lambda: "")
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        result = budget.within(0.2, lambda: _spin(3), lambda: "fallback")
        os._exit(0 if result == "fallback" else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_bounded_work_past_the_total_is_refused_naming_it():
    with pytest.raises(sb.SpecError) as error:
        budget.bounded(lambda: _spin(5), "Activation 'slow': checking the formula", 0.2)
    assert str(error.value).startswith(
        "Activation 'slow': checking the formula took longer than 0.2 s"
    )


# --- each stage that can blow up has a budget and a clean fallback ---------------------------


def _fresh(expr):
    """An activation expression no cache has seen (the searches are cached per expression)."""
    return expr * (1 + sp.Rational(random.randrange(10**6), 10**12))


@pytest.fixture
def runs_out(monkeypatch):
    """``runs_out(module, "NAME_SECONDS")``: that stage's budget runs out at once (its work
    never finishes), every other budget as usual."""

    def make(module, name):
        marker = 987.654321  # a budget no stage has
        monkeypatch.setattr(module, name, marker)
        within = budget.within

        def fake(seconds, work, fallback):
            return fallback() if seconds == marker else within(seconds, work, fallback)

        monkeypatch.setattr(budget, "within", fake)

    yield make
    # what was found while a budget was faked out must not stay cached for later tests
    for search in (
        calculus.derivative_in_output_form,
        calculus.row_jacobian,
        calculus.backward_rule,
        calculus.accurate_derivative,
        calculus._accurate_output_error,
        calculus._accurate_loss,
    ):
        search.cache_clear()


def test_output_form_search_out_of_time_falls_back_to_the_z_form(runs_out):
    runs_out(calculus, "SEARCH_SECONDS")
    expr = _fresh(1 / (1 + sp.exp(-sb.z)))
    form = calculus.derivative_in_output_form(expr)
    assert not form.in_output
    assert form.expr == sp.diff(expr, sb.z)


def test_a_proof_out_of_time_is_not_a_proof(runs_out):
    runs_out(calculus, "PROOF_SECONDS")
    assert not calculus.is_identically_zero(sp.sin(sb.z) ** 2 + sp.cos(sb.z) ** 2 - 1)


def test_simplification_out_of_time_keeps_the_expression(runs_out):
    runs_out(calculus, "TIDY_SECONDS")
    expr = sp.Mul(sb.z**2 - 1, sp.Pow(sb.z - 1, -1), evaluate=False)
    assert calculus.tidy(expr) is expr


def test_region_reasoning_out_of_time_says_it_does_not_know(runs_out):
    runs_out(calculus, "REGION_SECONDS")
    assert calculus._region(sb.z > 1) is None


def test_an_exact_domain_check_out_of_time_decides_in_float64(runs_out):
    runs_out(domain, "EXACT_SECONDS")
    assert domain._finite(sp.log(sp.Rational(1, 3)))
    assert not domain._finite(sp.log(sp.Integer(0)))


@pytest.mark.parametrize(
    "stage", [(calculus, "ACCURACY_SECONDS"), (accuracy, "SECONDS")], ids=lambda s: s[1]
)
def test_an_accuracy_choice_out_of_time_keeps_the_lecture_form(runs_out, stage):
    runs_out(*stage)
    for cached in (calculus.accurate_derivative, calculus._accurate_output_error):
        cached.cache_clear()
    softplus = sb.ACTIVATIONS["softplus"].expr  # its lecture form: 1 − e^(−a)
    assert calculus.accurate_derivative(softplus) == 1 - sp.exp(-a)
    sigmoid, loss = sb.ACTIVATIONS["sigmoid"], sb.LOSSES["binary_crossentropy"]
    assert calculus.accurate_output_error(sigmoid, loss, "gradient") == y - t


def test_a_network_whose_searches_time_out_still_gets_true_gradients(runs_out):
    runs_out(calculus, "SEARCH_SECONDS")
    act = sb.Activation("slowish", _fresh(sp.tanh(sb.z)))
    network = sb.Network("fallback", 2, [sb.Dense(3, act), sb.Dense(1)])
    module = sb.build(network)
    rng = np.random.default_rng(0)
    X, T = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))
    assert module.check_gradients(module.init_params(0), X, T) < 1e-7
    assert (
        not sb.derive(network).layers[0].derivative_in_output_form
    )  # not found in time


def test_a_derivation_past_the_total_is_refused_naming_the_network(runs_out):
    network = sb.Network("late", 2, [sb.Dense(1)])
    runs_out(budget, "TOTAL")
    with pytest.raises(sb.SpecError) as error:
        sb.derive(network)
    assert str(error.value).startswith(
        "Network 'late': deriving its backpropagation took longer than 987.654 s"
    )


# --- short formulas that hung or crashed the compiler ----------------------------------------

#: the README's bound on one formula's, network's or document's symbolic work
BOUND = budget.TOTAL

HOSTILE = [
    "exp(exp(exp(exp(exp(exp(exp(z)))))))",
    "softsign(softsign(softsign(z)))",
    "tanh(" * 10 + "z" + ")" * 10,
    "where(z > 0, " * 8 + "z" + "".join(f", {k}*z)" for k in range(2, 10)),
    "z**99",
    "z*exp(z**2)",
    " + ".join(f"{k + 1}*z**{k}" for k in range(39)),
    "exp(100*z)",
    "sqrt(z)*exp(z)/row_sum(exp(z))",
    "exp(z)/row_sum(exp(exp(exp(z))))",
    "log(1 + exp(" * 6 + "z" + "))" * 6,
    "where(z > 0, z, where(z > -1, z**2, where(z < -2 and z > -3, -z, 0)))",
    "z/(1 + abs(z/(1 + abs(z/(1 + abs(z/(1 + abs(z))))))))",
    "sin(z)**50 + cos(z)**50",
    "erf(erf(erf(erf(z))))",
]


def _compile_everything(formula):
    """What compile and latex do with an activation: check it, build a network on it, derive,
    generate the module and write the document."""
    activation = sb.Activation("hostile", formula)
    network = sb.Network("hostile", 2, [sb.Dense(3, activation), sb.Dense(1)])
    source = sb.generate(network)
    sb.derive(network).to_markdown()
    return source


@pytest.mark.parametrize("formula", HOSTILE)
def test_a_hostile_formula_is_refused_or_compiled_within_the_bound(formula):
    start = time.perf_counter()
    try:
        source = _compile_everything(formula)
    except sb.SpecError as error:
        assert "hostile" in str(error)
    else:
        compile(source, "<hostile>", "exec")
    assert time.perf_counter() - start < BOUND


_LEAF = st.sampled_from(["z", "2*z", "-z", "0.5", "z**2"])
_UNARY = ["tanh", "exp", "softsign", "softplus", "abs", "sigmoid", "erf", "atan", "log"]


def _formulas():
    def extend(inner):
        return st.one_of(
            st.builds(lambda f, u: f"{f}({u})", st.sampled_from(_UNARY), inner),
            st.builds(lambda a, b: f"({a}) * ({b})", inner, inner),
            st.builds(lambda a, b: f"({a}) / (1 + abs({b}))", inner, inner),
            st.builds(lambda a, b: f"where(z > 0.3, {a}, {b})", inner, inner),
            st.builds(lambda a, k: f"({a})**{k}", inner, st.integers(2, 40)),
        )

    return st.recursive(_LEAF, extend, max_leaves=12)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(_formulas())
def test_any_formula_is_refused_or_compiled_never_a_traceback(formula):
    try:
        source = _compile_everything(formula)
    except sb.SpecError:
        return
    compile(source, "<formula>", "exec")


def test_the_cli_on_a_hostile_spec_ends_within_the_bound_without_a_traceback(tmp_path):
    spec = tmp_path / "hostile.toml"
    tables = "\n".join(
        f'[activation.h{i}]\nformula = "{formula}"\n'
        for i, formula in enumerate(HOSTILE[1:5])
    )
    layers = ", ".join(f'{{units = 2, activation = "h{i}"}}' for i in range(4))
    spec.write_text(
        f'[[network]]\nname = "h"\ninputs = 2\nlayers = [{layers}, {{units = 1}}]\n{tables}',
        encoding="utf-8",
    )
    start = time.perf_counter()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "symbackprop",
            "compile",
            str(spec),
            "-o",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=4 * BOUND,
    )
    assert time.perf_counter() - start < 2 * BOUND
    assert run.returncode in (0, 2), run.stderr
    assert "Traceback" not in run.stderr


def test_a_result_found_while_a_budget_ran_out_is_not_kept():
    calls = []

    @budget.cache_if_complete
    def search(x):
        calls.append(x)
        if len(calls) == 1:
            return budget.within(0.05, lambda: _spin(2), lambda: "weaker")
        return "complete"

    assert search(1) == "weaker"
    assert search(1) == "complete"
    assert search(1) == "complete"
    assert calls == [1, 1]


def test_symbolic_work_past_the_recursion_limit_is_a_spec_error():
    """A RecursionError inside bounded work (SymPy on a formula nested beyond Python's limit)
    is refused with what was being done, not a traceback."""

    def deeper(n: int) -> int:
        return deeper(n + 1)

    with pytest.raises(
        sb.SpecError, match="Network 'n': generating its module went deeper"
    ):
        budget.bounded(lambda: deeper(0), "Network 'n': generating its module")
