"""Modules built in memory (``symbackprop.build``) and the Models they make, carried through
pickle: a Model travels with its module's source, and the process that loads it builds the
module again from that source — which needs NumPy only, not SymPy. (A module written to a
file is pickled by its name, as any importable module.)"""

from __future__ import annotations

import functools
import hashlib
import linecache
import types

#: the modules built so far, by the digest of their source: a Model loaded in the process that
#: built its module gets that module's class back
_BUILT: dict[str, types.ModuleType] = {}


def module(source: str, name: str) -> types.ModuleType:
    """A new module of ``source`` named ``name``, executed, whose Models pickle with it."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    filename = f"<symbackprop:{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    built = types.ModuleType(name)
    built.__file__ = filename
    code = compile(source, filename, "exec")
    exec(code, built.__dict__)  # noqa: S102 - runs the module symbackprop generated
    built._REBUILD = functools.partial(_reduce, source, name)
    _BUILT[digest] = built
    return built


def _reduce(source: str, name: str, model: object) -> tuple:
    """What pickle stores for a Model of a built module: how to revive it, and its state."""
    return revive, (source, name, dict(model.__dict__))


def revive(source: str, name: str, state: dict) -> object:
    """A Model of the module built from ``source`` (built now unless this process has it),
    with ``state``."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    built = _BUILT.get(digest) or module(source, name)
    model = built.Model.__new__(built.Model)
    model.__dict__.update(state)
    return model
