"""Piecewise primitives. The piecewise constant ones (rounding, integer conversions,
comparisons, tests and logical operators, argmax and the like) have zero partials: their
records say `constant`, and their results carry no sensitivity. The selections (min, max,
np.fmin, np.fmax, np.where, np.clip) return one of their operands: the partial along an
operand is 1 where the result is that operand and 0 where it is not (ties and nan below).
"""

from __future__ import annotations

import math

import numpy as np

from ..registry import ARRAYS, declare, primitive, shared_expression, variant

# --- piecewise constant primitives: zero partials, their results carry no sensitivity --------

declare("len", constant=True, result="integer")
declare("range", constant=True)
declare("int", constant=True, result="integer")
declare("round", constant=True, result="integer")
declare("bool", constant=True, result="boolean")
declare("math.floor", constant=True, result="integer")
declare("math.ceil", constant=True, result="integer")
declare("math.trunc", constant=True, result="integer")
declare("np.floor", constant=True, device=True)          # its math twin: math.floor, by name
declare("np.ceil", constant=True, device=True)
declare("np.sign", constant=True)
declare("np.round", constant=True)
declare("np.rint", constant=True)
declare("math.isnan", "np.isnan", constant=True)
declare("math.isinf", "np.isinf", constant=True)
declare("math.isfinite", "np.isfinite", constant=True)
declare("np.logical_and", constant=True)
declare("np.logical_or", constant=True)
declare("np.logical_not", constant=True)
declare("operator.floordiv", constant=True)
declare("operator.not_", constant=True)
declare("operator.lt", constant=True)
declare("operator.le", constant=True)
declare("operator.gt", constant=True)
declare("operator.ge", constant=True)
declare("operator.eq", constant=True)
declare("operator.ne", constant=True)


# A selection returns one of its operands: the partial along an operand is 1 where the result
# is that operand, split 0.5 / 0.5 where both are (a tie: the midpoint of the subdifferential,
# as JAX and autograd), 0 where the other one is, and nan where the result is nan because the
# operand is. Read off `out`, the one rule serves max and np.maximum (nan wins where it comes
# first, or always) and np.fmax (nan loses) alike.
#
# Of arrays, the same partials times g as one product, which numba fuses into a single loop
# (made elementwise, `selection`'s nested conditionals cost a loop each, and numba takes
# about a second to compile them): (out == x) halved at a tie, divided by a mask that is
# false only where the partial is nan (0 / 0: neither operand is the result and x is nan),
# or true where g is 0, which wins over the nan as registry.times makes it.
def selection_vjp(x, y, g, out):
    return (np.divide(out == x, np.logical_or(np.logical_or(out == y, x == x), g == 0.0)) * (1.0 - 0.5 * (out == y)) * g,
            np.divide(out == y, np.logical_or(np.logical_or(out == x, y == y), g == 0.0)) * (1.0 - 0.5 * (out == x)) * g)


SELECTION_VJPS = [variant(selection_vjp, ranks=ARRAYS, broadcasts=True)]


@primitive("min", "np.minimum", result="broadcast", value=True, device=True, variadic=("min",), vjps=SELECTION_VJPS)
@primitive("max", "np.maximum", result="broadcast", value=True, device=True, variadic=("max",), vjps=SELECTION_VJPS)
@primitive("np.fmin", vjps=SELECTION_VJPS)
@primitive("np.fmax", vjps=SELECTION_VJPS)
def selection(x, y, out):
    return ((0.5 if out == y else 1.0) if out == x else (0.0 if out == y or x == x else math.nan),
            (0.5 if out == x else 1.0) if out == y else (0.0 if out == x or y == y else math.nan))


def where(condition, x, y, g):
    return None, np.where(condition, g, 0.0), np.where(condition, 0.0, g)


def where_jvp(condition, x, y, dcondition, dx, dy):
    return None, np.where(condition, dx, 0.0), np.where(condition, 0.0, dy)


declare("np.where", vjps=[variant(where, broadcasts=True)], jvps=[where_jvp], result="broadcast", value=True)


# np.clip(x, low, high) is np.minimum(np.maximum(x, low), high): the chain rule through the
# two selections, each weighted as `selection` does (1 to the larger operand, 0.5 each at a
# tie, nan to a nan operand), with m = np.maximum(x, low) recomputed. A nan in x or low also
# makes the other's partial nan (the product of the two weights), and a zero g or tangent
# wins over a nan weight, as in registry.times.
@shared_expression
def maximum_weight(a, b):              # d np.maximum(a, b) / da, elementwise
    return np.where(a > b, 1.0, np.where(a == b, 0.5, np.where(a == a, 0.0, np.nan)))


@shared_expression
def minimum_weight(a, b):              # d np.minimum(a, b) / da, elementwise
    return np.where(a < b, 1.0, np.where(a == b, 0.5, np.where(a == a, 0.0, np.nan)))


def clip(x, low, high, g):
    return (np.where(g == 0.0, 0.0, g * minimum_weight(np.maximum(x, low), high) * maximum_weight(x, low)),
            np.where(g == 0.0, 0.0, g * minimum_weight(np.maximum(x, low), high) * maximum_weight(low, x)),
            np.where(g == 0.0, 0.0, g * minimum_weight(high, np.maximum(x, low))))


def clip_jvp(x, low, high, dx, dlow, dhigh):
    return (np.where(dx == 0.0, 0.0, dx * minimum_weight(np.maximum(x, low), high) * maximum_weight(x, low)),
            np.where(dlow == 0.0, 0.0, dlow * minimum_weight(np.maximum(x, low), high) * maximum_weight(low, x)),
            np.where(dhigh == 0.0, 0.0, dhigh * minimum_weight(high, np.maximum(x, low))))


declare("np.clip", vjps=[variant(clip, broadcasts=True)], jvps=[clip_jvp], result="broadcast")


# integer results: no derivative
declare("np.argsort", constant=True, result="integer like")
declare("np.argmax", constant=True, result="integer reduction")
declare("np.argmin", constant=True, result="integer reduction")
declare("np.any", constant=True, result="integer reduction")     # (truth values: no derivative either)
declare("np.all", constant=True, result="integer reduction")
