"""grad(f, checkpoints=K): outermost range loops keep at most K snapshots of their state
(revolve's binomial schedule) and run the iterations between them again.

Checked: the gradient is the unbounded one (the same arithmetic, so equal to rounding) and
close to central differences, for K from 1 to past the trip count, on corpus loops (an
accumulator, Lorenz RK4, the explicit heat equation as whole-array steps and as a nested
loop of element writes); the number of iterations run again is revolve's optimum, found here
by an independent search over every schedule. Loops without a trip count (while, break) thin
their snapshots as they run: checked for trip counts 1..50 and every budget up to the trip count,
and their recomputation against revolve's optimum on each stretch. A loop's own budget
(adjoint.checkpointed, the `# adjoint: checkpoints=K` comment) and its misuse.
"""

from __future__ import annotations

import functools
import math
import re
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


def _counted_run(g, args, snapshot_marker="snap_at[t_top] = "):
    """Run the python-target gradient, counting the iterations its recomputation loops run
    and noting the iteration of the forward sweep's last snapshot."""
    source = g.source_for(*args)
    lines = source.splitlines()
    header = next(k for k, line in enumerate(lines) if re.match(r"\s*for \w+ in range\(snap_at\[", line))
    rerun_line = header + 2                      # 1-based: the first statement of its body
    snapshot_line, index = -1, None
    if snapshot_marker is not None:
        snapshot_line = next(k for k, line in enumerate(lines) if snapshot_marker in line) + 1
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


# --- loops without a trip count: snapshots thinned as the loop runs ---------------------------

@pytest.mark.parametrize("f,args", [(cf.newton_sqrt, (2.0,)), (cf.integer_counter, (0.7, 13)),
                                    (cf.break_continue, (1.1, 40))])
def test_loops_without_a_trip_count(f, args):
    expected = adjoint.grad(f, target="python")(*args)
    for k in range(1, 8):
        got = adjoint.grad(f, target="python", checkpoints=k)(*args)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0, err_msg=f"checkpoints={k}")


def damped_while(x, n, K):
    s = x
    k = 0
    while k < n:  # adjoint: checkpoints=K
        s = math.sin(s * x) + 0.3 * s + 0.01 * k
        k += 1
    return s


def damped_while_plain(x, n, K):
    s = x
    k = 0
    while k < n:
        s = math.sin(s * x) + 0.3 * s + 0.01 * k
        k += 1
    return s


def stops_early(x, n, K):
    s = x
    for i in adjoint.checkpointed(range(1000), K):
        if i >= n:
            break
        s = math.tanh(s * x + 0.1 * i) + s * 0.5
    return s


def stops_early_plain(x, n, K):
    s = x
    for i in range(1000):
        if i >= n:
            break
        s = math.tanh(s * x + 0.1 * i) + s * 0.5
    return s


# the trip count for n: both loops run once more, to find that they end
ONLINE = [(damped_while, damped_while_plain, lambda n: n + 1), (stops_early, stops_early_plain, lambda n: n + 1)]


@pytest.mark.parametrize("f,plain,trips", ONLINE)
def test_online_schedule_every_trip_count_and_budget(f, plain, trips):
    """Trip counts 1..50, each budget from 1 to the trip count (the budget is a parameter:
    one compilation), against the unbounded gradient and, for some, central differences."""
    g = adjoint.grad(f, target="python")
    reference = adjoint.grad(plain, target="python")
    assert f(0.7, 5, 2) == plain(0.7, 5, 2)              # the marker runs as plain Python
    for n in range(1, 51):
        expected = reference(0.7, n, 1)
        for k in range(1, trips(n) + 1):
            np.testing.assert_allclose(g(0.7, n, k), expected, rtol=1e-12, atol=0, err_msg=f"n={n} K={k}")
        if n in (1, 7, 50):
            np.testing.assert_allclose(expected, finite_difference(f, (0.7, n, 3), 0), rtol=1e-6)


def online_segments(trips, k):
    """Where the documented online schedule leaves its snapshots after `trips` iterations:
    at most ceil(k / 2), evenly spaced, every other dropped and the gap doubled when all are
    taken (simulated here from that description)."""
    keep, gap, taken = (k + 1) // 2, 1, []
    for i in range(trips):
        if i == len(taken) * gap and len(taken) == keep:
            taken, gap = taken[::2], 2 * gap
        if i == len(taken) * gap:
            taken.append(i)
    return taken, gap


@pytest.mark.parametrize("trips", [1, 2, 9, 30, 65])
def test_online_recomputation_is_revolve_on_each_stretch(trips):
    """The reverse loop reverses each stretch between the forward sweep's snapshots with
    revolve, using the slots the later stretches freed: the count is the sum of revolve's
    optimum over the stretches, and within the documented bound N * r."""
    g = adjoint.grad(damped_while, target="python")
    for k in range(1, trips + 2):
        rerun, _ = _counted_run(g, (0.7, trips - 1, k), snapshot_marker=None)     # (the last finds k == n)
        taken, gap = online_segments(trips, k)
        ends = taken[1:] + [trips]
        expected = sum(fewest_advances(b - a, k - j) for j, (a, b) in enumerate(zip(taken, ends)))
        assert rerun == expected, f"trips={trips} K={k}"
        assert gap == 1 or gap < 2 * trips / ((k + 1) // 2)
        r = 0
        while math.comb(k - (k + 1) // 2 + 1 + r, r) < gap:
            r += 1
        assert rerun <= r * trips


# --- a loop's own budget ----------------------------------------------------------------------

def two_loops(x, n):
    s = x
    for i in adjoint.checkpointed(range(n), 2):
        s = math.sin(s) * x + 0.1 * i
    t = s
    for j in range(n):  # adjoint: checkpoints=5
        t = t * 0.9 + math.cos(t * x)
    return t


def two_loops_plain(x, n):
    s = x
    for i in range(n):
        s = math.sin(s) * x + 0.1 * i
    t = s
    for j in range(n):
        t = t * 0.9 + math.cos(t * x)
    return t


def test_each_loop_its_own_budget():
    g = adjoint.grad(two_loops, target="python")
    source = g.source
    assert "t_slots = min(2, max(n, 0))" in source and "min(5, max(n, 0))" in source
    assert not [line for line in source.splitlines() if "checkpointed" in line and "#" not in line]
    expected = adjoint.grad(two_loops_plain, target="python")(0.6, 12)
    np.testing.assert_allclose(g(0.6, 12), expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(expected, finite_difference(two_loops_plain, (0.6, 12), 0), rtol=1e-6)
    assert two_loops(0.6, 12) == two_loops_plain(0.6, 12)
    # the option reaches the loops without a budget of their own only
    h = adjoint.grad(two_loops, target="python", checkpoints=3)
    assert "min(2, max(n, 0))" in h.source and "min(5, max(n, 0))" in h.source


def test_marker_on_the_cpu_target():
    g = adjoint.grad(stops_early, target="cpu")
    np.testing.assert_allclose(g(0.7, 23, 4), adjoint.grad(stops_early_plain, target="python")(0.7, 23, 4),
                               rtol=1e-12, atol=0)


def not_a_range(x, K):
    s = 0.0
    for v in adjoint.checkpointed(x, K):
        s = s * 0.5 + v
    return s


def zero_budget(x, n):
    s = x
    for i in adjoint.checkpointed(range(n), 0):
        s = s * x
    return s


def local_budget(x, n):
    s = x
    k = 4
    for i in adjoint.checkpointed(range(n), k):
        s = s * x
    return s


def bad_pragma(x, n):
    s = x
    for i in range(n):  # adjoint: checkpoint=4
        s = s * x
    return s


def float_pragma(x, n):
    s = x
    for i in range(n):  # adjoint: checkpoints=q
        s = s * x
    return s


@pytest.mark.parametrize("f,args,message,hint", [
    (not_a_range, (np.ones(3), 2), "marks a loop over range", "adjoint.checkpointed(range(len(x)), K)"),
    (zero_budget, (0.5, 3), "must be a whole number", "at least 1"),
    (local_budget, (0.5, 3), "must be a whole number", "parameters"),
    (bad_pragma, (0.5, 3), "unknown adjoint comment", "# adjoint: checkpoints=K"),
    (float_pragma, (0.5, 3), "not a whole number", "parameters"),
])
def test_marker_misuse_is_located(f, args, message, hint):
    with pytest.raises(AdjointError, match=message) as caught:
        adjoint.grad(f, target="python")(*args)
    error = caught.value
    assert error.location is not None and error.location.line > f.__code__.co_firstlineno
    assert hint in str(error)
    assert "For" not in str(error) and "Call" not in str(error)


def test_marker_budget_checked_when_run_as_python():
    with pytest.raises(ValueError, match="checkpoints=0"):
        zero_budget(0.5, 3)


def test_budget_must_be_a_positive_whole_number():
    for bad in (0, -2, 2.5, True, "4"):
        with pytest.raises(AdjointArgumentError, match="checkpoints"):
            adjoint.grad(cf.nonlinear_accumulator, target="python", checkpoints=bad)


def test_emitted_schedule_reads_as_loops():
    source = adjoint.grad(cf.nonlinear_accumulator, target="python", checkpoints=3).source
    assert "def _revolve(steps, free):" in source
    assert "for i in range(snap_at[t_top], t_iter):" in source
    assert "tape_s" not in source                  # no per-iteration tape
    online = adjoint.grad(cf.newton_sqrt, target="python", checkpoints=4).source
    assert "for t_j in range(1, (t_top + 2) // 2):" in online and "t_gap = 2 * t_gap" in online
    assert "tape_x" not in online


# ports of real programs whose loops carry arrays, some of changing shape (the binomial lattice)
REALISTIC = ("vanilla_rnn_loop", "spring_simulation_vec", "crr_call_vec", "kalman_constant_velocity_vec",
             "nbody_leapfrog_vec", "fisher_kpp_loop")


# ports of real programs whose loops have no trip count before they run (the online schedule)
REALISTIC_ONLINE = ("ar1_nll_enumerate", "autograd_tutorial_taylor_sine", "newton_sqrt_while")


@pytest.mark.parametrize("name", REALISTIC_ONLINE)
def test_realistic_loops_without_a_trip_count(name):
    program = next(p for p in rc.PROGRAMS if p.name == name)
    args = program.build(np.random.default_rng(0))
    expected = _parts(adjoint.grad(program.fn, wrt=program.wrt, target="python")(*args))
    for k in (1, 2, 5):
        g = adjoint.grad(program.fn, wrt=program.wrt, target="python", checkpoints=k)
        assert "t_keep" in g.source_for(*args)                  # the online schedule, not revolve's
        for got, e in zip(_parts(g(*args)), expected, strict=True):
            np.testing.assert_allclose(got, e, rtol=1e-12, atol=0, err_msg=f"checkpoints={k}")


@pytest.mark.parametrize("name", REALISTIC)
def test_realistic_array_loops(name):
    program = next(p for p in rc.PROGRAMS if p.name == name)
    args = program.build(np.random.default_rng(0))
    expected = _parts(adjoint.grad(program.fn, wrt=program.wrt, target="python")(*args))
    for k in (1, 2, 5):
        got = _parts(adjoint.grad(program.fn, wrt=program.wrt, target="python", checkpoints=k)(*args))
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=0, err_msg=f"checkpoints={k}")


# --- checkpoints="auto": a budget in bytes ------------------------------------------------------

def relaxed(u, x, n):
    for i in range(n):
        u = 0.9 * u + np.sin(u) * x
    return np.sum(u)


def test_memory_budget_chooses_the_number_of_snapshots():
    """A snapshot of `relaxed` holds u (5 floats: 40 bytes) and its iteration (8): a limit of
    150 bytes holds 3 of them; the schedule is then the one of checkpoints=3."""
    args = (np.linspace(0.1, 0.9, 5), 0.7, 20)
    auto = adjoint.grad(relaxed, target="python", checkpoints="auto", memory_limit=150)
    fixed = adjoint.grad(relaxed, target="python", checkpoints=3)
    assert "t_budget = max(150 // (u.nbytes + 8), 1)" in auto.source_for(*args)
    assert _counted_run(auto, args)[0] == _counted_run(fixed, args)[0] > 0
    np.testing.assert_allclose(auto(*args), adjoint.grad(relaxed, target="python")(*args), rtol=1e-12, atol=0)
    # the same limit as a string, and memory_limit alone
    for limit in ("150B", "0.15kB"):
        g = adjoint.grad(relaxed, target="python", memory_limit=limit)
        assert g.options.checkpoints == "auto" and _counted_run(g, args)[0] == _counted_run(fixed, args)[0]
    # a larger state takes fewer snapshots within the same limit; a tiny limit still keeps one
    wide = (np.linspace(0.1, 0.9, 10), 0.7, 20)
    assert _counted_run(auto, wide)[0] == _counted_run(adjoint.grad(relaxed, target="python", checkpoints=1),
                                                       wide)[0]
    tiny = adjoint.grad(relaxed, target="python", memory_limit=1)
    np.testing.assert_allclose(tiny(*wide), adjoint.grad(relaxed, target="python")(*wide), rtol=1e-12, atol=0)


def test_memory_budget_on_a_while_loop():
    # damped_while's state: s and k (8 bytes each) and the iteration: 24 bytes a snapshot
    g = adjoint.grad(damped_while_plain, target="python", memory_limit="72B")
    fixed = adjoint.grad(damped_while_plain, target="python", checkpoints=3)
    args = (0.7, 30, 0)
    assert _counted_run(g, args, snapshot_marker=None)[0] == _counted_run(fixed, args, snapshot_marker=None)[0]
    np.testing.assert_allclose(g(*args), adjoint.grad(damped_while_plain, target="python")(*args), rtol=1e-12)


def test_memory_budget_on_the_cpu_target():
    args = (np.linspace(0.1, 0.9, 5), 0.7, 20)
    g = adjoint.grad(relaxed, target="cpu", memory_limit="1MB")
    np.testing.assert_allclose(g(*args), adjoint.grad(relaxed, target="python")(*args), rtol=1e-12, atol=0)


@pytest.mark.parametrize("options,message", [
    (dict(checkpoints="auto"), "needs memory_limit"),
    (dict(checkpoints=4, memory_limit="1GB"), "give one budget"),
    (dict(memory_limit="1 parsec"), "memory_limit"),
    (dict(memory_limit=0), "memory_limit"),
    (dict(memory_limit=True), "memory_limit"),
    (dict(checkpoints="many"), "checkpoints"),
])
def test_memory_budget_misuse(options, message):
    with pytest.raises(AdjointArgumentError, match=message):
        adjoint.grad(relaxed, target="python", **options)


def test_memory_limit_units():
    from adjoint.options import Options
    assert Options(memory_limit="1GB").memory_limit == 10**9
    assert Options(memory_limit="512 MiB").memory_limit == 512 * 2**20
    assert Options(memory_limit="1.5e3").memory_limit == 1500
    assert Options(memory_limit=4096).memory_limit == 4096


# --- composition ----------------------------------------------------------------------------

def relax_marked(u, n, K):
    for i in adjoint.checkpointed(range(n), K):
        u = 0.9 * u + np.sin(u) * u[0]
    return np.sum(u * u)


def relax_unmarked(u, n, K):
    for i in range(n):
        u = 0.9 * u + np.sin(u) * u[0]
    return np.sum(u * u)


@pytest.mark.parametrize("f,plain,x", [(stops_early, stops_early_plain, 0.7), (damped_while, damped_while_plain, 0.7),
                                       (relax_marked, relax_unmarked, np.linspace(0.1, 0.5, 4))])
def test_hessian_vector_product_over_a_budgeted_gradient(f, plain, x):
    """Forward mode over the emitted gradient, snapshots, revolve helper and all."""
    v = np.ones_like(x) if np.ndim(x) else 1.0
    expected = adjoint.hvp(plain, target="python")(x, 9, 1, v)
    for k in (1, 3, 10):
        np.testing.assert_allclose(adjoint.hvp(f, target="python")(x, 9, k, v), expected, rtol=1e-12, atol=0)
    # against central differences of the (unbounded, independently checked) gradient
    g, h = adjoint.grad(plain, target="python"), 1e-5
    fd = (g(x + h * v, 9, 1) - g(x - h * v, 9, 1)) / (2 * h)
    np.testing.assert_allclose(expected, fd, rtol=1e-6, atol=1e-8)


def inner_budget(u, n, K):
    total = 0.0
    for j in range(3):
        v = u * (1.0 + 0.1 * j)
        for i in adjoint.checkpointed(range(n), K):
            v = np.sin(v) + 0.5 * v
        total = total + np.sum(v)
    return total


def inner_unbudgeted(u, n, K):
    total = 0.0
    for j in range(3):
        v = u * (1.0 + 0.1 * j)
        for i in range(n):
            v = np.sin(v) + 0.5 * v
        total = total + np.sum(v)
    return total


def test_inner_loop_with_its_own_budget():
    """The inner loop's snapshots live within one outer iteration (forward, and in the outer
    loop's replay); the outer loop has a budget of its own from the option, or none."""
    u = np.linspace(0.1, 0.5, 4)
    expected = adjoint.grad(inner_unbudgeted, target="python")(u, 7, 1)
    for option in (None, 2):
        g = adjoint.grad(inner_budget, target="python", checkpoints=option)
        for k in (1, 2, 7):
            np.testing.assert_allclose(g(u, 7, k), expected, rtol=1e-12, atol=0, err_msg=f"{option} {k}")
    np.testing.assert_allclose(expected, finite_difference(inner_unbudgeted, (u, 7, 1), 0), rtol=1e-6)


def fill_while(x, n, K):
    y = np.zeros(n + 1)
    s = x
    k = 0
    while k < n:  # adjoint: checkpoints=K
        s = math.sin(s) + x
        y[k] = s * s
        y[k + 1] = y[k + 1] + 0.5 * y[k]
        k += 1
    return np.sum(y * y)


def fill_while_plain(x, n, K):
    y = np.zeros(n + 1)
    s = x
    k = 0
    while k < n:
        s = math.sin(s) + x
        y[k] = s * s
        y[k + 1] = y[k + 1] + 0.5 * y[k]
        k += 1
    return np.sum(y * y)


def test_element_writes_in_a_loop_without_a_trip_count():
    """The array written element by element is part of each snapshot (not undone write by write)."""
    g = adjoint.grad(fill_while, target="python")
    reference = adjoint.grad(fill_while_plain, target="python")
    for n in (1, 5, 17):
        expected = reference(0.4, n, 1)
        for k in range(1, n + 2):
            np.testing.assert_allclose(g(0.4, n, k), expected, rtol=1e-12, atol=0, err_msg=f"n={n} K={k}")
    np.testing.assert_allclose(expected, finite_difference(fill_while_plain, (0.4, 17, 1), 0), rtol=1e-6)


def test_marked_loop_in_a_batch():
    # a batch runs the budgeted gradient at each point (the cuda target: test_checkpointing_cuda.py)
    g = adjoint.grad(stops_early, target="python")
    np.testing.assert_allclose(g.batch(np.array([0.5, 0.7]), 9, 3),
                               [adjoint.grad(stops_early_plain, target="python")(x, 9, 3) for x in (0.5, 0.7)],
                               rtol=1e-12)


def test_with_recompute():
    """recompute=True (no stored array intermediates) changes nothing under a budget: the
    budgeted loop replays its iteration either way."""
    f, args, wrt, _ = CASES["heat_vectorized"]
    got = _parts(adjoint.grad(f, wrt=wrt, target="python", checkpoints=3, recompute=True)(*args))
    for g, e in zip(got, _unbounded("heat_vectorized"), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=0)
