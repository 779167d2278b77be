"""`make bench`: per-epoch training time of the generated module beside its peers, and what
compiling costs, as a Markdown report (benchmarks/RESULTS.md and the README's benchmark section).

Every peer first trains one epoch from the same parameters over the same batches and must end
with the same parameters as the generated module; then the peers are timed interleaved, one
epoch each per round, and the median of the rounds is reported. Ratios, never absolute times,
are what compare: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compile_cost
import jax_peers
import peers as implementations
from peers import Case, network

ROOT = Path(__file__).resolve().parent.parent
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
#: largest relative difference allowed between a peer's parameters and ours after one epoch
AGREEMENT = 1e-8


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits (1797 × 64, scaled to [0, 1]); random data of that shape
    when scikit-learn is missing."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(0)
        return rng.uniform(size=(1797, 64)), rng.integers(0, 10, 1797)
    data = load_digits()
    return data.data / 16.0, data.target


def cases(quick: bool) -> list[Case]:
    """small: 64-15-10 on the digits, batch 32; large: 784-256-256-10 on 4096 synthetic
    samples, batch 128 (512 samples when quick)."""
    X, labels = digits()
    small = Case(
        "small", network("small", (64, 15, 10), 0.1), X, np.eye(10)[labels], 32, 0.1
    )
    rng = np.random.default_rng(0)
    samples = 512 if quick else 4096
    X = rng.normal(size=(samples, 784))
    T = np.eye(10)[rng.integers(0, 10, samples)]
    large = Case("large", network("large", (784, 256, 256, 10), 0.01), X, T, 128, 0.01)
    return [small, large]


def disagreement(ours: dict, theirs: dict) -> float:
    """Largest relative difference between two sets of parameters."""
    return max(
        float(
            np.max(np.abs(ours[key] - theirs[key]))
            / (np.max(np.abs(ours[key])) + 1e-300)
        )
        for key in ours
    )


def check_agreement(case: Case, peers: list) -> dict[str, float]:
    """One epoch of every training peer from the generated module's initial parameters over
    the same batches: each must end where the generated module ends."""
    start = peers[0].module.init_params(seed=1)
    order = np.random.default_rng(0).permutation(case.X.shape[0])
    for peer in peers:
        peer.load(start)
    results = {}
    for peer in peers:
        peer.epoch(order, seed=0)
    reference = peers[0].params()
    for peer in peers[1:]:
        if peer.trains:
            results[peer.name] = disagreement(reference, peer.params())
            if results[peer.name] > AGREEMENT:
                raise AssertionError(
                    f"{case.name}: {peer.name} ends the epoch {results[peer.name]:.2e} away "
                    "from the generated module: they do not compute the same training"
                )
    return results


def time_rounds(case: Case, peers: list, rounds: int) -> dict[str, list[float]]:
    """Seconds per epoch of each peer in each round, the peers run interleaved in a shuffled
    order per round."""
    times = {peer.name: [] for peer in peers}
    shuffler = random.Random(0)
    for round_ in range(rounds):
        order = np.random.default_rng(round_).permutation(case.X.shape[0])
        for peer in shuffler.sample(peers, len(peers)):
            started = time.perf_counter()
            peer.epoch(order, seed=round_)
            times[peer.name].append((time.perf_counter() - started) / peer.epochs)
    return times


def round_counts(quick: bool) -> dict[str, int]:
    """Timing rounds per case."""
    return {"small": 3, "large": 2} if quick else {"small": 101, "large": 21}


def run_case(case: Case, rounds: int) -> dict[str, object]:
    """Agreement, then timing, of every available implementation of ``case``."""
    everyone = implementations.peers(case)
    available = [peer for peer in everyone if peer.missing is None]
    agreement = check_agreement(case, available)
    return _timed(case, available, rounds, agreement, everyone, "main")


def _timed(
    case: Case, available, rounds: int, agreement, everyone, group: str
) -> dict[str, object]:
    """A case's results: each peer's median time, and its time in every round under
    ``group`` (the process the peers ran in: rounds pair only within one)."""
    per_round = time_rounds(case, available, rounds) if available else {}
    return {
        "case": case,
        "times": {name: statistics.median(v) for name, v in per_round.items()},
        "rounds": {group: per_round},
        "agreement": agreement,
        "missing": {peer.name: peer.missing for peer in everyone if peer.missing},
    }


#: the peers timed in a process of their own, by family: their thread pools and OpenBLAS's
#: disturb each other
ISOLATED = {"torch": implementations.torch_peers, "jax": jax_peers.jax_peers}


def run_isolated(family: str, case: Case, rounds: int) -> dict[str, object]:
    """``run_case`` for one ``ISOLATED`` family, the generated NumPy module the reference."""
    everyone = ISOLATED[family](case)
    available = [peer for peer in everyone if peer.missing is None]
    agreement = check_agreement(case, [implementations.Generated(case), *available])
    return _timed(case, available, rounds, agreement, everyone, family)


def add_isolated(results: list[dict], quick: bool) -> None:
    """Each ``ISOLATED`` family's agreement and times, measured by this script run again in a
    process of its own (``--isolated FAMILY``), merged into ``results``."""
    for family in ISOLATED:
        run = subprocess.run(
            [sys.executable, __file__, "--isolated", family, *(["--quick"] * quick)],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            raise SystemExit(f"the {family} peers failed:\n{run.stderr}")
        found = json.loads(run.stdout)
        for result in results:
            for key, values in found[result["case"].name].items():
                result[key].update(values)


def _versions() -> str:
    found = [f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    for package, label in (
        ("scikit-learn", "scikit-learn"),
        ("torch", "PyTorch"),
        ("jax", "JAX"),
        ("autograd", "autograd"),
    ):
        try:  # the version without importing the library (nor starting its threads)
            found.append(f"{label} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def machine() -> str:
    """CPU model, cores and library versions, for the report."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = (
        np.__config__.CONFIG.get("Build Dependencies", {})
        .get("blas", {})
        .get("name", "?")
    )
    return f"{model}, {os.cpu_count()} cores, {platform.system()}; {_versions()}; BLAS {blas}"


JAX_ON_DEVICE = "symbackprop --target jax, X and T as JAX arrays"

#: the issue's goals: (case, ours, peer, relation, bound); "≤" bounds ours / peer time,
#: "faster" peer / ours
TARGETS = [
    ("small", "symbackprop", "symbackprop, metrics=()", "≤", 1.05),
    ("large", "symbackprop", "symbackprop, metrics=()", "≤", 1.05),
    ("small", "symbackprop", "hand-written NumPy", "≤", 0.9),
    ("small", "symbackprop", "scikit-learn MLPClassifier", "faster", 3.0),
    ("small", "symbackprop", "PyTorch eager (autograd)", "faster", 4.0),
    ("large", "symbackprop", "scikit-learn MLPClassifier", "faster", 1.0),
    ("large", "symbackprop", "floor: the matrix products alone", "≤", 1.10),
    ("large", "symbackprop", "floor + shuffle gather + in-place updates", "≤", 1.10),
    *(
        (case, "symbackprop --target torch", "hand-written PyTorch", "≤", 1.05)
        for case in ("small", "large")
    ),
    # the hand-written JAX holds its data as JAX arrays: so does the row compared with it
    *(
        (case, JAX_ON_DEVICE, "hand-written JAX (jitted epoch)", "≤", 1.05)
        for case in ("small", "large")
    ),
    (
        "large",
        "symbackprop --target torch",
        "PyTorch floor: products + gather + updates",
        "≤",
        1.10,
    ),
    (
        "large",
        JAX_ON_DEVICE,
        "JAX floor: products + gather + updates",
        "≤",
        1.10,
    ),
]


def paired_ratio(result: dict, top: str, bottom: str) -> float:
    """top's time over bottom's: the median of the rounds' ratios where both ran in the same
    process's rounds (back to back, so the machine's drift between rounds cancels), else the
    ratio of their medians (rows timed in different processes)."""
    for rounds in result.get("rounds", {}).values():
        if top in rounds and bottom in rounds:
            return statistics.median(a / b for a, b in zip(rounds[top], rounds[bottom]))
    return result["times"][top] / result["times"][bottom]


def target_lines(results: list[dict]) -> list[str]:
    """Each of the issue's goals with the ratio measured in this run."""
    lines = []
    for result in results:
        name, times = result["case"].name, result["times"]
        for case, ours, peer, relation, bound in TARGETS:
            if case != name:
                continue
            absent = [who for who in (ours, peer) if who not in times]
            if absent:
                why = "; ".join(
                    f"{who}: {result['missing'].get(who)}" for who in absent
                )
                lines.append(f"- {case}: {ours} against {peer}: not measured ({why})")
                continue
            if relation == "≤":
                ratio = paired_ratio(result, ours, peer)
                met, text = (
                    ratio <= bound,
                    f"{ours} / {peer} = {ratio:.2f} (target ≤ {bound})",
                )
            else:
                ratio = paired_ratio(result, peer, ours)
                met = ratio >= bound
                text = f"{peer} / {ours} = {ratio:.2f} (target ≥ {bound})"
            lines.append(f"- {case}: {text}: {'met' if met else 'missed'}")
    return lines


def table(results: list[dict]) -> str:
    """Per-epoch milliseconds and the ratio to the generated module, one column pair per case."""
    header = "| implementation |"
    rule = "|---|"
    for result in results:
        case = result["case"]
        sizes = "-".join(map(str, case.sizes))
        header += (
            f" {case.name} {sizes}, batch {case.batch_size}: ms/epoch | × generated |"
        )
        rule += "---:|---:|"
    names = list(
        dict.fromkeys(n for r in results for n in [*r["times"], *r["missing"]])
    )
    rows = [header, rule]
    for name in names:
        row = f"| {name} |"
        for result in results:
            times = result["times"]
            if name in times:
                ratio = times[name] / times["symbackprop"]
                row += f" {times[name] * 1e3:.2f} | {ratio:.2f} |"
            else:
                row += " missing | |"
        rows.append(row)
    return "\n".join(rows)


def compile_table(costs: dict) -> str:
    widths = ", ".join(f"{w}: {t:.2f} s" for w, t in costs["widths"].items())
    depths = ", ".join(f"{d}: {t:.2f} s" for d, t in costs["depths"].items())
    spread = max(costs["widths"].values()) / min(costs["widths"].values())
    return "\n".join(
        [
            "| compile cost (derive + generate, median) | |",
            "|---|---|",
            f"| first network in a process (cold caches) | {costs['first']:.2f} s |",
            f"| width (3 layers) | {widths}; largest / smallest {spread:.2f} (target ≤ 1.20) |",
            f"| depth (width 64) | {depths} (target ≤ 10 s at 50) |",
            f"| `symbackprop compile examples/circles.py`, wall | {costs['cli']:.2f} s (target ≤ 2 s) |",
        ]
    )


def report(results: list[dict], costs: dict, rounds: dict[str, int]) -> str:
    """The whole report in Markdown."""
    missing = sorted(
        {f"{name}: {why}" for r in results for name, why in r["missing"].items()}
    )
    agreement = max((v for r in results for v in r["agreement"].values()), default=0.0)
    lines = [
        f"Measured on {machine()}.",
        "",
        "Per-epoch time, median of "
        + ", ".join(f"{n} rounds ({name})" for name, n in rounds.items())
        + ", run interleaved: the PyTorch rows in a process of their own and the JAX rows in "
        "another (their thread pools and OpenBLAS's disturb each other), every other row in "
        "this one; ratios across processes compare medians measured apart. ReLU hidden layers, "
        "softmax + cross-entropy, plain SGD, float64. `symbackprop` is the generated module's "
        "`train(..., epochs=1)` with its defaults (loss and accuracy recorded), including its "
        "input checks and the epoch's shuffle; `metrics=()` records neither; `--target` rows "
        "are the PyTorch and JAX modules called the same way, with NumPy arrays (`X and T "
        "as JAX arrays`: put on the device once, as the hand-written JAX holds them); "
        f"`{implementations.FIT_EPOCHS} epochs per call` rows time one `train(..., "
        f"epochs={implementations.FIT_EPOCHS})` per round, divided by "
        f"{implementations.FIT_EPOCHS}: an epoch inside a fit, the call's checks and "
        "conversions shared. Each goal's ratio below is the median of the rounds' ratios "
        "(the two rows timed back to back in every round), so that the machine's drift "
        "between rounds cancels; the table's ratios are of medians. The floors "
        "do only part of the work. Every training peer ended the check epoch within "
        f"{agreement:.1e} (relative) of the generated module's parameters.",
        "",
        table(results),
        "",
        *target_lines(results),
        *(["", "Missing peers: " + "; ".join(missing) + "."] if missing else []),
        "",
        compile_table(costs),
    ]
    return "\n".join(lines) + "\n"


def update_readme(path: Path, text: str) -> None:
    """Replace what lies between the README's benchmark markers with ``text``."""
    readme = path.read_text(encoding="utf-8")
    if README_START not in readme or README_END not in readme:
        raise SystemExit(
            f"{path} has no {README_START} … {README_END} section to update"
        )
    head, rest = readme.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_START}\n{text}{README_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="few rounds, a smaller large case"
    )
    parser.add_argument("--out", type=Path, help="write the report here")
    parser.add_argument(
        "--readme", type=Path, help="update this README's benchmark section"
    )
    parser.add_argument(
        "--isolated",
        choices=ISOLATED,
        help="time only this family of peers and print the results as JSON (how the full "
        "run measures them, each family in a process of its own)",
    )
    args = parser.parse_args(argv)
    counts = round_counts(args.quick)
    if args.isolated:
        found = {
            case.name: run_isolated(args.isolated, case, counts[case.name])
            for case in cases(args.quick)
        }
        for result in found.values():
            del result["case"]
        text = json.dumps(found)
        print(text)
        return text
    results = [run_case(case, counts[case.name]) for case in cases(args.quick)]
    add_isolated(results, args.quick)
    repeats = 1 if args.quick else 7
    widths = (8, 4096) if args.quick else (8, 64, 512, 4096)
    depths = (2, 5) if args.quick else (2, 5, 10, 20, 50)
    costs = compile_cost.measure(widths, depths, repeats)
    text = report(results, costs, counts)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.readme:
        update_readme(args.readme, text)
    return text


if __name__ == "__main__":
    main()
