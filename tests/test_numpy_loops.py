"""Large float arrays leave numba for numpy's vectorized exp/log/tanh/... (runtime._numpy_*):
the gradients must not notice, whatever the size, dtype or target."""

import numpy as np
import pytest

import adjoint
from adjoint.primitives import runtime
from tests.oracles import autograd_gradient, finite_difference


def smooth(x):
    y = np.tanh(x * 0.5)
    z = np.exp(-x * x) + np.log(1.5 + np.sin(x))
    return np.sum(y * z) + x[0]


LARGE = runtime.NUMPY_LOOP_MIN_SIZE + 3


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("size", [7, LARGE])
def test_gradient_on_both_sides_of_the_threshold(size, target):
    x = np.linspace(-2.0, 2.0, size)
    got = adjoint.grad(smooth, target=target)(x)
    np.testing.assert_allclose(got, autograd_gradient(smooth, (x,), 0), rtol=1e-12, atol=1e-14)


def test_large_arrays_take_numpys_loops():
    x = np.linspace(-2.0, 2.0, LARGE)
    source = adjoint.grad(smooth).source_for(x)
    assert "y = _numpy_tanh(" in source and "import numba" in source
    assert "with numba.objmode():" in source


@pytest.mark.slow
def test_float32_keeps_its_dtype():
    x = np.linspace(-2.0, 2.0, LARGE).astype(np.float32)
    got = adjoint.grad(smooth)(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, autograd_gradient(smooth, (x.astype(float),), 0), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_second_order_sees_numpys_function():
    """hvp differentiates the emitted gradient, where np.tanh is spelled _numpy_tanh."""
    x, v = np.linspace(-2.0, 2.0, 9), np.linspace(1.0, -1.0, 9)
    g = adjoint.grad(smooth, target="python")
    want = (g(x + 1e-6 * v) - g(x - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(adjoint.hvp(smooth)(x, v), want, rtol=1e-6, atol=1e-6)


def test_scalars_stay_with_math():
    source = adjoint.grad(scalar_only).source
    assert "_numpy_tanh" not in source and "import numba" not in source
    assert adjoint.grad(scalar_only)(0.3) == pytest.approx(finite_difference(scalar_only, (0.3,), 0))


def scalar_only(a):
    return np.tanh(a) * np.exp(a)


def extrema(x):
    return np.max(x) ** 2 + 3.0 * np.min(x) * np.max(x) + np.sum(x * x) * np.amin(x)


def test_whole_extrema_of_a_vector_run_as_a_loop():
    """np.max(x) and np.min(x) of a float vector are a loop on cpu (runtime.WHOLE_EXTREMA):
    the same values, ties split, nan kept; hvp reads the helper back as np.max."""
    x = np.array([0.3, -1.2, 2.5, 0.7, -0.4])
    g = adjoint.grad(extrema, target="cpu")
    assert "_max_all_1(x)" in g.source_for(x) and "_min_all_1(x)" in g.source_for(x)
    np.testing.assert_allclose(g(x), autograd_gradient(extrema, (x,), 0), rtol=1e-12)
    tied = np.array([2.5, -1.2, 2.5, -1.2, 0.0])
    want = adjoint.grad(extrema, target="python")(tied)        # the rule: ties share g equally
    np.testing.assert_allclose(g(tied), want, rtol=1e-12)
    assert want[0] == want[2] and want[1] == want[3]
    assert np.isnan(g(np.array([1.0, np.nan, 2.0]))).all()
    with pytest.raises(ValueError, match="zero-size array"):
        g(np.zeros(0))
    v = np.linspace(1.0, -1.0, 5)
    step = (g(x + 1e-6 * v) - g(x - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(adjoint.hvp(extrema)(x, v), step, rtol=1e-6, atol=1e-6)
