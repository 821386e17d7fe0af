"""Silent wrong gradients that random programs of in-place writes found
(tests/write_programs.py), each as the smallest program that showed it, against central
differences of the function. Each was wrong before its fix, with no error:

* a seed of ones multiplied away: `np.sum(y * x)` gave y the sensitivity `x * ones`, fused to
  `s_y = x`, and the next `s_y += e` added into the argument x itself (off by 0.55);
* a loop whose index the body binds again (`for i ...: for i ...`): the tapes tagged the outer
  iteration with the inner loop's value, and the reverse restored the wrong elements; and
  the replay of an iteration dropped an inner loop whose only use was the index's last value
  (dead-code elimination kept no loop without work in it), so `z[i // 2]` read the outer one;
* two contributions to one sensitivity merged into one line after an element write changed
  what the first one read (`s = z1 * g ... z1[1] = old ... s += e` became one sum at the end);
* `B = A.T * 1.0` folded to `B = np.transpose(A)`, a view, before `A[2] = ...`: in forward
  mode B changed too, its value and its tangent (the fold checked B and the transpose for
  writes, not A, whose memory the transpose shares);
* a name bound to a view of one array and later to another (`w = y1`, then `w = y0`): the
  reverse sweep's copy of the first view was decided by the second binding.
"""

import numpy as np
import pytest

import adjoint
from tests.oracles import finite_difference

X = np.array([0.3, -0.8, 1.1, 0.5, -0.2, 0.9])


def seed_of_ones_alias(x):
    y = np.cos(x)
    z = np.copy(y[1:4])
    return np.sum(y * x) + np.sum(np.sin(z) * x[0:3])


def shadowed_index(x):
    y = x * 1.0
    for i in range(2):
        for i in range(2):                      # noqa: B007 - the outer index, bound again
            y[1:4] = np.tanh(y[0:3]) * x[3]
        y[0] = y[0] * x[0]
    return np.sum(y * y)


def merged_past_an_element_write(x):
    a = 0.0
    y0 = x * 1.0
    y1 = np.cos(x)
    z0 = np.copy(y0[0:3])
    z1 = np.copy(y1[1:4])
    a = a + np.sum(np.sin(z0) * x[1:4])
    a = a + np.sum(np.sin(z1) * x[2:5])
    z1[1] = a * x[4]
    return a + np.sum(y0 * y0) + np.sum(z0 * z1)


def alias_bound_again(x):
    a = 0.0
    y0 = x * 1.0
    y1 = np.cos(x)
    w = y1
    a = a + np.sum(w * x)
    y1[4] = a * x[4]
    w = y0
    return a + np.sum(y1 * x) + np.sum(w * x[0])


def index_left_by_an_inner_loop(x):
    z = np.zeros(6)
    for i in range(0, 3):
        for i in range(0, 3):                   # noqa: B007 - leaves i = 2 for the line below
            z[0] = z[0] * 0.5
        z[i // 2] += max(x[i - 1], 0.3)
    return np.sum(np.sin(z))


CASES = [seed_of_ones_alias, shadowed_index, merged_past_an_element_write, alias_bound_again,
         index_left_by_an_inner_loop]


@pytest.mark.parametrize("fn, target", [(fn, "python") for fn in CASES]
                         + [(seed_of_ones_alias, "cpu"), (index_left_by_an_inner_loop, "cpu")],
                         ids=lambda v: getattr(v, "__name__", v))
def test_the_gradient_is_right(fn, target):
    got = adjoint.grad(fn, target=target)(X.copy())
    np.testing.assert_allclose(got, finite_difference(fn, (X,), 0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_forward_mode_agrees(fn):
    got = adjoint.grad(fn, target="python", mode="forward")(X.copy())
    np.testing.assert_allclose(got, finite_difference(fn, (X,), 0), rtol=1e-6, atol=1e-8)


def test_the_argument_is_left_as_it_was():
    x = X.copy()
    adjoint.grad(seed_of_ones_alias, target="python")(x)
    np.testing.assert_array_equal(x, X)


def copy_folded_into_a_view(x):
    A = np.outer(x[:3], x[1:5])
    B = A.T * 1.0                       # a copy: `* 1.0` folded away left a view of A
    A[2] = np.tanh(A[1]) * x[1]
    return np.sum(A * A) + np.sum(B * B) * 0.1


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_a_copy_is_not_folded_into_a_view_of_an_array_written_later(mode):
    got = adjoint.grad(copy_folded_into_a_view, target="python", mode=mode)(X.copy())
    np.testing.assert_allclose(got, finite_difference(copy_folded_into_a_view, (X,), 0), rtol=1e-6, atol=1e-8)
    value, _ = adjoint.value_and_grad(copy_folded_into_a_view, target="python")(X.copy())
    assert value == pytest.approx(copy_folded_into_a_view(X.copy()), rel=1e-12)
