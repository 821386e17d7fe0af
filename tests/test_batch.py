"""Batched gradients: cpu (prange) and cuda (one thread per point, under the simulator in CI).

The cuda target must give the same gradients as the cpu target on: the seed's f4, Lorenz RK4
(few steps), a branchy function, and a Monte Carlo path (GBM, European call).
"""

import math
import os

import numpy as np
import pytest

import adjoint
from examples.option_greeks import black_scholes_greeks, discounted_payoff
from examples.seed_f4 import f4
from tests import control_flow_corpus as cf
from tests.conftest import make_rng, needs_cuda

SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _workloads():
    """The Lorenz states and the workloads' points, drawn once, at import, from a generator of
    their own."""
    rng = np.random.default_rng(7)
    lorenz = np.tile([1.0, 1.0, 1.05, 10.0, 28.0, 8.0 / 3.0], (6, 1)) + rng.uniform(0, 0.1, (6, 6))
    return lorenz, [
        ("f4", f4, 0, (rng.uniform(0.5, 2.0, (40, 4)),)),
        ("lorenz", cf.lorenz_rk4, 0, (lorenz, 15)),
        ("piecewise", cf.piecewise, 0, (np.linspace(-2.5, 3.0, 23),)),
        ("two_helpers", cf.two_helpers, (0, 1), (np.linspace(-1.0, 1.0, 9), 0.4)),
        ("option", discounted_payoff, ("s0", "sigma"),
         (rng.standard_normal((64, 20)), 100.0, 0.2, 0.03, 1.0, 100.0)),
    ]


LORENZ, WORKLOADS = _workloads()


def one_by_one(fn, wrt, args):
    """The reference: the cpu gradient called point by point."""
    g = adjoint.grad(fn, wrt)
    rows = [g(point, *args[1:]) for point in args[0]]
    if isinstance(wrt, tuple):
        return tuple(np.array([r[k] for r in rows]) for k in range(len(wrt)))
    return np.array(rows)


@pytest.mark.slow
@pytest.mark.parametrize("name, fn, wrt, args", WORKLOADS, ids=[w[0] for w in WORKLOADS])
@pytest.mark.parametrize("target", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_batch_equals_point_by_point(name, fn, wrt, args, target):
    got = adjoint.grad(fn, wrt, target=target).batch(*args)
    want = one_by_one(fn, wrt, args)
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_batch_over_a_named_shared_argument():
    """The points may be any argument: here the volatility, with the path shared."""
    rng = make_rng("test_batch", "test_batch_over_a_named_shared_argument")
    z = rng.standard_normal(30)
    sigmas = np.linspace(0.1, 0.4, 5)
    g = adjoint.grad(discounted_payoff, wrt="sigma")
    got = g.batch(z, 100.0, sigmas, 0.03, 1.0, 90.0, batched="sigma")
    want = [g(z, 100.0, s, 0.03, 1.0, 90.0) for s in sigmas]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.slow
def test_monte_carlo_greeks_match_black_scholes():
    z = np.random.default_rng(0).standard_normal((20_000, 50))
    delta, vega = adjoint.grad(discounted_payoff, wrt=("s0", "sigma")).batch(
        z, 100.0, 0.2, 0.03, 1.0, 100.0)
    exact_delta, exact_vega = black_scholes_greeks(100.0, 0.2, 0.03, 1.0, 100.0)
    assert abs(delta.mean() - exact_delta) < 4 * delta.std() / math.sqrt(len(delta))
    assert abs(vega.mean() - exact_vega) < 4 * vega.std() / math.sqrt(len(vega))


@needs_cuda
def test_cuda_single_call_is_a_batch_of_one():
    g = adjoint.grad(f4, target="cuda")
    np.testing.assert_allclose(g([1.0, 2.0, 3.0, 4.0]), [52.0, 38.0, 28.0, 22.0])


@needs_cuda
def test_cuda_inputs_on_the_device_stay_there():
    rng = make_rng("test_batch", "test_cuda_inputs_on_the_device_stay_there")
    from numba import cuda
    points = cuda.to_device(rng.uniform(0.5, 2.0, (8, 4)))
    result = adjoint.grad(f4, target="cuda").batch(points)
    assert hasattr(result, "copy_to_host")            # a device array: no transfer back
    np.testing.assert_allclose(result.copy_to_host(), one_by_one(f4, 0, (points.copy_to_host(),)))


def test_cuda_lowering_rejects_a_while_loop_tape():
    with pytest.raises(adjoint.AdjointError, match="only known while it runs") as info:
        adjoint.grad(cf.newton_sqrt, target="cuda")
    assert "hint:" in str(info.value)


def test_device_code_allocates_nothing():
    source = adjoint.grad(cf.lorenz_rk4, target="cuda").generated.device_source
    assert "np.empty" not in source and "np.zeros" not in source
    assert "work_f[" in source and "def tape_sizes_lorenz_rk4(p, steps):" in source


def test_batch_argument_errors():
    g = adjoint.grad(f4)
    with pytest.raises(adjoint.AdjointArgumentError, match="takes 1 arguments"):
        g.batch(np.ones((3, 4)), 2.0)
    with pytest.raises(adjoint.AdjointArgumentError, match="holds no points"):
        g.batch(np.ones((0, 4)))
    with pytest.raises(adjoint.AdjointArgumentError, match="batched='y'"):
        g.batch(np.ones((3, 4)), batched="y")


def named_like_the_driver(np, i, G_x):
    """Arguments named like the batch driver's own names (numpy, its loop index, its outputs)."""
    return (np[0] * np[1] + i * np[0]) * G_x


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_batch_arguments_named_like_the_drivers_own_names(target):
    # the driver once took them as its parameter names: numba failed on a shadowed `np`
    X = np.arange(8.0).reshape(4, 2)
    rows = adjoint.grad(named_like_the_driver, wrt=(0, 1, 2), target=target).batch(X, 2.0, 3.0)
    expected = (np.stack([(X[:, 1] + 2.0) * 3.0, X[:, 0] * 3.0], axis=1),     # by hand
                X[:, 0] * 3.0, X[:, 0] * X[:, 1] + 2.0 * X[:, 0])
    for got, want in zip(rows, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def unpacked_parameters(params):
    """A vector the source does not show is one (it is only unpacked), guessed a number."""
    length, signal, noise = np.exp(params)
    return signal * length + noise ** 2


def matrix_product(x, y):
    """Types only the call can tell: x @ y of a guessed number does not type."""
    return np.sum(np.tanh(x @ y))


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_a_batch_of_points_the_source_does_not_type_is_generated_for_them(target):
    """A batch runs code generated for its points' types (it ran the code for the guessed
    types: a vector unpacked into numbers failed as `s_1[0]` of a float), in grad,
    value_and_grad and jvp, against finite differences at each point."""
    from tests.oracles import finite_difference
    points = make_rng("batch", "typed points").normal(size=(5, 3))
    got = adjoint.grad(unpacked_parameters, target=target).batch(points)
    values, same = adjoint.value_and_grad(unpacked_parameters, target=target).batch(points)
    direction = np.array([0.5, -1.0, 2.0])
    _, tangents = adjoint.jvp(unpacked_parameters, target=target).batch(points, direction)
    for k, p in enumerate(points):
        want = finite_difference(unpacked_parameters, (p,), 0)
        np.testing.assert_allclose(got[k], want, rtol=1e-6)
        np.testing.assert_allclose(same[k], want, rtol=1e-6)
        np.testing.assert_allclose(values[k], unpacked_parameters(p), rtol=1e-12)
        np.testing.assert_allclose(tangents[k], want @ direction, rtol=1e-6)
    if target == "python":
        y = make_rng("batch", "matrix").normal(size=(3, 2))
        G = adjoint.grad(matrix_product, target=target).batch(points, y)
        for k, p in enumerate(points):
            np.testing.assert_allclose(G[k], finite_difference(matrix_product, (p, y), 0), rtol=1e-6)
