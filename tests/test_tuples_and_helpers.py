"""Tuples, helpers that return them, local functions, numba helpers and small literal lists
(issue #17, items 7 and 8), on programs written the way people write them.

Every gradient is checked against central finite differences of the plain Python function
(tests/oracles.py) and, where autograd runs the same source, against autograd; a few compile
for the cpu target as well.
"""

from __future__ import annotations

import math
import re

import numba
import numpy as np
import pytest

import adjoint
from adjoint import AdjointError
from tests.oracles import autograd_gradient, finite_difference

# programs -----------------------------------------------------------------------------------

STEPS = 30


def pendulum_rhs(theta, omega, g, damping):
    return omega, -g * math.sin(theta) - damping * omega


def pendulum_rk4(theta0, omega0, g, damping):
    """Classical RK4 with a right-hand side returning the state's derivatives as a tuple."""
    h = 0.05
    theta, omega = theta0, omega0
    for _ in range(STEPS):
        k1t, k1w = pendulum_rhs(theta, omega, g, damping)
        k2t, k2w = pendulum_rhs(theta + 0.5 * h * k1t, omega + 0.5 * h * k1w, g, damping)
        k3t, k3w = pendulum_rhs(theta + 0.5 * h * k2t, omega + 0.5 * h * k2w, g, damping)
        k4t, k4w = pendulum_rhs(theta + h * k3t, omega + h * k3w, g, damping)
        theta, omega = (theta + h / 6.0 * (k1t + 2.0 * k2t + 2.0 * k3t + k4t),
                        omega + h / 6.0 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w))
    return theta * theta + 0.1 * omega * omega


def euler_step(state, params, h):
    """A step on a state tuple, returning the new tuple (a helper taking a tuple)."""
    x, v = state
    k, c = params
    return x + h * v, v - h * (k * x + c * v)


def oscillator_energy(x0, v0, k, c):
    state = (x0, v0)
    params = k, c
    for _ in range(20):
        state = euler_step(state, params, 0.1)
    x, v = state
    return 0.5 * k * x * x + 0.5 * v * v


def fibonacci_like(a, b):
    for _ in range(6):
        a, b = b, a + 0.5 * b * math.tanh(a)
    return a * b


def polar(x, y):
    r = math.hypot(x, y)
    if r == 0.0:
        return 0.0, 0.0                   # early return of a tuple
    return r, math.atan2(y, x)


def polar_objective(x, y):
    r, phi = polar(x, y)
    return r * math.cos(2.0 * phi)


def stats(v):
    mean = np.sum(v) / len(v)
    centred = v - mean
    return (mean, np.sum(centred * centred)), np.max(v)


def nested_tuple_objective(v):
    (mean, ss), top = stats(v)
    return mean * ss + top


def lstm_cell(hidden, cell, x, w):
    gates = np.tanh(w[0] * x + w[1] * hidden)
    cell = cell * gates + (1.0 - gates) * x
    return np.tanh(cell) * w[2], cell


def lstm_like(w, xs):
    hidden = np.zeros(xs.shape[1])
    cell = np.zeros(xs.shape[1])
    for t in range(xs.shape[0]):
        hidden, cell = lstm_cell(hidden, cell, xs[t], w)
    return np.sum(hidden * hidden) + np.sum(cell)


def closure_model(w, xs, ys):
    """A nested model closing over the weights, and a named lambda for the loss."""
    def model(x):
        return w[0] * x + w[1] * x * x + w[2]

    sq = lambda r: r * r  # noqa: E731
    total = 0.0
    for i in range(len(xs)):
        total += sq(model(xs[i]) - ys[i])
    return total / len(xs)


def nested_def_with_default(a, b):
    def scaled(v, factor=2.0):
        u = v * factor                   # a local of its own
        return u + b

    return scaled(a) * scaled(b, factor=0.5)


@numba.njit
def numba_softplus(x):
    return math.log(1.0 + math.exp(x))


@numba.njit
def numba_pair(x, y):
    return x * y, x - y


def uses_numba_helpers(x, y):
    p, q = numba_pair(x, y)
    return numba_softplus(p) * q


def list_small_array(a, b, c):
    v = [a, b * b, c]
    w = [1.0, 2.0, 3.0]
    v[0] = v[0] * v[2]
    return v[0] * w[1] + v[1] * v[-1] + len(v)


def matrix_literal(a, b, c, d):
    A = np.array([[a, b], [c, d]])
    P = np.array([[1.0, 0.5], [0.0, 1.0]])
    M = P @ A @ P.T
    return np.sum(M * M) + M[0, 1]


def determinant_and_weights(a, b, c, d):
    A = np.array([[a, b], [c, d]])
    W = np.array([[1.0, 0.5], [0.0, 2.0]])
    return A[0, 0] * A[1, 1] - A[0, 1] * A[1, 0] + np.sum(W[1] * A[0] * A[1])


def vector_from_tuple(a, b):
    x = (a, b, a * b)
    return np.sum(np.array(x) ** 2) + np.sum([a, 1.0, b])


def dynamic_index(a, b, c, i):
    x = a, b, c
    return x[i] * x[(i + 1) % 3]


def swap_in_loop(x, y):
    for _ in range(3):
        x, y = y, x * y + 1.0
    return x - y


def row_assignment(a, b):
    M = np.zeros((2, 2))
    M[0] = (a, b)
    M[1] = [b, a * a]
    return np.sum(M @ M)


def discounted_returns(log_probs, rewards, gamma):
    """REINFORCE's returns, the list grown from the front as in PyTorch's examples."""
    returns = []
    G = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        G = rewards[t] + gamma * G
        returns.insert(0, G)
    returns = np.array(returns)
    return -np.sum(log_probs * (returns - np.mean(returns)))


def kept_squares(x, w):
    """A list appended to in a branch (its length known only at run time), then summed."""
    kept = []
    for i in range(0, len(x), 2):
        if x[i] * w > 0.0:
            kept.append(math.tanh(x[i] * w))
    return np.sum(np.array(kept) ** 2) + len(kept)


def helper_with_closure(u, w):
    scale = w * 2.0

    def inner(v):
        return v * scale                # the helper's scale, not the caller's

    if u > 100.0:
        return 0.0
    return inner(u) + inner(w)


def calls_helper_with_closure(x, y):
    scale = 100.0
    return helper_with_closure(x, y) + scale


def stack_in_straight_code(a, b):
    """A list as a stack (Tangent's push/pop idiom), and a name that is a list for a while."""
    stack = []
    stack.append(a * b)
    stack.append(b)
    stack.insert(0, a)
    top = stack.pop()
    x = [a, top]
    x = stack.pop() * top + x[0]
    stack.extend([x, a])
    return stack[0] * stack[-1] + x + len(stack)


def ordered_gap(a, b):
    lo, hi = (a, b) if a < b else (b, a)
    return hi * hi - 2.0 * lo


def _scale_first(v):
    v[0] = 5.0 * v[1]                   # writes into the caller's list, as Python does
    return v[0] * v[1]


def helper_writes_a_named_list(a):
    w = [a, 2.0 * a]
    r = _scale_first(w)
    return r + w[0]


def helper_writes_a_literal_list(a):
    return _scale_first([a, 2.0 * a]) + a


def subscript_targets(x):
    y = np.zeros(3)
    y[0], y[2] = x[1] * x[2], x[0]
    return np.sum(y * y) + y[0]


# (function, arguments, indices to differentiate, autograd can run it)
CASES = {
    "pendulum_rk4": (pendulum_rk4, (0.8, 0.1, 9.81, 0.3), (0, 1, 2, 3), True),
    "oscillator_energy": (oscillator_energy, (1.0, 0.2, 2.0, 0.1), (0, 1, 2, 3), True),
    "fibonacci_like": (fibonacci_like, (0.3, 0.7), (0, 1), True),
    "polar_objective": (polar_objective, (0.6, -0.8), (0, 1), True),
    "nested_tuple_objective": (nested_tuple_objective, (np.array([0.3, -1.2, 2.0, 0.5]),), (0,), True),
    "lstm_like": (lstm_like, (np.array([[0.5, -0.3, 0.8], [0.2, 0.1, -0.4], [1.1, 0.6, 0.9]]),
                              np.array([[0.1, 0.2, 0.3], [-0.5, 0.4, 0.0]])), (0,), True),
    "closure_model": (closure_model, (np.array([0.5, -0.2, 0.1]), np.linspace(-1.0, 1.0, 5),
                                      np.array([0.3, 0.1, 0.0, 0.4, 1.2])), (0,), True),
    "nested_def_with_default": (nested_def_with_default, (0.7, -1.3), (0, 1), True),
    "uses_numba_helpers": (uses_numba_helpers, (0.4, 1.7), (0, 1), False),
    "list_small_array": (list_small_array, (0.4, 1.7, -0.6), (0, 1, 2), True),
    "matrix_literal": (matrix_literal, (0.4, 1.7, -0.6, 0.9), (0, 1, 2, 3), True),
    "determinant_and_weights": (determinant_and_weights, (0.4, 1.7, -0.6, 0.9), (0, 1, 2, 3), True),
    "vector_from_tuple": (vector_from_tuple, (0.4, 1.7), (0, 1), True),
    "dynamic_index": (dynamic_index, (0.4, 1.7, -0.6, 2), (0, 1, 2), True),
    "swap_in_loop": (swap_in_loop, (0.4, 0.9), (0, 1), True),
    "row_assignment": (row_assignment, (0.4, 1.7), (0, 1), False),
    "discounted_returns": (discounted_returns, (np.array([0.1, -0.3, 0.5, 0.2]), np.array([1.0, 0.5, 2.0, -1.0]),
                                                0.9), (0, 1, 2), False),
    "kept_squares": (kept_squares, (np.array([0.1, -0.3, 0.5, 0.2, -0.7]), 1.3), (0, 1), False),
    "calls_helper_with_closure": (calls_helper_with_closure, (0.7, 0.4), (0, 1), True),
    "stack_in_straight_code": (stack_in_straight_code, (0.4, 1.7), (0, 1), True),
    "ordered_gap_low_first": (ordered_gap, (0.2, 0.7), (0, 1), True),
    "ordered_gap_high_first": (ordered_gap, (0.7, 0.2), (0, 1), True),
    "helper_writes_a_named_list": (helper_writes_a_named_list, (0.7,), (0,), False),
    "helper_writes_a_literal_list": (helper_writes_a_literal_list, (0.7,), (0,), False),
    "subscript_targets": (subscript_targets, (np.array([0.4, 1.7, -0.6]),), (0,), False),
}


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_finite_differences_and_autograd(name):
    fn, args, wrt, autograd_runs = CASES[name]
    got = _as_tuple(adjoint.grad(fn, wrt=wrt, target="python")(*args))
    for index, g in zip(wrt, got):
        want = finite_difference(fn, args, index)
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)
        if autograd_runs:
            np.testing.assert_allclose(g, autograd_gradient(fn, args, index), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ["pendulum_rk4", "closure_model", "vector_from_tuple", "uses_numba_helpers",
                                  "dynamic_index"])
def test_cpu_target(name):
    fn, args, wrt, _ = CASES[name]
    got = _as_tuple(adjoint.grad(fn, wrt=wrt, target="cpu")(*args))
    for index, g in zip(wrt, got):
        np.testing.assert_allclose(g, finite_difference(fn, args, index), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["pendulum_rk4", "stack_in_straight_code", "matrix_literal", "dynamic_index",
                                  "ordered_gap_high_first", "helper_writes_a_named_list", "kept_squares",
                                  "discounted_returns", "closure_model"])
def test_forward_mode_matches_finite_differences(name):
    fn, args, wrt, _ = CASES[name]
    got = _as_tuple(adjoint.grad(fn, wrt=wrt, target="python", mode="forward")(*args))
    for index, g in zip(wrt, got):
        np.testing.assert_allclose(g, finite_difference(fn, args, index), rtol=1e-5, atol=1e-6)


def test_emitted_code_has_no_tuples_of_the_helper():
    source = adjoint.source(pendulum_rk4, wrt=(0, 1))
    assert "pendulum_rhs_result" not in source          # the elements go straight to k1t, k1w
    assert "k1t = omega" in source and "s_k1w" in source


def test_forward_mode_and_elements_of_a_list():
    jvp = adjoint.jvp(list_small_array, 0, target="python")
    value, tangent = jvp(0.4, 1.7, -0.6, 1.0)
    assert value == pytest.approx(list_small_array(0.4, 1.7, -0.6))
    assert tangent == pytest.approx(finite_difference(list_small_array, (0.4, 1.7, -0.6), 0), rel=1e-6)


# what stays unsupported: located errors whose hints work -------------------------------------


def grows_a_list(rewards, gamma):
    returns = [0.0]
    for t in range(len(rewards) - 1, -1, -1):
        returns.insert(0, rewards[t] + gamma * returns[0])      # read while it grows
    return np.sum(np.array(returns))


def grows_an_array(rewards, gamma):                  # the hint's rewrite
    returns = np.zeros(len(rewards))
    G = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        G = rewards[t] + gamma * G
        returns[t] = G
    return np.sum(returns)


def returns_two(x):
    return x[0] * x[1], x[0] + x[1]


def returns_an_array(x):                              # the hint's rewrite
    return np.array([x[0] * x[1], x[0] + x[1]])


def list_arithmetic(a):
    v = [a, 2.0]
    w = v * 2
    return w[0]


def tuple_and_number(a):
    v = (a, a)
    for i in range(2):
        v = a * 2.0 + i         # (in straight-line code a name may change so, not in a loop)
    return v


def written_at_a_run_time_index(a, i):
    v = [a, 2.0 * a]
    v[i] = 3.0
    return v[0] + v[1]


def stack_in_a_loop(a):
    s = [a]
    for i in range(2):
        s.append(s[-1] * a)          # read while it grows (a list that only grows is an array)
    return s[0]


def _appends_one(v):
    v.append(1.0)
    return v[0]


def helper_appends_to_a_list(a):
    w = [a]
    return _appends_one(w) + len(w)


def two_names_of_one_list(a):
    w = [a, 2.0]
    u = w
    u[0] = 5.0
    return w[0] * a


def two_names_of_one_list_rewritten(a):                  # the hint's rewrite
    w = [a, 2.0]
    u = [w[0], w[1]]
    u[0] = 5.0
    return w[0] * a + u[0]


def def_in_a_loop(a):
    for i in range(2):
        def g(v):
            return v * a  # noqa: B023
        a = g(a)
    return a


def test_a_growing_list_is_refused_with_a_rewrite_that_works():
    with pytest.raises(AdjointError) as info:
        adjoint.grad(grows_a_list, target="python")
    assert "returns.insert(...)" in info.value.message and info.value.location.line > 0
    assert "returns = np.zeros(n)" in info.value.hint and "returns[k] = ..." in info.value.hint
    rewards = np.array([1.0, -0.5, 2.0, 0.3])
    got = adjoint.grad(grows_an_array, target="python")(rewards, 0.9)
    np.testing.assert_allclose(got, finite_difference(grows_an_array, (rewards, 0.9), 0), rtol=1e-6)


def test_returning_a_tuple_suggests_an_array_and_jacobian_which_work():
    with pytest.raises(AdjointError) as info:
        adjoint.grad(returns_two, target="python")
    assert "returns a tuple of 2 values" in info.value.message
    assert "np.array([a, b])" in info.value.hint and "adjoint.jacobian" in info.value.hint
    x = np.array([0.5, 2.0])
    J = adjoint.jacobian(returns_an_array, target="python")(x)
    np.testing.assert_allclose(J, [[2.0, 0.5], [1.0, 1.0]])


@pytest.mark.parametrize("fn, message, hint", [
    (list_arithmetic, "a list of 2 values is used here as a number or an array", "np.array([...])"),
    (tuple_and_number, "`v` is a tuple of 2 values in one place and a number or an array in another",
     "a name of its own"),
    (written_at_a_run_time_index, "an element written must have a constant index", "v = np.array([...])"),
    (stack_in_a_loop, "changing a list in place (`s.append(...)`) is not supported", "s = np.zeros(n)"),
    (helper_appends_to_a_list, "_appends_one() changes the list passed as `v`", "return the new list"),
    (two_names_of_one_list, "`u` and `w` are one list here", "u = [w[0], w[1], ...]"),
    (def_in_a_loop, "unsupported statement: nested function definition (def)", "top level of the function's body"),
])
def test_unsupported_uses_are_located_errors(fn, message, hint):
    with pytest.raises(AdjointError) as info:
        adjoint.grad(fn, target="python")
    error = info.value
    assert message in error.message and hint in error.hint
    assert error.location is not None and error.location.line > fn.__code__.co_firstlineno
    assert "Tuple" not in str(error) and "FunctionDef" not in str(error)


def test_the_hint_for_two_names_of_one_list_works():
    got = adjoint.grad(two_names_of_one_list_rewritten, target="python")(0.7)
    assert got == pytest.approx(finite_difference(two_names_of_one_list_rewritten, (0.7,), 0), rel=1e-6)


# map over literal sequences, sum of a literal, lambdas (autograd's hmm_em.py:
# `list(map(np.log, (pi, A, B)))`; gaussian_process.py: `objective = lambda params: ...`) -------

def _squared(v):
    return v * v


def log_of_each(a, b, c):
    la, lb, lc = map(np.log, (a, b, c))
    logs = list(map(np.log, [a, b]))
    return la * lb + lc + logs[0] * logs[1]


def mapped_helper_summed(a, b):
    return sum(list(map(_squared, (a, b, a * b)))) + sum((a, b), 1.0)


def mapped_pairs(a, b):
    return sum(tuple(map(math.atan2, (a, b), (b, a * a))))


def mapped_named_lambda(a, b):
    twice = lambda v: 2.0 * v * v  # noqa: E731
    return sum(map(twice, (a, b)))


def mapped_over_a_name(a, b):
    vs = (a, b)
    return sum(list(map(_squared, vs)))


def mapped_inline_lambda(a, b):
    return sum(map(lambda v: v * 2.0 * a, (a, b)))


def lambda_called_where_written(a, b):
    return (lambda v: v * 2.0)(a) + b


@pytest.mark.parametrize("fn", [log_of_each, mapped_helper_summed, mapped_pairs, mapped_named_lambda,
                                mapped_inline_lambda], ids=lambda f: f.__name__)
def test_map_over_literal_sequences(fn):
    args = (0.7, 1.3, 0.4)[:fn.__code__.co_argcount]
    got = adjoint.grad(fn, wrt=tuple(range(len(args))), target="python")(*args)
    for k, g in enumerate(got):
        assert g == pytest.approx(finite_difference(fn, args, k), rel=1e-6)
        if fn is not mapped_pairs:                  # (the twin's math has no atan2)
            assert g == pytest.approx(autograd_gradient(fn, args, k), rel=1e-10)


@pytest.mark.parametrize("fn, message, follow", [
    (mapped_over_a_name, "supported here only as list(map(f, (a, b)))", mapped_helper_summed),
    (lambda_called_where_written, "a lambda called where it is written", mapped_named_lambda)],
    ids=["name", "lambda"])
def test_map_that_is_not_written_out_names_the_rewrite(fn, message, follow):
    with pytest.raises(AdjointError, match=re.escape(message)) as info:
        adjoint.grad(fn, wrt=(0, 1), target="python")(0.7, 1.3)
    assert "hint: " in str(info.value)
    assert adjoint.grad(follow, wrt=(0, 1), target="python")(0.7, 1.3)     # the hint's form runs


def _loglik(params, x):
    return -np.sum((x - params[0]) ** 2) * np.exp(-params[1])


LAMBDA_DATA = np.array([0.3, -0.4, 1.1])
objective = lambda params: -_loglik(params, LAMBDA_DATA)  # noqa: E731
scaled, shifted = (lambda p: 3.0 * np.sum(p ** 2)), (lambda p: np.sum(np.sin(p + 1.0)))


@pytest.mark.parametrize("fn", [objective, scaled, shifted], ids=["objective", "scaled", "shifted"])
def test_a_lambda_differentiates_like_the_def_it_stands_for(fn):
    p = np.array([0.2, -0.5])
    got = adjoint.grad(fn, target="python")(p)
    np.testing.assert_allclose(got, finite_difference(fn, (p,), 0), rtol=1e-6)
    np.testing.assert_allclose(got, autograd_gradient(fn, (p,), 0), rtol=1e-10)
    assert "def grad_" + ("objective" if fn is objective else "lambda_") in adjoint.grad(fn, target="python").source_for(p)


def test_two_lambdas_on_one_line_have_two_cache_keys():
    """The cpu target's cache keyed both by the line's source: one got the other's gradient."""
    from adjoint.api import cache
    from adjoint.options import Options
    keys = {cache.key(fn, Options(), explicit=False, target="cpu") for fn in (scaled, shifted)}
    assert len(keys) == 2 and None not in keys


# a list that starts with elements and grows by append, of arrays too (autograd's rnn.py:
# output = [first]; for ...: output.append(...); ode_net's states), and helpers taking *args ----

STATE0 = np.array([0.5, -0.3])


def euler_states(A, y0):
    ys = [y0]
    y = y0
    for k in range(4):
        y = y + 0.1 * np.tanh(A @ y)
        ys.append(y)
    return np.sum(np.stack(ys) ** 2)


def outputs_read_through_an_alias(A, y0):
    output = [np.tanh(y0)]
    y = y0
    for k in range(3):
        y = A @ y
        output.append(np.sin(y))
    logprobs = output
    total = 0.0
    for t in range(4):
        total += np.sum(logprobs[t] * (t + 1.0))
    return total + np.sum(sum(output))


def first_rebound_before_the_loop(A, y0):
    y = y0 * 2.0
    ys = [y]
    y = A @ y                         # the list holds the old y
    for k in range(2):
        ys.append(y * k)
    return np.sum(np.array(ys) ** 3)


def numbers_after_a_first(A, y0):
    v = [y0[0]]
    for i in range(2):
        if A[i, 0] > -10.0:
            v.append(A[i, 1] * y0[1])
    return np.sum(np.array(v) ** 2)


def _concat_and_multiply(weights, *args):
    cat_state = np.hstack(args + (np.ones((args[0].shape[0], 1)),))
    return np.dot(cat_state, weights)


def _added(*terms):
    total = 0.0
    for term in terms:
        total = total + term
    return total


def star_args_helpers(A, y0):
    X = np.outer(y0, y0)
    return np.sum(np.tanh(_concat_and_multiply(A, X, X * 2.0))) + _added(np.sum(A), y0[0] * y0[1], 1.0)


GROWN = [euler_states, outputs_read_through_an_alias, first_rebound_before_the_loop, numbers_after_a_first]


@pytest.mark.parametrize("fn", GROWN + [star_args_helpers], ids=lambda f: f.__name__)
def test_lists_that_start_with_elements_and_helpers_with_star_args(fn):
    A = np.array([[0.3, -0.5], [0.8, 0.2]]) if fn is not star_args_helpers else \
        np.random.default_rng(3).normal(size=(5, 2))
    args = (A, STATE0)
    got = adjoint.grad(fn, wrt=(0, 1), target="python")(*args)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(fn, args, k), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(g, autograd_gradient(fn, args, k), rtol=1e-10, atol=1e-12)

# (its cpu compile: tests/test_numpy_functions.py's test_grids_and_repeats_compile_for_the_cpu)


# a helper taking the function it calls (`rk4(f, y, h)`, as odeint(f, y0, t) is called) --------

def _twice_applied(f, x):
    return f(f(x) * 0.5)


def _rate(x):
    return np.tanh(x) * x


def passes_a_module_function(x):
    return np.sum(_twice_applied(_rate, x))


def passes_a_numpy_function(x):
    return np.sum(_twice_applied(np.sin, x))


def passes_a_local_def_and_a_lambda(x):
    scale = x[0]

    def scaled(v):
        return v * scale

    return np.sum(_twice_applied(scaled, x)) + np.sum(_twice_applied(lambda v: np.exp(v * scale), x))


@pytest.mark.parametrize("fn", [passes_a_module_function, passes_a_numpy_function, passes_a_local_def_and_a_lambda],
                         ids=lambda f: f.__name__)
def test_a_function_passed_to_a_helper_is_called_there(fn):
    x = np.array([0.4, -0.3, 0.9])
    got = adjoint.grad(fn, target="python")(x)
    np.testing.assert_allclose(got, finite_difference(fn, (x,), 0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got, autograd_gradient(fn, (x,), 0), rtol=1e-10, atol=1e-12)
