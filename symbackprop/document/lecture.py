"""The derivation written out as a lecture: what ``Derivation.to_latex`` and friends show.

Shapes, the forward pass, the loss, the output error with its chain-rule factors coloured and
each factor's derivative and SymPy's simplification steps, the hidden-error recursion with every
f' in output form, the gradients, the regulariser, the update, and a summary box of the whole.
Everything shown comes from the ``Derivation``: nothing here differentiates or simplifies.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import sympy as sp

from .. import budget
from ..derive.derivation import N
from ..expressions import names
from ..expressions.algebra import RowSum, value
from ..expressions.notation import Partial, Space, chain, colored
from ..expressions.symbols import a, t, w, y, z
from ..spec.initializers import FAN_IN, FAN_OUT
from ..spec.optimizers import K
from .chain import index_form, layer_by_layer, one_unit
from .example import worked_example
from .exercises import exercises as questions_and_answers
from .graph import computational_graph
from .model import Document, Math, Row, Section, Text
from .normalisation import batch_normalisation
from .settings import hyperparameters, in_symbols

if TYPE_CHECKING:
    from ..derive.derivation import Derivation, LayerDerivation

ELL = sp.Symbol("ell")

DELTA = sp.Symbol("delta")
Z = sp.Symbol("Z")


def _eq(lhs: sp.Basic, rhs: sp.Basic) -> sp.Basic:
    return sp.Eq(lhs, rhs, evaluate=False)


def _convention(convention: str) -> Text:
    if convention == "negative":
        return Text(
            (
                "Error convention (error signal, Rumelhart, Hinton & Williams, Nature 323, 1986): ",
                _eq(DELTA, -Partial(ELL, Z)),
                ", so a matched output and loss give ",
                _eq(names.output_error(), t - y),
                ".",
            )
        )
    return Text(
        (
            "Error convention (gradient, Nielsen, Neural Networks and Deep Learning, ch. 2): ",
            _eq(DELTA, Partial(ELL, Z)),
            ", so a matched output and loss give ",
            _eq(names.output_error(), y - t),
            ".",
        )
    )


def _activation(layer: LayerDerivation, at: sp.Basic = z) -> sp.Expr:
    """The activation applied by name, e.g. relu(z)."""
    return sp.Function(layer.activation.name)(at)


def _equation_rows(derivation: Derivation, step: str) -> list[Row]:
    symbols = in_symbols(derivation)
    return [
        Row(
            eq.lhs,
            (
                (eq.rhs.xreplace(symbols),)
                if eq.label is None
                else (eq.label, eq.rhs.xreplace(symbols))
            ),
            arrays=True,
            relation="←" if eq.rebinds else "=",
        )
        for eq in derivation.step(step)
    ]


def _shape(layer: LayerDerivation, param: sp.Symbol) -> sp.Expr:
    """The space of a parameter (and of its gradient)."""
    return Space(layer.units, layer.inputs) if param == layer.W else Space(layer.units)


def _shapes(derivation: Derivation) -> Section:
    X = sp.Symbol("X")
    dropout = derivation.network.dropout
    rows = [Row(X, (Space(N, derivation.network.sizes[0]),), relation="∈")]
    if 0 in dropout:
        rows += [
            Row(array, (Space(N, derivation.network.sizes[0]),), relation="∈")
            for array in (names.mask(0), names.dropped(0))
        ]
    for layer in derivation.layers:
        for param in layer.params:
            rows.append(Row(param, (_shape(layer, param),), relation="∈"))
        for stat, batch in layer.statistics:
            rows += [
                Row(symbol, (Space(layer.units),), relation="∈")
                for symbol in (stat, batch)
            ]
        arrays = [layer.Z, layer.A]
        if layer.batchnorm is not None:
            arrays += [names.normalised(layer.index), layer.output]
        if layer.index in dropout:
            arrays += [names.mask(layer.index), names.dropped(layer.index)]
        for array in arrays:
            rows.append(Row(array, (Space(N, layer.units),), relation="∈"))
    steps, keys = derivation.network.steps, derivation.network.keys
    for step, key in zip(steps, keys, strict=True):
        if isinstance(key, tuple):  # a junction: S_k, C_k, and its dropout
            rows.append(Row(names.junction(key), (Space(N, step.units),), relation="∈"))
            if key in dropout:
                rows += [
                    Row(array, (Space(N, step.units),), relation="∈")
                    for array in (names.mask(key), names.dropped(key))
                ]
    for layer in reversed(derivation.layers):
        rows.append(
            Row(derivation.error_of(layer), (Space(N, layer.units),), relation="∈")
        )
    computed = {eq.lhs for eq in derivation.step("delta")}
    rows += [
        Row(error, (Space(N, step.units),), relation="∈")
        for step, key in reversed(list(zip(steps, keys, strict=True)))
        if isinstance(key, tuple)
        for error in (names.junction_error(key), names.node_delta(key))
        if error in computed
    ]
    for layer in derivation.layers:
        for param in layer.params:
            rows.append(
                Row(names.gradient(param), (_shape(layer, param),), relation="∈")
            )
    text = Text(
        (
            (
                "Layer l has n_l units; A_0 = X is the input. W_l has one row per unit of "
                "layer l: its entry (W_l)_jk is the weight from unit k of layer l − 1 to unit j "
                "of layer l, so a unit computes w·a + b as in W x + b. Each row of X is one "
                "sample n, so every Z, A and δ has one row per sample; b_l is added to every "
                "row. A gradient has the shape of its parameter. ⊙ is the element-wise "
                "(Hadamard) product, and (M)_nk the entry in row n, column k."
            ),
            *(
                (
                    (
                        " A Dropout of rate p after layer l (inverted dropout, Srivastava "
                        "et al., JMLR 15, 2014) multiplies A_l by a mask M_l while "
                        "training: each entry 1/(1 − p) with probability 1 − p, else 0, "
                        "drawn anew for every batch, so the next layer weighs "
                        "Ã_l = A_l ⊙ M_l (X ⊙ M_0 for the inputs); in inference M_l = 1."
                    ),
                )
                if dropout
                else ()
            ),
            *(
                (
                    (
                        " In a graph a layer weighs the node it was called on (so n_in of "
                        "W_l is that node's width); S_k is the k-th Add's sum of its "
                        "inputs, C_k the k-th Concatenate's inputs side by side, H_k the "
                        "k-th ActivationLayer's f(V) of the node V it acts on; E_{S_k}, "
                        "E_{C_k}, E_{H_k} are the errors arriving at them, and δ_{H_k} the "
                        "error H_k sends back to V."
                    ),
                )
                if derivation.is_graph
                else ()
            ),
            *(
                (
                    (
                        " A BatchNorm after layer l normalises A_l by the batch mean μ and "
                        "variance σ² of each feature (the running averages mean and var in "
                        "inference) to Â_l, and the next layer weighs B_l = γ ⊙ Â_l + β; "
                        "γ and β are trained, mean and var are updated after each step."
                    ),
                )
                if derivation.network.batchnorm
                else ()
            ),
        )
    )
    return Section(
        "Notation and shapes", (text, Math(tuple(rows)), *_initialisation(derivation))
    )


def _initialisation(derivation: Derivation) -> tuple[Text, Math]:
    """Where each weight matrix starts: its initialiser's distribution, scale from n_in, n_out."""
    fans = {FAN_IN: sp.Symbol("n_in"), FAN_OUT: sp.Symbol("n_out")}
    rows = []
    for layer in derivation.layers:
        init = derivation.network.initializer(layer.index - 1)
        with sp.evaluate(False):  # keep √(6/(n_in + n_out)) as written
            scale = init.scale.xreplace(fans)
        law = {
            "uniform": sp.Function("U")(-scale, scale),
            "normal": sp.Function("N")(0, scale**2),
        }.get(init.distribution, sp.Integer(0))
        note = f"{init.name}, n_in = {layer.inputs}, n_out = {layer.units}"
        rows.append(Row(layer.W, (law,), note=note, relation="∼"))
    text = Text(("Initial weights, drawn independently; biases start at 0:",))
    return text, Math(tuple(rows))


def _loss(derivation: Derivation) -> Section:
    network = derivation.network
    rows = _equation_rows(derivation, "loss")
    rows.append(
        Row(sp.Function("ell")(y, t), (network.loss.expr,), note=network.loss.title)
    )
    blocks: list[Math | Text] = [
        Text(
            (
                (
                    "The loss of one output element, summed over the outputs and averaged over "
                    "the N samples of the batch:"
                ),
            )
        ),
        Math(tuple(rows)),
    ]
    if network.regularizer is not None:
        r = network.regularizer
        shape, derivative = derivation.regularizer_in_symbols or (
            r.expr,
            derivation.regularizer_derivative,
        )
        blocks += [
            Text(
                ("plus the regulariser, summed over every weight (biases excluded):",)
            ),
            Math(
                (
                    Row(
                        sp.Function("r")(w),
                        (shape,),
                        note=r.name if derivation.regularizer_in_symbols else r.title,
                    ),
                    Row(sp.Function("r'")(w), (sp.Derivative(shape, w), derivative)),
                )
            ),
        ]
    return Section("Loss", tuple(blocks))


def _derivative_rows(layer: LayerDerivation, output: bool) -> list[Row]:
    """f'(z) from SymPy, then in the layer's output a where that form exists."""
    f = layer.activation.expr
    name = "y" if output else "a"
    out = y if output else a
    if layer.activation.is_vector:
        return _jacobian_rows(layer, out)
    steps: list[sp.Basic] = [sp.Derivative(value(f), z), layer.derivative_in_z]
    given: tuple = ()
    note = layer.activation.title
    if layer.activation.straight_through:
        steps[0] = sp.Derivative(f, z)
        note += ", straight-through (sg has derivative 0)"
    if layer.derivative_in_output_form:
        steps.append(layer.activation_derivative.xreplace({a: out}))
        given = ((out, value(f)),)
        note += f", with {name} = f(z)"
    lhs = Partial(out, z) if output else names.function(layer.index, derivative=True)(z)
    rows = [Row(lhs, tuple(steps), note=note, given=given)]
    for p, derivative in layer.parameter_derivatives:
        rows.append(
            Row(
                Partial(names.function(layer.index)(z), p),
                (sp.Derivative(f, p), derivative),
                note="learnable, one per unit",
            )
        )
    return rows


def _jacobian_rows(layer: LayerDerivation, out: sp.Symbol) -> list[Row]:
    """A row-wise activation (softmax): the Jacobian's diagonal and off-diagonal entries."""
    jac = layer.jacobian
    i, k = sp.Symbol("i"), sp.Symbol("k")
    out_i, out_k, z_i = sp.symbols(f"{out.name}_i {out.name}_k z_i")
    return [
        Row(
            Partial(out_i, z_i),
            (jac.diagonal.xreplace({a: out_i}),),
            note=f"{layer.activation.title}, found and proved on rows of 3 and 4 units",
        ),
        Row(
            Partial(out_k, z_i),
            (jac.off.xreplace({a: out_k, names.other(a): out_i}),),
            note=sp.Ne(k, i),
        ),
    ]


def _row_wise_output_error(derivation: Derivation) -> Section:
    """δ_y of a row-wise output (softmax): the chain rule sums over every output k of the row,
    with the Jacobian's entries indexed."""
    out = derivation.layers[-1]
    loss = derivation.network.loss
    negative = derivation.convention == "negative"
    i, k = sp.Symbol("i"), sp.Symbol("k")
    y_i, y_k, z_i, t_i, t_k = sp.symbols("y_i y_k z_i t_i t_k")
    delta = sp.Indexed(names.output_error().name, i)
    blue, red = colored(Partial(ELL, y_k), "blue"), colored(Partial(y_k, z_i), "red")
    total = sp.Sum(chain(blue, red), (k, 1, out.units))
    at_k = {y: y_k, t: t_k}
    jac = out.jacobian
    rows = [
        Row(
            delta,
            (-Partial(ELL, z_i), -total) if negative else (Partial(ELL, z_i), total),
        ),
        Row(
            blue,
            (
                sp.Derivative(loss.expr.xreplace(at_k), y_k),
                derivation.loss_gradient.xreplace(at_k),
            ),
        ),
        Row(
            colored(Partial(y_i, z_i), "red"),
            (jac.diagonal.xreplace({a: y_i}),),
            note=f"{out.activation.title}, found and proved on rows of 3 and 4 units",
        ),
        Row(
            red,
            (jac.off.xreplace({a: y_k, names.other(a): y_i}),),
            note=sp.Ne(k, i),
        ),
    ]
    hidden = sp.Dummy()
    steps = tuple(
        step.xreplace({RowSum(t): hidden})
        .xreplace({y: y_i, t: t_i})
        .xreplace({hidden: RowSum(t)})
        for step in derivation.output_error_steps
    )
    note = _eq(RowSum(t), 1) if derivation.targets_sum_to_one else ""
    rows.append(Row(delta, steps, note=note))
    text = (
        "Each output of the row depends on every logit of the row, so the chain rule sums "
        "over the outputs k; its factors are coloured, each derived by SymPy (the "
        "Jacobian's diagonal and off-diagonal entries), then the sum is simplified step "
        "by step:"
    )
    return _output_error_section(derivation, text, rows)


def _output_error_section(
    derivation: Derivation, text: str, rows: list[Row]
) -> Section:
    """The output error's derivation per unit, then its equation for the whole batch."""
    (array,) = (eq for eq in derivation.step("delta") if eq.lhs == names.output_error())
    return Section(
        "Output error",
        (
            Text((text,)),
            Math(tuple(rows)),
            Text(("For the whole batch:",)),
            Math((Row(array.lhs, (array.rhs,), arrays=True),)),
        ),
    )


def _output_error(derivation: Derivation) -> Section:
    out = derivation.layers[-1]
    if out.activation.is_vector:
        return _row_wise_output_error(derivation)
    loss = derivation.network.loss
    negative = derivation.convention == "negative"
    delta_name = names.output_error()
    product = chain(colored(Partial(ELL, y), "blue"), colored(Partial(y, z), "red"))
    lhs = -Partial(ELL, z) if negative else Partial(ELL, z)
    rows = [Row(delta_name, (lhs, -product if negative else product))]
    rows.append(
        Row(
            colored(Partial(ELL, y), "blue"),
            (sp.Derivative(loss.expr, y), derivation.loss_gradient),
        )
    )
    factor_rows = _derivative_rows(out, output=True)
    if not out.activation.is_vector:
        factor_rows[0] = Row(
            colored(Partial(y, z), "red"),
            factor_rows[0].steps,
            note=factor_rows[0].note,
            given=factor_rows[0].given,
        )
    rows += factor_rows
    steps = derivation.output_error_steps
    note = _eq(RowSum(t), 1) if derivation.targets_sum_to_one else ""
    rows.append(
        Row(delta_name, steps, note=note, given=((y, value(out.activation.expr)),))
    )
    text = (
        "By the chain rule, with its two factors coloured; each factor is derived by SymPy, "
        "then the product is simplified step by step:"
    )
    return _output_error_section(derivation, text, rows)


def _hidden_errors(derivation: Derivation) -> Section | None:
    hidden = derivation.layers[:-1]
    if not hidden:
        return None
    blocks: list[Math | Text] = [
        Text(
            (
                (
                    (
                        "The error arriving at each node is the sum of what the nodes it "
                        "feeds send back (δ W from a layer, the whole error from a sum, its "
                        "own columns from a concatenation: The chain rule, node by node), "
                        "and a layer's error is that, scaled by f' of the layer"
                        if derivation.is_graph
                        else "The error of each hidden layer is the error of the layer "
                        "above, sent back through its weights and scaled by f' of this "
                        "layer"
                    )
                    + (
                        " (and by its dropout mask M_l, ∂Ã_l/∂A_l, where a Dropout drops "
                        "A_l)"
                        if derivation.masks
                        else ""
                    )
                    + (
                        "; where a BatchNorm normalises A_l, the error E_l arriving at "
                        "B_l goes back through it first, as derived in Batch "
                        "normalisation, to G_l:"
                        if derivation.network.batchnorm
                        else ":"
                    )
                ),
            )
        )
    ]
    equations = derivation.step("delta")
    applied = {names.node_delta(act.key): act for act in derivation.activations}
    for layer in reversed(hidden):
        rows = _derivative_rows(layer, output=False)
        for eq in equations:
            if eq.layer != layer.index:
                continue
            if eq.lhs in applied:  # an ActivationLayer's: its f' first
                rows += _derivative_rows(applied[eq.lhs], output=False)
            rows.append(Row(eq.lhs, (eq.rhs,), arrays=True))
        form = (
            "in its output A, so Z need not be kept"
            if layer.derivative_in_output_form
            else "in Z: the search for a form in its output A found none"
        )
        blocks += [
            Text((f"Layer {layer.index}: f' is written {form}.",)),
            Math(tuple(rows)),
        ]
    return Section("Hidden errors", tuple(blocks))


def _summary(derivation: Derivation) -> Section:
    rows = [
        *_equation_rows(derivation, "forward"),
        *(Row(eq.lhs, (eq.rhs,), arrays=True) for eq in derivation.step("delta")),
        *_equation_rows(derivation, "gradient"),
        *_equation_rows(derivation, "update"),
    ]
    rows = [
        Row(
            row.lhs,
            row.steps[-1:],
            arrays=True,
            relation=row.relation,
            note=f"({number})",
        )
        for number, row in enumerate(rows, 1)
    ]
    title = f"Backpropagation for {derivation.network.name}"
    return Section(title, (Math(tuple(rows)),), boxed=True)


def _update(derivation: Derivation) -> Section:
    """The optimiser's equations for every parameter, with its hyperparameters."""
    optimizer = derivation.network.optimizer
    parts: list[str | sp.Basic] = [
        f"{optimizer.title}: each parameter is updated from its gradient as below",
    ]
    if optimizer.state or optimizer.schedule:
        parts += [
            "; ",
            K,
            (
                " counts the updates done before this one, optimiser states start at 0, "
                "and squares, roots and quotients act element-wise"
            ),
        ]
    parts.append(":")
    math = Math(tuple(_equation_rows(derivation, "update")))
    return Section(f"Update ({optimizer.name})", (Text(tuple(parts)), math))


def lecture(
    derivation: Derivation, values: bool = False, exercises: bool = False
) -> Document:
    """The document that explains ``derivation`` step by step (within ``budget.TOTAL``).

    Settings are written as symbols (η, λ, β₁, …) and their values listed once; ``values``
    writes the numbers in the formulas instead. ``exercises`` adds questions on this
    network before the worked example, and their answers at the end."""
    return budget.bounded(
        lambda: _lecture(derivation, values, exercises),
        f"Network {derivation.network.name!r}: writing its derivation document",
    )


def _settings(derivation: Derivation) -> Text:
    """The settings' symbols with their values, listed once."""
    parts: list[str | sp.Basic] = ["Settings: "]
    for i, (symbol, number) in enumerate(hyperparameters(derivation)):
        parts += [", "] * (i > 0) + [_eq(symbol, number)]
    return Text((*parts, "."))


def _with_values(document: Document, derivation: Derivation) -> Document:
    """``document`` with every setting's symbol replaced by its value in the formulas."""
    numbers = dict(hyperparameters(derivation))

    def row(r: Row) -> Row:
        steps = tuple(step.xreplace(numbers) for step in r.steps)
        return replace(r, steps=steps)

    def block(b: Math | Text) -> Math | Text:
        return Math(tuple(map(row, b.rows))) if isinstance(b, Math) else b

    sections = tuple(
        replace(section, blocks=tuple(map(block, section.blocks)))
        for section in document.sections
    )
    return replace(document, sections=sections)


def _lecture(derivation: Derivation, values: bool, exercises: bool) -> Document:
    network = derivation.network
    intro = Section(
        "Network",
        (
            Text((f"{network.describe()}.",)),
            _convention(derivation.convention),
            _settings(derivation),
        ),
    )
    sections = [
        intro,
        _summary(derivation),
        _shapes(derivation),
        Section(
            "Forward pass",
            (Math(tuple(_equation_rows(derivation, "forward"))),),
        ),
        _loss(derivation),
        Section("Computational graph", (computational_graph(derivation),)),
        one_unit(derivation),
        _output_error(derivation),
        batch_normalisation(derivation),
        _hidden_errors(derivation),
        layer_by_layer(derivation),
        index_form(derivation),
        _update(derivation),
    ]
    questions, answers = (
        questions_and_answers(derivation) if exercises else (None, None)
    )
    sections += [questions, worked_example(derivation), answers]
    document = Document(
        f"Backpropagation for {network.name}",
        tuple(s for s in sections if s is not None),
    )
    return _with_values(document, derivation) if values else document
