"""Branches, loops, overwrites and helper calls, against finite differences and autograd."""

import numpy as np
import pytest

import adjoint
from tests import control_flow_corpus as cf
from tests.conftest import compiled as gradient_function
from tests.oracles import autograd_gradient, finite_difference

# (function, arguments, wrt index, whether autograd can run it as written)
CASES = [
    (cf.piecewise, (-1.7,), 0),
    (cf.piecewise, (0.2,), 0),
    (cf.piecewise, (1.1,), 0),
    (cf.piecewise, (2.6,), 0),
    (cf.nonlinear_accumulator, (0.7, 25), 0),
    (cf.newton_sqrt, (2.0,), 0),
    (cf.newton_sqrt, (1e4,), 0),
    (cf.break_continue, (1.1, 30), 0),          # runs to the end, skipping i == 7
    (cf.break_continue, (2.5, 30), 0),          # breaks early
    (cf.triangular, (np.array([0.3, -0.2, 0.5, 0.9, -0.4]),), 0),
    (cf.two_helpers, (0.4, 1.3), 0),
    (cf.two_helpers, (0.4, 1.3), 1),
    (cf.early_returns, (2.0,), 0),
    (cf.early_returns, (0.3,), 0),
    (cf.early_returns, (-3.0,), 0),
    (cf.runtime_range, (0.8, 2, 17, 3), 0),
    (cf.runtime_range, (0.8, 15, -4, -2), 0),
    (cf.runtime_range, (0.8, 5, 5, 1), 0),      # zero trips
    (cf.augmented, (0.6, -1.4), 0),
    (cf.augmented, (0.6, -1.4), 1),
    (cf.swaps, (0.9, 0.7), 0),
    (cf.swaps, (0.9, 0.7), 1),
    (cf.integer_counter, (0.8, 9), 0),
    (cf.bool_logic, (0.5, 2.0), 1),
    (cf.bool_logic, (-2.0, -3.0), 0),
    (cf.indexing, (np.array([0.5, 1.5, -0.3, 2.0, 0.7]),), 0),
    (cf.lorenz_rk4, (np.array([1.0, 1.0, 1.05, 10.0, 28.0, 8.0 / 3.0]), 1000), 0),
    (cf.feature_switches, (0.7, 5), 0),
]

def case_id(case):
    fn, args, wrt = case
    return f"{fn.__name__}-{'-'.join(str(a) for a in args if np.ndim(a) == 0)}-wrt{wrt}"


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_against_finite_differences(case, target):
    fn, args, wrt = case
    got = gradient_function(fn, wrt, target)(*args)
    want = finite_difference(fn, args, wrt)
    if fn is cf.lorenz_rk4:     # chaotic over 1000 steps: differences need a looser check
        np.testing.assert_allclose(got, want, rtol=2e-3)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


@pytest.mark.filterwarnings("ignore:Output seems independent of input")
@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_against_autograd(case, target):
    fn, args, wrt = case
    got = gradient_function(fn, wrt, target)(*args)
    want = autograd_gradient(fn, args, wrt)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_lorenz_gradient_covers_state_and_parameters():
    p = np.array([1.0, 1.0, 1.05, 10.0, 28.0, 8.0 / 3.0])
    g = gradient_function(cf.lorenz_rk4, 0, "cpu")(p, 1000)
    assert g.shape == (6,) and np.all(np.isfinite(g)) and np.all(g != 0.0)


def test_recursion_is_a_clear_error():
    with pytest.raises(adjoint.AdjointError, match="recursive call recursive -> recursive") as info:
        adjoint.grad(cf.recursive)
    assert "control_flow_corpus.py" in str(info.value) and "^" in str(info.value)


def test_loop_code_reads_like_a_loop():
    source = adjoint.source(cf.nonlinear_accumulator)
    assert "for i in range(n):" in source                       # the forward loop
    assert "for i in range(n - 1, -1, -1):" in source           # the reverse loop, backwards
    assert "tape_s[i] = s" in source and "s = tape_s[i]" in source
    assert '# Analyzing the line: "s = math.tanh(s * x + 0.1 * i) + s * 0.5"' in source


def test_rosenbrock_loop_needs_no_tape():
    source = adjoint.source(cf.indexing)
    assert "tape" not in source


def test_lorenz_keeps_one_state_per_step():
    source = adjoint.source(cf.lorenz_rk4)
    tapes = sorted({line.split("=")[0].strip() for line in source.splitlines()
                    if "= np.empty(" in line})
    assert tapes == ["tape_x", "tape_y", "tape_z"]


def test_while_loop_tape_grows():
    source = adjoint.source(cf.newton_sqrt)
    assert "np.concatenate" in source and "t_count" in source


def window_sum(x, m):
    """An int argument that only reaches an index through a loop variable: the source alone
    suggests a float, the call passes an int."""
    total = 0.0
    stop = m
    for k in range(3):
        stop = stop - 1
        total = total + x[stop] ** 2 + x[k] * x[stop]
    return total


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_int_argument_reaching_an_index_gets_int_code(target):
    x = np.linspace(0.1, 0.9, 6)
    g = adjoint.grad(window_sum, target=target)
    assert "np.int64" in g.source_for(x, 6)                     # the carried `stop` is an int
    np.testing.assert_allclose(g(x, 6), finite_difference(window_sum, (x, 6), 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g(x, 5), autograd_gradient(window_sum, (x, 5), 0), rtol=1e-12)
