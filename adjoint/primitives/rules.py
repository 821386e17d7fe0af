"""The derivative table: one short rule per primitive.

A rule is a plain, runnable function of the primitive's arguments (and, when it helps, of
`out`, the primitive's result) that returns the partial derivatives, one per argument:

    @rule(math.sin, np.sin)
    def sin(x):
        return math.cos(x)

    @rule(operator.truediv)
    def truediv(x, y, out):
        return 1.0 / y, -out / y

The reverse transform inlines each returned expression, substituting the statement's operands
for the parameters:  `t_3 = a / b`  ->  `s_a += 1.0 / b * s_3;  s_b += -t_3 / b * s_3`.
Only math, numpy (as np) and the parameters may appear in a partial, so emitted code needs
no import but math and numpy. Partials of integer-valued primitives are zero: those live in
NON_DIFFERENTIABLE, and their results carry no sensitivity.

The machinery (rule types, registries, lookups, parsing) lives in registry.py; the names
the transformations use are re-exported here, so `rules.lookup(...)` always sees the full table.
"""

from __future__ import annotations

import builtins
import copy
import math
import operator

import gast
import numpy as np

from ..ir import nodes
from .registry import (  # noqa: F401 (re-exported: the transformations import them from here)
    ALLOWED_GLOBALS,
    ARRAY_RULES,
    DEFAULT_DOMAIN,
    NON_DIFFERENTIABLE,
    PARTS_RULES,
    RULES,
    TANGENT_RULES,
    VECTOR_SPELLING,
    ArrayRule,
    PartsRule,
    Rule,
    TangentRule,
    is_differentiable,
    is_non_differentiable,
    jvp,
    lookup,
    lookup_array,
    lookup_jvp,
    lookup_parts,
    rule,
    subnodes,
    vectorized,
    vjp,
    vjp_parts,
)

# --- primitives whose partials are zero (integer-valued): their results carry no sensitivity ---

NON_DIFFERENTIABLE.update({len, range, int, round, bool, math.floor, math.ceil, math.trunc,
                          np.zeros, np.ones, np.empty, np.full, np.zeros_like, np.ones_like,
                          np.empty_like, np.full_like, np.arange, np.eye,
                          np.floor, np.ceil, np.sign, np.round, np.rint, operator.floordiv,
                          operator.not_, operator.lt, operator.le, operator.gt, operator.ge,
                          operator.eq, operator.ne, math.isnan, math.isinf, np.isnan, np.isinf,
                          np.logical_and, np.logical_or, np.logical_not})


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
    is_zero = gast.Compare(left=copy.deepcopy(factor), ops=[gast.Eq()], comparators=[nodes.const(0.0)])
    if not elementwise:
        return gast.IfExp(test=is_zero, body=nodes.const(0.0), orelse=nodes.scaled(partial, factor))
    partial = copy.deepcopy(partial)
    for node in gast.walk(partial):
        if isinstance(node, gast.Call) and nodes.dotted(node.func) == "np.where" and len(node.args) == 3 \
                and _is_nan(node.args[2]):
            node.args[0] = nodes.call("np.logical_or", [node.args[0], copy.deepcopy(is_zero)])
    return nodes.scaled(partial, factor)


def _is_nan(node):
    return isinstance(node, gast.Attribute) and nodes.dotted(node) in ("math.nan", "np.nan")

# --- arithmetic -----------------------------------------------------------------------------

@rule(operator.add)
def add(x, y):
    return 1.0, 1.0


@rule(operator.sub)
def sub(x, y):
    return 1.0, -1.0


@rule(operator.mul)
def mul(x, y):
    return y, x


@rule(operator.truediv, np.divide, domain=[DEFAULT_DOMAIN, POSITIVE])   # np.divide: in partials below
def truediv(x, y, out):
    return 1.0 / y, -out / y


@rule(operator.pow, math.pow, np.power, builtins.pow, domain=[POSITIVE, DEFAULT_DOMAIN])
def power(x, y, out):
    # d/dy: out * log(x) for x > 0; 0 ** y is flat in y (JAX's choice too); x < 0: nan
    return y * x ** (y - 1.0), (out * math.log(x) if x > 0.0 else (0.0 if x >= 0.0 else math.nan))


@rule(operator.mod, domain=[POSITIVE, (0.7, 1.3)])
def mod(x, y):
    return 1.0, -math.floor(x / y)


@rule(operator.neg, np.negative)
def neg(x):
    return -1.0


@rule(operator.pos, float, np.float64, np.float32)
def identity(x):
    return 1.0


@rule(abs, math.fabs, np.abs, np.fabs)
def absolute(x):
    # 0 at the kink: the midpoint of [-1, 1], as max(x, -x) gives it (JAX, autograd); nan stays nan
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else (0.0 if x == x else math.nan))


# A selection returns one of its operands: the partial along an operand is 1 where the result
# is that operand, split 0.5 / 0.5 where both are (a tie: the midpoint of the subdifferential,
# as JAX and autograd), 0 where the other one is, and nan where the result is nan because the
# operand is. Read off `out`, the one rule serves max and np.maximum (nan wins where it comes
# first, or always) and np.fmax (nan loses) alike.
@rule(min, max, np.minimum, np.maximum, np.fmin, np.fmax)
def selection(x, y, out):
    return ((0.5 if out == y else 1.0) if out == x else (0.0 if out == y or x == x else math.nan),
            (0.5 if out == x else 1.0) if out == y else (0.0 if out == x or y == y else math.nan))


# --- special functions ----------------------------------------------------------------------

@rule(math.sin, np.sin)
def sin(x):
    return math.cos(x)


@rule(math.cos, np.cos)
def cos(x):
    return -math.sin(x)


@rule(math.tan, np.tan, domain=[(-1.2, 1.2)])
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

@rule(math.asin, np.arcsin, domain=[UNIT])
def asin(x):
    return np.divide(1.0, math.sqrt(abs(1.0 - x * x))) if abs(x) <= 1.0 else math.nan


@rule(math.acos, np.arccos, domain=[UNIT])
def acos(x):
    return np.divide(-1.0, math.sqrt(abs(1.0 - x * x))) if abs(x) <= 1.0 else math.nan


@rule(math.atan, np.arctan)
def atan(x):
    return 1.0 / (1.0 + x * x)


@rule(math.atan2, np.arctan2, domain=[DEFAULT_DOMAIN, POSITIVE])
def atan2(y, x):
    return x / (x * x + y * y), -y / (x * x + y * y)


@rule(math.sinh, np.sinh)
def sinh(x):
    return math.cosh(x)


@rule(math.cosh, np.cosh)
def cosh(x):
    return math.sinh(x)


@rule(math.tanh, np.tanh)
def tanh(x, out):
    return 1.0 - out * out


@rule(math.exp, np.exp)
def exp(x, out):
    return out


@rule(math.expm1, np.expm1)
def expm1(x, out):
    return out + 1.0


@rule(math.log, np.log, domain=[POSITIVE])
def log(x):
    return np.divide(1.0, x) if x >= 0.0 else math.nan


@rule(math.log1p, np.log1p, domain=[(-0.5, 3.0)])
def log1p(x):
    return np.divide(1.0, 1.0 + x) if x >= -1.0 else math.nan


@rule(math.log10, np.log10, domain=[POSITIVE])
def log10(x):
    return np.divide(1.0, x * math.log(10.0)) if x >= 0.0 else math.nan


@rule(math.log2, np.log2, domain=[POSITIVE])
def log2(x):
    return np.divide(1.0, x * math.log(2.0)) if x >= 0.0 else math.nan


@rule(math.sqrt, np.sqrt, domain=[POSITIVE])
def sqrt(x, out):
    return np.fmax(np.divide(0.5, out), 0.0) if x >= 0.0 else math.nan


@rule(math.hypot, np.hypot, domain=[POSITIVE, POSITIVE])
def hypot(x, y, out):
    return x / out, y / out


# --- array primitives: vector-Jacobian products ----------------------------------------------

@vjp(np.where, broadcasts=True)
def where(condition, x, y, g):
    return None, np.where(condition, g, 0.0), np.where(condition, 0.0, g)


# np.clip(x, low, high) is np.minimum(np.maximum(x, low), high): the chain rule through the
# two selections, each weighted as `selection` does (1 to the larger operand, 0.5 each at a
# tie, nan to a nan operand), with m = np.maximum(x, low) recomputed. A nan in x or low also
# makes the other's partial nan (the product of the two weights), and a zero g or tangent
# wins over a nan weight, as in `times`.
@vjp(np.clip, broadcasts=True)
def clip(x, low, high, g):
    return (np.where(g == 0.0, 0.0, g * np.where(np.maximum(x, low) < high, 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(np.maximum(x, low) == np.maximum(x, low), 0.0, np.nan)))
            * np.where(x > low, 1.0, np.where(x == low, 0.5, np.where(x == x, 0.0, np.nan)))),
            np.where(g == 0.0, 0.0, g * np.where(np.maximum(x, low) < high, 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(np.maximum(x, low) == np.maximum(x, low), 0.0, np.nan)))
            * np.where(low > x, 1.0, np.where(x == low, 0.5, np.where(low == low, 0.0, np.nan)))),
            np.where(g == 0.0, 0.0, g * np.where(high < np.maximum(x, low), 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(high == high, 0.0, np.nan)))))


@vjp(np.sum)
def sum_all(x, g):
    return g                                          # broadcast into every element


@vjp(np.sum, broadcast_view=True)
def sum_axis(x, axis, g):
    return np.broadcast_to(np.expand_dims(g, axis), x.shape), None


@vjp(np.mean)
def mean_all(x, g):
    return g / x.size


@vjp(np.mean, broadcast_view=True)
def mean_axis(x, axis, g):
    return np.broadcast_to(np.expand_dims(g, axis) / x.shape[axis], x.shape), None


@vjp(np.prod)
def prod_all(x, g, out):
    return g * out / x                                # needs x != 0


@vjp(np.prod)
def prod_axis(x, axis, g, out):
    return np.expand_dims(g * out, axis) / x, None    # needs x != 0


# A reduction's max or min: g split equally among the tied extrema (JAX, autograd). Where the
# extremum is nan no element equals it: 0 / 0 makes every partial of that slice nan (JAX too),
# unless g is 0 there (the value does not reach the result), which counts once more so that
# the slice stays 0. np.divide: a scalar division by zero raises under numba, the ufunc not.
@vjp(np.max, np.amax, np.min, np.amin)
def extremum_all(x, g, out):
    return np.divide(np.where(x == out, g, 0.0), np.sum(x == out) + (g == 0.0))


@vjp(np.max, np.amax, np.min, np.amin, ranks=(1,))
def extremum_axis_of_vector(x, axis, g, out):
    return np.divide(np.where(x == out, g, 0.0), np.sum(x == out) + (g == 0.0)), None


@vjp(np.max, np.amax, np.min, np.amin)
def extremum_axis(x, axis, g, out):
    return np.divide(np.where(x == np.expand_dims(out, axis), np.expand_dims(g, axis), 0.0),
                     np.expand_dims(np.sum(x == np.expand_dims(out, axis), axis) + (g == 0.0), axis)), None


@vjp(np.dot, np.matmul, operator.matmul, ranks=(1, 1))
def dot_vv(a, b, g):
    return g * b, g * a


@vjp(np.dot, np.matmul, operator.matmul, ranks=(2, 1), exact_shape=True)
def dot_mv(a, b, g):
    return np.outer(g, b), a.T @ g


@vjp(np.dot, np.matmul, operator.matmul, ranks=(1, 2), exact_shape=True)
def dot_vm(a, b, g):
    return b @ g, np.outer(a, g)


@vjp(np.dot, np.matmul, operator.matmul, ranks=(2, 2), exact_shape=True)
def dot_mm(a, b, g):
    return g @ b.T, a.T @ g


@vjp(np.outer)
def outer(a, b, g):
    return g @ b, a @ g


@vjp(np.transpose)
def transpose(x, g):
    return np.transpose(g)


@vjp(np.reshape)
def reshape(x, shape, g):
    return np.reshape(g, x.shape), None


@vjp(np.ravel)
def ravel(x, g):
    return np.reshape(g, x.shape)


@vjp(np.copy, np.ascontiguousarray)
def copy_(x, g):
    return g


@vjp(np.linalg.norm)
def norm(x, g, out):
    return g * x / out                                # needs x != 0


@vjp_parts(np.stack, np.array)
def stacked_part(part, k, offset, g):
    return g[k]


@vjp_parts(np.concatenate)
def concatenated_part(part, k, offset, g):
    return g[offset:offset + part.shape[0]]


# --- array primitives: Jacobian-vector products (forward mode) -------------------------------

@jvp(np.where)
def where_jvp(condition, x, y, dcondition, dx, dy):
    return None, np.where(condition, dx, 0.0), np.where(condition, 0.0, dy)


@jvp(np.clip)
def clip_jvp(x, low, high, dx, dlow, dhigh):
    return (np.where(dx == 0.0, 0.0, dx * np.where(np.maximum(x, low) < high, 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(np.maximum(x, low) == np.maximum(x, low), 0.0, np.nan)))
            * np.where(x > low, 1.0, np.where(x == low, 0.5, np.where(x == x, 0.0, np.nan)))),
            np.where(dlow == 0.0, 0.0, dlow * np.where(np.maximum(x, low) < high, 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(np.maximum(x, low) == np.maximum(x, low), 0.0, np.nan)))
            * np.where(low > x, 1.0, np.where(x == low, 0.5, np.where(low == low, 0.0, np.nan)))),
            np.where(dhigh == 0.0, 0.0, dhigh * np.where(high < np.maximum(x, low), 1.0, np.where(
                np.maximum(x, low) == high, 0.5, np.where(high == high, 0.0, np.nan)))))


@jvp(np.sum)
def sum_all_jvp(x, dx):
    return np.sum(dx)


@jvp(np.sum)
def sum_axis_jvp(x, axis, dx, daxis):
    return np.sum(dx, axis), None


@jvp(np.mean)
def mean_all_jvp(x, dx):
    return np.sum(dx) / x.size


@jvp(np.mean)
def mean_axis_jvp(x, axis, dx, daxis):
    return np.sum(dx, axis) / x.shape[axis], None


@jvp(np.prod)
def prod_all_jvp(x, dx, out):
    return out * np.sum(dx / x)                       # needs x != 0


@jvp(np.prod)
def prod_axis_jvp(x, axis, dx, daxis, out):
    return out * np.sum(dx / x, axis), None


# the tangent is the mean of dx over the tied extrema; of a nan slice, nan unless dx is 0 on
# all of it (as the vjp: nan to every element of the slice)
@jvp(np.max, np.amax, np.min, np.amin)
def extremum_all_jvp(x, dx, out):
    return np.divide(np.sum(np.where(x == out, dx, 0.0)), np.sum(x == out) + np.all(dx == 0.0))


@jvp(np.max, np.amax, np.min, np.amin)
def extremum_axis_jvp(x, axis, dx, daxis, out):
    # np.asarray: of a vector, out is a scalar, which np.expand_dims does not take under numba
    return np.divide(np.sum(np.where(x == np.expand_dims(np.asarray(out), axis), dx, 0.0), axis),
                     np.sum(x == np.expand_dims(np.asarray(out), axis), axis)
                     + (np.sum(dx != 0.0, axis) == 0)), None


@jvp(np.dot, np.matmul, operator.matmul)
def product_jvp(a, b, da, db):
    return da @ b, a @ db


@jvp(np.outer)
def outer_jvp(a, b, da, db):
    return np.outer(da, b), np.outer(a, db)


@jvp(np.transpose)
def transpose_jvp(x, dx):
    return np.transpose(dx)


@jvp(np.reshape)
def reshape_jvp(x, shape, dx, dshape):
    return np.reshape(dx, shape), None


@jvp(np.ravel)
def ravel_jvp(x, dx):
    return np.ravel(dx)


@jvp(np.copy, np.ascontiguousarray)
def copy_jvp(x, dx):
    return np.copy(dx)


@jvp(np.linalg.norm)
def norm_jvp(x, dx, out):
    return np.sum(x * dx) / out
