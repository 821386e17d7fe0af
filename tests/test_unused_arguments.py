"""Gradients along an argument the value does not depend on: zeros of the argument's shape.

The adjoint returns a constant there (`0.0`, not a sensitivity variable): the cuda lowering
raised a raw AttributeError on it, and a cpu batch gave a 1-D column of zeros for an array
argument whose source did not read as an array, instead of one zero row per point.
"""

import numpy as np
import pytest

import adjoint
from tests.conftest import needs_cuda


def square_of_second(x, y):
    return y * y


def product_of_elements(x, y):
    return y[0] * y[1]


@needs_cuda
def test_cuda_gradient_along_an_unused_scalar():
    g = adjoint.grad(square_of_second, wrt=(0, 1), target="cuda")
    assert g(1.5, 2.0) == (0.0, 4.0)
    dx, dy = g.batch(np.array([1.0, 2.0, 3.0]), 2.0)
    np.testing.assert_array_equal(dx, np.zeros(3))
    np.testing.assert_array_equal(dy, np.full(3, 4.0))


@needs_cuda
def test_cuda_gradient_along_an_unused_scalar_next_to_an_array():
    dx, dy = adjoint.grad(product_of_elements, wrt=(0, 1), target="cuda")(1.5, np.array([3.0, 4.0]))
    assert dx == 0.0
    np.testing.assert_array_equal(dy, [4.0, 3.0])


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_batch_gradient_along_an_unused_array_has_its_shape(target):
    g = adjoint.grad(product_of_elements, wrt=(0, 1), target=target)
    dx, dy = g.batch(np.full((3, 2), 7.0), np.array([3.0, 4.0]))
    assert dx.shape == (3, 2) and dy.shape == (3, 2)
    np.testing.assert_array_equal(dx, np.zeros((3, 2)))
    np.testing.assert_array_equal(dy, np.tile([4.0, 3.0], (3, 1)))
