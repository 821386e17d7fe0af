"""Tangent's own test corpus, held out: every scalar-output function of Tangent's
tests/functions.py (github:google/tangent), ported anew in the same style.

Each function keeps the idioms of the original (its names, its overwrites, its lists and
tuples, its helpers) and cites it: `# functions.py: <name>`. The example arguments are those
Tangent's own tests feed it (tests/conftest.py there): scalars `a`, `b`, `c` from the grid
below, integers `n` from 1, 2, 3, vectors `x` of sizes 3, 5 and 10, square matrices `sqm` of
sizes 1 and 5, the shapes of its dedicated tests (test_reverse_mode.py) for logistic_regression,
rnn, bilinear and the tuple and dict arguments. Where Tangent differentiates only the first
argument, adjoint is asked for every float one.

Not ported, since they are not scalar-output numpy functions: the TensorFlow ones (`tfe_*`,
`_trace_mul`, `_nontrace_mul`), the two returning tuples (`fn_multiple_return`, `cart2polar`)
and `inlining_contextmanager`, whose `with insert_grad_of(a)` block changes the gradient
Tangent returns (its expected value is not a derivative of the function). The three that call
Tangent's stack (`stack_pushing`, `useless_stack_ops`, `redefining_var_as_list`) push and
pop through a Python list, the stack a user would write.

`PROGRAMS` lists them; tests/test_tangent_corpus.py checks them and `python
benchmarks/reach.py --corpus tangent` reports what passes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

# Tangent's tests/conftest.py: the scalars, integers and sizes every function is tried at
SCALARS = (-2.0, -1.5, -1.0, -0.5, -0.1, 0.1, 0.5, 1.0, 1.5, 2.0)
INTEGERS = (1, 2, 3)
VECTOR_SIZES = (3, 5, 10)
MATRIX_SIZES = (1, 5)


@dataclass(frozen=True)
class Program:
    name: str
    fn: Callable
    build: Callable[[np.random.Generator], list]   # -> the argument tuples to try
    wrt: tuple
    style: str          # "loop" or "vectorized", as in tests/realistic_corpus.py
    model: str = "tangent"

    def points(self) -> list:
        """The seeded argument tuples (the same on every call)."""
        return self.build(np.random.default_rng(zlib.crc32(self.name.encode())))

    def arguments(self) -> tuple:
        """The first point (what benchmarks/reach.py tries)."""
        return self.points()[0]


PROGRAMS: list[Program] = []


def program(build, wrt=(0,), style="loop"):
    def register(fn):
        PROGRAMS.append(Program(fn.__name__, fn, build, tuple(wrt), style))
        return fn
    return register


def _rolled(values, by):
    return values[by:] + values[:by]


def scalars(rng, keep=lambda a: True):
    return [(a,) for a in SCALARS if keep(a)]


def two_scalars(rng):
    # Tangent tries every pair; one shifted grid never pairs a value with itself, so no point
    # sits on a branch's kink (a > b)
    return list(zip(SCALARS, _rolled(SCALARS, 3)))


def three_scalars(rng):
    return list(zip(SCALARS, _rolled(SCALARS, 3), _rolled(SCALARS, 7)))


def scalar_and_integer(rng):
    return [(a, INTEGERS[k % 3]) for k, a in enumerate(SCALARS)]


def vectors(rng):
    return [(rng.normal(size=size),) for size in VECTOR_SIZES]


def square_matrices(rng):
    return [(rng.normal(size=(size, size)),) for size in MATRIX_SIZES]


def inside_unit_interval(rng):
    return scalars(rng, keep=lambda a: abs(a) < 1.0)


def away_from_threshold(rng):
    # while_big's loop runs while |a| > 0.1: at +-0.1 the function jumps
    return scalars(rng, keep=lambda a: abs(a) != 0.1)


ABC = (0, 1, 2)

# =============================================================================================
# Scalars: arithmetic, overwrites, helpers
# =============================================================================================


@program(scalars)
def id_(a):
    # functions.py: id_
    return a


@program(scalars)
def unary_sub(a):
    # functions.py: unary_sub
    return -a


@program(vectors, style="vectorized")
def sum_(x):
    # functions.py: sum_
    return np.sum(x)


@program(vectors, style="vectorized")
def cast_sum_(x):
    # functions.py: cast_sum_
    return np.sum(np.array(x))


@program(vectors, style="vectorized")
def overwrite_call(x):
    # functions.py: overwrite_call
    x = np.sum(x)
    x = x * x
    return x


@program(scalars, style="vectorized")
def tanh(a):
    # functions.py: tanh
    return np.tanh(a)


@program(scalars)
def identity_assign(a):
    # functions.py: identity_assign
    b = a
    return b


@program(scalars)
def increment(a):
    # functions.py: increment
    return a + 1


@program(three_scalars, wrt=ABC)
def saxpy(a, b, c):
    # functions.py: saxpy
    return a * b + c


@program(two_scalars, wrt=(0, 1))
def mul(a, b):
    # functions.py: mul
    return a * b


@program(two_scalars, wrt=(0, 1))
def add(a, b):
    # functions.py: add
    return a + b


@program(three_scalars, wrt=ABC)
def saxpy_call(a, b, c):
    # functions.py: saxpy_call
    return add(mul(a, b), c)


@program(three_scalars, wrt=ABC)
def saxpy_anf(a, b, c):
    # functions.py: saxpy_anf
    t1 = a * b
    t2 = t1 + c
    return t2


@program(three_scalars, wrt=ABC)
def saxpy_overwrite(a, b, c):
    # functions.py: saxpy_overwrite
    t = a * b
    t = t + c
    return t


@program(scalars)
def gradname_aliasing(a):
    # functions.py: gradname_aliasing
    da = a * a
    return da


@program(scalars)
def overwrite_if(a):
    # functions.py: overwrite_if
    if a > 0:
        a = a * 3.0
    else:
        a = a * 2.0
    return a


@program(scalars)
def test_binop_mul1(a):
    # functions.py: test_binop_mul1
    return a * 3.0


@program(scalars)
def test_binop_mul2(a):
    # functions.py: test_binop_mul2
    return 3.0 * a


@program(scalars)
def test_binop_mul3(a):
    # functions.py: test_binop_mul3
    return a * a


@program(scalars)
def test_binop_div1(a):
    # functions.py: test_binop_div1
    return a / 3.0


@program(scalars)
def test_binop_div2(a):
    # functions.py: test_binop_div2
    return 3.0 / a


@program(scalars)
def test_binop_div3(a):
    # functions.py: test_binop_div3
    return a / a


@program(scalars)
def test_binop_sub1(a):
    # functions.py: test_binop_sub1
    return a - 3.0


@program(scalars)
def test_binop_sub2(a):
    # functions.py: test_binop_sub2
    return 3.0 - a


@program(scalars)
def test_binop_sub3(a):
    # functions.py: test_binop_sub3
    return a - a


@program(scalars)
def test_binop_add1(a):
    # functions.py: test_binop_add1
    return a + 3.0


@program(scalars)
def test_binop_add2(a):
    # functions.py: test_binop_add2
    return 3.0 + a


@program(scalars)
def test_binop_add3(a):
    # functions.py: test_binop_add3
    return a + a


@program(scalars)
def nested_if(a):
    # functions.py: nested_if
    if a > 0:
        if a < 10:
            a = a * a
    else:
        a = 3.0 * a
    return a


@program(scalars)
def multiarg_if(a):
    # functions.py: multiarg_if ("a bunch of spammy nonsense to try to break our system")
    if a * a / 3.0 > 0:
        b = 3.0
    else:
        b = 4.0
    a = a * b
    if a < b - a * b:
        a = a * a
    elif a > b + 3.0 * a:
        if a / 2.0 < 0:
            a = a / b
        else:
            a = a * b
    else:
        a = -a
    return a


@program(scalars, style="vectorized")
def fn_multiply(a):
    # functions.py: fn_multiply
    return np.multiply(a, 3.0)


# =============================================================================================
# Lists and subscripts
# =============================================================================================


@program(scalars)
def test_anf_list(a):
    # functions.py: test_anf_list
    b = [1, a * a, 2]
    return np.sum(b)


@program(vectors)
def test_deep_anf_list(x):
    # functions.py: test_deep_anf_list
    b = [1, x[0] * x[1] * x[2], 3]
    return np.sum(b)


@program(vectors)
def test_subscript1(x):
    # functions.py: test_subscript1
    a = x[0]
    b = x[1]
    return a * b


@program(vectors)
def test_subscript2(x):
    # functions.py: test_subscript2
    a = x[0]
    b = x[1]
    x[0] = a * b
    return np.sum(x)


@program(vectors, style="vectorized")
def test_subscript3(x):
    # functions.py: test_subscript3
    y = x ** 2.0
    x[0] = y[1] * y[2]
    return np.sum(x * y)


@program(scalars)
def test_list_and_subscript(a):
    # functions.py: test_list_and_subscript
    x = [1.0, a, 3.0]
    return x[0] * x[1]


@program(vectors)
def test_implicit_indexing(x):
    # functions.py: test_implicit_indexing
    res = 0.0
    for a in x:
        res += a
    return res


# =============================================================================================
# Branches and loops
# =============================================================================================


@program(scalars)
def serial_if(a):
    # functions.py: serial_if
    if a > 0:
        a = a * a
    a = a + a
    if a < 0:
        a = 3.0 * a
    return a


@program(two_scalars, wrt=(0, 1))
def multivar_if(a, b):
    # functions.py: multivar_if
    if a > b:
        a = a * a
    else:
        a = a * b
    return a


@program(scalar_and_integer)
def serial_for(a, n):
    # functions.py: serial_for
    for i in range(n):
        a = a * a
    a = 2.0 * a
    for i in range(n + 1):
        a = a * 3.0
    return a


@program(scalar_and_integer)
def serial_ifthenfor(a, n):
    # functions.py: serial_ifthenfor
    if a > 0:
        a = a * a
    a = 2.0 * a
    for i in range(n):
        a = a * a
    return a


@program(scalar_and_integer)
def serial_forthenif(a, n):
    # functions.py: serial_forthenif
    for i in range(n):
        a = a * a
    a = 2.0 * a
    if a > 0:
        a = a * a
    return a


@program(scalars)
def devilish_nested_if(a):
    # functions.py: devilish_nested_if
    if a > 0:
        a = a * 3.0
        if a < 10:
            a = a * a
        else:
            a = a * 2.0
    return a


@program(scalars)
def overwrite_ifelse(a):
    # functions.py: overwrite_ifelse
    if a > 0:
        a = a * 3.0
    elif 0 > a:
        a = a * 2.0
    else:
        a = 1.0 * a
    return a


@program(scalars)
def overwrite_arg(a):
    # functions.py: overwrite_arg
    a = a * 3.0
    return a


@program(scalars)
def overwrite_non_arg(a):
    # functions.py: overwrite_non_arg
    b = a
    b = b * 3.0
    return b


@program(scalars)
def third_pow(a):
    # functions.py: third_pow
    return a * a * a


@program(scalars)
def direct_third_pow(a):
    # functions.py: direct_third_pow
    return a ** 3


@program(scalars)
def iter_third_pow1(a):
    # functions.py: iter_third_pow1
    out = 1
    for i in range(3):
        out = out * a
    return out


@program(scalars)
def iter_third_pow2(a):
    # functions.py: iter_third_pow2
    out = a
    for i in range(3 - 1):
        out = out * a
    return out


@program(scalars)
def iterpower_static(a):
    # functions.py: iterpower_static
    for i in range(3):
        a = a * a
    return a


@program(scalar_and_integer)
def iterpower(a, n):
    # functions.py: iterpower
    for i in range(n):
        a = a * a
    return a


@program(scalars)
def cond_iterpower1(a):
    # functions.py: cond_iterpower1
    for i in range(3):
        if a < 20:
            a = a * a
    return a


@program(scalars)
def cond_iterpower2(a):
    # functions.py: cond_iterpower2
    if a < 20:
        for i in range(3):
            a = a * a
    return a


@program(scalars)
def superfor_iterpower(a):
    # functions.py: superfor_iterpower
    for i in range(2):
        for j in range(3):
            a = a * a
    return a


@program(scalars)
def super_iterpower(a):
    # functions.py: super_iterpower ("tests ANF in a for loop")
    for i in range(3):
        a = a * a * a
    return a


# =============================================================================================
# Numpy
# =============================================================================================


@program(vectors, style="vectorized")
def numpy_sum(x):
    # functions.py: numpy_sum
    return np.sum(x)


@program(vectors, style="vectorized")
def numpy_mean(x):
    # functions.py: numpy_mean
    return np.mean(x)


@program(scalars, style="vectorized")
def numpy_exp(a):
    # functions.py: numpy_exp
    return np.exp(a)


@program(scalars, style="vectorized")
def numpy_exp2(a):
    # functions.py: numpy_exp2
    return np.exp(np.exp(a))


@program(scalars, style="vectorized")
def numpy_sqrt(a):
    # functions.py: numpy_sqrt
    if a >= 0:
        r = np.sqrt(a)
    else:
        r = np.sqrt(-a)
    return r


@program(scalars, style="vectorized")
def numpy_cos(a):
    # functions.py: numpy_cos
    return np.cos(a)


@program(scalars, style="vectorized")
def numpy_sin(a):
    # functions.py: numpy_sin
    return np.sin(a)


@program(scalars, style="vectorized")
def numpy_tan(a):
    # functions.py: numpy_tan
    return np.tan(a)


@program(scalars, style="vectorized")
def numpy_cosh(a):
    # functions.py: numpy_cosh
    return np.cosh(a)


@program(scalars, style="vectorized")
def numpy_sinh(a):
    # functions.py: numpy_sinh
    return np.sinh(a)


@program(scalars, style="vectorized")
def numpy_tanh(a):
    # functions.py: numpy_tanh
    return np.tanh(a)


@program(inside_unit_interval, style="vectorized")
def numpy_arccos(a):
    # functions.py: numpy_arccos (tried inside its domain)
    return np.arccos(a)


@program(inside_unit_interval, style="vectorized")
def numpy_arcsin(a):
    # functions.py: numpy_arcsin (tried inside its domain)
    return np.arcsin(a)


@program(scalars, style="vectorized")
def numpy_arctan(a):
    # functions.py: numpy_arctan
    return np.arctan(a)


@program(vectors, style="vectorized")
def numpy_atleast_1d(x):
    # functions.py: numpy_atleast_1d
    return np.sum(np.atleast_1d(x))


@program(vectors, style="vectorized")
def numpy_atleast_2d(x):
    # functions.py: numpy_atleast_2d
    return np.sum(np.atleast_2d(x))


@program(vectors, style="vectorized")
def numpy_atleast_3d(x):
    # functions.py: numpy_atleast_3d
    return np.sum(np.atleast_3d(x))


def _logistic_points(rng):
    # test_reverse_mode.py test_logistic_regression: input (3,), a one-hot label, W (3, 5), b (5,)
    label = np.zeros(5)
    label[1] = 1
    return [(rng.uniform(size=3), label, rng.normal(size=(3, 5)), rng.normal(size=5))]


@program(_logistic_points, wrt=(2, 3), style="vectorized")
def logistic_regression(input, label, W, b):
    # functions.py: logistic_regression ("label is 0 or 1")
    h1 = np.dot(input, W) + b
    prediction = 0.5 * (np.tanh(h1) + 1)
    label_probabilities = prediction * label + (1 - prediction) * (1 - label)
    loss = -np.sum(np.log(label_probabilities))
    return loss


@program(square_matrices, style="vectorized")
def det(sqm):
    # functions.py: det
    return np.linalg.det(sqm)


# =============================================================================================
# Function calls
# =============================================================================================


@program(two_scalars, wrt=(0, 1))
def _inner_fn(a, b):
    # functions.py: _inner_fn
    return a * b


@program(two_scalars, wrt=(0, 1))
def mul_with_call(a, b):
    # functions.py: mul_with_call
    return _inner_fn(a, b)


@program(two_scalars, wrt=(0, 1))
def if_mul_with_call(a, b):
    # functions.py: if_mul_with_call
    if a > b:
        o = _inner_fn(a, b)
    else:
        o = _inner_fn(b, a)
    return o


@program(scalar_and_integer)
def iterpower_with_call(a, n):
    # functions.py: iterpower_with_call
    for i in range(n):
        a = _inner_fn(a, a)
    return a


@program(two_scalars, wrt=(0, 1))
def nested_call(a, b):
    # functions.py: nested_call
    return mul_with_call(a, b)


@program(scalar_and_integer)
def iterpower_with_nested_def(a, n):
    # functions.py: iterpower_with_nested_def
    def _fn(a, n):
        return a * n

    for i in range(n):
        a = _fn(a, a)
    return a


# =============================================================================================
# Tuples and dicts
# =============================================================================================


def _packed(rng):
    # test_reverse_mode.py test_unpacking_args_saxpy: a tuple (a, b, c)
    return [(t,) for t in three_scalars(rng)]


def _as_dict(rng):
    # test_reverse_mode.py test_dict_saxpy: dict(a=a, b=b, c=c)
    return [(dict(a=a, b=b, c=c),) for a, b, c in three_scalars(rng)]


@program(_packed)
def unpacking_args_saxpy(abc_packed_in_tuple):
    # functions.py: unpacking_args_saxpy
    a, b, c = abc_packed_in_tuple
    return a * b + c


@program(_as_dict)
def dict_saxpy(val):
    # functions.py: dict_saxpy
    return val['a'] * val['b'] + val['c']


@program(_packed)
def dict_wrapper(abc_packed_in_tuple):
    # functions.py: dict_wrapper
    a, b, c = abc_packed_in_tuple
    return dict_saxpy(dict(a=a, b=b, c=c))


def _pack_points(rng):
    return [(a, b, c, k % 3) for k, (a, b, c) in enumerate(three_scalars(rng))]


@program(_pack_points, wrt=ABC)
def passthru_pack(a, b, c, i):
    # functions.py: passthru_pack
    x = a, b, c
    return x[i]


@program(_packed)
def passthru_unpack(abc_packed_in_tuple):
    # functions.py: passthru_unpack
    a, b, c = abc_packed_in_tuple
    return a


@program(lambda rng: [(dict(i=dict(j=3.0, k=4.0)),)])
def nested_dict(p):
    # functions.py: nested_dict (test_reverse_mode.py test_nested_dict's argument)
    return p['i']['j'] * p['i']['k']


# =============================================================================================
# Misc
# =============================================================================================


@program(vectors, style="vectorized")
def listcomp(a):
    # functions.py: listcomp (Tangent names the argument `a` but iterates over it: a vector)
    return np.sum([i * 3 for i in a])


@program(away_from_threshold)
def while_big(a):
    # functions.py: while_big
    while np.abs(a) > 0.1:
        a = a * 0.5
    return a


@program(vectors)
def active_subscript(x):
    # functions.py: active_subscript
    y = np.zeros_like(x)
    for i in range(len(x)):
        y[i] = x[i]
    return np.sum(y)


@program(vectors)
def init_array_grad_maybe_active(x):
    # functions.py: init_array_grad_maybe_active
    h = np.zeros((len(x), 3))
    for t in range(len(h)):
        h[t] = x[t]
    return np.sum(h)


@program(vectors, style="vectorized")
def slicing(x):
    # functions.py: slicing
    return np.sum(x[1:])


@program(lambda rng: [(rng.normal(size=(3, 2)), rng.normal(size=(2, 3)))], wrt=(0, 1))
def rnn(inputs, W):
    # functions.py: rnn (test_reverse_mode.py test_rnn's shapes)
    h = np.zeros((4, 3))
    for t in range(3):
        h[t + 1] = np.dot(inputs[t], W) + h[t]
    return np.sum(h[1:])


@program(scalars)
def augassign(a):
    # functions.py: augassign
    x = a * a
    x *= x
    return x


def _bilinear_points(rng, D=3):
    # test_reverse_mode.py test_bilinear: x, h, b rows of (1, D), U and W (D, D)
    return [(rng.normal(size=(1, D)), rng.normal(size=(1, D)), rng.normal(size=(D, D)),
             rng.normal(size=(D, D)), rng.normal(size=(1, D)))]


@program(_bilinear_points, wrt=(0, 1, 2, 3, 4), style="vectorized")
def bilinear(x, h, U, W, b):
    # functions.py: bilinear
    y = np.dot(x, W)
    y = y + np.dot(h, U)
    y = y + b
    y = np.tanh(y)
    return np.sum(y)


@program(scalars)
def stack_pushing(a):
    # functions.py: stack_pushing (tangent.Stack, push and pop: a Python list here)
    stack = []
    y = a * a
    stack.append(a)
    aa = stack.pop()
    z = y * aa
    z = z * aa
    return z


@program(lambda rng: [(a, b) for a, b in two_scalars(rng)], wrt=(0, 1))
def gradgrad_pow(a, b):
    # functions.py: gradgrad_pow
    if a >= 0:
        a = a ** b
    else:
        a = (-a) ** b
    return a


@program(scalars)
def gradgrad_pow_twice(a):
    # functions.py: gradgrad_pow_twice
    a = a * a
    y = a * a
    return y


@program(scalars)
def gradgrad_chain_of_mults(a):
    # functions.py: gradgrad_chain_of_mults
    b = a  # this line forces overwrite protection
    b = a * a
    c = b * b
    d = c * c
    return d


@program(scalars)
def gradgrad_chain_of_multcalls(a):
    # functions.py: gradgrad_chain_of_multcalls
    b = mul(a, a)
    c = mul(b, b)
    d = mul(c, c)
    return d


@program(scalars)
def useless_stack_ops(a):
    # functions.py: useless_stack_ops (tangent.Stack, push and pop: a Python list here)
    _stack = []
    b = a * a
    _stack.append(b)
    b = _stack.pop()
    return a


@program(scalars)
def redefining_var_as_list(a):
    # functions.py: redefining_var_as_list (tangent.Stack, push and pop: a Python list here)
    _stack = []
    x = a
    _stack.append(x)
    x = [a]
    x = _stack.pop()
    return a


@program(vectors, style="vectorized")
def extended_slice(x):
    # functions.py: extended_slice
    return np.sum(x[::2, np.newaxis])


BY_NAME = {p.name: p for p in PROGRAMS}
assert len(BY_NAME) == len(PROGRAMS)
