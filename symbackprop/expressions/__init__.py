"""The expression language every stage speaks: the array nodes of the layer algebra, the scalar
symbols, every name and its lecture form, and the printers that turn one expression into
NumPy code, LaTeX, MathML, comment text or numbers."""
