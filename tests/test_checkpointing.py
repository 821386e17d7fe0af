"""grad(f, checkpoints=K): outermost range loops keep at most K snapshots of their state
(revolve's binomial schedule) and run the iterations between them again.

Checked: the gradient is the unbounded one (the same arithmetic, so equal to rounding) and
close to central differences, for K from 1 to past the trip count, on corpus loops (an
accumulator, Lorenz RK4, the explicit heat equation as whole-array steps and as a nested
loop of element writes); the number of iterations run again is revolve's optimum, found here
by an independent search over every schedule; while loops and loops with break are refused.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest

import adjoint
from adjoint.errors import AdjointArgumentError, AdjointError
from tests import control_flow_corpus as cf
from tests import realistic_corpus as rc
from tests.oracles import finite_difference


def _lorenz_args(steps=9):
    return np.array([1.0, 1.2, 0.9, 10.0, 28.0, 8.0 / 3.0]), steps


def _heat_args(nt=7):
    u0, nu, _ = rc._heat_args(np.random.default_rng(3))
    return u0, nu, nt


# (function, arguments, wrt, trip count of its outermost loop)
CASES = {
    "accumulator": (cf.nonlinear_accumulator, (0.7, 9), 0, 9),
    "lorenz_rk4": (cf.lorenz_rk4, _lorenz_args(), 0, 9),
    "heat_vectorized": (rc.heat_ftcs_vec, _heat_args(), (0, 1), 7),
    "heat_loops": (rc.heat_ftcs_loop, _heat_args(), (0, 1), 7),
}


def _parts(g):
    return list(g) if isinstance(g, tuple) else [g]


@functools.lru_cache(maxsize=None)
def _unbounded(name):
    f, args, wrt, _ = CASES[name]
    return _parts(adjoint.grad(f, wrt=wrt, target="python")(*args))


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_gradient_as_unbounded_for_every_budget(name):
    f, args, wrt, trips = CASES[name]
    expected = _unbounded(name)
    for k in range(1, trips + 2):
        got = _parts(adjoint.grad(f, wrt=wrt, target="python", checkpoints=k)(*args))
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=0, err_msg=f"checkpoints={k}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_close_to_finite_differences(name):
    f, args, wrt, _ = CASES[name]
    got = _parts(adjoint.grad(f, wrt=wrt, target="python", checkpoints=2)(*args))
    for g, w in zip(got, wrt if isinstance(wrt, tuple) else (wrt,), strict=True):
        np.testing.assert_allclose(g, finite_difference(f, args, w), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,k", [("lorenz_rk4", 3), ("heat_vectorized", 2)])
def test_cpu_target(name, k):
    f, args, wrt, _ = CASES[name]
    got = _parts(adjoint.grad(f, wrt=wrt, target="cpu", checkpoints=k)(*args))
    for g, e in zip(got, _unbounded(name), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=0)


def strided(x, n):
    """A range with a start and a step: the iteration number is not the index."""
    s = x
    for j in range(2, n, 3):
        s = np.sin(s * x) + 0.01 * j * s
    return s


def test_range_with_start_and_step():
    expected = adjoint.grad(strided, target="python")(0.8, 23)
    for k in range(1, 9):
        got = adjoint.grad(strided, target="python", checkpoints=k)(0.8, 23)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(expected, finite_difference(strided, (0.8, 23), 0), rtol=1e-6)


# --- how many iterations are run again ---------------------------------------------------------

@functools.lru_cache(maxsize=None)
def fewest_advances(steps, snapshots):
    """The fewest iterations any schedule runs forward to reverse `steps` iterations from a
    held snapshot with `snapshots` in all (that one included): searched over every place the
    next snapshot can go (Griewank's recursion), not taken from his closed form."""
    if steps <= 1:
        return 0
    if snapshots == 1:
        return steps * (steps - 1) // 2
    return min(m + fewest_advances(m, snapshots) + fewest_advances(steps - m, snapshots - 1)
               for m in range(1, steps))


def _counted_run(g, args):
    """Run the python-target gradient, counting the iterations its recomputation loops run
    and noting the iteration of the forward sweep's last snapshot."""
    source = g.source_for(*args)
    lines = source.splitlines()
    header = next(k for k, line in enumerate(lines) if "Run forward again" in line) + 1
    assert lines[header].lstrip().startswith("for ")
    rerun_line = header + 2                      # 1-based: the first statement of its body
    snapshot_line = next(k for k, line in enumerate(lines) if "snap_at[t_top] = " in line) + 1
    index = lines[snapshot_line - 1].split("= ")[1].strip()
    count, taken = [0], []

    def local(frame, event, arg):
        if event == "line":
            if frame.f_lineno == rerun_line:
                count[0] += 1
            elif frame.f_lineno == snapshot_line:
                taken.append(frame.f_locals[index])
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_name.startswith("grad_") else None

    sys.settrace(tracer)
    try:
        g(*args)
    finally:
        sys.settrace(None)
    return count[0], taken


@pytest.mark.parametrize("steps", [9, 30])
def test_recomputation_is_revolves_optimum(steps):
    args = (0.7, steps)
    for k in range(1, steps + 2):
        g = adjoint.grad(cf.nonlinear_accumulator, target="python", checkpoints=k)
        rerun, taken = _counted_run(g, args)
        assert taken[0] == 0 and len(taken) <= k
        # the forward sweep ran up to its last snapshot on the schedule's way; every other
        # iteration run forward is a recomputation
        assert rerun + taken[-1] == fewest_advances(steps, min(k, steps)), f"checkpoints={k}"
        if k >= steps:
            assert rerun == 0 and taken == list(range(steps))      # one snapshot per iteration


# --- what is refused ---------------------------------------------------------------------------

@pytest.mark.parametrize("f", [cf.newton_sqrt, cf.integer_counter, cf.break_continue])
def test_loops_without_a_trip_count_are_refused(f):
    with pytest.raises(AdjointError, match="checkpoints= needs the trip count"):
        adjoint.grad(f, target="python", checkpoints=4)


def test_budget_must_be_a_positive_whole_number():
    for bad in (0, -2, 2.5, True, "4"):
        with pytest.raises(AdjointArgumentError, match="checkpoints"):
            adjoint.grad(cf.nonlinear_accumulator, target="python", checkpoints=bad)


def test_not_on_cuda():
    with pytest.raises(AdjointError, match="cuda"):
        adjoint.grad(cf.nonlinear_accumulator, target="cuda", checkpoints=4)


def test_emitted_schedule_reads_as_loops():
    source = adjoint.grad(cf.nonlinear_accumulator, target="python", checkpoints=3).source
    assert "def _revolve(steps, free):" in source
    assert "for i in range(snap_at[t_top], t_iter):" in source
    assert "tape_s" not in source                  # no per-iteration tape


# ports of real programs whose loops carry arrays, some of changing shape (the binomial lattice)
REALISTIC = ("vanilla_rnn_loop", "spring_simulation_vec", "crr_call_vec", "kalman_constant_velocity_vec",
             "nbody_leapfrog_vec", "fisher_kpp_loop")


@pytest.mark.parametrize("name", REALISTIC)
def test_realistic_array_loops(name):
    program = next(p for p in rc.PROGRAMS if p.name == name)
    args = program.build(np.random.default_rng(0))
    expected = _parts(adjoint.grad(program.fn, wrt=program.wrt, target="python")(*args))
    for k in (1, 2, 5):
        got = _parts(adjoint.grad(program.fn, wrt=program.wrt, target="python", checkpoints=k)(*args))
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=0, err_msg=f"checkpoints={k}")
