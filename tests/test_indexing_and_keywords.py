"""Indexing (issue #17 item 6) and keyword options of numpy calls (item 10).

`x[:, None]` / `np.newaxis`, `...`, negative steps, boolean masks and integer arrays in reads;
`keepdims=True`, `axis=` as a tuple or a negative number, `dtype=`, np.convolve's `mode=`
(and np.correlate, written as np.convolve of its second array reversed),
np.triu_indices' `k=`, and `out=` (rejected). normalize writes a new axis and a kept
dimension as np.expand_dims, an axis tuple as one reduction per axis, and a convolution's mode
as a slice of the full one. Checked against central differences and autograd; the reverse and
forward modes on the python target, a few programs compiled for the cpu target.
"""

import numpy as np
import pytest

import adjoint
from tests.conftest import assert_gradient, compiled, fd_tolerance, finite_difference
from tests.oracles import autograd_gradient

# new axes and `...` ---------------------------------------------------------------------------

def pairwise_squares(x, y):
    return np.sum((x[:, None] - y[None, :]) ** 2 * np.cos(x)[:, np.newaxis])


def rows_against_rows(X):
    diff = X[:, np.newaxis, :] - X[np.newaxis, :, :]
    return np.sum(np.sqrt(np.sum(diff ** 2, axis=-1) + 1.0))


def leading_and_trailing_axes(x, M):
    return np.sum(np.sin(x[None]) * M) + np.sum(x[..., None] * M.T) + np.sum(M[:, :, None] ** 2)


def sliced_then_new_axis(x, M):
    return np.sum(x[1:, None] * M[:, ::2]) + np.sum(np.exp(M[0, :, None]) * M[0][None, :])


def ellipsis_reads(T):
    return np.sum(T[..., 0] ** 2) + np.sum(np.sin(T[0, ...])) + np.sum(T[..., 1:] * T[..., :-1])


# negative steps, masks, integer arrays ------------------------------------------------------------

def reversed_reads(x, M):
    return np.sum(x[::-1] * x) + np.sum(x[-2::-2] ** 3) + np.sum(M[::-1, 1] * M[:, 0]) + np.sum(M[:, ::-1] * M)


def masked_read(x):
    return np.sum(x[x > 0.0] ** 2) + np.sum(np.exp(x[x < 0.0]))


def masked_by_argument(x, mask):
    return np.sum(np.sin(x[mask]) * 2.0)


def masked_matrix(M):
    return np.sum(M[M > 0.0] ** 3)


def gather_rows_repeated(X, idx):
    return np.sum(X[idx] ** 2 * X[idx, 1][:, None]) + np.sum(np.cos(X[:, idx]))


def gather_of_a_matrix_of_indices(x, idx):
    return np.sum(x[idx] @ np.ones(idx.shape[1]) ** 2)


# keyword options --------------------------------------------------------------------------------

def keepdims_reductions(M):
    a = M - np.max(M, axis=1, keepdims=True)
    b = a / np.sum(np.exp(a), axis=-1, keepdims=True)
    c = M * np.mean(M, axis=0, keepdims=True) - np.min(M, axis=-2, keepdims=True)
    d = M / np.prod(M, axis=1, keepdims=True)
    return np.sum(b ** 2) + np.sum(c * M) + np.sum(d)


def keepdims_methods(M):
    scores = M - M.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return np.sum(weights * M)


def axis_tuples(T):
    return (np.sum(np.sum(T ** 2, axis=(0, 2)) ** 2) + np.sum(np.mean(T, axis=(-2, -1)) ** 3)
            + np.sum(T * np.mean(T, axis=(1, 2), keepdims=True)) + np.sum(np.sin(np.sum(T, (0, 1)))))


def axis_tuple_keepdims_negative(T):
    return np.sum(T / np.sum(T ** 2, axis=(-1, -3), keepdims=True))


def normalized_columns(X):
    mu = np.mean(X, axis=0, keepdims=True)
    sd = np.std(X, axis=0, keepdims=True)
    return np.sum(((X - mu) / sd) ** 3) + np.sum(X / np.var(X, axis=-1, keepdims=True))


def unit_rows(X):
    return np.sum(X / np.linalg.norm(X, axis=1, keepdims=True) * X[::-1])


def negative_axes(M):
    return np.sum(np.sum(M, axis=-1) ** 2) + np.sum(np.mean(M, axis=-2) * M[0]) + np.sum(np.max(M, -1))


def dtypes(x):
    z = np.zeros(x.shape[0], dtype=np.float64)
    w = np.ones((2, x.shape[0]), dtype=float)
    return (np.sum(x * x, dtype=np.float64) + np.sum((z + x) * w) + np.sum(np.arange(x.shape[0], dtype=np.float64) * x)
            + np.mean(x ** 3, dtype=np.float64) + np.prod(x, dtype=float))


def convolve_full(a, v):
    return np.sum(np.convolve(a, v) ** 2)


def convolve_valid(a, v):
    return np.sum(np.sin(np.convolve(a, v, mode='valid')))


def convolve_same(a, v):
    return np.sum(np.convolve(a, v, 'same') ** 3)


def correlations(a, v):
    """np.correlate in its three modes: normalize writes it as np.convolve of v reversed."""
    return np.sum(np.correlate(a, v) ** 2) + np.sum(np.correlate(v, a, mode="full") * 0.3) \
        + np.sum(np.tanh(np.correlate(a, v, "same")))


def pair_energy(pos, eps):
    i, j = np.triu_indices(len(pos), k=1)
    r2 = np.sum((pos[i] - pos[j]) ** 2, axis=1)
    return np.sum(eps / r2)


def pair_energy_named_pair(pos, eps):
    """The pair bound to a name, then unpacked: the three-address form a gradient keeps, which
    a second differentiation reads."""
    pair = np.triu_indices(len(pos), k=1)
    i, j = pair
    return np.sum(eps / np.sum((pos[i] - pos[j]) ** 2, axis=1))


def sorted_rows_weighted(X, w):
    """Each row sorted by gathering it in its argsort's order (np.take_along_axis)."""
    return np.sum(np.take_along_axis(X, np.argsort(X, axis=1), axis=1) * w)


def best_of_each_row(A):
    """The argmax idiom: each row's largest element, gathered with the kept axis."""
    best = np.take_along_axis(A, np.expand_dims(np.argmax(A, axis=1), 1), axis=1)
    return np.sum(best ** 2) + np.sum(np.tanh(A))


def gathered_with_repeats(x, idx):
    """A repeated index adds its sensitivities up; a negative one counts from the end."""
    return np.sum(np.take_along_axis(x, idx, 0) ** 2)


def lower_pairs(M):
    i, j = np.tril_indices(M.shape[0], -1)
    k, m = np.triu_indices(M.shape[0])
    return np.sum(M[i, j] ** 2) + np.sum(np.sin(M[k, m]))


def stable_softmax_rebound(S):
    S = S - np.max(S, axis=1).reshape(-1, 1)
    return np.sum(np.log(np.sum(np.exp(S), axis=1)))


def onehot_with_new_axes(W, X, y):
    scores = X @ W
    scores = scores - scores.max(axis=1).reshape(-1, 1)
    log_probs = scores - np.log(np.exp(scores).sum(axis=1)).reshape(-1, 1)
    onehot = (y[:, None] == np.arange(W.shape[1])[None, :]) * 1.0
    return -np.sum(onehot * log_probs)


RNG = np.random.default_rng(17)
V5, V4 = RNG.normal(size=5), RNG.normal(size=4)
M34 = RNG.normal(size=(3, 4))
T234 = RNG.normal(size=(2, 3, 4))
POSITIVE = RNG.uniform(0.5, 1.5, size=(3, 4))
IDX = np.array([0, 2, 2, 1, 2])

# name -> (function, arguments, wrt, whether autograd can run it: it has no vjp of np.convolve)
CASES = {
    "pairwise_x": (pairwise_squares, (V5, V4), 0, True),
    "pairwise_y": (pairwise_squares, (V5, V4), 1, True),
    "rows_against_rows": (rows_against_rows, (M34,), 0, True),
    "leading_and_trailing_x": (leading_and_trailing_axes, (V4, M34), 0, True),
    "leading_and_trailing_M": (leading_and_trailing_axes, (V4, M34), 1, True),
    "sliced_then_new_axis": (sliced_then_new_axis, (V4, M34), 1, True),
    "sliced_then_new_axis_x": (sliced_then_new_axis, (V4, M34), 0, True),
    "ellipsis": (ellipsis_reads, (T234,), 0, True),
    "reversed_x": (reversed_reads, (V5, M34), 0, True),
    "reversed_M": (reversed_reads, (V5, M34), 1, True),
    "masked_read": (masked_read, (V5,), 0, True),
    "masked_by_argument": (masked_by_argument, (V5, np.array([True, False, True, True, False])), 0, True),
    "masked_matrix": (masked_matrix, (M34,), 0, True),
    "gather_rows_repeated": (gather_rows_repeated, (RNG.normal(size=(4, 3)), np.array([0, 2, 2, 1])), 0, False),
    "gather_matrix_of_indices": (gather_of_a_matrix_of_indices, (V4, np.array([[0, 3, 3], [1, 1, 0]])), 0, True),
    "keepdims": (keepdims_reductions, (POSITIVE,), 0, True),
    "keepdims_methods": (keepdims_methods, (M34,), 0, True),
    "axis_tuples": (axis_tuples, (T234,), 0, True),
    "axis_tuple_keepdims_negative": (axis_tuple_keepdims_negative, (T234 + 3.0,), 0, True),
    "negative_axes": (negative_axes, (M34,), 0, True),
    "keepdims_var_std": (normalized_columns, (M34,), 0, True),
    "keepdims_norm": (unit_rows, (M34,), 0, False),        # autograd expands the kept axis again
    "dtypes": (dtypes, (V5,), 0, True),
    "convolve_full_a": (convolve_full, (V5, V4[:3]), 0, False),
    "convolve_full_v": (convolve_full, (V5, V4[:3]), 1, False),
    "convolve_valid_a": (convolve_valid, (V5, V4[:3]), 0, False),
    "convolve_valid_v": (convolve_valid, (V5, V4[:3]), 1, False),
    "convolve_valid_longer_kernel": (convolve_valid, (V4[:3], V5), 1, False),
    "convolve_same_a": (convolve_same, (V5, V4), 0, False),
    "convolve_same_even": (convolve_same, (V4, V5[:2]), 1, False),
    "convolve_same_longer_kernel": (convolve_same, (V4[:2], V5), 0, False),
    "correlate_a": (correlations, (V5, V4[:3]), 0, False),
    "correlate_v": (correlations, (V5, V4[:3]), 1, False),
    "correlate_longer_second": (correlations, (V4[:3], V5), 0, False),
    "pair_energy_pos": (pair_energy, (RNG.normal(size=(4, 3)), 0.7), 0, True),
    "pair_energy_eps": (pair_energy, (RNG.normal(size=(4, 3)), 0.7), 1, True),
    "lower_pairs": (lower_pairs, (RNG.normal(size=(4, 4)),), 0, True),
    "pair_energy_named_pair": (pair_energy_named_pair, (RNG.normal(size=(4, 3)), 0.7), 0, True),
    "stable_softmax_rebound": (stable_softmax_rebound, (M34,), 0, True),
    "take_along_axis_sorted_rows": (sorted_rows_weighted, (M34, V4), 0, False),     # autograd has no rule
    "take_along_axis_argmax": (best_of_each_row, (M34,), 0, False),
    "take_along_axis_repeats": (gathered_with_repeats, (V5, np.array([4, 0, 0, 2, -1])), 0, False),
    "onehot_with_new_axes": (onehot_with_new_axes, (M34, RNG.normal(size=(5, 3)), np.array([0, 3, 3, 1, 2])), 0, True),
}


def check(name, target, mode="reverse"):
    fn, args, wrt, _ = CASES[name]
    value = fn(*args)
    if mode == "reverse":
        got = compiled(fn, wrt=wrt, target=target)(*args)
    else:
        got = adjoint.grad(fn, wrt=wrt, target=target, mode="forward")(*args)
    assert_gradient(got, finite_difference(fn, args, wrt), **fd_tolerance(value, rtol=1e-5))
    return got


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_finite_differences(name):
    check(name, "python")


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][3]))
def test_gradient_matches_autograd(name):
    fn, args, wrt, _ = CASES[name]
    got = compiled(fn, wrt=wrt, target="python")(*args)
    np.testing.assert_allclose(got, autograd_gradient(fn, args, wrt), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["pairwise_x", "rows_against_rows", "leading_and_trailing_M", "ellipsis",
                                  "keepdims", "axis_tuples", "convolve_valid_a", "convolve_same_even",
                                  "correlate_v", "pair_energy_pos", "take_along_axis_repeats", "take_along_axis_argmax"])
def test_forward_mode_matches_finite_differences(name):
    check(name, "python", mode="forward")


def test_values_are_numpy_s():
    """The normalized primal (expand_dims, one reduction per axis, a slice of the full
    convolution) computes what numpy does with the keyword forms."""
    for name in ("convolve_valid_longer_kernel", "convolve_same_even", "convolve_same_longer_kernel",
                 "correlate_a", "correlate_longer_second",
                 "axis_tuples", "axis_tuple_keepdims_negative", "leading_and_trailing_M"):
        fn, args, wrt, _ = CASES[name]
        value, _ = adjoint.value_and_grad(fn, wrt=wrt, target="python")(*args)
        assert value == pytest.approx(fn(*args), rel=1e-12)


def test_new_axes_read_as_expand_dims():
    emitted = adjoint.source(pairwise_squares, types="x=float64[:], y=float64[:]")
    assert "np.expand_dims(x, 1)" in emitted and "np.expand_dims(y, 0)" in emitted
    emitted = adjoint.grad(keepdims_reductions, target="python").source_for(POSITIVE)
    assert "keepdims=" not in emitted and "np.expand_dims(" in emitted


# the cpu target: one compile (tests/test_realistic.py's CPU_PROGRAMS compile keepdims,
# np.convolve's mode and np.triu_indices: softmax_loss_vectorized, conv1d_fit_vec,
# lennard_jones_vec)

def cpu_indexing(X, v):
    diff = X[:, None, :] - X[None, :, ...]
    return (np.sum(np.sum(diff ** 2, axis=(1, 2)) * v[::-1]) + np.sum(v[v > 0.0] ** 2)
            + np.mean(X * X, dtype=np.float64) * np.sum(np.arange(4, dtype=np.float64) * v)
            + np.sum(np.correlate(v, X[0]) ** 2))


@pytest.mark.slow
def test_cpu_target():
    fn, args = cpu_indexing, (RNG.normal(size=(4, 3)), RNG.normal(size=4))
    got = compiled(fn, wrt=(0, 1), target="cpu")(*args)
    want = (finite_difference(fn, args, 0), finite_difference(fn, args, 1))
    assert_gradient(got, want, **fd_tolerance(fn(*args), rtol=1e-5))


# what stays rejected, with a hint that works ---------------------------------------------------

def out_statement(x):
    y = np.zeros_like(x)
    np.exp(x, out=y)
    return np.sum(y)


def out_assigned(x):
    y = np.zeros_like(x)
    z = np.multiply(x, x, out=y)
    return np.sum(z)


def keepdims_without_axis(M):
    return np.sum(M / np.sum(M, keepdims=True))


def mixed_sign_axes(T):
    return np.sum(np.sum(T, axis=(0, -1)))


def unknown_keyword(x):
    return np.sum(x, initial=1.0)


def bad_mode(a, v):
    return np.sum(np.convolve(a, v, mode='middle'))


def indices_not_unpacked(M):
    pairs = np.triu_indices(M.shape[0], 1)
    return np.sum(M[pairs])


def variance_over_two_axes(T):
    return np.sum(np.var(T, axis=(0, 1)))


def new_axis_after_a_name(M, i):
    return np.sum(M[i, :, None])


REJECTED = {
    "out_statement": (out_statement, (V4,), "`out=` in `np.exp(...)`", "y = np.exp(...)"),
    "out_assigned": (out_assigned, (V4,), "`out=` in `np.multiply(...)`", "without `out=`"),
    "keepdims_without_axis": (keepdims_without_axis, (M34,), "`keepdims=True` without an axis",
                              "drop keepdims"),
    "mixed_sign_axes": (mixed_sign_axes, (T234,), "mixing negative and non-negative", "axis=(-2, -1)"),
    "unknown_keyword": (unknown_keyword, (V4,), "keyword argument `initial=` is not supported",
                        "`np.sum` takes `axis=`, `dtype=`, `keepdims=`, `where=` here"),
    "bad_mode": (bad_mode, (V5, V4), "mode must be 'full', 'valid' or 'same'", "mode='valid'"),
    "indices_not_unpacked": (indices_not_unpacked, (M34,), "follows only unpacked", "i, j = np.triu_indices"),
    "new_axis_after_a_name": (new_axis_after_a_name, (T234, 1), "a new axis (None)", "index in two steps"),
    "variance_over_two_axes": (variance_over_two_axes, (T234,), "a tuple of axes in `np.var`",
                               "np.var(np.reshape(x, (-1, x.shape[-1])), axis=0)"),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejections_are_located_with_a_hint(name):
    fn, args, message, hint = REJECTED[name]
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(fn, target="python")(*args)
    text = str(caught.value)
    assert message in text and hint in text, text
    assert "test_indexing_and_keywords.py:" in text


def keepdims_hint_applied(M):
    return np.sum(M / np.sum(M))


def axes_hint_applied(T):
    return np.sum(np.sum(T, axis=(-3, -1)) ** 2)


def variance_hint_applied(T):
    return np.sum(np.var(np.reshape(T, (-1, T.shape[-1])), axis=0))


def two_step_index(M, i):
    y = M[i]
    return np.sum(y[:, None] * y[None, :])


@pytest.mark.parametrize("fn, args", [(keepdims_hint_applied, (POSITIVE,)), (axes_hint_applied, (T234,)),
                                      (two_step_index, (T234, 1)), (variance_hint_applied, (T234,))])
def test_rewrites_the_hints_suggest_differentiate(fn, args):
    got = adjoint.grad(fn, target="python")(*args)
    assert_gradient(got, finite_difference(fn, args, 0), **fd_tolerance(fn(*args), rtol=1e-5))
