"""Trigonometric and hyperbolic functions and their inverses (sin ... atanh, math.atan2),
the angle conversions (radians, degrees) and np.sinc.

Scalar records, each declared on its partials (the conventions, domains included: the
package docstring).
"""

from __future__ import annotations

import math

import numpy as np

from ..registry import DEFAULT_DOMAIN, POSITIVE, UNIT, primitive


@primitive("math.sin", "np.sin", device=True, numpy_loop=True)
def sin(x):
    return math.cos(x)


@primitive("math.cos", "np.cos", device=True, numpy_loop=True)
def cos(x):
    return -math.sin(x)


@primitive("math.tan", "np.tan", domain=[(-1.2, 1.2)], device=True, numpy_loop=True)
def tan(x, out):
    return 1.0 + out * out


@primitive("math.asin", "np.arcsin", domain=[UNIT], device=True, numpy_loop=True)
def asin(x):
    return np.divide(1.0, math.sqrt(abs(1.0 - x * x))) if abs(x) <= 1.0 else math.nan


@primitive("math.acos", "np.arccos", domain=[UNIT], device=True, numpy_loop=True)
def acos(x):
    return np.divide(-1.0, math.sqrt(abs(1.0 - x * x))) if abs(x) <= 1.0 else math.nan


@primitive("math.atan", "np.arctan", device=True, numpy_loop=True)
def atan(x):
    return 1.0 / (1.0 + x * x)


@primitive("math.atan2", "np.arctan2", domain=[DEFAULT_DOMAIN, POSITIVE], device=True)
def atan2(y, x):
    return x / (x * x + y * y), -y / (x * x + y * y)


@primitive("math.sinh", "np.sinh", device=True, numpy_loop=True)
def sinh(x):
    return math.cosh(x)


@primitive("math.cosh", "np.cosh", device=True, numpy_loop=True)
def cosh(x):
    return math.sinh(x)


@primitive("math.tanh", "np.tanh", device=True, numpy_loop=True)
def tanh(x, out):
    return 1.0 - out * out


@primitive("math.asinh", "np.arcsinh", numpy_loop=True)
def asinh(x):
    return 1.0 / math.sqrt(x * x + 1.0)


@primitive("math.acosh", "np.arccosh", domain=[(1.2, 3.0)], numpy_loop=True)
def acosh(x):
    return np.divide(1.0, math.sqrt(abs(x * x - 1.0))) if x >= 1.0 else math.nan


@primitive("math.atanh", "np.arctanh", domain=[UNIT], numpy_loop=True)
def atanh(x):
    return np.divide(1.0, 1.0 - x * x) if abs(x) <= 1.0 else math.nan


# degrees to radians and back: pi / 180 = 0.017453..., 180 / pi = 57.2957...
@primitive("math.radians", "np.deg2rad", "np.radians", device=True)
def radians(x):
    return 0.017453292519943295


@primitive("math.degrees", "np.rad2deg", "np.degrees", device=True)
def degrees(x):
    return 57.29577951308232


# sin(pi x) / (pi x): the derivative (cos(pi x) - sinc(x)) / x loses digits to cancellation near
# 0, where its series -pi^2 x / 3 + pi^4 x^3 / 30 serves (to 1e-13 below 1e-3); `+ (x == 0.0)`
# keeps an array's unused lane from dividing 0 by 0
@primitive("np.sinc")
def sinc(x, out):
    return (-3.289868133696453 * x + 3.246969701133414 * x * x * x if abs(x) < 1e-3
            else (math.cos(math.pi * x) - out) / (x + (x == 0.0)))
