"""The generated modules: standalone, deterministic, black-formatted, ruff-clean, commented."""

import ast
import contextlib
import dataclasses
import itertools
import math
import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import black
import numpy as np
import pytest
import sympy as sp

import symbackprop as sb
from symbackprop.expressions import algebra, helpers
from symbackprop.spec import catalog
from symbackprop.spec.files import load_networks

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(
    path
    for pattern in ("[!_]*.py", "*.toml", "*.json")
    for path in (ROOT / "examples").glob(pattern)
)
NETWORKS = [network for path in EXAMPLES for network in load_networks(path)]
DEEP = sb.Network(
    "deep",
    4,
    [
        sb.Dense(5, "softmax"),
        sb.Dense(3, "relu"),
        sb.Dense(3, "tanh", bias=False),
        sb.Dense(3, "softmax"),
    ],
    "categorical_crossentropy",
)

#: every catalog activation in one stack (softmax last), with a regulariser and a learnable slope
EVERY_ACTIVATION = sb.Network(
    "every_activation",
    3,
    [sb.Dense(3, name) for name in sorted(sb.ACTIVATIONS) if name != "softmax"]
    + [sb.Dense(3, "softmax")],
    "kl_divergence",
    regularizer=sb.L1(0.01),
)
#: an output activation whose values each loss is defined on, by the loss's targets
OUTPUT_FOR_TARGETS = {
    "labels": "softmax",
    "probability": "softmax",
    "nonnegative": "softplus",
}
EVERY_LOSS = [
    sb.Network(
        f"loss_{name}",
        2,
        [sb.Dense(2, OUTPUT_FOR_TARGETS.get(loss.targets, "tanh"))],
        loss,
    )
    for name, loss in sorted(sb.LOSSES.items())
]

#: every optimiser and schedule, with every initialiser somewhere, in float32
EVERY_OPTIMIZER = [
    sb.Network(
        f"optimizer_{i}",
        2,
        [sb.Dense(3, "tanh", init=init), sb.Dense(1, bias=False)],
        "mse",
        optimizer=optimizer,
        dtype="float32",
    )
    for i, (optimizer, init) in enumerate(
        zip(
            [
                sb.SGD(0.1, momentum=0.9, nesterov=True),
                sb.Adam(lr=0.01, decay=0.1),
                sb.RMSprop(schedule=sb.step_decay(0.5, every=100)),
                sb.Adagrad(schedule=sb.exponential_decay(0.9, steps=10)),
                sb.SGD(0.1, momentum=0.5),
                sb.Adam(),
                sb.SGD(),
                sb.RMSprop(),
            ],
            sorted(sb.INITIALIZERS),
        )
    )
]


@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: n.name)
def test_generated_folder_is_up_to_date(network):
    path = ROOT / "generated" / f"{network.name}.py"
    assert path.read_text(encoding="utf-8") == sb.generate(
        network
    ), f"{path} is stale: run make demo"


def test_examples_include_the_seed_networks():
    sizes = {network.name: network.sizes for network in NETWORKS}
    assert sizes["circles"] == (2, 20, 1)
    assert sizes["multilabel"] == (3, 2, 3)
    assert sizes["stack"] == (3, 4, 4, 1)
    (seed001,) = (network for network in NETWORKS if network.name == "seed001")
    assert not any(layer.bias for layer in seed001.layers) and seed001.regularizer


def test_generation_is_byte_identical_across_processes_and_hash_seeds(tmp_path):
    """Each process prints two modules and runs the CLI on every example and one document;
    all three, under different hash seeds, give the bytes of this process and of generated/.
    """
    specs = [str(path) for path in EXAMPLES]
    runs = {}
    for seed in ("0", "1", "12345"):
        out = str(tmp_path / seed)
        script = (
            "import contextlib, sys, symbackprop as sb\n"
            "from symbackprop.cli import main\n"
            "from tests.test_generated_code import DEEP, EVERY_ACTIVATION\n"
            "sys.stdout.write(sb.generate(DEEP) + sb.generate(EVERY_ACTIVATION))\n"
            "with contextlib.redirect_stdout(sys.stderr):\n"
            f"    main(['compile', *sys.argv[1:], '-o', {out!r}])\n"
            f"    main(['latex', 'examples/circles.py', '--format', 'md', '-o', "
            f"{out + '/circles.md'!r}])\n"
        )
        env = {**os.environ, "PYTHONHASHSEED": seed}
        runs[seed] = subprocess.Popen(
            [sys.executable, "-c", script, *specs],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    expected = (sb.generate(DEEP) + sb.generate(EVERY_ACTIVATION)).encode()
    written = {}
    for seed, process in runs.items():
        printed, errors = process.communicate(timeout=600)
        assert process.returncode == 0, errors.decode()
        assert printed == expected
        written[seed] = {p.name: p.read_bytes() for p in (tmp_path / seed).iterdir()}
    assert written["0"] == written["1"] == written["12345"]
    assert len(written["0"]) == len(NETWORKS) + 1
    for name, data in written["0"].items():
        assert data == (ROOT / "generated" / name).read_bytes(), name


@pytest.mark.parametrize(
    "network",
    [*NETWORKS, DEEP, EVERY_ACTIVATION, *EVERY_LOSS, *EVERY_OPTIMIZER],
    ids=lambda n: n.name,
)
def test_generated_code_is_black_formatted_and_passes_ruff(network, tmp_path):
    source = sb.generate(network)
    assert black.format_str(source, mode=black.Mode()) == source
    path = tmp_path / f"{network.name}.py"
    path.write_text(source, encoding="utf-8")
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", str(path)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_header_names_the_spec_and_the_version():
    source = sb.generate(DEEP)
    stamp, first = source.splitlines()[:2]
    assert stamp.startswith("# Generated by symbackprop; do not edit. sha256 ")
    assert first.startswith(
        '"""deep: a standalone NumPy training module generated by symbackprop'
    )
    assert sb.__version__ in first
    assert DEEP.describe() in source


def _function(source: str, name: str) -> ast.FunctionDef:
    return next(
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, ast.FunctionDef) and n.name == name
    )


@pytest.mark.parametrize("function", ["_forward", "_step"])
def test_every_derived_line_is_commented_with_its_formula(function):
    source = sb.generate(DEEP)
    lines = source.splitlines()
    body = _function(source, function).body
    derived = [
        s
        for s in body
        if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)
    ]
    assigned = [stmt for stmt in derived if stmt.targets[0].id != "N"]
    assert assigned
    for stmt in assigned:
        target = lines[stmt.lineno - 1].split("=")[0].strip()
        comment = lines[stmt.lineno - 2].strip()
        assert comment.startswith("# "), lines[stmt.lineno - 1]
        assert comment[2:].startswith(target.replace("delta_", "δ_")), (comment, target)


def test_variables_are_named_after_the_derivation():
    source = sb.generate(DEEP)
    for name in (
        "Z1",
        "A1",
        "delta_y",
        "delta_h1",
        "delta_h2",
        "delta_h3",
        "dW1",
        "db1",
        "dW4",
        "E1",
    ):
        assert f"    {name} = " in source, name
    assert "db3" not in source  # layer 3 has no bias


def test_generated_module_runs_without_sympy_or_symbackprop(tmp_path):
    path = sb.write_module(NETWORKS[0], tmp_path / "circles.py")
    script = f"""
import sys
for blocked in ("sympy", "symbackprop", "jinja2", "black"):
    sys.modules[blocked] = None
import importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("circles", {str(path)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
X = np.random.default_rng(0).normal(size=(16, 2))
T = (X[:, :1] > 0).astype(float)
params, history = module.train(module.init_params(), X, T, epochs=3, batch_size=4, lr=0.1)
assert len(history["loss"]) == 3 and module.check_gradients(params, X, T) < 1e-6
assert not any(name.split(".")[0] in ("sympy", "symbackprop") for name in sys.modules if sys.modules[name])
print("standalone ok")
"""
    run = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "standalone ok" in run.stdout


def test_write_module_leaves_no_temporary_files(tmp_path):
    sb.write_module(DEEP, tmp_path / "deep.py")
    sb.write_module(DEEP, tmp_path / "deep.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.py"]


def test_module_api_trains_predicts_and_validates_input():
    module = sb.build(DEEP)
    assert module.PARAMS == ("W1", "b1", "W2", "b2", "W3", "W4", "b4")
    assert module.SHAPES["W1"] == (5, 4) and module.SHAPES["b1"] == (5,)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    T = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0)]
    params, history = module.train(
        module.init_params(seed=3), X, T, epochs=5, batch_size=8, lr=0.1
    )
    assert len(history["loss"]) == 5 and all(np.isfinite(history["loss"]))
    assert module.predict(params, X).shape == (30,)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 4\)"):
        module.forward(params, X[:, :3])
    with pytest.raises(ValueError, match="each row of T must sum to 1"):
        module.loss(params, X, T * 0.5)
    with pytest.raises(ValueError, match=r"T must hold values in \[0, 1\]"):
        module.loss(params, X, T * 2)
    with pytest.raises(KeyError, match="params lacks"):
        module.loss({"W1": params["W1"]}, X, T)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer, got 2.5"),
        ({"lr": -0.1}, "lr must be a positive finite number, got -0.1"),
        ({"lr": float("nan")}, "lr must be a positive finite number, got nan"),
    ],
)
def test_train_rejects_bad_hyperparameters_by_name(overrides, message):
    module = sb.build(DEEP)
    X = np.zeros((4, 4))
    T = np.eye(3)[[0, 1, 2, 0]]
    settings = {"epochs": 1, "batch_size": 2, "lr": 0.1, **overrides}
    with pytest.raises(ValueError, match=re.escape(message)):
        module.train(module.init_params(), X, T, **settings)


def test_non_finite_data_is_refused():
    module = sb.build(DEEP)
    X = np.zeros((2, 4))
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="X holds non-finite values"):
        module.loss(module.init_params(), X, np.eye(3)[[0, 1]])


def test_float_constants_print_as_the_exact_double():
    source = sb.generate(sb.Network("selu", 2, [sb.Dense(3, "selu")], "mse"))
    assert "1.0507009873554805 * Z1" in source
    assert float("1.0507009873554805") == catalog.SELU_SCALE


@pytest.mark.parametrize(
    "network",
    [EVERY_ACTIVATION, *EVERY_LOSS, *EVERY_OPTIMIZER],
    ids=lambda n: n.name,
)
def test_a_network_sent_through_pickle_generates_the_same_module(network):
    """As joblib sends a spec to worker processes: same bytes, and what the module uses
    (math, erf, the softmax helpers) is imported or defined — known from what was printed.
    """
    copy = pickle.loads(pickle.dumps(network))
    source = sb.generate(copy)
    assert source == sb.generate(network)
    namespace = {}
    exec(compile(source, "<pickled>", "exec"), namespace)  # noqa: S102
    namespace["init_params"](0)


def _symbols_of_symbackprop() -> list[sp.Symbol]:
    """Every SymPy symbol a module of symbackprop holds as a global (N, scale, T, …)."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "symbackprop":
            for value in vars(module).values():
                if isinstance(value, sp.Symbol):
                    found[value.name, tuple(sorted(value.assumptions0.items()))] = value
    return list(found.values())


@pytest.mark.parametrize("target", ["numpy", "torch"])
def test_a_module_is_the_same_whatever_sympy_has_cached(target):
    """SymPy caches symbols and expressions (1000 entries): a program's own copy of one of our
    symbols, such as Symbol("N", positive=True) made after the cache dropped ours or after
    clear_cache(), equals it but is another object, and the cache then hands expressions
    holding it to the derivation. The lowering removed N by identity, so every module made in
    such a program had db = N·Σ_n δ: bias gradients N times too large. The modules are now
    byte for byte the modules of a fresh process, and their gradients check."""
    ours = _symbols_of_symbackprop()
    assert any(symbol.name == "N" for symbol in ours)
    for network in (EVERY_ACTIVATION, EVERY_LOSS[0], DEEP):
        sp.core.cache.clear_cache()
        fresh = sb.generate(network, target=target)
        sp.core.cache.clear_cache()
        theirs = [sp.Symbol(s.name, **s.assumptions0) for s in ours]
        assert all(a == b and a is not b for a, b in zip(theirs, ours))
        held = [f(s) for s in theirs for f in (lambda s: 1 / s, lambda s: -s, sp.exp)]
        assert sb.generate(network, target=target) == fresh, network.name
        del held
    module = sb.build(DEEP, target=target)
    X, T = np.random.default_rng(1).normal(size=(5, 4)), np.eye(3)[[0, 1, 2, 0, 1]]
    assert module.check_gradients(module.init_params(0), X, T) < 1e-6
    sp.core.cache.clear_cache()


@contextlib.contextmanager
def _printing_order(order):
    """Every SymPy printer's default order set as sympy.init_printing(order=…) sets it."""
    from sympy.printing.printer import Printer

    kept = dict(Printer._global_settings)
    Printer.set_global_settings(order=order)
    try:
        yield
    finally:
        Printer._global_settings.clear()
        Printer._global_settings.update(kept)


#: SymPy's settings a program may hold while it calls symbackprop, by what they broke
_PROGRAM_SETTINGS = {
    # generation ended in "could not prove its Jacobian" (blaming the spec)
    "evaluate(False)": lambda: sp.evaluate(False),
    # other code (reordered, correct)
    "distribute(False)": lambda: sp.core.parameters.distribute(False),
    # modules that failed at run time ('float' object has no attribute 'shape')
    "exp_is_pow(True)": lambda: sp.core.parameters._exp_is_pow(True),
    # every sum of the modules and documents reordered
    "init_printing(order='rev-lex')": lambda: _printing_order("rev-lex"),
}


@pytest.mark.parametrize("setting", _PROGRAM_SETTINGS)
def test_a_program_s_own_sympy_settings_leave_modules_and_documents_as_they_are(
    setting,
):
    """Same spec, same bytes: inside a program's own SymPy settings the modules (both
    targets) and the lecture's documents are those made in SymPy's defaults, and the
    program's settings are as it set them after each call."""
    from symbackprop.document import formats
    from symbackprop.document.lecture import lecture

    def made():
        modules = [sb.generate(n) for n in (DEEP, EVERY_LOSS[0], NETWORKS[0])]
        document = lecture(sb.derive(EVERY_LOSS[0]))
        texts = [formats.write(document, form) for form in ("md", "tex", "html")]
        return [*modules, sb.generate(DEEP, target="torch"), *texts]

    expected = made()
    with _PROGRAM_SETTINGS[setting]():
        state = dict(vars(sp.core.parameters.global_parameters))
        found = made()
        assert dict(vars(sp.core.parameters.global_parameters)) == state
    assert found == expected


def test_a_program_s_numpy_error_settings_leave_modules_and_results_as_they_are():
    """A program that sets np.seterr(all="raise") (or "warn") to find its own NaNs: the
    modules' formulas underflow by design (erfc(800), logaddexp's exp(−800)), which raised
    FloatingPointError in train, loss, gradients, predict and evaluate; the compiler's float64
    checks underflow too, which warned. The compiler now runs in NumPy's defaults, the modules'
    public functions with NumPy's warnings off (they check what they return): the same
    modules, the same numbers, no warning, and the program's settings as it set them after.
    """
    spec = sb.Network(
        "gauss",
        2,
        [sb.Dense(3, sb.Activation("gauss", "z*exp(-z**2/2)")), sb.Dense(1)],
        "mse",
    )
    networks = (EVERY_ACTIVATION, EVERY_OPTIMIZER[0], spec)
    expected = [sb.generate(network) for network in networks]

    def results(module):
        rng = np.random.default_rng(4)
        X = 30 * rng.normal(size=(12, module.SIZES[0]))
        T = np.eye(module.SIZES[-1])[rng.integers(0, module.SIZES[-1], 12)]
        if module.TARGETS == "real":
            T = rng.normal(size=(12, module.SIZES[-1]))
        params = module.init_params(1)
        trained, history = module.train(params, X, T, epochs=2, batch_size=5, verbose=0)
        return [
            *trained.values(),
            history["loss"],
            module.loss(params, X, T),
            *module.gradients(params, X, T).values(),
            module.predict(params, X),
            module.evaluate(params, X, T)["loss"],
        ]

    modules = [sb.build(network) for network in networks]
    plain = [results(module) for module in modules]
    for setting in ("raise", "warn"):
        with np.errstate(all=setting), warnings.catch_warnings():
            warnings.simplefilter("error")
            assert [sb.generate(network) for network in networks] == expected
            found = [results(module) for module in modules]
            assert np.geterr() == dict.fromkeys(np.geterr(), setting)
        for ours, theirs in zip(found, plain):
            for a, b in zip(ours, theirs):
                np.testing.assert_array_equal(a, b)
    # in NumPy's own defaults, a right result warned of the overflow it comes through: the
    # loss −log(exp(z)) = −z of an exponential output at z = 800 ("overflow encountered in exp")
    wide = sb.build(
        sb.Network("wide", 2, [sb.Dense(2, "exponential")], "categorical_crossentropy")
    )
    params, X, T = (
        {"W1": np.diag([800.0, 1.0]), "b1": np.zeros(2)},
        np.ones((1, 2)),
        [[1, 0]],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert wide.loss(params, X, T) == -800.0
        np.testing.assert_array_equal(wide.gradients(params, X, T)["b1"], [-1.0, 0.0])


def test_what_a_module_imports_is_what_its_code_uses():
    """Printers record what they print: functools only where a helper caches its constants
    (a softmax helper's row constants, the ones of a bias's column sums); math, which the
    shared checks use, in every module."""
    no_bias = sb.Network(
        "no_bias",
        inputs=3,
        layers=[sb.Dense(4, "tanh", bias=False), sb.Dense(2, "sigmoid", bias=False)],
        loss="binary_crossentropy",
    )
    uses_functools = []
    for network in [EVERY_ACTIVATION, *EVERY_LOSS, *EVERY_OPTIMIZER, no_bias]:
        source = sb.generate(network)
        code = source.split("\nimport numpy as np\n", 1)[1]
        for module in ("math", "functools"):
            imports = f"\nimport {module}\n" in source
            assert imports == (f"{module}." in code), (network.name, module)
        cached = ("def _row_constants(" in code) or ("def _ones(" in code)
        assert ("functools." in code) == cached, network.name
        uses_functools.append(cached)
    assert any(uses_functools) and not uses_functools[-1]


# --- every comment is its statement's formula: evaluated, it gives the statement's value ---------


class _CommentToNumPy(ast.NodeTransformer):
    """A comment's formula as array code: ``a if c else b`` → np.where, ``[c]`` → c, and/or →
    logical_and/or (comments print conditions as a reader writes them)."""

    def visit_IfExp(self, node):
        self.generic_visit(node)
        return _call("np.where", node.test, node.body, node.orelse)

    def visit_List(self, node):
        self.generic_visit(node)
        return _call("np.asarray", *node.elts)

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        name = "np.logical_and" if isinstance(node.op, ast.And) else "np.logical_or"
        result = node.values[0]
        for value in node.values[1:]:
            result = _call(name, result, value)
        return result


def _call(name, *args):
    return ast.Call(
        func=ast.parse(name, mode="eval").body, args=list(args), keywords=[]
    )


#: the comments' notation, as array code
_NOTATION = [
    ("mean_n Σ_k(", "_batch_loss("),
    ("mean_n(", "_batch_mean("),
    ("Σ_n(", "_batch_sum("),
    ("Σ_k(", "_row_sum("),
    ("max_k(", "_row_max("),
    ("Σ_ij(", "np.sum("),
    ("·", " @ "),
    ("ᵀ", ".T"),
    ("δ_", "delta_"),
]


def _comment_value(formula, namespace):
    for text, code in _NOTATION:
        formula = formula.replace(text, code)
    tree = ast.fix_missing_locations(
        _CommentToNumPy().visit(ast.parse(formula, mode="eval"))
    )
    return eval(compile(tree, "<comment>", "eval"), namespace)


_ERF = np.vectorize(math.erf, otypes=[float])


def _definition(cls):
    """A stable function of the module (softplus, logcosh, …) from its plain definition."""
    args = sp.symbols(f"u0:{next(iter(cls.nargs))}")
    return sp.lambdify(args, cls.definition(*args), modules=[{"erf": _ERF}, "numpy"])


#: comments name stable forms as in algebra (softplus(u), logaddexp(u, v)); evaluated here from
#: their plain definitions, not from the code's forms
_DEFINITIONS = {
    cls.__name__.lower(): _definition(cls) for cls in algebra.Defined.__subclasses__()
}


#: what comments call, as NumPy: the row-wise helpers by their printed names (softmax_minus),
#: the stable forms from their plain definitions, and NumPy's functions by SymPy's names
_FUNCTIONS = {
    **{name.lstrip("_"): helper for name, helper in helpers.HELPERS.items()},
    **_DEFINITIONS,
    **{name: getattr(np, name) for name in ("exp", "log", "sqrt", "tanh", "sinh")},
    **{name: getattr(np, name) for name in ("cosh", "sin", "cos", "sign", "log1p")},
    **{name: getattr(np, name) for name in ("expm1", "logaddexp")},
    "erf": _ERF,
    "pi": np.pi,
    "E": np.e,
    "atan": np.arctan,
    "asinh": np.arcsinh,
    "Abs": np.abs,
    "Max": np.maximum,
    "Min": np.minimum,
}


@pytest.mark.parametrize(
    "network",
    [DEEP, EVERY_ACTIVATION, *EVERY_LOSS, *NETWORKS],
    ids=lambda network: network.name,
)
def test_every_comment_evaluates_to_its_statements_value(network):
    """Run _forward, _loss and _step statement by statement; after each commented assignment
    evaluate the comment's own formula (before "(lecture: …)") from the same variables: it
    must give the value the statement computed."""
    module = sb.build(network)
    source = sb.generate(network)
    lines = source.splitlines()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, network.sizes[0]))
    T = module._check_data(X, _targets(module, network, rng))[1]
    params = module.init_params(1)
    weights = module._check_weights(rng.uniform(0.5, 2.0, size=6), 6)
    masks = module._masks(rng, 6)
    checked = 0
    # a BatchNorm's statistics and error differ in training and inference: both are checked
    modes = (True, False) if module.BATCHNORM else (False,)
    for training, name in itertools.product(modes, ("_forward", "_loss", "_step")):
        function = _function(source, name)
        namespace = {
            **vars(module),
            **dict(zip(module.PARAMS, _as_list(module, params))),
        }
        # (out: where a NumPy epoch has the softmax's parts written; None, new arrays)
        namespace.update(
            X=X,
            T=T,
            scale=0.37,
            with_loss=True,
            weights=weights,
            training=training,
            out=None,
        )
        # the dropout masks, as training draws them
        namespace.update(zip((mask for mask, *_ in module.DROPOUT), masks))
        namespace.update(
            _row_sum=lambda u: np.sum(u, axis=1, keepdims=True),
            _row_max=lambda u: np.max(u, axis=1, keepdims=True),
            _batch_sum=lambda u: np.sum(u, axis=0),
            _batch_mean=lambda u: np.mean(u, axis=0),
            _batch_loss=lambda u, ns=namespace: np.sum(u) / ns["N"],
        )
        for stmt in function.body:
            if isinstance(stmt, ast.Return) or (
                isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            ):
                continue
            code = compile(ast.Module([stmt], []), "<step>", "exec")
            exec(code, namespace)  # noqa: S102
            comment = lines[stmt.lineno - 2].strip()
            if not (isinstance(stmt, ast.Assign) and comment.startswith("# ")):
                continue
            # one name, or several (D2, R2, A2 = _softmax_parts(Z2))
            targets = [t.id for t in getattr(stmt.targets[0], "elts", stmt.targets)]
            lhs, _, formula = comment[2:].partition(" = ")
            assert lhs == ", ".join(targets).replace("delta_", "δ_"), comment
            formula = formula.split("  (lecture: ")[0]
            if " = " in formula:  # the lecture's own line: "relu(Z1) = (Z1 if …)"
                formula = formula.split(" = ")[-1]
            if " in training, " in formula:  # "a in training, b in inference"
                value_in = dict(
                    zip(
                        (True, False),
                        formula.removesuffix(" in inference").split(" in training, "),
                    )
                )
                formula = value_in[training]
            value = _comment_value(formula, {**_FUNCTIONS, **namespace})
            values = value if len(targets) > 1 else (value,)
            for target, found in zip(targets, values, strict=True):
                expected = namespace[target]
                np.testing.assert_allclose(
                    np.broadcast_to(found, np.shape(expected)),
                    expected,
                    rtol=1e-9,
                    atol=1e-12,
                    err_msg=f"{target} of {comment}",
                )
            checked += 1
    assert checked >= 2 * len(network.layers) + 2


def _as_list(module, params):
    return [params[name] for name in module.PARAMS]


def _targets(module, network, rng):
    """A batch of 6 valid targets for the network's loss."""
    units = network.sizes[-1]
    kind = network.loss.targets
    if kind == "labels":
        return rng.integers(0, units, size=6)
    if kind == "sign":
        return rng.choice([-1.0, 1.0], size=(6, units))
    if kind == "probability":
        if module.TARGETS_SUM_TO_ONE:
            return np.eye(units)[rng.integers(0, units, size=6)]
        return rng.uniform(0, 1, size=(6, units))
    if kind == "nonnegative":
        return rng.uniform(0, 3, size=(6, units))
    return rng.normal(size=(6, units))


def test_a_setting_of_any_name_the_fit_loop_uses_is_renamed():
    """The optimiser's settings are bound by name in the functions of the fit loop (_epoch,
    _rate; JAX's _jax_batch, _jax_epoch, _jax_rates): every other name those functions use,
    on every target, is one a setting is renamed away from (codegen.RESERVED, the derived
    names, _helpers and CONSTANTS), so that none can shadow it."""
    from symbackprop.derive.derivation import derive
    from symbackprop.emit import codegen
    from symbackprop.lower.rules import lower
    from symbackprop.spec.optimizers import LR, K, hyper

    schedule = sb.Schedule("warm", LR / (1 + hyper("pace") * K), (("pace", 0.1),))
    adam = sb.Adam(0.01, schedule=schedule)
    layers = [
        sb.Dense(3, sb.prelu()),
        sb.Dropout(0.2),
        sb.Dense(3, "relu"),
        sb.BatchNorm(),
        sb.Dense(2, "softmax"),
    ]
    network = sb.Network("loop", 2, layers, "categorical_crossentropy", optimizer=adam)
    loop = {"_epoch", "_rate", "_jax_batch", "_jax_epoch", "_jax_rates"}
    used = set()
    for target in ("numpy", "torch", "jax"):
        for function in ast.walk(ast.parse(sb.generate(network, target=target))):
            if isinstance(function, ast.FunctionDef) and function.name in loop:
                used |= {
                    node.id if isinstance(node, ast.Name) else node.arg
                    for node in ast.walk(function)
                    if isinstance(node, (ast.Name, ast.arg))
                }
    # (its settings, under their own names or renamed: adam_beta1 beside beta1 of the BatchNorm)
    settings = {name for key, _ in adam.constants for name in (key, f"adam_{key}")}
    rule_symbols = {"lr", "k", "lr_k", "theta", "dtheta"}
    # (a parameter's name and its gradient's are refused as settings: test_errors)
    params = set(sb.build(network).PARAMS)
    params |= {f"d{name}" for name in params}
    borrowed = sorted(used - settings - rule_symbols - params)
    # the same optimiser with a setting of each name the loop uses
    everything = sb.Optimizer(
        "mine",
        0.01,
        adam.rules,
        adam.state,
        settings=adam.settings + tuple((name, 0.5) for name in borrowed),
        schedule=schedule,
    )
    program = lower(derive(dataclasses.replace(network, optimizer=everything)))
    renamed = {symbol.name for symbol in codegen._own_names(program)}
    assert sorted(set(borrowed) - renamed) == []
    assert len(borrowed) > 80  # (the scan found the loop's names)
