"""Exponentials and logarithms: exp, expm1, np.exp2, log, log1p, log10, log2, and
np.logaddexp and np.logaddexp2, whose partials are softmax weights read off the result.

Scalar records, each declared on its partials (the conventions, domains included: the
package docstring).
"""

from __future__ import annotations

import math

import numpy as np

from ..registry import POSITIVE, primitive


@primitive("math.exp", "np.exp", device=True, numpy_loop=True)
def exp(x, out):
    return out


@primitive("math.expm1", "np.expm1", device=True, numpy_loop=True)
def expm1(x, out):
    return out + 1.0


@primitive("math.log", "np.log", domain=[POSITIVE], device=True, numpy_loop=True, variadic=("math.log",))
def log(x):
    return np.divide(1.0, x) if x >= 0.0 else math.nan


@primitive("math.log1p", "np.log1p", domain=[(-0.5, 3.0)], device=True, numpy_loop=True)
def log1p(x):
    return np.divide(1.0, 1.0 + x) if x >= -1.0 else math.nan


@primitive("math.log10", "np.log10", domain=[POSITIVE], device=True, numpy_loop=True)
def log10(x):
    return np.divide(1.0, x * math.log(10.0)) if x >= 0.0 else math.nan


@primitive("math.log2", "np.log2", domain=[POSITIVE], device=True, numpy_loop=True)
def log2(x):
    return np.divide(1.0, x * math.log(2.0)) if x >= 0.0 else math.nan


# log(exp(x) + exp(y)): the softmax weights of the two operands, read off the result
@primitive("np.logaddexp")
def logaddexp(x, y, out):
    return np.exp(x - out), np.exp(y - out)


# 2 ** x, and log2(2 ** x + 2 ** y) (the base-2 softmax weights, read off the result); ln 2 = 0.693...
@primitive("np.exp2", numpy_loop=True)
def exp2(x, out):
    return out * 0.6931471805599453


@primitive("np.logaddexp2")
def logaddexp2(x, y, out):
    return np.exp2(x - out), np.exp2(y - out)
