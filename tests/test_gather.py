"""Gathers with repeated indices: `P[rows]` with an integer array `rows` reads P[k] once per
occurrence of k, so d/dP[k] sums every occurrence's sensitivity. A buffered `s_P[rows] += g`
counts a repeated index once; the reverse sweep adds through a runtime helper instead.
Checked against central differences."""

import numpy as np
import pytest

import adjoint
from tests.conftest import assert_gradient, compiled, fd_tolerance, finite_difference, needs_cuda


def gather_squares(P, rows):
    return np.sum(P[rows] ** 2)


def gather_rows(m, idx):
    return np.sum(np.sin(m[idx, :]) * m[idx, :])


def gather_columns(m, idx):
    return np.sum(m[:, idx] ** 3)


def embedding_logistic(E, tokens, w):
    """An embedding lookup (tokens repeat) feeding a linear score."""
    score = np.sum(E[tokens] @ w)
    return np.log(1.0 + np.exp(-score))


def embedding_lookup(E, tokens, w):
    return np.sum(E[tokens] @ w)


def gather_pairs(m, i, j):
    return np.sum(m[i, j] ** 2)


def gather_matrix_of_indices(P, rows):
    """A rank-2 index array into a vector: the gathered block has the index's shape."""
    return np.sum(np.cos(P[rows]))


def scalar_index_loop(x, idx):
    """One element per iteration, x[idx[k]]: a scalar index, repeated across iterations."""
    total = 0.0
    for k in range(idx.shape[0]):
        total = total + x[idx[k]] ** 2
    return total


def check(fn, args, wrt, target):
    value = fn(*args)
    got = compiled(fn, wrt=wrt, target=target)(*args)
    assert_gradient(got, finite_difference(fn, args, wrt), **fd_tolerance(value, rtol=1e-5))
    return got


def test_repeated_gather_counts_every_occurrence():
    got = adjoint.grad(gather_squares, target="python")(np.array([1., 2., 3.]), np.array([0, 2, 2]))
    np.testing.assert_allclose(got, [2., 0., 12.])


ROWS = np.array([0, 2, 2, 1, 2])
CASES = {
    "vector": (gather_squares, (np.array([1., 2., 3., -0.5]), ROWS), 0),
    "rows": (gather_rows, (np.arange(12.).reshape(4, 3) / 7, ROWS), 0),
    "columns": (gather_columns, (np.arange(12.).reshape(3, 4) / 7 - 0.5, ROWS), 0),
    "embedding": (embedding_logistic, (np.linspace(-1, 1, 15).reshape(5, 3), np.array([4, 1, 4, 4, 0]),
                                       np.array([0.3, -0.2, 0.5])), 0),
    "embedding_weights": (embedding_logistic, (np.linspace(-1, 1, 15).reshape(5, 3), np.array([4, 1, 4, 4, 0]),
                                               np.array([0.3, -0.2, 0.5])), 2),
    "pairs": (gather_pairs, (np.arange(12.).reshape(3, 4) / 5, np.array([0, 2, 0, 1]), np.array([1, 3, 1, 1])), 0),
    "index_matrix": (gather_matrix_of_indices, (np.array([0.1, 0.7, -1.2]), np.array([[0, 2], [2, 2], [1, 0]])), 0),
    "scalar_loop": (scalar_index_loop, (np.array([1., -2., 3.]), np.array([2, 0, 2, 2, 1])), 0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_gather_on_python(case):
    fn, args, wrt = CASES[case]
    check(fn, args, wrt, "python")


def test_repeated_indices_are_not_counted_once():
    """The check above can fail: the buffered form's answer differs from the oracle's here."""
    fn, (m, idx), _ = CASES["columns"]
    got = compiled(fn, target="python")(m, idx)
    buffered = np.zeros_like(m)
    buffered[:, idx] += 3 * m[:, idx] ** 2
    assert not np.allclose(got, buffered)


@pytest.mark.parametrize("target", ["cpu"])
@pytest.mark.parametrize("case", ["embedding", "columns", "scalar_loop"])
def test_gather_on_cpu(case, target):
    fn, args, wrt = CASES[case]
    check(fn, args, wrt, target)


def test_embedding_lookup_gradient_counts_each_token():
    """d/dE of sum(E[tokens] @ w) is w added once per occurrence of each token."""
    E, tokens, w = np.zeros((4, 2)), np.array([3, 3, 0, 3]), np.array([1.5, -2.0])
    got = compiled(embedding_lookup, target="python")(E, tokens, w)
    np.testing.assert_allclose(got, np.outer(np.bincount(tokens, minlength=4), w))


def test_forward_mode_tangent_of_a_repeated_gather():
    P, rows = np.array([1., 2., 3.]), np.array([0, 2, 2])
    direction = np.array([0.5, -1.0, 2.0])
    value, tangent = adjoint.jvp(gather_squares, target="python")(P, rows, direction)
    np.testing.assert_allclose(tangent, finite_difference(lambda t: gather_squares(P + t * direction, rows),
                                                          [0.0], 0), rtol=1e-6)


def mixed_mask_and_rows(m, mask, rows):
    return np.sum(m[mask, rows])


def test_unsupported_mixed_index_is_an_error():
    with pytest.raises(adjoint.AdjointError, match="boolean mask together with an integer array"):
        adjoint.grad(mixed_mask_and_rows, target="python")(np.ones((3, 3)), np.array([True, False, True]),
                                                           np.array([0, 0]))


GATHERED_ROWS = np.array([0, 2, 2])


def gather_of_module_rows(P):
    return np.sum(P[GATHERED_ROWS])


@needs_cuda
def test_gather_on_cuda_is_a_located_error():
    with pytest.raises(adjoint.AdjointError, match="a gather .* is not available on the cuda target") as caught:
        adjoint.grad(gather_of_module_rows, target="cuda").batch(np.ones((2, 3)))
    assert "test_gather.py:" in str(caught.value) and "hint:" in str(caught.value)


def gather_in_loop(P, rows, steps):
    """The same repeated gather read in every iteration of a loop that carries `total`."""
    total = 0.0
    for k in range(steps):
        total = total + np.sum(np.sin(P[rows] * (k + 1.0)))
    return total


def test_gather_inside_a_loop():
    check(gather_in_loop, (np.array([0.3, -0.4, 1.1, 0.2]), ROWS, 3), 0, "python")


@pytest.mark.parametrize("target", ["cpu"])
def test_gather_inside_a_loop_on_cpu(target):
    check(gather_in_loop, (np.array([0.3, -0.4, 1.1, 0.2]), ROWS, 3), 0, target)
