"""The cpu batch's allocation-free path: each point's gradient written into its output row by
the lowered gradient (lower/device.py compiled with njit), `out=` reuse, and the functions the
lowering does not take (array code that allocates), which keep the driver calling the gradient.

Each gradient is checked against the python target's gradient point by point (independent of
the batch driver and of the lowering) and, on a few points, against central finite differences.
"""

import numpy as np
import pytest

import adjoint
from adjoint.api import batch, drivers
from examples.option_greeks import discounted_payoff
from examples.rosenbrock import rosenbrock
from examples.seed_f4 import f4
from tests import control_flow_corpus as cf
from tests.conftest import make_rng
from tests.oracles import autograd_gradient, finite_difference

MARKET = (100.0, 0.2, 0.03, 1.0, 100.0)


def _lowered(g):
    """Whether the cpu batch of `g` took the allocation-free path."""
    return g._drivers.get("rows") is not None


def elementwise_energy(x):
    """Whole-array code: the lowering rejects it (it allocates), the batch keeps its old path."""
    return np.sum(np.tanh(x) * x) + x[0] * x[1]


@pytest.fixture(scope="module")
def f4_cpu():
    """One cpu gradient of f4 for the tests below (its batch driver compiles in seconds)."""
    return adjoint.grad(f4, target="cpu")


def nrt_allocations(run):
    """The allocations numba's runtime makes while `run()` runs (arrays made in compiled code;
    numpy's own, made in Python, are not counted)."""
    from numba.core.runtime import _nrt_python, rtsys
    _nrt_python.memsys_enable_stats()
    try:
        before = rtsys.get_allocation_stats().alloc
        run()
        return rtsys.get_allocation_stats().alloc - before
    finally:
        _nrt_python.memsys_disable_stats()


def test_f4_rows_and_out_reuse(f4_cpu):
    rng = make_rng("test_batch_rows", "test_f4_rows_and_out_reuse")
    X = rng.uniform(0.5, 2.0, (257, 4))
    g = f4_cpu
    got = g.batch(X)
    assert _lowered(g)
    reference = adjoint.grad(f4, target="python")
    np.testing.assert_allclose(got, [reference(x) for x in X], rtol=1e-13, atol=0)
    for x, row in zip(X[:3], got[:3]):
        np.testing.assert_allclose(row, finite_difference(f4, [x], 0), rtol=1e-6)
    out = np.full_like(got, np.nan)
    Y = rng.uniform(0.5, 2.0, X.shape)
    assert g.batch(Y, out=out) is out               # written in place, and returned
    np.testing.assert_allclose(out, [reference(y) for y in Y], rtol=1e-13, atol=0)
    assert g.batch(X, out=out) is out               # reused: every row written again
    np.testing.assert_allclose(out, got, rtol=0, atol=0)


def test_bad_out_is_an_argument_error():
    g = adjoint.grad(f4, target="python")
    X = np.ones((5, 4))
    for out, message in [(np.empty((4, 4)), "shape"), (np.empty((5, 4), np.float32), "dtype"),
                         ([[0.0] * 4] * 5, "numpy array"), ((np.empty((5, 4)),) * 2, "holds 2"),
                         (np.empty((4, 5)).T, "C-contiguous")]:
        with pytest.raises(adjoint.AdjointArgumentError, match=message):
            g.batch(X, out=out)


def test_two_scalar_gradients_with_tapes_and_jvp_rows():
    """The option's path keeps a tape (workspace rows sized before the loop); jvp's batch."""
    rng = make_rng("test_batch_rows", "test_two_scalar_gradients_with_tapes_and_jvp_rows")
    Z = rng.standard_normal((40, 12))
    g = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target="cpu")
    delta, vega = g.batch(Z, *MARKET)
    assert _lowered(g)
    reference = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target="python")
    want = np.array([reference(z, *MARKET) for z in Z])
    np.testing.assert_allclose(delta, want[:, 0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vega, want[:, 1], rtol=1e-12, atol=1e-14)
    out = (np.empty(40), np.empty(40))
    result = g.batch(Z, *MARKET, out=out)
    assert result[0] is out[0] and result[1] is out[1]
    np.testing.assert_allclose(out[1], want[:, 1], rtol=1e-12, atol=1e-14)

    X = rng.uniform(0.5, 2.0, (31, 4))
    V = rng.standard_normal((31, 4))
    values, tangents = adjoint.jvp(f4, target="cpu").batch(X, V)
    point = adjoint.jvp(f4, target="python")
    want = np.array([point(x, v) for x, v in zip(X, V)])
    np.testing.assert_allclose(values, want[:, 0], rtol=1e-13)
    np.testing.assert_allclose(tangents, want[:, 1], rtol=1e-13)


def test_a_scalar_function_of_scalar_points():
    X = np.linspace(-2.5, 3.0, 23)
    g = adjoint.grad(cf.piecewise, target="cpu")
    got = g.batch(X)
    assert _lowered(g)
    reference = adjoint.grad(cf.piecewise, target="python")
    np.testing.assert_allclose(got, [reference(x) for x in X], rtol=1e-13, atol=0)
    for x, slope in zip(X[[0, 3, 8, 14, 21]], got[[0, 3, 8, 14, 21]]):   # off the branch edges
        np.testing.assert_allclose(slope, finite_difference(cf.piecewise, [x], 0), rtol=1e-6)


def test_array_code_that_allocates_keeps_the_old_path():
    rng = make_rng("test_batch_rows", "test_array_code_that_allocates_keeps_the_old_path")
    X = rng.standard_normal((17, 5))
    g = adjoint.grad(elementwise_energy, target="cpu")
    out = np.empty_like(X)
    assert g.batch(X, out=out) is out
    assert not _lowered(g)
    want = [finite_difference(elementwise_energy, [x], 0) for x in X]
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-8)


def test_rows_written_in_full_are_not_zeroed_and_others_are():
    """f4's gradient row is assigned element by element (the sensitivity of unpacking its
    argument): the driver does not zero it first. Rosenbrock's accumulates into its row, which
    the driver zeroes: an `out=` full of nan still gives the gradient."""
    from adjoint.pipeline import differentiate
    lowered = differentiate(f4, device=True).device
    assert lowered.whole_rows == ("side_lengths",)
    assert batch._constant_sizes(lowered.sizes) == (0, 0, 0)     # no sizing pass over the points
    assert differentiate(rosenbrock, device=True).device.whole_rows == ()
    rng = make_rng("test_batch_rows", "test_rows_written_in_full_are_not_zeroed_and_others_are")
    X = rng.uniform(-1.5, 1.5, (33, 6))
    g = adjoint.grad(rosenbrock, target="cpu")
    out = np.full_like(X, np.nan)
    assert g.batch(X, out=out) is out
    assert _lowered(g)
    np.testing.assert_allclose(out, [autograd_gradient(rosenbrock, [x], 0) for x in X], rtol=1e-12)
    np.testing.assert_allclose(out[:2], [finite_difference(rosenbrock, [x], 0) for x in X[:2]], rtol=1e-6)
    Y = rng.uniform(-1.5, 1.5, (1000, 6))         # nothing allocated per point
    assert nrt_allocations(lambda: g.batch(Y)) == nrt_allocations(lambda: g.batch(Y[:1]))


def test_batch_allocates_nothing_per_point_and_repeats_take_the_fast_path(f4_cpu):
    """The driver allocates nothing per point (numba's runtime counts the same allocations for
    one point and for 2,000); the second batch of the same argument types skips the checks
    on a point (GradientFunction.batch's fast path) and gives the same rows; inputs that path
    does not take (a Fortran-ordered array, no points, a bad out=, points of another length)
    take the full path, with its results and errors."""
    rng = make_rng("test_batch_rows", "test_batch_allocates_nothing_per_point")
    g = f4_cpu
    X = rng.uniform(0.5, 2.0, (2000, 4))
    want = [autograd_gradient(f4, [x], 0) for x in X[:50]]
    np.testing.assert_allclose(g.batch(X[:50]), want, rtol=1e-13)
    assert any(key[0] == "fast" for key in g._drivers if isinstance(key, tuple))
    assert nrt_allocations(lambda: g.batch(X)) == nrt_allocations(lambda: g.batch(X[:1]))
    np.testing.assert_allclose(g.batch(X[:50]), want, rtol=1e-13)
    np.testing.assert_allclose(g.batch(np.asfortranarray(X[:50])), want, rtol=1e-13)
    with pytest.raises(adjoint.AdjointArgumentError, match="no points"):
        g.batch(X[:0])
    with pytest.raises(adjoint.AdjointArgumentError, match="shape"):
        g.batch(X[:50], out=np.empty((49, 4)))
    with pytest.raises(ValueError, match="too many values to unpack") as info:
        g.batch(rng.uniform(0.5, 2.0, (5, 5)))       # the lowered code checks the unpacking too
    assert isinstance(info.value, adjoint.AdjointError) and "seed_f4.py:10" in str(info.value)


def test_jvp_and_forward_batches_allocate_nothing_per_point():
    rng = make_rng("test_batch_rows", "test_jvp_and_forward_batches_allocate_nothing_per_point")
    X, V = rng.uniform(0.5, 2.0, (600, 4)), rng.standard_normal((600, 4))
    jvp = adjoint.jvp(f4, target="cpu")
    forward = adjoint.grad(f4, target="cpu", mode="forward")
    values, tangents = jvp.batch(X, V)
    np.testing.assert_allclose(tangents[:20], [autograd_gradient(f4, [x], 0) @ v for x, v in zip(X, V[:20])],
                               rtol=1e-12)
    np.testing.assert_allclose(forward.batch(X[:20]), [autograd_gradient(f4, [x], 0) for x in X[:20]], rtol=1e-12)
    assert nrt_allocations(lambda: jvp.batch(X, V)) == nrt_allocations(lambda: jvp.batch(X[:1], V[:1]))
    assert nrt_allocations(lambda: forward.batch(X)) == nrt_allocations(lambda: forward.batch(X[:1]))


def test_rows_driver_loops_over_unsigned_indices_with_the_lengths_checked_first():
    """The serial chunk function each prange iteration calls: the device gradient's fixed
    lengths (its unpacking check) checked before the loop, unsigned point indices; what lets
    LLVM vectorize it across points (see driver_source)."""
    import gast
    device = gast.parse("def grad_f4_device(x, n, s_x, work_f, work_i, work_b):\n"
                        "    if x.shape[0] != 4:\n        raise ValueError('wrong length')\n"
                        "    t = x[0]\n").body[0]
    assert drivers.fixed_lengths(device) == {"x": 4}
    source = drivers.driver_source("cpu", "grad", "grad_f4_device", ["x", "n"], "x", {"x": 1},
                                   rows=True, whole=("x",), lengths=drivers.fixed_lengths(device))
    assert "if x.shape[1] != 4 or G_x.shape[1] != 4:" in source
    assert "for i in range(np.uintp(n_start), np.uintp(n_stop)):" in source
    assert "rows_grad_f4_device(x, n, G_x, work_row * n_points // n_rows" in source


def test_a_point_of_the_wrong_length_is_located_in_the_users_code(f4_cpu):
    with pytest.raises(adjoint.AdjointError, match=r"seed_f4\.py:\d+:\d+.*unpack"):
        f4_cpu.batch(np.ones((3, 5)))
