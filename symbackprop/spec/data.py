"""Declarative specs: networks written as data (TOML or JSON), read into the DSL's objects.

The same DSL as data, nothing executed: every value is checked by the object it builds, custom
activations, losses and regularisers are formula strings read by ``formula.parse``. Layout
(TOML; JSON has the same keys)::

    [[network]]
    name = "circles"
    inputs = 2
    layers = [{units = 20, activation = "relu"}, {units = 1, activation = "sigmoid"}]
    loss = "binary_crossentropy"
    optimizer = {name = "sgd", lr = 0.5, momentum = 0.9}

    [activation.bent_identity]          # custom, used as activation = "bent_identity"
    formula = "(sqrt(z**2 + 1) - 1)/2 + z"
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import SpecError
from . import catalog, optimizers
from .functions import Activation, Loss, Regularizer
from .network import BatchNorm, Dense, Dropout, Network

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: the suffixes read as data, and the largest file read (a spec is a few kilobytes)
SUFFIXES = (".toml", ".json")
MAX_BYTES = 1 << 20

_TOP = ("network", "activation", "loss", "regularizer")
_NETWORK = (
    "name",
    "inputs",
    "layers",
    "loss",
    "regularizer",
    "optimizer",
    "init",
    "dtype",
    "task",
)
_LAYER = ("units", "activation", "bias", "init")
_CUSTOM = {
    "activation": (Activation, ("formula", "learnable", "min_units")),
    "loss": (Loss, ("formula", "task", "targets", "min_units")),
    "regularizer": (Regularizer, ("formula",)),
}
#: catalog entries written as a table {name = ..., settings...}
_FACTORIES: dict[str, dict[str, Callable[..., object]]] = {
    "activation": {
        "leaky_relu": catalog.leaky_relu,
        "prelu": catalog.prelu,
        "elu": catalog.elu,
    },
    "loss": {"huber": catalog.huber},
    "regularizer": {"L1": catalog.L1, "L2": catalog.L2},
    "optimizer": optimizers.OPTIMIZERS,
    "schedule": {
        "step_decay": optimizers.step_decay,
        "exponential_decay": optimizers.exponential_decay,
        "time_decay": optimizers.time_decay,
    },
}


def read(path: Path) -> dict[str, object]:
    """The data of a TOML or JSON spec file, as plain dicts and lists."""
    if path.stat().st_size > MAX_BYTES:  # (the caller checked it is a file)
        raise SpecError(f"the file is larger than {MAX_BYTES} bytes")
    kind = path.suffix[1:].upper()  # TOML or JSON, whatever the case
    try:
        text = path.read_text(encoding="utf-8")
        if kind == "TOML":
            data = tomllib.loads(text)
        else:
            data = json.loads(text, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise SpecError(f"not valid {kind}: the file is not UTF-8 text") from None
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise SpecError(f"not valid {kind}: {error}") from None
    except RecursionError:
        raise SpecError(f"not valid {kind}: nested too deeply") from None
    except OSError as error:
        raise SpecError(f"cannot be read: {error.strerror or error}") from None
    if not isinstance(data, dict):
        raise SpecError(f"the top level must be a table of {', '.join(_TOP)}")
    return data


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object, refusing a key given twice (json would keep the last silently)."""
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def networks(data: dict[str, object]) -> list[Network]:
    """The networks a spec's data describes, in order; errors name where in the file."""
    _keys(data, _TOP, "the top level")
    custom = {kind: _custom(kind, data.get(kind, {})) for kind in _CUSTOM}
    entries = data.get("network")
    if not isinstance(entries, list) or not entries:
        raise SpecError(
            "network: give at least one network ([[network]] in TOML, a list in JSON), "
            f"got {entries!r}"
        )
    return [_network(entry, f"network[{i}]", custom) for i, entry in enumerate(entries)]


def _keys(
    table: object, allowed: tuple[str, ...], where: str, required: tuple[str, ...] = ()
) -> dict[str, object]:
    """``table`` as a fresh dict, refused when it is not a table, has a key not in
    ``allowed``, or lacks one of ``required``."""
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table, got {table!r}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise SpecError(
            f"{where}: unknown key {unknown[0]!r}; expected {', '.join(allowed)}"
        )
    if not set(required) <= set(table):
        raise SpecError(f"{where}: give its {' and '.join(required)}")
    return dict(table)


def _custom(kind: str, table: object) -> dict[str, object]:
    """The file's own activations, losses or regularisers, by name."""
    make, allowed = _CUSTOM[kind]
    if not isinstance(table, dict):
        raise SpecError(f"{kind} must be a table of named {kind}s, got {table!r}")
    result = {}
    for name, fields in table.items():
        where = f"{kind}.{name}"
        if name in catalog.known_names(kind):
            raise SpecError(
                f"{where}: {name!r} is a catalog {kind}; give yours another name"
            )
        fields = _keys(fields, allowed, where, required=("formula",))
        expr = fields.pop("formula")
        result[name] = _located(where, make, name, expr, **fields)
    return result


def _located(where: str, build: Callable[..., object], *args, **kwargs) -> object:
    """``build(*args, **kwargs)``, with any SpecError prefixed by where in the file it
    comes from."""
    try:
        return build(*args, **kwargs)
    except SpecError as error:
        raise SpecError(f"{where}: {error}") from None


def _entry(kind: str, value: object, where: str, custom: dict[str, object]) -> object:
    """A reference to an activation, loss, regulariser, optimiser or schedule: a name (the
    file's own or the catalog's) or a table ``{name = ..., settings...}`` of a catalog entry.
    """
    if isinstance(value, str) and value in custom.get(kind, {}):
        return custom[kind][value]
    if not isinstance(value, dict):
        return value  # a catalog name: the DSL object validates it
    factories = _FACTORIES[kind]
    settings = dict(value)
    name = settings.pop("name", None)
    if not isinstance(name, str) or name not in factories:
        raise SpecError(
            f"{where}: a table for {kind} needs name = one of {', '.join(factories)}, "
            f"got {name!r}"
        )
    factory = factories[name]
    accepted = tuple(inspect.signature(factory).parameters)
    _keys(settings, accepted, f"{where} ({name})")
    if kind == "optimizer" and "schedule" in settings:
        settings["schedule"] = _entry(
            "schedule", settings["schedule"], f"{where}.schedule", custom
        )
    return _located(where, factory, **settings)


def _network(
    entry: object, where: str, custom: dict[str, dict[str, object]]
) -> Network:
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        where = f"{where} ({entry['name']})"
    fields = _keys(entry, _NETWORK, where, required=("name", "inputs"))
    layers = fields.get("layers", [])
    if not isinstance(layers, list):
        raise SpecError(f"{where}.layers must be a list of layers, got {layers!r}")
    fields["layers"] = [
        _layer(layer, f"{where}.layers[{i}]", custom) for i, layer in enumerate(layers)
    ]
    for kind in ("loss", "regularizer", "optimizer"):
        if kind in fields:
            fields[kind] = _entry(kind, fields[kind], f"{where}.{kind}", custom)
    return _located(where, Network, **fields)


def _layer(
    entry: object, where: str, custom: dict[str, dict[str, object]]
) -> Dense | Dropout | BatchNorm:
    """A Dense layer's table, ``{dropout = rate}`` for a Dropout, or ``{batchnorm = {…}}``
    for a BatchNorm with those settings (``{}``: the defaults)."""
    if isinstance(entry, dict) and "dropout" in entry:
        fields = _keys(entry, ("dropout",), where)
        return _located(where, Dropout, fields["dropout"])
    if isinstance(entry, dict) and "batchnorm" in entry:
        fields = _keys(entry, ("batchnorm",), where)
        settings = _keys(
            fields["batchnorm"],
            ("momentum", "eps", "center", "scale"),
            f"{where}.batchnorm",
        )
        return _located(where, BatchNorm, **settings)
    fields = _keys(entry, _LAYER, where, required=("units",))
    if "activation" in fields:
        fields["activation"] = _entry(
            "activation", fields["activation"], f"{where}.activation", custom
        )
    return _located(where, Dense, **fields)


__all__ = ["SUFFIXES", "networks", "read"]
