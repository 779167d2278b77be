"""Stage 2, derive: SymPy does the scalar calculus, the layer algebra is assembled around it,
and the result is a ``Derivation`` — plain data recording every fact any output shows.
"""
