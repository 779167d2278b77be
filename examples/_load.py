"""Shared helper of the examples: import a generated module from generated/ by file path."""

import importlib.util
from pathlib import Path

GENERATED = Path(__file__).resolve().parent.parent / "generated"


def generated_module(name: str):
    """The module generated/NAME.py, imported from its file (it needs only NumPy)."""
    spec = importlib.util.spec_from_file_location(name, GENERATED / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
