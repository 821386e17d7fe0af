"""checkpoints=K on the cuda target (under numba's CUDA simulator in CI): the K snapshots of a
loop's state, and the schedule's iteration numbers, are rows of each thread's workspace, sized
on the host before launch from K and the state's size (K bounds them for a `while` loop too).

Checked against central differences and the unbounded gradient (cuda's own where that target
has one; a while loop's and a loop writing an array element by element need an unbounded
tape, which device code cannot grow, so there the python target's), for a single point and a
batch (one thread per point), K in {1, 3, trip count}; and that the workspace grows with K,
not with the trip count. The simulator runs each thread as Python: the full comparisons are
marked slow, the quick suite runs one budgeted gradient on it (test_memory_limit_on_cuda).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import adjoint
from tests import control_flow_corpus as cf
from tests.conftest import needs_cuda
from tests.oracles import finite_difference
from tests.test_checkpointing import stops_early

pytestmark = needs_cuda

LORENZ = np.array([1.0, 1.2, 0.9, 10.0, 28.0, 8.0 / 3.0])


def damped_while(x, n):
    s = x
    k = 0
    while k < n:
        s = math.sin(s * x) + 0.3 * s + 0.01 * k
        k += 1
    return s


def ring(u, steps):
    """An 8-element state, one element rewritten per step from its neighbours."""
    for k in range(steps):
        j = k % 8
        u[j] = u[j] + 0.1 * math.sin(u[(j + 1) % 8]) - 0.05 * u[(j + 7) % 8] * u[j]
    total = 0.0
    for j in range(8):
        total += u[j] * u[j]
    return total


def ring_while(u, n):
    """The same state in a while loop: thinning its snapshots copies rows of the workspace."""
    k = 0
    while k < n:
        j = k % 8
        u[j] = u[j] + 0.1 * math.sin(u[(j + 1) % 8]) - 0.05 * u[(j + 7) % 8] * u[j]
        k += 1
    return u[0] * u[3] + u[5]


def substeps(p, steps):
    """An inner loop of a fixed trip count: its tape (4 rows) is one workspace slice, taken
    again in each replay of the outer step."""
    x = p[0]
    y = p[1]
    for k in range(steps):
        for m in range(4):
            x, y = x + 0.01 * math.sin(y) * x, y - 0.02 * x * y
    return x * y


def triangle(x, n):
    s = x
    for i in range(n):
        for j in range(i):
            s = math.sin(s) + 0.1 * j
    return s


# (function, the point, a batch of points (the first argument's), the other arguments,
#  trip count of the loop under the budget, whether cuda has an unbounded gradient of it)
CASES = {
    "lorenz_rk4": (cf.lorenz_rk4, LORENZ, np.stack([LORENZ, LORENZ * 1.01, LORENZ * 0.98]), (30,), 30, True),
    "while": (damped_while, 0.7, np.array([0.7, 0.4, 1.1]), (25,), 25, False),
    "array_state": (ring, np.linspace(0.1, 0.8, 8), np.linspace(0.1, 0.8, 24).reshape(3, 8), (20,), 20, False),
    "nested": (substeps, np.array([0.7, 1.3]), np.array([[0.7, 1.3], [0.5, 0.9]]), (12,), 12, True),
    "array_state_while": (ring_while, np.linspace(0.2, 0.9, 8), np.linspace(0.2, 0.9, 16).reshape(2, 8), (21,),
                          22, False),
}


@functools.lru_cache(maxsize=None)
def _unbounded(name):
    f, _, _, _, _, on_cuda = CASES[name]
    return adjoint.grad(f, target="cuda" if on_cuda else "python")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_gradient_as_unbounded_and_finite_differences(name):
    f, x, points, rest, trips, _ = CASES[name]
    reference = _unbounded(name)
    expected = reference(np.copy(x), *rest)
    batch_expected = np.array([reference(np.copy(p), *rest) for p in points])
    np.testing.assert_allclose(expected, finite_difference(f, (np.copy(x), *rest), 0), rtol=1e-6, atol=1e-8)
    for k in (1, 3, trips):
        g = adjoint.grad(f, target="cuda", checkpoints=k)
        np.testing.assert_allclose(g(np.copy(x), *rest), expected, rtol=1e-12, atol=0, err_msg=f"checkpoints={k}")
        np.testing.assert_allclose(g.batch(np.copy(points), *rest), batch_expected, rtol=1e-12, atol=0,
                                   err_msg=f"batch, checkpoints={k}")


@pytest.mark.slow
def test_a_loops_own_budget_a_parameter_on_cuda():
    """adjoint.checkpointed(range(1000), K) with a break: K is an argument, each point's own."""
    g = adjoint.grad(stops_early, target="cuda")
    reference = adjoint.grad(stops_early, target="python")
    xs = np.array([0.5, 0.7, 0.9])
    expected = [reference(x, 12, 2) for x in xs]
    np.testing.assert_allclose(g.batch(xs, 12, 2), expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(g(0.7, 12, 5), reference(0.7, 12, 5), rtol=1e-12, atol=0)


def test_the_hint_for_a_while_loop_without_a_budget_works():
    with pytest.raises(adjoint.AdjointError, match="only known while it runs") as caught:
        adjoint.grad(cf.newton_sqrt, target="cuda")
    assert "checkpoints=K" in str(caught.value)
    g = adjoint.grad(cf.newton_sqrt, target="cuda", checkpoints=4)
    np.testing.assert_allclose(g.batch(np.array([2.0, 9.0])), [0.5 / math.sqrt(2.0), 1.0 / 6.0], rtol=1e-12)


def test_memory_limit_on_cuda():
    g = adjoint.grad(cf.lorenz_rk4, target="cuda", checkpoints="auto", memory_limit=4 * 8 * 4)
    np.testing.assert_allclose(g(LORENZ, 30), _unbounded("lorenz_rk4")(LORENZ, 30), rtol=1e-12, atol=0)


def _workspace(f, k, *args):
    """(floats, ints, bools) each thread's workspace holds: the emitted tape_sizes_<f>, run."""
    generated = adjoint.grad(f, target="cuda", checkpoints=k).generated
    module = {}
    exec(compile(generated.device_source, "<device>", "exec"), module)
    return module[generated.device.sizes.name](*args)


def test_workspace_grows_with_the_budget_not_the_trip_count():
    assert _workspace(cf.lorenz_rk4, 4, LORENZ, 50) == _workspace(cf.lorenz_rk4, 4, LORENZ, 5000) == (3 * 4, 4, 0)
    assert _workspace(cf.lorenz_rk4, 8, LORENZ, 5000) == (3 * 8, 8, 0)
    assert _workspace(cf.lorenz_rk4, 8, LORENZ, 5) == (3 * 5, 5, 0)           # no more slots than trips
    # K bounds a while loop's: s and the counter k in each snapshot, and its iteration number
    assert _workspace(damped_while, 6, 0.7, 10 ** 6) == (6, 6 + 6, 0)
    u = np.linspace(0.1, 0.8, 8)
    assert _workspace(ring, 3, u, 10 ** 6) == (3 * 8, 3, 0)
    assert _workspace(substeps, 5, u, 10 ** 6) == (2 * 5 + 2 * 4, 5, 0)      # x, y; the inner loop's tapes
    assert np.array_equal(u, np.linspace(0.1, 0.8, 8))                      # sizing never writes into it


def test_an_inner_loop_whose_trip_count_changes_is_located():
    with pytest.raises(adjoint.AdjointError, match="only known while it runs") as caught:
        adjoint.grad(triangle, target="cuda", checkpoints=3)
    assert caught.value.location.line == triangle.__code__.co_firstlineno + 3


def test_device_code_reads_as_loops():
    source = adjoint.grad(ring, target="cuda", checkpoints=3).generated.device_source
    assert "def _revolve(steps, free):" in source                 # a device function of its own
    assert "snap_u = work_f[0:0 + t_slots * u.shape[0]].reshape((t_slots, u.shape[0]))" in source
    assert "snap_u[t_top, t_e] = u[t_e]" in source and "u[t_e_1] = snap_u[t_top, t_e_1]" in source
    assert ".copy()" not in source and "min(" not in source and "max(" not in source


# --- compiled for a real GPU: PTX from libnvvm, where it is installed (no GPU needed) ---------

PTX = r'''
import os, sys, types
os.environ["NUMBA_ENABLE_CUDASIM"] = "0"
from numba import cuda, types as nt
try:
    import numba.cuda.dispatcher as dispatcher
    class Device:               # device functions called by others compile for this one
        compute_capability = (8, 0)
    dispatcher.get_current_device = lambda: Device()
    cuda.compile_ptx(lambda a: a + 1.0, (nt.float64,), device=True, cc=(8, 0))
except Exception as exc:        # no libnvvm, or another numba.cuda
    print(exc)
    sys.exit(77)
import adjoint
from adjoint.backends import python
from tests import control_flow_corpus as cf
from tests.test_checkpointing_cuda import damped_while, ring, substeps
A = nt.Array(nt.float64, 1, "C")
work = (A, nt.Array(nt.int64, 1, "C"), nt.Array(nt.boolean, 1, "C"))
for f, k, argtypes in [(cf.lorenz_rk4, 3, (A, nt.int64)), (damped_while, 3, (nt.float64, nt.int64)),
                       (ring, 3, (A, nt.int64)), (substeps, None, (A, nt.int64))]:
    generated = adjoint.grad(f, target="cuda", checkpoints=k).generated
    module = python.load(generated.device_source, f"<{f.__name__}>", dict(generated.namespace))
    name = generated.device.function.name
    for key, value in list(module.items()):
        if isinstance(value, types.FunctionType) and key != name:
            module[key] = cuda.jit(device=True)(value)
    outputs = tuple(A for _ in generated.device.array_outputs)
    ptx, _ = cuda.compile_ptx(module[name], argtypes + outputs + work, device=True, cc=(8, 0))
    print(f.__name__, "compiled", len(ptx))
'''


@pytest.mark.slow
def test_device_code_compiles_for_a_gpu():
    """The simulator runs the device code as Python: this compiles it as numba.cuda would for
    a GPU (min and max of integers, or a row assignment's temporary copy, fail here, not
    there)."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0", "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-c", PTX], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    if done.returncode == 77:
        pytest.skip(f"numba.cuda cannot compile PTX here: {done.stdout.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("compiled") == 4
