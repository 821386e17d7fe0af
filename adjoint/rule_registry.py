"""The machinery behind the derivative table in rules.py: rule types, registries, lookups.

`rule(*primitives)` reads the decorated function's source (`inspect`), checks that its body is
one `return` whose expressions use only the parameters, `out`, math and np (`_parse_rule`), and
stores one gast expression per parameter in a Rule, registered under each primitive in RULES.
`vjp`, `jvp` and `vjp_parts` do the same for array primitives (ArrayRule, TangentRule,
PartsRule; the extra parameters `g`, `d<param>`, `part`/`k`/`offset` are the output's
sensitivity, the arguments' tangents and the sequence part). The transformations look rules
up (`lookup`, `lookup_array`, `lookup_jvp`, `lookup_parts`) and call `instantiate`, which
returns copies of the expressions with the statement's operands substituted for the
parameters; `vectorized` makes a scalar partial elementwise for array operands.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap

import gast

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
    broadcast_view: bool = False  # ... or are read-only broadcast views of exactly that shape

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
NON_DIFFERENTIABLE: set = set()   # integer-valued primitives: no sensitivity (filled by rules.py)
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


def vjp(*primitives, ranks=None, broadcasts=False, exact_shape=False, broadcast_view=False):
    """Register an array primitive's vector-Jacobian product (see ArrayRule). `broadcasts`:
    the arguments broadcast against each other, so contributions are summed back to each
    argument's shape. `exact_shape`: each contribution is a new array of exactly its
    argument's shape, so the optimizer may assign it to a zero sensitivity instead of adding.
    `broadcast_view`: each contribution is `np.broadcast_to(..., arg.shape)`, a read-only view
    the optimizer may assign to a zero sensitivity that is afterwards only read elementwise
    (no pass fills the array; numba fuses the view into the expression that reads it)."""
    def register(function):
        params, uses_out, expressions = _parse_rule(function, extra={"g"}, allow_none=True)
        params = tuple(p for p in params if p != "g")
        if len(expressions) != len(params):
            raise AdjointError(f"vjp rule {function.__qualname__} returns {len(expressions)} "
                               f"contributions for {len(params)} arguments")
        for primitive in primitives:
            ARRAY_RULES.setdefault(primitive, []).append(ArrayRule(
                primitive, function, params, uses_out, expressions, ranks, broadcasts, exact_shape,
                broadcast_view))
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


def _matching(table, primitive, ranks):
    """The first variant registered for `primitive` that takes arguments of these ranks."""
    try:
        variants = table.get(primitive, [])
    except TypeError:                     # an unhashable callee has no rule
        return None
    return next((v for v in variants if v.matches(ranks)), None)


def lookup_jvp(primitive, ranks) -> TangentRule | None:
    return _matching(TANGENT_RULES, primitive, ranks)


def vjp_parts(*primitives):
    """Register the contribution to one part of a sequence argument (see PartsRule)."""
    def register(function):
        _, _, (expression,) = _parse_rule(function, extra={"g", "part", "k", "offset"})
        for primitive in primitives:
            PARTS_RULES[primitive] = PartsRule(primitive, function, expression)
        return function
    return register


def lookup_array(primitive, ranks) -> ArrayRule | None:
    return _matching(ARRAY_RULES, primitive, ranks)


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
    return nodes.clone(node)
