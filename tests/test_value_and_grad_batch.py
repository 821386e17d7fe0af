"""value_and_grad(f).batch(X, ...): the values (one per point) and the gradient rows, as
grad(f).batch returns them, on the python target (the driver calling the gradient), the cpu
(the allocation-free lowered gradient writing its value and rows) and cuda (one thread per
point, under numba's CUDA simulator in CI).

The values are checked against a plain Python loop of f, the gradients against central finite
differences (tests/oracles.py) and, row for row, against grad(f).batch.
"""

import numpy as np
import pytest

import adjoint
from examples.option_greeks import discounted_payoff
from examples.seed_f4 import f4
from tests.conftest import make_rng, needs_cuda
from tests.oracles import finite_difference
from tests.test_batch_rows import nrt_allocations

MARKET = (100.0, 0.2, 0.03, 1.0, 100.0)


def weighted_sum_of_squares(x, y):
    """An array and a scalar argument, a loop accumulating into a row of the gradient."""
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i] * y
    return s + x[0]


def _check_values(values, fn, rows, *shared, batched=0):
    """values against f itself, called point by point in a plain Python loop."""
    want = []
    for row in rows:
        args = list(shared)
        args.insert(batched, row)
        want.append(fn(*args))
    assert values.shape == (len(rows),) and values.dtype == np.float64
    np.testing.assert_allclose(values, want, rtol=1e-13, atol=1e-13)


def test_f4_values_and_rows_python():
    X = make_rng("test_value_and_grad_batch", "f4").uniform(0.5, 2.0, (9, 4))
    values, G = adjoint.value_and_grad(f4, target="python").batch(X)
    _check_values(values, f4, X)
    np.testing.assert_array_equal(G, adjoint.grad(f4, target="python").batch(X))
    for x, row in zip(X[:3], G[:3]):
        np.testing.assert_allclose(row, finite_difference(f4, [x], 0), rtol=1e-6)


def test_tuple_wrt_shared_arguments_and_a_named_batched_argument():
    rng = make_rng("test_value_and_grad_batch", "option")
    Z = rng.standard_normal((12, 10))
    vg = adjoint.value_and_grad(discounted_payoff, wrt=("s0", "sigma"), target="python")
    values, (delta, vega) = vg.batch(Z, *MARKET)
    _check_values(values, discounted_payoff, Z, *MARKET)
    want = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target="python").batch(Z, *MARKET)
    np.testing.assert_array_equal(delta, want[0])
    np.testing.assert_array_equal(vega, want[1])
    for z, d, v in zip(Z[:3], delta, vega):
        assert d == pytest.approx(finite_difference(discounted_payoff, [z, *MARKET], 1), rel=1e-6)
        assert v == pytest.approx(finite_difference(discounted_payoff, [z, *MARKET], 2), rel=1e-6)
    # the points along the volatility, the path shared
    sigmas = np.linspace(0.1, 0.4, 5)
    values, slope = adjoint.value_and_grad(discounted_payoff, wrt="sigma", target="python").batch(
        Z[0], 100.0, sigmas, 0.03, 1.0, 90.0, batched="sigma")
    _check_values(values, discounted_payoff, sigmas, Z[0], 100.0, 0.03, 1.0, 90.0, batched=2)
    for s, got in zip(sigmas, slope):
        assert got == pytest.approx(finite_difference(discounted_payoff, [Z[0], 100.0, s, 0.03, 1.0, 90.0], 2),
                                    rel=1e-6)


def test_reduce_and_out_python():
    X = make_rng("test_value_and_grad_batch", "reduce").uniform(0.5, 2.0, (8, 3))
    vg = adjoint.value_and_grad(weighted_sum_of_squares, wrt=(0, 1), target="python")
    values, (Gx, Gy) = vg.batch(X, 0.5)
    _check_values(values, weighted_sum_of_squares, X, 0.5)
    mean_value, (mean_x, mean_y) = vg.batch(X, 0.5, reduce="mean")
    np.testing.assert_allclose(mean_value, values.mean(), rtol=1e-14)
    np.testing.assert_allclose(mean_x, Gx.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(mean_y, Gy.mean(), rtol=1e-14)
    total, (sum_x, _) = vg.batch(X, 0.5, reduce="sum")
    np.testing.assert_allclose(total, values.sum(), rtol=1e-14)
    np.testing.assert_allclose(sum_x, Gx.sum(axis=0), rtol=1e-14)
    out = (np.empty(8), (np.empty((8, 3)), np.empty(8)))
    result = vg.batch(X, 0.5, out=out)
    assert result[0] is out[0] and result[1][0] is out[1][0] and result[1][1] is out[1][1]
    np.testing.assert_array_equal(out[1][1], Gy)
    flat = (np.empty(8), np.empty((8, 3)), np.empty(8))        # the same arrays, not nested
    assert vg.batch(X, 0.5, out=flat)[0] is flat[0]
    np.testing.assert_array_equal(flat[0], values)
    for bad, message in [((np.empty(8), np.empty((8, 3))), "holds 2"),
                         ((np.empty(7), (np.empty((8, 3)), np.empty(8))), "values has shape"),
                         (np.empty((8, 3)), "holds 1")]:
        with pytest.raises(adjoint.AdjointArgumentError, match=message):
            vg.batch(X, 0.5, out=bad)


@pytest.mark.slow
def test_cpu_batch_writes_values_and_rows_allocation_free():
    """One cpu compile: an array row the lowered code accumulates into and a scalar gradient
    it returns after the value; nothing allocated per point; out= reused; repeats take the
    fast path and give the same numbers."""
    rng = make_rng("test_value_and_grad_batch", "cpu")
    X = rng.uniform(0.5, 2.0, (301, 3))
    vg = adjoint.value_and_grad(weighted_sum_of_squares, wrt=(0, 1), target="cpu")
    values, (Gx, Gy) = vg.batch(X, 0.5)
    assert vg._drivers.get("rows") is not None                 # the allocation-free path
    _check_values(values, weighted_sum_of_squares, X, 0.5)
    want = adjoint.grad(weighted_sum_of_squares, wrt=(0, 1), target="python").batch(X, 0.5)
    np.testing.assert_allclose(Gx, want[0], rtol=1e-13)
    np.testing.assert_allclose(Gy, want[1], rtol=1e-13)
    for x, gx, gy in zip(X[:2], Gx, Gy):
        np.testing.assert_allclose(gx, finite_difference(weighted_sum_of_squares, [x, 0.5], 0), rtol=1e-6)
        assert gy == pytest.approx(finite_difference(weighted_sum_of_squares, [x, 0.5], 1), rel=1e-6)
    assert any(key[0] == "fast" for key in vg._drivers if isinstance(key, tuple))
    Y = rng.uniform(0.5, 2.0, (3000, 3))
    assert nrt_allocations(lambda: vg.batch(Y, 0.5)) == nrt_allocations(lambda: vg.batch(Y[:1], 0.5))
    out = (np.full(301, np.nan), (np.full((301, 3), np.nan), np.full(301, np.nan)))
    result = vg.batch(X, 0.5, out=out)                          # the fast path, writing into out
    assert result[0] is out[0] and result[1][0] is out[1][0] and result[1][1] is out[1][1]
    np.testing.assert_array_equal(out[0], values)
    np.testing.assert_array_equal(out[1][0], Gx)
    np.testing.assert_array_equal(out[1][1], Gy)
    for _ in range(2):          # one point: one compiled call, returned as numba gives it (thin path)
        value, (gx, gy) = vg(X[7], 0.5)
        assert type(value) is float and value == pytest.approx(weighted_sum_of_squares(X[7], 0.5), rel=1e-14)
        np.testing.assert_allclose(gx, Gx[7], rtol=1e-13)
        assert gy == pytest.approx(Gy[7], rel=1e-13)
    assert [known[-1] for known in vg._unconverted.values()] == [True]


@needs_cuda
def test_cuda_batch_and_single_call():
    rng = make_rng("test_value_and_grad_batch", "cuda")
    X = rng.uniform(0.5, 2.0, (16, 4))
    vg = adjoint.value_and_grad(f4, target="cuda")
    values, G = vg.batch(X)
    _check_values(values, f4, X)
    np.testing.assert_allclose(G, adjoint.grad(f4, target="python").batch(X), rtol=1e-13)
    value, gradient = vg(X[0])
    assert value == pytest.approx(f4(X[0]), rel=1e-14)
    np.testing.assert_allclose(gradient, finite_difference(f4, [X[0]], 0), rtol=1e-6)
    Z = rng.standard_normal((16, 8))
    values, (delta, vega) = adjoint.value_and_grad(discounted_payoff, wrt=("s0", "sigma"),
                                                   target="cuda").batch(Z, *MARKET)
    _check_values(values, discounted_payoff, Z, *MARKET)
    want = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target="python").batch(Z, *MARKET)
    np.testing.assert_allclose(delta, want[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vega, want[1], rtol=1e-12, atol=1e-14)


def test_a_failing_point_is_located_and_bad_arguments_say_so():
    vg = adjoint.value_and_grad(f4, target="python")
    with pytest.raises(ValueError) as info:
        vg.batch(np.ones((3, 5)))                      # points of 5 numbers: f4 unpacks 4
    assert isinstance(info.value, adjoint.AdjointError) and "seed_f4.py:10" in str(info.value)
    with pytest.raises(adjoint.AdjointArgumentError, match="holds no points"):
        vg.batch(np.ones((0, 4)))
    with pytest.raises(adjoint.AdjointArgumentError, match="takes 1 arguments"):
        vg.batch(np.ones((3, 4)), 2.0)
    with pytest.raises(adjoint.AdjointArgumentError, match="reduce="):
        vg.batch(np.ones((3, 4)), reduce="max")
