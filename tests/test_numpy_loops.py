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
