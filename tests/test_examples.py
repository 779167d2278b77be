"""The examples run as scripts and the circles classifier learns its data."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(name):
    run = subprocess.run(
        [sys.executable, f"examples/{name}.py"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_circles_reaches_95_percent_training_accuracy():
    accuracy = float(
        re.search(r"training accuracy ([\d.]+)%", _run("circles")).group(1)
    )
    assert accuracy >= 95.0


@pytest.mark.parametrize("name", ["multilabel", "stack"])
def test_example_scripts_run(name):
    assert name in _run(name)


def test_stack_has_seed_003s_41_parameters():
    assert "stack: 41 parameters" in _run("stack")
