"""numpy calls with the options and axes other authors write (issue "Reach"), rejected before:
np.sort, np.flip and np.cumprod along an axis, np.diff's `n`, np.diag's `k=`, np.trace's
offset, np.linalg.norm's `ord`, np.transpose's axes, np.squeeze, np.take, np.tile,
np.linalg.matrix_power, np.linspace's `endpoint=False`, np.vstack, np.hstack and
np.column_stack, np.average, np.sum's `where=` and np.max's and np.min's `initial=`. Gradients in both modes against central differences, and against autograd
running the same source where autograd has the form; a few on the cpu target, whose numba
lacks most of these forms (runtime helpers); and the forms still refused, with hints that work.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

import adjoint
from tests.conftest import make_rng
from tests.oracles import autograd_gradient, finite_difference

WEIGHTS = np.arange(1.0, 13.0).reshape(3, 4) / 7.0


# along an axis ------------------------------------------------------------------------------

def sorted_columns(a):
    return np.sum(np.sort(a, 0) * WEIGHTS) + np.sum(np.sort(a, axis=-1) ** 2 * WEIGHTS)


def sorted_rows(a):
    return np.sum(np.sort(a) * WEIGHTS)


def flipped_axes(a):
    return np.sum(np.flip(a, 0) * WEIGHTS) + np.sum(np.flip(a, axis=1) ** 2 * WEIGHTS)


def running_products(a):
    return np.sum(np.cumprod(a, axis=1) * WEIGHTS) + np.sum(np.cumprod(a, 0) ** 2)


# options ---------------------------------------------------------------------------------------

def second_differences(x):
    return np.sum(np.diff(x, 2) ** 2) + np.sum(np.diff(x, n=3) * np.arange(1.0, 4.0))


def differences_along_an_axis(a):
    return np.sum(np.diff(a, n=2, axis=1) ** 2 * WEIGHTS[:, :2]) + np.sum(np.diff(a, 2, 0) ** 2)


def off_diagonals(a):
    return np.trace(a ** 2, 1) + np.trace(a, offset=-1) + np.sum(np.diag(a, k=-1) ** 2) \
        + np.sum(np.tril(a, k=1) * np.cos(a))


def vector_norms(x):
    return np.linalg.norm(x, 1) + np.linalg.norm(x, 2) + 0.5 * np.linalg.norm(x, ord=3) \
        + np.linalg.norm(x, np.inf) + 2.0 * np.linalg.norm(x, ord=-np.inf)


def euclidean_norms(x):
    return np.linalg.norm(x, 2) + np.linalg.norm(x, ord=3)


def frobenius(a):
    return np.linalg.norm(a, 'fro') + np.linalg.norm(a, ord='fro') ** 2


def line_norms(a):
    return np.sum(np.linalg.norm(a, 1, axis=1) * WEIGHTS[:, 0]) + np.sum(np.linalg.norm(a, np.inf, 0) * WEIGHTS[0]) \
        + np.sum(np.linalg.norm(a, ord=3, axis=0))


def transposed(a):
    return np.sum(np.transpose(a, (1, 0)) * WEIGHTS.T) + np.sum(np.transpose(a, axes=(1, 0)) ** 2 * WEIGHTS.T)


def transposed_3d(x):
    t = np.reshape(x, (2, 3, 2))
    return np.sum(np.transpose(t, (2, 0, 1)) ** 2 * np.arange(12.0).reshape(2, 2, 3))


def squeezed(a):
    return np.sum(np.squeeze(a[:, :1], axis=1) * np.arange(3.0)) + np.sum(np.squeeze(a[1:2], 0) ** 2)


def taken(x):
    return np.sum(np.take(x, np.array([0, 2, 2, -1])) * np.arange(4.0))


def taken_along_axes(a):
    return np.sum(np.take(a, np.array([1, 3]), axis=1) ** 2 * WEIGHTS[:, :2]) + np.sum(np.take(a, 2) * a[0]) \
        + np.sum(np.take(a, np.array([2, 0]), 0) * WEIGHTS[:2])


def tiled(x):
    return np.sum(np.tile(x, 3) * np.arange(12.0))


def tiled_rows(a):
    return np.sum(np.tile(a, 2) ** 2 * np.arange(8.0))


def powers(a):
    b = a[:, :3]
    return np.sum(np.linalg.matrix_power(b, 3) * WEIGHTS[:, :3]) + np.sum(np.linalg.matrix_power(b, 1) ** 2) \
        + np.sum(np.linalg.matrix_power(b, 0)) + np.sum(np.linalg.matrix_power(b + 3.0 * np.eye(3), n=-2))


def methods(a):
    return np.sum(a.transpose(1, 0) * WEIGHTS.T) + np.sum(a.cumprod(axis=1) * WEIGHTS) + a.trace(1) \
        + np.sum(a[:1].squeeze(0) ** 2) + np.sum(a.take(np.array([0, 5])) ** 2) + np.sum(a.cumsum(0) * WEIGHTS)


def half_open_grid(a):
    return np.sum(np.linspace(0.0, a, 5, endpoint=False) ** 2) + np.sum(np.linspace(a, 2.0, 4, endpoint=True))


# parts joined by rank --------------------------------------------------------------------------

def stacked_vectors(x):
    return np.sum(np.vstack((x, x ** 2, np.sin(x))) ** 2 * WEIGHTS) \
        + np.sum(np.column_stack([x, np.cos(x), x ** 3]) * WEIGHTS.T)


def stacked_matrices(a):
    return np.sum(np.vstack((a, 2.0 * a)) ** 2 * np.vstack((WEIGHTS, WEIGHTS))) \
        + np.sum(np.hstack([a, np.cos(a)]) ** 2 * np.hstack((WEIGHTS, WEIGHTS))) \
        + np.sum(np.column_stack((a, a[:, 0])) ** 2)


def end_to_end(x):
    return np.sum(np.hstack((x[0], x, 3.0)) ** 2 * np.arange(6.0)) + np.sum(np.hstack([x, x ** 2]) * np.arange(8.0))


def masked_and_floored(x):
    return np.sum(x ** 2, where=x > 0) + np.max(x, initial=0.25) + np.sum(np.min(np.outer(x, x), axis=0, initial=-0.5))


def averages(x):
    return np.average(x ** 2, weights=np.arange(1.0, 5.0)) + np.average(np.sin(x)) \
        + np.sum(np.average(np.outer(x, x), axis=0) ** 2)


rng = make_rng("test_numpy_options")
V, M, S = rng.normal(size=4), rng.normal(size=(3, 4)), rng.normal(size=(4, 4))
V6 = rng.normal(size=6)

# (function, arguments, whether autograd has every form it calls)
CASES = [
    (sorted_columns, (M,), False), (sorted_rows, (M,), False), (flipped_axes, (M,), False),
    (running_products, (M,), False), (second_differences, (V6,), True), (differences_along_an_axis, (M,), True),
    (off_diagonals, (M,), False), (off_diagonals, (S,), True), (vector_norms, (V,), False),
    (euclidean_norms, (V,), True), (frobenius, (M,), True), (line_norms, (M,), False), (transposed, (M,), True),
    (transposed_3d, (rng.normal(size=12),), True), (squeezed, (M,), True), (taken, (V,), False),
    (taken_along_axes, (M,), False), (tiled, (V,), True), (tiled_rows, (M,), False), (powers, (M,), False),
    (half_open_grid, (0.7,), False), (stacked_vectors, (V,), True), (stacked_matrices, (M,), True),
    (end_to_end, (V,), True), (methods, (M,), False), (masked_and_floored, (V,), False), (averages, (V,), False),
]
IDS = [f"{f.__name__}-{np.shape(args[0])}" for f, args, _ in CASES]


@pytest.mark.parametrize("f, args, by_autograd", CASES, ids=IDS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_gradient_matches_finite_differences(f, args, by_autograd, mode):
    got = adjoint.grad(f, target="python", mode=mode)(*args)
    want = finite_difference(f, args, 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * max(1.0, float(np.max(np.abs(want)))))


@pytest.mark.parametrize("f, args", [pytest.param(f, args, id=i) for (f, args, ok), i in zip(CASES, IDS) if ok])
def test_gradient_matches_autograd(f, args):
    got = adjoint.grad(f, target="python")(*args)
    np.testing.assert_allclose(got, autograd_gradient(f, args, 0), rtol=1e-9, atol=1e-10)


# the emitted gradient differentiated again (forward over reverse): an infinite ord's partial is
# a selection, whose own derivative is 0 (a power of inf - 1 would give inf * 0)
@pytest.mark.parametrize("f, args", [pytest.param(f, args, id=i) for (f, args, _), i in zip(CASES, IDS)
                                     if f in (flipped_axes, running_products, vector_norms, line_norms, tiled_rows,
                                              stacked_matrices, powers, squeezed)])
def test_hessian_vector_product(f, args):
    (x,) = args
    v = make_rng("hvp", f.__name__).standard_normal(np.shape(x))
    gradient = adjoint.grad(f, target="python")
    want = finite_difference(lambda y: float(np.sum(gradient(y) * v)), [x], 0)
    np.testing.assert_allclose(adjoint.hvp(f, target="python")(x, v), want, rtol=1e-5, atol=1e-6)


def test_emitted_gradient_reads_like_the_call():
    """The reverse of np.flip along an axis flips along it (a reversed slice, which numba has);
    a p-norm's partial is sign(x) (|x| / norm)^(p - 1), the 2-norm's x / norm."""
    text = adjoint.grad(flipped_axes, target="python").source_for(M)
    assert "s_a += s_1[::-1]" in text and "[:, ::-1]" in text
    text = adjoint.grad(euclidean_norms, target="python").source_for(V)
    assert "s_x += np.sign(x) * (np.abs(x) / t_1)" in text and "np.linalg.norm(x, 2)" in text


# numba lacks np.flip, np.sort, np.argsort and np.cumprod along an axis, np.squeeze, np.tile and
# np.linalg.norm's ord along an axis: runtime helpers (a numba compile each)
def along_axes_on_cpu(a):
    return np.sum(np.sort(a, 0) * WEIGHTS) + np.sum(np.flip(a, 1) * np.cumprod(a, axis=1)) \
        + np.sum(np.tile(a, 2) ** 2 * np.arange(8.0)) + np.sum(np.linalg.norm(a, 1, axis=1)) \
        + np.linalg.norm(a[0], np.inf) + np.sum(np.squeeze(a[:, :1], axis=1))


def joined_on_cpu(x):
    return np.sum(np.vstack((x, x ** 2)) ** 2 * WEIGHTS[:2]) + np.sum(np.column_stack((x, np.sin(x))) * WEIGHTS.T[:, :2]) \
        + np.sum(np.hstack((x, x)) * np.arange(8.0)) + np.sum(np.diff(x, 2) ** 2) + np.trace(np.outer(x, x), 1)


def sorted_and_flipped_on_cpu(a):
    return np.sum(np.sort(a, 0) * WEIGHTS) + np.sum(np.flip(a, 1) ** 2 * WEIGHTS)


@pytest.mark.slow
def test_cpu_target():
    """(Each form also compiles on cpu in tests/test_primitive_table.py's rows.)"""
    got = adjoint.grad(sorted_and_flipped_on_cpu, target="cpu")(M)
    np.testing.assert_allclose(got, finite_difference(sorted_and_flipped_on_cpu, (M,), 0), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("f, x", [(along_axes_on_cpu, M), (joined_on_cpu, V)], ids=["along_axes", "joined"])
def test_cpu_target_of_every_helper(f, x):
    got = adjoint.grad(f, target="cpu")(x)
    np.testing.assert_allclose(got, finite_difference(f, (x,), 0), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("f, args", [pytest.param(f, args, id=i) for (f, args, _), i in zip(CASES, IDS)
                                     if f in (transposed_3d, taken_along_axes, powers, half_open_grid, stacked_matrices,
                                              end_to_end, line_norms, sorted_rows)])
def test_more_forms_on_cpu(f, args):
    got = adjoint.grad(f, target="cpu")(*args)
    np.testing.assert_allclose(got, finite_difference(f, args, 0), rtol=1e-5, atol=1e-6)


# what is still refused, and the rewrite each hint gives ----------------------------------------

def matrix_one_norm(a):
    return np.linalg.norm(a, 1)


def matrix_one_norm_written_out(a):
    return np.max(np.sum(np.abs(a), axis=0))


def squeeze_all(a):
    return np.sum(np.squeeze(a[:, :1]) ** 2)


def squeeze_named(a):
    return np.sum(np.squeeze(a[:, :1], axis=1) ** 2)


def tile_grid(a):
    return np.sum(np.tile(a, (2, 3)) ** 2 * np.arange(72.0).reshape(6, 12))


def tile_grid_written_out(a):
    return np.sum(np.tile(np.tile(a, 3).T, 2).T ** 2 * np.arange(72.0).reshape(6, 12))


def weighted_columns(a):
    return np.sum(np.average(a, axis=0, weights=np.arange(1.0, 4.0)))


def weighted_columns_written_out(a):
    return np.sum(np.sum(a * np.arange(1.0, 4.0)[:, None], axis=0) / np.sum(np.arange(1.0, 4.0)))


def power_of_a_name(a, k):
    return np.sum(np.linalg.matrix_power(a, k))


def nuclear(a):
    return np.linalg.norm(a, 'nuc')


@pytest.mark.parametrize("f, rewrite, message, hint", [
    (matrix_one_norm, matrix_one_norm_written_out, "np.linalg.norm of a matrix with an `ord`",
     "np.max(np.sum(np.abs(A), axis=0))"),
    (squeeze_all, squeeze_named, "np.squeeze without an axis", "np.squeeze(x, axis=1)"),
    (tile_grid, tile_grid_written_out, "np.tile with a tuple of counts", "np.tile(np.tile(A, c).T, r).T"),
    (weighted_columns, weighted_columns_written_out, "np.average with weights along an axis",
     "np.sum(x * w, axis=0) / np.sum(w)"),
])
def test_refused_forms_name_a_rewrite_that_works(f, rewrite, message, hint):
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(f, target="python")(M)
    text = str(caught.value)
    assert message in text and hint in text and "test_numpy_options.py" in text
    got = adjoint.grad(rewrite, target="python")(M)
    np.testing.assert_allclose(got, finite_difference(f, (M,), 0), rtol=1e-5, atol=1e-6)


def sorted_whole(a):
    return np.sum(np.sort(a, axis=None) * np.arange(12.0))


def sorted_whole_written_out(a):
    return np.sum(np.sort(np.ravel(a)) * np.arange(12.0))


def matrix_norm_over_axes(a):
    return np.linalg.norm(a, 1, (0, 1))


def test_whole_array_axis_and_matrix_norms_over_axes_are_refused():
    with pytest.raises(adjoint.AdjointError, match="axis=None") as caught:
        adjoint.grad(sorted_whole, target="python")(M)
    assert "np.sort(np.ravel(x))" in str(caught.value)
    got = adjoint.grad(sorted_whole_written_out, target="python")(M)
    np.testing.assert_allclose(got, finite_difference(sorted_whole, (M,), 0), rtol=1e-5, atol=1e-6)
    with pytest.raises(adjoint.AdjointError, match="tuple of axes"):
        adjoint.grad(matrix_norm_over_axes, target="python")(M)


def test_options_must_be_written_in_the_call():
    with pytest.raises(adjoint.AdjointError, match="integer written in the call") as caught:
        adjoint.grad(power_of_a_name, target="python")(S, 2)
    assert "P = P @ A" in str(caught.value)
    with pytest.raises(adjoint.AdjointError, match="ord='nuc'"):
        adjoint.grad(nuclear, target="python")(S)


def log_softmax_rows(W, X):
    """autograd's neural_net.py normalizes its outputs this way."""
    logits = X @ W
    return np.sum((logits - logsumexp(logits, axis=1, keepdims=True)) * np.arange(4.0))


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_logsumexp_keeps_its_axis(target):
    rng = make_rng("logsumexp keepdims")
    W, X = rng.normal(size=(3, 4)), rng.normal(size=(5, 3))
    got = adjoint.grad(log_softmax_rows, target=target, cache=False)(W, X)
    np.testing.assert_allclose(got, finite_difference(log_softmax_rows, (W, X), 0), rtol=1e-6, atol=1e-8)
