"""A view the reverse sweep (or a tangent) reads, of an array written in place later (#15).

`y[1:3] = y[1:3] * y[2]` normalizes to `t_1 = y[1:3]` (a view), ..., `y[1:3] = t_3`: the
reverse sweep's `np.sum(t_1 * s_3)` read the written values, and the gradient was silently
wrong. Such views are copied where they are taken (`t_1 = y[1:3].copy()`), and only there.
Forward mode: `d_B = d_A` (the tangent of `B = A * 1.0`) shared one array, so an element
write into `d_B` changed `d_A` (and the caller's tangent). Checked against central differences.
"""

import numpy as np
import pytest

import adjoint
from tests.oracles import finite_difference

VECTOR = np.linspace(0.3, 1.8, 6)
MATRIX = np.array([[0.3, 0.7], [1.1, 1.6]])


def slice_times_element(x):
    y = np.copy(x)
    y[1:3] = y[1:3] * y[2]
    return np.sum(y * x)


def slice_times_named_element(x):
    y = np.copy(x)
    c = y[2]
    y[1:3] = y[1:3] * c
    return np.sum(y * x)


def two_slices(x):
    y = np.copy(x)
    y[0:2] = y[1:3] * y[3:5]
    return np.sum(y * x)


def row(A):
    B = A * 1.0
    B[0] = B[0] * B[1, 0]
    return np.sum(B * A)


def rows_rewritten(A):
    B = A * 1.0
    B[1] = B[0] * B[1]
    B[0] = B[1] * 2.0
    return np.sum(B * A)


def column(A):
    B = A * 1.0
    B[:, 0] = B[:, 0] * B[:, 1]
    return np.sum(B * A)


def transposed(A):
    B = A * 2.0
    B[0, 1] = np.sum(B.T * A[0, 0])
    return np.sum(B * A)


def reshaped(A):
    B = A * 2.0
    B[0, 0] = np.sum(np.reshape(B, (4,)) * A[0, 1])
    return np.sum(B * A)


def raveled(A):
    B = A * 2.0
    B[1, 1] = np.sum(np.ravel(B) * A[1, 0])
    return np.sum(B * A)


def slice_in_loop(x):
    y = np.copy(x)
    for i in range(3):
        y[1:3] = y[1:3] * y[i]
    return np.sum(y * x)


def rows_in_loop(A):
    B = A * 1.0
    s = 0.0
    for i in range(2):
        B[i] = B[i] * B[1 - i]
        s = s + np.sum(B[i])
    return s + np.sum(B * A)


def row_then_loop(A):
    B = A * 1.0
    B[0] = B[0] * B[1, 1]
    for i in range(2):
        B[1, i] = B[0, i] * 3.0
    return np.sum(B * A)


def view_then_write_in_loop(x):
    y = np.copy(x)
    s = 0.0
    for i in range(2):
        t = y[1:3] * y[i]
        s = s + np.sum(t)
        y[i + 1] = y[i] * 2.0
    return s + np.sum(y * x)


def transposed_row(A):
    B = A * 1.0
    B[0, :] = B[0, :] * np.sum(B.T[0])
    return np.sum(B * A)


def transposed_in_loop(A):
    B = A * 1.0
    for i in range(2):
        B[i, 0] = np.sum(B.T[1] * B[i])
    return np.sum(B * A)


def ellipsis_column(A):
    B = A * 1.0
    B[0, 0] = np.sum(B[..., 0] * B[1, 1])
    return np.sum(B * A)


def swapped_axes(A):
    B = A * 1.0
    B[1, 0] = np.sum(np.swapaxes(B, 0, 1)[0] * B[1, 1])
    return np.sum(B * A)


def _slice_of(v):
    return v[1:4] * 1.0


def helper_reads_a_slice(x):
    y = np.copy(x)
    z = _slice_of(y)
    y[0] = y[1] * 3.0
    return np.sum(z * x[1:4]) + np.sum(y)


CASES = [(slice_times_element, VECTOR), (slice_times_named_element, VECTOR), (two_slices, VECTOR),
         (row, MATRIX), (rows_rewritten, MATRIX), (column, MATRIX), (transposed, MATRIX),
         (reshaped, MATRIX), (raveled, MATRIX), (slice_in_loop, VECTOR), (rows_in_loop, MATRIX),
         (row_then_loop, MATRIX), (view_then_write_in_loop, VECTOR), (transposed_row, MATRIX),
         (transposed_in_loop, MATRIX), (helper_reads_a_slice, VECTOR), (ellipsis_column, MATRIX),
         (swapped_axes, MATRIX)]


@pytest.mark.parametrize("f, x", CASES, ids=[f.__name__ for f, _ in CASES])
def test_gradient_matches_finite_differences(f, x):
    g = adjoint.grad(f, target="python")(x.copy())
    np.testing.assert_allclose(g, finite_difference(f, [x], 0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("f, x", CASES, ids=[f.__name__ for f, _ in CASES])
def test_tangent_matches_finite_differences(f, x):
    v = np.cos(np.arange(x.size)).reshape(x.shape)
    before = v.copy()
    value, slope = adjoint.jvp(f, target="python")(x.copy(), v)
    assert value == pytest.approx(f(x.copy()))
    assert slope == pytest.approx(np.sum(finite_difference(f, [x], 0) * before), rel=1e-6, abs=1e-7)
    np.testing.assert_array_equal(v, before)            # the caller's tangent is left as it was


@pytest.mark.parametrize("f, x", [(slice_times_element, VECTOR), (row, MATRIX)],
                         ids=["slice", "row"])
def test_cpu(f, x):
    g = adjoint.grad(f)(x.copy())
    np.testing.assert_allclose(g, finite_difference(f, [x], 0), rtol=1e-6, atol=1e-7)


def test_the_view_is_copied_where_it_is_taken():
    source = adjoint.source(slice_times_element, types="x=float64[:]")
    assert "t_1 = y[1:3].copy()" in source


def test_a_view_of_an_array_never_written_stays_a_view():
    def f(x):
        y = np.copy(x)
        return np.sum(y[1:3] * y[2])
    assert ".copy()" not in adjoint.source(f, types="x=float64[:]")
