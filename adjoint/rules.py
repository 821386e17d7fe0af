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

The machinery (rule types, registries, lookups, parsing) lives in rule_registry.py; the names
the transformations use are re-exported here, so `rules.lookup(...)` always sees the full table.
"""

from __future__ import annotations

import builtins
import math
import operator

import numpy as np

from .rule_registry import (  # noqa: F401 (re-exported: the transformations import them from here)
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
                          operator.eq, operator.ne, math.isnan, math.isinf, np.isnan, np.isinf})


POSITIVE = (0.2, 3.0)
UNIT = (-0.9, 0.9)

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


@rule(operator.truediv, domain=[DEFAULT_DOMAIN, POSITIVE])
def truediv(x, y, out):
    return 1.0 / y, -out / y


@rule(operator.pow, math.pow, np.power, builtins.pow, domain=[POSITIVE, DEFAULT_DOMAIN])
def power(x, y, out):
    return y * x ** (y - 1.0), out * math.log(x)     # d/dy needs x > 0


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
    return 1.0 if x >= 0.0 else -1.0                 # subgradient +1 at 0


@rule(min, np.minimum, np.fmin)
def minimum(x, y):
    return (1.0 if x <= y else 0.0), (0.0 if x <= y else 1.0)   # ties go to x


@rule(max, np.maximum, np.fmax)
def maximum(x, y):
    return (1.0 if x >= y else 0.0), (0.0 if x >= y else 1.0)   # ties go to x


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


@rule(math.asin, np.arcsin, domain=[UNIT])
def asin(x):
    return 1.0 / math.sqrt(1.0 - x * x)


@rule(math.acos, np.arccos, domain=[UNIT])
def acos(x):
    return -1.0 / math.sqrt(1.0 - x * x)


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
    return 1.0 / x


@rule(math.log1p, np.log1p, domain=[(-0.5, 3.0)])
def log1p(x):
    return 1.0 / (1.0 + x)


@rule(math.log10, np.log10, domain=[POSITIVE])
def log10(x):
    return 1.0 / (x * math.log(10.0))


@rule(math.log2, np.log2, domain=[POSITIVE])
def log2(x):
    return 1.0 / (x * math.log(2.0))


@rule(math.sqrt, np.sqrt, domain=[POSITIVE])
def sqrt(x, out):
    return 0.5 / out


@rule(math.hypot, np.hypot, domain=[POSITIVE, POSITIVE])
def hypot(x, y, out):
    return x / out, y / out


# --- array primitives: vector-Jacobian products ----------------------------------------------

@vjp(np.where, broadcasts=True)
def where(condition, x, y, g):
    return None, np.where(condition, g, 0.0), np.where(condition, 0.0, g)


@vjp(np.clip, broadcasts=True)
def clip(x, low, high, g):
    return (np.where(np.logical_and(low <= x, x <= high), g, 0.0), np.where(x < low, g, 0.0),
            np.where(x > high, g, 0.0))


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


@vjp(np.max, np.amax, np.min, np.amin)
def extremum_all(x, g, out):
    return np.where(x == out, g, 0.0)                 # every tied extremum gets g


@vjp(np.max, np.amax, np.min, np.amin)
def extremum_axis(x, axis, g, out):
    return np.where(x == np.expand_dims(out, axis), np.expand_dims(g, axis), 0.0), None


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
    return (np.where(np.logical_and(low <= x, x <= high), dx, 0.0), np.where(x < low, dlow, 0.0),
            np.where(x > high, dhigh, 0.0))


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


@jvp(np.max, np.amax, np.min, np.amin)
def extremum_all_jvp(x, dx, out):
    return np.sum(np.where(x == out, dx, 0.0))


@jvp(np.max, np.amax, np.min, np.amin)
def extremum_axis_jvp(x, axis, dx, daxis, out):
    return np.sum(np.where(x == np.expand_dims(out, axis), dx, 0.0), axis), None


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
