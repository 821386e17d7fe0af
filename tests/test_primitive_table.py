"""Every primitive record (adjoint/primitives/rules/), scalar and array, row by row.

ROWS holds one row per record, keyed by the record's first spelling; a record without a row,
or a row without a record, fails `test_every_record_has_a_row`. A row says how to exercise
the record:

  ELEMENTWISE                 a scalar primitive: its partials against central differences
                              (tests/oracles.py) at points of the rule's domain; every spelling
                              compiled on numbers, and its numpy spelling on arrays, in reverse
                              and forward mode
  Call(arg, ...)              an array primitive called with these arguments (A(shape): a
                              float array drawn from [lo, hi], named a0, a1, ... in order; a
                              string: source over them; an int: written as is): its vjp and jvp rules, run as they are
                              written, against central differences, the dot-product identity
                              <vjp(u), v> == <u, jvp(v)>, and the call compiled in both modes
  Uses("expression", arg...)  a primitive without a derivative of its own (piecewise constant,
                              sequence parts): an expression of a0, a1, ... that calls it,
                              compiled, against central differences
  Refused("expression", arg)  a primitive adjoint cannot differentiate yet: the gradient of an
                              expression calling it raises AdjointError

Compiled checks run on the python target; the cpu target (numba: marked slow by conftest)
recompiles the array rows and the scalar primitives applied to arrays.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.special
import scipy.stats

import adjoint
from adjoint import primitives
from adjoint.primitives import registry, rules, runtime, table
from tests.conftest import assert_gradient, fd_tolerance, import_source, make_rng
from tests.oracles import finite_difference


@dataclasses.dataclass(frozen=True)
class A:
    """A float argument: an array of `shape` (a number for ()) drawn from [lo, hi]."""
    shape: tuple = ()
    lo: float = -2.0
    hi: float = 2.0

    def draw(self, rng):
        if not self.shape:
            return float(rng.uniform(self.lo, self.hi))
        return rng.uniform(self.lo, self.hi, size=self.shape)


@dataclasses.dataclass(frozen=True)
class Call:
    args: tuple
    keywords: tuple = ()        # (name, value) pairs passed by keyword after the arguments

    def __init__(self, *args, **keywords):
        object.__setattr__(self, "args", args + tuple(keywords.values()))
        object.__setattr__(self, "keywords", tuple(keywords))

    def call(self, function, values):
        """function(*values), the last len(keywords) of them by keyword."""
        split = len(values) - len(self.keywords)
        return function(*values[:split], **dict(zip(self.keywords, values[split:])))


@dataclasses.dataclass(frozen=True)
class Uses:
    expression: str
    args: tuple

    def __init__(self, expression, *args):
        object.__setattr__(self, "expression", expression)
        object.__setattr__(self, "args", args)


class Refused(Uses):
    """(Uses' fields: an expression and its arguments.)"""


class Conditioned(A):
    """A square matrix drawn as A draws, plus `shift` times the identity: far from singular."""
    shift = 4.0

    def draw(self, rng):
        return super().draw(rng) + self.shift * np.eye(self.shape[0])


class PositiveDefinite(A):
    """A symmetric positive definite matrix, b @ b.T + n I of a drawn b."""

    def draw(self, rng):
        b = super().draw(rng)
        return b @ b.T + self.shape[0] * np.eye(self.shape[0])


ELEMENTWISE = "elementwise"
V, M, W = A((4,)), A((3, 4)), A((4, 3))
POSITIVE_M = A((3, 4), 0.5, 2.0)
X = A()

# scipy's records are filed once it is imported, at the first lookup of a function without one
table.record_of(scipy.stats.norm.cdf)

# one row per record -------------------------------------------------------------------------
ROWS = {
    # piecewise constant: the expression's gradient is its other terms'
    "len": Uses("len(a0) * a1", V, X),
    "range": Uses("sum_range(a0)", X),
    "int": Uses("int(a0) * a1", A((), 0.2, 5.0), X),
    "round": Uses("round(a0) * a1", X, X),
    "bool": Uses("(a1 if bool(a0 > 0.0) else -a1)", X, X),
    "math.floor": Uses("math.floor(a0) * a1 + a0", X, X),
    "math.ceil": Uses("math.ceil(a0) * a1 + a0", X, X),
    "math.trunc": Uses("math.trunc(a0) * a1 + a0", X, X),
    "np.floor": Uses("np.sum(np.floor(a0) * a0)", V),
    "np.ceil": Uses("np.sum(np.ceil(a0) * a0)", V),
    "np.sign": Uses("np.sum(np.sign(a0) * a0)", V),
    "np.round": Uses("np.sum(np.round(a0) * a0)", V),
    "np.rint": Uses("np.sum(np.rint(a0) * a0)", V),
    "math.isnan": Uses("(a0 if math.isnan(a0) else 2.0 * a0) + np.sum(np.where(np.isnan(a1), 0.0, a1))", X, V),
    "math.isinf": Uses("(a0 if math.isinf(a0) else 2.0 * a0) + np.sum(np.where(np.isinf(a1), 0.0, a1))", X, V),
    "math.isfinite": Uses("(2.0 * a0 if math.isfinite(a0) else a0) + np.sum(np.where(np.isfinite(a1), a1, 0.0))", X, V),
    "np.logical_and": Uses("np.sum(np.where(np.logical_and(a0 > 0.0, a0 < 1.0), a0, 0.0))", V),
    "np.logical_or": Uses("np.sum(np.where(np.logical_or(a0 > 1.0, a0 < 0.0), a0, 0.0))", V),
    "np.logical_not": Uses("np.sum(np.where(np.logical_not(a0 > 0.0), a0, 0.0))", V),
    "operator.floordiv": Uses("(a0 // 0.7) * a1 + a0", X, X),
    "operator.not_": Uses("(a1 if not a0 > 0.0 else -a1)", X, X),
    "operator.lt": Uses("(a0 if a0 < a1 else a1)", X, X),
    "operator.le": Uses("(a0 if a0 <= a1 else a1)", X, X),
    "operator.gt": Uses("(a0 if a0 > a1 else a1)", X, X),
    "operator.ge": Uses("(a0 if a0 >= a1 else a1)", X, X),
    "operator.eq": Uses("(a0 if a0 == a1 else 2.0 * a1)", X, X),
    "operator.ne": Uses("(a0 if a0 != a1 else 2.0 * a1)", X, X),
    "np.zeros": Uses("np.sum(np.zeros(3) + a0)", X),
    "np.ones": Uses("np.sum(np.ones(3) * a0)", X),
    "np.empty": Uses("len(np.empty(3)) * a0", X),
    "np.zeros_like": Uses("np.sum(np.zeros_like(a0) + a0 * a0)", V),
    "np.ones_like": Uses("np.sum(np.ones_like(a0) * a0)", V),
    "np.empty_like": Uses("len(np.empty_like(a0)) * np.sum(a0)", V),
    "np.arange": Uses("np.sum(np.arange(4) * a0)", V),
    "np.eye": Uses("np.sum(np.eye(4) @ a0)", V),
    "np.identity": Uses("np.sum((np.identity(4) + a0) ** 2)", V),
    "np.tri": Uses("np.sum(np.tri(4) @ a0)", V),
    # scalar primitives: one partial per argument, elementwise of arrays
    "operator.add": ELEMENTWISE,
    "operator.sub": ELEMENTWISE,
    "operator.mul": ELEMENTWISE,
    "operator.truediv": ELEMENTWISE,
    "operator.pow": ELEMENTWISE,
    "operator.mod": ELEMENTWISE,
    "operator.neg": ELEMENTWISE,
    "operator.pos": ELEMENTWISE,
    "abs": ELEMENTWISE,
    "min": ELEMENTWISE,
    "max": ELEMENTWISE,
    "np.fmin": ELEMENTWISE,
    "np.fmax": ELEMENTWISE,
    "math.sin": ELEMENTWISE,
    "math.cos": ELEMENTWISE,
    "math.tan": ELEMENTWISE,
    "math.asin": ELEMENTWISE,
    "math.acos": ELEMENTWISE,
    "math.atan": ELEMENTWISE,
    "math.atan2": ELEMENTWISE,
    "math.sinh": ELEMENTWISE,
    "math.cosh": ELEMENTWISE,
    "math.tanh": ELEMENTWISE,
    "math.exp": ELEMENTWISE,
    "math.expm1": ELEMENTWISE,
    "math.log": ELEMENTWISE,
    "math.log1p": ELEMENTWISE,
    "math.log10": ELEMENTWISE,
    "math.log2": ELEMENTWISE,
    "math.sqrt": ELEMENTWISE,
    "math.hypot": ELEMENTWISE,
    "np.square": ELEMENTWISE,
    "np.cbrt": ELEMENTWISE,
    "np.logaddexp": ELEMENTWISE,
    "math.erf": ELEMENTWISE,
    "math.erfc": ELEMENTWISE,
    "math.lgamma": ELEMENTWISE,
    "math.gamma": ELEMENTWISE,
    "scipy.special.expit": ELEMENTWISE,
    "scipy.special.logit": ELEMENTWISE,
    "scipy.special.logsumexp": [Call(V), Call(V, axis=0), Call(M, axis=0), Call(M, axis=1)],
    "scipy.special.erf": ELEMENTWISE,
    "scipy.special.erfc": ELEMENTWISE,
    "scipy.special.gammaln": ELEMENTWISE,
    "scipy.special.gamma": ELEMENTWISE,
    "scipy.stats.norm.cdf": ELEMENTWISE,
    "scipy.stats.norm.pdf": ELEMENTWISE,
    "scipy.stats.norm.logpdf": ELEMENTWISE,
    "math.asinh": ELEMENTWISE,
    "math.acosh": ELEMENTWISE,
    "math.atanh": ELEMENTWISE,
    "np.exp2": ELEMENTWISE,
    "np.logaddexp2": ELEMENTWISE,
    "np.reciprocal": ELEMENTWISE,
    "math.radians": ELEMENTWISE,
    "math.degrees": ELEMENTWISE,
    "np.sinc": ELEMENTWISE,
    # array primitives
    "np.where": Call("a0 > 0.0", V, A((3, 1))),
    "np.clip": Call(M, A((4,), -1.0, 0.0), A((), 0.2, 1.0)),
    "np.sum": [Call(V), Call(M), Call(V, 0), Call(M, 0), Call(M, 1)],
    "np.mean": [Call(V), Call(M), Call(V, -1), Call(M, 0), Call(M, 1)],
    "np.prod": [Call(A((4,), 0.5, 1.5)), Call(A((4,), 0.5, 1.5), 0), Call(A((3, 4), 0.5, 1.5), 1),
                Call(A((2, 3, 2), 0.5, 1.5), 1)],
    "np.max": [Call(V), Call(M), Call(V, 0), Call(M, 0), Call(M, 1)],
    "np.min": [Call(V), Call(M), Call(V, 0), Call(M, 0), Call(M, 1)],
    "np.dot": [Call(V, V), Call(M, V), Call(A((3,)), M), Call(M, W)],
    "np.outer": Call(A((3,)), V),
    "np.transpose": [Call(M), Call(A((2, 3, 4)), "(2, 0, 1)")],
    "np.squeeze": Call(A((3, 1)), axis=1),
    "np.tile": [Call(V, 3), Call(M, 2)],
    "np.reshape": Call(M, "(4, 3)"),
    "np.full": [Call("(3, 4)", A()), Call("(3, 4)", A(), "np.float64")],   # (numba fills with a number only)
    "np.full_like": Call(M, A()),
    "np.ravel": Call(M),
    "np.copy": Call(M),
    "np.ascontiguousarray": Call(M),
    "np.linalg.norm": [Call(V), Call(V, axis=0), Call(M, axis=0), Call(M, axis=1), Call(V, 3, None), Call(M, 1, 0),
                       Call(V, "np.inf", None, False), Call(M, "-np.inf", 1, False)],
    "np.argsort": Uses("np.sum(a0[np.argsort(a0)] * np.arange(4.0))", V),
    "np.shape": Uses("np.sum(np.zeros((2,) + np.shape(a0)) + a0 * a0) + np.sum(np.zeros(np.shape(a1)) + a1)", M, X),
    "np.argmax": Uses("a0[np.argmax(a0)] * a1 + np.sum(np.argmax(a2, axis=0) * a1)", V, X, M),
    "np.argmin": Uses("a0[np.argmin(a0)] * a1 + np.sum(np.argmin(a2, axis=1) * a1)", V, X, M),
    "np.any": Uses("(np.sum(a0 * a0) if np.any(a0 > 1.0) else np.sum(a0)) + np.sum(a1 * np.any(a1 > 0.0, axis=0))", V, M),
    "np.all": Uses("(np.sum(a0 * a0) if np.all(a0 > -1.0) else np.sum(a0)) + np.sum(a1 * np.all(a1 > 0.0, axis=0))", V, A((4, 3))),
    "np.linspace": Call(A(), A(), 5),
    "np.diff": [Call(V), Call(M), Call(V, axis=0), Call(M, axis=0), Call(M, axis=-1)],
    "np.cumsum": [Call(M), Call(V, 0), Call(M, 0), Call(M, 1)],
    "np.cumprod": [Call(A((4,), 0.5, 1.5)), Call(A((3, 4), 0.5, 1.5), 1)],
    "np.roll": [Call(M, 2), Call(M, -1, 1), Call(M, 1, 0)],
    "np.pad": [Call(V, 2, "'constant'"), Call(M, 1, "'edge'"), Call(M, "((1, 2), (0, 3))", "'reflect'"),
               Call(V, "(1, 5)", mode="'wrap'"), Call(A((2, 3, 2)), 2, "'symmetric'")],
    "np.flip": [Call(M), Call(M, axis=1)],
    "np.sort": [Call(V), Call(M), Call(M, 0)],
    "np.trace": [Call(M), Call(M, 1)],
    "np.diag": [Call(V), Call(V, 1), Call(M), Call(M, 1), Call(W, -1)],
    "np.swapaxes": [Call(M, 0, 1), Call(A((2, 3, 4)), 2, 0)],
    "np.tril": [Call(M), Call(M, -1)],
    "np.triu": [Call(M), Call(M, 1)],
    "np.atleast_1d": [Call(X), Call(V)],
    "np.atleast_2d": [Call(X), Call(V)],
    "np.atleast_3d": [Call(X), Call(M)],
    "np.var": [Call(V), Call(V, 0), Call(M, 0), Call(M, 1)],
    "np.std": [Call(V), Call(V, 0), Call(M, 0), Call(M, 1)],
    "np.ptp": [Call(V), Call(M)],
    "np.median": [Call(V), Call(A((5,))), Call(M)],
    "np.nansum": [Call(V), Call(M)],
    "np.nanmean": [Call(V), Call(M)],
    "np.repeat": [Call(X, 3), Call(V, 3), Call(M, 2)],
    "np.vdot": Call(V, V),
    "np.polyval": [Call(V, V), Call(V, X)],
    "np.vander": [Call(V), Call(V, 3), Call(A((3,)), 1)],
    "np.interp": [Call(A((5,), -0.2, 1.2), "np.array([0.0, 0.3, 0.55, 1.0])", V),
                  Call(A((), 0.05, 0.95), "np.array([0.0, 0.3, 0.55, 1.0])", V)],
    "np.asarray": Call(M),
    "np.trapezoid": [Call(V, V), Call(V)],
    "np.stack": Uses("np.sum(np.stack((a0, a1)) * a2)", V, V, A((2, 4))),
    "np.array": Uses("np.sum(np.array([a0, a1]) * a2)", X, X, A((2,))),
    "np.concatenate": Uses("np.sum(np.concatenate((a0, a1)) * a2)", V, A((3,)), A((7,))),
    "np.vstack": Uses("np.sum(np.vstack((a0, a1)) * a2) + np.sum(np.vstack((a2, a2)) ** 2)", V, V, A((2, 4))),
    "np.hstack": Uses("np.sum(np.hstack((a0, a1)) * a2) + np.sum(np.hstack((a3, a3)) ** 2)", V, A((3,)), A((7,)), M),
    "np.column_stack": Uses("np.sum(np.column_stack((a0, a1)) * a2) + np.sum(np.column_stack((a2, a0)) ** 2)",
                            V, V, A((4, 2))),
    "np.expand_dims": [Call(V, 0), Call(M, -1)],
    "np.broadcast_to": [Call(V, "(3, 4)"), Call(A((3, 1)), "(3, 4)")],
    "np.convolve": Call(A((6,)), A((3,))),
    "np.take_along_axis": [Call(M, "np.array([[2, 0, 1, 1], [0, 0, 2, -1]])", 0),      # repeated, negative
                           Call(M, "np.array([[3, 0], [1, 1], [0, 2]])", 1), Call(V, "np.array([3, 0, 0, 1])", 0)],
    "np.triu_indices": Uses("triu_sum(a0)", A((4, 4))),
    "np.tril_indices": Uses("tril_sum(a0)", A((4, 4))),
    # linear algebra (adjoint/primitives/rules/linalg.py)
    "np.cross": [Call(A((3,)), A((3,))), Call(A((4, 3)), A((4, 3))), Call(A((3,)), A((4, 3)))],
    "np.kron": [Call(A((3,)), A((2,))), Call(A((2, 3)), A((3, 2)))],
    "np.linalg.solve": [Call(Conditioned((3, 3)), A((3,))), Call(Conditioned((3, 3)), A((3, 2)))],
    "np.linalg.inv": Call(Conditioned((3, 3))),
    "np.linalg.det": Call(Conditioned((3, 3))),
    "np.linalg.slogdet": Call(Conditioned((3, 3), -2.0, 0.5)),
    "np.linalg.cholesky": Call(PositiveDefinite((3, 3))),
    # (more subscripts in tests/test_linalg.py: numba compiles each row on the cpu target)
    "np.einsum": [Call("'ij,jk->ik'", M, W), Call("'ii->'", A((3, 3))), Call("'bij,bjk->bik'", A((2, 3, 4)), A((2, 4, 3))),
                  Call("'i,ij,j->'", A((3,)), M, V), Call("'i,j,k,ijk'", A((2,)), A((3,)), V, A((2, 3, 4)))],
}

HELPERS = '''
def triu_sum(x):
    i, j = np.triu_indices(x.shape[0], k=1)
    return np.sum(x[i, j] ** 2)


def tril_sum(x):
    i, j = np.tril_indices(x.shape[0], -1)
    return np.sum(np.sin(x[i, j]))


def sum_range(x):
    total = 0.0
    for k in range(3):
        total += x * k
    return total
'''

# spellings that are operators in source
INFIX = {"operator.add": "{0} + {1}", "operator.sub": "{0} - {1}", "operator.mul": "{0} * {1}",
         "operator.truediv": "{0} / {1}", "operator.pow": "{0} ** {1}", "operator.mod": "{0} % {1}",
         "operator.neg": "-{0}", "operator.pos": "+{0}", "operator.matmul": "{0} @ {1}"}


def record_id(record):
    return record.spellings[0]


def rows_of(kind):
    """(record, row) pairs whose rows are of `kind`, for parametrize."""
    pairs = []
    for record in table.RECORDS:
        row = ROWS.get(record.spellings[0])
        for one in (row if isinstance(row, list) else [row]):
            if (one == ELEMENTWISE) if kind is ELEMENTWISE else type(one) is kind:
                pairs.append(pytest.param(record, one, id=record_id(record)))
    return pairs


# the table itself -------------------------------------------------------------------------

def test_every_record_has_a_row():
    declared = [record_id(r) for r in table.RECORDS]
    assert len(declared) == len(set(declared))
    assert set(declared) == set(ROWS)


def test_records_are_the_rule_index():
    """RULES, ARRAY_RULES, TANGENT_RULES, PARTS_RULES and NON_DIFFERENTIABLE hold each
    record's rules under each of its functions (user rules may join them)."""
    for record in table.RECORDS:
        for function in record.functions:
            assert table.record_of(function) is record
            if record.partials is not None:
                assert rules.RULES[function].expressions == record.partials.expressions
            assert [r.vjp for r in rules.ARRAY_RULES.get(function, [])] == [r.vjp for r in record.vjps]
            assert [r.jvp for r in rules.TANGENT_RULES.get(function, [])] == [r.jvp for r in record.jvps]
            assert (function in rules.NON_DIFFERENTIABLE) == record.constant
            assert not (record.constant and record.differentiable)


def test_derived_spellings():
    """The math <-> numpy twins: names that agree (getattr), and the records' own pairs."""
    assert table.resolve("np.linalg.norm") is np.linalg.norm and table.resolve("abs") is abs
    assert primitives.spelling_for_arrays("math.tanh") == "np.tanh"
    assert primitives.spelling_for_arrays("math.asin") == "np.arcsin"
    assert primitives.spelling_for_arrays("math.cbrt") == "np.cbrt"        # no record: by name
    assert primitives.spelling_for_arrays("abs") == "np.abs"
    assert primitives.spelling_for_arrays("max") == "np.maximum"
    assert primitives.spelling_for_arrays("math.remainder") is None         # a different function
    assert primitives.spelling_for_arrays("float") is None                  # np.float64 is no ufunc
    assert primitives.spelling_for_device("np.arcsin") == "math.asin"
    assert primitives.spelling_for_device("np.abs") == "abs"
    assert primitives.spelling_for_device("np.fabs") == "math.fabs"
    assert primitives.spelling_for_device("np.floor") == "math.floor"
    assert primitives.spelling_for_device("np.power") == "math.pow"
    assert primitives.spelling_for_device("np.where") is None
    for name, twin in primitives.device_spellings().items():
        assert table.resolve(twin) in (abs, min, max) or twin.startswith("math."), (name, twin)
        fn, scalar = table.resolve(name), table.resolve(twin)
        for x in (0.3, 0.7):
            args = (x,) * (fn.nin if isinstance(fn, np.ufunc) else 1)
            assert float(scalar(*args)) == pytest.approx(float(fn(*args))), name
    for scalar_name in ("math.tanh", "math.cbrt", "math.atan", "abs", "max", "math.pow"):
        array_fn = table.resolve(primitives.spelling_for_arrays(scalar_name))
        scalar_fn = table.resolve(scalar_name)
        arity = 2 if scalar_name in ("max", "math.pow") else 1
        xs = [np.array([0.3, 0.8, 1.7])] * arity
        expected = [scalar_fn(*(x[k] for x in xs)) for k in range(3)]
        np.testing.assert_allclose(array_fn(*xs), expected)


def test_flags_reach_the_stages():
    """The tables the stages read are the records' flags."""
    from adjoint.lower import device
    from adjoint.optimize import allocate
    from adjoint.transforms import stored
    assert device.ALLOCATING == primitives.spelled("allocates") and "np.zeros" in device.ALLOCATING
    assert allocate.VALUE_CALLS == primitives.spelled("value") and "np.dot" in allocate.VALUE_CALLS
    assert stored.COSTLY_CALLS == primitives.spelled("costly") >= {"np.dot", "np.tanh"}
    assert runtime.NUMPY_LOOPS == primitives.numpy_loops()
    for name in runtime.NUMPY_LOOPS:                  # each has its helper, each is a ufunc
        assert f"def _numpy_{name}(" in runtime.source(f"_numpy_{name}")
        assert isinstance(getattr(np, name), np.ufunc)
    assert device.MATH_SPELLING == primitives.device_spellings()


# wrapper modules ------------------------------------------------------------------------------

_MODULES: dict = {}


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("primitive_table")


def wrapper(expression, arity, directory, weighted=True):
    """`f(a0, ..., w) = np.sum(w * (expression))` (w: the weights of the output's sensitivity),
    or `f(a0, ...) = expression`, in a module file of its own."""
    key = (expression, arity, weighted)
    if key not in _MODULES:
        params = [f"a{k}" for k in range(arity)]
        body = f"np.sum(w * ({expression}))" if weighted else expression
        source = "\n".join(["import math", "import operator", "", "import numpy as np", "import scipy.special",
                            "import scipy.stats", "", HELPERS, "",
                            f"def f({', '.join(params + ['w'] if weighted else params)}):",
                            f"    return {body}", ""])
        module = import_source(directory, f"adjoint_primitive_{len(_MODULES)}", source)
        _MODULES[key] = module.f
    return _MODULES[key]


def check_compiled(f, args, wrt, target, rng, forward=True):
    """Reverse mode against central differences; forward mode along a random direction
    against the reverse gradient (the dot-product identity of the compiled code)."""
    grad = adjoint.grad(f, wrt=tuple(wrt), target=target)
    got = grad(*args)
    got = got if isinstance(got, tuple) else (got,)
    expected = tuple(finite_difference(f, args, k) for k in wrt)
    assert_gradient(got, expected, **fd_tolerance(f(*args), rtol=1e-5))
    if not forward:
        return
    directions = [rng.standard_normal(np.shape(args[k])) if np.ndim(args[k]) else float(rng.standard_normal())
                  for k in wrt]
    _, tangent = adjoint.jvp(f, wrt=tuple(wrt), target=target)(*args, *directions)
    along = sum(float(np.sum(g * d)) for g, d in zip(got, directions))
    np.testing.assert_allclose(tangent, along, rtol=1e-9, atol=1e-9 * max(1.0, abs(along)))


def weights(rng, value):
    return rng.uniform(0.5, 1.5, size=np.shape(value)) if np.ndim(value) else float(rng.uniform(0.5, 1.5))


# scalar primitives ---------------------------------------------------------------------------

def scalar_call(spelling, arity):
    names = [f"a{k}" for k in range(arity)]
    if spelling in INFIX:
        return INFIX[spelling].format(*names)
    return f"{spelling}({', '.join(names)})"


@pytest.mark.parametrize("record, row", rows_of(ELEMENTWISE))
def test_scalar_partials_against_differences(record, row):
    rule = record.partials
    rng = make_rng("table partials", record_id(record))
    for function in record.functions:
        for _ in range(4):
            args = [float(rng.uniform(lo, hi)) for lo, hi in rule.domain]
            out = function(*args)
            partials = rule.partials(*args, out=out) if rule.uses_out else rule.partials(*args)
            partials = partials if len(rule.params) > 1 else (partials,)
            for k, partial in enumerate(partials):
                h = 1e-2 if function is np.float32 else 1e-6
                expected = finite_difference(function, args, k, h=h)
                np.testing.assert_allclose(float(partial), expected,
                                           **fd_tolerance(out, rtol=1e-4 if function is np.float32 else 1e-6))


@pytest.mark.parametrize("record, row", rows_of(ELEMENTWISE))
def test_scalar_primitive_compiled(record, row, module_dir):
    """Every spelling, on numbers, compiled (python target) in both modes."""
    rule = record.partials
    arity = len(rule.params)
    for spelling in record.spellings:
        if spelling == "np.float32":                      # rounds to float32: differences see its steps
            continue
        f = wrapper(scalar_call(spelling, arity), arity, module_dir)
        rng = make_rng("table compiled", spelling)
        for _ in range(2):
            args = [float(rng.uniform(lo, hi)) for lo, hi in rule.domain]
            args.append(weights(rng, 0.0))
            check_compiled(f, args, range(arity + 1), "python", rng)


ARRAY_SPELLED = [p for p in rows_of(ELEMENTWISE)
                 if any(isinstance(fn, np.ufunc) for fn in p.values[0].functions) or p.values[0].spellings[0] in INFIX]


@pytest.mark.parametrize("record, row", ARRAY_SPELLED)
def test_scalar_primitive_of_arrays(record, row, target, module_dir):
    """Its numpy spelling (or operator) of arrays: the partials made elementwise."""
    rule = record.partials
    arity = len(rule.params)
    ufuncs = [s for s, fn in zip(record.spellings, record.functions) if isinstance(fn, np.ufunc)]
    spelling = ufuncs[0] if ufuncs else record.spellings[0]
    f = wrapper(scalar_call(spelling, arity), arity, module_dir)
    rng = make_rng("table arrays", spelling)
    args = [rng.uniform(lo, hi, size=5) for lo, hi in rule.domain]
    args.append(rng.uniform(0.5, 1.5, size=5))
    check_compiled(f, args, range(arity + 1), target, rng, forward=target == "python")


# array primitives ----------------------------------------------------------------------------

def draw_call(row, rng):
    """(source of the arguments, their values, the float ones) of a Call row."""
    floats = [arg.draw(rng) for arg in row.args if isinstance(arg, A)]
    names = {f"a{k}": v for k, v in enumerate(floats)}
    texts, values, k = [], [], 0
    for arg in row.args:
        if isinstance(arg, A):
            texts.append(f"a{k}")
            values.append(floats[k])
            k += 1
        elif isinstance(arg, str):                        # source, e.g. a condition on a0
            texts.append(arg)
            values.append(eval(arg, {"np": np}, names))
        else:
            texts.append(repr(arg))
            values.append(arg)
    split = len(texts) - len(row.keywords)
    texts[split:] = [f"{name}={text}" for name, text in zip(row.keywords, texts[split:])]
    return texts, values, floats


def float_positions(row):
    return [k for k, arg in enumerate(row.args) if isinstance(arg, A)]


def sum_to(value, shape):
    """A broadcast contribution summed back to an argument's shape."""
    value = np.asarray(value, dtype=float)
    while value.ndim > len(shape):
        value = value.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and value.shape[axis] != 1:
            value = value.sum(axis=axis, keepdims=True)
    return np.broadcast_to(value, shape)


def _as_tuple(value, count):
    return value if count > 1 else (value,)


@pytest.mark.parametrize("record, row", rows_of(Call))
def test_array_rules_against_differences(record, row):
    """The record's vjp and jvp, run as written: each against central differences of
    <u, f(args)>, and the two against each other (<vjp(u), v> == <u, jvp(v)>)."""
    function = record.functions[0]
    rng = make_rng("table array rules", record_id(record), repr(row))
    _, values, _ = draw_call(row, rng)
    positions = float_positions(row)
    ranks = [np.ndim(v) for v in values]
    vjp, tangent = registry.lookup_array(function, ranks), registry.lookup_jvp(function, ranks)
    assert vjp is not None and tangent is not None, f"no rule for ranks {ranks}"
    out = row.call(function, values)
    u = rng.standard_normal(np.shape(out))

    def paired(*floats):                                  # <u, f(args)> of the float arguments
        args = list(values)
        for k, x in zip(positions, floats):
            args[k] = x
        return float(np.sum(u * row.call(function, args)))

    kwargs = dict(zip(vjp.params, values), g=u if np.ndim(out) else float(u))
    if vjp.uses_out:
        kwargs["out"] = out
    contributions = _as_tuple(vjp.vjp(**kwargs), len(vjp.params))
    directions = {k: rng.standard_normal(np.shape(values[k])) for k in positions}
    tkwargs = dict(zip(tangent.params, values))
    tkwargs.update({"d" + p: directions.get(k, np.zeros(values[k].shape) if isinstance(values[k], np.ndarray) else 0.0)
                    for k, p in enumerate(tangent.params)})
    if tangent.uses_out:
        tkwargs["out"] = out
    terms = _as_tuple(tangent.jvp(**tkwargs), len(tangent.params))
    floats = [values[k] for k in positions]
    left = 0.0
    for j, k in enumerate(positions):
        contribution = (np.zeros(np.shape(values[k])) if contributions[k] is None   # None: no dependence
                        else sum_to(contributions[k], np.shape(values[k])))
        expected = finite_difference(paired, floats, j)
        np.testing.assert_allclose(contribution, expected, rtol=1e-5, atol=1e-6)
        left += float(np.sum(contribution * directions[k]))
    tangent_out = sum(np.asarray(terms[k], dtype=float) for k in positions if terms[k] is not None)
    right = float(np.sum(u * tangent_out))
    np.testing.assert_allclose(left, right, rtol=1e-10, atol=1e-10)
    # the tangent itself, against differences along the directions
    step = 1e-6

    def moved(sign):
        args = list(values)
        for k in positions:
            args[k] = values[k] + sign * step * directions[k]
        return np.asarray(row.call(function, args), dtype=float)
    np.testing.assert_allclose(tangent_out, (moved(1) - moved(-1)) / (2 * step), rtol=1e-5, atol=1e-6)


def test_every_array_rule_variant_is_exercised():
    """Each vjp and jvp variant matches the ranks of some row, so the rows test them all."""
    for record in table.RECORDS:
        if not record.vjps or record.partials is not None:
            continue        # (np.maximum's vjp of arrays: test_scalar_primitive_of_arrays)
        row = ROWS[record_id(record)]
        matched_vjps, matched_jvps = set(), set()
        for one in (row if isinstance(row, list) else [row]):
            ranks = [len(a.shape) if isinstance(a, A) else (1 if isinstance(a, str) else 0) for a in one.args]
            matched_vjps.add(id(registry.lookup_array(record.functions[0], ranks)))
            matched_jvps.add(id(registry.lookup_jvp(record.functions[0], ranks)))
        assert matched_vjps == {id(v) for v in rules.ARRAY_RULES[record.functions[0]]}, record_id(record)
        assert matched_jvps == {id(v) for v in rules.TANGENT_RULES[record.functions[0]]}, record_id(record)


@pytest.mark.parametrize("record, row", rows_of(Call))
def test_array_primitive_compiled(record, row, target, module_dir):
    """Every spelling of the record, called as the row says, compiled in both modes (forward
    mode on the python target; on cpu the first spelling: numba compiles for a second each)."""
    for spelling in record.spellings if target == "python" else record.spellings[:1]:
        rng = make_rng("table array compiled", spelling, repr(row))
        texts, values, floats = draw_call(row, rng)
        call = INFIX[spelling].format(*texts) if spelling in INFIX else f"{spelling}({', '.join(texts)})"
        f = wrapper(call, len(floats), module_dir)
        out = eval(call, {"np": np, "scipy": scipy}, {f"a{k}": v for k, v in enumerate(floats)})
        args = list(floats) + [weights(rng, out)]
        check_compiled(f, args, range(len(floats)), target, rng, forward=target == "python")


# primitives used, not differentiated themselves -----------------------------------------------

@pytest.mark.parametrize("record, row", rows_of(Uses))
def test_primitive_used_compiled(record, row, module_dir):
    rng = make_rng("table uses", record_id(record))
    f = wrapper(row.expression, len(row.args), module_dir, weighted=False)
    floats = [arg.draw(rng) for arg in row.args]
    check_compiled(f, floats, range(len(floats)), "python", rng)


def test_primitive_without_derivative_is_refused(module_dir):
    # every Refused row (none today: np.any and np.all, the last ones, are piecewise constant
    # now), and a numpy function with no record at all, whose gradient is an error too
    for record, row in rows_of(Refused):
        assert not record.differentiable
        f = wrapper(row.expression, len(row.args), module_dir, weighted=False)
        with pytest.raises(adjoint.AdjointError):
            adjoint.grad(f, target="python")(*(arg.draw(make_rng("refused")) for arg in row.args))
    f = wrapper("np.sum(np.spacing(a0))", 1, module_dir, weighted=False)
    with pytest.raises(adjoint.AdjointError, match="spacing"):
        adjoint.grad(f, target="python")(np.array([0.5, 1.5]))
