"""Loading networks from a spec file: a Python file that builds ``Network`` objects."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from .errors import SpecError
from .spec import Network


def load_networks(path: str | os.PathLike) -> list[Network]:
    """Every ``Network`` a spec file defines at module level, in definition order.

    The file runs as a module that is not ``__main__``, so an example's own demo does not run.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    try:
        namespace = runpy.run_path(str(path), run_name=f"symbackprop_spec_{path.stem}")
    except SpecError as error:
        raise SpecError(f"spec file {str(path)!r}: {error}") from error
    except Exception as error:
        raise SpecError(
            f"spec file {str(path)!r} failed: {type(error).__name__}: {error}"
        ) from error
    networks: list[Network] = []
    for value in namespace.values():
        if isinstance(value, Network) and all(value is not n for n in networks):
            networks.append(value)
    if not networks:
        raise SpecError(f"spec file {str(path)!r} defines no symbackprop Network")
    names = [n.name for n in networks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SpecError(
            f"spec file {str(path)!r} defines several networks named {duplicates}"
        )
    return networks
