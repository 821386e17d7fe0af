"""Arrays made inside the function from a value that varies, or by a numpy creator the type
inference did not know: both gave silently wrong gradients.

- `np.full(shape, a)` / `np.full_like(M, a)` were taken as constants: the fill value got no
  sensitivity (`np.sum(np.full(3, a))` had gradient 0, not 3), in both modes.
- `np.identity(n)` and `np.tri(n)` were typed as numbers: on cpu the gradient of
  `np.sum((np.identity(3) + x) ** 2)` came out wrong without an error.

Each function is written as a user would, checked against central differences."""

from __future__ import annotations

import numpy as np
import pytest

import adjoint
from tests.conftest import assert_gradient, fd_tolerance, finite_difference, make_rng


def filled_vector(a):
    return np.sum(np.full(3, a))


def filled_like_weighted(a, M):
    return np.sum(np.full_like(M, a) * M)


def filled_grid_squared(a, n):
    return np.sum(np.full((n, 2), a) ** 2)


def bias_row_from_fill(b, W, x):
    bias = np.full(W.shape[0], b)           # a per-unit bias initialized from one number
    return np.sum(np.tanh(W @ x + bias))


def filled_then_written(a, x):
    y = np.full(len(x), a)
    for i in range(len(x)):
        y[i] = y[i] * x[i]
    return np.sum(y * y)


def identity_shift(x):
    return np.sum((np.identity(3) + x) ** 2)


def lower_triangle_cumulative(x):
    return np.sum(np.tri(len(x)) @ x ** 2)


def _arguments(fn, rng):
    W, x3, M = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((3, 4))
    return {filled_vector: (0.7,), filled_like_weighted: (0.7, M), filled_grid_squared: (1.3, 4),
            bias_row_from_fill: (0.2, W, x3), filled_then_written: (0.4, x3),
            identity_shift: (x3,), lower_triangle_cumulative: (x3,)}[fn]


CASES = [filled_vector, filled_like_weighted, filled_grid_squared, bias_row_from_fill,
         filled_then_written, identity_shift, lower_triangle_cumulative]


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_against_differences(fn, mode):
    args = _arguments(fn, make_rng("creators", fn.__name__))
    expected = finite_difference(fn, args, 0)
    got = adjoint.grad(fn, target="python", mode=mode)(*args)
    assert_gradient(got, expected, **fd_tolerance(fn(*args)))


@pytest.mark.slow
@pytest.mark.parametrize("fn", [filled_like_weighted, identity_shift], ids=lambda f: f.__name__)
def test_on_cpu(fn):
    args = _arguments(fn, make_rng("creators cpu", fn.__name__))
    expected = finite_difference(fn, args, 0)
    assert_gradient(adjoint.grad(fn, target="cpu")(*args), expected, **fd_tolerance(fn(*args)))
