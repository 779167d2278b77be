"""Bounded symbolic work: a block of code gets a wall-clock budget and a clean fallback.

SymPy's simplification, identity proofs and set reasoning can take unbounded time on short
formulas (sympy#16259, #26453): a proof about softsign(softsign(softsign(z))) runs for minutes.
Every such stage runs under ``within(seconds, work, fallback)``: ``work()`` if it finishes in
time, else ``fallback()`` — a weaker result (no output form, the unsimplified expression) or
a refusal naming the formula. Limits nest and an inner one never outlasts an outer one, so a
public call bounded by ``TOTAL`` stays bounded whatever its stages do.

A watchdog thread raises ``OutOfTime`` in the thread that runs the work
(``PyThreadState_SetAsyncExc``); SymPy is pure Python, so it sees the exception at its next
call or loop iteration. The exception derives from ``BaseException`` (as ``KeyboardInterrupt`` does) so that
``except Exception`` in library code does not swallow it, and it is raised again every
``_REPEAT`` seconds until the work gives up. Where CPython's C API is not reachable, work runs
unbounded.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from sympy.core.parameters import _exp_is_pow, distribute, evaluate

from .errors import SpecError

Result = TypeVar("Result")
Arg = TypeVar("Arg")

#: the bound on one public call (a formula's checks, a derivation, a module, a document), in
#: seconds of wall-clock time; README "Bounded work" documents it
TOTAL = 30.0
#: seconds between raising OutOfTime again in work that outlived its deadline
_REPEAT = 0.05


class OutOfTime(BaseException):
    """Raised inside work that ran past its deadline; ``within`` turns it into the fallback."""


def _async_raiser() -> Callable[[int, type | None], None] | None:
    """``raise_in(thread, OutOfTime)`` makes that thread raise it at its next bytecode;
    ``raise_in(thread, None)`` withdraws one not yet raised. None where there is no CPython.
    """
    try:
        set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    except AttributeError:  # pragma: no cover - not CPython
        return None

    def raise_in(thread: int, exception: type | None) -> None:
        pending = None if exception is None else ctypes.py_object(exception)
        set_async_exc(ctypes.c_ulong(thread), pending)

    return raise_in


_RAISE = _async_raiser()


class _Limit:
    """A deadline on the work of one thread: its own, or an enclosing limit's if earlier.
    Once ``done`` (set under the watchdog's lock), no OutOfTime is raised for it."""

    __slots__ = ("deadline", "done", "own", "thread")

    def __init__(self, own: float, deadline: float, thread: int) -> None:
        self.own, self.deadline, self.thread, self.done = own, deadline, thread, False


class _Watchdog:
    """One daemon thread that raises OutOfTime in every thread with a passed deadline.

    Only C-level locks are shared with the working threads (an OutOfTime arriving inside a
    lock written in Python could leave it held): ``lock`` guards the limits, ``_wake`` is
    released to wake the watchdog when a limit is added. A raised OutOfTime is never
    withdrawn (CPython 3.11 can then spin in its eval loop under a profiler): work that ends
    replaces one still pending by its own and catches that (see ``_end``).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._wake = threading.Lock()
        self._wake.acquire()
        #: each thread's limits, innermost last
        self._stacks: dict[int, list[_Limit]] = {}
        #: when OutOfTime was last raised in each thread
        self._fired: dict[int, float] = {}
        self._thread: threading.Thread | None = None

    def watch(self, limit: _Limit) -> None:
        """Start watching ``limit``, its deadline no later than the enclosing limit's."""
        with self.lock:
            stack = self._stacks.setdefault(limit.thread, [])
            if stack:
                limit.deadline = min(limit.own, stack[-1].deadline)
            stack.append(limit)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="symbackprop-budget", daemon=True
                )
                self._thread.start()
        try:
            self._wake.release()
        except RuntimeError:  # already released: the watchdog is awake
            pass

    def forget(self, limit: _Limit) -> None:
        """Stop watching ``limit`` (done) and any limit inside it."""
        with self.lock:
            stack = self._stacks.get(limit.thread, [])
            if limit in stack:
                del stack[stack.index(limit) :]
            if not stack:
                self._stacks.pop(limit.thread, None)
                self._fired.pop(limit.thread, None)

    def _run(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                wake = None
                for thread, stack in self._stacks.items():
                    live = [limit.deadline for limit in stack if not limit.done]
                    if not live:
                        continue
                    due = max(min(live), self._fired.get(thread, -_REPEAT) + _REPEAT)
                    if due <= now:
                        _RAISE(thread, OutOfTime)
                        self._fired[thread] = now
                        due = now + _REPEAT
                    wake = due if wake is None else min(wake, due)
            self._wake.acquire(timeout=-1 if wake is None else max(0.0, wake - now))


_WATCHDOG = _Watchdog()


def _after_fork() -> None:
    """A child process has no watchdog thread: it starts its own when it needs one."""
    global _WATCHDOG
    _WATCHDOG = _Watchdog()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


_FALLBACKS = threading.local()


def fallbacks() -> int:
    """How many budgets have run out in this thread so far."""
    return getattr(_FALLBACKS, "count", 0)


def cache_if_complete(function: Callable[[Arg], Result]) -> Callable[[Arg], Result]:
    """``function`` of one argument, its results cached — unless a budget ran out while it
    computed one: that weaker result is not kept, a later call tries again."""
    results: dict[Arg, Result] = {}

    @functools.wraps(function)
    def cached(argument: Arg) -> Result:
        if argument in results:
            return results[argument]
        before = fallbacks()
        result = function(argument)
        if fallbacks() == before:
            results[argument] = result
        return result

    cached.cache_clear = results.clear
    return cached


def _nothing() -> None:
    """A call: where CPython checks for a pending OutOfTime."""


def _end(limit: _Limit) -> None:
    """Marks ``limit`` done (no OutOfTime is raised for it after that), then raises one in
    this thread itself, in place of any the watchdog raised before and still pending: the
    caller catches it here, never later. Waiting for a pending one is not enough: CPython
    3.11 signals asynchronous exceptions per interpreter, so a thread that takes its own
    clears the signal of another's, which can then stay pending until some call far outside
    its budget — and so can this thread's own: raised between ``_RAISE`` and the next call's
    check, another thread taking its own clears the signal, and the call returns. So it is
    raised again until it arrives here. Always raises OutOfTime."""
    with _WATCHDOG.lock:
        limit.done = True
    while True:
        _RAISE(limit.thread, OutOfTime)
        _nothing()


_UNSET = object()


def within(
    seconds: float,
    work: Callable[[], Result],
    fallback: Callable[[], Result],
) -> Result:
    """``work()`` if it finishes within ``seconds``, else ``fallback()``. An enclosing limit
    that runs out first stops the work too, and propagates (as OutOfTime) to its own
    ``within``, whose fallback answers."""
    if _RAISE is None:  # pragma: no cover - not CPython
        return work()
    own = time.monotonic() + seconds
    limit = _Limit(own, own, threading.get_ident())
    result, failure = _UNSET, None
    try:
        try:
            # watched inside the try: an OutOfTime for this limit can arrive as soon as the
            # watchdog sees it, before work starts (a budget of 0.5 ms on a loaded machine)
            _WATCHDOG.watch(limit)
            result = work()
        except OutOfTime:
            pass  # stopped: result stays unset
        except BaseException as error:  # noqa: BLE001 - raised again below
            failure = error
        _end(limit)
    except OutOfTime:
        # _end raised, or one raised before the limit was done arrived first: end it again
        while not limit.done:
            try:
                _end(limit)
            except OutOfTime:
                pass
    _WATCHDOG.forget(limit)
    if failure is not None:
        raise failure
    if result is not _UNSET:
        return result
    if time.monotonic() < limit.own:  # an enclosing limit ran out, not this one
        raise OutOfTime
    _FALLBACKS.count = fallbacks() + 1
    return fallback()


@contextlib.contextmanager
def library_defaults():
    """SymPy's and NumPy's defaults for the calling thread within, whatever the program set
    (both keep them per thread, and restore the program's after): expressions evaluated,
    products distributed over sums, exp(u) an exponential and not a power, and NumPy's
    default error handling (underflow ignored, the rest warned about). Every derivation,
    proof, float64 check and printed formula is written for them: a program inside
    ``with sympy.evaluate(False)`` got other, wrong modules, and one with
    ``np.seterr(all="warn")`` warnings from the checks' harmless underflows."""
    with (
        evaluate(True),
        distribute(True),
        _exp_is_pow(False),
        np.errstate(divide="warn", over="warn", under="ignore", invalid="warn"),
    ):
        yield


def bounded(
    work: Callable[[], Result], what: str, seconds: float | None = None
) -> Result:
    """``work()`` within ``seconds`` (``TOTAL`` unless given) and in SymPy's and NumPy's
    defaults (``library_defaults``), else a SpecError saying that ``what`` took too long.
    """
    seconds = TOTAL if seconds is None else seconds

    def refuse() -> Result:
        raise SpecError(
            f"{what} took longer than {seconds:g} s, the bound on the symbolic work of any "
            "one formula, network or document; write the formula more simply"
        )

    def in_library_defaults() -> Result:
        with library_defaults():
            return work()

    try:
        return within(seconds, in_library_defaults, refuse)
    except RecursionError:
        raise SpecError(
            f"{what} went deeper than Python's recursion limit allows; write the formula "
            "more simply"
        ) from None


__all__ = [
    "TOTAL",
    "OutOfTime",
    "bounded",
    "cache_if_complete",
    "fallbacks",
    "library_defaults",
    "within",
]
