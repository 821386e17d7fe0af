"""Constructs of issue #17's last realistic rejections, beyond the corpus programs: new axes
after a loop index (`X[i, :, None]`), boolean masks of rank 2 on the cpu target (numba indexes
with 1-D masks only: lower/masks.flatten_masks), and a list of arrays grown by `append`
(rejected at the append with a rewrite that works). Checked against central differences and
autograd."""

from __future__ import annotations

import numpy as np
import pytest

import adjoint
from tests.conftest import compiled, finite_difference
from tests.oracles import autograd_gradient

RNG = np.random.default_rng(17)
M34 = RNG.normal(size=(3, 4))
W2 = RNG.normal(size=2)
X5 = RNG.normal(size=3)
A33 = RNG.normal(size=(3, 3)) * 0.5


def outer_rows(M, w):
    # a column of each row times a row vector: the loop index keeps no axis
    total = 0.0
    for i in range(M.shape[0]):
        block = M[i, :, None] * w[None, :]
        total += np.sum(np.sin(block)) + np.sum(M[i, None, 1:] ** 2)
    return total


def masked_read(X):
    mask = X > 0.2
    return np.sum(X[mask] ** 2) + np.sum(np.where(mask, X, 0.0))


def masked_write(X, c):
    # zero the small entries of a copy through a 2-D mask, then read the large ones
    Y = X * c
    small = np.abs(Y) < 0.3
    Y[small] = 0.0
    return np.sum(Y ** 2) + np.sum(np.exp(Y[Y > 0.5]))


def states_appended(x, W):
    h = x
    states = []
    for t in range(4):
        h = np.tanh(W @ h)
        states.append(h)
    return np.sum(np.stack(states) ** 2)


def states_preallocated(x, W):
    # states_appended as its hint says
    h = x
    states = np.zeros((4, 3))
    for t in range(4):
        h = np.tanh(W @ h)
        states[t] = h
    return np.sum(states ** 2)


def states_stacked(x, W):
    # a trajectory's states of a map with no memory, by a comprehension
    states = np.stack([np.tanh(W @ (x * k)) for k in range(1, 5)])
    return np.sum(states[:, 1:] ** 2)


def new_axis_after_an_argument(M, j):
    return np.sum(M[j, :, None] * M)


CASES = [(outer_rows, (M34, W2), (0, 1)), (masked_read, (M34,), (0,)),
         (states_stacked, (X5, A33), (0, 1))]


@pytest.mark.parametrize("fn, args, wrt", CASES, ids=[c[0].__name__ for c in CASES])
def test_gradient_matches_finite_differences_and_autograd(fn, args, wrt):
    got = compiled(fn, wrt, "python")(*args)
    got = got if isinstance(got, tuple) else (got,)
    for k, g in zip(wrt, got):
        np.testing.assert_allclose(g, finite_difference(fn, args, k), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(g, autograd_gradient(fn, args, k), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_a_mask_of_rank_2_reads_and_writes_on_both_targets(target):
    args = (M34.T, 1.3)
    got = adjoint.grad(masked_write, wrt=(0, 1), target=target)(*args)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(masked_write, args, k), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("target", ["cpu"])
def test_new_axes_after_a_loop_index_and_a_mask_on_cpu(target):
    got = compiled(outer_rows, (0, 1), target)(M34, W2)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(outer_rows, (M34, W2), k), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(compiled(masked_read, 0, target)(M34), finite_difference(masked_read, (M34,), 0),
                               rtol=1e-6, atol=1e-7)


def test_the_emitted_mask_write_is_a_helper_read_back_as_the_write():
    """`Y[small] = 0.0` through a 2-D mask is `_assign_at_mask(Y, small, 0.0)` in the emitted
    code (numba compiles no such write), going through the elements in the order Y[small]
    reads them; differentiated again (an hvp), the helper reads as the write it stands for.
    Against central differences of the gradient, on a Fortran-ordered matrix too."""
    g = adjoint.grad(masked_write, wrt=0)
    assert "_assign_at_mask(Y, small, 0.0)" in g.source_for(M34, 1.3)
    direction = np.sin(np.arange(M34.size, dtype=float)).reshape(M34.shape)
    product = adjoint.hvp(masked_write)(M34, 1.3, direction)
    step = 1e-6
    want = (g(M34 + step * direction, 1.3) - g(M34 - step * direction, 1.3)) / (2 * step)
    np.testing.assert_allclose(product, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g(np.asfortranarray(M34), 1.3), finite_difference(masked_write, (M34, 1.3), 0),
                               rtol=1e-6, atol=1e-7)


def test_a_list_of_arrays_grown_in_a_loop_is_a_located_error_with_a_rewrite_that_works():
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(states_appended, wrt=(0, 1), target="python")(X5, A33)
    message = str(caught.value)
    assert "`states` grows by appending arrays" in message.splitlines()[0]
    assert "test_masks_and_new_axes.py:" in message and "states.append(h)" in message
    assert "hint: preallocate it and write its rows: states = np.zeros((steps, n))" in message
    got = compiled(states_preallocated, (0, 1), "python")(X5, A33)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(states_appended, (X5, A33), k), rtol=1e-6, atol=1e-7)


def test_a_new_axis_after_an_index_of_unknown_rank_is_a_located_error_with_a_working_hint():
    with pytest.raises(adjoint.AdjointError, match="a new axis .None. in an index with an integer or array "
                                                   "index before it") as caught:
        adjoint.grad(new_axis_after_an_argument, target="python")(M34, 1)
    assert "hint: index in two steps" in str(caught.value)
