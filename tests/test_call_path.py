"""The thin call path: a second call with arguments of the same types goes straight to the
compiled gradient (GradientFunction._remember). It must return what the first call returned,
in the same form (a tuple for a tuple wrt, (value, gradient) for value_and_grad, floats as
Python floats), and still run the checks that depend on the values (aliasing, module data).

Checked against autograd and central finite differences, never against adjoint itself.
"""

import numpy as np
import pytest

import adjoint
from examples.rosenbrock import rosenbrock
from examples.seed_f4 import f4
from tests.oracles import autograd_gradient, finite_difference

SCALE = np.array([1.0, 2.0, 0.5])


def scaled_energy(x, k):
    """Reads a module array: each call passes its current value."""
    return k * np.sum(SCALE * x * x)


def writes_into(x, y):
    y[0] = x[0] * 2.0
    return y[0] * x[1]


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_repeated_calls_keep_their_form(target):
    x = np.array([1.0, 2.0, 3.0, 4.0])
    want = autograd_gradient(f4, [x], 0)
    g = adjoint.grad(f4, target=target)
    v = adjoint.value_and_grad(f4, target=target)
    t = adjoint.grad(f4, wrt=(0,), target=target)
    for _ in range(3):                                 # the first call, then the thin path
        np.testing.assert_allclose(g(x), want, rtol=1e-13)
        value, gradient = v(x)
        assert type(value) is float and value == pytest.approx(f4(x), rel=1e-14)
        np.testing.assert_allclose(gradient, want, rtol=1e-13)
        result = t(x)
        assert isinstance(result, tuple) and len(result) == 1
        np.testing.assert_allclose(result[0], want, rtol=1e-13)
    y = np.linspace(-1.0, 1.5, 10)
    r = adjoint.value_and_grad(rosenbrock, target=target)
    for _ in range(2):
        value, gradient = r(y)
        assert type(value) is float and value == pytest.approx(rosenbrock(y), rel=1e-14)
        np.testing.assert_allclose(gradient, finite_difference(rosenbrock, [y], 0), rtol=1e-6)


def test_repeated_calls_still_see_module_data_and_reject_aliasing():
    global SCALE
    g = adjoint.grad(scaled_energy, target="python")
    x = np.array([0.5, -1.0, 2.0])
    for _ in range(2):
        np.testing.assert_allclose(g(x, 3.0), autograd_gradient(scaled_energy, [x, 3.0], 0), rtol=1e-13)
    saved = SCALE
    try:
        SCALE = np.array([4.0, 0.0, 1.0])
        np.testing.assert_allclose(g(x, 3.0), autograd_gradient(scaled_energy, [x, 3.0], 0), rtol=1e-13)
    finally:
        SCALE = saved
    w = adjoint.grad(writes_into, target="python")
    a, b = np.array([1.0, 2.0]), np.array([0.0, 0.0])
    np.testing.assert_allclose(w(a, b), [4.0, 2.0])
    np.testing.assert_allclose(w(a, b), [4.0, 2.0])
    with pytest.raises(adjoint.AdjointArgumentError, match="share"):
        w(a, a)
