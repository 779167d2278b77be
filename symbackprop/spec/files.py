"""Loading networks from a spec file: a Python file that builds ``Network`` objects, or the
same as data in TOML or JSON (``spec.data``), which is read and never run."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from ..errors import SpecError
from . import data
from .network import Network

#: the only suffix of a spec file that is ever executed
PYTHON = ".py"


def load_networks(path: str | os.PathLike) -> list[Network]:
    """Every ``Network`` a spec file defines, in definition order.

    A ``.toml`` or ``.json`` file is data (see ``spec.data``), read and never run; only a ``.py``
    file is code, run as a module that is not ``__main__`` (so an example's own demo does not
    run). Suffixes compare ignoring case (``model.JSON`` is data); any other file is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    kind = path.suffix.lower()
    if kind in data.SUFFIXES:
        try:
            networks = data.networks(data.read(path))
        except SpecError as error:
            raise SpecError(f"spec file {str(path)!r}: {error}") from None
    elif kind == PYTHON:
        networks = _run(path)
    else:
        raise SpecError(
            f"spec file {str(path)!r}: unknown kind {path.suffix or '(no suffix)'!r}; a spec "
            f"is Python ({PYTHON}, run) or data ({', '.join(data.SUFFIXES)}, read and never "
            "run)"
        )
    check_distinct(networks, f"spec file {str(path)!r}")
    return networks


def check_distinct(networks: list[Network], where: str) -> None:
    """Refuse two networks whose names would name the same module (``Circles`` and
    ``circles`` are one file on case-insensitive file systems)."""
    seen: dict[str, str] = {}
    for network in networks:
        key = network.name.casefold()
        if key in seen:
            names = (
                f"two networks {network.name!r}"
                if seen[key] == network.name
                else f"networks {seen[key]!r} and {network.name!r}, which differ only in case"
            )
            raise SpecError(
                f"{where} names {names}: each network's module is written to <name>.py, "
                "so names must differ even ignoring case"
            )
        seen[key] = network.name


def _run(path: Path) -> list[Network]:
    """The networks a Python spec file defines at module level."""
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
    return networks
