"""What a Derivation shows: its summary (``Derivation.latex()``, ``str(derivation)``, every
equation and the scalar facts) and its lecture as a document.

``write`` is what ``derive`` calls through ``install_writer``: deriving never imports this.
"""

from __future__ import annotations

import sympy as sp

from ..derive.derivation import STEPS, Derivation
from ..expressions import printers
from . import formats
from .lecture import lecture


def scalar_facts(derivation: Derivation) -> list[tuple[str, str, sp.Expr, str]]:
    """The scalar calculus per unit, (LaTeX name, text name, formula, note): ℓ, ∂ℓ/∂y, r and
    r', each layer's f' (and ∂f/∂p of learnable parameters; an ActivationLayer's f_{H1}')
    and the output error δ_y."""
    out = derivation.layers[-1]
    sign = "-" if derivation.convention == "negative" else ""
    facts = [
        (r"\ell(y, t)", "ℓ(y, t)", derivation.network.loss.expr, ""),
        (r"\frac{\partial \ell}{\partial y}", "∂ℓ/∂y", derivation.loss_gradient, ""),
    ]
    regularizer = derivation.network.regularizer
    if regularizer is not None:
        facts += [
            ("r(w)", "r(w)", regularizer.expr, regularizer.title),
            ("r'(w)", "r'(w)", derivation.regularizer_derivative, ""),
        ]
    for layer in (*derivation.layers, *derivation.activations):
        var = "a" if layer.derivative_in_output_form else "z"
        note = layer.activation.title
        if layer.activation.straight_through:
            note += ", straight-through"
        name = (f"f_{{{layer.index}}}'({var})", f"f{layer.index}'({var})")
        facts.append((*name, layer.activation_derivative, note))
        for p, derivative in layer.parameter_derivatives:
            facts.append(
                (
                    rf"\frac{{\partial f_{{{layer.index}}}}}{{\partial {printers.latex(p)}}}",
                    f"∂f{layer.index}/∂{p.name}",
                    derivative,
                    "learnable, one per unit",
                )
            )
    facts.append(
        (
            rf"\delta_{{y}} = {sign}\frac{{\partial \ell}}{{\partial z_{{{out.index}}}}}",
            f"δ_y = {sign}∂ℓ/∂z",
            derivation.output_delta,
            "",
        )
    )
    return facts


def derivation_latex(derivation: Derivation) -> str:
    """Every derived formula as LaTeX: one ``align*`` environment, a titled section per step,
    the scalar facts after the loss."""
    rows = {
        step: [printers.equation_latex(eq, align=True) for eq in derivation.step(step)]
        for step in STEPS
    }
    rows["loss"] += [
        f"{name} &= {printers.latex(expr)}"
        + (f" && {printers.math_text(note)}" if note else "")
        for name, _, expr, note in scalar_facts(derivation)
    ]
    titles = {
        "forward": "Forward pass",
        "loss": "Loss",
        "delta": "Error recursion",
        "gradient": "Gradients of the mean loss",
        "update": "Update",
    }
    body = " \\\\\n".join(
        rf"\intertext{{{titles[step]}}}" + "\n" + " \\\\\n".join(rows[step])
        for step in STEPS
    )
    network = derivation.network
    header = f"% {network.name}: {network.describe()}"
    return f"{header}\n\\begin{{align*}}\n{body}\n\\end{{align*}}"


def derivation_text(derivation: Derivation) -> str:
    """The equations as plain text, one per line, grouped by step; the scalar facts after
    the loss."""
    network = derivation.network
    lines = [f"{network.name}: {network.describe()}"]
    for step in STEPS:
        lines.append(f"{step}:")
        lines.extend(f"  {printers.equation_text(eq)}" for eq in derivation.step(step))
        if step == "loss":
            lines.extend(
                f"  {name} = {printers.comment(expr)}"
                + (f"    ({note})" if note else "")
                for _, name, expr, note in scalar_facts(derivation)
            )
    return "\n".join(lines)


def write(
    derivation: Derivation, view: str, values: bool = False, exercises: bool = False
) -> str:
    """One view of ``derivation``: "text", "latex", or a lecture document ("to_latex",
    "to_markdown", "to_html"; with ``values`` and ``exercises`` as ``lecture`` takes them).
    """
    if view == "text":
        return derivation_text(derivation)
    if view == "latex":
        return derivation_latex(derivation)
    return getattr(formats, view)(lecture(derivation, values, exercises))
