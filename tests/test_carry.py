"""Reverse loops that scatter into neighbouring elements keep the pending sums in registers
(carry.py). The rewrite must be invisible in the gradients: checked against finite differences
and autograd, including wrapping negative indices, zero trips, float32 and wide stencils."""

import math
import re

import numpy as np
import pytest

import adjoint
from examples.rosenbrock import rosenbrock
from tests.conftest import compiled, needs_cuda
from tests.oracles import autograd_gradient, finite_difference


def three_point(x):
    s = 0.0
    for i in range(1, x.shape[0] - 1):
        s += x[i - 1] * math.sin(x[i]) * x[i + 1] ** 2
    return s


def wrapping(x):
    """i = 0 reads x[-1], the last element: a key the carry must flush separately."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += math.sin(x[i - 1]) * x[i + 1] + x[i] ** 3
    return s


def gapped(x, k):
    """Offsets 0 and 2 with none at 1: the middle carry only passes sums along."""
    s = 0.0
    for i in range(k):
        s += x[i] * x[i + 2]
    return s


def wide(x):
    """Offsets 7 apart: too wide to carry, the loop keeps its memory round trips."""
    s = 0.0
    for i in range(x.shape[0] - 7):
        s += x[i] * x[i + 7]
    return s


def neighbouring_rows(A):
    """Rows of a matrix: a scalar cannot carry a row, the loop keeps its round trips."""
    s = 0.0
    for i in range(A.shape[0] - 1):
        s = s + np.sum(A[i] * np.sin(A[i + 1]))
    return s


def carried_state(x):
    """The reverse loop also restores an overwritten accumulator."""
    y = 1.0
    for i in range(x.shape[0] - 1):
        y = math.tanh(y * x[i] + x[i + 1])
    return y


CASES = [(rosenbrock, (np.linspace(-1.2, 1.3, 9),)),
         (three_point, (np.linspace(0.3, 1.9, 8),)),
         (wrapping, (np.linspace(-0.8, 1.1, 7),)),
         (gapped, (np.linspace(0.2, 1.4, 9), 7)),
         (gapped, (np.linspace(0.2, 1.4, 9), 0)),             # zero trips: nothing to flush
         (wide, (np.linspace(0.5, 1.5, 12),)),
         (carried_state, (np.linspace(-0.5, 0.6, 8),)),
         (neighbouring_rows, (np.linspace(-1.0, 1.0, 12).reshape(4, 3),)),
         (rosenbrock, (np.array([0.7]),))]                     # n = 1: zero trips


@pytest.mark.filterwarnings("ignore:Output seems independent of input")   # zero-trip cases
@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("fn, args", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_carried_gradients_match_oracles(fn, args, target):
    got = compiled(fn, 0, target)(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got, autograd_gradient(fn, args, 0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn, args, carries", [
    (rosenbrock, (np.ones(5),), ["s_x_carry"]),
    (three_point, (np.ones(5),), ["s_x_carry_1", "s_x_carry_2"]),
    (gapped, (np.ones(5), 2), ["s_x_carry_1", "s_x_carry_2"]),
    (wide, (np.ones(9),), []),
    (neighbouring_rows, (np.ones((3, 2)),), [])])
def test_which_loops_carry(fn, args, carries):
    source = adjoint.grad(fn, target="python").source_for(*args)
    assert sorted(set(re.findall(r"\bs_\w+_carry(?:_\d+)?\b", source))) == carries


def test_rosenbrock_reverse_loop_reads_like_hand_written():
    source = adjoint.grad(rosenbrock, target="python").source
    assert "    s_x_carry = 0.0\n    # Reverse of the loop: \"for i in range(n - 1)\"\n    for i in" in source
    assert "        s_x[t_3] = s_x_carry + s_7\n        s_x_carry = s_5\n" in source
    assert "    if t_2 - 1 > -1:\n        s_x[0] = s_x_carry\n    else:\n        s_x[:] = 0.0\n" in source
    assert "s_x = np.empty(x.shape, x.dtype)" in source          # no zero fill: stored once


@pytest.mark.parametrize("fn, args, stores", [
    (rosenbrock, (np.ones(5),), True),
    (three_point, (np.ones(5),), True),                # range(1, n - 1), offsets -1..1: 0..n-1
    (carried_state, (np.ones(5),), True),
    (wrapping, (np.ones(5),), False),                  # x[i - 1] at i = 0 is x[-1]: wraps
    (gapped, (np.ones(5), 2), False)])                 # range(k): the cover depends on k
def test_stored_once_only_where_the_loop_covers_the_whole_array(fn, args, stores):
    """Only a loop that provably writes every element exactly once skips the zero fill and
    stores instead of adding; the others keep np.zeros and `+=` (their oracles above)."""
    source = adjoint.grad(fn, target="python").source_for(*args)
    assert ("s_x = np.empty(" in source) == stores
    assert ("s_x[:] = 0.0" in source) == stores


def test_float32_gradient_keeps_its_dtype():
    x = np.linspace(-1.2, 1.3, 9).astype(np.float32)
    got = compiled(rosenbrock, 0, "cpu")(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, autograd_gradient(rosenbrock, (x.astype(float),), 0), rtol=1e-4)


def test_second_order_through_carries():
    """hvp differentiates the emitted adjoint again: the carries are plain scalar code."""
    x, v = np.linspace(-1.2, 1.3, 6), np.linspace(0.5, -0.5, 6)
    g = adjoint.grad(rosenbrock, target="python")
    h = 1e-6
    want = (g(x + h * v) - g(x - h * v)) / (2 * h)
    np.testing.assert_allclose(adjoint.hvp(rosenbrock, target="python")(x, v), want, rtol=1e-6, atol=1e-6)


STENCIL = """
import math


def stencil(x):
    s = 0.0
    for i in range({start}, x.shape[0] - {stop_gap}):
        s = s + {terms}
    return s
"""


def _stencil_source(rng):
    """A loop reading x at random constant offsets from i, some of them wrapping below 0."""
    offsets = sorted(set(int(k) for k in rng.integers(-2, 3, size=rng.integers(2, 5))))
    shapes = ["math.sin(x[i{o}])", "x[i{o}] ** 2", "{c} * x[i{o}]", "math.exp(0.3 * x[i{o}])"]
    terms = []
    for _ in range(rng.integers(1, 4)):
        a, b = rng.choice(offsets, size=2)
        left = shapes[rng.integers(len(shapes))].format(o=_offset(a), c=round(float(rng.normal()), 2))
        terms.append(f"{left} * x[i{_offset(b)}]")
    start = int(rng.integers(0, 3))               # i - 2 at i = 0 reads x[-2]: wraps
    return STENCIL.format(start=start, stop_gap=int(rng.integers(max(offsets) + 1, 5)),
                          terms=" + ".join(terms))


def _offset(k):
    return "" if k == 0 else f" + {k}" if k > 0 else f" - {-k}"


@pytest.mark.filterwarnings("ignore:Output seems independent of input")   # zero-trip stencils
@pytest.mark.parametrize("seed", range(24))
def test_random_stencils_match_oracles(seed, tmp_path):
    import importlib.util
    rng = np.random.default_rng([7, seed])
    path = tmp_path / f"stencil_{seed}.py"
    path.write_text(_stencil_source(rng))
    spec = importlib.util.spec_from_file_location(f"stencil_{seed}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = rng.uniform(-1.0, 1.0, size=int(rng.integers(5, 9)))
    target = "cpu" if seed % 6 == 0 else "python"           # numba compiles a few of them
    got = adjoint.grad(module.stencil, target=target)(x)
    np.testing.assert_allclose(got, autograd_gradient(module.stencil, (x,), 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, finite_difference(module.stencil, (x,), 0), rtol=1e-6, atol=1e-8)


@pytest.mark.slow
@needs_cuda
@pytest.mark.parametrize("fn", [rosenbrock, three_point])
def test_cuda_batch_runs_the_carried_loop(fn):
    """Device code gets the carried loop too (its gradient rows are output parameters)."""
    points = np.random.default_rng(3).uniform(-1.0, 1.0, (5, 7))
    got = adjoint.grad(fn, target="cuda").batch(points)
    want = np.array([finite_difference(fn, (p,), 0) for p in points])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    assert "_carry" in adjoint.grad(fn, target="cuda").generated.device_source
