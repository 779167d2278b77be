"""Every name in generated code and documents, made here with its lecture form beside it.

A builder returns the SymPy symbol the derivation uses and records how lecture notes write it:
``weight(1)`` is W1 (W₁), ``gradient(W1)`` is dW1 (∂ℒ/∂W₁), ``error(1)`` is delta_h1 (δ_{h₁}),
``output_error()`` is delta_y (δ_y), ``state(v, W1)`` is v_W1 (v_{W₁}), ``other(a)`` is
a_other (a_k). Printers look names up (``lecture``); nothing reads a name back from its text.
Words that come from users or the catalog (alpha, lam, beta1, lr_k, mhat) are written by
``word``, with SymPy's convention that trailing digits and ``_x`` are subscripts.

A lecture name is a small tree that every printer renders: ("glyph", key) | ("text", s) |
("sub", base, sub) | ("partial", top, bottom) | ("hat", base) | ("tilde", base) |
("squared", base); LaTeX here,
MathML in
``mathml``.
"""

from __future__ import annotations

import re

import sympy as sp

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν",
    "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ",
    "chi": "χ", "psi": "ψ", "omega": "ω",
}  # fmt: skip
#: named glyphs: LaTeX and Unicode
GLYPHS = {
    **{name: (rf"\{name}", char) for name, char in GREEK.items()},
    "L": (r"\mathcal{L}", "ℒ"),
    "ell": (r"\ell", "ℓ"),
}

#: accents over a name: the MathML operator and the combining character
ACCENTS = {"hat": ("^", "\u0302"), "tilde": ("~", "\u0303")}
#: a name squared (σ²): its LaTeX and Unicode superscript
SQUARED = ("^{2}", "²")

#: other names with a glyph of their own
ALIASES = {"lr": "eta", "eps": "epsilon", "momentum": "mu"}

Name = tuple

#: each sample's weight in the loss, normalised to mean 1 over the training data: an N × 1
#: column, or the number 1.0 when every sample counts alike (so it joins the scalars)
WEIGHTS = sp.Symbol("weights", positive=True)

#: the lecture form of each name a builder made
_LECTURE: dict[str, Name] = {}


#: lecture forms of symbols that share their name with another symbol (a BatchNorm's beta1
#: beside Adam's setting beta1): looked up by the symbol itself, assumptions and all
_BY_SYMBOL: dict[sp.Symbol, Name] = {}


def _made(name: str, lecture: Name, **assumptions: bool) -> sp.Symbol:
    _LECTURE[name] = lecture
    return sp.Symbol(name, **assumptions)


def _made_apart(name: str, lecture: Name) -> sp.Symbol:
    """A symbol whose lecture form is its own, not its name's: another may share the name (a
    word no builder made, a learnable beta of layer 1), so the symbol is told apart by an
    assumption no other name carries (finite)."""
    symbol = sp.Symbol(name, finite=True)
    _BY_SYMBOL[symbol] = lecture
    return symbol


def _indexed(base: str, index: int) -> Name:
    return ("sub", _word(base), ("text", str(index)))


def is_compound(name: Name) -> bool:
    """Whether a lecture name has a subscript or a fraction of its own (W₂, δ_{h₁}, ∂ℒ/∂W₁),
    so that an index needs parentheses around it."""
    return name[0] in ("sub", "partial")


def net(layer: int) -> sp.Symbol:
    """Z_l, the weighted inputs of layer ``layer`` (1-based)."""
    return _made(f"Z{layer}", _indexed("Z", layer), real=True)


def activation(layer: int) -> sp.Symbol:
    """A_l, the outputs of layer ``layer``."""
    return _made(f"A{layer}", _indexed("A", layer), real=True)


def softmax_parts(layer: int) -> tuple[sp.Symbol, sp.Symbol]:
    """D_l = Z_l − max_k Z_l and R_l = Σ_k exp(D_l) − 1: the parts of a softmax output that
    the generated loss and output error reuse (see ``algebra.SoftmaxParts``)."""
    return (
        _made(f"D{layer}", _indexed("D", layer), real=True),
        _made(f"R{layer}", _indexed("R", layer), real=True),
    )


def weight(layer: int) -> sp.Symbol:
    """W_l, the weight matrix of layer ``layer``."""
    return _made(f"W{layer}", _indexed("W", layer))


def bias(layer: int) -> sp.Symbol:
    """b_l, the bias of layer ``layer``."""
    return _made(f"b{layer}", _indexed("b", layer))


def learnable(symbol: sp.Symbol, layer: int) -> sp.Symbol:
    """A learnable activation parameter of layer ``layer``: alpha → alpha2 (α₂)."""
    return _made(
        f"{symbol.name}{layer}", ("sub", _word(symbol.name), ("text", str(layer)))
    )


def gradient(param: sp.Symbol) -> sp.Symbol:
    """The variable holding a parameter's gradient: W1 → dW1 (∂ℒ/∂W₁)."""
    return _made(f"d{param.name}", ("partial", ("glyph", "L"), lecture(param)))


def state(variable: sp.Symbol, param: sp.Symbol) -> sp.Symbol:
    """An optimiser variable of one parameter: velocity v of W1 → v_W1 (v_{W₁})."""
    name = f"{variable.name}_{param.name}"
    return _made(name, ("sub", _word(variable.name), lecture(param)), real=True)


def output_error() -> sp.Symbol:
    """δ_y, the error of the output layer."""
    return _made("delta_y", ("sub", ("glyph", "delta"), ("text", "y")))


def error(layer: int) -> sp.Symbol:
    """δ_{h_l}, the error of hidden layer ``layer``."""
    return _made(f"delta_h{layer}", ("sub", ("glyph", "delta"), _indexed("h", layer)))


def signal(layer: int) -> sp.Symbol:
    """E_l = δ_{l+1} W_{l+1}, the error arriving at A_l."""
    return _made(f"E{layer}", _indexed("E", layer))


def mask(key: int | tuple[str, int]) -> sp.Symbol:
    """M_l, the dropout mask of A_l (M_0 of the inputs X, M_{S_k} of a junction's outputs,
    ``junction``): each entry 0, or 1/(1 − rate) for a kept one."""
    if isinstance(key, tuple):
        return _made(f"M_{junction(key).name}", ("sub", ("text", "M"), _indexed(*key)))
    return _made(f"M{key}", _indexed("M", key))


def dropped(key: int | tuple[str, int]) -> sp.Symbol:
    """Ã_l = A_l ⊙ M_l, the outputs of layer ``key`` after dropout (X̃ for layer 0, S̃_k for
    a junction's)."""
    if key == 0:
        return _made("X_drop", ("tilde", ("text", "X")), real=True)
    letter, index = key if isinstance(key, tuple) else ("A", key)
    return _made(
        f"{letter}{index}_drop",
        ("sub", ("tilde", ("text", letter)), ("text", str(index))),
        real=True,
    )


def junction(key: tuple[str, int]) -> sp.Symbol:
    """S_k, the outputs of the k-th Add (its inputs summed), C_k, of the k-th Concatenate
    (its inputs side by side), or H_k, of the k-th ActivationLayer: ``key`` is ("S", k),
    ("C", k) or ("H", k)."""
    letter, index = key
    return _made(f"{letter}{index}", _indexed(letter, index), real=True)


def junction_error(key: tuple[str, int]) -> sp.Symbol:
    """E_{S_k} (E_{C_k}), the error arriving at a junction's outputs: the sum of what its
    consumers send back."""
    return _made(f"E_{junction(key).name}", ("sub", ("text", "E"), _indexed(*key)))


def node_delta(key: tuple[str, int]) -> sp.Symbol:
    """δ_{H_k}, the error an ActivationLayer sends back to the node it acts on: its backward
    rule of the error arriving at H_k, as δ_h is a Dense layer's at Z."""
    return _made(
        f"delta_{junction(key).name}", ("sub", ("glyph", "delta"), _indexed(*key))
    )


def batch_mean(index: int) -> sp.Symbol:
    """μ_i, the batch mean of the outputs BatchNorm ``index`` normalises (per feature)."""
    return _made(f"mu{index}", _indexed("mu", index), real=True)


def batch_variance(index: int) -> sp.Symbol:
    """σ²_i, the batch variance of what BatchNorm ``index`` normalises (per feature)."""
    return _made(
        f"sigma2_{index}",
        ("sub", ("squared", ("glyph", "sigma")), ("text", str(index))),
        real=True,
    )


def feature_variance() -> sp.Symbol:
    """σ², the batch variance of one feature, in batch normalisation's scalar derivation."""
    return _made("sigma2", ("squared", ("glyph", "sigma")), positive=True)


def feature_normalised() -> sp.Symbol:
    """x̂, one normalised feature, in batch normalisation's scalar derivation."""
    return _made("xhat", ("hat", ("text", "x")), real=True)


def normalised(layer: int) -> sp.Symbol:
    """Â_l, the outputs of layer ``layer`` normalised by their batch statistics."""
    return _made(
        f"A{layer}_hat",
        ("sub", ("hat", ("text", "A")), ("text", str(layer))),
        real=True,
    )


def batchnorm_output(layer: int) -> sp.Symbol:
    """B_l = γ Â_l + β, the outputs of layer ``layer`` after batch normalisation."""
    return _made(f"B{layer}", _indexed("B", layer), real=True)


def batchnorm_error(layer: int) -> sp.Symbol:
    """G_l, the error arriving at A_l through the batch normalisation of its outputs."""
    return _made(f"G{layer}", _indexed("G", layer))


def batchnorm_parameter(kind: str, index: int) -> sp.Symbol:
    """A parameter of BatchNorm ``index``: the trained scale gamma<i> (γ_{BN i}) and shift
    beta<i> (β_{BN i}), the running mean<i> and var<i>. The subscript BN i keeps β apart
    from Adam's β₁."""
    base = _word(kind) if kind in GREEK else ("text", kind)
    return _made_apart(f"{kind}{index}", ("sub", base, ("text", f"BN{index}")))


def other(symbol: sp.Symbol) -> sp.Symbol:
    """The same quantity of another unit k of the row: a → a_other (a_k)."""
    name = f"{symbol.name}_other"
    return _made(
        name, ("sub", lecture(symbol.name), ("text", "k")), **symbol.assumptions0
    )


def _word(word: str) -> Name:
    """One word: a glyph (alpha → α, lr → η), a hat (mhat → m̂), else text."""
    if word in ALIASES:
        return ("glyph", ALIASES[word])
    if word.endswith("hat") and len(word) > 3:
        return ("hat", _word(word[:-3]))
    return ("glyph", word) if word in GREEK else ("text", word)


def function(layer: int | str, derivative: bool = False) -> sp.FunctionClass:
    """f_l, the activation of layer ``layer`` as a function in the documents (f_l' with
    ``derivative``; f_{H1} of an ActivationLayer's node H1)."""
    return sp.Function(f"f_{layer}" + "'" * derivative)


def word(name: str) -> Name:
    """The lecture form of a name no builder made: trailing digits as a subscript
    (beta1 → β₁), a glyph (ell → ℓ, lr → η), ``x_y`` with a one-letter or aliased base as x
    with subscript y (lr_k → η_k, n_in), else the name as text."""
    if match := re.fullmatch(r"([A-Za-z]+)(\d+)", name):
        return ("sub", _word(match[1]), ("text", match[2]))
    if name in GLYPHS:
        return ("glyph", name)
    if name in ALIASES:
        return _word(name)
    if (match := re.fullmatch(r"([A-Za-z]+)_([A-Za-z0-9]+)", name)) and (
        len(match[1]) == 1 or match[1] in ALIASES
    ):
        return ("sub", _word(match[1]), _word(match[2]))
    return ("text", name)


def lecture(name: str | sp.Symbol) -> Name:
    """How lecture notes write a symbol (or the symbol named ``name``): a symbol made apart
    by its own form, else by its name's."""
    if isinstance(name, sp.Symbol):
        if name in _BY_SYMBOL:
            return _BY_SYMBOL[name]
        name = name.name
    return _LECTURE.get(name) or word(name)


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def unicode(name: Name) -> str:
    """A lecture name in plain Unicode text, for figures: W₁, δ_y, δ_h₁, ∂ℒ/∂W₁."""
    kind, *parts = name
    if kind == "glyph":
        return GLYPHS[parts[0]][1]
    if kind == "text":
        return parts[0]
    if kind == "sub":
        base, sub = unicode(parts[0]), unicode(parts[1])
        return base + (sub.translate(_SUBSCRIPTS) if sub.isdigit() else f"_{sub}")
    if kind in ACCENTS:
        return unicode(parts[0]) + ACCENTS[kind][1]
    if kind == "squared":
        return unicode(parts[0]) + SQUARED[1]
    top, bottom = parts
    return f"∂{unicode(top)}/∂{unicode(bottom)}"


def latex(name: Name) -> str:
    """A lecture name in LaTeX."""
    kind, *parts = name
    if kind == "glyph":
        return GLYPHS[parts[0]][0]
    if kind == "text":
        (text,) = parts
        return text if len(text) == 1 or text.isdigit() else rf"\mathrm{{{text}}}"
    if kind == "sub":
        return f"{latex(parts[0])}_{{{latex(parts[1])}}}"
    if kind in ACCENTS:
        return rf"\{kind}{{{latex(parts[0])}}}"
    if kind == "squared":
        return f"{{{latex(parts[0])}}}{SQUARED[0]}"
    top, bottom = parts
    return rf"\frac{{\partial {latex(top)}}}{{\partial {latex(bottom)}}}"
