"""np.stack and np.concatenate along any axis, of lists or tuples, on every target: each part's
sensitivity is cut from the result's along the axis the parts were joined on (axis 0 only
before: `np.stack([x, y], axis=1)` of two 2-vectors returned a row where a column was due,
without an error). Checked against central differences and autograd running the same source.
"""

from __future__ import annotations

import numpy as np
import pytest

import adjoint
from tests.conftest import make_rng
from tests.oracles import autograd_gradient, finite_difference

WEIGHTS = np.arange(1.0, 13.0).reshape(3, 4) / 7.0


def columns_of_two(x, y):
    """Two 2-vectors as the columns of a square matrix: the shape of a row fits as well."""
    m = np.stack([x, y], axis=1)
    return np.sum(m ** 2 * np.array([[1.0, 2.0], [3.0, 5.0]]))


def stacked_on_last_axis(x, y):
    return np.sum(np.stack((x, 2.0 * y), axis=-1) ** 2 * WEIGHTS[:, :2])


def stacked_positional_axis(x, y):
    return np.sum(np.sin(np.stack((x, y), 1)) * WEIGHTS[:, 1:3])


def side_by_side(a, b):
    return np.sum(np.concatenate([a, b], axis=1) ** 2 * np.arange(8.0))


def on_top(a, b):
    return np.sum(np.concatenate((a, np.tanh(b)), axis=-2) ** 2 * np.arange(4.0))


def with_constant_parts(x):
    return np.sum(np.concatenate((np.zeros(2), x, np.ones(1))) ** 2 * np.arange(6.0))


def array_of_floats(x):
    return np.sum(np.array([x[0], x[1] * 2.0], dtype=float) ** 2) + np.sum(np.zeros(2, float) + x[:2])


CASES = {
    columns_of_two: [(2,), (2,)],
    stacked_on_last_axis: [(3,), (3,)],
    stacked_positional_axis: [(3,), (3,)],
    side_by_side: [(2, 4), (2, 4)],
    on_top: [(2, 4), (2, 4)],
    with_constant_parts: [(3,)],
    array_of_floats: [(3,)],
}


def _arguments(fn):
    rng = make_rng()
    return [rng.normal(size=shape) for shape in CASES[fn]]


@pytest.mark.parametrize("fn", list(CASES), ids=lambda f: f.__name__)
def test_joined_parts_against_finite_differences_and_autograd(fn):
    args = _arguments(fn)
    wrt = tuple(range(len(args)))
    got = adjoint.grad(fn, wrt=wrt, target="python")(*args)
    got = got if isinstance(got, tuple) else (got,)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(fn, args, k), rtol=1e-6, atol=1e-8)
        if fn is not array_of_floats:            # (autograd's np.array of boxed numbers: not the point)
            np.testing.assert_allclose(g, autograd_gradient(fn, args, k), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn", [columns_of_two, side_by_side, array_of_floats], ids=lambda f: f.__name__)
def test_joined_parts_compile_for_numba(fn):
    """Lists of arrays become tuples (numba joins tuples only); np.array(v, dtype=float) spells
    numpy's float64."""
    args = _arguments(fn)
    wrt = tuple(range(len(args)))
    got = adjoint.grad(fn, wrt=wrt, target="cpu", cache=False)(*args)
    got = got if isinstance(got, tuple) else (got,)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(fn, args, k), rtol=1e-6, atol=1e-8)


def test_parts_cut_along_the_axis_in_the_emitted_code():
    source = adjoint.source(columns_of_two, wrt=(0, 1), types={"x": "float64[:]", "y": "float64[:]"})
    assert "[:, 0]" in source and "[:, 1]" in source, source


def flattened_first(a, b):
    return np.sum(np.concatenate((a, b), axis=None) ** 2)


def flattened_as_the_hint_says(a, b):
    return np.sum(np.concatenate((a.ravel(), b.ravel())) ** 2)


def test_axis_none_is_a_located_error_whose_hint_works():
    args = [np.ones((2, 2)), np.ones((2, 2))]
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(flattened_first, target="python")(*args)
    message = str(caught.value)
    assert "test_sequence_joins.py:" in message and "axis=None" in message
    assert "np.concatenate((a.ravel(), b.ravel()))" in message
    got = adjoint.grad(flattened_as_the_hint_says, target="python")(*args)
    np.testing.assert_allclose(got, finite_difference(flattened_as_the_hint_says, args, 0), rtol=1e-6)
