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
"""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import math
import operator
import textwrap

import gast
import numpy as np

from . import nodes
from .errors import AdjointError


@dataclasses.dataclass(frozen=True)
class Rule:
    primitive: object
    partials: object            # the runnable rule function
    params: tuple               # its parameters, `out` excluded
    uses_out: bool
    expressions: tuple          # one gast expression per parameter
    domain: tuple               # (low, high) per parameter, for tests and checks

    def instantiate(self, operands, out):
        """The partials as gast expressions over `operands` (atoms) and `out` (a name)."""
        mapping = dict(zip(self.params, operands))
        if self.uses_out:
            mapping["out"] = gast.Name(id=out, ctx=gast.Load(), annotation=None, type_comment=None)
        return [_substitute(e, mapping) for e in self.expressions]


@dataclasses.dataclass(frozen=True)
class ArrayRule:
    """The vector-Jacobian product of an array primitive: given the output's sensitivity `g`
    (and its value `out`), the contribution to each argument's sensitivity, shaped so that
    `s_arg += contribution` broadcasts into it; None for an argument with no derivative."""
    primitive: object
    vjp: object
    params: tuple               # the primitive's arguments, positional then keyword
    uses_out: bool
    expressions: tuple          # one gast expression (or None) per parameter
    ranks: tuple | None         # the argument ranks this variant applies to (None: any)
    broadcasts: bool = False    # contributions are summed back to each argument's shape
    exact_shape: bool = False   # contributions have exactly each argument's shape (fresh arrays)

    def matches(self, ranks) -> bool:
        if len(ranks) != len(self.params):
            return False
        return self.ranks is None or tuple(ranks[:len(self.ranks)]) == self.ranks

    def instantiate(self, operands, out, g):
        mapping = dict(zip(self.params, operands))
        mapping["g"] = g
        if self.uses_out:
            mapping["out"] = gast.Name(id=out, ctx=gast.Load(), annotation=None, type_comment=None)
        return [None if e is None else _substitute(e, mapping) for e in self.expressions]


@dataclasses.dataclass(frozen=True)
class PartsRule:
    """A primitive taking a sequence of arrays or scalars (np.stack((a, b)), np.array([a, b])):
    the contribution to part number `k` (which starts at `offset` along axis 0)."""
    primitive: object
    vjp: object
    expression: gast.AST

    def instantiate(self, part, k, offset, g):
        mapping = {"part": part, "k": k, "offset": offset, "g": g}
        return _substitute(self.expression, mapping)


@dataclasses.dataclass(frozen=True)
class TangentRule:
    """The Jacobian-vector product of an array primitive, one term per argument, each linear
    in that argument's tangent `d<param>`: the tangent of the result is the sum of the terms
    of the arguments that vary (None for an argument with no derivative)."""
    primitive: object
    jvp: object
    params: tuple
    uses_out: bool
    expressions: tuple

    def matches(self, ranks) -> bool:
        return len(ranks) == len(self.params)

    def instantiate(self, operands, tangents, out):
        mapping = dict(zip(self.params, operands))
        mapping.update({"d" + p: t for p, t in zip(self.params, tangents)})
        if self.uses_out:
            mapping["out"] = gast.Name(id=out, ctx=gast.Load(), annotation=None, type_comment=None)
        return [None if e is None else _substitute(e, mapping) for e in self.expressions]


RULES: dict = {}
TANGENT_RULES: dict = {}          # primitive -> [TangentRule, ...] (variants by arity)
ARRAY_RULES: dict = {}            # primitive -> [ArrayRule, ...] (variants by ranks and arity)
PARTS_RULES: dict = {}
NON_DIFFERENTIABLE = {len, range, int, round, bool, math.floor, math.ceil, math.trunc,
                      np.zeros, np.ones, np.empty, np.full, np.zeros_like, np.ones_like,
                      np.empty_like, np.full_like, np.arange, np.eye,
                      np.floor, np.ceil, np.sign, np.round, np.rint, operator.floordiv,
                      operator.not_, operator.lt, operator.le, operator.gt, operator.ge,
                      operator.eq, operator.ne, math.isnan, math.isinf, np.isnan, np.isinf}
ALLOWED_GLOBALS = {"math", "np", "abs", "min", "max", "float"}
DEFAULT_DOMAIN = (-2.0, 2.0)


def rule(*primitives, domain=None):
    """Register `partials` as the derivative rule of each primitive (public: `adjoint.rule`)."""
    if not primitives:
        raise AdjointError("adjoint.rule needs at least one primitive function")

    def register(partials):
        built = _build(primitives[0], partials, domain)
        for primitive in primitives:
            RULES[primitive] = dataclasses.replace(built, primitive=primitive)
        return partials
    return register


def vjp(*primitives, ranks=None, broadcasts=False, exact_shape=False):
    """Register an array primitive's vector-Jacobian product (see ArrayRule). `broadcasts`:
    the arguments broadcast against each other, so contributions are summed back to each
    argument's shape. `exact_shape`: each contribution is a new array of exactly its
    argument's shape, so the optimizer may assign it to a zero sensitivity instead of adding."""
    def register(function):
        params, uses_out, expressions = _parse_rule(function, extra={"g"}, allow_none=True)
        params = tuple(p for p in params if p != "g")
        if len(expressions) != len(params):
            raise AdjointError(f"vjp rule {function.__qualname__} returns {len(expressions)} "
                               f"contributions for {len(params)} arguments")
        for primitive in primitives:
            ARRAY_RULES.setdefault(primitive, []).append(ArrayRule(
                primitive, function, params, uses_out, expressions, ranks, broadcasts, exact_shape))
        return function
    return register


def jvp(*primitives):
    """Register an array primitive's Jacobian-vector product (see TangentRule)."""
    def register(function):
        params, uses_out, _ = _parse_rule(function, allow_none=True)
        primal = tuple(p for p in params if not (p.startswith("d") and p[1:] in params))
        _, _, expressions = _parse_rule(function, extra={"d" + p for p in primal}, allow_none=True)
        if len(expressions) != len(primal):
            raise AdjointError(f"jvp rule {function.__qualname__} returns {len(expressions)} terms "
                               f"for {len(primal)} arguments")
        for primitive in primitives:
            TANGENT_RULES.setdefault(primitive, []).append(
                TangentRule(primitive, function, primal, uses_out, expressions))
        return function
    return register


def lookup_jvp(primitive, ranks) -> TangentRule | None:
    try:
        variants = TANGENT_RULES.get(primitive, [])
    except TypeError:
        return None
    return next((v for v in variants if v.matches(ranks)), None)


def vjp_parts(*primitives):
    """Register the contribution to one part of a sequence argument (see PartsRule)."""
    def register(function):
        _, _, (expression,) = _parse_rule(function, extra={"g", "part", "k", "offset"})
        for primitive in primitives:
            PARTS_RULES[primitive] = PartsRule(primitive, function, expression)
        return function
    return register


def lookup_array(primitive, ranks) -> ArrayRule | None:
    try:
        variants = ARRAY_RULES.get(primitive, [])
    except TypeError:
        return None
    return next((v for v in variants if v.matches(ranks)), None)


def lookup_parts(primitive) -> PartsRule | None:
    try:
        return PARTS_RULES.get(primitive)
    except TypeError:
        return None


def is_differentiable(primitive) -> bool:
    try:
        return primitive in RULES or primitive in ARRAY_RULES or primitive in PARTS_RULES
    except TypeError:
        return False


def lookup(primitive) -> Rule | None:
    try:
        return RULES.get(primitive)
    except TypeError:                       # unhashable callee
        return None


def is_non_differentiable(primitive) -> bool:
    try:
        return primitive in NON_DIFFERENTIABLE
    except TypeError:
        return False


def _parse_rule(function, extra=frozenset(), allow_none=False):
    """(parameters, uses `out`, returned expressions) of a one-line rule function."""
    where = getattr(function, "__qualname__", repr(function))
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        raise AdjointError(f"cannot read the source of rule {where}",
                           hint="define derivative rules with `def` in a file") from None
    tree = gast.parse(source).body[0]
    if len(tree.body) != 1 or not isinstance(tree.body[0], gast.Return):
        raise AdjointError(f"rule {where} must be a single `return` of the partial derivatives",
                           hint="e.g. `def sin(x): return math.cos(x)`")
    params = [a.id for a in tree.args.args]
    uses_out = "out" in params
    params = tuple(p for p in params if p != "out")
    value = tree.body[0].value
    primal = [p for p in params if p not in extra]
    expressions = tuple(value.elts) if len(primal) > 1 and isinstance(value, gast.Tuple) else (value,)
    if allow_none:
        expressions = tuple(None if isinstance(e, gast.Constant) and e.value is None else e
                            for e in expressions)
    free = {n.id for e in expressions if e is not None for n in gast.walk(e) if isinstance(n, gast.Name)}
    unknown = free - set(params) - {"out"} - ALLOWED_GLOBALS
    if unknown:
        raise AdjointError(f"rule {where} uses {', '.join(sorted(unknown))}",
                           hint="partials may use only their parameters, `out`, math and np")
    return params, uses_out, expressions


def _build(primitive, partials, domain) -> Rule:
    params, uses_out, expressions = _parse_rule(partials)
    if len(expressions) != len(params):
        raise AdjointError(f"rule {partials.__qualname__} returns {len(expressions)} partials for "
                           f"{len(params)} arguments", hint="return one partial per argument")
    return Rule(primitive=primitive, partials=partials, params=params, uses_out=uses_out,
                expressions=expressions, domain=tuple(domain or [DEFAULT_DOMAIN] * len(params)))


# math -> numpy, so that a scalar rule's partials apply elementwise to arrays
VECTOR_SPELLING = {"math.sin": "np.sin", "math.cos": "np.cos", "math.tan": "np.tan",
                   "math.sqrt": "np.sqrt", "math.exp": "np.exp", "math.log": "np.log",
                   "math.log1p": "np.log1p", "math.cosh": "np.cosh", "math.sinh": "np.sinh",
                   "math.floor": "np.floor", "math.fabs": "np.abs", "abs": "np.abs"}


def vectorized(expression):
    """A partial written for scalars, made elementwise: math.f -> np.f, `a if c else b` ->
    np.where(c, a, b), and/or -> np.logical_and/or."""
    class Vectorize(gast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            name = nodes.dotted(node.func)
            if name in VECTOR_SPELLING:
                node.func = nodes.attribute(VECTOR_SPELLING[name])
            return node

        def visit_IfExp(self, node):
            self.generic_visit(node)
            call = gast.Call(func=nodes.attribute("np.where"), args=[node.test, node.body, node.orelse],
                             keywords=[])
            return gast.copy_location(call, node)

        def visit_BoolOp(self, node):
            self.generic_visit(node)
            name = "np.logical_and" if isinstance(node.op, gast.And) else "np.logical_or"
            result = node.values[0]
            for value in node.values[1:]:
                result = gast.Call(func=nodes.attribute(name), args=[result, value], keywords=[])
            return result
    return Vectorize().visit(_clone(expression))


def _substitute(expression, mapping):
    class Substitute(gast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in mapping:
                return gast.copy_location(_clone(mapping[node.id]), node)
            return node
    return Substitute().visit(_clone(expression))


def _clone(node):
    import copy
    return copy.deepcopy(node)


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


@vjp(np.sum)
def sum_axis(x, axis, g):
    return np.expand_dims(g, axis), None


@vjp(np.mean)
def mean_all(x, g):
    return g / x.size


@vjp(np.mean)
def mean_axis(x, axis, g):
    return np.expand_dims(g, axis) / x.shape[axis], None


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
