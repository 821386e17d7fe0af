"""Forward mode where an operand's tangent is smaller than the result: a scalar (or a vector)
that varies meets an array that does not, and numpy broadcasts the value. The tangent must be
broadcast the same way, or `np.sum` of it counts the operand's change once instead of once
per element (the mirror of reverse mode's summing a sensitivity back to the operand's shape).

Each function is checked in forward mode (adjoint.grad(mode="forward") and adjoint.jvp)
against central differences and against reverse mode.
"""

from __future__ import annotations

import numpy as np
import pytest

import adjoint
from tests.conftest import assert_gradient, fd_tolerance, finite_difference, make_rng


def zeros_plus_scalar(a):
    return np.sum(np.zeros(3) + a)


def constant_times_zero_plus_scalar(a, x):
    return np.sum(x * 0.0 + a)


def layer_with_scalar_bias(b, W, x):
    return np.sum(np.tanh(W @ x + b))


def scalar_times_constant_array(a, c):
    return np.sum(np.sin(a * c))


def constant_array_times_scalar(a, c):
    return np.sum(np.sin(c * a))


def scalar_subtracted_from_matrix(a, M):
    return np.sum((M - a) ** 2)


def matrix_subtracted_from_scalar(a, M):
    return np.sum(np.exp(a - M))


def where_with_scalar_branch(a, x):
    return np.sum(np.where(x > 0.0, x, a) ** 2)


def maximum_with_scalar(a, x):
    return np.sum(np.maximum(x, a) ** 2)


def array_divided_by_scalar(a, x):
    return np.sum(np.sin(x / a))


def scalar_divided_by_array(a, x):
    return np.sum(np.sin(a / x))


def array_to_scalar_power(a, x):
    return np.sum(x ** a)


def scalar_to_array_power(a, x):
    return np.sum(a ** x)


def sum_of_matrix_minus_scalar(a, M):
    return np.sum(M - a)


def sum_of_where_with_scalar_branch(a, x):
    return np.sum(np.where(x > 0.0, x, a))


def sum_of_where_with_two_scalar_branches(a, x):
    return np.sum(np.where(x > 0.0, 2.0 * a, a))


def sum_of_maximum_with_scalar(a, x):
    return np.sum(np.maximum(x, a))


def matrix_product_with_shifted_zeros(a, W):
    return np.sum(W @ (np.zeros(3) + a))


def mean_of_scalar_plus_matrix(a, M):
    return np.mean(a + M)


def sum_of_vector_plus_constant_matrix(v, M):
    return np.sum(M + v)


def sum_of_row_plus_constant_matrix(v, M):
    return np.sum(M + v)


def scalar_written_into_zeros(a, n):
    y = np.zeros(n)
    for i in range(n):
        y[i] = a
    return np.sum(y * np.arange(n))


def vector_added_to_constant_matrix(v, M):
    return np.sum(np.sin(M + v))


def row_added_to_constant_matrix(v, M):
    return np.sum(np.sin(M + v))


def _args(name):
    rng = make_rng("forward_broadcast", name)
    W, x, M = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(3, 4))
    positive = rng.uniform(0.5, 2.0, size=(2, 3))
    return {
        "zeros_plus_scalar": (0.7,),
        "constant_times_zero_plus_scalar": (0.7, x),
        "layer_with_scalar_bias": (0.3, W, x),
        "scalar_times_constant_array": (0.8, M),
        "constant_array_times_scalar": (0.8, M),
        "scalar_subtracted_from_matrix": (0.4, M),
        "matrix_subtracted_from_scalar": (0.4, M),
        "where_with_scalar_branch": (0.6, rng.normal(size=5)),
        "maximum_with_scalar": (0.1, rng.normal(size=(3, 3))),
        "array_divided_by_scalar": (1.3, M),
        "scalar_divided_by_array": (1.3, positive),
        "array_to_scalar_power": (1.7, positive),
        "scalar_to_array_power": (1.7, positive),
        "sum_of_matrix_minus_scalar": (0.5, M),
        "sum_of_where_with_scalar_branch": (0.6, rng.normal(size=5)),
        "sum_of_where_with_two_scalar_branches": (0.6, rng.normal(size=5)),
        "sum_of_maximum_with_scalar": (0.1, rng.normal(size=(3, 3))),
        "matrix_product_with_shifted_zeros": (0.5, W),
        "mean_of_scalar_plus_matrix": (0.5, M),
        "sum_of_vector_plus_constant_matrix": (rng.normal(size=4), M),
        "sum_of_row_plus_constant_matrix": (rng.normal(size=(1, 4)), M),
        "scalar_written_into_zeros": (0.9, 5),
        "vector_added_to_constant_matrix": (rng.normal(size=4), M),
        "row_added_to_constant_matrix": (rng.normal(size=(1, 4)), M),
    }[name]


CASES = [zeros_plus_scalar, constant_times_zero_plus_scalar, layer_with_scalar_bias,
         scalar_times_constant_array, constant_array_times_scalar, scalar_subtracted_from_matrix,
         matrix_subtracted_from_scalar, where_with_scalar_branch, maximum_with_scalar,
         array_divided_by_scalar, scalar_divided_by_array, array_to_scalar_power,
         scalar_to_array_power, scalar_written_into_zeros, vector_added_to_constant_matrix,
         row_added_to_constant_matrix, sum_of_matrix_minus_scalar, sum_of_where_with_scalar_branch,
         sum_of_where_with_two_scalar_branches, sum_of_maximum_with_scalar,
         matrix_product_with_shifted_zeros, mean_of_scalar_plus_matrix,
         sum_of_vector_plus_constant_matrix, sum_of_row_plus_constant_matrix]


def _check_forward(fn, target):
    args = _args(fn.__name__)
    expected = finite_difference(fn, args, 0)
    tolerance = fd_tolerance(fn(*args))
    forward = adjoint.grad(fn, wrt=0, mode="forward", target=target)(*args)
    assert_gradient(forward, expected, **tolerance)
    reverse = adjoint.grad(fn, wrt=0, target=target)(*args)
    assert_gradient(forward, reverse, rtol=1e-10, atol=1e-12)
    return args, expected


@pytest.mark.parametrize("fn", CASES, ids=lambda fn: fn.__name__)
def test_forward_tangent_is_broadcast_to_the_result(fn):
    _check_forward(fn, "python")


@pytest.mark.parametrize("fn", CASES, ids=lambda fn: fn.__name__)
def test_jvp_along_a_direction_matches_finite_differences(fn):
    args = _args(fn.__name__)
    direction = 1.5 if np.ndim(args[0]) == 0 else make_rng("direction", fn.__name__).normal(size=np.shape(args[0]))
    value, tangent = adjoint.jvp(fn, wrt=0, target="python")(*args, direction)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
    expected = float(np.sum(finite_difference(fn, args, 0) * direction))
    np.testing.assert_allclose(tangent, expected, **fd_tolerance(fn(*args)))


@pytest.mark.parametrize("fn", [layer_with_scalar_bias, scalar_written_into_zeros], ids=lambda fn: fn.__name__)
@pytest.mark.parametrize("target", ["cpu"])
def test_forward_tangent_is_broadcast_on_numba(fn, target):
    _check_forward(fn, target)
