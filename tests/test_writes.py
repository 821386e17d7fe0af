"""Element, row, slice and mask writes, in straight-line code and inside loops (issue #17 item 5).

An index may be any expression (`y[i + 1] = e`, `f[i - 1] += e`); a write may cover a row of a
matrix, a slice or a mask. Inside a loop the forward sweep records each overwritten element or
region on a tape and the reverse loop puts it back before replaying the iteration, so each
reverse iteration sees the values its forward iteration saw. Checked against central
differences and, through a twin written without in-place writes, against autograd.
"""

import importlib.util
import inspect
import math

import numpy as np
import pytest

import adjoint
from tests.conftest import assert_gradient, compiled, fd_tolerance, finite_difference
from tests.oracles import autograd_gradient

# -- expression indices -------------------------------------------------------------------------


def shifted_scan(x):
    y = np.zeros(len(x) + 1)
    for i in range(len(x)):
        y[i + 1] = y[i] * 0.5 + math.sin(x[i])
    return np.sum(y * y)


def backward_difference_add(x):
    f = np.zeros(len(x))
    for i in range(1, len(x)):
        f[i - 1] += x[i] * x[i - 1]
        f[i] += math.cos(x[i])
    return np.sum(f ** 3)


def matrix_offsets(a):
    n = a.shape[0]
    A = np.zeros((n, n + 1))
    for i in range(n):
        for j in range(n):
            A[i, j + 1] = a[i, j] * A[i, j] + a[j, i]
    return np.sum(A ** 2)


def negative_offset(x):
    y = x.copy()
    for i in range(1, len(x)):
        y[-i] = y[-i] * y[1 - i] + x[i]
    return np.sum(y)


# -- rows of local matrices ---------------------------------------------------------------------

def row_scaling(x, w):
    s = np.ones((3, len(x)))
    for i in range(1, 3):
        s[i] = s[i - 1] * x + w[i]
    for i in range(3):
        s[i] = s[i] * x
    return np.sum(np.sin(s))


def rnn_rows(inputs, W):
    h = np.zeros((inputs.shape[0] + 1, W.shape[1]))
    for t in range(inputs.shape[0]):
        h[t + 1] = np.tanh(inputs[t] @ W + h[t])
    return np.sum(h[-1] ** 2)


def broadcast_into_row(x):
    h = np.zeros((len(x), 3))
    for t in range(len(x)):
        h[t] = x[t] * x[t]
    return np.sum(np.cos(h) * np.arange(3.0))


# -- slices inside loops ------------------------------------------------------------------------

def columns_out(A, v):
    out = np.zeros((A.shape[0], 4))
    for k in range(4):
        out[:, k] = np.tanh(A @ v * (k + 1))
    return np.sum(out ** 2)


def inner_rows(X):
    inner = np.zeros((X.shape[0], X.shape[1]))
    for k in range(X.shape[0]):
        row = X[k] * X[k].sum()
        inner[k] = row
    return np.sum(inner * X)


def heat_stencil(u0, nu):
    u = u0.copy()
    for n in range(6):
        un = u.copy()
        u[1:-1] = un[1:-1] + nu * (un[2:] - 2 * un[1:-1] + un[:-2])
    return np.sum(u ** 2)


def heat_in_place(u0, nu):
    # the stencil reads and writes the same array: each step sees the previous step's values
    u = u0.copy()
    for n in range(5):
        u[1:-1] = u[1:-1] + nu * (u[2:] - 2 * u[1:-1] + u[:-2])
        u[0] = u[1]
    return np.sum(u ** 3)


def reversed_and_window(x):
    y = x.copy()
    for k in range(3):
        y[::-1] = y * 0.5 + x
        y[k:k + 2] = y[k:k + 2] * y[k + 1]
    return np.sum(y * x)


def element_then_region(x):
    y = np.zeros(len(x))
    for k in range(4):
        y[k] = y[k] + x[k] * x[0]
        y[1:] = y[1:] * 0.5 + y[:-1] * x[1:]
    return np.sum(y ** 2)


# -- masks --------------------------------------------------------------------------------------

def mask_clip(x, lower):
    y = x * x
    y[lower > 0.0] = 1.0
    return np.sum(y * x)


def mask_in_loop(x, keep):
    y = x.copy()
    for k in range(3):
        y[keep] = y[keep] * x[keep] + k
    return np.sum(np.sin(y))


def relu_by_mask(x):
    # the mask depends on active values: the gradient is zero where it is set
    y = x * 2.0
    y[y < 0.0] = 0.0
    return np.sum(y * y)


# -- shapes that change from one iteration to the next -----------------------------------------

def shrinking(x, p):
    v = x.copy()
    for i in range(len(x) - 1, 0, -1):
        v = p * v[1:i + 1] + (1.0 - p) * v[:i]
    return v[0]


def shrinking_matrix(A):
    M = A.copy()
    for i in range(A.shape[0] - 1, 0, -1):
        M = np.tanh(M[1:, 1:] + M[:-1, :-1])
    return np.sum(M)


# -- loops with exits, nested loops, branches, rank 3, a mask that moves, augmented slices ------

def while_slice(x):
    y = x.copy()
    k = 0
    while k < 4:
        y[1:] = y[1:] * 0.9 + y[:-1] * x[1:]
        k += 1
    return np.sum(y ** 2)
def break_region(x):
    y = x.copy()
    for k in range(10):
        y[::2] = np.sin(y[::2]) + x[::2]
        if np.sum(y) > 3.0:
            break
    return np.sum(y ** 2)
def nested_rows(A):
    B = A.copy()
    for t in range(3):
        for i in range(1, B.shape[0]):
            B[i] = B[i] * B[i - 1] + A[i]
    return np.sum(B)
def branch_write(x):
    y = np.zeros((3, len(x)))
    for k in range(3):
        if k % 2 == 0:
            y[k] = x * k
        else:
            y[k, 1:] = x[1:] * y[k - 1, :-1]
    return np.sum(y ** 2)
def cube(x):
    T = np.ones((2, 3, len(x)))
    for k in range(3):
        T[:, k] = T[:, k - 1] * x
        T[1, :, 0] += x[k]
    return np.sum(T ** 2)
def moving_mask(x, thresholds):
    y = x.copy()
    for k in range(3):
        m = thresholds > k * 0.3
        y[m] = y[m] * x[m] + 1.0
    return np.sum(y)
def aug_slice(x):
    u = x.copy()
    for k in range(3):
        u[1:-1] += 0.1 * (u[2:] - 2 * u[1:-1] + u[:-2])
        u[:, ] -= 0.01 * u
    return np.sum(u ** 2)

def _vector(rng, n=6):
    return rng.normal(size=n)


CASES = [
    (shifted_scan, lambda r: (_vector(r),), (0,)),
    (backward_difference_add, lambda r: (_vector(r),), (0,)),
    (matrix_offsets, lambda r: (r.normal(size=(3, 3)) * 0.5,), (0,)),
    (negative_offset, lambda r: (_vector(r) * 0.5,), (0,)),
    (row_scaling, lambda r: (_vector(r, 4), _vector(r, 3)), (0, 1)),
    (rnn_rows, lambda r: (r.normal(size=(4, 3)), r.normal(size=(3, 3)) * 0.5), (0, 1)),
    (broadcast_into_row, lambda r: (_vector(r, 4),), (0,)),
    (columns_out, lambda r: (r.normal(size=(5, 3)) * 0.3, _vector(r, 3)), (0, 1)),
    (inner_rows, lambda r: (r.normal(size=(3, 4)),), (0,)),
    (heat_stencil, lambda r: (_vector(r, 8), 0.2), (0, 1)),
    (heat_in_place, lambda r: (_vector(r, 8), 0.2), (0, 1)),
    (reversed_and_window, lambda r: (_vector(r, 6) * 0.5,), (0,)),
    (element_then_region, lambda r: (_vector(r, 6),), (0,)),
    (mask_clip, lambda r: (_vector(r), _vector(r)), (0,)),
    (mask_in_loop, lambda r: (_vector(r), _vector(r) > 0.0), (0,)),
    (relu_by_mask, lambda r: (_vector(r),), (0,)),
    (shrinking, lambda r: (_vector(r), 0.3), (0, 1)),
    (shrinking_matrix, lambda r: (r.normal(size=(4, 4)) * 0.5,), (0,)),
    (while_slice, lambda r: (_vector(r) * 0.5,), (0,)),
    (break_region, lambda r: (_vector(r) * 0.5,), (0,)),
    (nested_rows, lambda r: (r.normal(size=(3, 4)) * 0.5,), (0,)),
    (branch_write, lambda r: (_vector(r) * 0.5,), (0,)),
    (cube, lambda r: (_vector(r, 4),), (0,)),
    (moving_mask, lambda r: (_vector(r) * 0.5, r.uniform(size=6)), (0,)),
    (aug_slice, lambda r: (_vector(r) * 0.5,), (0,)),
]


@pytest.mark.parametrize("fn, build, wrt", CASES, ids=[c[0].__name__ for c in CASES])
def test_gradient_matches_finite_differences(fn, build, wrt):
    args = build(np.random.default_rng(7))
    got = compiled(fn, wrt, "python")(*args)
    got = got if isinstance(got, tuple) else (got,)
    for g, k in zip(got, wrt):
        assert_gradient(g, finite_difference(fn, args, k), **fd_tolerance(fn(*args), 1e-5))


# twins without in-place writes, for autograd

def heat_stencil_twin(u0, nu):
    u = u0
    for n in range(6):
        inner = u[1:-1] + nu * (u[2:] - 2 * u[1:-1] + u[:-2])
        u = np.concatenate((u[:1], inner, u[-1:]))
    return np.sum(u ** 2)


def columns_out_twin(A, v):
    return sum(np.sum(np.tanh(A @ v * (k + 1)) ** 2) for k in range(4))


def rnn_rows_twin(inputs, W):
    h = np.zeros(W.shape[1])
    for t in range(inputs.shape[0]):
        h = np.tanh(inputs[t] @ W + h)
    return np.sum(h ** 2)


TWINS = [(heat_stencil, heat_stencil_twin, lambda r: (_vector(r, 8), 0.2), (0, 1)),
         (columns_out, columns_out_twin, lambda r: (r.normal(size=(5, 3)) * 0.3, _vector(r, 3)), (0, 1)),
         (rnn_rows, rnn_rows_twin, lambda r: (r.normal(size=(4, 3)), r.normal(size=(3, 3)) * 0.5), (0, 1))]


@pytest.mark.parametrize("fn, twin, build, wrt", TWINS, ids=[t[0].__name__ for t in TWINS])
def test_gradient_matches_autograd_of_a_twin_without_writes(fn, twin, build, wrt):
    args = build(np.random.default_rng(3))
    assert np.isclose(fn(*args), twin(*args))
    got = compiled(fn, wrt, "python")(*args)
    for g, k in zip(got, wrt):
        np.testing.assert_allclose(g, autograd_gradient(twin, args, k), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fn", [heat_in_place, shrinking],
                         ids=lambda f: f.__name__)
def test_cpu_gradient_matches_finite_differences(fn):
    fn, build, wrt = next(c for c in CASES if c[0] is fn)
    args = build(np.random.default_rng(11))
    got = compiled(fn, wrt, "cpu")(*args)
    got = got if isinstance(got, tuple) else (got,)
    for g, k in zip(got, wrt):
        assert_gradient(g, finite_difference(fn, args, k), **fd_tolerance(fn(*args), 1e-5))


def test_the_reverse_sweep_leaves_the_arguments_as_they_were():
    u0 = _vector(np.random.default_rng(1), 8)
    kept = u0.copy()
    adjoint.grad(heat_in_place, wrt=(0, 1), target="python")(u0, 0.2)
    np.testing.assert_array_equal(u0, kept)


def test_emitted_code_records_regions_and_reads_like_the_loop():
    source = adjoint.grad(heat_stencil, wrt=(0, 1), target="python").source_for(np.ones(8), 0.2)
    assert "_record_s_1(records_u, n, u, 1, -1, 1)" in source          # u[1:-1]: its bounds
    assert "_undo_region_1(records_u, n, u)" in source
    assert "u_old = u[1:-1].copy()" in source


# -- arrays each iteration makes anew (no false alarm) and the alarms that stay -------------------

def alias_after_fresh(x, A):
    alpha = x.copy()
    for t in range(3):
        new = np.zeros(len(x))
        for j in range(len(x)):
            acc = 0.0
            for i in range(len(x)):
                acc += alpha[i] * A[i, j]
            new[j] = math.tanh(acc)
        alpha = new
    return np.sum(alpha)


def alias_before_write(x):
    alpha = x.copy()
    for t in range(3):
        new = np.zeros(len(x))
        alpha = new
        new[0] = x[0] * t
    return np.sum(alpha)


def fresh_only_sometimes(x):
    alpha = x.copy()
    new = np.zeros(len(x))
    for t in range(3):
        if t > 5:                   # never: from the second iteration on, new is alpha
            new = np.zeros(len(x))
        new[t] = x[t] * alpha[t]
        alpha = new
    return np.sum(alpha)


def fresh_at_the_end(x):
    alpha = x.copy()
    new = np.zeros(len(x))
    for t in range(3):
        new[t] = x[t] * alpha[t]
        alpha = new
        new = np.zeros(len(x))
    return np.sum(alpha)


@pytest.mark.parametrize("fn", [alias_after_fresh, fresh_at_the_end, fresh_only_sometimes], ids=lambda f: f.__name__)
def test_an_array_made_anew_each_iteration_may_be_passed_on(fn):
    """fresh_only_sometimes writes into the array alpha names from the second iteration on,
    but alpha reads it only before the write and is bound anew right after: nobody reads the
    written values under another name (test_views.alias_read_after_the_write does, and is
    rejected)."""
    rng = np.random.default_rng(5)
    args = (rng.normal(size=4), rng.normal(size=(4, 4)) * 0.5)[:fn.__code__.co_argcount]
    wrt = tuple(range(len(args)))
    got = compiled(fn, wrt, "python")(*args)
    got = got if isinstance(got, tuple) else (got,)
    for g, k in zip(got, wrt):
        assert_gradient(g, finite_difference(fn, args, k), **fd_tolerance(1.0, 1e-5))


@pytest.mark.parametrize("fn", [alias_before_write], ids=lambda f: f.__name__)
def test_a_write_into_memory_another_name_still_sees_is_rejected(fn):
    with pytest.raises(adjoint.AdjointError, match="share memory"):
        adjoint.grad(fn, target="python")(np.arange(1.0, 5.0))


# -- integer index arrays: a repeated index keeps its last value -----------------------------------

def scatter_write(x, rows):
    y = np.zeros(4)
    y[rows] = x * 2.0
    return np.sum(y * np.arange(1.0, 5.0))


def scatter_write_loop(x, rows):
    y = np.zeros(4)
    for k in range(len(rows)):
        y[rows[k]] = x[k] * 2.0
    return np.sum(y * np.arange(1.0, 5.0))


def zero_through_rows(x, rows):
    y = x * x
    y[rows] = 0.0
    return np.sum(y * np.arange(1.0, 4.0))


def test_a_write_through_an_integer_array_is_rejected_with_a_hint_that_works():
    x, rows = np.array([1.0, 2.0, 3.0]), np.array([1, 1, 2])
    with pytest.raises(adjoint.AdjointError, match="integer index array") as caught:
        adjoint.grad(scatter_write, target="python")(x, rows)
    assert "y[rows[k]] = v[k]" in str(caught.value)
    got = adjoint.grad(scatter_write_loop, target="python")(x, rows)
    np.testing.assert_allclose(got, [0.0, 4.0, 6.0])
    np.testing.assert_allclose(got, finite_difference(scatter_write_loop, (x, rows), 0), atol=1e-6)


def test_a_constant_written_through_an_integer_array_zeroes_the_elements():
    x, rows = np.array([1.0, 2.0, 3.0]), np.array([1, 1, 2])
    got = adjoint.grad(zero_through_rows, target="python")(x, rows)
    np.testing.assert_allclose(got, finite_difference(zero_through_rows, (x, rows), 0), atol=1e-6)


@pytest.mark.parametrize("fn, build, wrt", CASES, ids=[c[0].__name__ for c in CASES])
def test_forward_mode_matches_finite_differences(fn, build, wrt):
    args = build(np.random.default_rng(9))
    k = wrt[0]
    direction = np.linspace(0.5, 1.5, np.size(args[k])).reshape(np.shape(args[k])) if np.ndim(args[k]) else 1.0
    _value, tangent = adjoint.jvp(fn, wrt=k, target="python")(*args, direction)
    want = np.sum(finite_difference(fn, args, k) * direction)
    np.testing.assert_allclose(tangent, want, **fd_tolerance(fn(*args), 1e-5))


def vector_into_element(x, A):
    y = np.zeros(3)
    for i in range(3):
        y[i] = A @ x
    return np.sum(y)


def test_a_value_of_more_axes_than_the_part_written_is_a_located_type_error():
    with pytest.raises(adjoint.AdjointError, match="assigning an array of rank 1 to an element of `y`") as caught:
        adjoint.grad(vector_into_element, target="python")(np.ones(3), np.ones((3, 3)))
    assert "y[i] = A @ x" in str(caught.value)


def time_levels_swapped(u0, C):
    u = np.zeros(len(u0))
    u_n = u0.copy()
    u_nm1 = u0.copy()
    for n in range(4):
        u[1:-1] = - u_nm1[1:-1] + 2 * u_n[1:-1] + C * (u_n[:-2] - 2 * u_n[1:-1] + u_n[2:])
        u_nm1, u_n, u = u_n, u, u_nm1
    return np.sum(u_n ** 2)


def time_levels_swapped_copies(u0, C):
    u = np.zeros(len(u0))
    u_n = u0.copy()
    u_nm1 = u0.copy()
    for n in range(4):
        u[1:-1] = - u_nm1[1:-1] + 2 * u_n[1:-1] + C * (u_n[:-2] - 2 * u_n[1:-1] + u_n[2:])
        u_nm1, u_n, u = u_n.copy(), u.copy(), u_nm1.copy()
    return np.sum(u_n ** 2)


def jacobi_swapped(u0, c):
    # the two-array Jacobi sweep: write the new level, then trade names
    old = u0.copy()
    new = np.zeros(len(u0))
    for it in range(7):
        new[1:-1] = 0.5 * (old[:-2] + old[2:]) * c + old[1:-1] * (1 - c)
        new[0] = old[0]
        new[-1] = old[-1] * old[-2] * 0.5
        old, new = new, old
    return np.sum(old ** 3)


def swapped_with_a_view_of_one(u0, C):
    # v views the array u_n holds first, which u holds two steps later: the write changes v
    u = np.zeros(len(u0))
    u_n = u0.copy()
    u_nm1 = u0 * 0.5
    v = u_n[1:]
    for n in range(4):
        u[1:-1] = - u_nm1[1:-1] + 2 * u_n[1:-1] + C * (u_n[:-2] - 2 * u_n[1:-1] + u_n[2:])
        u_nm1, u_n, u = u_n, u, u_nm1
    return np.sum(u_n ** 2) + np.sum(v ** 2)


def swapped_with_the_argument(u0, C):
    # u_n is the caller's array: after one trade the loop writes into it
    u = np.zeros(len(u0))
    u_n = u0
    for n in range(4):
        u[1:-1] = u_n[1:-1] * C + 0.5 * u_n[2:] * u_n[:-2]
        u_n, u = u, u_n
    return np.sum(u_n ** 2)


def swapped_with_an_alias(u0, C):
    # two names of one array from the start: a trade does not separate them
    u = np.zeros(len(u0))
    u_n = u0.copy()
    u_nm1 = u_n
    for n in range(4):
        u[1:-1] = - u_nm1[1:-1] + 2 * u_n[1:-1] + C * (u_n[:-2] - 2 * u_n[1:-1] + u_n[2:])
        u_nm1, u_n, u = u_n, u, u_nm1
    return np.sum(u_n ** 2)


@pytest.mark.parametrize("fn", [time_levels_swapped, jacobi_swapped], ids=["leapfrog", "jacobi"])
def test_arrays_that_trade_names_differentiate(fn):
    # each array has one name before the trade, and so after it: writing through one changes
    # no other (the wave-equation solvers' `u_nm1, u_n, u = u_n, u, u_nm1`)
    args = (np.sin(np.linspace(0.0, 3.0, 8)) + 1.5, 0.3)
    got = compiled(fn, (0, 1), "python")(*args)
    for g, k in zip(got, (0, 1)):
        assert_gradient(g, finite_difference(fn, args, k), **fd_tolerance(1.0, 1e-5))
    got = compiled(time_levels_swapped_copies, (0, 1), "python")(*args)     # the copies agree
    for g, want in zip(got, compiled(time_levels_swapped, (0, 1), "python")(*args)):
        np.testing.assert_allclose(g, want, rtol=1e-12)


@pytest.mark.parametrize("fn, sharing", [(swapped_with_a_view_of_one, "`u_n` and `u` share memory"),
                                         (swapped_with_the_argument, "`u0` and `u` share memory"),
                                         (swapped_with_an_alias, "`u_n` and `u` share memory")],
                         ids=["view", "argument", "alias"])
def test_a_trade_of_names_that_share_memory_otherwise_is_rejected_with_a_rewrite_that_works(fn, sharing, tmp_path):
    args = (np.sin(np.linspace(0.0, 3.0, 8)) + 1.5, 0.3)
    with pytest.raises(adjoint.AdjointError, match=sharing) as caught:
        adjoint.grad(fn, wrt=(0, 1), target="python")(*args)
    message = str(caught.value)
    assert "\nhint: copy while the names trade arrays: " in message, message
    # the hint's rewrite: each name copied at the trade
    hint = message.split("copy while the names trade arrays: ")[1].splitlines()[0]
    targets, values = hint.split(" = ")
    source = inspect.getsource(fn)
    line = next(line for line in source.splitlines() if line.strip().startswith(targets + " = "))
    rewritten = source.replace(line, line[:len(line) - len(line.lstrip())] + hint)
    path = tmp_path / "rewritten.py"
    path.write_text("import numpy as np\n\n\n" + rewritten)
    spec = importlib.util.spec_from_file_location(f"rewritten_{fn.__name__}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fixed = getattr(module, fn.__name__)
    got = adjoint.grad(fixed, wrt=(0, 1), target="python")(*args)
    for g, k in zip(got, (0, 1)):         # (the view no longer sees the writes: a new function)
        assert_gradient(g, finite_difference(fixed, args, k), **fd_tolerance(1.0, 1e-5))


def copy_by_multiplying(x):
    y = x * 1.0                        # a float copy, as numpy users write one
    y[::-1] = y * 0.5 + x
    return np.sum(y * y)


def test_a_copy_by_arithmetic_stays_a_copy_when_it_is_written_in_place():
    """`y = x * 1.0` was folded to `y = x`: the write into y then changed x, the caller's
    argument too, and the gradient was wrong."""
    x = np.linspace(0.3, 1.8, 6)
    given = x.copy()
    got = adjoint.grad(copy_by_multiplying, target="python")(given)
    np.testing.assert_array_equal(given, x)
    np.testing.assert_allclose(got, finite_difference(copy_by_multiplying, (x,), 0), rtol=1e-6, atol=1e-8)
