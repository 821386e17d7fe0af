"""The compiler's own time and depth limits (issue #15, items 9 and 10).

Transformation time is `adjoint.pipeline.differentiate(fn)` (no numba): deeply nested loops
and long straight-line functions must transform in about linear time (CPU-time bounds, and
the ratio of 2,000 lines to 500 lines), correctly, and expressions as deep as
Python itself compiles (a sum of 1,000 terms, 190 nested calls) must differentiate, not die
in a RecursionError. The generated programs are written to files and imported, since the
compiler reads source. benchmarks/bench_compile.py measures the same programs' curves.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import math
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import adjoint
from adjoint import pipeline
from adjoint.pipeline import differentiate
from tests.conftest import finite_difference

# generated programs --------------------------------------------------------------------------


def nested_loops_source(depth, trips=2):
    """`depth` nested `for i_k in range(trips)` loops, each level updating the scalar t."""
    lines = ["import math", "", "", "def nested(x, y):", "    t = x"]
    indent = "    "
    for level in range(depth):
        lines.append(f"{indent}for i{level} in range({trips}):")
        indent += "    "
        lines.append(f"{indent}t = t * 0.9 + y * math.sin(t + 0.1 * i{level}) * 0.1")
    lines.append("    return t")
    return "\n".join(lines) + "\n"


def straight_line_source(length):
    """`length` lines that rebind t and u, each reading what the lines before wrote."""
    forms = ["    t = t * 0.5 + math.sin(u) * 0.1",
             "    u = u * 0.5 + t * x * 0.01",
             "    t = t + u * 0.1 - math.exp(-t * t) * 0.01"]
    lines = ["import math", "", "", "def straight(x, y):", "    t = x", "    u = y"]
    lines += [forms[k % len(forms)] for k in range(length)]
    lines.append("    return t + u")
    return "\n".join(lines) + "\n"


def residual_vectors_source(length):
    """`length` residual lines on vectors, each reading the line before twice
    (`v2 = np.tanh(v1 * w) + 0.5 * v1`), then a loop over the last one's elements."""
    lines = ["import numpy as np", "", "", "def residual(x, w):", "    v0 = x"]
    lines += [f"    v{k + 1} = np.tanh(v{k} * w) + 0.5 * v{k}" for k in range(length)]
    lines += ["    acc = 0.0", "    for i in range(x.shape[0]):", f"        acc = acc + v{length}[i] * x[i]",
              "    return acc"]
    return "\n".join(lines) + "\n"


def long_sum_source(terms):
    """One return of a sum of `terms` terms: c_k * x * y and sin(a_k * x) alternately."""
    parts = [f"{_coefficient(k)} * x * y" if k % 2 else f"math.sin({_frequency(k)} * x)"
             for k in range(terms)]
    return "import math\n\n\ndef long_sum(x, y):\n    return " + " + ".join(parts) + "\n"


def _coefficient(k):
    return float(k % 7 + 1)


def _frequency(k):
    return round(0.1 * (k % 5 + 1), 1)


def long_sum_gradient(x, y, terms):
    """Derived by hand: d/dx = sum c_k y + sum a_k cos(a_k x), d/dy = sum c_k x."""
    dx = dy = 0.0
    for k in range(terms):
        if k % 2:
            dx += _coefficient(k) * y
            dy += _coefficient(k) * x
        else:
            dx += _frequency(k) * math.cos(_frequency(k) * x)
    return dx, dy


def nested_calls_source(depth):
    """`depth` nested calls: cos(0.5 * z) and sin(z) alternately, innermost around x * y."""
    body = "x * y"
    for k in range(depth):
        body = f"math.sin({body})" if k % 2 else f"math.cos(0.5 * {body})"
    return "import math\n\n\ndef nested_calls(x, y):\n    return " + body + "\n"


def nested_calls_gradient(x, y, depth):
    """The chain rule, run forward by hand: (value, d value / d (x * y))."""
    value, slope = x * y, 1.0
    for k in range(depth):
        if k % 2:
            value, slope = math.sin(value), math.cos(value) * slope
        else:
            value, slope = math.cos(0.5 * value), -0.5 * math.sin(0.5 * value) * slope
    return slope * y, slope * x


_FOLDER = None
_COUNTER = itertools.count()


def load_program(source, name, folder=None):
    """Write `source` to a fresh module file and import it; returns its function `name`."""
    global _FOLDER
    if folder is None:
        _FOLDER = _FOLDER or tempfile.mkdtemp(prefix="adjoint-scaling-")
        folder = _FOLDER
    module_name = f"scaling_{name}_{next(_COUNTER)}"
    path = Path(folder) / f"{module_name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


# time ----------------------------------------------------------------------------------------

class _OverBudget(Exception):
    pass


@contextlib.contextmanager
def cpu_budget(seconds):
    """Fail when the block uses more than `seconds` of this process's CPU time (CPU time, not
    wall time: other processes on a shared machine barely move it). A block that overruns is
    stopped at twice its budget, so that a regression fails in seconds, not minutes."""
    def stop(signum, frame):
        raise _OverBudget()
    previous = signal.signal(signal.SIGVTALRM, stop)
    signal.setitimer(signal.ITIMER_VIRTUAL, 2 * seconds)
    start = time.process_time()
    try:
        yield
    except _OverBudget:
        pytest.fail(f"stopped after {2 * seconds} s of CPU time (budget {seconds} s)")
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
    used = time.process_time() - start
    assert used < seconds, f"took {used:.2f} s of CPU time (budget {seconds} s)"


def test_deeply_nested_loops_transform_in_about_linear_time():
    fn = load_program(nested_loops_source(7), "nested")
    differentiate(load_program(nested_loops_source(1), "nested"))      # imports, rule table
    with cpu_budget(2.0):
        differentiate(fn)


def test_two_thousand_straight_lines_transform_in_linear_time():
    """Issue #15 item 9: 2,000 lines in about 2 s. The bound leaves room for a loaded CI
    machine (2.1-2.2 s of CPU on an idle core here; the code before took 14 s), and the
    2,000-line program may take at most 6x the 500-line one's time (4x the lines: linear
    gives 4x, quadratic 16x)."""
    differentiate(load_program(straight_line_source(3), "straight"))    # imports, rule table
    short, long = (load_program(straight_line_source(n), "straight") for n in (500, 2000))

    def cpu_seconds(fn):
        start = time.process_time()
        differentiate(fn)
        return time.process_time() - start
    # the least of repeated runs: a loaded machine (the other test worker) only adds time
    short_s = min(cpu_seconds(short) for _ in range(3))
    with cpu_budget(5.0):
        long_s = cpu_seconds(long)
    long_s = min(long_s, cpu_seconds(long))
    growth = long_s / short_s
    # measured on an idle core: 4.7x (exponent 1.1, a larger heap's memory traffic); a
    # quadratic pass gives 16x
    assert growth < 6.0, f"2,000 lines took {growth:.1f}x the time of 500 lines (linear: 4x)"


def test_residual_vector_lines_transform_in_about_linear_time():
    """Each line reads the array before it twice: the reverse stage's and fuse's shape keys
    followed both sides of every line, a power of the chain's length (16 lines: minutes).
    40 lines take about 0.15 s of CPU on an idle core."""
    fn = load_program(residual_vectors_source(40), "residual")
    x, w = np.linspace(-0.8, 0.9, 4), np.linspace(0.3, 1.1, 4)
    signature = {"x": adjoint.analysis.shapes.describe(x), "w": adjoint.analysis.shapes.describe(w)}
    differentiate(load_program(residual_vectors_source(2), "residual"), wrt=(0, 1), signature=signature)
    with cpu_budget(2.0):
        differentiate(fn, wrt=(0, 1), signature=signature)
    _check_gradient(fn, (x, w), adjoint.grad(fn, wrt=(0, 1), target="python")(x, w))


def _check_gradient(fn, args, got):
    for k, value in enumerate(got):
        np.testing.assert_allclose(value, finite_difference(fn, args, k), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_nested_loops_gradient_matches_finite_differences(depth):
    fn = load_program(nested_loops_source(depth, trips=3 if depth < 5 else 2), "nested")
    g = adjoint.grad(fn, wrt=(0, 1), target="python")
    for x, y in [(0.3, -0.7), (1.2, 0.4)]:
        _check_gradient(fn, (x, y), g(x, y))


def test_straight_line_gradient_matches_finite_differences():
    fn = load_program(straight_line_source(400), "straight")
    g = adjoint.grad(fn, wrt=(0, 1), target="python")
    for x, y in [(0.3, -0.7), (1.2, 0.4)]:
        _check_gradient(fn, (x, y), g(x, y))


# depth ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["python", "cpu"])
def test_sum_of_a_thousand_terms(target):
    fn = load_program(long_sum_source(1000), "long_sum")
    got = adjoint.grad(fn, wrt=(0, 1), target=target)(0.7, -1.3)
    np.testing.assert_allclose(got, long_sum_gradient(0.7, -1.3, 1000), rtol=1e-12)


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_190_nested_calls(target):
    fn = load_program(nested_calls_source(190), "nested_calls")
    got = adjoint.grad(fn, wrt=(0, 1), target=target)(0.7, -1.3)
    np.testing.assert_allclose(got, nested_calls_gradient(0.7, -1.3, 190), rtol=1e-12, atol=1e-15)


def test_recursion_limit_is_restored():
    before = sys.getrecursionlimit()
    differentiate(load_program(long_sum_source(300), "long_sum"))
    with pytest.raises(adjoint.AdjointError):
        differentiate(load_program(long_sum_source(300), "long_sum"), wrt="nothing")
    assert sys.getrecursionlimit() == before


def test_too_deep_for_the_raised_limit_is_an_adjoint_error(monkeypatch):
    """Past the limit the pipeline raises to (Python compiles deeper code when its own limit
    was raised), the error says what is too deep, not a raw RecursionError."""
    monkeypatch.setattr(pipeline, "RECURSION_LIMIT", 200)
    fn = load_program(long_sum_source(600), "long_sum")
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        with pytest.raises(adjoint.AdjointError, match="nest too deeply") as caught:
            differentiate(fn)
    finally:
        sys.setrecursionlimit(before)
    assert "split" in str(caught.value)


def test_cached_gradient_of_a_deep_sum_loads_without_recursion_error(monkeypatch, tmp_path):
    """A gradient loaded from the cache re-parses and normalizes the source (arguments.normalized_function)
    to see which arguments it writes: that must run under the raised recursion limit too."""
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path / "cache"))
    fn = load_program(long_sum_source(1000), "long_sum")
    expected = long_sum_gradient(0.7, -1.3, 1000)
    for _ in range(2):                  # compiled and stored, then loaded from the cache
        got = adjoint.grad(fn, wrt=(0, 1), target="python", cache=True)(0.7, -1.3)
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_fresh_names_for_one_base_take_linear_time():
    """reverse asks for t_old, t_old_1, t_old_2, ... once per overwritten value: each name
    must not rescan all the suffixes before it (20,000 names took minutes)."""
    from adjoint.ir.names import Namer
    namer = Namer({"t_old_3", "v"})
    with cpu_budget(1.0):
        names = [namer.fresh("t_old") for _ in range(20_000)]
    assert names[:5] == ["t_old", "t_old_1", "t_old_2", "t_old_4", "t_old_5"]
    assert len(set(names)) == len(names) and "t_old_3" not in names
    namer.taken.add("t_old_20002")
    assert namer.fresh("t_old") == "t_old_20001" and namer.fresh("t_old") == "t_old_20003"


def test_straight_line_code_needs_one_dead_code_pass(monkeypatch):
    """Each dead-code pass walks the whole adjoint: straight-line code needs a single one, since
    forwarding copies leaves no dead code behind and nothing runs again just to confirm it
    (dead stores go before copies are forwarded)."""
    from adjoint.optimize import passes as optimize
    rounds = []
    real = optimize.eliminate_dead_code
    monkeypatch.setattr(optimize, "eliminate_dead_code", lambda *a: rounds.append(1) or real(*a))
    fn = load_program(straight_line_source(60), "straight")
    g = adjoint.grad(fn, wrt=(0,), target="python")     # wrt x alone once took three rounds
    assert len(rounds) == 1
    _check_gradient(fn, (0.3, -0.7), g(0.3, -0.7))


def test_straight_line_code_needs_one_zero_state_and_one_fold_pass(monkeypatch):
    """Without loops and zero arrays, what first_accumulation, dead-code elimination and the
    forwarding of copies of names change gives the zero-state and folding passes no new work
    (optimize.passes._Wakes): they run once, not again to confirm it (a tenth of the stage)."""
    from adjoint.optimize import passes as optimize
    runs = []
    for name in ("first_accumulation", "fold_constants"):
        real = getattr(optimize, name)
        monkeypatch.setattr(optimize, name, lambda *a, real=real, name=name, **k: runs.append(name) or real(*a, **k))
    fn = load_program(straight_line_source(60), "straight")
    g = adjoint.grad(fn, wrt=(0, 1), target="python")
    assert runs == ["fold_constants", "first_accumulation"]
    _check_gradient(fn, (0.3, -0.7), g(0.3, -0.7))
    # a loop keeps the declared dependencies: the confirming round runs
    runs.clear()
    differentiate(load_program(nested_loops_source(2), "nested"))
    assert runs.count("first_accumulation") == 2
