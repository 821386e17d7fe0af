"""grad(f, jit_options={"parallel": True}): carried reverse loops run in chunks, one per thread
(chunks.py). Checked against a hand-written gradient and central differences, never against
adjoint's serial output alone; the chunks are made as short as the rewrite allows (MIN_CHUNK
patched while the code is generated), so that small arrays cross every chunk edge."""

import math

import numba
import numpy as np
import pytest

import adjoint
from adjoint.optimize import chunks
from examples.rosenbrock import rosenbrock
from tests.oracles import finite_difference
from tests.test_carry import three_point, wrapping  # offsets -1..1; x[i - 1] at i = 0

PARALLEL = {"parallel": True}
SIZES = [0, 1, 2, 3, 5, 17, 1000]


def rosenbrock_gradient(x):
    """The extended Rosenbrock gradient by hand."""
    g = np.zeros_like(x)
    inner = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * inner - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * inner
    return g


def two_apart(x):
    """Offsets 0 and 2 (span 2): two carries, two edge elements per chunk."""
    s = 0.0
    for i in range(x.shape[0] - 2):
        s = s + math.sin(x[i]) * x[i + 2] + x[i] ** 2
    return s


def two_apart_gradient(x):
    g = np.zeros_like(x)
    g[:-2] += np.cos(x[:-2]) * x[2:] + 2.0 * x[:-2]
    g[2:] += np.sin(x[:-2])
    return g


def scaled(x, a):
    """The reverse loop also accumulates s_a across iterations: it must stay serial."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + a * x[i] * x[i + 1] + math.sin(x[i])
    return s


def two_arrays(x, y):
    """Two carried arrays in one loop: two edge arrays."""
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + x[i] * y[i + 1] + math.sin(x[i + 1]) * y[i]
    return s


def nested(x):
    """The carried loop inside another loop: it stays serial."""
    s = 0.0
    for k in range(3):
        for i in range(x.shape[0] - 1):
            s = s + math.sin(x[i] * x[i + 1] + k)
    return s


_GRADIENTS: dict = {}


def parallel(fn, wrt=0, target="cpu", value=False):
    """grad (or value_and_grad) with jit_options parallel, generated with chunks of a single
    iteration (the least the offsets' span allows), built once per module."""
    key = (fn, wrt, target, value)
    if key not in _GRADIENTS:
        saved, chunks.MIN_CHUNK = chunks.MIN_CHUNK, 1
        try:
            make = adjoint.value_and_grad if value else adjoint.grad
            _GRADIENTS[key] = make(fn, wrt=wrt, target=target, jit_options=PARALLEL)
        finally:
            chunks.MIN_CHUNK = saved
    return _GRADIENTS[key]


def _points(n, seed=0):
    return np.random.default_rng([seed, n]).uniform(-1.2, 1.2, n)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Output seems independent of input")   # n = 0, 1: no trips
@pytest.mark.parametrize("n", SIZES)
def test_rosenbrock_on_all_threads(n):
    x = _points(n)
    np.testing.assert_allclose(parallel(rosenbrock)(x), rosenbrock_gradient(x), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Output seems independent of input")
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
@pytest.mark.parametrize("n", SIZES)
def test_rosenbrock_in_python_with_any_chunk_count(n, threads, monkeypatch):
    """The same source under the interpreter, where numba.prange is range: more chunks than
    the machine has threads, down to one iteration each."""
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", threads)
    x = _points(n)
    got = parallel(rosenbrock, target="python")(x)
    np.testing.assert_allclose(got, rosenbrock_gradient(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("target, threads", [("cpu", None), ("python", 2), ("python", 5)])
@pytest.mark.parametrize("n", [3, 4, 5, 6, 17, 1000])
def test_offsets_two_apart(n, target, threads, monkeypatch):
    if threads:
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", threads)
    x = _points(n, seed=1)
    np.testing.assert_allclose(parallel(two_apart, target=target)(x), two_apart_gradient(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("target", ["cpu", "python"])
def test_offsets_on_both_sides(target, monkeypatch):
    if target == "python":
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 3)
    x = _points(11, seed=2)
    np.testing.assert_allclose(parallel(three_point, target=target)(x), finite_difference(three_point, (x,), 0),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("target", ["cpu", "python"])
def test_scalar_parameter_sensitivity_stays_serial(target):
    g = parallel(scaled, wrt=(0, 1), target=target)
    assert "numba.prange" not in g.source
    args = (_points(9, seed=3), 0.7)
    got_x, got_a = g(*args)
    np.testing.assert_allclose(got_x, finite_difference(scaled, args, 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got_a, finite_difference(scaled, args, 1), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn", [wrapping, nested])
def test_wrapping_index_or_outer_loop_stays_serial(fn):
    g = parallel(fn, target="python")
    assert "numba.prange" not in g.source
    x = _points(8, seed=4)
    np.testing.assert_allclose(g(x), finite_difference(fn, (x,), 0), rtol=1e-6, atol=1e-8)


def test_two_carried_arrays(monkeypatch):
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 4)
    args = (_points(13, seed=8), _points(13, seed=9))
    g = parallel(two_arrays, wrt=(0, 1), target="python")
    assert "s_x_edge" in g.source and "s_y_edge" in g.source
    got_x, got_y = g(*args)
    np.testing.assert_allclose(got_x, finite_difference(two_arrays, args, 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got_y, finite_difference(two_arrays, args, 1), rtol=1e-6, atol=1e-8)


def rosenbrock_for_the_cache_test(x):
    # a function of this test's own: rosenbrock's gradient, compiled by the tests before it
    # (the cache is on by default), is already imported in this process, from their folder
    return rosenbrock(x)


@pytest.mark.slow
def test_parallel_gradient_is_cached(tmp_path, monkeypatch):
    """numba caches the chunked gradient (numba.get_num_threads() would keep it from that)."""
    import warnings
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path))
    x = _points(50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", numba.NumbaWarning)
        g = adjoint.grad(rosenbrock_for_the_cache_test, jit_options=PARALLEL, cache=True)
        got = g(x)
    assert "numba.prange(chunks)" in g.source
    np.testing.assert_allclose(got, rosenbrock_gradient(x), rtol=1e-12, atol=1e-12)
    assert list(tmp_path.rglob("*.nbi"))                 # numba's index of cached code


def test_prange_only_when_asked():
    assert "numba.prange(chunks)" in adjoint.grad(rosenbrock, target="python", jit_options=PARALLEL).source
    assert "numba.prange" not in adjoint.grad(rosenbrock, target="python").source
    assert "numba" not in adjoint.grad(rosenbrock, target="python", jit_options={"fastmath": True}).source


@pytest.mark.slow
def test_value_and_grad_keeps_its_forward_loop():
    """The forward loop assigns the same names the chunks replay (t_3, i)."""
    x = _points(40, seed=5)
    value, gradient = parallel(rosenbrock, value=True)(x)
    assert value == pytest.approx(rosenbrock(x), rel=1e-12)
    np.testing.assert_allclose(gradient, rosenbrock_gradient(x), rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_batch_calls_a_serial_gradient():
    """A batch already runs its points on all threads: a prange inside its prange would be a
    nested launch, which numba's workqueue threading layer aborts on."""
    g = parallel(rosenbrock)
    points = np.random.default_rng(6).uniform(-1.0, 1.0, (6, 9))
    np.testing.assert_allclose(g.batch(points), np.array([rosenbrock_gradient(p) for p in points]),
                               rtol=1e-12, atol=1e-12)


def test_hessian_vector_product_differentiates_the_serial_code():
    x, v = _points(7, seed=7), np.linspace(0.5, -0.5, 7)
    got = adjoint.hvp(rosenbrock, target="python", jit_options=PARALLEL)(x, v)
    h = 1e-6
    want = (rosenbrock_gradient(x + h * v) - rosenbrock_gradient(x - h * v)) / (2 * h)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)
