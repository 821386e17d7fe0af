"""Guards: `raise` and `assert` in the differentiated function (input checks, as numeric code
written by others has them). A guard stays where the function has it, in the gradient, the
tangent code and what differentiates them again; a point that fails it raises the function's
own exception at its line, on every target and in a batch, never a gradient of a point the
function refuses. Gradients are checked against central differences."""

from __future__ import annotations

import re

import numpy as np
import pytest

import adjoint
from tests.conftest import finite_difference, needs_cuda


class ModelError(Exception):
    """A user's own exception class."""


def _check_positive(sigma):
    if sigma <= 0.0:
        raise ValueError("sigma must be positive, got %g" % sigma)
    return sigma


def gaussian_negative_log_likelihood(params, y):
    """A location-scale likelihood with the checks its author wrote: shapes, a helper that
    validates, an assertion inside the loop, an own exception class, a formatted message."""
    assert params.ndim == 1 and params.shape[0] == 2, "params must be (mu, log_sigma)"
    mu, sigma = params[0], _check_positive(np.exp(params[1]))
    if y.shape[0] == 0:
        raise ModelError("no observations")
    total = 0.0
    for i in range(y.shape[0]):
        assert np.isfinite(y[i]), f"observation {i} is not finite"
        z = (y[i] - mu) / sigma
        total += 0.5 * z * z + np.log(sigma)
    return total


def bounded_products(x):
    """np.prod along an axis of a rank-3 array: its runtime helper checks the axis with a
    `raise`, which a second differentiation used to refuse."""
    if np.any(np.abs(x) > 1e3):
        raise OverflowError("x out of range")
    return np.sum(np.prod(np.reshape(np.sin(x), (2, 2, 2)), axis=1) ** 2)


Y = np.array([0.3, -1.2, 0.8, 2.1, 0.05])


def test_gradients_through_guards(target):
    for mode in ("reverse", "forward"):
        g = adjoint.grad(gaussian_negative_log_likelihood, target=target, mode=mode)
        params = np.array([0.4, -0.3])
        np.testing.assert_allclose(g(params, Y), finite_difference(gaussian_negative_log_likelihood, (params, Y), 0),
                                   rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("bad, exception, message", [
    (lambda: (np.array([0.4, -0.3, 1.0]), Y), AssertionError, "params must be"),
    (lambda: (np.array([0.4, -0.3]), Y[:0]), ModelError, "no observations"),
    (lambda: (np.array([0.4, -0.3]), np.array([1.0, np.nan])), AssertionError, "observation {i} is not finite"),
])
def test_a_failed_guard_raises_the_functions_own_exception_at_its_line(target, bad, exception, message):
    g = adjoint.grad(gaussian_negative_log_likelihood, target=target)
    with pytest.raises(exception, match=message) as caught:
        g(*bad())
    assert isinstance(caught.value, adjoint.AdjointError)
    assert "test_guards.py:" in str(caught.value) and "raised by the function" in str(caught.value)


def test_a_formatted_message_keeps_its_text():
    g = adjoint.grad(_check_positive, target="python")
    assert g(2.0) == 1.0
    with pytest.raises(ValueError, match="sigma must be positive, got %g"):
        g(-1.0)


def test_the_reverse_sweep_does_not_check_again():
    """A replayed iteration passed its guards in the forward loop: the reverse loop has none."""
    source = adjoint.source(gaussian_negative_log_likelihood)
    forward, reverse = source.split("# Reverse sweep")
    assert forward.count("raise ") == 4 and "raise " not in reverse


def test_hessian_vector_products_through_guards(target):
    x = np.array([0.3, -1.2, np.pi, 2.0, 0.4, 0.1, -0.8, 1.3])      # sin(pi): a factor near 0
    v = np.array([0.5, -0.2, 1.0, 0.3, -0.7, 0.2, 0.9, -0.4])
    g = adjoint.grad(bounded_products, target="python")
    expected = finite_difference(lambda z: g(z) @ v, (x,), 0)
    np.testing.assert_allclose(adjoint.hvp(bounded_products, target=target)(x, v), expected, rtol=1e-6, atol=1e-7)
    with pytest.raises(OverflowError):
        adjoint.hvp(bounded_products, target=target)(x * 1e4, v)


def test_a_cpu_batch_raises_where_a_point_fails_a_guard():
    """numba drops an exception raised inside a prange (the point's rows were left zero): a
    function with guards whose gradient allocates runs its batch in a serial loop."""
    g = adjoint.grad(bounded_products, target="cpu")
    X = np.random.default_rng(3).normal(size=(6, 8))
    np.testing.assert_allclose(g.batch(X), [g(x) for x in X], rtol=1e-12)
    X[4, 2] = 1e4
    with pytest.raises(OverflowError, match="x out of range"):
        g.batch(X)
    with pytest.raises(OverflowError, match="x out of range"):
        adjoint.jvp(bounded_products, target="cpu").batch(X, np.ones(8))


def rosenbrock_checked(x):
    if x.shape[0] < 2:
        raise ValueError("Rosenbrock needs two coordinates")
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def f4_checked(x):
    """The seed document's f4, with a check of its input."""
    a, b, c, d = x
    if a > 1e6:
        raise ValueError("a is too large")
    return a * b * c * d + a * a


def test_a_parallel_cpu_batch_finds_the_point_that_fails_a_guard():
    """The allocation-free rows driver keeps its prange over chunks of points: each chunk
    catches its points' exceptions, and the batch finds the failing point and raises its
    error at the function's line (numba alone would drop it, leaving that row unwritten)."""
    g = adjoint.grad(f4_checked, target="cpu")
    X = np.random.default_rng(4).normal(size=(2000, 4))
    np.testing.assert_allclose(g.batch(X)[:3], [finite_difference(f4_checked, (x,), 0) for x in X[:3]], rtol=1e-7)
    np.testing.assert_allclose(g.batch(X)[1234], g(X[1234]), rtol=1e-15)
    X[1717, 0] = 2e6
    with pytest.raises(ValueError, match="a is too large") as caught:
        g.batch(X)
    assert "test_guards.py:" in str(caught.value)
    X[1717, 0] = 0.5
    np.testing.assert_allclose(g.batch(X)[1717], g(X[1717]), rtol=1e-15)


@needs_cuda
def test_a_cuda_batch_of_a_guarded_function_is_refused():
    """A GPU thread's exception is not reported: its point's gradient would be wrong."""
    g = adjoint.grad(rosenbrock_checked, target="cuda")
    with pytest.raises(adjoint.AdjointError, match="cannot run in a cuda batch"):
        g.batch(np.ones((4, 8)))


@pytest.mark.parametrize("source, phrase", [
    ("def f(x):\n    if x[0] < 0.0:\n        raise\n    return x[0]\n", "bare `raise`"),
    ("def f(x):\n    if x[0] < 0.0:\n        raise ValueError('no') from None\n    return x[0]\n", "from"),
    ("def f(x):\n    if x[0] < 0.0:\n        raise 'no'\n    return x[0]\n", "raises no exception class"),
    ("class Bad(Exception):\n    pass\n\n\ndef f(x):\n    if x[0] < 0.0:\n        raise Bad\n    return x[0]\n",
     "without a call"),
])
def test_guards_adjoint_cannot_keep_are_located_errors(tmp_path, source, phrase):
    from tests.conftest import import_source
    module = import_source(tmp_path, "unkept_guard", "import numpy as np\n\n" + source)
    with pytest.raises(adjoint.AdjointError, match=phrase) as caught:
        adjoint.grad(module.f)(np.array([1.0]))
    assert re.search(r"unkept_guard\.py:(5|9):", str(caught.value)) and "hint:" in str(caught.value)
