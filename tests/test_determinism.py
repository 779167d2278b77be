"""Same spec, same bytes: in every process, under every PYTHONHASHSEED."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(
    str(path.relative_to(ROOT))
    for pattern in ("[!_]*.py", "*.toml")
    for path in (ROOT / "examples").glob(pattern)
)


def test_compile_and_latex_give_identical_bytes_under_any_hash_seed(tmp_path):
    runs = {}
    for seed in ("0", "1", "4242"):
        out = tmp_path / seed
        script = (
            "import sys; from symbackprop.cli import main; "
            f"main(['compile', *sys.argv[1:], '-o', {str(out)!r}]) or "
            f"main(['latex', 'examples/circles.py', '--format', 'md', '-o', {str(out / 'circles.md')!r}])"
        )
        env = {**os.environ, "PYTHONHASHSEED": seed}
        runs[seed] = subprocess.Popen(
            [sys.executable, "-c", script, *SPECS],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    for seed, process in runs.items():
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()
    outputs = {
        seed: {p.name: p.read_bytes() for p in (tmp_path / seed).iterdir()}
        for seed in runs
    }
    assert len(outputs["0"]) == len(SPECS) + 1  # a module per spec, and circles.md
    assert outputs["0"] == outputs["1"] == outputs["4242"]
    for name, data in outputs["0"].items():
        assert data == (ROOT / "generated" / name).read_bytes(), name
