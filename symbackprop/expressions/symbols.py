"""The scalar symbols every catalog expression and derived formula is written in."""

import sympy as sp

#: pre-activation (net input) of one unit
z = sp.Symbol("z", real=True)
#: activation (output) of one unit
a = sp.Symbol("a", real=True)
#: one network output
y = sp.Symbol("y", real=True)
#: one target value
t = sp.Symbol("t", real=True)
#: the error signal arriving at a unit's output, ∂ℓ/∂a
g = sp.Symbol("g", real=True)
#: one weight, the argument of a regulariser
w = sp.Symbol("w", real=True)
