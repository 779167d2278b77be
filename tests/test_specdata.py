"""Declarative specs: TOML and JSON are the DSL as data, read and never run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.spec.files import load_networks

ROOT = Path(__file__).resolve().parent.parent

BENT = sb.Activation("bent_identity", (sp.sqrt(sb.z**2 + 1) - 1) / 2 + sb.z)
SIGNED = sb.Loss(
    "signed_crossentropy",
    -(
        (1 + sb.t) / 2 * sp.log((1 + sb.y) / 2)
        + (1 - sb.t) / 2 * sp.log((1 - sb.y) / 2)
    ),
    task="sign",
    targets="sign",
)
#: examples/moons.toml, written with the Python DSL
MOONS = sb.Network(
    "moons",
    2,
    [sb.Dense(16, BENT), sb.Dense(1, "tanh")],
    SIGNED,
    regularizer=sb.L2(0.0001),
    optimizer=sb.SGD(lr=0.1, momentum=0.9),
    init="he_uniform",
)

RICH = {
    "network": [
        {
            "name": "rich",
            "inputs": 3,
            "layers": [
                {"units": 4, "activation": {"name": "leaky_relu", "alpha": 0.2}},
                {
                    "units": 4,
                    "activation": "pswish",
                    "bias": False,
                    "init": "he_normal",
                },
                {"units": 2, "activation": "softmax"},
            ],
            "loss": "categorical_crossentropy",
            "regularizer": "elastic",
            "optimizer": {
                "name": "adam",
                "lr": 0.01,
                "schedule": {"name": "step_decay", "drop": 0.5, "every": 10},
            },
            "dtype": "float32",
        },
        {
            "name": "huberised",
            "inputs": 2,
            "layers": [{"units": 1}],
            "loss": {"name": "huber", "delta": 0.5},
        },
    ],
    "activation": {
        "pswish": {"formula": "z*sigmoid(kappa*z)", "learnable": {"kappa": 1.0}}
    },
    "regularizer": {"elastic": {"formula": "0.01*w**2 + 0.001*abs(w)"}},
}
RICH_DSL = [
    sb.Network(
        "rich",
        3,
        [
            sb.Dense(4, sb.leaky_relu(alpha=0.2)),
            sb.Dense(
                4,
                sb.Activation("pswish", "z*sigmoid(kappa*z)", learnable={"kappa": 1.0}),
                bias=False,
                init="he_normal",
            ),
            sb.Dense(2, "softmax"),
        ],
        "categorical_crossentropy",
        regularizer=sb.Regularizer("elastic", "0.01*w**2 + 0.001*abs(w)"),
        optimizer=sb.Adam(lr=0.01, schedule=sb.step_decay(0.5, every=10)),
        dtype="float32",
    ),
    sb.Network("huberised", 2, [sb.Dense(1)], sb.huber(delta=0.5)),
]


def _toml(value) -> str:
    """A tiny TOML writer for the test data (inline tables and arrays only)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _write(tmp_path, data, suffix):
    path = tmp_path / f"spec{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        lines = [f"{key} = {_toml(value)}" for key, value in data.items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_toml_example_is_the_python_network_as_data():
    (network,) = load_networks(ROOT / "examples" / "moons.toml")
    assert network == MOONS
    assert sb.generate(network) == sb.generate(MOONS)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_every_kind_of_entry_reads_as_the_dsl_builds_it(tmp_path, suffix):
    networks = load_networks(_write(tmp_path, RICH, suffix))
    assert [n.describe() for n in networks] == [n.describe() for n in RICH_DSL]
    assert [sb.generate(n) for n in networks] == [sb.generate(n) for n in RICH_DSL]


def _with(change):
    data = json.loads(json.dumps(RICH))
    change(data)
    return data


def _set(path, value):
    def change(data):
        *parents, last = path
        node = data
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[last] = value

    return change


def _drop(path):
    def change(data):
        *parents, last = path
        node = data
        for key in parents:
            node = node[key]
        del node[last]

    return change


LAYER0 = ("network", 0, "layers", 0)

BAD = [
    (
        _set(("netwrk",), []),
        "the top level: unknown key 'netwrk'; expected network, activation, loss, regularizer",
    ),
    (_set(("network",), []), "network: give at least one network"),
    (
        _set(("network", 0, "layers", 0, "unit"), 3),
        "network[0] (rich).layers[0]: unknown key 'unit'; expected units, activation, bias, init",
    ),
    (
        _drop(("network", 0, "layers", 0, "units")),
        "network[0] (rich).layers[0]: give its units",
    ),
    (
        _set((*LAYER0, "units"), 0),
        "network[0] (rich).layers[0]: Dense.units must be a positive integer, got 0",
    ),
    (
        _set((*LAYER0, "units"), 2.5),
        "network[0] (rich).layers[0]: Dense.units must be a positive integer, got 2.5",
    ),
    (
        _set((*LAYER0, "activation"), "swishy"),
        "network[0] (rich).layers[0]: Dense.activation: unknown activation 'swishy'",
    ),
    (
        _set((*LAYER0, "activation"), {"name": "swishy"}),
        (
            "network[0] (rich).layers[0].activation: a table for activation needs name = one of "
            "leaky_relu, prelu, elu, got 'swishy'"
        ),
    ),
    (
        _set((*LAYER0, "activation"), {"name": "leaky_relu", "alfa": 0.2}),
        "network[0] (rich).layers[0].activation (leaky_relu): unknown key 'alfa'; expected alpha",
    ),
    (
        _set(("network", 0, "inputs"), -2),
        "network[0] (rich): Network.inputs must be a positive integer, got -2",
    ),
    (
        _set(("network", 0, "layers"), []),
        "network[0] (rich): Network.layers must hold at least one Dense layer",
    ),
    (
        _set(("network", 0, "loss"), "hinge_loss"),
        "network[0] (rich): Network.loss: unknown loss 'hinge_loss'",
    ),
    (
        _set(("network", 0, "loss"), "binary_crossentropy"),
        None,  # softmax output: accepted
    ),
    (
        _set(("network", 1, "loss"), "binary_crossentropy"),
        (
            "network[1] (huberised): Network.loss: 'binary_crossentropy' needs outputs in (0, 1), "
            "but the output activation 'identity' gives -3.700 at z = -3.7"
        ),
    ),
    (
        _set(("network", 0, "optimizer"), "adamw"),
        (
            "network[0] (rich): Network.optimizer must be an optimiser such as sb.SGD(lr=0.1) or "
            "one of sgd, adam, rmsprop, adagrad, got 'adamw'"
        ),
    ),
    (
        _set(("network", 0, "optimizer", "lr"), -0.1),
        "network[0] (rich).optimizer: Adam.lr must be positive, got -0.1",
    ),
    (
        _set(("network", 0, "optimizer", "schedule", "every"), 0),
        "network[0] (rich).optimizer.schedule: step_decay.every must be a positive integer, got 0",
    ),
    (
        _set(("network", 1, "name"), "rich"),
        "names two networks 'rich': each network's module is written to <name>.py",
    ),
    (
        _set(("network", 1, "name"), "Rich"),
        "names networks 'rich' and 'Rich', which differ only in case",
    ),
    (
        _set(("network", 1, "name"), "my net"),
        "network[1] (my net): Network.name must be a Python identifier, got 'my net'",
    ),
    (
        _drop(("network", 1, "inputs")),
        "network[1] (huberised): give its name and inputs",
    ),
    (
        _set(("activation", "pswish", "formula"), "__import__('os').system('true')"),
        (
            "activation.pswish: Activation 'pswish': formula \"__import__('os').system('true')\": "
            "only named functions may be called"
        ),
    ),
    (
        _set(("activation", "relu"), {"formula": "z"}),
        "activation.relu: 'relu' is a catalog activation; give yours another name",
    ),
    (
        _drop(("activation", "pswish", "formula")),
        "activation.pswish: give its formula",
    ),
    (
        _set(("activation", "pswish", "expr"), "z"),
        "activation.pswish: unknown key 'expr'; expected formula, learnable, min_units",
    ),
    (
        _set(("regularizer", "elastic", "formula"), "z**2"),
        "regularizer.elastic: Regularizer 'elastic': formula 'z**2' at 'z': unknown name 'z'",
    ),
    (
        _set(("network", 0, "optimizer", "lr"), float("nan")),
        "Adam.lr must be a finite real number, got nan",
    ),
    # values of the wrong kind: an error naming the place, never a traceback
    *(
        (
            _set(("activation", "pswish", "learnable"), value),
            (
                "activation.pswish: Activation 'pswish': learnable must map each parameter's "
                f"name to its initial value, such as {{'beta': 1.0}}, got {value!r}"
            ),
        )
        for value in ([1, 2], "beta", 5)
    ),
    (
        _set(
            ("activation", "pswish"),
            {"formula": "z/kappa", "learnable": {"kappa": 0.0}},
        ),
        (
            "activation.pswish: Activation 'pswish': the value z/kappa is not real and finite "
            "at z = -3.7, kappa = 0.0"
        ),
    ),
    *(
        (
            _set(("activation", "pswish", "min_units"), value),
            (
                "activation.pswish: Activation 'pswish': min_units must be a positive integer, "
                f"got {value!r}"
            ),
        )
        for value in ("two", None, 0)
    ),
    (
        _set(("loss", "own"), {"formula": "(y - t)**2", "targets": []}),
        (
            "loss.own: Loss 'own': targets must be one of real, probability, nonnegative, sign, "
            "labels, got []"
        ),
    ),
    (
        _set(("network", 0, "optimizer", "name"), ["sgd"]),
        (
            "network[0] (rich).optimizer: a table for optimizer needs name = one of sgd, adam, "
            "rmsprop, adagrad, got ['sgd']"
        ),
    ),
    *(
        (
            _set(("activation", alias), {"formula": "z**3"}),
            f"activation.{alias}: {alias!r} is a catalog activation; give yours another name",
        )
        for alias in ("linear", "silu", "step")
    ),
    (
        _set(("loss", "mse"), {"formula": "(y - t)**4"}),
        "loss.mse: 'mse' is a catalog loss; give yours another name",
    ),
    (
        _set(("regularizer", "L2"), {"formula": "w**4"}),
        "regularizer.L2: 'L2' is a catalog regularizer; give yours another name",
    ),
    (
        _set(("network", 1, "name"), "numpy"),
        "Network.name cannot be 'numpy': a module numpy.py beside a script would be imported",
    ),
    (
        _set(("network", 1, "name"), "n" * 300),
        "Network.name must be at most 100 characters (it names the module's file), got 300",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_spec_data_names_where_and_what(tmp_path, change, message):
    path = _write(tmp_path, _with(change), ".json")
    if message is None:
        assert load_networks(path)
        return
    with pytest.raises(sb.SpecError) as error:
        load_networks(path)
    assert f"spec file {str(path)!r}" in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("suffix", "text", "message"),
    [
        (
            ".toml",
            "[[network]]\nname = \n",
            "not valid TOML: Invalid value (at line 2",
        ),
        (".toml", "network = 3\n", "network: give at least one network"),
        (".json", '{"network": [}', "not valid JSON: Expecting value: line 1"),
        (".json", "[1, 2]", "the top level must be a table of network, activation"),
        (
            ".json",
            '{"network": [], "network": []}',
            "the key 'network' appears twice in one object",
        ),
        (".json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_unreadable_spec_files_are_refused(tmp_path, suffix, text, message):
    path = tmp_path / f"spec{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(sb.SpecError) as error:
        load_networks(path)
    assert str(error.value).startswith(f"spec file {str(path)!r}: ")
    assert str(error.value).count("spec file") == 1
    assert message in str(error.value)


def test_a_spec_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_bytes(b"name = '\xff'\n")
    with pytest.raises(
        sb.SpecError, match="not valid TOML: the file is not UTF-8 text"
    ):
        load_networks(path)


def test_a_huge_spec_file_is_not_read(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(" " * (1 << 20) + "{}", encoding="utf-8")
    with pytest.raises(sb.SpecError, match="the file is larger than 1048576 bytes"):
        load_networks(path)


def test_the_cli_compiles_a_json_spec_and_its_gradients_check(tmp_path):
    spec = _write(tmp_path, RICH, ".json")
    out = tmp_path / "out"
    compiled = subprocess.run(
        [sys.executable, "-m", "symbackprop", "compile", str(spec), "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr
    assert sorted(p.name for p in out.iterdir()) == ["huberised.py", "rich.py"]
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "symbackprop",
            "check",
            *map(str, sorted(out.iterdir())),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(" ok") == 2


#: a data spec whose text is also Python that would leave a file named PWN behind if it ran
PAYLOAD = "open('PWN', 'w').close()\n"


@pytest.mark.parametrize("suffix", [".JSON", ".Json", ".TOML", ".tOmL"])
def test_a_data_suffix_in_any_case_is_read_as_data_never_run(
    tmp_path, suffix, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"model{suffix}"
    path.write_text(PAYLOAD, encoding="utf-8")
    with pytest.raises(sb.SpecError, match=f"not valid {suffix[1:].upper()}"):
        load_networks(path)
    assert not (tmp_path / "PWN").exists()


@pytest.mark.parametrize(
    "name",
    ["model.yaml", "model.txt", "model", "model.py.txt", "model.pyw", "model.json5"],
)
def test_a_spec_of_unknown_kind_is_refused_never_run(tmp_path, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / name
    path.write_text(PAYLOAD, encoding="utf-8")
    with pytest.raises(sb.SpecError, match="unknown kind .*a spec is Python"):
        load_networks(path)
    assert not (tmp_path / "PWN").exists()


@settings(max_examples=60, deadline=None)
@given(
    st.text(min_size=1, max_size=6).filter(lambda s: "/" not in s and "\x00" not in s)
)
def test_only_a_py_suffix_is_ever_run(tmp_path_factory, suffix):
    folder = tmp_path_factory.mktemp("spec")
    path = folder / f"model.{suffix}"
    try:
        path.write_text(
            f"open({str(folder / 'PWN')!r}, 'w').close()\n", encoding="utf-8"
        )
    except OSError:  # a name this file system cannot hold
        return
    try:
        load_networks(path)
    except sb.SpecError:
        pass
    ran = (folder / "PWN").exists()
    assert ran == (path.suffix.lower() == ".py")
