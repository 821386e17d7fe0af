"""The machinery behind the primitive records of the rules package: rule types, registries,
lookups.

`primitive(*spellings)` declares a scalar primitive's record (table.Primitive) from the
decorated function, its partials: it reads the function's source (`inspect`), checks that its
body is one `return` whose expressions use only the parameters, `out`, math and np
(`_parse_rule`), and stores one gast expression per parameter in a Rule. `declare` does the
same for array primitives, from their vector-Jacobian products (ArrayRule; `variant` gives
one its options), Jacobian-vector products (TangentRule) and sequence parts (PartsRule); the
extra parameters `g`, `d<param>`, `part`/`k`/`offset` are the output's sensitivity, the
arguments' tangents and the sequence part. Each record's rules are indexed by function in
RULES, ARRAY_RULES, TANGENT_RULES and PARTS_RULES, which users' rules (`rule`, `vjp`, `jvp`:
adjoint.rule, adjoint.vjp_rule, adjoint.tangent_rule) join. The transformations look rules
up (`lookup`, `lookup_array`, `lookup_jvp`, `lookup_parts`) and call `instantiate`, which
returns copies of the expressions with the statement's operands substituted for the
parameters (a `shared_expression` a rule calls is inlined into it when the rule is
parsed); `vectorized` makes a scalar partial elementwise for array operands, and `times`
multiplies a partial by a sensitivity or tangent (a zero factor wins over a nan partial). Each
expression is compiled once, when its rule is registered, into a Template whose `build`
makes only the new nodes (a 2,000-line function instantiates some 15,000 partials).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import itertools
import textwrap

import gast

from ..errors import AdjointError, AdjointTypeError
from ..ir import nodes
from . import table
from .rule_helpers import RULE_HELPERS


@dataclasses.dataclass(frozen=True)
class Rule:
    primitive: object
    partials: object            # the runnable rule function
    params: tuple               # its parameters, `out` excluded
    uses_out: bool
    expressions: tuple          # one gast expression per parameter
    domain: tuple               # (low, high) per parameter, for tests and checks
    templates: tuple = dataclasses.field(init=False, repr=False, compare=False)
    vector_templates: tuple = dataclasses.field(init=False, repr=False, compare=False)
    load_plans: dict = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "templates", _templates(self.expressions))
        object.__setattr__(self, "vector_templates",
                           _templates(vectorized(e) for e in self.expressions))
        object.__setattr__(self, "load_plans", {})     # (operands, elementwise) -> _load_plan

    def instantiate(self, operands, out, elementwise=False, wanted=None):
        """The partials as gast expressions over `operands` (atoms) and `out` (a name);
        `elementwise`: made elementwise for array operands (`vectorized`); `wanted`: one flag
        per operand, None for the partials of the operands not wanted (not built)."""
        mapping = dict(zip(self.params, operands))
        if self.uses_out:
            mapping["out"] = _load(out)
        # vectorizing only renames the rule's own calls, so atoms may be substituted after it
        atoms = elementwise and all(isinstance(o, (gast.Name, gast.Constant)) for o in mapping.values())
        templates = self.vector_templates if atoms else self.templates
        partials = [t.build(mapping) if t is not None and w else None        # (_each's, inlined)
                    for t, w in zip(templates, _TRUE if wanted is None else wanted)]
        if elementwise and not atoms:
            partials = [None if p is None else vectorized(p) for p in partials]
        return partials

    def loads(self, operands, out, elementwise=False, wanted=None):
        """nodes.loads_in of each partial instantiate() builds (None where it builds none),
        read off the templates without building the partials where they can tell."""
        mapping = dict(zip(self.params, operands))
        if self.uses_out:
            mapping["out"] = _load(out)
        if elementwise and not all(isinstance(o, (gast.Name, gast.Constant)) for o in mapping.values()):
            return [None if p is None else nodes.loads_in(p)
                    for p in self.instantiate(operands, out, elementwise, wanted)]
        templates = self.vector_templates if elementwise else self.templates
        return _each(templates, wanted, lambda t: t.loads(mapping))

    def loaded(self, operands, out, elementwise=False, wanted=None) -> set:
        """The union of loads(...): every name the wanted partials load (the analysis asks it
        of every statement), from a plan kept per number of operands: the names each template
        loads itself, and the operands it substitutes."""
        if elementwise and not all(type(o) in _ATOMS for o in operands):
            return set().union(*(p for p in self.loads(operands, out, elementwise, wanted) if p is not None))
        plan = self.load_plans.get((len(operands), elementwise))
        if plan is None:
            plan = self.load_plans[(len(operands), elementwise)] = self._load_plan(len(operands), elementwise)
        found = set()
        for (free, substituted), w in zip(plan, _TRUE if wanted is None else wanted):
            if free is None or not w:
                continue
            found |= free
            for k in substituted:
                if k is None:                            # `out`: a name
                    found.add(out)
                    continue
                operand = operands[k]
                if type(operand) is gast.Name and operand.annotation is None:
                    if type(operand.ctx) is gast.Load:
                        found.add(operand.id)
                elif type(operand) is not gast.Constant:
                    found |= nodes.loads_in(operand)
        return found

    def _load_plan(self, count, elementwise) -> list:
        """Per template (as loads() takes them): (the names it loads that no operand replaces,
        the operands it substitutes: their index, None for `out`); (None, ()) for none."""
        mapped = dict(zip(self.params, range(count)))
        if self.uses_out:
            mapped["out"] = None
        plan = []
        for template in self.vector_templates if elementwise else self.templates:
            if template is None:
                plan.append((None, ()))
                continue
            free = frozenset(name for name in template.loaded if name not in mapped)
            plan.append((free, [mapped[name] for name in template.named & mapped.keys()]))
        return plan


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
    ranks: tuple | str | None   # the argument ranks this variant applies to (None: any;
                                # ARRAYS: any where an argument is an array)
    broadcasts: bool = False    # contributions are summed back to each argument's shape
    exact_shape: bool = False   # contributions have exactly each argument's shape (fresh arrays)
    broadcast_view: bool = False  # ... or are read-only broadcast views of exactly that shape
    templates: tuple = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "templates", _templates(self.expressions))

    def matches(self, ranks) -> bool:
        if len(ranks) != len(self.params):
            return False
        if self.ranks == ARRAYS:
            return any(ranks)
        return self.ranks is None or tuple(ranks[:len(self.ranks)]) == self.ranks

    def instantiate(self, operands, out, g, wanted=None):
        """The contributions over `operands`, `out` and `g`; `wanted` as in Rule.instantiate."""
        mapping = dict(zip(self.params, operands))
        mapping["g"] = g
        if self.uses_out:
            mapping["out"] = _load(out)
        return _each(self.templates, wanted, lambda t: t.build(mapping))


@dataclasses.dataclass(frozen=True)
class PartsRule:
    """A primitive taking a sequence of arrays or scalars (np.stack((a, b)), np.array([a, b])):
    the contribution to part number `k`, which starts at `offset` and spans `size` along the
    axis the parts are joined on. The rule is written for axis 0, as `g[index]`; along axis
    a, the index gets a full slices in front (`g[:, k]` for np.stack(..., axis=1)).
    `takes_axis` True: the call's second argument is the axis; False: axis 0; or a function
    of a part's rank giving (the axis, whether the part gains it) where the rank decides
    (np.vstack of vectors stacks them, of matrices concatenates): a part that gains the axis
    is the single index `g[offset]` there, any other the rule's slice."""
    primitive: object
    vjp: object
    expression: gast.AST
    takes_axis: object = True        # its second argument is the axis (np.stack's; np.array's is a dtype)
    template: Template = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "template", Template(self.expression))

    def joined(self, rank):
        """(axis, the part gains it) for a part of this rank, where the rank decides (else
        None); an AdjointTypeError (the ranks may be guessed ones) where the primitive takes no
        part of this rank."""
        if not callable(self.takes_axis):
            return None
        found = self.takes_axis(rank)
        if found is None:
            name = getattr(self.primitive, "__name__", repr(self.primitive))
            raise AdjointTypeError(f"np.{name} of a part of rank {rank} is not supported",
                               hint="give every part rank 1 or 2 (np.atleast_1d(a) of a number)")
        return found

    def instantiate_gained(self, part, offset, g, axis=0):
        """The contribution to a part that gains the joined axis: `g[offset]` along it."""
        contribution = _GAINED.build({"part": part, "offset": offset, "g": g})
        if axis:
            contribution.slice = nodes.tuple_of([nodes.slice_() for _ in range(axis)] + [contribution.slice])
        return contribution

    @property
    def new_axis(self) -> bool:
        """Whether the parts are stacked on a new axis (the rule indexes g without `size`)."""
        return "size" not in self.template.named

    def instantiate(self, part, k, offset, size, g, axis=0):
        contribution = self.template.build({"part": part, "k": k, "offset": offset, "size": size, "g": g})
        if axis:
            contribution.slice = nodes.tuple_of([nodes.slice_() for _ in range(axis)] + [contribution.slice])
        return contribution


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
    ranks: tuple | None = None  # the argument ranks this variant applies to (None: any)
    templates: tuple = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "templates", _templates(self.expressions))

    def matches(self, ranks) -> bool:
        if len(ranks) != len(self.params):
            return False
        return self.ranks is None or tuple(ranks[:len(self.ranks)]) == self.ranks

    def instantiate(self, operands, tangents, out):
        mapping = dict(zip(self.params, operands))
        mapping.update({"d" + p: t for p, t in zip(self.params, tangents)})
        if self.uses_out:
            mapping["out"] = _load(out)
        return _each(self.templates, None, lambda t: t.build(mapping))


RULES: dict = {}
TANGENT_RULES: dict = {}          # primitive -> [TangentRule, ...] (variants by arity)
ARRAY_RULES: dict = {}            # primitive -> [ArrayRule, ...] (variants by ranks and arity)
PARTS_RULES: dict = {}
NON_DIFFERENTIABLE: set = set()   # integer-valued primitives: no sensitivity
HELPERS_CALLED: dict = {}         # primitive -> the rule_helpers its derivative rules call
SHARED: dict = {}                 # a @shared_expression function -> (its parameters, its expression)
ALLOWED_GLOBALS = {"math", "np", "abs", "min", "max", "float"} | set(RULE_HELPERS)
DEFAULT_DOMAIN = (-2.0, 2.0)
ARRAYS = "arrays"             # a variant's ranks: any, as long as an argument is an array
POSITIVE = (0.2, 3.0)
UNIT = (-0.9, 0.9)


def primitive(*spellings, domain=None, vjps=(), **fields):
    """Declare the record of a primitive whose partials the decorated function returns, one
    per argument (see the rules package); `vjps`: vector-Jacobian products (`variant`s) that
    apply instead of the partials made elementwise where their ranks match (arrays, where the
    elementwise partial costs more); `fields`: table.Primitive's result rule and flags."""
    def register(partials):
        first = table.resolve(spellings[0])
        _define(table.Primitive(spellings, partials=_build(first, partials, domain),
                                vjps=tuple(_array_rule(first, *v) if isinstance(v, tuple) else _array_rule(first, v)
                                           for v in vjps),
                                **fields))
        return partials
    return register


def declare(*spellings, vjps=(), jvps=(), parts=None, parts_axis=True, **fields) -> table.Primitive:
    """Declare the record of an array primitive: its vector-Jacobian products (functions, or
    `variant`s with options; the first whose ranks match applies), its Jacobian-vector
    products (functions, or `variant(f, ranks=...)` where they hold for some ranks only),
    its contribution to one part of a sequence argument; none of them for a primitive
    without derivative (`constant` for one whose partials are zero); `parts_axis`: whether
    its second argument is the axis the parts are joined on, or a function of a part's rank
    (PartsRule.takes_axis)."""
    first = table.resolve(spellings[0])
    return _define(table.Primitive(
        spellings, vjps=tuple(_array_rule(first, *v) if isinstance(v, tuple) else _array_rule(first, v)
                              for v in vjps),
        jvps=tuple(_tangent_rule(first, f[0], f[1]) if isinstance(f, tuple) else _tangent_rule(first, f)
                   for f in jvps),
        parts=None if parts is None else _parts_rule(first, parts, parts_axis), **fields))


def variant(function, *, ranks=None, broadcasts=False, exact_shape=False, broadcast_view=False):
    """A vector-Jacobian product with its options, for `declare` (see ArrayRule and `vjp`);
    of a Jacobian-vector product, only `ranks` counts."""
    return (function, ranks, broadcasts, exact_shape, broadcast_view)


def shared_expression(function):
    """`@shared_expression`: a part of a derivative that several rules share, written once as a
    function of one `return` (`def digamma(x): return ...`), for rules to call (lgamma's
    partial is `digamma(x)`, gamma's `out * digamma(x)`). Where a rule calls it, the
    expression is inlined, its parameters replaced by the call's arguments, so the emitted
    code is the same as if the rule had written it out and needs no helper. Returns the
    function unchanged: the rules that call it stay runnable as written."""
    params, uses_out, expressions = _parse_rule(function)
    if uses_out or len(expressions) != 1:
        raise AdjointError(f"shared expression {function.__qualname__} must return one expression of its "
                           "parameters", hint="pass `out` as an argument of its own name")
    SHARED[function] = (params, expressions[0])
    return function


def _define(record):
    """File the record and index its rules under each of its functions."""
    table.define(record)
    for function in record.functions:
        if record.partials is not None:
            RULES[function] = dataclasses.replace(record.partials, primitive=function)
        if record.vjps:
            ARRAY_RULES[function] = [dataclasses.replace(v, primitive=function) for v in record.vjps]
        if record.jvps:
            TANGENT_RULES[function] = [dataclasses.replace(v, primitive=function) for v in record.jvps]
        if record.parts is not None:
            PARTS_RULES[function] = dataclasses.replace(record.parts, primitive=function)
        if record.constant:
            NON_DIFFERENTIABLE.add(function)
    called = set().union(*(t.loaded for r in record.vjps + record.jvps for t in r.templates if t is not None)) \
        & RULE_HELPERS.keys() if record.vjps or record.jvps else ()
    for function in record.functions if called else ():
        HELPERS_CALLED[function] = frozenset(called)
    return record


def rule(*primitives, domain=None):
    """`@adjoint.rule(primitive, ...)`: the derivative of a scalar function adjoint cannot read
    (a C extension, a numba function, a function of your own you want treated as one step).

    The decorated function takes the primitive's arguments (and, optionally, `out`, its
    result) and returns the partial derivatives, one per argument (a tuple for several).
    Partials may use math, numpy (as np) and the parameters only: adjoint inlines them into
    the emitted code. `domain`: per argument, the range of values the rule tests check it on.
    Returns the decorated function unchanged. Rules are keyed by the primitive object itself,
    not its name. For a function of arrays, use `adjoint.vjp_rule`.

        def softplus(x):
            return math.log1p(math.exp(x))

        @adjoint.rule(softplus)
        def softplus_partials(x):
            return 1.0 / (1.0 + math.exp(-x))
    """
    if not primitives:
        raise AdjointError("adjoint.rule needs at least one primitive function")

    def register(partials):
        built = _build(primitives[0], partials, domain)
        for primitive in primitives:
            RULES[primitive] = dataclasses.replace(built, primitive=primitive)
        return partials
    return register


def vjp(*primitives, ranks=None, broadcasts=False, exact_shape=False, broadcast_view=False):
    """`@adjoint.vjp_rule(primitive, ...)`: the reverse-mode rule of a function of arrays.

    The decorated function takes the primitive's arguments, then `g` (the sensitivity of its
    result, shaped like it) and optionally `out` (its result), and returns one contribution per
    argument, shaped like that argument (None for an argument that is not differentiated, such
    as an integer option). Returns the decorated function unchanged.

        def sumsq(x):
            return np.sum(x * x)

        @adjoint.vjp_rule(sumsq)
        def sumsq_vjp(x, g):
            return 2.0 * x * g

    `ranks`: the argument ranks this variant is for (several variants may be registered).
    `broadcasts`:
    the arguments broadcast against each other, so contributions are summed back to each
    argument's shape. `exact_shape`: each contribution is a new array of exactly its
    argument's shape, so the optimizer may assign it to a zero sensitivity instead of adding.
    `broadcast_view`: each contribution is `np.broadcast_to(..., arg.shape)`, a read-only view
    the optimizer may assign to a zero sensitivity that is afterwards only read elementwise
    (no pass fills the array; numba fuses the view into the expression that reads it)."""
    def register(function):
        for primitive in primitives:
            ARRAY_RULES.setdefault(primitive, []).append(
                _array_rule(primitive, function, ranks, broadcasts, exact_shape, broadcast_view))
        return function
    return register


def _array_rule(primitive, function, ranks=None, broadcasts=False, exact_shape=False,
                broadcast_view=False) -> ArrayRule:
    params, uses_out, expressions = _parse_rule(function, extra={"g"}, allow_none=True)
    params = tuple(p for p in params if p != "g")
    if len(expressions) != len(params):
        raise AdjointError(f"vjp rule {function.__qualname__} returns {len(expressions)} "
                           f"contributions for {len(params)} arguments")
    return ArrayRule(primitive, function, params, uses_out, expressions, ranks, broadcasts,
                     exact_shape, broadcast_view)


def jvp(*primitives):
    """`@adjoint.tangent_rule(primitive, ...)`: the forward-mode rule of a function of arrays,
    used by jvp, jacobian's forward mode and hessian.

    The decorated function takes the primitive's arguments, then one tangent per argument named
    `d` + the argument's name, and optionally `out`; it returns the tangent of the result as a
    sum of terms, one per argument (None for an argument with no tangent). Returns the decorated
    function unchanged.

        @adjoint.tangent_rule(sumsq)
        def sumsq_jvp(x, dx):
            return 2.0 * np.sum(x * dx)
    """
    def register(function):
        for primitive in primitives:
            TANGENT_RULES.setdefault(primitive, []).append(_tangent_rule(primitive, function))
        return function
    return register


def _tangent_rule(primitive, function, ranks=None) -> TangentRule:
    params, uses_out, _ = _parse_rule(function, allow_none=True)
    primal = tuple(p for p in params if not (p.startswith("d") and p[1:] in params))
    _, _, expressions = _parse_rule(function, extra={"d" + p for p in primal}, allow_none=True)
    if len(expressions) != len(primal):
        raise AdjointError(f"jvp rule {function.__qualname__} returns {len(expressions)} terms "
                           f"for {len(primal)} arguments")
    return TangentRule(primitive, function, primal, uses_out, expressions, ranks)


def _matching(table, primitive, ranks):
    """The first variant registered for `primitive` that takes arguments of these ranks."""
    try:
        variants = table.get(primitive, [])
    except TypeError:                     # an unhashable callee has no rule
        return None
    return next((v for v in variants if v.matches(ranks)), None)


def lookup_jvp(primitive, ranks) -> TangentRule | None:
    return _matching(TANGENT_RULES, primitive, ranks)


def _parts_rule(primitive, function, takes_axis=True) -> PartsRule:
    """The contribution to one part of a sequence argument (see PartsRule)."""
    _, _, (expression,) = _parse_rule(function, extra={"g", "part", "k", "offset", "size"})
    if not (isinstance(expression, gast.Subscript) and isinstance(expression.value, gast.Name)
            and expression.value.id == "g"):
        raise AdjointError(f"the parts rule {function.__qualname__} must return g[index]",
                           hint="index the result's sensitivity g along the joined axis")
    return PartsRule(primitive, function, expression, takes_axis)


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
    expressions = tuple(None if e is None else _inline_shared(e, function, where) for e in expressions)
    free = {n.id for e in expressions if e is not None for n in gast.walk(e) if isinstance(n, gast.Name)}
    unknown = free - set(params) - {"out"} - ALLOWED_GLOBALS
    if unknown:
        raise AdjointError(f"rule {where} uses {', '.join(sorted(unknown))}",
                           hint="partials may use only their parameters, `out`, math, np and rule_helpers.RULE_HELPERS")
    return params, uses_out, expressions


def _inline_shared(expression, function, where):
    """`expression` with each call of a shared expression (a name that, in `function`'s module,
    is a @shared_expression function) replaced by that expression over the call's arguments."""
    names = getattr(function, "__globals__", {})

    def shared(node):
        """(parameters, expression) of the shared expression `node` calls, else None."""
        if type(node) is not gast.Call or type(node.func) is not gast.Name:
            return None
        try:
            return SHARED.get(names.get(node.func.id))
        except TypeError:                 # an unhashable global is no shared expression
            return None
    if not SHARED or not any(shared(n) for n in gast.walk(expression)):
        return expression

    class Inline(gast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            found = shared(node)
            if found is None:
                return node
            params, body = found
            if len(node.args) != len(params) or node.keywords:
                raise AdjointError(f"rule {where} calls {node.func.id} with {len(node.args)} arguments, "
                                   f"not its {len(params)}", hint=f"call it as {node.func.id}({', '.join(params)})")
            return Template(body).build(dict(zip(params, node.args)))
    return Inline().visit(expression)


def _build(primitive, partials, domain) -> Rule:
    params, uses_out, expressions = _parse_rule(partials)
    if len(expressions) != len(params):
        raise AdjointError(f"rule {partials.__qualname__} returns {len(expressions)} partials for "
                           f"{len(params)} arguments", hint="return one partial per argument")
    return Rule(primitive=primitive, partials=partials, params=params, uses_out=uses_out,
                expressions=expressions, domain=tuple(domain or [DEFAULT_DOMAIN] * len(params)))


def subnodes(node):
    """`node` and every node under it, in no particular order, except expression contexts and
    operators (which hold no names): cheaper than a full walk, for searches."""
    todo = [node]
    pop, push = todo.pop, todo.append
    while todo:
        node = pop()
        yield node
        kind = type(node)
        fields = _SEARCHED_FIELDS.get(kind)
        if fields is None:
            fields = _SEARCHED_FIELDS[kind] = tuple(f for f in kind._fields if f not in ("ctx", "op", "ops"))
        nodes.push_children(node, fields, push)


# node type -> its fields that may hold nodes; the commonest leaves' other fields hold strings
_SEARCHED_FIELDS: dict = {gast.Name: ("annotation",), gast.Constant: (), gast.Attribute: ("value",)}


def vectorized(expression):
    """A partial written for scalars, made elementwise: math.f -> np.f (and the other
    spellings table.spelling_for_arrays knows), `a if c else b` -> np.where(c, a, b),
    and/or -> np.logical_and/or."""
    class Vectorize(gast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            spelling = table.spelling_for_arrays(nodes.dotted(node.func))
            if spelling is not None:
                node.func = nodes.attribute(spelling)
            return node

        def visit_IfExp(self, node):
            self.generic_visit(node)
            call = nodes.call("np.where", [node.test, node.body, node.orelse])
            return gast.copy_location(call, node)

        def visit_BoolOp(self, node):
            self.generic_visit(node)
            name = "np.logical_and" if isinstance(node.op, gast.And) else "np.logical_or"
            result = node.values[0]
            for value in node.values[1:]:
                result = nodes.call(name, [result, value])
            return result
    return Vectorize().visit(nodes.clone(expression))


def times(partial, factor, elementwise):
    """`partial * factor` (a partial times a sensitivity or a tangent) as gast, where a zero
    factor wins over the nan a partial names (`... else math.nan`, outside a domain): a value
    that never reaches the result (the lane np.where drops, an input a forward-mode column
    does not move) adds 0, not nan. `elementwise`: the factor is an array; there the guard
    joins the partial's own condition (`np.where(c or factor == 0, a, nan)`, which numba
    fuses as a product: lower.for_numba.lower_for_numba), since a select after the product would
    cost a pass numba does not fuse. An inf partial on a domain's edge (sqrt at 0) times a
    zero array element stays nan, as in JAX."""
    if type(partial) in (gast.Constant, gast.Name) or not _mentions_nan(partial):
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


def _mentions_nan(node) -> bool:
    """any(_is_nan(n) for n in subnodes(node)), without a generator (asked of every partial)."""
    todo = [node]
    pop, push, searched = todo.pop, todo.append, _SEARCHED_FIELDS
    attribute, name, node_type = gast.Attribute, gast.Name, gast.AST
    while todo:
        node = pop()
        kind = type(node)
        if kind is attribute:
            if _is_nan(node):
                return True
        elif kind is name and node.annotation is None:
            continue
        fields = searched.get(kind)
        if fields is None:
            fields = searched[kind] = tuple(f for f in kind._fields if f not in ("ctx", "op", "ops"))
        for field in fields:
            value = getattr(node, field, None)
            if isinstance(value, node_type):
                push(value)
            elif type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        push(item)
    return False


def _load(identifier):
    return nodes.name(identifier)


# templates: a rule's expression compiled once, instantiated per statement --------------------

class Template:
    """`build(mapping)` returns a fresh copy of `expression` in which each Name that `mapping`
    holds is replaced by a copy of the mapped node placed at the Name's position (as
    gast.copy_location places it), every other node copied as nodes.clone copies it. The walk
    over the expression is done once, here, not per instantiation."""

    def __init__(self, expression):
        self.expression = expression
        names = [n for n in gast.walk(expression) if isinstance(n, gast.Name)]
        self.named = frozenset(n.id for n in names)
        self.loaded = frozenset(n.id for n in names if isinstance(n.ctx, gast.Load))

    @functools.cached_property
    def build(self):
        """build(mapping), made on first use: a process instantiates few of the rules' hundreds
        of templates (making them all took a third of assembling the table at import)."""
        return _builder(self.expression)

    def loads(self, mapping) -> set:
        """nodes.loads_in(self.build(mapping)), without building it."""
        found = {name for name in self.loaded if name not in mapping}
        for name in self.named & mapping.keys():
            value = mapping[name]
            kind = type(value)
            if kind is gast.Name and value.annotation is None:       # (an atom: directly)
                if type(value.ctx) is gast.Load:
                    found.add(value.id)
            elif kind is not gast.Constant:
                found |= nodes.loads_in(value)
        return found


def _templates(expressions):
    return tuple(None if e is None else Template(e) for e in expressions)


_TRUE = itertools.repeat(True)          # the flags of `wanted=None`: every operand
_ATOMS = frozenset((gast.Name, gast.Constant))


def _each(templates, wanted, apply):
    """apply(template) for each template; None where there is none, or where `wanted` (one
    flag per operand, when given) says the operand needs none."""
    flags = itertools.repeat(True) if wanted is None else wanted
    return [apply(t) if t is not None and w else None for t, w in zip(templates, flags)]


_IMMUTABLE = frozenset((str, int, float, bool, type(None)))   # shared by a copy, as nodes.clone does
_POSITION = ("lineno", "col_offset", "end_lineno", "end_col_offset")


def _cloned_atom(node):
    """nodes.clone(node), a name's or a constant's done here (most operands are one): its
    attributes copied, a fresh context made."""
    kind = type(node)
    if kind is not gast.Name and kind is not gast.Constant:
        return nodes.clone(node)
    new = kind.__new__(kind)
    attributes = new.__dict__
    for key, value in node.__dict__.items():
        if type(value) in _IMMUTABLE:
            attributes[key] = value
        elif key == "ctx" and not value.__dict__:
            attributes[key] = type(value).__new__(type(value))
        else:                                     # anything else the general copy handles
            return nodes.clone(node)
    return new


def _builder(node):
    """A function of the mapping that builds the copy of `node` (see Template)."""
    if type(node) is list:
        items = [(item, None) if type(item) in _IMMUTABLE else (None, _builder(item)) for item in node]
        return lambda mapping: [value if build is None else build(mapping) for value, build in items]
    if not isinstance(node, gast.AST):
        return lambda mapping: copy.deepcopy(node)
    kind, attributes = type(node), dict(node.__dict__)        # the copy keeps the attribute order
    children = [(key, _builder(value)) for key, value in attributes.items()
                if type(value) not in _IMMUTABLE]

    def copied(mapping):
        new = kind.__new__(kind)
        fields = new.__dict__
        fields.update(attributes)
        for key, build in children:
            fields[key] = build(mapping)
        return new
    if kind is not gast.Name:
        return copied
    identifier = node.id
    position = [(attr, getattr(node, attr)) for attr in _POSITION
                if attr in node._attributes and hasattr(node, attr)]

    def substituted(mapping):
        value = mapping.get(identifier)
        if value is None:
            return copied(mapping)
        new = _cloned_atom(value)
        for attr, at in position:
            if attr in new._attributes:
                setattr(new, attr, at)
        return new
    return substituted


# the contribution to a part that gains the joined axis (PartsRule.instantiate_gained)
_GAINED = Template(gast.parse("g[offset]", mode="eval").body)
