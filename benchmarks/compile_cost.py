"""What compiling costs: derive + generate across widths and depths, and the CLI end to end."""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import symbackprop as sb

ROOT = Path(__file__).resolve().parent.parent


def _network(width: int, depth: int) -> sb.Network:
    """``depth`` layers: ReLU hidden layers of ``width`` units over ``width`` inputs, then a
    10-way softmax with cross-entropy."""
    hidden = [sb.Dense(width, activation="relu") for _ in range(depth - 1)]
    return sb.Network(
        name=f"w{width}_d{depth}",
        inputs=width,
        layers=[*hidden, sb.Dense(10, activation="softmax")],
        loss="categorical_crossentropy",
    )


def derive_and_generate(networks: dict, repeats: int) -> dict:
    """Median seconds of ``sb.generate`` (derive, print, render, black) per network, the
    networks taken in turn each round so that a slow spell of the machine hits them alike.
    """
    times = {key: [] for key in networks}
    for _ in range(repeats):
        for key, network in networks.items():
            # each from a clean collector: a full collection of SymPy's many objects would
            # otherwise land on whichever network happens to cross the threshold
            gc.collect()
            started = time.perf_counter()
            sb.generate(network)
            times[key].append(time.perf_counter() - started)
    return {key: statistics.median(values) for key, values in times.items()}


def cli_compile(repeats: int) -> float:
    """Median wall seconds of ``symbackprop compile examples/circles.py`` in a fresh process."""
    times = []
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "symbackprop", "compile"]
        command += [str(ROOT / "examples" / "circles.py"), "-o", folder]
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(widths, depths, repeats: int) -> dict[str, object]:
    """Every compile cost, after one warm-up compile (its time reported as ``first``)."""
    started = time.perf_counter()
    sb.generate(_network(8, 2))
    first = time.perf_counter() - started
    return {
        "first": first,
        "widths": derive_and_generate({w: _network(w, 3) for w in widths}, repeats),
        "depths": derive_and_generate({d: _network(64, d) for d in depths}, repeats),
        "cli": cli_compile(repeats),
    }
