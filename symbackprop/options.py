"""The choices the command line offers, kept apart from what implements them so that parsing
arguments (and ``symbackprop --help``) needs neither SymPy nor NumPy."""

#: the error conventions: δ = −∂ℓ/∂Z (Rumelhart, Hinton & Williams) or δ = ∂ℓ/∂Z (Nielsen)
CONVENTIONS = ("negative", "gradient")
#: the array libraries a training module can be generated for
TARGETS = ("numpy", "torch", "jax")
#: the formats a derivation document is written in
FORMATS = ("tex", "md", "html", "pdf")
#: the format a file's suffix asks for (``-o notes.html`` without --format)
FORMAT_OF_SUFFIX = {
    ".tex": "tex",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
