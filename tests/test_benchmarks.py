"""The benchmark harness (`make bench`): every peer it times computes the same training epoch as
the generated module, the check would catch one that did not, and the report renders. No
timing is asserted: speed is measured by `make bench`, not by tests."""

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench
import peers


def _case(name, sizes, samples, batch_size, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(samples, sizes[0]))
    T = np.eye(sizes[-1])[rng.integers(0, sizes[-1], samples)]
    return peers.Case(name, peers.network(name, sizes, 0.1), X, T, batch_size, 0.1)


TINY = [
    _case("small", (12, 7, 4), 50, 8),  # the last batch is short
    _case("large", (20, 16, 16, 5), 64, 16),
]


@pytest.mark.parametrize("case", TINY, ids=lambda case: case.name)
def test_every_installed_peer_trains_the_same_epoch(case):
    result = bench.run_case(case, rounds=1)
    agreement = result["agreement"]
    expected = {"hand-written NumPy", "scikit-learn MLPClassifier", "HIPS autograd"}
    expected |= {"symbackprop, metrics=()"}
    assert set(agreement) == expected
    assert max(agreement.values()) <= bench.AGREEMENT
    timed = set(result["times"])
    assert {
        "symbackprop",
        f"symbackprop, {peers.FIT_EPOCHS} epochs per call",
        "floor: the matrix products alone",
    } <= timed
    assert all(time > 0 for time in result["times"].values())


@pytest.mark.parametrize("case", TINY, ids=lambda case: case.name)
@pytest.mark.parametrize("family", sorted(bench.ISOLATED))
def test_the_torch_and_jax_peers_train_the_same_epoch(case, family):
    """torch and jax are in the test extra: every one of these peers runs here."""
    result = bench.run_isolated(family, case, rounds=1)
    names = {
        "torch": {
            "symbackprop --target torch",
            "hand-written PyTorch",
            "PyTorch eager (autograd)",
        },
        "jax": {
            "symbackprop --target jax",
            bench.JAX_ON_DEVICE,
            "hand-written JAX (jitted epoch)",
        },
    }[family]
    assert result["missing"] == {}
    assert set(result["agreement"]) == names
    assert max(result["agreement"].values()) <= bench.AGREEMENT
    floor = {"torch": "PyTorch", "jax": "JAX"}[
        family
    ] + " floor: products + gather + updates"
    fit = f"symbackprop --target {family}, {peers.FIT_EPOCHS} epochs per call"
    assert set(result["times"]) == names | {floor, fit}
    assert all(np.isfinite(time) and time > 0 for time in result["times"].values())


def test_a_peer_that_trains_differently_is_caught():
    case = TINY[0]

    class Slower(peers.HandNumPy):
        name = "hand-written NumPy at half the rate"

        def epoch(self, order, seed):
            halved = peers.Case(
                case.name, case.network, case.X, case.T, case.batch_size, 0.05
            )
            self.case = halved
            super().epoch(order, seed)

    implementations = [peers.Generated(case), Slower(case)]
    with pytest.raises(AssertionError, match="half the rate ends the epoch .* away"):
        bench.check_agreement(case, implementations)


def test_the_report_names_machine_targets_and_compile_costs(tmp_path):
    results = [bench.run_case(case, rounds=1) for case in TINY]
    costs = {
        "first": 0.5,
        "widths": {8: 0.40, 4096: 0.44},
        "depths": {2: 0.3, 50: 1.5},
        "cli": 1.2,
    }
    text = bench.report(results, costs, {"small": 1, "large": 1})
    assert text.startswith("Measured on ")
    assert "| symbackprop | " in text and "| hand-written NumPy | " in text
    assert "- small: symbackprop / hand-written NumPy = " in text
    assert "- large: symbackprop / floor: the matrix products alone = " in text
    assert "- small: symbackprop / symbackprop, metrics=() = " in text
    assert "hand-written JAX (jitted epoch): not measured" in text  # not run here
    assert "largest / smallest 1.10 (target ≤ 1.20)" in text
    readme = tmp_path / "README.md"
    readme.write_text(
        f"intro\n{bench.README_START}\nstale table\n{bench.README_END}\nafter\n"
    )
    bench.update_readme(readme, text)
    updated = readme.read_text()
    assert updated.startswith("intro\n") and updated.endswith(
        f"{bench.README_END}\nafter\n"
    )
    assert "stale table" not in updated and text in updated


def test_the_readme_has_a_benchmark_section():
    readme = (BENCHMARKS.parent / "README.md").read_text()
    assert readme.count(bench.README_START) == 1 and readme.count(bench.README_END) == 1


def test_goal_ratios_pair_rounds_within_a_process_only():
    """Rows timed back to back in the same rounds compare round by round; rows from
    different processes compare by their medians."""
    result = {
        "times": {"ours": 10.0, "theirs": 5.0, "apart": 4.0},
        "rounds": {
            "main": {"ours": [1.0, 10.0, 10.0], "theirs": [1.0, 5.0, 20.0]},
            "torch": {"apart": [4.0, 4.0, 4.0]},
        },
    }
    assert bench.paired_ratio(result, "ours", "theirs") == 1.0  # ratios 1, 2, 0.5
    assert bench.paired_ratio(result, "ours", "apart") == 2.5  # 10 / 4
