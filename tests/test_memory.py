"""Peak memory of vectorized gradients stays within 2.5x their primal's (issue 18, cpu).

tracemalloc sees numpy's allocations and numba's (its NRT reports to it), so the gradient
and the primal are measured alike: one warm call each, the peak of what it allocates. The
gradients are checked against central differences too: fusing must not change a value.
(benchmarks/bench_memory.py gives the figures at 10^6 and 10^7.)
"""

from __future__ import annotations

import gc
import tracemalloc

import numba
import numpy as np
import pytest

import adjoint
from tests.oracles import finite_difference

N = 10**5
LIMIT = 2.5                 # the cpu target, against numba.njit(f) (issue 18's goal)
PYTHON_LIMIT = 3.5          # plain numpy evaluates a fused expression through temporaries:
                            # Rosenbrock 2.5x, the logistic loss 3.1x (both 8.5x before)


def sin_exp_log(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + np.log1p(x * x))


def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def stencil(u):
    return np.sum((u[2:] - 2 * u[1:-1] + u[:-2]) ** 2)


def logistic_loss(w, X, y):
    return np.sum(np.log1p(np.exp(-y * (X @ w))))


def _peak(fn):
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _arguments(f, n):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, n)
    if f is logistic_loss:
        return (rng.standard_normal(4) * 0.1, rng.standard_normal((n, 4)), np.sign(rng.standard_normal(n)))
    return (x,)


def _check(f, target, primal, limit):
    g = adjoint.grad(f, target=target)
    small = _arguments(f, 7)
    got = g(*small)
    expected = finite_difference(f, small, 0)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    args = _arguments(f, N)
    g(*args)
    primal(*args)
    ratio = _peak(lambda: g(*args)) / _peak(lambda: primal(*args))
    assert ratio <= limit, f"{f.__name__} on {target}: the gradient's peak is {ratio:.2f}x the primal's"


@pytest.mark.parametrize("f", [sin_exp_log, rosenbrock, stencil, logistic_loss])
def test_python_gradient_peak_within_limit_of_numpy_primal(f):
    _check(f, "python", f, PYTHON_LIMIT)


@pytest.mark.parametrize("f", [sin_exp_log, rosenbrock])
def test_cpu_gradient_peak_within_limit_of_njit_primal(f):
    _check(f, "cpu", numba.njit(f), LIMIT)


# fusing changes no gradient: programs that stress what optimize/fuse.py assumes (a value
# read after its operands change, broadcasting, slices cutting different amounts, masks)

def rebound_argument(x):
    a = np.sum(np.sin(x) * x)
    x = x * 3.0
    return a + np.sum(np.exp(-x * x))


def scalar_broadcast(x, c):
    return np.sum(np.exp(c * x) * x + c * c)


def uneven_slices(x):
    return np.sum(x[2:] * x[:-2]) + np.sum(np.cos(x[1:]) ** 2)


def matrix_rows(A):
    return np.sum(np.tanh(A[1:] - A[:-1]) ** 2 + A[1:] * 0.5)


def masked(x):
    return np.sum(np.where(x > 0.1, x * x, -x) + np.sqrt(1.0 + x * x))


def loop_and_vector(x):
    s = np.sum(np.log1p(x * x))
    for i in range(3):
        s = s + np.sum(np.sin(x * (i + 1)))
    return s


def twice_read(x):
    e = np.exp(-x * x)
    return np.sum(e * np.sin(x)) + np.sum(e * e)


@pytest.mark.parametrize("f, wrt", [(rebound_argument, 0), (scalar_broadcast, 0), (scalar_broadcast, 1),
                                    (uneven_slices, 0), (matrix_rows, 0), (masked, 0),
                                    (loop_and_vector, 0), (twice_read, 0)])
def test_fused_gradients_match_finite_differences(f, wrt):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.0, 1.0, 9)
    args = {"matrix_rows": (rng.uniform(-1.0, 1.0, (5, 3)),), "scalar_broadcast": (x, 0.7)}.get(f.__name__, (x,))
    got = adjoint.grad(f, wrt=wrt, target="python")(*args)
    np.testing.assert_allclose(got, finite_difference(f, args, wrt), rtol=1e-6, atol=1e-8)
    value, grad = adjoint.value_and_grad(f, wrt=wrt, target="python")(*args)
    assert value == pytest.approx(f(*args))
    np.testing.assert_allclose(grad, got, rtol=1e-14, atol=0)


def empty_and_head_slices(x):
    return np.sum(x[:0] * 2.0) + np.sum(x[:3] * x[:3]) + np.sum(x[1:] * x[:-1])


def test_slices_that_cut_nothing_from_the_end_keep_their_shapes():
    x = np.linspace(-1.0, 1.0, 6)
    got = adjoint.grad(empty_and_head_slices, target="python")(x)
    np.testing.assert_allclose(got, finite_difference(empty_and_head_slices, (x,), 0), rtol=1e-6, atol=1e-8)
