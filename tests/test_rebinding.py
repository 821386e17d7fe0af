"""A name rebound to an array of the same rank but another shape (issue #15: no silent wrong
gradients). The reverse sweep reads shapes: a broadcast contribution is summed back to its
operand's shape, a rebound name's sensitivity is reset to zeros of its earlier shape, a loop's
checkpoint tape has a row of the carried array's shape. Each must see the value the name had
at that statement, not a later one of another shape. Gradients against central finite
differences and autograd; python target in both modes, a few on cpu."""

from __future__ import annotations

import numpy as np
import pytest

import adjoint
from tests.conftest import compiled
from tests.oracles import autograd_gradient, finite_difference

RNG = np.random.default_rng(15)
X34 = RNG.normal(size=(3, 4))
B4 = RNG.normal(size=4)
B1 = RNG.normal(size=1)
R14 = RNG.normal(size=(1, 4))
V6 = RNG.normal(size=6)
W6 = RNG.normal(size=6)


# --- straight-line code and branches ---------------------------------------------------------

def rebound_bias(x, b1, b2):                 # the report: d/db1 came out as one repeated number
    b = b1
    t = np.sum(np.sin(x + b))
    b = b2
    return t + np.sum(np.cos(x + b))


def rebound_factor(x, b1, b2):
    b = b1
    t = np.sum(np.sin(x * b))
    b = b2
    return t + np.sum(np.cos(x * b))


def rebound_matrix(a, r):                    # (3, 4), then (1, 4)
    m = a
    t = np.sum(np.tanh(m + a[0]))
    m = r
    return t + np.sum(np.tanh(m + a[0]))


def rebound_in_branch(x, b1, b2, flag):
    b = b1
    t = np.sum(np.sin(x + b))
    if flag > 0:
        b = b2
    return t + np.sum(np.cos(x + b))


def rebound_inside_branch(x, b1, b2, flag):
    b = b1
    if flag > 0:
        t = np.sum(np.sin(x + b))
        b = b2
    else:
        t = np.sum(np.sin(x - b))
    return t + np.sum(np.cos(x + b))


def rebound_in_each_iteration(x, b1, b2):
    total = 0.0
    for i in range(2):
        b = b1
        total = total + np.sum(np.sin(x + b))
        b = b2
        total = total + np.sum(np.cos(x + b))
    return total


# --- loops carrying an array whose shape changes --------------------------------------------

def alternating(x, b1, b2):                  # b: (4,), (1,), (4,): a (4,) tape row took (1,)
    b = b1
    total = 0.0
    for i in range(3):
        total = total + np.sum(np.sin(x * b))
        if i % 2 == 0:
            b = b2
        else:
            b = b1
    return total


def alternating_small_first(x, b1, b2):
    b = b2
    total = 0.0
    for i in range(3):
        total = total + np.sum(np.sin(x * b))
        if i % 2 == 0:
            b = b1
        else:
            b = b2
    return total


def stored_after_rebinding(x, b1, b2):       # tanh: the loop stores it instead of replaying
    b = b1
    total = 0.0
    for i in range(3):
        total = total + np.sum(np.tanh(x * b))
        b = b2
    return total


def stored_of_rebound(x, b1, b2):            # the stored array itself changes shape
    b = b1
    total = 0.0
    for i in range(3):
        t = np.tanh(b)
        total = total + np.sum(t * t) + np.sum(x * b)
        b = b2
    return total


def stored_with_carried_bound(x):            # x[:n] with n carried: 4 elements, then 1
    n = 4
    total = 0.0
    for i in range(3):
        t = np.tanh(x[:n])
        total = total + np.sum(t * t)
        n = 1
    return total


def summed_to_one_row(x):                    # (3, 4), then (1, 4)
    y = x
    total = 0.0
    for k in range(2):
        total = total + np.sum(np.sin(y))
        y = np.sum(y, axis=0, keepdims=True)
    return total


def shrinking_slice(x):
    y = x
    total = 0.0
    for i in range(3):
        total = total + np.sum(np.sin(y + x[0]))
        y = y[1:]
    return total


def while_shrinking(x):
    y = x
    total = 0.0
    k = 0
    while k < 3:
        total = total + np.sum(np.sin(y))
        y = y[1:]
        k += 1
    return total


def while_to_one_element(x):                 # (6,), then (1,): a (6,) row took it silently
    y = x
    total = 0.0
    k = 0
    while k < 3:
        total = total + np.sum(np.sin(y))
        y = y[-1:] * 2.0
        k += 1
    return total


def break_shrinking(x):
    y = x
    total = 0.0
    for k in range(5):
        total = total + np.sum(np.sin(y))
        y = y[1:]
        if total > 100.0:
            break
    return total


def local_slices(x, w):                      # a loop-local array of another shape each iteration
    total = 0.0
    for i in range(3):
        z = x[i:] + w[i]
        total = total + np.sum(np.tanh(z) * z)
    return total


def accumulation_that_grows(x, c):          # S = S + x broadcasts S from (1, 4) to (3, 4)
    s = c * 2.0
    t = np.sum(np.sin(s))
    s = s + x
    return t + np.sum(np.cos(s))


CASES = [
    (rebound_bias, (X34, B4, B1), (1, 2)),
    (rebound_factor, (X34, B4, B1), (0, 1, 2)),
    (rebound_matrix, (X34, R14), (0, 1)),
    (rebound_in_branch, (X34, B4, B1, 1.0), (1, 2)),
    (rebound_in_branch, (X34, B4, B1, -1.0), (1, 2)),
    (rebound_inside_branch, (X34, B4, B1, 1.0), (1, 2)),
    (rebound_in_each_iteration, (X34, B4, B1), (1, 2)),
    (alternating, (X34, B4, B1), (1, 2)),
    (alternating_small_first, (X34, B4, B1), (1, 2)),
    (stored_after_rebinding, (X34, B4, B1), (1, 2)),
    (stored_of_rebound, (X34, B4, B1), (1, 2)),
    (stored_with_carried_bound, (V6,), 0),
    (summed_to_one_row, (X34,), 0),
    (shrinking_slice, (V6,), 0),
    (while_shrinking, (V6,), 0),
    (while_to_one_element, (V6,), 0),
    (break_shrinking, (V6,), 0),
    (local_slices, (V6, W6), (0, 1)),
    (accumulation_that_grows, (X34, R14), (0, 1)),
]


def _ids(cases):
    return [f"{f.__name__}-{args[-1] if isinstance(args[-1], float) else ''}" for f, args, _ in cases]


def _oracle(oracle, fn, args, wrt):
    return tuple(oracle(fn, args, w) for w in wrt) if isinstance(wrt, tuple) else oracle(fn, args, wrt)


def _close(got, want, rtol, atol):
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("fn, args, wrt", CASES, ids=_ids(CASES))
def test_rebinding_matches_finite_differences(fn, args, wrt, mode):
    got = adjoint.grad(fn, wrt=wrt, target="python", mode=mode)(*args)
    _close(got, _oracle(finite_difference, fn, args, wrt), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fn, args, wrt", CASES, ids=_ids(CASES))
def test_rebinding_matches_autograd(fn, args, wrt):
    got = compiled(fn, wrt, "python")(*args)
    _close(got, _oracle(autograd_gradient, fn, args, wrt), rtol=1e-10, atol=1e-10)


CPU = [(rebound_bias, (X34, B4, B1), (1, 2)), (alternating, (X34, B4, B1), (1, 2)),
       (while_to_one_element, (V6,), 0)]


@pytest.mark.parametrize("fn, args, wrt", CPU, ids=_ids(CPU))
def test_rebinding_on_cpu(fn, args, wrt):
    got = compiled(fn, wrt, "cpu")(*args)
    _close(got, _oracle(finite_difference, fn, args, wrt), rtol=1e-6, atol=1e-7)


def test_an_unchanged_shape_keeps_its_fixed_tape():
    """A carried array every binding keeps the shape of (elementwise of itself and numbers)
    still gets a tape row per iteration, not the flat tape a changing shape needs."""
    def decay(x):
        y = x
        total = 0.0
        for i in range(3):
            total = total + np.sum(np.sin(y))
            y = np.tanh(y) * 0.5 * np.pi
        return total
    source = adjoint.grad(decay, target="python").source_for(V6)
    assert "_store(tape_y[i], y)" in source and "_record_rows" not in source     # (lower/for_numba.py)
    np.testing.assert_allclose(adjoint.grad(decay, target="python")(V6),
                               finite_difference(decay, (V6,), 0), rtol=1e-6, atol=1e-7)


def grows_in_loop(x, c):                     # y: (1,) before the loop, (4,) after one iteration
    y = c
    total = 0.0
    for i in range(2):
        total = total + np.sum(np.sin(x + y))
        y = np.sum(x, axis=0) * y
    return total + np.sum(y)


def grows_in_loop_rewritten(x, c):           # the hint's rewrite
    y = c * np.ones(4)
    total = 0.0
    for i in range(2):
        total = total + np.sum(np.sin(x + y))
        y = np.sum(x, axis=0) * y
    return total + np.sum(y)


def test_a_carried_array_that_grows_is_a_located_error_whose_hint_works():
    """A carried array that a broadcast makes larger keeps a tape row of its first shape:
    that fails loudly (never silently: a row takes no larger array), and the hint's rewrite
    differentiates."""
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(grows_in_loop, wrt=(0, 1), target="python")(X34, B1)
    message = str(caught.value)
    assert "test_rebinding.py:" in message and "give `y` its final shape before the loop" in message
    got = adjoint.grad(grows_in_loop_rewritten, wrt=(0, 1), target="python")(X34, B1)
    _close(got, _oracle(finite_difference, grows_in_loop_rewritten, (X34, B1), (0, 1)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grows_in_loop_rewritten(X34, B1), grows_in_loop(X34, B1))
