"""Forward mode on the cuda target (under numba's simulator in CI): jvp and grad(mode="forward"),
called directly and batched, against central finite differences and the cpu target's
reverse-mode gradient; and the clear errors for what the cuda target does not run.

The batches are small: the simulator runs each thread as Python.
"""

import numpy as np
import pytest

import adjoint
from examples.option_greeks import discounted_payoff
from examples.seed_f4 import f4
from tests import control_flow_corpus as cf
from tests import higher_corpus as hc
from tests.conftest import make_rng, needs_cuda
from tests.oracles import finite_difference


def _workloads():
    """The Lorenz states and the workloads' points, drawn once, at import, from a generator of
    their own."""
    rng = np.random.default_rng(11)
    lorenz = np.tile([1.0, 1.0, 1.05, 10.0, 28.0, 8.0 / 3.0], (3, 1)) + rng.uniform(0, 0.1, (3, 6))
    return lorenz, [   # name, function, wrt, arguments with the points stacked along axis 0 of the first
        ("f4", f4, 0, (rng.uniform(0.5, 2.0, (5, 4)),)),
        ("lorenz", cf.lorenz_rk4, 0, (lorenz, 8)),
        ("piecewise", cf.piecewise, 0, (np.array([-2.0, -0.5, 0.3, 1.2, 2.5]),)),     # every branch
        ("loop_and_branch", hc.loop_and_branch, 0, (np.array([0.4, 0.9, 1.3]),)),
        ("while_loop", cf.newton_sqrt, 0, (np.array([0.5, 2.0, 9.0]),)),   # no tape: runs on cuda
        ("option", discounted_payoff, ("s0", "sigma"),
         (rng.standard_normal((4, 12)), 100.0, 0.2, 0.03, 1.0, 100.0)),
    ]


LORENZ, WORKLOADS = _workloads()
IDS = [w[0] for w in WORKLOADS]


def wrt_indices(fn, wrt):
    names = list(adjoint.grad(fn, wrt, target="python")._arg_names)
    return [w if isinstance(w, int) else names.index(w) for w in (wrt if isinstance(wrt, tuple) else (wrt,))]


def points(args):
    """Each point's full argument list (the first argument is the stacked one)."""
    return [[row, *args[1:]] for row in args[0]]


def by_differences(fn, wrt, args):
    """The oracle: central finite differences at every point, per wrt argument."""
    return tuple(np.array([finite_difference(fn, p, k) for p in points(args)])
                 for k in wrt_indices(fn, wrt))


def reverse_on_cpu(fn, wrt, args):
    """The other oracle: the cpu target's reverse-mode gradient, point by point."""
    g = adjoint.grad(fn, wrt)
    rows = [g(*p) for p in points(args)]
    return tuple(np.array([r[k] for r in rows]) for k in range(len(wrt))) if isinstance(wrt, tuple) \
        else (np.array(rows),)


def as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


@pytest.mark.slow
@needs_cuda
@pytest.mark.parametrize("name, fn, wrt, args", WORKLOADS, ids=IDS)
def test_forward_gradient_batch_on_cuda(name, fn, wrt, args):
    got = as_tuple(adjoint.grad(fn, wrt, target="cuda", mode="forward").batch(*args))
    for g, reverse, fd in zip(got, reverse_on_cpu(fn, wrt, args), by_differences(fn, wrt, args)):
        assert g.shape == reverse.shape
        np.testing.assert_allclose(g, reverse, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@needs_cuda
@pytest.mark.parametrize("name, fn, wrt, args", WORKLOADS, ids=IDS)
def test_jvp_on_cuda_called_directly(name, fn, wrt, args):
    rng = make_rng("test_forward_cuda", "test_jvp_on_cuda_called_directly")
    first = points(args)[0]
    directions = [rng.normal(size=np.shape(first[k])) if np.ndim(first[k]) else 0.7
                  for k in wrt_indices(fn, wrt)]
    value, tangent = adjoint.jvp(fn, wrt, target="cuda")(*first, *directions)
    assert isinstance(value, float) and isinstance(tangent, float)
    assert value == pytest.approx(fn(*first), rel=1e-12)
    gradients = reverse_on_cpu(fn, wrt, (np.asarray(first[0])[None, ...], *first[1:]))
    want = sum(float(np.sum(g[0] * d)) for g, d in zip(gradients, directions))
    assert tangent == pytest.approx(want, rel=1e-10, abs=1e-12)


@needs_cuda
def test_jvp_batch_on_cuda_with_shared_and_per_point_tangents():
    rng = make_rng("test_forward_cuda", "test_jvp_batch_on_cuda_with_shared_and_per_point_tangents")
    X = rng.uniform(0.5, 2.0, (6, 4))
    jvp = adjoint.jvp(f4, target="cuda")
    gradients = reverse_on_cpu(f4, 0, (X,))[0]
    v = np.array([1.0, -2.0, 0.5, 3.0])
    values, tangents = jvp.batch(X, v)                     # one direction for every point
    np.testing.assert_allclose(values, [f4(x) for x in X], rtol=1e-13)
    np.testing.assert_allclose(tangents, gradients @ v, rtol=1e-12)
    V = rng.normal(size=X.shape)                           # one direction per point
    values, tangents = jvp.batch(X, V)
    np.testing.assert_allclose(tangents, np.sum(gradients * V, axis=1), rtol=1e-12)
    h = 1e-6                                               # and a directional difference
    fd = [(f4(x + h * d) - f4(x - h * d)) / (2 * h) for x, d in zip(X, V)]
    np.testing.assert_allclose(tangents, fd, rtol=1e-6)


@pytest.mark.slow
@needs_cuda
def test_forward_gradient_on_cuda_called_directly():
    g = adjoint.grad(f4, target="cuda", mode="forward")
    np.testing.assert_allclose(g([1.0, 2.0, 3.0, 4.0]), [52.0, 38.0, 28.0, 22.0], rtol=1e-14)
    two = adjoint.grad(cf.two_helpers, (0, 1), target="cuda", mode="forward")(0.3, -0.4)
    assert isinstance(two, tuple) and len(two) == 2
    np.testing.assert_allclose(two, [finite_difference(cf.two_helpers, (0.3, -0.4), k) for k in (0, 1)],
                               rtol=1e-6)


@needs_cuda
def test_cuda_inputs_on_the_device_stay_there_in_forward_mode():
    rng = make_rng("test_forward_cuda", "test_cuda_inputs_on_the_device_stay_there_in_forward_mode")
    from numba import cuda
    X = rng.uniform(0.5, 2.0, (4, 4))
    _, tangents = adjoint.jvp(f4, target="cuda").batch(cuda.to_device(X), np.ones(4))
    assert hasattr(tangents, "copy_to_host")
    np.testing.assert_allclose(tangents.copy_to_host(), reverse_on_cpu(f4, 0, (X,))[0].sum(axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["python", "cpu"])
def test_forward_batches_on_the_host_equal_point_by_point(target):
    """The same batch API on the host targets, including a vector-valued jvp."""
    rng = make_rng("test_forward_cuda", "test_forward_batches_on_the_host_equal_point_by_point")
    args = (LORENZ, 8)
    np.testing.assert_allclose(adjoint.grad(cf.lorenz_rk4, target=target, mode="forward").batch(*args),
                               reverse_on_cpu(cf.lorenz_rk4, 0, args)[0], rtol=1e-10)
    states, params = LORENZ[:, :3], np.array([10.0, 28.0, 8.0 / 3.0])
    jvp = adjoint.jvp(hc.lorenz_map, target=target)
    V = rng.normal(size=states.shape)
    values, tangents = jvp.batch(states, params, 5, V)
    assert values.shape == tangents.shape == (3, 3)
    for s, v, value, tangent in zip(states, V, values, tangents):
        want_value, want_tangent = jvp(s, params, 5, v)
        np.testing.assert_allclose(value, want_value, rtol=1e-14)
        np.testing.assert_allclose(tangent, want_tangent, rtol=1e-14)


def test_forward_device_code_takes_tangents_and_allocates_nothing():
    source = adjoint.jvp(cf.lorenz_rk4, target="cuda").generated.device_source
    assert "def jvp_lorenz_rk4_device(p, steps, d_p, work_f, work_i, work_b):" in source
    assert "def tape_sizes_lorenz_rk4(p, steps):" in source
    assert "np.empty" not in source and "np.zeros" not in source


def vector_arithmetic(x):
    return np.sum(x * x) + x[0]


def local_array(x):
    y = np.zeros(3)
    for i in range(3):
        y[i] = x[i] * x[i]
    return y[0] + y[1] * y[2]


UNSUPPORTED = [
    ("vector value", lambda: adjoint.jvp(hc.lorenz_map, target="cuda"),
     "needs a function whose value is a scalar"),
    ("vjp", lambda: adjoint.vjp(hc.lorenz_map, target="cuda"), "vjp is not available on the cuda target"),
    ("jacobian", lambda: adjoint.jacobian(hc.lorenz_map, target="cuda"),
     "jacobian is not available on the cuda target"),
    ("hessian", lambda: adjoint.hessian(hc.rosenbrock, target="cuda"),
     "hessian is not available on the cuda target"),
    ("array arithmetic", lambda: adjoint.grad(vector_arithmetic, target="cuda", mode="forward"),
     "whole-array arithmetic is not available on the cuda target"),
    ("local array", lambda: adjoint.jvp(local_array, target="cuda"), "device code cannot allocate arrays"),
    ("guessed rank", lambda: adjoint.jvp(cf.piecewise, target="cuda")(np.ones(3), np.ones(3)),
     "the cuda code was generated for a scalar"),
    ("cache", lambda: adjoint.grad(f4, target="cuda", mode="forward", cache=True),
     "cache=True is not available on the cuda target"),
    ("tangent shape", lambda: adjoint.jvp(f4, target="cuda").batch(np.ones((3, 4)), np.ones(3)),
     r"expected \(4,\) \(one direction for all points\) or \(3, 4\)"),
]


@pytest.mark.parametrize("name, call, message", UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_what_cuda_does_not_run_is_a_clear_error(name, call, message):
    with pytest.raises(adjoint.AdjointError, match=message) as info:
        call()
    if name != "tangent shape":
        assert "hint:" in str(info.value)
