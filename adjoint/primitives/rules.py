"""The primitive table: one record per primitive (table.Primitive), its derivative included.

A scalar primitive's record is declared on its rule, a plain, runnable function of the primitive's arguments (and, when it helps, of
`out`, the primitive's result) that returns the partial derivatives, one per argument:

    @primitive("math.sin", "np.sin", device=True, numpy_loop=True)
    def sin(x):
        return math.cos(x)

    @primitive("operator.truediv", "np.divide", domain=[DEFAULT_DOMAIN, POSITIVE])
    def truediv(x, y, out):
        return 1.0 / y, -out / y

The reverse transform inlines each returned expression, substituting the statement's operands
for the parameters:  `t_3 = a / b`  ->  `s_a += 1.0 / b * s_3;  s_b += -t_3 / b * s_3`.
Only math, numpy (as np) and the parameters may appear in a partial, so emitted code needs
no import but math and numpy. Partials of piecewise constant primitives (integer-valued,
comparisons, new arrays of zeros) are zero: their records say `constant`, and their results
carry no sensitivity. An array primitive's record is declared with `declare`, from its
vector-Jacobian products (`variant`s where they take options) and Jacobian-vector products.

Besides its derivative, a record holds the spellings code uses for the primitive (math and
numpy twins: table.py derives from them how a partial is made elementwise and how device
code spells it), the name of its result type rule (analysis/shapes.py) and its flags
(`allocates`, `costly`, `value`, `numpy_loop`, `device`, `variadic`: table.Primitive). Adding a
primitive is one record here and one row in tests/test_primitive_table.py.

The machinery (rule types, registries, lookups, parsing) lives in registry.py; the names the
transformations use are re-exported here, so `rules.lookup(...)` always sees the full table.
"""

from __future__ import annotations

import copy
import math

import gast
import numpy as np

from ..ir import nodes
from . import table
from .registry import (  # noqa: F401 (re-exported: the transformations import them from here)
    ALLOWED_GLOBALS,
    ARRAY_RULES,
    DEFAULT_DOMAIN,
    NON_DIFFERENTIABLE,
    PARTS_RULES,
    RULES,
    TANGENT_RULES,
    ArrayRule,
    PartsRule,
    Rule,
    TangentRule,
    declare,
    is_differentiable,
    is_non_differentiable,
    jvp,
    lookup,
    lookup_array,
    lookup_jvp,
    lookup_parts,
    primitive,
    rule,
    subnodes,
    variant,
    vectorized,
    vjp,
)

POSITIVE = (0.2, 3.0)
UNIT = (-0.9, 0.9)


def times(partial, factor, elementwise):
    """`partial * factor` (a partial times a sensitivity or a tangent) as gast, where a zero
    factor wins over the nan a partial names (`... else math.nan`, outside a domain): a value
    that never reaches the result (the lane np.where drops, an input a forward-mode column
    does not move) adds 0, not nan. `elementwise`: the factor is an array; there the guard
    joins the partial's own condition (`np.where(c or factor == 0, a, nan)`, which numba
    fuses as a product: lower.for_numba.lower_for_numba), since a select after the product would
    cost a pass numba does not fuse. An inf partial on a domain's edge (sqrt at 0) times a
    zero array element stays nan, as in JAX."""
    if type(partial) in (gast.Constant, gast.Name) or not any(_is_nan(n) for n in subnodes(partial)):
        return nodes.scaled(partial, factor)
    is_zero = nodes.compare(copy.deepcopy(factor), "==", nodes.const(0.0))
    if not elementwise:
        return nodes.ifexp(is_zero, nodes.const(0.0), nodes.scaled(partial, factor))
    partial = copy.deepcopy(partial)
    for node in gast.walk(partial):
        if isinstance(node, gast.Call) and nodes.dotted(node.func) == "np.where" and len(node.args) == 3 \
                and _is_nan(node.args[2]):
            node.args[0] = nodes.call("np.logical_or", [node.args[0], copy.deepcopy(is_zero)])
    return nodes.scaled(partial, factor)


def _is_nan(node):
    return isinstance(node, gast.Attribute) and nodes.dotted(node) in ("math.nan", "np.nan")

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

# new arrays, whatever their arguments' values
declare("np.zeros", constant=True, result="creator", allocates=True)
declare("np.ones", constant=True, result="creator", allocates=True)
declare("np.empty", constant=True, result="creator", allocates=True)
declare("np.zeros_like", constant=True, result="like", allocates=True)
declare("np.ones_like", constant=True, result="like", allocates=True)
declare("np.empty_like", constant=True, result="like", allocates=True)


# new arrays filled with a value: the fill's sensitivity is the sum of the result's, summed
# back to the fill's own shape where it broadcast (a number: the whole sum)
def full(shape, fill, g):
    return None, g


def full_jvp(shape, fill, dshape, dfill):
    return None, np.full(shape, dfill)


def full_like(a, fill, g):
    return None, g


def full_like_jvp(a, fill, da, dfill):
    return None, np.full_like(a, dfill)


# with a dtype, as the optimizer writes a sensitivity filled with one value (optimize/tidy)
def full_dtype(shape, fill, dtype, g):
    return None, g, None


def full_dtype_jvp(shape, fill, dtype, dshape, dfill, ddtype):
    return None, np.full(shape, dfill, dtype), None


declare("np.full", vjps=[variant(full, broadcasts=True), variant(full_dtype, broadcasts=True)],
        jvps=[full_jvp, full_dtype_jvp], result="creator", allocates=True, value=True)
declare("np.full_like", vjps=[variant(full_like, broadcasts=True)], jvps=[full_like_jvp], result="like",
        allocates=True, value=True)
declare("np.arange", constant=True, result="vector", allocates=True)


# evenly spaced: start + (stop - start) t, t = 0, 1 / (num - 1), ..., 1
def linspace(start, stop, num, g):
    return np.sum(g * (1.0 - np.linspace(0.0, 1.0, num))), np.sum(g * np.linspace(0.0, 1.0, num)), None


def linspace_jvp(start, stop, num, dstart, dstop, dnum):
    return (1.0 - np.linspace(0.0, 1.0, num)) * dstart, np.linspace(0.0, 1.0, num) * dstop, None


declare("np.linspace", vjps=[variant(linspace, ranks=(0, 0))], jvps=[linspace_jvp], result="vector",
        allocates=True, value=True)
declare("np.eye", constant=True, result="matrix", allocates=True)
declare("np.identity", constant=True, result="matrix", allocates=True)
declare("np.tri", constant=True, result="matrix", allocates=True)


# --- arithmetic -----------------------------------------------------------------------------

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


@primitive("operator.mod", domain=[POSITIVE, (0.7, 1.3)])
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


# A selection returns one of its operands: the partial along an operand is 1 where the result
# is that operand, split 0.5 / 0.5 where both are (a tie: the midpoint of the subdifferential,
# as JAX and autograd), 0 where the other one is, and nan where the result is nan because the
# operand is. Read off `out`, the one rule serves max and np.maximum (nan wins where it comes
# first, or always) and np.fmax (nan loses) alike.
@primitive("min", "np.minimum", result="broadcast", value=True, device=True, variadic=("min",))
@primitive("max", "np.maximum", result="broadcast", value=True, device=True, variadic=("max",))
@primitive("np.fmin")
@primitive("np.fmax")
def selection(x, y, out):
    return ((0.5 if out == y else 1.0) if out == x else (0.0 if out == y or x == x else math.nan),
            (0.5 if out == x else 1.0) if out == y else (0.0 if out == x or y == y else math.nan))


# --- special functions ----------------------------------------------------------------------
# device: spelled as their math twins in device code; numpy_loop: numpy's vectorized loop
# computes them of a large array (runtime._numpy_<f>), and a reverse loop stores them

@primitive("math.sin", "np.sin", device=True, numpy_loop=True)
def sin(x):
    return math.cos(x)


@primitive("math.cos", "np.cos", device=True, numpy_loop=True)
def cos(x):
    return -math.sin(x)


@primitive("math.tan", "np.tan", domain=[(-1.2, 1.2)], device=True, numpy_loop=True)
def tan(x, out):
    return 1.0 + out * out


# Outside its domain a function's value is nan and so is its partial; on the domain's edge
# the partial is the one-sided derivative there (inf), as in JAX. A comparison picks the
# case, no extra call; np.divide, not /, because a scalar division by zero raises (Python,
# numba) where numpy's gives inf. Of arrays, `a if c else math.nan` is fused into a * (c / c)
# (lower.for_numba.lower_for_numba), so `a` must stay finite outside the domain (abs in asin's sqrt,
# fmax dropping sqrt's nan): where the sensitivity is 0 there, `times` keeps `a` (times 0).
# The condition `c` holds on the whole domain, edges included (abs: `x == x` where neither
# x > 0 nor x < 0), so that c / c is 0 / 0 only outside it: numpy then warns only where its
# own primal warned, never on valid input (the python target runs the same source).

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


# log(exp(x) + exp(y)): the softmax weights of the two operands, read off the result
@primitive("np.logaddexp")
def logaddexp(x, y, out):
    return np.exp(x - out), np.exp(y - out)


# 2 / sqrt(pi) = 1.1283791670955126
@primitive("math.erf")
def erf(x):
    return 1.1283791670955126 * math.exp(-x * x)


@primitive("math.erfc")
def erfc(x):
    return -1.1283791670955126 * math.exp(-x * x)


# d/dx lgamma(x) is digamma(x), which neither math nor numpy (nor numba) has: the asymptotic
# series of digamma at |x| + 6 (error below 1e-11), brought down by digamma(y) = digamma(y + 1) - 1 / y
# to y = |x|. For x > 0 that is digamma(x); for x < 0 the reflection formula, digamma(x) =
# digamma(-x) - 1 / x - pi cot(pi x), cancels the 1 / |x| term, leaving pi cot(pi x), computed
# of x less its nearest integer (tan has period pi) so that it stays exact for large |x|. At
# the poles (0, -1, -2, ...) nan, as JAX's digamma gives (the max is 0 only there, or nan of a
# nan x; np.floor, since math.floor of nan raises); `+ (x == floor(x))` keeps the unused lane
# of an array finite at a pole (see `times`).
@primitive("math.lgamma", domain=[(0.3, 4.0)])
def lgamma(x):
    return (math.log(abs(x) + 6.0) - 0.5 / (abs(x) + 6.0) - (1.0 / 12.0 - (1.0 / 120.0 - (1.0 / 252.0 - (
        1.0 / 240.0 - 1.0 / 132.0 / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0)))
        / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0))
        - 1.0 / (abs(x) + 1.0) - 1.0 / (abs(x) + 2.0) - 1.0 / (abs(x) + 3.0) - 1.0 / (abs(x) + 4.0) - 1.0 / (abs(x) + 5.0)
        - (np.divide(1.0, x) if x > 0.0 else np.divide(math.pi, math.tan(math.pi * (x - np.floor(x + 0.5)))
                                                      + (x == np.floor(x))))
        if max(x, x - np.floor(x)) > 0.0 else math.nan)


@primitive("math.gamma", domain=[(0.3, 4.0)])
def gamma(x, out):
    return out * (math.log(abs(x) + 6.0) - 0.5 / (abs(x) + 6.0) - (1.0 / 12.0 - (1.0 / 120.0 - (1.0 / 252.0 - (
        1.0 / 240.0 - 1.0 / 132.0 / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0)))
        / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0))
        - 1.0 / (abs(x) + 1.0) - 1.0 / (abs(x) + 2.0) - 1.0 / (abs(x) + 3.0) - 1.0 / (abs(x) + 4.0) - 1.0 / (abs(x) + 5.0)
        - (np.divide(1.0, x) if x > 0.0 else np.divide(math.pi, math.tan(math.pi * (x - np.floor(x + 0.5)))
                                                      + (x == np.floor(x))))
        if max(x, x - np.floor(x)) > 0.0 else math.nan)


@primitive("math.asinh", "np.arcsinh", numpy_loop=True)
def asinh(x):
    return 1.0 / math.sqrt(x * x + 1.0)


@primitive("math.acosh", "np.arccosh", domain=[(1.2, 3.0)], numpy_loop=True)
def acosh(x):
    return np.divide(1.0, math.sqrt(abs(x * x - 1.0))) if x >= 1.0 else math.nan


@primitive("math.atanh", "np.arctanh", domain=[UNIT], numpy_loop=True)
def atanh(x):
    return np.divide(1.0, 1.0 - x * x) if abs(x) <= 1.0 else math.nan


# 2 ** x, and log2(2 ** x + 2 ** y) (the base-2 softmax weights, read off the result); ln 2 = 0.693...
@primitive("np.exp2", numpy_loop=True)
def exp2(x, out):
    return out * 0.6931471805599453


@primitive("np.logaddexp2")
def logaddexp2(x, y, out):
    return np.exp2(x - out), np.exp2(y - out)


@primitive("np.reciprocal", domain=[POSITIVE])
def reciprocal(x, out):
    return -out * out


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


# --- array primitives: vector-Jacobian products (reverse mode) and Jacobian-vector products
# (forward mode); `variant` gives a vjp its options (registry.vjp says what they mean) -------

def where(condition, x, y, g):
    return None, np.where(condition, g, 0.0), np.where(condition, 0.0, g)


def where_jvp(condition, x, y, dcondition, dx, dy):
    return None, np.where(condition, dx, 0.0), np.where(condition, 0.0, dy)


declare("np.where", vjps=[variant(where, broadcasts=True)], jvps=[where_jvp], result="broadcast", value=True)


# np.clip(x, low, high) is np.minimum(np.maximum(x, low), high): the chain rule through the
# two selections, each weighted as `selection` does (1 to the larger operand, 0.5 each at a
# tie, nan to a nan operand), with m = np.maximum(x, low) recomputed. A nan in x or low also
# makes the other's partial nan (the product of the two weights), and a zero g or tangent
# wins over a nan weight, as in `times`.
def clip(x, low, high, g):
    return (np.where(g == 0.0, 0.0, g * np.where(np.maximum(x, low) < high, 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(np.maximum(x, low) == np.maximum(x, low), 0.0, np.nan)))
            * np.where(x > low, 1.0, np.where(x == low, 0.5, np.where(x == x, 0.0, np.nan)))),
            np.where(g == 0.0, 0.0, g * np.where(np.maximum(x, low) < high, 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(np.maximum(x, low) == np.maximum(x, low), 0.0, np.nan)))
            * np.where(low > x, 1.0, np.where(x == low, 0.5, np.where(low == low, 0.0, np.nan)))),
            np.where(g == 0.0, 0.0, g * np.where(high < np.maximum(x, low), 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(high == high, 0.0, np.nan)))))


def clip_jvp(x, low, high, dx, dlow, dhigh):
    return (np.where(dx == 0.0, 0.0, dx * np.where(np.maximum(x, low) < high, 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(np.maximum(x, low) == np.maximum(x, low), 0.0, np.nan)))
            * np.where(x > low, 1.0, np.where(x == low, 0.5, np.where(x == x, 0.0, np.nan)))),
            np.where(dlow == 0.0, 0.0, dlow * np.where(np.maximum(x, low) < high, 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(np.maximum(x, low) == np.maximum(x, low), 0.0, np.nan)))
            * np.where(low > x, 1.0, np.where(x == low, 0.5, np.where(low == low, 0.0, np.nan)))),
            np.where(dhigh == 0.0, 0.0, dhigh * np.where(high < np.maximum(x, low), 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(high == high, 0.0, np.nan)))))


declare("np.clip", vjps=[variant(clip, broadcasts=True)], jvps=[clip_jvp], result="broadcast")


def sum_all(x, g):
    return g                                          # broadcast into every element


def sum_axis(x, axis, g):
    return np.broadcast_to(np.expand_dims(g, axis), x.shape), None


def sum_axis_of_vector(x, axis, g):
    return np.full_like(x, g), None                   # numba's np.expand_dims takes no number


def sum_all_jvp(x, dx):
    return np.sum(dx)


def sum_axis_jvp(x, axis, dx, daxis):
    return np.sum(dx, axis), None


declare("np.sum", vjps=[sum_all, variant(sum_axis_of_vector, ranks=(1,)), variant(sum_axis, broadcast_view=True)], jvps=[sum_all_jvp, sum_axis_jvp],
        result="reduction", value=True)


def mean_all(x, g):
    return g / x.size


def mean_axis(x, axis, g):
    return np.broadcast_to(np.expand_dims(g, axis) / x.shape[axis], x.shape), None


def mean_axis_of_vector(x, axis, g):
    return np.full_like(x, g / x.size), None


def mean_all_jvp(x, dx):
    return np.sum(dx) / x.size


def mean_axis_jvp(x, axis, dx, daxis):
    return np.sum(dx, axis) / x.shape[axis], None


declare("np.mean", vjps=[mean_all, variant(mean_axis_of_vector, ranks=(1,)), variant(mean_axis, broadcast_view=True)], jvps=[mean_all_jvp, mean_axis_jvp],
        result="reduction", value=True)


def prod_all(x, g, out):
    return g * out / x                                # needs x != 0


def prod_axis(x, axis, g, out):
    return np.expand_dims(g * out, axis) / x, None    # needs x != 0


def prod_all_jvp(x, dx, out):
    return out * np.sum(dx / x)                       # needs x != 0


def prod_axis_jvp(x, axis, dx, daxis, out):
    return out * np.sum(dx / x, axis), None


declare("np.prod", vjps=[prod_all, prod_axis], jvps=[prod_all_jvp, prod_axis_jvp], result="reduction", value=True)


# A reduction's max or min: g split equally among the tied extrema (JAX, autograd). Where the
# extremum is nan no element equals it: 0 / 0 makes every partial of that slice nan (JAX too),
# unless g is 0 there (the value does not reach the result), which counts once more so that
# the slice stays 0. np.divide: a scalar division by zero raises under numba, the ufunc not.
def extremum_all(x, g, out):
    return np.divide(np.where(x == out, g, 0.0), np.sum(x == out) + (g == 0.0))


def extremum_axis_of_vector(x, axis, g, out):
    return np.divide(np.where(x == out, g, 0.0), np.sum(x == out) + (g == 0.0)), None


def extremum_axis(x, axis, g, out):
    return np.divide(np.where(x == np.expand_dims(out, axis), np.expand_dims(g, axis), 0.0),
                     np.expand_dims(np.sum(x == np.expand_dims(out, axis), axis) + (g == 0.0), axis)), None


# the tangent is the mean of dx over the tied extrema; of a nan slice, nan unless dx is 0 on
# all of it (as the vjp: nan to every element of the slice)
def extremum_all_jvp(x, dx, out):
    return np.divide(np.sum(np.where(x == out, dx, 0.0)), np.sum(x == out) + np.all(dx == 0.0))


def extremum_axis_jvp(x, axis, dx, daxis, out):
    # np.asarray: of a vector, out is a scalar, which np.expand_dims does not take under numba
    return np.divide(np.sum(np.where(x == np.expand_dims(np.asarray(out), axis), dx, 0.0), axis),
                     np.sum(x == np.expand_dims(np.asarray(out), axis), axis)
                     + (np.sum(dx != 0.0, axis) == 0)), None


EXTREMUM_VJPS = [extremum_all, variant(extremum_axis_of_vector, ranks=(1,)), extremum_axis]
declare("np.max", "np.amax", vjps=EXTREMUM_VJPS, jvps=[extremum_all_jvp, extremum_axis_jvp],
        result="reduction", value=True)
declare("np.min", "np.amin", vjps=EXTREMUM_VJPS, jvps=[extremum_all_jvp, extremum_axis_jvp],
        result="reduction", value=True)


def dot_vv(a, b, g):
    return g * b, g * a


def dot_mv(a, b, g):
    return np.outer(g, b), a.T @ g


def dot_vm(a, b, g):
    return b @ g, np.outer(a, g)


def dot_mm(a, b, g):
    return g @ b.T, a.T @ g


def product_jvp(a, b, da, db):
    return da @ b, a @ db


# for the ranks adjoint supports (1 and 2), np.dot, np.matmul and @ are one product
declare("np.dot", "np.matmul", "operator.matmul",
        vjps=[variant(dot_vv, ranks=(1, 1)), variant(dot_mv, ranks=(2, 1), exact_shape=True),
              variant(dot_vm, ranks=(1, 2), exact_shape=True), variant(dot_mm, ranks=(2, 2), exact_shape=True)],
        jvps=[product_jvp], result="matmul", value=True, costly=True)


def outer(a, b, g):
    return g @ b, a @ g


def outer_jvp(a, b, da, db):
    return np.outer(da, b), np.outer(a, db)


# np.vdot: the dot product of the two arrays flattened (of equal sizes), a number
def vdot_jvp(a, b, da, db):
    return np.vdot(da, b), np.vdot(a, db)


declare("np.vdot", vjps=[dot_vv], jvps=[vdot_jvp], result="scalar", value=True)


# of vectors only (numpy flattens other ranks; the result rule says to ravel them first)
declare("np.outer", vjps=[variant(outer, ranks=(1, 1))], jvps=[outer_jvp], result="outer", value=True)


def transpose(x, g):
    return np.transpose(g)


def transpose_jvp(x, dx):
    return np.transpose(dx)


declare("np.transpose", vjps=[transpose], jvps=[transpose_jvp], result="like")


def reshape(x, shape, g):
    return np.reshape(g, x.shape), None


def reshape_jvp(x, shape, dx, dshape):
    return np.reshape(dx, shape), None


declare("np.reshape", vjps=[reshape], jvps=[reshape_jvp], result="reshape")


def ravel(x, g):
    return np.reshape(g, x.shape)


def ravel_jvp(x, dx):
    return np.ravel(dx)


declare("np.ravel", vjps=[ravel], jvps=[ravel_jvp], result="vector")


def copy_(x, g):
    return g


def copy_jvp(x, dx):
    return np.copy(dx)


declare("np.copy", vjps=[copy_], jvps=[copy_jvp], result="like")
declare("np.ascontiguousarray", vjps=[copy_], jvps=[copy_jvp])
# np.asarray(x, dtype=...), which x.astype(dtype) becomes: of floats a copy, of an integer or
# boolean dtype no derivative (its result is no float: the activity analysis stops there)
declare("np.asarray", vjps=[copy_], jvps=[copy_jvp], result="astype")


def norm(x, g, out):
    return g * x / out                                # needs x != 0


def norm_jvp(x, dx, out):
    return np.sum(x * dx) / out


# along an axis (the vector norms of a matrix's rows or columns): out has one axis fewer
def norm_axis_of_vector(x, axis, g, out):
    return g * x / out, None


def norm_axis(x, axis, g, out):
    return np.expand_dims(g / out, axis) * x, None    # needs out != 0


def norm_axis_jvp(x, axis, dx, daxis, out):
    return np.sum(x * dx, axis) / out, None


declare("np.linalg.norm", vjps=[norm, variant(norm_axis_of_vector, ranks=(1,)), norm_axis],
        jvps=[norm_jvp, norm_axis_jvp], result="reduction")


# sequences of arrays or scalars: the contribution to part number k, which starts at `offset`
def stacked_part(part, k, offset, g):
    return g[k]


def concatenated_part(part, k, offset, g):
    return g[offset:offset + part.shape[0]]


declare("np.stack", parts=stacked_part, result="stack", allocates=True)
declare("np.array", parts=stacked_part, result="array", allocates=True)
declare("np.concatenate", parts=concatenated_part, result="concatenate", allocates=True)


# indexing and keyword forms (issue #17 items 6 and 10) ---------------------------------------
# normalize writes `x[:, None]` and a reduction's `keepdims=True` as np.expand_dims, and a
# convolution's `mode=` as a slice of the full one (numba has np.convolve in its full mode only)
def expand_dims(x, axis, g):
    return np.sum(g, axis), None                      # the inserted axis has length 1


def expand_dims_jvp(x, axis, dx, daxis):
    return np.expand_dims(dx, axis), None


declare("np.expand_dims", vjps=[expand_dims], jvps=[expand_dims_jvp], result="expand")


# a read-only view of x repeated to `shape` (how a sum's or mean's reverse along an axis spells
# its sensitivity, so met again by forward over reverse): the reverse sums g back to x's shape
def broadcast_to(x, shape, g):
    return g, None


def broadcast_to_jvp(x, shape, dx, dshape):
    return np.broadcast_to(dx, shape), None


declare("np.broadcast_to", vjps=[variant(broadcast_to, broadcasts=True)], jvps=[broadcast_to_jvp], result="reshape")


def convolve(a, v, g):
    return np.correlate(g, v), np.correlate(g, a)     # 'valid': one value per element of a (of v)


def convolve_jvp(a, v, da, dv):
    return np.convolve(da, v), np.convolve(a, dv)


declare("np.convolve", vjps=[convolve], jvps=[convolve_jvp], result="vector", value=True)

# integer outputs: a pair of index arrays, unpacked (`i, j = np.triu_indices(n, k=1)`)
declare("np.triu_indices", constant=True, result="index_pair", allocates=True)
declare("np.tril_indices", constant=True, result="index_pair", allocates=True)


# --- the numpy functions numeric code reaches for (issue #17). Where numba lacks a form (an
# `axis`, np.polyval, np.array of an array), lower/for_numba.py rewrites the call, in the
# primal and in these rules alike, into a runtime helper or a form numba has ------------------

# integer results: no derivative
declare("np.argsort", constant=True, result="integer like")
declare("np.argmax", constant=True, result="integer reduction")
declare("np.argmin", constant=True, result="integer reduction")
declare("np.any", constant=True, result="integer reduction")     # (truth values: no derivative either)
declare("np.all", constant=True, result="integer reduction")
declare("np.shape", constant=True, result="shape")            # a tuple of sizes


# differences along the last axis (or `axis`): the reverse is minus the difference of the
# sensitivity padded with a zero at both ends
def diff_vector(x, g):
    return np.concatenate((np.zeros(1), g)) - np.concatenate((g, np.zeros(1)))


def diff_matrix(x, g):
    return (np.concatenate((np.zeros((g.shape[0], 1)), g), axis=1)
            - np.concatenate((g, np.zeros((g.shape[0], 1))), axis=1))


def diff_axis_of_vector(x, axis, g):
    return np.concatenate((np.zeros(1), g)) - np.concatenate((g, np.zeros(1))), None


def diff_axis(x, axis, g):       # a matrix: axis 0 or -2, else 1 or -1
    return (np.concatenate((np.zeros((1, g.shape[1])), g)) - np.concatenate((g, np.zeros((1, g.shape[1]))))
            if axis % 2 == 0 else np.concatenate((np.zeros((g.shape[0], 1)), g), axis=1)
            - np.concatenate((g, np.zeros((g.shape[0], 1))), axis=1)), None


def diff_jvp(x, dx):
    return np.diff(dx)


def diff_axis_jvp(x, axis, dx, daxis):
    return np.diff(dx, axis=axis), None


declare("np.diff", vjps=[variant(diff_vector, ranks=(1,), exact_shape=True),
                         variant(diff_matrix, ranks=(2,), exact_shape=True),
                         variant(diff_axis_of_vector, ranks=(1,), exact_shape=True),
                         variant(diff_axis, ranks=(2,), exact_shape=True)],
        jvps=[diff_jvp, diff_axis_jvp], result="array like", value=True)


# running sums: without an axis numpy runs over the flattened array; the reverse runs backwards
def cumsum_flat(x, g):
    return np.reshape(np.ascontiguousarray(np.cumsum(g[::-1])[::-1]), x.shape)


def cumsum_axis_of_vector(x, axis, g):
    return np.cumsum(g[::-1])[::-1], None


def cumsum_axis(x, axis, g):     # a matrix
    return (np.cumsum(g[::-1], axis=0)[::-1] if axis % 2 == 0 else np.cumsum(g[:, ::-1], axis=1)[:, ::-1]), None


def cumsum_jvp(x, dx):
    return np.cumsum(dx)


def cumsum_axis_jvp(x, axis, dx, daxis):
    return np.cumsum(dx, axis=axis), None


declare("np.cumsum", vjps=[cumsum_flat, variant(cumsum_axis_of_vector, ranks=(1,)), variant(cumsum_axis, ranks=(2,))],
        jvps=[cumsum_jvp, cumsum_axis_jvp], result="cumulative", value=True)


# running products (over the flattened array): out[k] = prod(x[:k + 1]), so the reverse is the
# backward running sum of g * out, divided by x (needs x != 0, as np.prod's)
def cumprod(x, g, out):
    return np.reshape(np.ascontiguousarray(np.cumsum((g * out)[::-1])[::-1]), x.shape) / x


def cumprod_jvp(x, dx, out):
    return out * np.cumsum(dx / x)


declare("np.cumprod", vjps=[cumprod], jvps=[cumprod_jvp], result="cumulative", value=True)


# a rotation: the reverse rotates back
def roll(x, shift, g):
    return np.roll(g, -shift), None


def roll_axis(x, shift, axis, g):
    return np.roll(g, -shift, axis), None, None


def roll_jvp(x, shift, dx, dshift):
    return np.roll(dx, shift), None


def roll_axis_jvp(x, shift, axis, dx, dshift, daxis):
    return np.roll(dx, shift, axis), None, None


declare("np.roll", vjps=[roll, roll_axis], jvps=[roll_jvp, roll_axis_jvp], result="array like", value=True)


# reversal of every axis: its own reverse
def flip(x, g):
    return np.flip(g)


def flip_jvp(x, dx):
    return np.flip(dx)


declare("np.flip", vjps=[flip], jvps=[flip_jvp], result="array like")


# a sort permutes: the reverse puts each sensitivity back where its element came from (the
# inverse permutation, argsort of the argsort; tied elements are equal, so either order holds)
def sort(x, g):
    return g[np.argsort(np.argsort(x))]


def sort_jvp(x, dx):
    return dx[np.argsort(x)]


declare("np.sort", vjps=[variant(sort, ranks=(1,), exact_shape=True)], jvps=[sort_jvp], result="array like", value=True)


def trace(x, g):
    return g * np.eye(x.shape[0], x.shape[1])


def trace_jvp(x, dx):
    return np.trace(dx)


declare("np.trace", vjps=[variant(trace, exact_shape=True)], jvps=[trace_jvp], result="scalar", value=True)


# np.diag of a vector makes a matrix, of a matrix takes its diagonal (a rectangular one's too:
# the eye factors put g on the diagonal of a matrix of x's shape)
def diag_of_vector(x, g):
    return np.diag(g)


def diag_of_vector_offset(x, k, g):
    return np.diag(g, k), None


def diag_of_matrix(x, g):
    return np.eye(x.shape[0], g.shape[0]) @ np.diag(g) @ np.eye(g.shape[0], x.shape[1])


def diag_of_matrix_offset(x, k, g):
    return np.eye(x.shape[0], g.shape[0] + abs(k)) @ np.diag(g, k) @ np.eye(g.shape[0] + abs(k), x.shape[1]), None


def diag_jvp(x, dx):
    return np.diag(dx)


def diag_offset_jvp(x, k, dx, dk):
    return np.diag(dx, k), None


declare("np.diag", vjps=[variant(diag_of_vector, ranks=(1,), exact_shape=True),
                         variant(diag_of_vector_offset, ranks=(1,), exact_shape=True),
                         variant(diag_of_matrix, ranks=(2,), exact_shape=True),
                         variant(diag_of_matrix_offset, ranks=(2,), exact_shape=True)],
        jvps=[diag_jvp, diag_offset_jvp], result="diag", value=True)


# two axes exchanged (runtime._diff_axis and _roll_axis use it): exchanged back
def swapaxes(x, axis1, axis2, g):
    return np.swapaxes(g, axis1, axis2), None, None


def swapaxes_jvp(x, axis1, axis2, dx, daxis1, daxis2):
    return np.swapaxes(dx, axis1, axis2), None, None


declare("np.swapaxes", vjps=[swapaxes], jvps=[swapaxes_jvp], result="array like")


# triangles of a matrix (np.tril of a vector makes one: not differentiated): the reverse keeps
# the same triangle of g
def tril(x, g):
    return np.tril(g)


def tril_offset(x, k, g):
    return np.tril(g, k), None


def tril_jvp(x, dx):
    return np.tril(dx)


def tril_offset_jvp(x, k, dx, dk):
    return np.tril(dx, k), None


def triu(x, g):
    return np.triu(g)


def triu_offset(x, k, g):
    return np.triu(g, k), None


def triu_jvp(x, dx):
    return np.triu(dx)


def triu_offset_jvp(x, k, dx, dk):
    return np.triu(dx, k), None


declare("np.tril", vjps=[variant(tril, ranks=(2,), exact_shape=True), variant(tril_offset, ranks=(2,), exact_shape=True)],
        jvps=[tril_jvp, tril_offset_jvp], result="array like", value=True)
declare("np.triu", vjps=[variant(triu, ranks=(2,), exact_shape=True), variant(triu_offset, ranks=(2,), exact_shape=True)],
        jvps=[triu_jvp, triu_offset_jvp], result="array like", value=True)


# np.atleast_1d/2d/3d add axes of length 1: the reverse takes them away again
def atleast_of_number(x, g):
    return np.sum(g)


def atleast(x, g):
    return np.reshape(g, x.shape)


def atleast_1d_jvp(x, dx):
    return np.atleast_1d(dx)


def atleast_2d_jvp(x, dx):
    return np.atleast_2d(dx)


def atleast_3d_jvp(x, dx):
    return np.atleast_3d(dx)


ATLEAST_VJPS = [variant(atleast_of_number, ranks=(0,)), atleast]
declare("np.atleast_1d", vjps=ATLEAST_VJPS, jvps=[atleast_1d_jvp], result="atleast 1")
declare("np.atleast_2d", vjps=ATLEAST_VJPS, jvps=[atleast_2d_jvp], result="atleast 2")
declare("np.atleast_3d", vjps=ATLEAST_VJPS, jvps=[atleast_3d_jvp], result="atleast 3")


# the variance: 2 (x - mean) / n times g; the standard deviation divides by 2 out more
def var_all(x, g):
    return 2.0 * g * (x - np.mean(x)) / x.size


def var_axis_of_vector(x, axis, g):
    return 2.0 * g * (x - np.mean(x)) / x.size, None


def var_axis(x, axis, g):
    return 2.0 * np.expand_dims(g, axis) * (x - np.expand_dims(np.mean(x, axis), axis)) / x.shape[axis], None


def var_all_jvp(x, dx):
    return 2.0 * np.sum((x - np.mean(x)) * dx) / x.size


def var_axis_jvp(x, axis, dx, daxis):
    return 2.0 * np.sum((x - np.expand_dims(np.asarray(np.mean(x, axis)), axis)) * dx, axis) / x.shape[axis], None


declare("np.var", vjps=[var_all, variant(var_axis_of_vector, ranks=(1,)), var_axis],
        jvps=[var_all_jvp, var_axis_jvp], result="reduction", value=True)


def std_all(x, g, out):
    return g * (x - np.mean(x)) / (x.size * out)                      # needs out != 0


def std_axis_of_vector(x, axis, g, out):
    return g * (x - np.mean(x)) / (x.size * out), None


def std_axis(x, axis, g, out):
    return np.expand_dims(g / out, axis) * (x - np.expand_dims(np.mean(x, axis), axis)) / x.shape[axis], None


def std_all_jvp(x, dx, out):
    return np.sum((x - np.mean(x)) * dx) / (x.size * out)


def std_axis_jvp(x, axis, dx, daxis, out):
    return np.sum((x - np.expand_dims(np.asarray(np.mean(x, axis)), axis)) * dx, axis) / (x.shape[axis] * out), None


declare("np.std", vjps=[std_all, variant(std_axis_of_vector, ranks=(1,)), std_axis],
        jvps=[std_all_jvp, std_axis_jvp], result="reduction", value=True)


# the range, max - min: the extremum rules' difference (ties share g equally, as there)
def ptp(x, g):
    return (np.divide(np.where(x == np.max(x), g, 0.0), np.sum(x == np.max(x)))
            - np.divide(np.where(x == np.min(x), g, 0.0), np.sum(x == np.min(x))))


def ptp_jvp(x, dx):
    return (np.divide(np.sum(np.where(x == np.max(x), dx, 0.0)), np.sum(x == np.max(x)))
            - np.divide(np.sum(np.where(x == np.min(x), dx, 0.0)), np.sum(x == np.min(x))))


declare("np.ptp", vjps=[variant(ptp, exact_shape=True)], jvps=[ptp_jvp], result="reduction", value=True)


# the median of all elements: the middle one of the sorted values, or the mean of the middle
# two; each element's rank is argsort of the argsort (a tie at the middle: one of the tied
# elements, by the sort's order). With a nan element the median is nan, and so is every
# partial (k / k with k = 0), unless g is 0 (the value does not reach the result; k = 1).
def median(x, g):
    return np.reshape(g * (np.where(np.argsort(np.argsort(np.ravel(x))) == (x.size - 1) // 2, 0.5, 0.0)
                           + np.where(np.argsort(np.argsort(np.ravel(x))) == x.size // 2, 0.5, 0.0))
                      * np.divide(1.0 - np.any(np.isnan(x)) + (g == 0.0), 1.0 - np.any(np.isnan(x)) + (g == 0.0)),
                      x.shape)


def median_jvp(x, dx):
    return (0.5 * (np.ravel(dx)[np.argsort(np.ravel(x))[(x.size - 1) // 2]]
                   + np.ravel(dx)[np.argsort(np.ravel(x))[x.size // 2]])
            * np.divide(1.0 - np.any(np.isnan(x)) + np.all(dx == 0.0), 1.0 - np.any(np.isnan(x)) + np.all(dx == 0.0)))


declare("np.median", vjps=[variant(median, exact_shape=True)], jvps=[median_jvp], result="reduction", value=True)


# sums and means that skip nan elements (they get no sensitivity)
def nansum(x, g):
    return np.where(np.isnan(x), 0.0, g)


def nansum_jvp(x, dx):
    return np.sum(np.where(np.isnan(x), 0.0, dx))


def nanmean(x, g):
    return np.where(np.isnan(x), 0.0, g / np.sum(np.logical_not(np.isnan(x))))


def nanmean_jvp(x, dx):
    return np.sum(np.where(np.isnan(x), 0.0, dx)) / np.sum(np.logical_not(np.isnan(x)))


declare("np.nansum", vjps=[variant(nansum, exact_shape=True)], jvps=[nansum_jvp], result="reduction", value=True)
declare("np.nanmean", vjps=[variant(nanmean, exact_shape=True)], jvps=[nanmean_jvp], result="reduction", value=True)


# each element `repeats` times in a row, flattened: the reverse sums each run back
def repeat(x, repeats, g):
    return np.reshape(np.sum(np.reshape(g, (x.size, repeats)), axis=1), x.shape), None


def repeat_of_number(x, repeats, g):
    return np.sum(g), None


def repeat_jvp(x, repeats, dx, drepeats):
    return np.repeat(dx, repeats), None


declare("np.repeat", vjps=[variant(repeat_of_number, ranks=(0, 0)), variant(repeat, ranks=(1, 0), exact_shape=True),
                           variant(repeat, ranks=(2, 0), exact_shape=True)],
        jvps=[repeat_jvp], result="vector", value=True)


# np.polyval(p, x) = p[0] x^(n-1) + ... + p[n-1]: d/dp[k] is x^(n-1-k), d/dx the derivative
# polynomial's value
def polyval_at_vector(p, x, g):
    return (g @ np.power(np.expand_dims(x, 1), np.arange(p.shape[0] - 1.0, -1.0, -1.0)),
            g * np.polyval(p[:-1] * np.arange(p.shape[0] - 1.0, 0.0, -1.0), x))


def polyval_at_number(p, x, g):
    return (g * np.power(x, np.arange(p.shape[0] - 1.0, -1.0, -1.0)),
            g * np.polyval(p[:-1] * np.arange(p.shape[0] - 1.0, 0.0, -1.0), x))


def polyval_jvp(p, x, dp, dx):
    return np.polyval(dp, x), np.polyval(p[:-1] * np.arange(p.shape[0] - 1.0, 0.0, -1.0), x) * dx


declare("np.polyval", vjps=[variant(polyval_at_vector, ranks=(1, 1)), variant(polyval_at_number, ranks=(1, 0))],
        jvps=[polyval_jvp], result="polyval", value=True)


# np.interp(xq, xp, fp), piecewise linear: each query is 1 - t of one knot and t of the next.
# The fractional knot index of a query, i + t, is np.interp(xq, xp, [0, 1, ..., n - 1]), so a
# knot's weight is the hat max(0, 1 - |index - knot|); a query's slope is that of its segment
# (searchsorted finds it; 0 outside [xp[0], xp[-1]], where the value is an end's). Moving a
# knot's abscissa by h moves the queries it weighs by -slope * weight * h.
def interp_vector(xq, xp, fp, g):
    return (g * (np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]),
            -(g * (np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
              * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]))
            @ np.maximum(0.0, 1.0 - np.abs(np.expand_dims(np.interp(xq, xp, np.arange(xp.shape[0] * 1.0)), 1)
                                           - np.arange(xp.shape[0] * 1.0))),
            g @ np.maximum(0.0, 1.0 - np.abs(np.expand_dims(np.interp(xq, xp, np.arange(xp.shape[0] * 1.0)), 1)
                                             - np.arange(xp.shape[0] * 1.0))))


def interp_number(xq, xp, fp, g):
    return (g * (np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]),
            -g * (np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1])
            * np.maximum(0.0, 1.0 - np.abs(np.interp(xq, xp, np.arange(xp.shape[0] * 1.0)) - np.arange(xp.shape[0] * 1.0))),
            g * np.maximum(0.0, 1.0 - np.abs(np.interp(xq, xp, np.arange(xp.shape[0] * 1.0)) - np.arange(xp.shape[0] * 1.0))))


def interp_jvp(xq, xp, fp, dxq, dxp, dfp):
    return ((np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]) * dxq,
            -(np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]) * np.interp(xq, xp, dxp),
            np.interp(xq, xp, dfp))


declare("np.interp", vjps=[variant(interp_vector, ranks=(1, 1, 1)), variant(interp_number, ranks=(0, 1, 1))],
        jvps=[interp_jvp], result="interp", value=True)


# the trapezoid rule: sum of (x[k + 1] - x[k]) (y[k] + y[k + 1]) / 2, of vectors
def trapezoid(y, x, g):
    return (0.5 * g * (np.concatenate((np.diff(x), np.zeros(1))) + np.concatenate((np.zeros(1), np.diff(x)))),
            0.5 * g * (np.concatenate((np.zeros(1), y[:-1] + y[1:])) - np.concatenate((y[:-1] + y[1:], np.zeros(1)))))


def trapezoid_unit(y, g):                             # x = 0, 1, 2, ...
    return g * np.concatenate((np.full(1, 0.5), np.ones(y.shape[0] - 2), np.full(1, 0.5)))


def trapezoid_jvp(y, x, dy, dx):
    return np.trapezoid(dy, x), 0.5 * np.sum(np.diff(dx) * (y[:-1] + y[1:]))


def trapezoid_unit_jvp(y, dy):
    return np.trapezoid(dy)


if hasattr(np, "trapezoid"):                          # numpy 2 (1.x spells it np.trapz)
    declare("np.trapezoid", vjps=[variant(trapezoid, ranks=(1, 1), exact_shape=True),
                                  variant(trapezoid_unit, ranks=(1,), exact_shape=True)],
            jvps=[trapezoid_unit_jvp, trapezoid_jvp], result="trapezoid", value=True)


# --- scipy: the special functions and normal distribution numeric code calls. adjoint does not
# import scipy itself (half a second); the records are filed once the user's code has
# (table.when_imported). numba cannot call scipy: lower/for_numba.py spells them with math.erf,
# math.erfc, math.lgamma, math.gamma (element by element of arrays: runtime._each_erf, ...) ----

def norm_cdf(x):                      # the standard normal density, 1 / sqrt(2 pi) = 0.3989...
    return 0.3989422804014327 * math.exp(-0.5 * x * x)


def norm_pdf(x, out):
    return -x * out


def norm_logpdf(x):
    return -x


# the logistic function and its inverse
def expit(x, out):
    return out * (1.0 - out)


def logit(x):
    return np.divide(1.0, x * (1.0 - x)) if abs(x - 0.5) <= 0.5 else math.nan


# log(sum(exp(x))) (along `axis`): g shared by the softmax weights exp(x - out)
def logsumexp(x, g, out):
    return g * np.exp(x - out)


def logsumexp_axis_of_vector(x, axis, g, out):
    return g * np.exp(x - out), None


def logsumexp_axis(x, axis, g, out):
    return np.expand_dims(g, axis) * np.exp(x - np.expand_dims(out, axis)), None


def logsumexp_jvp(x, dx, out):
    return np.sum(np.exp(x - out) * dx)


def logsumexp_axis_jvp(x, axis, dx, daxis, out):
    return np.sum(np.exp(x - np.expand_dims(np.asarray(out), axis)) * dx, axis), None


def _scipy_special_records():
    primitive("scipy.special.expit")(expit)
    primitive("scipy.special.logit", domain=[(0.1, 0.9)])(logit)
    declare("scipy.special.logsumexp", vjps=[logsumexp, variant(logsumexp_axis_of_vector, ranks=(1,)), logsumexp_axis],
            jvps=[logsumexp_jvp, logsumexp_axis_jvp], result="reduction", value=True)
    primitive("scipy.special.erf")(erf)
    primitive("scipy.special.erfc")(erfc)
    primitive("scipy.special.gammaln", domain=[(0.3, 4.0)])(lgamma)
    primitive("scipy.special.gamma", domain=[(0.3, 4.0)])(gamma)


def _scipy_stats_records():
    primitive("scipy.stats.norm.cdf")(norm_cdf)
    primitive("scipy.stats.norm.pdf")(norm_pdf)
    primitive("scipy.stats.norm.logpdf")(norm_logpdf)


table.when_imported("scipy.special", _scipy_special_records)
table.when_imported("scipy.stats", _scipy_stats_records)


# the linear-algebra records (np.cross, np.kron, np.einsum, np.linalg.*): a module of their own
from . import linalg  # noqa: E402,F401
