"""Arithmetic: the operators (`+ - * / ** %`, unary `-` and `+`) and their numpy twins,
float(), abs, and the powers and roots (np.square, np.reciprocal, sqrt, np.cbrt, hypot).

Scalar records, each declared on its partials (the conventions: the package docstring).
"""

from __future__ import annotations

import math

import numpy as np

from ..registry import DEFAULT_DOMAIN, POSITIVE, primitive


@primitive("operator.add", "np.add")
def add(x, y):
    return 1.0, 1.0


@primitive("operator.sub", "np.subtract")
def sub(x, y):
    return 1.0, -1.0


@primitive("operator.mul", "np.multiply")
def mul(x, y):
    return y, x


@primitive("operator.truediv", "np.divide", domain=[DEFAULT_DOMAIN, POSITIVE])   # np.divide: in partials below
def truediv(x, y, out):
    return 1.0 / y, -out / y


@primitive("operator.pow", "math.pow", "np.power", "pow", domain=[POSITIVE, DEFAULT_DOMAIN], device=True)
def power(x, y, out):
    # d/dy: out * log(x) for x > 0; 0 ** y is flat in y (JAX's choice too); x < 0: nan
    return y * x ** (y - 1.0), (out * math.log(x) if x > 0.0 else (0.0 if x >= 0.0 else math.nan))


@primitive("operator.mod", "np.remainder", domain=[POSITIVE, (0.7, 1.3)])   # np.mod is np.remainder
def mod(x, y):
    return 1.0, -math.floor(x / y)


@primitive("operator.neg", "np.negative")
def neg(x):
    return -1.0


@primitive("operator.pos", "float", "np.float64", "np.float32")
def identity(x):
    return 1.0


# result "broadcast": abs keeps its operand's kind, np.abs makes floats (analysis/shapes.py)
@primitive("abs", "math.fabs", "np.abs", "np.fabs", result="broadcast", device=True)
def absolute(x):
    # 0 at the kink: the midpoint of [-1, 1], as max(x, -x) gives it (JAX, autograd); nan stays nan
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (0.0 if x == x else math.nan))


@primitive("math.sqrt", "np.sqrt", domain=[POSITIVE], device=True)
def sqrt(x, out):
    return np.fmax(np.divide(0.5, out), 0.0) if x >= 0.0 else math.nan


@primitive("math.hypot", "np.hypot", domain=[POSITIVE, POSITIVE], device=True, variadic=("math.hypot",))
def hypot(x, y, out):
    return x / out, y / out


@primitive("np.square")
def square(x):
    return 2.0 * x


@primitive("np.cbrt", domain=[POSITIVE], numpy_loop=True)     # (numba has no math.cbrt)
def cbrt(x, out):
    return np.divide(1.0, 3.0 * out * out)


@primitive("np.reciprocal", domain=[POSITIVE])
def reciprocal(x, out):
    return -out * out
