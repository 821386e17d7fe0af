"""The cpu batch's allocation-free path: each point's gradient written into its output row by
the lowered gradient (lower/device.py compiled with njit), `out=` reuse, and the functions the
lowering does not take (array code that allocates), which keep the driver calling the gradient.

Each gradient is checked against the python target's gradient point by point (independent of
the batch driver and of the lowering) and, on a few points, against central finite differences.
"""

import numpy as np
import pytest

import adjoint
from examples.option_greeks import discounted_payoff
from examples.seed_f4 import f4
from tests import control_flow_corpus as cf
from tests.conftest import make_rng
from tests.oracles import finite_difference

MARKET = (100.0, 0.2, 0.03, 1.0, 100.0)


def _lowered(g):
    """Whether the cpu batch of `g` took the allocation-free path."""
    return g._drivers.get("rows") is not None


def elementwise_energy(x):
    """Whole-array code: the lowering rejects it (it allocates), the batch keeps its old path."""
    return np.sum(np.tanh(x) * x) + x[0] * x[1]


def test_f4_rows_and_out_reuse():
    rng = make_rng("test_batch_rows", "test_f4_rows_and_out_reuse")
    X = rng.uniform(0.5, 2.0, (257, 4))
    g = adjoint.grad(f4, target="cpu")
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
