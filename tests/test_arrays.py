"""Arrays and NumPy: whole-array expressions, broadcasting, reductions, products, element
loops and local arrays, against central finite differences and autograd, on both targets."""

import re

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adjoint
from tests import array_corpus as ac
from tests.conftest import compiled as gradient_function
from tests.conftest import make_rng
from tests.oracles import autograd_gradient, autograd_twin, finite_difference


def _cases():
    """(function, arguments, whether autograd can run it: it cannot assign array elements);
    the arguments are drawn once, at import, from a generator of their own."""
    rng = np.random.default_rng(11)
    positive = rng.uniform(0.5, 2.0, size=(3, 4))
    return [
        (ac.elementwise, (rng.normal(size=5),), True),
        (ac.scalar_and_array, (0.7, rng.normal(size=5)), True),
        (ac.broadcast_pair, (rng.normal(size=(3, 1)), rng.normal(size=(1, 4))), True),
        (ac.broadcast_pair, (rng.normal(size=(3, 4)), rng.normal(size=4)), True),
        (ac.reductions, (positive,), True),
        (ac.mean_axis, (rng.normal(size=(3, 4)),), True),
        (ac.products, (rng.normal(size=(3, 3)), rng.normal(size=(3, 3)), rng.normal(size=3)), True),
        (ac.matmul_function, (rng.normal(size=(2, 3)), rng.normal(size=(3, 4))), True),
        (ac.where_clip, (rng.normal(size=7),), True),
        (ac.shape_ops, (rng.normal(size=(2, 3)),), True),
        (ac.norm_and_size, (rng.normal(size=4),), True),
        (ac.methods, (rng.normal(size=(2, 3)),), True),
        (ac.slices, (rng.normal(size=6),), True),
        (ac.rows_and_columns, (rng.normal(size=(2, 3)),), True),
        (ac.built_arrays, (0.4, 1.3), True),
        (ac.recurrence, (rng.normal(size=6),), False),
        (ac.overwritten_elements, (rng.normal(size=3),), False),
        (ac.matrix_elements, (rng.normal(size=(2, 2)),), False),
        (ac.array_state, (rng.normal(size=4), 5), True),
        (ac.logsumexp, (rng.normal(size=6),), True),
    ]


CASES = _cases()


def float_arguments(args):
    return tuple(k for k, a in enumerate(args) if isinstance(a, (float, np.ndarray)))


def case_id(case):
    fn, args, _ = case
    return fn.__name__ + "-" + "-".join(str(np.shape(a)) for a in args)


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_against_finite_differences(case, target):
    fn, args, _ = case
    wrt = float_arguments(args)
    got = gradient_function(fn, wrt, target)(*args)
    for k, g in zip(wrt, got):
        want = finite_difference(fn, args, k)
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-6 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("case", [c for c in CASES if c[2]], ids=[case_id(c) for c in CASES if c[2]])
def test_against_autograd(case, target):
    fn, args, _ = case
    wrt = float_arguments(args)
    got = gradient_function(fn, wrt, target)(*args)
    for k, g in zip(wrt, got):
        np.testing.assert_allclose(g, autograd_gradient(fn, args, k), rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([((3, 1), (1, 4)), ((2, 3), (3,)), ((4,), (4,)), ((), (5,)), ((3,), ()),
                        ((1, 3), (2, 1)), ((2, 2), (2, 2)), ((0, 3), (3,)), ((2, 1, 3), (4, 1))]),
       st.integers(0, 10_000))
def test_broadcasting_shapes(shapes, seed):
    """Any pair of broadcastable shapes, scalars and empty axes included: each operand's
    gradient has its own shape and matches autograd."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shapes[0]) if shapes[0] else float(rng.normal())
    b = rng.normal(size=shapes[1]) if shapes[1] else float(rng.normal())
    got = gradient_function(ac.broadcast_pair, (0, 1), "python")(a, b)
    for k, g in enumerate(got):
        assert np.shape(g) == np.shape((a, b)[k])
        np.testing.assert_allclose(g, autograd_gradient(ac.broadcast_pair, (a, b), k), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_broadcasting_compiled():
    rng = make_rng("test_arrays", "test_broadcasting_compiled")
    a, b = rng.normal(size=(2, 1, 3)), rng.normal(size=(4, 1))
    got = gradient_function(ac.broadcast_pair, (0, 1), "cpu")(a, b)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, autograd_gradient(ac.broadcast_pair, (a, b), k), rtol=1e-10)


# --- objectives against autograd to 1e-10 relative -------------------------------------------

def relative_error(got, want):
    return np.abs(np.asarray(got) - want).max() / max(np.abs(want).max(), 1e-300)


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_least_squares(target):
    rng = make_rng("test_arrays", "test_least_squares")
    args = (rng.normal(size=(7, 3)), rng.normal(size=3), rng.normal(size=7))
    got = gradient_function(ac.least_squares, (0, 1), target)(*args)
    for k in (0, 1):
        assert relative_error(got[k], autograd_gradient(ac.least_squares, args, k)) < 1e-10


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_mlp_loss(target):
    rng = make_rng("test_arrays", "test_mlp_loss")
    args = (rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=6), 0.3,
            rng.normal(size=(9, 4)), rng.normal(size=9))
    got = gradient_function(ac.mlp_loss, (0, 1, 2, 3), target)(*args)
    for k in range(4):
        assert relative_error(got[k], autograd_gradient(ac.mlp_loss, args, k)) < 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("objective", [ac.gmm_objective, ac.gmm_objective_matrix])
def test_gmm_objective(objective, target):
    import autograd
    args = ac.gmm_data(d=3, K=4, n=12)
    assert objective(*args) == pytest.approx(ac.gmm_objective_vectorized(*args), rel=1e-12)
    got = gradient_function(objective, (0, 1, 2), target)(*args)
    for k in range(3):
        want = autograd.grad(ac.gmm_objective_vectorized, k)(*args)
        assert relative_error(got[k], want) < 1e-10


# --- dtypes, errors, the emitted code ---------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_dtype_follows_input(dtype):
    rng = make_rng("test_arrays", "test_gradient_dtype_follows_input")
    x = rng.normal(size=5).astype(dtype)
    g = gradient_function(ac.elementwise, 0, "cpu")(x)
    assert g.dtype == dtype
    np.testing.assert_allclose(g, finite_difference(ac.elementwise, (x.astype(np.float64),), 0),
                               rtol=1e-3 if dtype == np.float32 else 1e-6)


def test_function_without_rule_names_it_and_how_to_register():
    with pytest.raises(adjoint.AdjointError) as info:
        adjoint.grad(ac.no_rule)
    text = str(info.value)
    assert "no derivative rule for `np.spacing`" in text and "@adjoint.rule(np.spacing)" in text
    assert "array_corpus.py" in text and "^" in text


def test_broadcast_sums_back_only_where_needed():
    rng = make_rng("test_arrays", "test_broadcast_sums_back_only_where_needed")
    source = gradient_function(ac.mlp_loss, (0, 1, 2, 3), "python").source_for(
        rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=6), 0.3,
        rng.normal(size=(9, 4)), rng.normal(size=9))
    assert "def _sum_to_2_1(g, shape):" in source          # b1 broadcast over the rows
    assert "s_W1 += X.T @ s_1" in source                    # the matrix product's rule


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_axis_sum_sensitivity_unbroadcast_only_where_read_elementwise(target):
    rng = make_rng("test_arrays", "test_axis_sum_sensitivity_is_a_view_only_where_read_elementwise")
    A, w, B = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=(3, 2))
    viewed = gradient_function(ac.row_norms_weighted, (0, 1), target)
    copied = gradient_function(ac.row_sums_projected, (0, 1), target)
    for g, fn, args in ((viewed, ac.row_norms_weighted, (A, w)), (copied, ac.row_sums_projected, (A, B))):
        got = g(*args)
        for k in range(2):
            assert relative_error(got[k], autograd_gradient(fn, args, k)) < 1e-12
    view = viewed.source_for(A, w)
    # read only by products with arrays of A's whole shape: no view, no zero fill, no pass
    # (optimize/unbroadcast.py), for the sum and the mean alike
    assert re.search(r"\(A \+ A\) \* np\.expand_dims\(s_\w+, 1\)", view), view
    assert re.search(r"\* \(np\.expand_dims\(s_\w+, 0\) / A\.shape\[0\]\)", view), view
    assert "np.broadcast_to" not in view and "s_1 = np.zeros" not in view
    copy = copied.source_for(A, B)                                # a matrix product reads it
    assert "s_1 += np.broadcast_to(" in copy and "s_1 = np.zeros" in copy


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_unbroadcast_seed_keeps_the_gradient(target):
    """optimize/unbroadcast.py, against autograd: in a reverse loop body, and where the
    partial does not have the sum's whole shape (a column times a row, a number times x)."""
    rng = make_rng("test_arrays", "test_unbroadcast_seed_keeps_the_gradient")
    cases = [(ac.axis_sums_in_a_loop, (rng.normal(size=(4, 3)), rng.normal(size=3))),
             (ac.axis_sums_of_broadcasts, (rng.normal(size=(4, 1)), rng.normal(size=(1, 5))))]
    for fn, args in cases:
        got = gradient_function(fn, (0, 1), target)(*args)
        for k in range(2):
            assert relative_error(got[k], autograd_gradient(fn, args, k)) < 1e-12, (fn.__name__, k)
    loop = gradient_function(ac.axis_sums_in_a_loop, (0, 1), target).source_for(*cases[0][1])
    assert "np.broadcast_to" not in loop and "np.expand_dims(s_" in loop, loop
    kept = gradient_function(ac.axis_sums_of_broadcasts, (0, 1), target).source_for(*cases[1][1])
    assert "np.broadcast_to" in kept, kept


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_matrix_vector_products_of_views(target):
    """lower/host_rewrites.matrix_vector_products, against autograd: first order, and second
    order through the emitted _matvec / _vecmat read back as products (hvp)."""
    rng = make_rng("test_arrays", "test_matrix_vector_products_of_views")
    args = (rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=4))
    g = gradient_function(ac.matrix_vector_layouts, (0, 1, 2), target)
    got = g(*args)
    for k in range(3):
        assert relative_error(got[k], autograd_gradient(ac.matrix_vector_layouts, args, k)) < 1e-12
    source = g.source_for(*args)
    assert "_matvec(A, v)" in source and "_vecmat(w, A)" in source, source
    direction = rng.normal(size=3)
    hvp = adjoint.hvp(ac.matrix_vector_layouts, wrt=1, target=target)(*args, direction)
    twin = autograd_twin(ac.matrix_vector_layouts)
    want = autograd.grad(lambda v: anp.sum(autograd.grad(twin, 1)(args[0], v, args[2]) * direction))(args[1])
    np.testing.assert_allclose(hvp, want, rtol=1e-9, atol=1e-12)


def test_mean_seed_is_a_number_in_float32():
    """The mean's seed `1.0 / t.size` multiplies a float32 array as a float32 number: numba
    makes float32 / int64 a float64, which would make the gradient float64."""
    rng = make_rng("test_arrays", "test_mean_seed_is_a_number_in_float32")
    args = (rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32))
    g = gradient_function(ac.mean_squared_residual, (0, 1), "cpu")
    source = g.source_for(*args)
    assert "np.full(" not in source and "np.float32(np.float32(1.0)/t_" in re.sub(r"\s", "", source), source
    got = g(*args)
    for k in range(2):
        assert got[k].dtype == np.float32
        want = autograd_gradient(ac.mean_squared_residual, [a.astype(np.float64) for a in args], k)
        assert relative_error(got[k], want) < 1e-5


@pytest.mark.slow
def test_guessed_types_and_adjoint_for_the_arguments_types():
    import autograd
    g = adjoint.grad(ac.gmm_objective_matrix, wrt=(0, 1, 2))
    # x.shape[1] makes x a matrix (normalized: t = x.shape; d = t[1]): its rows are vectors
    assert g.generated.signature["x"].ndim == 2
    args = ac.gmm_data(d=3, K=4, n=12)
    got = g.adjoint_for(*args)(*args)           # means is read as means[k]: guessed a vector
    for k in range(3):
        want = autograd.grad(ac.gmm_objective_vectorized, k)(*args)
        assert relative_error(got[k], want) < 1e-10


def sum_of_squared_sines(x):          # (JAX's quickstart style: a reduction of an expression)
    return np.sum(np.sin(x) ** 2)


def weighted_sum(w, x):
    return np.sum(w * x)


def exp_times_ones(a):
    return np.sum(np.exp(a) * np.ones(3))


def test_a_parameter_reduced_alone_is_shown_as_an_array():
    # adjoint.source without types guessed x a number here, and showed `math.cos(x)`: code
    # that fails on the arrays np.sum is given
    source = adjoint.source(sum_of_squared_sines)
    assert "math.cos" not in source
    namespace = {}
    exec(source, namespace)
    x = np.array([0.3, -1.2, 2.0])
    assert relative_error(namespace["grad_sum_of_squared_sines"](x),
                          finite_difference(sum_of_squared_sines, (x,), 0)) < 1e-7
    # two parameters under one sum: nothing tells which is the array, so neither is taken
    assert "s_w = 0.0" in adjoint.source(weighted_sum, wrt=0)
    # a guess for showing code only: grad's calls still take a number where one is meant
    g = adjoint.grad(exp_times_ones, target="python")
    assert relative_error(g(0.5), 3.0 * np.exp(0.5)) < 1e-12


def test_elements_overwritten_in_a_loop_are_restored():
    # overwritten_elements' reverse reads the old values (recurrence's needs none of them)
    source = adjoint.source(ac.overwritten_elements)
    assert "_record_1(" in source and "_undo_1(" in source


def whole_reductions_spelled_with_axis_none(x, A):
    return np.sum(A * A, axis=None) + np.max(x, axis=None) * A.mean(axis=None)


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_axis_none_is_the_whole_array(target):
    # `axis=None` was read as an axis: "f returns an array" (found by the fuzzer)
    x, A = np.array([1.0, 3.0, 2.0]), np.array([[1.0, 2.0], [3.0, -1.0]])
    g_x, g_A = adjoint.grad(whole_reductions_spelled_with_axis_none, wrt=(0, 1), target=target)(x, A)
    np.testing.assert_allclose(g_x, [0.0, A.mean(), 0.0], rtol=1e-12)              # by hand
    np.testing.assert_allclose(g_A, 2.0 * A + np.max(x) / A.size, rtol=1e-12)
