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


RULES: dict = {}
NON_DIFFERENTIABLE = {len, range, int, round, bool, math.floor, math.ceil, math.trunc,
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


def _build(primitive, partials, domain) -> Rule:
    where = getattr(partials, "__qualname__", repr(partials))
    try:
        source = textwrap.dedent(inspect.getsource(partials))
    except (OSError, TypeError):
        raise AdjointError(f"cannot read the source of rule {where}",
                           hint="define derivative rules with `def` in a file") from None
    tree = gast.parse(source).body[0]
    returns = [n for n in tree.body if isinstance(n, gast.Return)]
    if len(tree.body) != 1 or len(returns) != 1:
        raise AdjointError(f"rule {where} must be a single `return` of the partial derivatives",
                           hint="e.g. `def sin(x): return math.cos(x)`")
    params = [a.id for a in tree.args.args]
    uses_out = "out" in params
    params = tuple(p for p in params if p != "out")
    value = returns[0].value
    expressions = tuple(value.elts) if len(params) > 1 and isinstance(value, gast.Tuple) else (value,)
    if len(expressions) != len(params):
        raise AdjointError(f"rule {where} returns {len(expressions)} partials for "
                           f"{len(params)} arguments", hint="return one partial per argument")
    free = {n.id for e in expressions for n in gast.walk(e) if isinstance(n, gast.Name)}
    unknown = free - set(params) - {"out"} - ALLOWED_GLOBALS
    if unknown:
        raise AdjointError(f"rule {where} uses {', '.join(sorted(unknown))}",
                           hint="partials may use only their parameters, `out`, math and np")
    return Rule(primitive=primitive, partials=partials, params=params, uses_out=uses_out,
                expressions=expressions, domain=tuple(domain or [DEFAULT_DOMAIN] * len(params)))


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
