"""Lecture names of the derivation's symbols, as a small tree that every printer renders.

``delta_h1`` is δ with subscript h₁, ``dW2`` is ∂ℒ/∂W₂, ``alpha1`` is α₁, ``lr`` is η: one parse
(``parse``) and one renderer per output (LaTeX here, MathML in ``mathml``). Optimiser names
follow the same scheme: ``v_W1`` is v_{W₁}, ``mhat_W1`` is m̂_{W₁}, ``lr_k`` is η_k, ``eps`` ε.
"""

from __future__ import annotations

import re

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

#: other names with a glyph of their own
ALIASES = {"lr": "eta", "eps": "epsilon", "momentum": "mu"}

Name = tuple  # ("glyph", key) | ("text", s) | ("sub", base, sub) | ("partial", top, bottom)
#             | ("hat", base)


def _word(word: str) -> Name:
    if word in ALIASES:
        return ("glyph", ALIASES[word])
    if word.endswith("hat") and len(word) > 3:
        return ("hat", _word(word[:-3]))
    return ("glyph", word) if word in GREEK else ("text", word)


def _indexed(base: str, index: str) -> Name:
    return ("sub", _word(base), ("text", index))


def parse(name: str) -> Name:
    """The lecture name of a symbol name."""
    if name == "delta_y":
        return ("sub", ("glyph", "delta"), ("text", "y"))
    if match := re.fullmatch(r"delta_h(\d+)", name):
        return ("sub", ("glyph", "delta"), _indexed("h", match[1]))
    if match := re.fullmatch(r"d([A-Za-z]+)(\d+)", name):
        return ("partial", ("glyph", "L"), _indexed(match[1], match[2]))
    if match := re.fullmatch(r"([A-Za-z]+)(\d+)", name):
        return _indexed(match[1], match[2])
    if match := re.fullmatch(r"([azytg])_other", name):
        return ("sub", ("text", match[1]), ("text", "k"))
    if match := re.fullmatch(r"([A-Za-z]+)_([A-Za-z]+\d+)", name):
        # optimiser state of a parameter: v_W1 is v with subscript W₁, mhat_b2 is m̂ of b₂
        return ("sub", _word(match[1]), parse(match[2]))
    if name in GLYPHS:
        return ("glyph", name)
    if name in ALIASES:
        return _word(name)
    if (match := re.fullmatch(r"([A-Za-z]+)_([A-Za-z0-9]+)", name)) and (
        len(match[1]) == 1 or match[1] in ALIASES
    ):
        return ("sub", _word(match[1]), _word(match[2]))
    return ("text", name)


def latex(name: Name) -> str:
    """A parsed name in LaTeX."""
    kind, *parts = name
    if kind == "glyph":
        return GLYPHS[parts[0]][0]
    if kind == "text":
        (word,) = parts
        return word if len(word) == 1 or word.isdigit() else rf"\mathrm{{{word}}}"
    if kind == "sub":
        return f"{latex(parts[0])}_{{{latex(parts[1])}}}"
    if kind == "hat":
        return rf"\hat{{{latex(parts[0])}}}"
    top, bottom = parts
    return rf"\frac{{\partial {latex(top)}}}{{\partial {latex(bottom)}}}"
