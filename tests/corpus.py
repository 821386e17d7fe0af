"""A corpus of functions in adjoint's supported subset, each with its input domain.

Every entry of CORPUS is a Case: the function (module level, so adjoint can read its source),
how to draw its arguments, what to differentiate against, and, where the function itself
cannot run under autograd (math.* calls), an autograd twin written with autograd.numpy.
test_corpus.py checks every case on both targets against central differences and autograd;
test_standalone.py execs the emitted module of several of them.
"""

from __future__ import annotations

import dataclasses
import inspect
import math

import autograd.numpy as anp
import numpy as np

import adjoint

G = 9.81                      # a user module constant, inlined by the compiler
HALF = 0.5


# --- argument domains -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Scalar:
    lo: float
    hi: float

    def draw(self, rng):
        return float(rng.uniform(self.lo, self.hi))


@dataclasses.dataclass(frozen=True)
class Vector:
    n: int
    lo: float
    hi: float

    def draw(self, rng):
        return rng.uniform(self.lo, self.hi, size=self.n)


@dataclasses.dataclass(frozen=True)
class Fixed:
    """A non-differentiated argument passed as is (an int count, a flag)."""
    value: object

    def draw(self, rng):
        return self.value


@dataclasses.dataclass(frozen=True)
class Case:
    fn: object
    args: tuple
    wrt: object = 0
    twin: object = None           # autograd version; None: the function itself runs under autograd

    @property
    def name(self):
        return self.fn.__name__

    @property
    def autograd_fn(self):
        return self.twin or self.fn

    def wrt_indices(self):
        """The wrt argument positions, in the order the gradient tuple lists them."""
        names = list(inspect.signature(self.fn).parameters)
        items = self.wrt if isinstance(self.wrt, tuple) else (self.wrt,)
        return [names.index(w) if isinstance(w, str) else w for w in items]

    def sample(self, rng):
        return [a.draw(rng) for a in self.args]


# --- the seed -------------------------------------------------------------------------------

def f4(side_lengths):
    t_a, t_b, t_c, t_d = side_lengths
    t_ab = t_a * t_b
    t_cd = t_c * t_d
    t_abc = t_ab * t_c
    t_abd = t_ab * t_d
    t_acd = t_a * t_cd
    t_bcd = t_b * t_cd
    t_s = t_abc + t_abd + t_acd + t_bcd
    ret = 2.0 * t_s
    return ret


def f4_expression(x):
    a, b, c, d = x
    return 2.0 * (a*b*c + a*b*d + a*c*d + b*c*d)


# --- arithmetic -----------------------------------------------------------------------------

def nested(x, y):
    return (x * y + x) * (y - x * x) + x * (y * (x + 1.0)) - (x - (y - (x * y - 1.0)))


def divisions(x, y):
    return (x / y - y / (x + 3.0)) / (1.0 + x * x) + 1.0 / (x * x + y) - x / 4


def constant_exponents(x, y):
    return x ** 2 + x ** 3.0 - 2.0 * x ** 0.5 + x ** -1 + y ** -2.5 + (x * y) ** 1.5


def variable_exponents(x, y):
    return x ** y + 2.0 ** y + y ** (x * y) + (x + y) ** (x - y)


def unary_minus(x, y):
    return -x * -y - (-x) ** 2 + -(x - y) + -(-x) - -2.0 * y + +x


def unary_minus_twin(x, y):                  # autograd's boxes have no unary +
    return -x * -y - (-x) ** 2 + -(x - y) + -(-x) - -2.0 * y + x


def abs_min_max(x, y):
    return abs(x - y) * max(x, y) + min(x * y, 0.5) - abs(y) + max(-x, y * y) * min(y, x)


def modulo(x, y):
    return (x * 3.0) % y + x % 0.75


# --- special functions, math.* and np.* spellings ------------------------------------------

def trig_math(x, y):
    return math.sin(x) * math.cos(y) + math.tan(x * y) - math.cos(x) / (2.0 + math.sin(y))


def trig_np(x, y):
    return np.sin(x) * np.cos(y) + np.tan(x * y) - np.cos(x) / (2.0 + np.sin(y))


def trig_twin(x, y):
    return anp.sin(x) * anp.cos(y) + anp.tan(x * y) - anp.cos(x) / (2.0 + anp.sin(y))


def inverse_trig_math(x, y):
    return math.asin(x) + math.acos(y * x) + math.atan(x / y) + math.atan2(x, y) * math.atan2(y - 1.0, x)


def inverse_trig_np(x, y):
    return np.arcsin(x) + np.arccos(y * x) + np.arctan(x / y) + np.arctan2(x, y) * np.arctan2(y - 1.0, x)


def inverse_trig_twin(x, y):
    return anp.arcsin(x) + anp.arccos(y * x) + anp.arctan(x / y) + anp.arctan2(x, y) * anp.arctan2(y - 1.0, x)


def hyperbolic_math(x, y):
    return math.sinh(x) * math.cosh(y) - math.tanh(x * y) + math.cosh(x - y)


def hyperbolic_np(x, y):
    return np.sinh(x) * np.cosh(y) - np.tanh(x * y) + np.cosh(x - y)


def hyperbolic_twin(x, y):
    return anp.sinh(x) * anp.cosh(y) - anp.tanh(x * y) + anp.cosh(x - y)


def exp_log_math(x, y):
    return (math.exp(x * y) + math.log(x) * math.log1p(y) - math.expm1(-x)
            + math.sqrt(x + y) * math.pow(x, y) + math.hypot(x, y * 2.0))


def exp_log_np(x, y):
    return (np.exp(x * y) + np.log(x) * np.log1p(y) - np.expm1(-x)
            + np.sqrt(x + y) * np.power(x, y) + np.hypot(x, y * 2.0))


def exp_log_twin(x, y):
    return (anp.exp(x * y) + anp.log(x) * anp.log1p(y) - anp.expm1(-x)
            + anp.sqrt(x + y) * anp.power(x, y) + anp.hypot(x, y * 2.0))


def log_bases(x, y):
    return math.log10(x * y) + np.log2(x + y) + np.log10(y) * math.log2(x) + pow(x, y)


def log_bases_twin(x, y):
    return anp.log10(x * y) + anp.log2(x + y) + anp.log10(y) * anp.log2(x) + anp.power(x, y)


def nested_calls(x):
    return math.sin(math.exp(math.cos(x)) * np.sqrt(1.0 + x * x)) + math.log(math.cosh(x))


def nested_calls_twin(x):
    return anp.sin(anp.exp(anp.cos(x)) * anp.sqrt(1.0 + x * x)) + anp.log(anp.cosh(x))


# --- names and constants --------------------------------------------------------------------

def constants(x, y):
    return math.pi * x * x + G * y - math.e * x * y + HALF * G * x / math.tau


def reassigned(x, y):
    x = x * 2.0
    x = math.sin(x) + x
    y = y * x
    x = x * y + x
    y = math.exp(-y) + x
    return x * y


def reassigned_twin(x, y):
    x = x * 2.0
    x = anp.sin(x) + x
    y = y * x
    x = x * y + x
    y = anp.exp(-y) + x
    return x * y


def overwritten_result(x, y):
    r = x * y
    r = r * math.sin(r)
    r = r + x
    return r


def overwritten_result_twin(x, y):
    r = x * y
    r = r * anp.sin(r)
    r = r + x
    return r


def augmented(x, y):
    s = 0.0
    s += x * y
    s *= x
    s -= y / x
    s /= 1.0 + y * y
    s **= 2
    return s


def tuple_assignment(x, y):
    a, b = x, y
    a, b = b, a * b
    a, b = a + b, a * a + b
    return a / b + a * x


# --- control flow in expressions ------------------------------------------------------------

def conditional_expression(x, y):
    z = x * y if x > y else x / y
    w = math.sin(x) if z > 0.0 else z * z
    return z * w + (y if y < 1.0 else -y)


def conditional_expression_twin(x, y):
    z = x * y if x > y else x / y
    w = anp.sin(x) if z > 0.0 else z * z
    return z * w + (y if y < 1.0 else -y)


def boolean_conditions(x, y):
    if x > 0.0 and y > 0.0:
        r = x * y
    elif x < -0.5 or y < -0.5:
        r = x + y * y
    else:
        r = x * x - y
    if not (x > 0.9 or y > 0.9) and x * y < 0.5:
        r = r * 2.0
    t = x if 0.0 < x < 0.5 else y
    return r + t * x


def early_return(x, y):
    if x > y:
        return x * x * y
    z = y - x
    if z > 0.5:
        return z * math.sin(x)
    return z + x * y


def early_return_twin(x, y):
    if x > y:
        return x * x * y
    z = y - x
    if z > 0.5:
        return z * anp.sin(x)
    return z + x * y


# --- several arguments ----------------------------------------------------------------------

def three_args(x, y, z):
    return x * y * z + math.sin(x * z) - y / z


def three_args_twin(x, y, z):
    return x * y * z + anp.sin(x * z) - y / z


def integer_argument(x, n):
    return x ** n + n * x + x / n


def power_loop(x, n):
    r = 1.0
    for i in range(n):
        r = r * x + 1.0 / (i + 1)
    return r


# --- sequences and arrays -------------------------------------------------------------------

def indexed(x):
    return x[0] * x[1] + math.sin(x[2]) / x[0] - x[1] * x[1] * x[2]


def indexed_twin(x):
    return x[0] * x[1] + anp.sin(x[2]) / x[0] - x[1] * x[1] * x[2]


def unpack_and_scalar(v, s):
    p, q, r = v
    return (p * s + q) * r - s * s * q


def rosenbrock(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] * x[i]) ** 2 + (1.0 - x[i]) ** 2
    return total


def horner(c, x):
    r = 0.0
    for i in range(len(c)):
        r = r * x + c[i]
    return r


def while_loop(x):
    y = x
    k = 0
    while k < 4:
        y = y * math.cos(y) + x
        k = k + 1
    return y


def while_loop_twin(x):
    y = x
    k = 0
    while k < 4:
        y = y * anp.cos(y) + x
        k = k + 1
    return y


# --- helpers and user rules -----------------------------------------------------------------

def squared_plus(u, v):
    w = u * u
    return w + v


def uses_helper(x, y):
    return squared_plus(x, y) * squared_plus(y, x) - squared_plus(x * y, 1.0)


def softplus(x):
    return math.log1p(math.exp(x))


@adjoint.rule(softplus)
def d_softplus(x):
    return 1.0 / (1.0 + math.exp(-x))


def uses_softplus(x, y):
    return softplus(x * y) + softplus(x) * y


def softplus_twin(x):
    return anp.log1p(anp.exp(x))


def uses_softplus_twin(x, y):
    return softplus_twin(x * y) + softplus_twin(x) * y


def inner_helper(u):
    v = u * u
    return v + 1.0


def outer_helper(u):
    v = inner_helper(u) * u
    return inner_helper(v)


def nested_helpers(x, y):
    v = x * y
    return outer_helper(v) + v * inner_helper(x)


def lerp(a, b, t):
    return a + (b - a) * t


@adjoint.rule(lerp)
def d_lerp(a, b, t):
    return 1.0 - t, t, b - a


def scaled_exp(x):
    return 2.0 * math.exp(x)


@adjoint.rule(scaled_exp)
def d_scaled_exp(x, out):
    return out


def uses_user_rules(x, y):
    return lerp(x, y * y, x * y) * scaled_exp(x - y)


def uses_user_rules_twin(x, y):
    return (x + (y * y - x) * (x * y)) * (2.0 * anp.exp(x - y))


def integer_valued(x, n):
    m = n // 2 + n % 3
    return math.floor(x) * x + x ** m * (n - m) + (x > 0.0) * x * x + x // 0.5


def integer_valued_twin(x, n):
    m = n // 2 + n % 3
    return anp.floor(x) * x + x ** m * (n - m) + (x > 0.0) * x * x + anp.floor(x / 0.5)


# --- the corpus -----------------------------------------------------------------------------

UNIT = Scalar(-1.0, 1.0)
POS = Scalar(0.3, 2.0)


CORPUS = [
    Case(f4, (Vector(4, -2.0, 2.0),)),
    Case(f4_expression, (Vector(4, -2.0, 2.0),)),
    Case(nested, (UNIT, UNIT), wrt=(0, 1)),
    Case(divisions, (Scalar(-1.0, 2.0), POS), wrt=(0, 1)),
    Case(constant_exponents, (POS, POS), wrt=(0, 1)),
    Case(variable_exponents, (Scalar(1.1, 2.0), Scalar(0.3, 1.0)), wrt=(0, 1)),
    Case(unary_minus, (UNIT, UNIT), wrt=(0, 1), twin=unary_minus_twin),
    Case(abs_min_max, (UNIT, UNIT), wrt=(0, 1)),
    Case(modulo, (POS, Scalar(0.6, 1.4)), wrt=(0, 1)),
    Case(trig_math, (UNIT, UNIT), wrt=(0, 1), twin=trig_twin),
    Case(trig_np, (UNIT, UNIT), wrt=(0, 1), twin=trig_twin),
    Case(inverse_trig_math, (Scalar(-0.9, 0.9), Scalar(0.2, 0.9)), wrt=(0, 1), twin=inverse_trig_twin),
    Case(inverse_trig_np, (Scalar(-0.9, 0.9), Scalar(0.2, 0.9)), wrt=(0, 1), twin=inverse_trig_twin),
    Case(hyperbolic_math, (UNIT, UNIT), wrt=(0, 1), twin=hyperbolic_twin),
    Case(hyperbolic_np, (UNIT, UNIT), wrt=(0, 1), twin=hyperbolic_twin),
    Case(exp_log_math, (POS, POS), wrt=(0, 1), twin=exp_log_twin),
    Case(exp_log_np, (POS, POS), wrt=(0, 1), twin=exp_log_twin),
    Case(log_bases, (POS, POS), wrt=(0, 1), twin=log_bases_twin),
    Case(nested_calls, (Scalar(-1.5, 1.5),), twin=nested_calls_twin),
    Case(constants, (UNIT, UNIT), wrt=(0, 1)),
    Case(reassigned, (UNIT, UNIT), wrt=(0, 1), twin=reassigned_twin),
    Case(overwritten_result, (UNIT, UNIT), wrt=(0, 1), twin=overwritten_result_twin),
    Case(augmented, (POS, UNIT), wrt=(0, 1)),
    Case(tuple_assignment, (POS, POS), wrt=(0, 1)),
    Case(conditional_expression, (Scalar(-1.0, 2.0), Scalar(0.5, 1.5)), wrt=(0, 1),
         twin=conditional_expression_twin),
    Case(boolean_conditions, (UNIT, UNIT), wrt=(0, 1)),
    Case(early_return, (UNIT, UNIT), wrt=(0, 1), twin=early_return_twin),
    Case(three_args, (UNIT, UNIT, POS), wrt=(0, 1, 2), twin=three_args_twin),
    Case(three_args, (UNIT, UNIT, POS), wrt=("z", "x"), twin=three_args_twin),
    Case(integer_argument, (POS, Fixed(3))),
    Case(power_loop, (UNIT, Fixed(5))),
    Case(indexed, (Vector(3, 0.5, 1.5),), twin=indexed_twin),
    Case(unpack_and_scalar, (Vector(3, -1.0, 1.0), UNIT), wrt=(0, 1)),
    Case(rosenbrock, (Vector(5, -1.5, 1.5),)),
    Case(horner, (Vector(4, -1.0, 1.0), UNIT), wrt=("c", "x")),
    Case(while_loop, (UNIT,), twin=while_loop_twin),
    Case(uses_helper, (UNIT, UNIT), wrt=(0, 1)),
    Case(uses_softplus, (UNIT, UNIT), wrt=(0, 1), twin=uses_softplus_twin),
    Case(nested_helpers, (UNIT, UNIT), wrt=(0, 1)),
    Case(uses_user_rules, (UNIT, UNIT), wrt=(0, 1), twin=uses_user_rules_twin),
    Case(integer_valued, (Scalar(-1.9, 1.9), Fixed(7)), twin=integer_valued_twin),
]

# Functions the emitted module calls by name (user-registered rules): exec needs them.
USER_FUNCTIONS = {"softplus": softplus, "lerp": lerp, "scaled_exp": scaled_exp}


def case_id(case: Case) -> str:
    wrt = case.wrt if isinstance(case.wrt, tuple) else (case.wrt,)
    return f"{case.name}-wrt_{'_'.join(map(str, wrt))}"


BY_NAME = {case.name: case for case in CORPUS}


# --- known compiler bugs (tested as strict xfails in test_corpus.py) --------------------------

def min_of_three(x, y, z):
    return min(x, y, z) + max(x * 2.0, y, z)


def hypot_of_three(x, y, z):
    return math.hypot(x, y, z)


def log_with_base(x):
    return math.log(x, 2.0) + math.log(x * x, 10.0)


def self_assignment(x):
    x = x
    return x * x


FIXED_BUGS = [
    Case(min_of_three, (Fixed(3.0), Fixed(2.0), Fixed(1.0)), wrt=(0, 1, 2)),
    Case(hypot_of_three, (Fixed(1.0), Fixed(2.0), Fixed(2.0)), wrt=(0, 1, 2)),
    Case(log_with_base, (Fixed(1.7),)),
    Case(self_assignment, (Fixed(3.0),)),
]

KNOWN_BUGS: list = []          # (case, reason) pairs for compiler bugs not yet fixed

# Reported cases whose right answer is a clean rejection when the gradient is built: the case's
# name -> a fragment the AdjointError's message must contain. Every other case of FIXED_BUGS
# must differentiate and match central differences (an AdjointError fails it).
REJECTED: dict = {}
