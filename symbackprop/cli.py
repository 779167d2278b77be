"""The ``symbackprop`` command: compile, latex and check."""

from __future__ import annotations

import argparse
import gc
import importlib.machinery
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from .errors import SpecError, printable
from .options import CONVENTIONS, FORMAT_OF_SUFFIX, FORMATS, TARGETS
from .output import status, write_all

if TYPE_CHECKING:
    import numpy as np

# What a command runs (SymPy, NumPy, the compiler) is imported by that command: parsing the
# arguments, --help and argument errors load none of it.


def _compile(args: argparse.Namespace) -> int:
    """All or nothing: every spec is read, every module generated and every target checked
    and written to a temporary file before the first target is replaced (``write_all``).
    """
    from .emit.codegen import generate
    from .spec.files import check_distinct, load_networks

    planned = [
        (spec, network) for spec in args.specs for network in load_networks(spec)
    ]
    check_distinct([network for _, network in planned], "the specs given")
    folder = Path(args.output)
    one_file = folder.suffix.lower() == ".py" and not folder.is_dir()
    if one_file and len(planned) != 1:
        listed = ", ".join(network.name for _, network in planned)
        raise SpecError(
            f"-o {str(folder)!r} names one module's file, but the specs define "
            f"{len(planned)} networks ({listed}): give -o FOLDER to write one module each"
        )
    if not one_file and folder.exists() and not folder.is_dir():
        raise SpecError(
            f"-o {str(folder)!r} is a file; give the folder to write the modules into"
        )
    outputs = [
        (
            spec,
            folder if one_file else folder / f"{network.name}.py",
            generate(network, args.convention, args.target),
        )
        for spec, network in planned
    ]
    write_all([(path, source) for _, path, source in outputs], args.force)
    for spec, path, _ in outputs:
        print(printable(f"{spec}: wrote {path}"))
    return 0


def _latex(args: argparse.Namespace) -> int:
    """One document per network: to standard output or ``-o FILE`` for one network, into
    ``-o FOLDER`` as ``<network>.<format>`` for several; all written or none."""
    from .derive.derivation import derive
    from .document import formats
    from .document.lecture import lecture
    from .spec.files import load_networks

    networks = load_networks(args.spec)
    if args.network is not None:
        networks = [n for n in networks if n.name == args.network]
        if not networks:
            found = ", ".join(n.name for n in load_networks(args.spec))
            raise SpecError(
                f"--network {args.network!r}: {args.spec} defines no such network "
                f"(it defines: {found})"
            )
    target = Path(args.output) if args.output else None
    several = len(networks) > 1
    if several and (target is None or target.suffix or target.is_file()):
        listed = ", ".join(n.name for n in networks)
        raise SpecError(
            f"{args.spec} defines {len(networks)} networks ({listed}): choose one with "
            "--network NAME, or give -o FOLDER to write one document for each"
        )
    suffix = target.suffix.lower() if target is not None and not several else ""
    form = args.format or FORMAT_OF_SUFFIX.get(suffix, "tex")
    if form == "pdf" and (target is None or (not several and suffix != ".pdf")):
        raise SpecError(
            "--format pdf writes a binary file: give -o NAME.pdf (or -o FOLDER)"
        )
    documents = [
        (
            network,
            formats.write(
                lecture(derive(network, args.convention), args.values, args.exercises),
                form,
            ),
        )
        for network in networks
    ]
    if target is None:
        sys.stdout.write(documents[0][1])
        return 0
    paths = [target / f"{n.name}.{form}" if several else target for n, _ in documents]
    write_all([(path, text) for path, (_, text) in zip(paths, documents)], args.force)
    for path in paths:
        print(printable(f"{args.spec}: wrote {path}"))
    return 0


def _import(path: Path) -> ModuleType:
    """A generated module, imported; only a ``.py`` file that carries symbackprop's header is
    ever run (``symbackprop check model.toml`` or a script of the user's is refused)."""
    if not path.is_file():
        raise SpecError(f"module {str(path)!r} does not exist")
    if path.suffix.lower() != ".py":
        raise SpecError(
            f"{str(path)!r} is not a generated module: check takes the .py files that "
            "symbackprop compile writes"
        )
    try:
        found = status(path.read_text(encoding="utf-8"), "py")
    except (OSError, UnicodeDecodeError):
        found = "foreign"
    if found == "foreign":
        raise SpecError(
            f"{str(path)!r} is not a symbackprop module (its first line is not "
            "symbackprop's header), so it is not run"
        )
    loader = importlib.machinery.SourceFileLoader(
        f"symbackprop_checked_{path.stem}", str(path)
    )
    module = ModuleType(loader.name)
    module.__file__ = str(path)
    try:
        loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - whatever the module raises, reported
        raise SpecError(
            f"module {str(path)!r} failed to import: {type(error).__name__}: {error}"
        ) from None
    for name in ("SIZES", "TASK", "EXACT_PARAMS", "init_params", "check_gradients"):
        if not hasattr(module, name):
            raise SpecError(
                f"{str(path)!r} is not a symbackprop module of this version: it has "
                f"no {name} (regenerate it with `symbackprop compile`)"
            )
    return module


def random_batch(
    module: ModuleType, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and targets in the domain a generated module's loss expects."""
    import numpy as np

    from .spec.targets import DOMAINS

    rng = np.random.default_rng(seed)
    n_in, n_out = module.SIZES[0], module.SIZES[-1]
    X = rng.normal(size=(samples, n_in))
    if module.TARGETS != "labels" and (
        module.TARGETS_SUM_TO_ONE or module.TASK == "multiclass"
    ):
        # one-hot rows, one class per sample
        return X, np.eye(n_out)[DOMAINS["labels"].sample(rng, samples, n_out)]
    return X, DOMAINS[module.TARGETS].sample(rng, samples, n_out)


def _check(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.modules:
        module = _import(Path(path))
        names = module.EXACT_PARAMS
        note = ""
        if module.STRAIGHT_THROUGH:
            through = ", ".join(module.STRAIGHT_THROUGH)
            note = f" (straight-through {through}: checked {', '.join(names) or 'nothing'})"
        if not names:
            print(
                printable(
                    f"{path}: skipped, every gradient passes through a surrogate{note}"
                )
            )
            continue
        X, T = random_batch(module, args.samples, args.seed)
        params = module.init_params(args.seed)
        error = module.check_gradients(params, X, T, names=names)
        verdict = "ok" if error < args.tolerance else "FAILED"
        failed += verdict != "ok"
        why = _why_not_finite(module, params, X, T, error)
        print(
            printable(
                f"{path}: largest relative gradient error {error:.3e} "
                f"(tolerance {args.tolerance:g}) {verdict}{note}{why}"
            )
        )
    return 1 if failed else 0


def _why_not_finite(
    module: ModuleType, params: dict, X: object, T: object, error: float
) -> str:
    """Where the gradient error is not a finite number, why, as the module's gradients tell
    it (a loss undefined at the random targets of its declared domain, naming the sample);
    else nothing."""
    import math

    import numpy as np

    if math.isfinite(error):
        return ""
    try:
        with np.errstate(all="ignore"):  # the nan is what is explained
            module.gradients(params, X, T)
    except ValueError as why:
        return f": {why}"
    return ""


def _positive(kind: type) -> Callable[[str], float | int]:
    """An argument type: a finite number > 0 of ``kind``."""

    def parse(text: str) -> float | int:
        try:
            number = kind(text)
        except ValueError:
            number = None
        if number is None or not math.isfinite(number) or number <= 0:
            raise argparse.ArgumentTypeError(
                f"must be a positive {'integer' if kind is int else 'number'}, got {text!r}"
            )
        return number

    return parse


def _natural(text: str) -> int:
    """An argument type: an integer ≥ 0 (a seed)."""
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 0, got {text!r}")
    return number


_FORCE = (
    "replace output files even if they were edited by hand since symbackprop generated "
    "them (a file symbackprop did not generate is never replaced)"
)


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    main = argparse.ArgumentParser(prog="symbackprop", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)

    comp = commands.add_parser(
        "compile",
        help="generate the training module (NumPy, PyTorch or JAX) of every network in SPEC",
    )
    comp.add_argument(
        "specs",
        nargs="+",
        metavar="SPEC",
        help="spec file: Python defining symbackprop Networks, or the same as data "
        "(.toml or .json, read and never run)",
    )
    comp.add_argument(
        "-o",
        "--output",
        default="generated",
        help="output folder, one module <network>.py each (default: generated); or, for "
        "one network, the module's file NAME.py",
    )
    comp.add_argument("--convention", choices=CONVENTIONS, default="negative")
    comp.add_argument(
        "--target",
        choices=TARGETS,
        default="numpy",
        help="the array library the module computes with (default: numpy, the only "
        "dependency; torch and jax modules need that library installed)",
    )
    comp.add_argument("--force", action="store_true", help=_FORCE)
    comp.set_defaults(run=_compile)

    tex = commands.add_parser(
        "latex",
        help="write the derivation of every network in SPEC as a document "
        "(LaTeX, Markdown or HTML)",
    )
    tex.add_argument("spec", metavar="SPEC")
    tex.add_argument(
        "--format",
        choices=FORMATS,
        help="tex: standalone LaTeX (pdflatex); md: Markdown with $$ math; "
        "html: one self-contained file, formulas as MathML; pdf: the LaTeX compiled by "
        "pdflatex (default: from the suffix of -o, else tex)",
    )
    tex.add_argument(
        "-o",
        "--output",
        help="write to this file instead of standard output; with several networks, to "
        "this folder, one document each",
    )
    tex.add_argument(
        "--network", metavar="NAME", help="only the network of this name in SPEC"
    )
    tex.add_argument(
        "--values",
        action="store_true",
        help="print the hyperparameters' numbers in the formulas, not their symbols "
        "(η, λ, β₁, …; by default their values are listed once)",
    )
    tex.add_argument(
        "--exercises",
        action="store_true",
        help="add questions on this network before the worked example, answers at the end",
    )

    tex.add_argument("--convention", choices=CONVENTIONS, default="negative")
    tex.add_argument("--force", action="store_true", help=_FORCE)
    tex.set_defaults(run=_latex)

    check = commands.add_parser(
        "check", help="check a generated module's gradients by central differences"
    )
    check.add_argument("modules", nargs="+", metavar="MODULE")
    check.add_argument("--tolerance", type=_positive(float), default=1e-6)
    check.add_argument("--samples", type=_positive(int), default=8)
    check.add_argument("--seed", type=_natural, default=0)
    check.set_defaults(run=_check)
    return main


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    gc.freeze()  # the imported modules (SymPy's are many) live on: collections skip them
    try:
        return args.run(args)
    except SpecError as error:
        print(f"symbackprop: error: {error}", file=sys.stderr)
        return 2
