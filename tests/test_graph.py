"""Networks as graphs: sb.Input, layers called on nodes, Add and Concatenate. A node used by
several consumers gets the sum of their errors; every gradient is checked against PyTorch's
autograd through the same masks (tests/torch_reference.py, written from the spec alone) and
against central differences."""

import dataclasses
import pickle

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import symbackprop as sb
from symbackprop.derive.derivation import LOSS
from symbackprop.document.graph import computational_graph
from symbackprop.document.lecture import lecture
from symbackprop.expressions import names, printers
from symbackprop.expressions.algebra import Dot
from symbackprop.expressions.notation import Partial
from symbackprop.spec import graph

from . import reference, torch_reference
from .test_batchnorm import _setting as batchnorm_setting


def contract_network(**settings):
    """The issue's own example: a residual sum, a concatenation with the inputs, a dropout
    and a BatchNorm of a linear layer."""
    x = sb.Input(8)
    h1 = sb.Dense(16, activation="relu")(x)
    h2 = sb.Dense(16, activation="relu")(h1)
    r = sb.Add()([h1, h2])
    c = sb.Concatenate()([x, r])
    d = sb.Dropout(0.2)(c)
    n = sb.BatchNorm()(sb.Dense(12)(d))
    y = sb.Dense(3, activation="softmax")(n)
    return sb.Network(
        name="res", inputs=x, outputs=y, loss="categorical_crossentropy", **settings
    )


def _setting(network, rng, samples=9):
    """test_batchnorm's setting (parameters off their initial values, a batch, masks), with
    the batch as the module checks it (labels one-hot)."""
    module, params, X, T, masks = batchnorm_setting(network, rng, samples)
    X, T = module._check_data(X, T)
    return module, params, X, T, masks


def _derived(module, params, X, T, masks, training):
    values = [params[name] for name in module.PARAMS]
    mode = {"training": training} if module.BATCHNORM else {}
    found = module._step(*values, X, T, 1.0, True, 1.0, *masks, **mode)
    return dict(zip(module.TRAINED, found[2:]))


def _close(found, expected, tolerance):
    scale = max(np.linalg.norm(expected) + np.linalg.norm(found), 1.0)
    assert np.linalg.norm(found - expected) <= tolerance * scale, (found, expected)


def _against_torch(network, seed, training, samples=9):
    rng = np.random.default_rng(seed)
    module, params, X, T, masks = _setting(network, rng, samples)
    masks = masks if training else [np.ones_like(m) for m in masks]
    derived = _derived(module, params, X, T, masks, training)
    by_node = dict(zip(network.dropout, masks))
    expected = torch_reference.gradients(
        network, params, X, T, by_node, training, module.TRAINED
    )
    assert set(derived) == set(module.TRAINED)
    for name in module.TRAINED:
        _close(derived[name], expected[name], 1e-9)
    return module, params, X, T, masks, by_node


def test_parameters_are_named_by_dense_order():
    module = sb.build(contract_network())
    assert module.PARAMS == (
        *("W1", "b1", "W2", "b2", "W3", "b3"),
        *("gamma1", "beta1", "mean1", "var1", "W4", "b4"),
    )
    assert module.TRAINED == tuple(
        p for p in module.PARAMS if p[:3] not in ("mea", "var")
    )
    assert module.SHAPES["W3"] == (12, 24)  # the concatenation: 8 inputs + 16 summed


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_contract_network_matches_torch_and_central_differences(training):
    network = contract_network()
    module, params, X, T, masks, by_node = _against_torch(network, 0, training)
    values = [params[n] for n in module.PARAMS]
    L = module._loss(*values, X, T, 1.0, *masks, training=training)[0]
    expected = torch_reference.loss(
        network,
        {k: torch.tensor(v) for k, v in params.items()},
        X,
        T,
        by_node,
        training,
    )
    assert abs(L - float(expected)) <= 1e-12 * max(1.0, abs(L))
    assert module.check_gradients(params, X, T) < 1e-6


def test_a_node_used_twice_gets_the_sum_of_both_errors():
    derivation = sb.derive(contract_network())
    equations = {eq.name: eq for eq in derivation.equations}
    # h1 feeds layer 2 and the residual sum: its error is the sum of both paths
    E_S1, delta_h2, W2 = (sp.Symbol(n) for n in ("E_S1", "delta_h2", "W2"))
    assert E_S1 + Dot(delta_h2, W2) in equations["delta_h1"].rhs.args
    # the sum's error is its share of the concatenation's: columns 8 to 24
    assert str(equations["E_S1"].rhs) == "Columns(E_C1, 8, 24)"
    # the inputs' share of E_C1 is never computed: nothing below X is trained
    assert not any("Columns(E_C1, 0, 8)" in str(eq.rhs) for eq in derivation.equations)


_HIDDEN = ["relu", "tanh", "sigmoid", "softplus", "identity"]
_OUTPUTS = [
    ("softmax", "categorical_crossentropy"),
    ("sigmoid", "binary_crossentropy"),
    ("identity", "mse"),
]


@st.composite
def _graphs(draw):
    """A random graph: 2–6 hidden Dense layers of one width, each on the last node, on a
    residual sum of it with a node 2–5 layers back, or on a concatenation of earlier nodes
    (the inputs too); a Dropout before a layer or not, a BatchNorm after it or not, and the
    activation in the layer or in an ActivationLayer after it (so after the BatchNorm:
    before and after activations both)."""
    output, loss = draw(st.sampled_from(_OUTPUTS))
    width = draw(st.integers(2, 4))
    x = sb.Input(draw(st.integers(1, 4)))
    pool = [x]  # nodes a later layer may take
    for _ in range(draw(st.integers(2, 6))):
        hidden = [node for node in pool if node is not x]
        source = pool[-1]
        join = draw(st.sampled_from(["none", "add", "concatenate"]))
        if join == "add" and len(hidden) >= 3:
            back = draw(st.integers(2, min(5, len(hidden))))
            source = sb.Add()([hidden[-1], hidden[-back]])
        elif join == "concatenate" and len(pool) >= 2:
            picked = draw(st.lists(st.sampled_from(pool), min_size=2, max_size=3))
            source = sb.Concatenate()(picked)
        if draw(st.booleans()) and source is not x:
            source = sb.Dropout(draw(st.sampled_from([0.0, 0.5])))(source)
        # the activation in the layer, or on its own after it (an ActivationLayer)
        apart = draw(st.booleans())
        activation = draw(st.sampled_from(_HIDDEN))
        node = sb.Dense(width, "identity" if apart else activation)(source)
        if draw(st.booleans()):
            node = sb.BatchNorm(
                eps=draw(st.sampled_from([1e-3, 0.1])),
                center=draw(st.booleans()),
                scale=draw(st.booleans()),
            )(node)
        if apart:  # after the BatchNorm: batch normalisation before the activation
            node = sb.ActivationLayer(activation)(node)
        pool.append(node)
    top = pool[-1]
    if draw(st.booleans()):
        top = sb.Add()([pool[-1], pool[-2]]) if pool[-2] is not x else top
    y = sb.Dense(3, output)(top)
    return sb.Network("graph", inputs=x, outputs=y, loss=loss)


@settings(max_examples=12, deadline=None)
@given(network=_graphs(), seed=st.integers(0, 2**16), training=st.booleans())
def test_random_graphs_match_torch_autograd(network, seed, training):
    _against_torch(network, seed, training, samples=6)


@settings(max_examples=5, deadline=None)
@given(network=_graphs(), seed=st.integers(0, 2**16))
def test_random_graphs_match_central_differences(network, seed):
    rng = np.random.default_rng(seed)
    module, params, X, T, _ = _setting(network, rng, samples=6)
    assert module.check_gradients(params, X, T) < 1e-6


def test_inference_outputs_are_torch_eval_mode():
    network = contract_network()
    rng = np.random.default_rng(4)
    module, params, X, _, masks = _setting(network, rng)
    expected = torch_reference.outputs(
        network,
        {k: torch.tensor(v) for k, v in params.items()},
        X,
        {key: np.ones_like(m) for key, m in zip(network.dropout, masks)},
        training=False,
    )
    np.testing.assert_allclose(module.forward(params, X), expected.numpy(), rtol=1e-12)


def test_targets_compute_what_numpy_computes():
    network = contract_network(optimizer=sb.Adam(0.01))
    rng = np.random.default_rng(5)
    X, T = reference.random_batch(network, 23, rng)
    modules = {t: sb.build(network, target=t) for t in ("numpy", "torch", "jax")}
    params = modules["numpy"].init_params(2)
    grads = {
        t: m.gradients(params, X, T, training=True, seed=3) for t, m in modules.items()
    }
    runs = {
        t: m.train(params, X, T, epochs=3, batch_size=8, seed=1, verbose=0)
        for t, m in modules.items()
    }
    for target in ("torch", "jax"):
        for name, value in grads["numpy"].items():
            np.testing.assert_allclose(grads[target][name], value, atol=1e-12)
        trained, history = runs[target]
        for name, value in runs["numpy"][0].items():
            np.testing.assert_allclose(trained[name], value, atol=1e-9)
        np.testing.assert_allclose(history["loss"], runs["numpy"][1]["loss"], rtol=1e-9)


_HIDDEN_ALL = [*_HIDDEN, "elu", "softmax", "gelu", "swish"]


@pytest.mark.parametrize("activation", _HIDDEN_ALL)
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_norm_before_an_activation_layer_in_a_chain_matches_torch(
    activation, training
):
    network = sb.Network(
        "before",
        3,
        [
            sb.Dense(4),
            sb.BatchNorm(),
            sb.ActivationLayer(activation),
            sb.Dropout(0.25),
            sb.Dense(3, activation),
            sb.Dense(2, "softmax"),
        ],
        "categorical_crossentropy",
    )
    module, params, X, T, *_ = _against_torch(network, 7, training)
    if training:
        assert module.check_gradients(params, X, T) < 1e-6


def test_a_layer_called_twice_on_the_same_node_is_one_node():
    x = sb.Input(3)
    dense = sb.Dense(4, "tanh")
    y = sb.Dense(1)(sb.Add()([dense(x), dense(x)]))
    network = sb.Network("twice", inputs=x, outputs=y)
    assert len(network.dense) == 2
    assert "S1 = 2*A1" in str(sb.derive(network))


def test_summary_shows_what_each_layer_takes():
    text = sb.build(contract_network()).summary()
    assert "Connected to" in text
    assert "concatenate_1 (Concatenate)" in text
    line = next(line for line in text.splitlines() if line.startswith("add_1"))
    assert line.split()[-2:] == ["dense_1,", "dense_2"]
    assert "Total params: 803" in text and "Non-trainable params: 24" in text


def test_save_load_and_a_model_fit_and_pickle(tmp_path):
    network = contract_network(optimizer=sb.SGD(0.1))
    module = sb.build(network)
    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 8))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    params, _ = module.train(
        module.init_params(0),
        X,
        np.eye(3)[labels],
        epochs=30,
        batch_size=16,
        verbose=0,
    )
    path = module.save(params, tmp_path / "res.npz")
    loaded = module.load(path)
    for name, value in params.items():
        np.testing.assert_array_equal(loaded[name], value)
    model = module.Model(epochs=30, batch_size=16).fit(X, labels)
    assert model.score(X, labels) > 0.8
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_generated_module_is_deterministic():
    assert sb.generate(contract_network()) == sb.generate(contract_network())


def test_replace_keeps_the_graph():
    network = contract_network()
    renamed = dataclasses.replace(network, name="res2")
    assert renamed.architecture() == network.architecture()
    assert renamed.steps == network.steps


def test_equations_print_concatenations_and_their_columns():
    latex = sb.derive(contract_network()).latex()
    assert r"C_{1} &= \begin{bmatrix} X & S_{1} \end{bmatrix}" in latex
    assert r"\left(E_{C_{1}}\right)_{:,\,9\ldots 24}" in latex


def test_lecture_sums_the_errors_of_a_node_over_the_nodes_it_feeds():
    document = lecture(sb.derive(contract_network()))
    titles = [section.title for section in document.sections]
    assert "The chain rule, node by node" in titles
    assert (
        "Index form" not in titles
    )  # BP2 of a chain; a graph's is the node-by-node sum
    rows = {printers.latex(row.lhs): row for row in document.rows()}
    by_a1 = rows[printers.latex(Partial(LOSS, sp.Symbol("A1", real=True)))]
    assert by_a1.note == "summed over the 2 nodes it feeds"
    terms = sp.Add.make_args(by_a1.steps[0])
    assert len(terms) == 2
    selection = rows[
        printers.latex(Partial(names.junction(("C", 1)), names.junction(("S", 1))))
    ]
    assert printers.latex(selection.steps[0]) == r"\begin{bmatrix} 0 & I \end{bmatrix}"
    assert "I in columns 9…24" in selection.note


def test_graph_figure_routes_edges_from_further_back_above_the_line():
    figure = computational_graph(sb.derive(contract_network()))
    corners = [name for name, _, y in figure.nodes if isinstance(name, sp.Dummy)]
    assert len(corners) == 4  # A1 → S1 and X → C1, each up, along and down
    heights = sorted({y for name, _, y in figure.nodes if name in corners})
    assert heights == pytest.approx([2.2, 2.8])  # two lanes: the spans overlap
    backward = [edge for edge in figure.edges if edge[2]]
    # the inputs get no error: no backward edge reaches X
    assert not any(target == sp.Symbol("X") for _, target, _, _ in backward)
    labels = {label for *_, label in backward if label is not None}
    assert Partial(names.junction(("S", 1)), sp.Symbol("A1", real=True)) in labels


def activation_chain():
    """Batch normalisation before the activation (Ioffe & Szegedy's place for it), in a
    chain: the documents walk it node by node."""
    return sb.Network(
        "before",
        3,
        [
            sb.Dense(4),
            sb.BatchNorm(),
            sb.ActivationLayer("softmax"),
            sb.Dropout(0.25),
            sb.Dense(3, "tanh"),
            sb.Dense(2, "softmax"),
        ],
        "categorical_crossentropy",
    )


@pytest.mark.parametrize("make", [contract_network, activation_chain])
@pytest.mark.parametrize("form", ["latex", "html"])
def test_graph_documents_compile_and_render(form, make, tmp_path):
    from .test_documents import PROBE, _compile, _tool, chromium_probe

    derivation = sb.derive(make())
    if form == "latex":
        pdf = _compile(derivation.to_latex(exercises=True), tmp_path)
        assert pdf.read_bytes().startswith(b"%PDF")
        return
    chromium = _tool(("chromium", "chromium-browser", "google-chrome"), "chromium")
    page = derivation.to_html(exercises=True)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = chromium_probe(chromium, probe, 10_000)
    assert len(result["boxes"]) == page.count("<math")
    assert all(width > 0 and height > 0 for width, height in result["boxes"])


def _cycle():
    """A cycle cannot be built by calling layers (a node's inputs exist before it); made
    here by rewriting a frozen node's inputs, as a data format naming nodes could."""
    x = sb.Input(2)
    h = sb.Dense(2)(x)
    y = sb.Dense(2)(h)
    object.__setattr__(h, "inputs", (y,))
    return sb.Network("cyclic", inputs=x, outputs=sb.Dense(1)(y))


def _reused():
    x = sb.Input(2)
    dense = sb.Dense(2)
    h = sb.Dense(2)(x)
    return sb.Network(
        "reused", inputs=x, outputs=sb.Dense(1)(sb.Add()([dense(x), dense(h)]))
    )


def _unreached():
    x, other = sb.Input(2), sb.Input(2)
    return sb.Network("unreached", inputs=x, outputs=sb.Dense(1)(other))


def _shared_batchnorm_input():
    x = sb.Input(2)
    h = sb.Dense(3)(x)
    return sb.Network(
        "shared", inputs=x, outputs=sb.Dense(1)(sb.Add()([h, sb.BatchNorm()(h)]))
    )


def _two_dropouts_of_one_node():
    x = sb.Input(2)
    h = sb.Dense(3)(x)
    joined = sb.Concatenate()([sb.Dropout(0.1)(h), sb.Dropout(0.2)(h)])
    return sb.Network("twice_dropped", inputs=x, outputs=sb.Dense(1)(joined))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: sb.ActivationLayer(sb.prelu()), "learnable parameters"),
        (lambda: sb.ActivationLayer("nope"), "ActivationLayer.activation"),
        (
            lambda: sb.Network(
                "w", 2, [sb.Dense(1), sb.ActivationLayer("softmax"), sb.Dense(1)]
            ),
            (
                r"Network.layers\[1\]: ActivationLayer\('softmax'\): activation "
                "'softmax' needs at least 2 units, got 1"
            ),
        ),
        (
            lambda: sb.Network(
                "a",
                2,
                [sb.Dense(3), sb.ActivationLayer("relu"), sb.BatchNorm(), sb.Dense(1)],
            ),
            "a BatchNorm normalises the outputs of the Dense layer right before it",
        ),
        (_cycle, "the graph has a cycle through"),
        (
            lambda: sb.Add()([sb.Dense(3)(sb.Input(2)), sb.Input(4)]),
            r"Add\(\) needs inputs of one width, got widths 3, 4",
        ),
        (_unreached, r"Network.inputs: Input\(2\) does not reach the outputs"),
        (_reused, "is used twice, on different inputs"),
        (
            lambda: sb.Dropout(1.0)(sb.Input(2)),
            r"Dropout.rate must be a number in \[0, 1\)",
        ),
        (
            lambda: sb.Dense(2)([sb.Input(2), sb.Input(2)]),
            "takes one node .* join several nodes with sb.Add",
        ),
        (lambda: sb.Add()([sb.Input(2)]), "takes a list of two or more nodes"),
        (
            lambda: sb.Network(
                "bn", inputs=(x := sb.Input(2)), outputs=sb.Dense(1)(sb.BatchNorm()(x))
            ),
            "a BatchNorm normalises the outputs of a Dense layer",
        ),
        (_shared_batchnorm_input, "and is their only use"),
        (_two_dropouts_of_one_node, "2 Dropouts drop the same node"),
        (
            lambda: sb.Network(
                "out",
                inputs=(x := sb.Input(2)),
                outputs=sb.Dropout(0.1)(sb.Dense(1)(x)),
            ),
            "Network.outputs must be a Dense layer's outputs",
        ),
        (
            lambda: sb.Network("n", inputs=2, outputs=sb.Dense(1)(sb.Input(2))),
            "Network.inputs must be the graph's sb.Input",
        ),
        (
            lambda: sb.Network("n", inputs=sb.Input(2), outputs=sb.Input(2)),
            "Network.outputs must be a layer's outputs",
        ),
        (
            lambda: sb.Network(
                "n",
                inputs=(x := sb.Input(2)),
                layers=[sb.Dense(1)],
                outputs=sb.Dense(1)(x),
            ),
            "give layers=.* or outputs=.*, not both",
        ),
    ],
)
def test_bad_graphs_are_refused_by_name(make, message):
    with pytest.raises(sb.SpecError, match=message):
        make()


def test_nodes_are_made_in_a_topological_order():
    network = contract_network()
    for i, step in enumerate(network.steps):
        assert all(source < i for source in step.sources)
    assert isinstance(sb.Input(3), graph.Node)
