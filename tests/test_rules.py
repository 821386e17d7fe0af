"""The derivative table, rule by rule.

For every primitive registered in adjoint.primitives.rules.RULES (the built-in table plus the user rule
the corpus registers):
  (a) the rule's `partials` function against central differences of the primitive itself,
      at 5 seeded points inside the rule's domain;
  (b) a tiny function calling the primitive, spelled as users write it (`math.sin(x)`,
      `np.arctan2(x, y)`, `abs(x)`, infix `x ** y` for operator.pow), written into a module
      file and differentiated on both targets, against central differences and autograd.
The tiny function multiplies the primitive by an extra argument `w`, so that every partial
is applied to a sensitivity other than 1.0 (the seed), as it is inside larger functions.
"""

from __future__ import annotations

import builtins
import inspect
import math
import operator
import sys

import autograd
import autograd.numpy as anp
import gast
import numpy as np
import pytest

import adjoint
from adjoint.primitives.registry import shared_expression
from adjoint.primitives.rules import NON_DIFFERENTIABLE, RULES
from tests import corpus  # noqa: F401  (registers the user rule `softplus`: it is tested too)
from tests.conftest import assert_gradient, compiled, fd_tolerance, finite_difference, import_source, make_rng

POINTS = 5
# deduplicated by identity; the table and the corpus's rule, not rules that other test modules
# register for their own cases (collected before this module, with names no wrapper can import)
PRIMITIVES = list({id(p): p for p in RULES if not (getattr(p, "__module__", "") or "").startswith("tests.")
                   or p.__module__ == "tests.corpus"}.values())

INFIX = {operator.add: "{0} + {1}", operator.sub: "{0} - {1}", operator.mul: "{0} * {1}",
         operator.truediv: "{0} / {1}", operator.pow: "{0} ** {1}", operator.mod: "{0} % {1}",
         operator.neg: "-{0}", operator.pos: "+{0}"}

# primitives whose result is rounded to float32: differences need a wider step
LOW_PRECISION = {np.float32: dict(h=1e-2, rtol=1e-4)}

# autograd equivalents: math.* names that numpy spells differently, and identities autograd lacks
AUTOGRAD_NAMES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
                  "pow": "power"}
NO_AUTOGRAD = {float, np.float64, np.float32, np.cbrt}      # np.cbrt: autograd has no vjp for it


def spelling(primitive):
    """(import line, call template) of a primitive, as a user would write the call."""
    if primitive in INFIX:
        return "", INFIX[primitive]
    name = primitive.__name__
    arity = len(RULES[primitive].params)
    args = ", ".join("{%d}" % k for k in range(arity))
    if getattr(builtins, name, None) is primitive:
        return "", f"{name}({args})"
    if getattr(math, name, None) is primitive:
        return "", f"math.{name}({args})"
    if getattr(np, name, None) is primitive:
        return "", f"np.{name}({args})"
    special = sys.modules.get("scipy.special")         # records filed once scipy is imported
    if special is not None and getattr(special, name, None) is primitive:
        return "import scipy.special", f"scipy.special.{name}({args})"
    stats = sys.modules.get("scipy.stats")
    if stats is not None and getattr(getattr(stats, "norm", None), name, None) == primitive:
        return "from scipy.stats import norm", f"norm.{name}({args})"
    return f"from {primitive.__module__} import {name}", f"{name}({args})"


def primitive_id(primitive):
    _, template = spelling(primitive)
    if primitive in INFIX:
        return f"operator.{primitive.__name__}"
    return template.split("(")[0]


def autograd_equivalent(primitive):
    if primitive in NO_AUTOGRAD:
        return None
    if primitive is operator.pos:
        return lambda x: x                              # autograd's boxes have no unary +
    if primitive in INFIX or primitive in (abs, min, max, pow):
        return primitive                                # autograd boxes overload these
    module = getattr(primitive, "__module__", None) or ""
    name = primitive.__name__
    if primitive is getattr(math, name, None) or module.startswith("numpy") or primitive is getattr(np, name, None):
        return getattr(anp, AUTOGRAD_NAMES.get(name, name), None)
    return None


def draw(rng, domain):
    return [float(rng.uniform(lo, hi)) for lo, hi in domain]


primitives = pytest.mark.parametrize("primitive", PRIMITIVES, ids=[primitive_id(p) for p in PRIMITIVES])


# --- the table itself -----------------------------------------------------------------------

def test_table_is_consistent():
    assert len({id(p) for p in RULES}) == len(RULES)      # (other test modules may add rules)
    for primitive, rule in RULES.items():
        assert rule.primitive is primitive
        assert len(rule.domain) == len(rule.params) >= 1
        assert all(lo < hi for lo, hi in rule.domain), rule
        assert primitive not in NON_DIFFERENTIABLE
        assert callable(rule.partials)


@primitives
def test_partials_against_finite_differences(primitive):
    """(a) The rule's partials are the derivatives of the primitive."""
    rule = RULES[primitive]
    low = LOW_PRECISION.get(primitive, {})
    rng = make_rng("partials", primitive_id(primitive))
    for _ in range(POINTS):
        args = draw(rng, rule.domain)
        out = primitive(*args)
        partials = rule.partials(*args, out=out) if rule.uses_out else rule.partials(*args)
        partials = partials if len(rule.params) > 1 else (partials,)
        assert len(partials) == len(rule.params)
        for k, partial in enumerate(partials):
            expected = finite_difference(primitive, args, k, h=low.get("h", 1e-6))
            np.testing.assert_allclose(float(partial), expected,
                                       **fd_tolerance(out, rtol=low.get("rtol", 1e-6)),
                                       err_msg=f"d/d{rule.params[k]} at {args}")


# --- the primitive inside a compiled function -----------------------------------------------

_MODULES: dict = {}


@pytest.fixture(scope="session")
def rule_module_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("rule_functions")


def wrapper(primitive, directory):
    """A module-level function `f(<params>, w) = primitive(<params>) * w`, in its own file."""
    if primitive not in _MODULES:
        rule = RULES[primitive]
        params = list(rule.params)
        imports, template = spelling(primitive)
        call = template.format(*params)
        source = "\n".join(["import math", "import operator", "", "import numpy as np",
                             imports, "", "",
                             f"def f({', '.join(params)}, w):",
                             f"    return ({call}) * w", ""])
        module = import_source(directory, f"adjoint_rule_{len(_MODULES)}", source)
        _MODULES[primitive] = module.f
    return _MODULES[primitive]


def wrapper_points(primitive):
    rule = RULES[primitive]
    rng = make_rng("wrapper", primitive_id(primitive))
    return [draw(rng, list(rule.domain) + [(0.5, 2.0)]) for _ in range(3)]


@primitives
def test_compiled_against_finite_differences(primitive, target, rule_module_dir):
    """(b) The primitive's partials, inlined by the compiler, on both targets."""
    f = wrapper(primitive, rule_module_dir)
    arity = len(inspect.signature(f).parameters)
    grad = compiled(f, tuple(range(arity)), target)
    low = LOW_PRECISION.get(primitive, {})
    for args in wrapper_points(primitive):
        expected = tuple(finite_difference(f, args, k, h=low.get("h", 1e-6)) for k in range(arity))
        assert_gradient(grad(*args), expected, **fd_tolerance(f(*args), rtol=low.get("rtol", 1e-6)))


WITH_AUTOGRAD = [p for p in PRIMITIVES if autograd_equivalent(p) is not None]   # the rest: no twin


@pytest.mark.parametrize("primitive", WITH_AUTOGRAD, ids=[primitive_id(p) for p in WITH_AUTOGRAD])
@pytest.mark.filterwarnings("ignore:Output seems independent of input")   # min/max: one side is 0
def test_compiled_against_autograd(primitive, target, rule_module_dir):
    equivalent = autograd_equivalent(primitive)
    f = wrapper(primitive, rule_module_dir)
    arity = len(inspect.signature(f).parameters)

    def twin(*args):
        return equivalent(*args[:-1]) * args[-1]

    grad = compiled(f, tuple(range(arity)), target)
    for args in wrapper_points(primitive):
        np.testing.assert_allclose(twin(*args), f(*args), rtol=1e-14)
        expected = tuple(autograd.grad(twin, k)(*args) for k in range(arity))
        assert_gradient(grad(*args), expected, rtol=1e-10, atol=1e-12)


def test_every_primitive_spelled_as_written():
    """The wrappers call each primitive by its canonical spelling (an unresolvable spelling
    would silently test something else)."""
    for primitive in PRIMITIVES:
        imports, template = spelling(primitive)
        if primitive in INFIX:
            continue
        namespace = {"math": math, "np": np, "operator": operator}
        if imports:
            exec(imports, namespace)
        assert eval(template.split("(")[0], namespace) == primitive     # (norm.cdf: a new bound method each time)


def test_user_rule_is_registered():
    assert corpus.softplus in RULES
    rule = RULES[corpus.softplus]
    assert rule.params == ("x",) and not rule.uses_out
    assert adjoint.grad(corpus.softplus, target="python")(0.3) == pytest.approx(1.0 / (1.0 + math.exp(-0.3)))


# --- a user rule's partials applied to arrays ----------------------------------------------
# Made elementwise, a partial's math calls are spelled with numpy: every function math and
# numpy both have, not only those the built-in rules use (math.tanh and math.cbrt were left
# as they were, and failed at call time on an array).

def logcosh(x):
    return np.log(np.cosh(x))


@adjoint.rule(logcosh)
def d_logcosh(x):
    return math.tanh(x)


def cube_root(x):
    return np.cbrt(x)


@adjoint.rule(cube_root, domain=[(0.2, 3.0)])
def d_cube_root(x):
    return 1.0 / (3.0 * math.cbrt(x) * math.cbrt(x))


def user_rules_on_arrays(x, w):
    return np.sum(logcosh(x * w)) + w * np.sum(cube_root(x))


@pytest.mark.parametrize("spelled", [("math.tanh", "np.tanh"), ("math.cbrt", "np.cbrt")],
                         ids=lambda s: s[0])
def test_user_partial_is_spelled_for_arrays(spelled):
    scalar, array = spelled
    source = adjoint.grad(user_rules_on_arrays, wrt=(0, 1), target="python").source_for(np.ones(3), 0.5)
    assert array + "(" in source and scalar + "(" not in source


def test_user_rule_with_math_partial_on_arrays(target):
    grad = compiled(user_rules_on_arrays, (0, 1), target)
    rng = make_rng("user rules on arrays")
    for _ in range(3):
        args = [rng.uniform(0.2, 2.0, size=4), float(rng.uniform(0.5, 1.5))]
        expected = tuple(finite_difference(user_rules_on_arrays, args, k) for k in range(2))
        assert_gradient(grad(*args), expected, **fd_tolerance(user_rules_on_arrays(*args)))


# --- a part of a derivative several rules share (registry.shared_expression) ----------------
# lgamma's partial is digamma, gamma's the result times digamma: written once (special.py),
# inlined into each partial that calls it, so the emitted code is as if each had written it out.

def test_lgamma_and_gamma_share_one_digamma_expression():
    from scipy import special as scipy_special

    from adjoint.primitives.rules import special
    lgamma, gamma = RULES[math.lgamma], RULES[math.gamma]
    product = gamma.expressions[0]
    assert isinstance(product, gast.BinOp) and isinstance(product.op, gast.Mult) and product.left.id == "out"
    assert gast.dump(product.right) == gast.dump(lgamma.expressions[0])
    assert "digamma" not in gast.dump(lgamma.expressions[0])           # inlined, no call left
    for x in (0.3, 1.0, 2.5, 7.0, -0.5, -2.3):                         # the expression as written
        assert special.digamma(x) == pytest.approx(scipy_special.digamma(x), rel=1e-10)


def logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


@shared_expression
def logistic_slope(x):
    return math.exp(-x) / ((1.0 + math.exp(-x)) * (1.0 + math.exp(-x)))


@adjoint.rule(logistic)
def d_logistic(x):
    return logistic_slope(x)


def test_a_user_rule_may_call_a_shared_expression():
    def f(x, w):
        return w * logistic(2.0 * x)
    grad = adjoint.grad(f, target="python")
    for x in (-1.5, 0.2, 3.0):
        assert grad(x, 0.7) == pytest.approx(finite_difference(f, [x, 0.7], 0), rel=1e-6)
    assert "logistic_slope" not in adjoint.source(f)


def test_a_shared_expression_called_with_other_arguments_is_rejected():
    def wrong(x):
        return logistic_slope(x, x)
    with pytest.raises(adjoint.AdjointError, match="calls logistic_slope with 2 arguments"):
        adjoint.rule(logistic)(wrong)
