"""Default parameter values, keyword arguments, and data read from module globals and
closure cells (issue #17, items 1 and 2), on programs written the way people write them.

Every gradient is checked against central finite differences of the plain Python function
(tests/oracles.py) and, where autograd runs the same source, against autograd.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import adjoint
from adjoint import AdjointError
from adjoint.errors import AdjointArgumentError
from tests.conftest import needs_cuda
from tests.oracles import finite_difference

TARGETS = ("python", "cpu")

_rng = np.random.default_rng(20261204)
T = np.linspace(0.0, 2.0, 7)                  # sample times of a polynomial fit
X_DATA = _rng.normal(size=(9, 3))             # a design matrix, as np.loadtxt would give
Y_DATA = X_DATA @ np.array([0.5, -1.0, 2.0]) + 0.1 * _rng.normal(size=9)
CHANGING = np.array([1.0, 2.0, 3.0])          # a global array the tests change between calls


# programs -----------------------------------------------------------------------------------

def polynomial_fit(a, b):
    return np.sum((a * T + b * T * T) ** 2)


def least_squares(w):
    r = X_DATA @ w - Y_DATA
    return np.sum(r * r) / len(Y_DATA)


def least_squares_loops(w):
    total = 0.0
    for i in range(X_DATA.shape[0]):
        prediction = 0.0
        for j in range(X_DATA.shape[1]):
            prediction = prediction + X_DATA[i, j] * w[j]
        total = total + (prediction - Y_DATA[i]) ** 2
    return total


def make_loss(X, y):
    def loss(w):
        r = np.dot(X, w) - y
        return 0.5 * np.sum(r * r)
    return loss


def make_weighted_loss(X, y, weight):
    def loss(w):
        total = 0.0
        for i in range(X.shape[0]):
            p = 0.0
            for j in range(X.shape[1]):
                p = p + X[i, j] * w[j]
            total = total + weight * (p - y[i]) ** 2
        return total
    return loss


def _l1(w, lam=1.0):
    return lam * np.sum(np.abs(w))


def _l2(w, lam=1.0):
    return lam * np.sum(w * w)


def elastic_net(w, lam1=0.1, lam2=0.01):
    r = X_DATA @ w - Y_DATA
    return np.mean(r * r) + _l1(w, lam=lam1) + _l2(w, lam2)


def damped_oscillator(k, x0=1.0, dt=0.05, steps=100):
    x = x0
    v = 0.0
    for i in range(steps):
        a = -k * x - 0.1 * v
        v = v + dt * a
        x = x + dt * v
    return x


def _huber(r, delta=1.0):
    if abs(r) <= delta:
        return 0.5 * r * r
    return delta * (abs(r) - 0.5 * delta)


def robust_line(p, scale=1.0):
    total = 0.0
    for i in range(len(T)):
        total = total + _huber(p[0] + p[1] * T[i] - scale * T[i] * T[i], delta=0.5)
    return total


def keyword_only_ridge(w, *, lam=0.5):
    r = X_DATA @ w - Y_DATA
    return np.sum(r * r) + lam * np.sum(w * w)


def reads_changing(x):
    return np.sum(np.sin(x * CHANGING))


def with_star_args(x, *rest):
    return x * x * len(rest)            # (an unread *rest is dropped: test_unread_star_parameters_are_dropped)


def with_star_kwargs(x, **options):
    return x * x * len(options)


def calls_helper_with_unknown_keyword(w):
    return _l1(w, strength=2.0)


# oracles ------------------------------------------------------------------------------------

def autograd_twin(f):
    """f run by autograd: np is autograd.numpy in a copy of its globals, and the plain
    functions of its module it may call are rebound to that copy; defaults and closure kept."""
    import autograd.numpy as anp
    scope = dict(f.__globals__)
    scope["np"] = anp
    for name, value in list(scope.items()):
        if isinstance(value, types.FunctionType) and value.__globals__ is f.__globals__:
            scope[name] = _rebound(value, scope)
    return _rebound(f, scope)


def _rebound(f, scope):
    g = types.FunctionType(f.__code__, scope, f.__name__, f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    return g


def autograd_gradient(f, args, wrt, **kwargs):
    import autograd
    return autograd.grad(lambda *a: autograd_twin(f)(*a, **kwargs), wrt)(*args)


def assert_gradient(f, args, computed, wrt=0, autograd_too=True, **kwargs):
    expected = finite_difference(lambda *a: f(*a, **kwargs), args, wrt)
    np.testing.assert_allclose(computed, expected, rtol=1e-5, atol=1e-7)
    if autograd_too:
        np.testing.assert_allclose(computed, autograd_gradient(f, args, wrt, **kwargs), rtol=1e-10, atol=1e-12)


W = np.array([0.3, -0.7, 1.2])


# item 2: module-level and closure data -------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_global_array_in_a_polynomial_fit_gives_float_gradients(target):
    """The issue's silently wrong case: `T` was taken for a number, and the python target
    returned arrays of per-sample terms instead of the gradient."""
    ga, gb = adjoint.grad(polynomial_fit, wrt=(0, 1), target=target)(1.5, -0.5)
    assert isinstance(ga, float) and isinstance(gb, float)
    assert_gradient(polynomial_fit, (1.5, -0.5), ga, wrt=0)
    assert_gradient(polynomial_fit, (1.5, -0.5), gb, wrt=1)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f", [least_squares, least_squares_loops], ids=lambda f: f.__name__)
def test_least_squares_over_module_level_data(f, target):
    assert_gradient(f, (W,), adjoint.grad(f, target=target)(W))


@pytest.mark.parametrize("target", TARGETS)
def test_value_and_grad_over_module_level_data(target):
    value, gradient = adjoint.value_and_grad(least_squares, target=target)(W)
    assert value == pytest.approx(least_squares(W), rel=1e-12)
    assert_gradient(least_squares, (W,), gradient)


@pytest.mark.parametrize("target", TARGETS)
def test_closure_over_data_arrays(target):
    loss = make_loss(X_DATA, Y_DATA)
    assert_gradient(loss, (W,), adjoint.grad(loss, target=target)(W))


@pytest.mark.parametrize("target", TARGETS)
def test_closure_over_arrays_and_a_scalar_with_loops(target):
    loss = make_weighted_loss(X_DATA[:5], Y_DATA[:5], 0.25)
    assert_gradient(loss, (W,), adjoint.grad(loss, target=target)(W))


def test_two_closures_of_one_factory_read_their_own_data():
    first, second = make_loss(X_DATA, Y_DATA), make_loss(2.0 * X_DATA, Y_DATA)
    g1, g2 = adjoint.grad(first, target="python"), adjoint.grad(second, target="python")
    assert_gradient(first, (W,), g1(W))
    assert_gradient(second, (W,), g2(W))
    assert not np.allclose(g1(W), g2(W))


def test_the_emitted_gradient_takes_module_arrays_as_parameters():
    source = adjoint.grad(least_squares, target="python").source_for(W)
    assert "def grad_least_squares(w, X_DATA, Y_DATA):" in source


@pytest.mark.parametrize("target", TARGETS)
def test_a_global_array_changed_in_place_gives_the_new_gradient(target):
    g = adjoint.grad(reads_changing, target=target)
    x = np.array([0.2, 0.4, 0.6])
    before = CHANGING.copy()
    try:
        assert_gradient(reads_changing, (x,), g(x))
        CHANGING[:] = [3.0, -1.0, 0.5]
        assert_gradient(reads_changing, (x,), g(x))
    finally:
        CHANGING[:] = before


@pytest.mark.parametrize("target", TARGETS)
def test_the_compiled_primal_reads_the_current_module_array(target):
    """numba freezes a global array at its first compile: .primal takes the arrays as its
    last parameters, like the adjoint, and primal_with_data passes their current values."""
    g = adjoint.grad(reads_changing, target=target)
    x = np.array([0.2, 0.4, 0.6])
    before = CHANGING.copy()
    try:
        assert g.data_names == ("CHANGING",)
        assert g.primal_with_data(x) == pytest.approx(reads_changing(x), rel=1e-12)
        CHANGING[:] = [3.0, -1.0, 0.5]
        assert g.primal_with_data(x) == pytest.approx(reads_changing(x), rel=1e-12)
        assert g.primal(x, CHANGING) == pytest.approx(reads_changing(x), rel=1e-12)
        with pytest.raises(TypeError):          # never the value of the array it first saw
            g.primal(x)
    finally:
        CHANGING[:] = before


@pytest.mark.parametrize("target", TARGETS)
def test_a_global_name_bound_to_a_new_array_gives_the_new_gradient(target):
    global CHANGING
    g = adjoint.grad(reads_changing, target=target)
    x = np.array([0.2, 0.4, 0.6])
    before = CHANGING
    try:
        g(x)
        CHANGING = np.array([-2.0, 0.5, 4.0])
        assert_gradient(reads_changing, (x,), g(x))
    finally:
        CHANGING = before


def test_a_global_array_rebound_to_another_rank_is_a_clear_error():
    global CHANGING
    g = adjoint.grad(reads_changing, target="python")
    x = np.array([0.2, 0.4, 0.6])
    before = CHANGING
    try:
        g(x)
        CHANGING = np.ones((3, 3))
        with pytest.raises(AdjointArgumentError, match=r"`CHANGING`.*float\[:\].*float\[:, :\]") as info:
            g(x)
        assert "adjoint.grad(reads_changing) again" in info.value.hint
    finally:
        CHANGING = before


@pytest.mark.parametrize("target", TARGETS)
def test_a_helper_reading_module_data(target):
    g = adjoint.grad(robust_line, target=target)
    p = np.array([0.2, -0.3])
    assert_gradient(robust_line, (p,), g(p), autograd_too=False)      # autograd: abs of a box


# item 1: defaults and keyword arguments ------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_elastic_net_with_default_penalties_and_a_keyword_call_to_a_helper(target):
    assert_gradient(elastic_net, (W,), adjoint.grad(elastic_net, target=target)(W))


@pytest.mark.parametrize("target", TARGETS)
def test_grad_called_with_keyword_arguments(target):
    g = adjoint.grad(elastic_net, target=target)
    assert_gradient(elastic_net, (W,), g(W, lam1=0.5), lam1=0.5)
    assert_gradient(elastic_net, (W,), g(W, lam2=0.3, lam1=0.0), lam2=0.3, lam1=0.0)
    assert_gradient(elastic_net, (W,), g(w=W, lam2=0.2), lam2=0.2)
    np.testing.assert_allclose(g(W, 0.4), g(W, lam1=0.4))


@pytest.mark.parametrize("target", TARGETS)
def test_value_and_grad_with_keyword_arguments(target):
    value, gradient = adjoint.value_and_grad(elastic_net, target=target)(W, lam2=0.5)
    assert value == pytest.approx(elastic_net(W, lam2=0.5), rel=1e-12)
    assert_gradient(elastic_net, (W,), gradient, lam2=0.5)


def test_gradient_with_respect_to_a_parameter_that_has_a_default():
    g = adjoint.grad(elastic_net, wrt="lam1", target="python")
    assert g(W) == pytest.approx(np.sum(np.abs(W)), rel=1e-12)
    assert g(W, lam1=3.0) == pytest.approx(np.sum(np.abs(W)), rel=1e-12)
    gw, glam2 = adjoint.grad(elastic_net, wrt=("w", "lam2"), target="python")(W)
    assert glam2 == pytest.approx(np.sum(W * W), rel=1e-12)
    assert_gradient(elastic_net, (W,), gw)


@pytest.mark.parametrize("target", TARGETS)
def test_an_int_default_bounds_a_loop(target):
    g = adjoint.grad(damped_oscillator, target=target)
    assert_gradient(damped_oscillator, (2.0,), g(2.0))
    assert_gradient(damped_oscillator, (2.0,), g(2.0, steps=40), steps=40)
    assert_gradient(damped_oscillator, (2.0,), g(2.0, dt=0.1, steps=7), dt=0.1, steps=7)


def test_gradient_with_respect_to_a_defaulted_initial_value():
    g = adjoint.grad(damped_oscillator, wrt=("k", "x0"), target="python")
    gk, gx0 = g(2.0)
    assert_gradient(damped_oscillator, (2.0, 1.0), gk, wrt=0)
    assert_gradient(damped_oscillator, (2.0, 1.0), gx0, wrt=1)


@pytest.mark.parametrize("target", TARGETS)
def test_keyword_only_parameters(target):
    g = adjoint.grad(keyword_only_ridge, target=target)
    assert_gradient(keyword_only_ridge, (W,), g(W))
    assert_gradient(keyword_only_ridge, (W,), g(W, lam=2.0), lam=2.0)


def test_jvp_and_vjp_with_keyword_arguments():
    direction = np.array([1.0, 0.5, -2.0])
    value, tangent = adjoint.jvp(elastic_net, target="python")(W, direction, lam1=0.3)
    assert value == pytest.approx(elastic_net(W, lam1=0.3), rel=1e-12)
    expected = finite_difference(lambda w: elastic_net(w, lam1=0.3), (W,), 0) @ direction
    assert tangent == pytest.approx(expected, rel=1e-5)
    gradient = adjoint.vjp(elastic_net, target="python")(W, 2.0, lam2=0.3)
    np.testing.assert_allclose(gradient, 2.0 * finite_difference(
        lambda w: elastic_net(w, lam2=0.3), (W,), 0), rtol=1e-5)


def test_a_call_binding_a_parameter_twice_is_an_argument_error():
    g = adjoint.grad(elastic_net, target="python")
    with pytest.raises(AdjointArgumentError, match="lam1"):
        g(W, 0.1, lam1=0.2)
    with pytest.raises(AdjointArgumentError, match="unexpected keyword argument 'lam3'"):
        g(W, lam3=0.2)


@pytest.mark.parametrize("f, star", [(with_star_args, "*rest"), (with_star_kwargs, "**options")])
def test_star_parameters_are_rejected_where_they_are_written(f, star):
    with pytest.raises(AdjointError, match=rf"`\{star}` parameter is not supported") as info:
        adjoint.grad(f, target="python")
    assert info.value.location.line == f.__code__.co_firstlineno
    assert "name each parameter" in info.value.hint


def test_an_unknown_keyword_in_a_helper_call_is_located():
    with pytest.raises(AdjointError, match=r"_l1\(\) has no parameter `strength`") as info:
        adjoint.grad(calls_helper_with_unknown_keyword, target="python")
    assert info.value.location.line == calls_helper_with_unknown_keyword.__code__.co_firstlineno + 1
    assert "w, lam" in info.value.hint


# batches ------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_a_batch_over_module_level_data(target):
    points = np.stack([W, -2.0 * W, W + 1.0])
    for f, extra in ((least_squares, ()), (elastic_net, (0.3, 0.02))):
        rows = adjoint.grad(f, target=target).batch(points, *extra)
        for row, point in zip(rows, points):
            assert_gradient(f, (point, *extra), row, autograd_too=False)


@needs_cuda
@pytest.mark.slow
def test_cuda_batch_over_module_level_data_and_a_call_with_a_keyword():
    points = np.stack([W, -2.0 * W])
    rows = adjoint.grad(least_squares_loops, target="cuda").batch(points)
    for row, point in zip(rows, points):
        assert_gradient(least_squares_loops, (point,), row, autograd_too=False)
    g = adjoint.grad(damped_oscillator, target="cuda")
    assert_gradient(damped_oscillator, (2.0,), g(2.0, steps=40), steps=40, autograd_too=False)


# module-level and closure numbers -------------------------------------------------------------

DECAY = 0.5
STEPS = 6


def decaying_sum(x):
    total = 0.0
    for i in range(STEPS):
        total = total + DECAY ** i * np.sin(x * i)
    return total


def calls_decaying_sum(x):
    return 2.0 * decaying_sum(x)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f", [decaying_sum, calls_decaying_sum], ids=lambda f: f.__name__)
def test_a_changed_module_number_is_an_error_not_the_old_gradient(f, target):
    global STEPS
    g = adjoint.grad(f, target=target)
    assert_gradient(f, (0.3,), g(0.3))
    before = STEPS
    try:
        STEPS = 9
        with pytest.raises(AdjointArgumentError, match=r"`STEPS`, which \w+ reads, was 6 .* is 9 now") as info:
            g(0.3)
        assert "pass it to" in info.value.hint
        fresh = adjoint.grad(f, target=target)           # the hint's first way out
        assert_gradient(f, (0.3,), fresh(0.3))
    finally:
        STEPS = before
    assert_gradient(f, (0.3,), g(0.3))                   # back to the value it was made for


def test_a_closure_number_changed_after_grad_is_an_error():
    def make(scale):
        def f(x):
            return scale * x * x
        g = adjoint.grad(f, target="python")
        first = g(2.0)
        scale = scale + 1.0
        return first, g
    first, g = make(3.0)
    assert first == pytest.approx(12.0)
    with pytest.raises(AdjointArgumentError, match="`scale`.* was 3.0 .* is 4.0 now"):
        g(2.0)


# the persistent cache -------------------------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_a_cached_gradient_reads_module_data_at_each_call(target, tmp_path, monkeypatch):
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path / "cache"))
    x = np.array([0.2, 0.4, 0.6])
    before = CHANGING.copy()
    try:
        first = adjoint.grad(reads_changing, target=target, cache=True)
        assert_gradient(reads_changing, (x,), first(x))
        loaded = adjoint.grad(reads_changing, target=target, cache=True)     # from the entry
        assert loaded.generated.stages == {}
        assert_gradient(reads_changing, (x,), loaded(x))
        CHANGING[:] = [-1.0, 0.25, 2.0]
        assert_gradient(reads_changing, (x,), loaded(x))
        assert_gradient(reads_changing, (x,), first(x))
        assert_gradient(reads_changing, (x,), adjoint.grad(reads_changing, target=target, cache=True)(x))
    finally:
        CHANGING[:] = before


# forward mode, and a function that writes into its argument --------------------------------------

KERNEL = np.array([0.0, 0.5, -0.25, 0.75])


def smooth_in_place(y, passes=1):
    for p in range(passes):
        for i in range(1, len(y)):
            y[i] = y[i] + KERNEL[i] * y[i - 1]
    return np.sum(y * y)


@pytest.mark.parametrize("target", TARGETS)
def test_forward_mode_and_jvp_over_module_data_with_an_argument_written_in_place(target):
    y = np.array([1.0, -0.5, 2.0, 0.25])
    expected = finite_difference(lambda v: smooth_in_place(v.copy(), passes=2), (y,), 0)
    forward = adjoint.grad(smooth_in_place, target=target, mode="forward")(y, passes=2)
    np.testing.assert_allclose(forward, expected, rtol=1e-5)
    reverse = adjoint.grad(smooth_in_place, target=target)(y.copy(), 2)
    np.testing.assert_allclose(reverse, expected, rtol=1e-5)
    direction = np.array([0.5, 1.0, -1.0, 2.0])
    value, tangent = adjoint.jvp(smooth_in_place, target=target)(y, direction, passes=2)
    assert value == pytest.approx(smooth_in_place(y.copy(), 2), rel=1e-12)
    assert tangent == pytest.approx(expected @ direction, rel=1e-5)
    np.testing.assert_array_equal(y, [1.0, -0.5, 2.0, 0.25])       # the caller's array unchanged


def scaled_norm(x, weights=None):
    return np.sum(weights * x * x)


def test_a_default_that_is_no_number_is_named_when_it_is_used():
    g = adjoint.grad(scaled_norm, target="python")
    x, weights = np.array([1.0, 2.0]), np.array([3.0, 0.5])
    assert_gradient(scaled_norm, (x, weights), g(x, weights))
    assert_gradient(scaled_norm, (x,), g(x, weights=weights), weights=weights)
    with pytest.raises(AdjointArgumentError, match="the default of `weights` is None") as info:
        g(x)
    assert "scaled_norm(..., weights=...)" in info.value.hint


# the emitted code keeps the defaults -------------------------------------------------------------

def test_the_emitted_gradient_keeps_the_defaults_and_calls_like_the_function():
    source = adjoint.source(damped_oscillator)
    assert "def grad_damped_oscillator(k, x0=1.0, dt=0.05, steps=100):" in source
    module = {}
    exec(compile(source, "<emitted>", "exec"), module)        # standalone: math and numpy only
    assert_gradient(damped_oscillator, (2.0,), module["grad_damped_oscillator"](2.0))
    assert_gradient(damped_oscillator, (2.0,), module["grad_damped_oscillator"](2.0, steps=30), steps=30)
    primal = adjoint.grad(damped_oscillator, target="python").generated.primal_source
    assert "def damped_oscillator(k, x0=1.0, dt=0.05, steps=100):" in primal


def test_defaults_are_left_out_where_a_parameter_without_one_follows():
    assert "def jvp_damped_oscillator(k, x0, dt, steps, d_k):" in adjoint.jvp(damped_oscillator).source
    assert "def vjp_damped_oscillator(k, x0, dt, steps, cotangent):" in adjoint.vjp(damped_oscillator).source
    source = adjoint.grad(elastic_net, target="python").source_for(W)
    assert "def grad_elastic_net(w, lam1, lam2, X_DATA, Y_DATA):" in source


# other module-level data: lists, tuples, index arrays, methods and .T of a global array ----------

HORNER = [0.5, -1.0, 2.0, 0.25]                  # polynomial coefficients, highest power first
RATES = (0.1, 0.2, 0.3)                           # a tuple of floats: an array
GRID = (4,)                                       # a tuple of ints: a shape
ORDER = np.array([2, 0, 1])                       # an index array


def horner(x):
    s = 0.0
    for i in range(len(HORNER)):
        s = s * x + HORNER[i]
    return s


def compound(r0):
    value = 1.0
    for k in range(len(RATES)):
        value = value * (1.0 + r0 + RATES[k])
    return value


def grid_energy(w):
    u = np.zeros(GRID)
    for i in range(GRID[0]):
        u[i] = w[ORDER[i % 3]] * (i + 1.0)
    return np.sum(u * u)


def normal_equations_residual(w):
    r = X_DATA @ w - Y_DATA
    g = X_DATA.T @ r
    return np.sum(g * g) + X_DATA.sum() * np.dot(w, w)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("f, point", [(horner, 0.7), (compound, 0.05), (grid_energy, np.array([0.3, -0.2, 0.9])),
                                      (normal_equations_residual, W)], ids=["horner", "compound", "grid", "normal"])
def test_module_level_lists_tuples_index_arrays_and_array_methods(f, point, target):
    writes = f is grid_energy                          # autograd cannot differentiate u[i] = ...
    assert_gradient(f, (point,), adjoint.grad(f, target=target)(point), autograd_too=not writes)


def test_a_module_level_list_changed_in_place_gives_the_new_gradient():
    g = adjoint.grad(horner, target="python")
    before = list(HORNER)
    try:
        assert_gradient(horner, (0.7,), g(0.7))
        HORNER[1] = 3.0
        assert_gradient(horner, (0.7,), g(0.7))
        HORNER.append(1.0)                             # one more coefficient: still a float list
        assert_gradient(horner, (0.7,), g(0.7))
    finally:
        HORNER[:] = before


# Hessians over module data and defaults ---------------------------------------------------------

@pytest.mark.parametrize("target", TARGETS)
def test_hessians_over_module_data_with_defaults(target):
    import autograd
    np.testing.assert_allclose(adjoint.hessian(least_squares, target=target)(W),
                               2.0 * X_DATA.T @ X_DATA / len(Y_DATA), rtol=1e-10)
    np.testing.assert_allclose(adjoint.hessian(elastic_net, target=target)(W),
                               autograd.hessian(autograd_twin(elastic_net))(W), rtol=1e-10)
    assert adjoint.hessian(horner, target=target)(0.7) == pytest.approx(
        6 * HORNER[0] * 0.7 + 2 * HORNER[1], rel=1e-10)


@pytest.mark.parametrize("target", TARGETS)
def test_a_batch_fills_in_defaults_and_takes_keywords(target):
    points = np.stack([W, -2.0 * W])
    for rows, penalties in ((adjoint.grad(elastic_net, target=target).batch(points), {}),
                            (adjoint.grad(elastic_net, target=target).batch(points, lam2=0.5), {"lam2": 0.5})):
        for row, point in zip(rows, points):
            assert_gradient(elastic_net, (point,), row, autograd_too=False, **penalties)
    ks = np.array([1.0, 2.0, 3.0])
    rows = adjoint.grad(damped_oscillator, target=target).batch(ks, steps=20, batched="k")
    for row, k in zip(rows, ks):
        assert_gradient(damped_oscillator, (k,), row, autograd_too=False, steps=20)


# helpers: array defaults, keyword-only parameters ------------------------------------------------

PRIOR_MEAN = np.array([0.5, -0.5, 1.0])


def _gaussian_prior(w, mean=PRIOR_MEAN, *, precision=2.0):
    d = w - mean
    return 0.5 * precision * np.sum(d * d)


def posterior_energy(w, precision=4.0):
    r = X_DATA @ w - Y_DATA
    return 0.5 * np.sum(r * r) + _gaussian_prior(w, precision=precision) + _gaussian_prior(w, 0.0 * PRIOR_MEAN)


@pytest.mark.parametrize("target", TARGETS)
def test_a_helper_with_an_array_default_and_a_keyword_only_parameter(target):
    g = adjoint.grad(posterior_energy, target=target)
    assert_gradient(posterior_energy, (W,), g(W))
    assert_gradient(posterior_energy, (W,), g(W, precision=0.5), precision=0.5)


# a parameter defaulting to None that the numeric code never reads (autograd's fluidsim.py:
# simulate(vx, vy, smoke, num_time_steps, ax=None, render=False), its plotting left out) ----------

def _simulate(x, steps, ax=None, render=False):
    for t in range(steps):
        x = np.sin(x) + 0.5 * x
    if render:
        x = x * 1.0
    return x


def plots_nothing(x):
    return np.sum(_simulate(x, 3) ** 2)


def plots_nothing_given_none(x):
    return np.sum(_simulate(x, 3, ax=None) ** 2)


def top_level_plotting_argument(x, ax=None):
    return np.sum(np.sin(x) * x)


@pytest.mark.parametrize("fn", [plots_nothing, plots_nothing_given_none, top_level_plotting_argument],
                         ids=lambda f: f.__name__)
def test_an_unread_parameter_defaulting_to_none_is_accepted(fn):
    x = np.array([0.3, -1.2, 0.8])
    assert_gradient(fn, (x,), adjoint.grad(fn, target="python")(x))


def test_an_unread_none_default_is_shown_in_the_emitted_signature():
    source = adjoint.grad(top_level_plotting_argument, target="python").source_for(np.ones(2))
    assert "def grad_top_level_plotting_argument(x, ax=None):" in source
    assert adjoint.grad(top_level_plotting_argument, target="python")(np.ones(2), None) is not None


def _weighted(x, w=None):
    return x * w


def helper_reading_its_none_default(x):
    return np.sum(_weighted(x))


def test_a_none_default_that_is_read_is_still_named():
    with pytest.raises(adjoint.AdjointError, match="the default value None of `w`") as info:
        adjoint.grad(helper_reading_its_none_default, target="python")(np.ones(2))
    assert "_weighted(..., w=...)" in info.value.hint


# `fun(self, x, *args)` (scipy's go_benchmark_functions): a `*args` or `**kwargs` never read ----

def objective_with_unread_extras(x, *args, **kwargs):
    return np.sum(np.sin(x) * x)


def objective_reading_its_extras(x, *args):
    return np.sum(x * x) * len(args)


def test_unread_star_parameters_are_dropped():
    x = np.array([0.3, -1.2, 0.8])
    g = adjoint.grad(objective_with_unread_extras, target="python")
    assert_gradient(objective_with_unread_extras, (x,), g(x))
    assert "def grad_objective_with_unread_extras(x):" in g.source_for(x)


def test_star_parameters_that_are_read_are_still_named():
    with pytest.raises(adjoint.AdjointError, match=r"a `\*args` parameter is not supported"):
        adjoint.grad(objective_reading_its_extras, target="python")(np.ones(2))


# a None default that the helper tests (`if ax is not None: ax.plot(...)`, `if w is None:
# w = np.ones(n)`): the test is decided where the helper is inlined ------------------------------

def _simulate_and_plot(x, steps, ax=None, render=False):
    for t in range(steps):
        x = np.sin(x) + 0.5 * x
        if ax:
            ax.imshow(x)
            if render:
                ax.draw()
    if ax is not None:
        ax.set_title("final state")
    return x


def _weighted_or_not(x, w=None):
    if w is None:
        return x
    return x * w


def _weighted_by_ones(x, w=None):
    if w is None:
        w = np.ones(x.shape[0])
    return x * w


def _weighted_in_a_loop(x, w=None):
    for i in range(2):
        if w is None:                    # (a later iteration sees the w the loop assigned)
            w = x * 1.0
        else:
            w = w * x
    return w


def plots_when_given_an_axis(x):
    return np.sum(_simulate_and_plot(x, 3) ** 2) + np.sum(_simulate_and_plot(x, 2, ax=None))


def weights_tested_against_none(x):
    return np.sum(_weighted_or_not(x) ** 2) + np.sum(_weighted_or_not(x, x)) \
        + np.sum(_weighted_by_ones(x) ** 2) + np.sum(_weighted_by_ones(x, np.cos(x)) ** 2)


def weights_tested_in_a_loop(x):
    return np.sum(_weighted_in_a_loop(x))


def _weighted_in_a_loop_decided_first(x, w=None):     # the hint followed
    if w is None:
        w = x * 1.0
    for i in range(2):
        w = w * x
    return w


def weights_decided_before_the_loop(x):
    return np.sum(_weighted_in_a_loop_decided_first(x)) + np.sum(_weighted_in_a_loop_decided_first(x, x))


@pytest.mark.parametrize("fn", [plots_when_given_an_axis, weights_tested_against_none, weights_decided_before_the_loop],
                         ids=lambda f: f.__name__)
def test_tests_of_a_none_default_are_decided_where_the_helper_is_inlined(fn):
    x = np.array([0.3, -1.2, 0.8])
    got = adjoint.grad(fn, target="python")(x)
    np.testing.assert_allclose(got, finite_difference(fn, (x,), 0), rtol=1e-6, atol=1e-8)
    if fn is not plots_when_given_an_axis:      # (the twin has no axis to plot on either: same branch)
        np.testing.assert_allclose(got, autograd_gradient(fn, (x,), 0), rtol=1e-10, atol=1e-12)


def test_a_none_default_tested_in_a_loop_is_named():
    with pytest.raises(adjoint.AdjointError, match="the default value None of `w`") as info:
        adjoint.grad(weights_tested_in_a_loop, target="python")(np.ones(2))
    assert "make `if w is None: w = ...` the first statement of _weighted_in_a_loop()" in info.value.hint
