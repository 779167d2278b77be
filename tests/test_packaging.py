"""The wheel carries everything: built from the sources, installed into a fresh virtual
environment, it compiles and checks the examples with the templates shipped inside it.
"""

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args, cwd):
    run = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _sources(destination: Path) -> Path:
    """The project's tracked files (a clean checkout), copied so the build leaves no trace."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.fail(f"git ls-files failed: {listed.stderr!r}")
    for name in filter(None, listed.stdout.decode().split("\0")):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return destination


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = _sources(tmp_path_factory.mktemp("source"))
    dist = tmp_path_factory.mktemp("dist")
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        dist,
        source,
        cwd=source,
    )
    (built,) = dist.glob("symbackprop-*.whl")
    return built


def test_the_wheel_ships_the_templates_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "symbackprop/templates/module.py.j2" in names
    assert "symbackprop/spec/formula.py" in names
    assert not any(
        name.startswith(("tests/", "examples/", "generated/")) for name in names
    )


def test_the_installed_wheel_compiles_and_checks_the_examples(wheel, tmp_path):
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    purelib = Path(
        _run(
            python,
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            cwd=tmp_path,
        ).strip()
    )
    # the run-time dependencies come from this environment (no network needed); the project
    # itself only from the wheel: a path in a .pth file adds no editable install
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=tmp_path,
    )
    where = _run(
        python,
        "-c",
        "import symbackprop, symbackprop.emit.codegen as c; print(symbackprop.__file__); "
        "print(c.template_dir())",
        cwd=tmp_path,
    ).split()
    assert all(Path(path).is_relative_to(env) for path in where), where
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work / "examples")
    symbackprop = env / "bin" / "symbackprop"
    out = _run(
        symbackprop,
        "compile",
        "examples/circles.py",
        "examples/moons.toml",
        "-o",
        "out",
        cwd=work,
    )
    assert "wrote out/circles.py" in out and "wrote out/moons.py" in out
    for name in ("circles.py", "moons.py"):
        assert (work / "out" / name).read_text(encoding="utf-8") == (
            ROOT / "generated" / name
        ).read_text(encoding="utf-8")
    checked = _run(symbackprop, "check", "out/circles.py", "out/moons.py", cwd=work)
    assert checked.count(" ok") == 2
