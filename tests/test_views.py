"""Issue #15, aliasing inside the function: views made by the function and written through.

adjoint treats every name as its own array. Where the function binds a name to a view of
another array (`z = y[1:]`, `A[:, j]`, a row `A[i]`, np.reshape, .T, np.ravel, or plainly
`z = y`) and then writes in place through one of them (`z[0] = ...`, `y += x`, a helper
that stores into its parameter), the other name sees the change and the gradient would be
wrong: validate rejects such a write at the user's line, naming the view and the array.
Writes into arrays that no other name sees, copies, and reading views keep their gradients
(checked against central finite differences and hand-derived values).

Forward mode: an argument that is not differentiated but is written with an active value
gets a zero tangent before the write (it raised NameError: d_y).
"""

import inspect
import math

import numpy as np
import pytest

import adjoint


def central_difference(f, args, wrt, h=1e-6):
    """d f / d args[wrt] by central differences, every array argument copied per call (the
    functions here write into their arguments)."""
    def at(point):
        call = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        call[wrt] = point
        return float(f(*call))
    if np.ndim(args[wrt]) == 0:
        x = float(args[wrt])
        return (at(x + h) - at(x - h)) / (2 * h)
    x = np.asarray(args[wrt], dtype=float)
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        grad[k] = (at(up) - at(down)) / (2 * h)
    return grad


def line_of(fn, text):
    lines, first = inspect.getsourcelines(fn)
    return first + next(k for k, line in enumerate(lines) if text in line)


# the reproductions -------------------------------------------------------------------

def via_view(x, y):
    z = y[1:]
    z[0] = x[0]
    return y[1] * 1.0


def inplace(x, y):
    z = y[0:1]
    y += x
    return z[0] * 1.0


def fwd_nonwrt(x, y):
    y[0] = x[0] * 2.0
    return y[0] * x[1]


# more ways to make a view and write through it -----------------------------------------------

def column_written(A, x):
    c = A[:, 0]
    A[0, 0] = x[0] * x[1]
    return np.sum(c * x)


def row_written(A, x):
    r = A[1]
    r[0] = x[0]
    return np.sum(A) * x[1]


def transposed(A, x):
    t = A.T
    t[0, 1] = x[0]
    return A[1, 0] * x[1]


def reshaped(y, x):
    m = np.reshape(y, (2, 2))
    m *= x[0]
    return y[3] + x[1]


def plain_alias(x, y):
    z = y
    z[0] = x[0] * x[1]
    return y[0] + x[1]


def strided(x, y):
    z = y[::2]
    z += x
    return np.sum(y * y)


def store_first(v, value):
    v[0] = value
    return value


def helper_through_a_view(x, y):
    stored = store_first(y[1:], x[0] * 3.0)
    return y[1] * x[1] + stored


def bump(v, x):
    v += x
    return v[0]


def helper_adds_into_its_argument(x, y):
    s = bump(y, x)                  # y changes in place: y[1] is now y[1] + x[1]
    return s * y[1]


def helper_adds_into_a_copy(x, y):
    s = bump(np.copy(y), x)
    return s * y[1]


def loop_through_a_row(A, x):
    s = 0.0
    for i in range(2):
        row = A[i]
        row[0] = x[i] * 2.0
        s = s + A[i, 0] * x[1]
    return s


def alias_or_number(x, y):
    z = y
    z += x
    return np.sum(z * y)


REJECTED = [
    (via_view, "z[0] = x[0]", "z", "y"),
    (inplace, "y += x", "z", "y"),
    (column_written, "A[0, 0] = x[0] * x[1]", "c", "A"),
    (row_written, "r[0] = x[0]", "r", "A"),
    (transposed, "t[0, 1] = x[0]", "t", "A"),
    (reshaped, "m *= x[0]", "m", "y"),
    (plain_alias, "z[0] = x[0] * x[1]", "z", "y"),
    (strided, "z += x", "z", "y"),
    (helper_through_a_view, "stored = store_first(y[1:], x[0] * 3.0)", None, "y"),
    (loop_through_a_row, "row[0] = x[i] * 2.0", "row", "A"),
    (helper_adds_into_its_argument, "s = bump(y, x)", None, "y"),     # gave [2, 0], the truth is [6, 4]
]


@pytest.mark.parametrize("fn, write, view, array", REJECTED, ids=[r[0].__name__ for r in REJECTED])
def test_a_write_into_memory_another_name_sees_is_rejected(fn, write, view, array):
    with pytest.raises(adjoint.AdjointError) as info:
        adjoint.grad(fn, target="python")
    error = info.value
    text = str(error)
    assert error.location is not None and error.location.line == line_of(fn, write), text
    assert write in text and "^" in text
    assert f"`{array}`" in text and "share memory" in text
    if view is not None:
        assert f"`{view}`" in text
    assert "np.copy(" in text                                  # the hint names the way out


def test_the_rejection_also_stops_forward_mode_and_jvp():
    with pytest.raises(adjoint.AdjointError, match="share memory"):
        adjoint.grad(via_view, mode="forward", target="python")
    with pytest.raises(adjoint.AdjointError, match="share memory"):
        adjoint.jvp(inplace, target="python")(np.ones(1), np.ones(1), np.ones(1))


# the hints work: the rewritten functions have the right gradients ------------------------------

def via_view_direct(x, y):
    y[1] = x[0]
    return y[1] * 1.0


def via_view_copied(x, y):
    z = np.copy(y[1:])
    z[0] = x[0]
    return y[1] * 1.0 + z[0] * x[1]


def inplace_then_copy(x, y):
    y += x
    z = np.copy(y[0:1])
    return z[0] * 1.0


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("fn, want", [(via_view_direct, [1.0, 0.0]), (via_view_copied, [4.0, 3.0]),
                                      (inplace_then_copy, [1.0, 0.0]), (helper_adds_into_a_copy, [2.0, 0.0])])
def test_the_hints_rewrites_give_the_right_gradient(fn, want, target):
    x, y = np.array([3.0, 4.0]), np.array([1.0, 2.0])
    g = adjoint.grad(fn, target=target)(x, y.copy())
    np.testing.assert_allclose(g, want, rtol=1e-12)
    np.testing.assert_allclose(g, central_difference(fn, (x, y), 0), rtol=1e-6)


# safe patterns keep working ----------------------------------------------------------------------

def fresh_array(x, n):
    y = np.zeros(n)
    for i in range(n):
        y[i] = x[i] * x[i]
    return np.sum(y * x)


def copy_then_write(x):
    y = x.copy()
    y[0] = y[0] * 3.0
    w = np.copy(x)
    w[1] = w[1] * y[0]
    return np.sum(y * w) + np.sum(x)


def reads_views(x):
    head = x[0:2]
    s = np.sum(head * head)
    s = s + np.sum(x[1:] * x[:-1])
    return s


def slice_sums(x):
    s = x[0:2] * 1.0
    s = s + x[1:]
    return np.sum(s * s)


def read_modify_write(x, y):
    old = y[0] * 1.0
    y[0] = old * x[0] + x[1]
    return y[0] * old + y[1] * x[0]


def read_modify_write_local(x):
    y = np.zeros(2)
    y[1] = x[1]
    for i in range(2):
        old = y[i]
        y[i] = old * x[0] + x[1]
        j = 1 - i
        y[j] = y[j] + old
    return y[0] * y[1]


def scalar_alias(x, y):
    z = x
    z += y * 2.0
    z *= y
    return z + math.sin(x) * y


def argument_augmented(x, y):
    y += x
    y *= x[0]
    return np.sum(y * y)


def local_augmented(x):
    s = x[0] + 0.0
    s += x[1] * x[1]
    w = x * 2.0
    w += x
    return s * np.sum(w)


def matrix_rows(A, x):
    s = 0.0
    for i in range(2):
        row = A[i]
        s = s + np.dot(row, x)
    B = np.zeros((2, 2))
    B[0, 1] = s
    B[1] = x * s
    return np.sum(B * B)


def write_then_view(x, y):
    y[0] = x[0] * x[1]
    z = y[0:2]                      # taken after the write: it sees it, as adjoint assumes
    return z[0] * z[1] + y[1] * x[0]


SAFE = [(write_then_view, lambda: (np.array([3.0, 4.0]), np.array([1.0, 2.0])), 0),
        (write_then_view, lambda: (np.array([3.0, 4.0]), np.array([1.0, 2.0])), 1),
(fresh_array, lambda: (np.array([1.0, 2.0, 3.0]), 3), 0),
        (copy_then_write, lambda: (np.array([1.5, -2.0, 0.5]),), 0),
        (reads_views, lambda: (np.array([1.0, 2.0, 3.0]),), 0),
        (slice_sums, lambda: (np.array([1.0, -2.0, 3.0]),), 0),
        (read_modify_write, lambda: (np.array([3.0, 4.0]), np.array([1.0, 2.0])), 0),
        (read_modify_write, lambda: (np.array([3.0, 4.0]), np.array([1.0, 2.0])), 1),
        (argument_augmented, lambda: (np.array([3.0, 4.0]), np.array([1.0, 2.0])), 0),
        (argument_augmented, lambda: (np.array([3.0, 4.0]), np.array([1.0, 2.0])), 1),
        (read_modify_write_local, lambda: (np.array([3.0, 4.0]),), 0),
        (scalar_alias, lambda: (0.7, -1.3), 0),
        (scalar_alias, lambda: (0.7, -1.3), 1),
        (local_augmented, lambda: (np.array([0.5, 1.5, 2.0]),), 0),
        (matrix_rows, lambda: (np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([0.5, 2.0])), 0),
        (matrix_rows, lambda: (np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([0.5, 2.0])), 1)]


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("fn, make, wrt", SAFE, ids=[f"{s[0].__name__}-{s[2]}" for s in SAFE])
def test_safe_writes_keep_their_gradients(fn, make, wrt, target):
    args = make()
    want = central_difference(fn, args, wrt)
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    got = adjoint.grad(fn, wrt=wrt, target=target)(*copies)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


# forward mode: an argument written with an active value but not differentiated ------------------

@pytest.mark.parametrize("target", ["python", "cpu"])
def test_forward_mode_gives_a_written_argument_a_tangent(target):
    """fwd_nonwrt is 2 x0 x1 (y[0] is overwritten): the gradient is (2 x1, 2 x0) = [8, 6]."""
    x, y = np.array([3.0, 4.0]), np.array([1.0, 2.0])
    g = adjoint.grad(fwd_nonwrt, mode="forward", target=target)(x, y.copy())
    np.testing.assert_allclose(g, [8.0, 6.0], rtol=1e-12)
    value, tangent = adjoint.jvp(fwd_nonwrt, target=target)(x, y.copy(), np.array([1.0, -0.5]))
    assert value == pytest.approx(24.0)
    assert tangent == pytest.approx(8.0 * 1.0 + 6.0 * -0.5)
    np.testing.assert_allclose(adjoint.grad(fwd_nonwrt, target=target)(x, y.copy()), [8.0, 6.0], rtol=1e-12)


def test_an_alias_only_some_ranks_make_is_settled_by_the_call():
    """`z = y` is a copy if y is a number and the same array if y is one: the check runs with
    the call's argument types, so numbers differentiate and arrays are rejected at the write,
    with a hint whose rewrite gives the right gradient for either."""
    g = adjoint.grad(alias_or_number, target="python")
    got = g(0.5, 1.5)
    assert got == pytest.approx(central_difference(alias_or_number, (0.5, 1.5), 0), rel=1e-6)
    with pytest.raises(adjoint.AdjointError) as info:
        g(np.array([0.5, -1.0]), np.array([1.5, 2.0]))
    text = str(info.value)
    assert "share memory" in text and "z += x" in text and "^" in text
    for x, y in ((0.5, 1.5), (np.array([0.5, -1.0]), np.array([1.5, 2.0]))):
        got = adjoint.grad(alias_or_number_fixed, target="python")(x, y)
        np.testing.assert_allclose(got, central_difference(alias_or_number_fixed, (x, y), 0), rtol=1e-6)


def rows_of_a_built_array(x, y):
    # an array of one row per element of x, each row shaped like y (a list comprehension's
    # array is built so): a row is a number if y is one, a view of a row if y is an array
    rows = np.zeros((x.shape[0],) + np.shape(y)) + 0.5
    total = 0.0
    for i in range(x.shape[0]):
        row = rows[i]
        rows[i] = 0.0
        total += np.sum(row * x[i] * x[i])
    return total


def test_the_rank_of_an_array_built_from_joined_shapes_settles_its_rows():
    """`np.zeros((n,) + np.shape(y))` has one axis more than y: with y a number, `row =
    rows[i]` is a number and the write into rows is no alias (central differences); with y
    an array, the row is a view the write changes, rejected at the write."""
    x = np.array([0.3, -1.2, 2.0])
    got = adjoint.grad(rows_of_a_built_array, target="python")(x, 1.5)
    np.testing.assert_allclose(got, central_difference(rows_of_a_built_array, (x, 1.5), 0), rtol=1e-6)
    with pytest.raises(adjoint.AdjointError, match="`row` and `rows` share memory"):
        adjoint.grad(rows_of_a_built_array, target="python")(x, np.ones(2))


def test_a_view_only_some_ranks_make_under_guessed_types_waits_for_the_call():
    """The Hessian-vector product of a softmax loss whose per-sample losses a list
    comprehension gathers (the realistic corpus's): its emitted gradient, differentiated
    again, reads `s_19 = s_losses[i]` before writing s_losses, a view only if s_losses were a
    matrix. The source's guessed types could not tell (an AdjointTypeError, deferred); the
    call's types say it is a vector. Against central differences of the gradient."""
    from tests.realistic_corpus import PROGRAMS
    program = next(p for p in PROGRAMS if p.name == "softmax_loss_comprehension")
    args = list(program.arguments())
    direction = np.cos(np.arange(args[0].size, dtype=float)).reshape(args[0].shape)
    product = adjoint.hvp(program.fn, target="python")(*args, direction)
    g = adjoint.grad(program.fn, target="python")
    step = 1e-6
    plus, minus = [args[0] + step * direction] + args[1:], [args[0] - step * direction] + args[1:]
    np.testing.assert_allclose(product, (g(*plus) - g(*minus)) / (2 * step), rtol=1e-5, atol=1e-8)


def alias_or_number_fixed(x, y):
    z = y * 1.0
    z += x
    return np.sum(z * y)


def first_element_accumulated(x, y):
    old = y[0]
    y[0] = old * x[0] + x[1]
    return y[0] * old + y[1] * x[0]


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_an_element_of_an_indexed_argument_is_a_number(target):
    """y is indexed with one subscript: a vector, as adjoint guesses for the compiled code, so
    `old = y[0]` is a number and writing y[0] is fine (against central differences)."""
    x, y = np.array([3.0, 4.0]), np.array([1.0, 2.0])
    for wrt in (0, 1):
        got = adjoint.grad(first_element_accumulated, wrt=wrt, target=target)(x.copy(), y.copy())
        want = central_difference(first_element_accumulated, (x, y), wrt)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def accumulate_from_an_element(x):
    total = x[0]
    for i in range(1, 3):
        total += x[i] * x[i]
    return total


def test_argument_types_settle_whether_an_element_is_a_view():
    """With the arguments' types (what the call passes), `total = x[0]` of a vector is a
    number and the accumulation is fine; of a matrix it is a row, written in place. Without
    them, x (indexed once) is taken for a vector, as the code generated before a call is."""
    from adjoint.analysis import shapes
    from adjoint.frontend.parse import parse
    from adjoint.frontend.views import check_views
    parsed = parse(accumulate_from_an_element)
    check_views(parsed, {"x": shapes.Type("float", 1)})
    with pytest.raises(adjoint.AdjointError, match=r"(?s)share memory .*total = np.copy\(x\[0\]\)"):
        check_views(parsed, {"x": shapes.Type("float", 2)})
    check_views(parsed)


def swapped_then_scaled(p, q):
    p, q = q, p
    p *= 2.0
    return p * q + p


def halve(a):
    a /= 2.0
    return a


def helper_divides_a_number(alpha, q):
    q /= 1.5 + halve(alpha)
    return q * alpha


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_numbers_written_in_place_are_no_views(target):
    # numbers cannot share memory: these were rejected while ranks came from the source alone
    # (the fuzzer's seed 15015 #158 is the second)
    assert adjoint.grad(swapped_then_scaled, wrt=(0, 1), target=target)(3.0, 5.0) == \
        pytest.approx((10.0, 8.0), rel=1e-12)          # f = 2qp + 2q: (2q, 2p + 2) at (3, 5)
    got = adjoint.grad(helper_divides_a_number, wrt=(0, 1), target=target)(3.0, 5.0)
    want = [central_difference(helper_divides_a_number, (3.0, 5.0), k) for k in (0, 1)]
    assert got == pytest.approx(want, rel=1e-6)


# a view dead at the write: nobody reads the written values through it ----------------------------
#
# A name viewing an array that is written in place later is fine where the view is not read
# after the write (or only once bound anew): that is how a gradient's own forward sweep reads
# `t = f[1:]` before `f[1:] = t - force`, and how stencil code reads its neighbours. The
# reverse sweep copies a view it reads (transforms.reverse_facts.views_written_later).

def view_read_then_base_written(x):
    y = x * 2.0
    z = y[1:]
    a = np.sum(z * z * x[1:])
    y[0] = a * x[0]
    return np.sum(y * y) + a


def stencil_steps(u0, c):
    u = u0.copy()
    for k in range(4):
        left = u[:-2]
        mid = u[1:-1]
        right = u[2:]
        lap = left - 2.0 * mid + right
        u[1:-1] = mid + c * lap * mid
    return np.sum(u * u)


def view_then_copy(x):
    y = x * 1.0
    z = y[:2]
    s = np.sum(np.sin(z))
    y[0] = s * x[1]
    z = np.copy(y[:2])
    return np.sum(z * x[:2]) + np.sum(y * y)


def dead_on_both_branches(x, flag):
    y = np.cos(x)
    z = y[1:]
    if flag > 0:
        s = np.sum(z * z)
        y[1] = s
    else:
        y[0] = np.sum(z * x[1:])
    return np.sum(y * x)


def view_read_then_base_written_in_a_loop(x):
    y = x * 1.0
    s = 0.0
    for k in range(3):
        head = y[:2]
        s = s + np.sum(head * head)
        y[k] = np.sin(s) * x[k]
    return s + np.sum(y)


def alias_of_the_array_bound_before(x):
    u = x * 1.0
    old = u                         # the first array: the writes below go into the second
    u = np.sin(x)
    v = u[1:]
    s = np.sum(v * v)
    u[0] = s
    return np.sum(u * old) + s


def state_copied_each_step(X):
    """The LSTM's step: the state is copied, the copy's rows written, the copy made the
    state. Each write goes into this step's copy; the state and its row `h` read meanwhile
    are the step before's array, which the same binding (`s2 = np.copy(state)`) made on its
    earlier run. (Both were rejected as sharing memory with the copy.)"""
    state = X * 1.0
    total = 0.0
    for t in range(3):
        s2 = np.copy(state)
        for i in range(s2.shape[0]):
            h = state[i]
            s2[i] = np.tanh(h * 0.5 + 0.1)
        state = s2
        total = total + np.sum(state * state)
    return total


def row_carried_from_this_steps_copy(X):
    """As _lstm_predict carries x = s2[i] into the next row's update."""
    state = X * 1.0
    total = 0.0
    for t in range(3):
        s2 = np.copy(state)
        x = state[0]
        for i in range(s2.shape[0]):
            s2[i] = np.tanh(x * 0.5 + state[i])
            x = s2[i]
        state = s2
        total = total + np.sum(x * x)
    return total


DEAD_VIEWS = [(view_read_then_base_written, lambda: (np.array([0.5, -1.0, 1.5]),), 0),
              (state_copied_each_step, lambda: (np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]]),), 0),
              (row_carried_from_this_steps_copy, lambda: (np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.8]]),), 0),
              (alias_of_the_array_bound_before, lambda: (np.array([0.5, -1.0, 1.5]),), 0),
              (stencil_steps, lambda: (np.array([0.2, 1.0, -0.5, 0.7, 0.3]), 0.1), 0),
              (stencil_steps, lambda: (np.array([0.2, 1.0, -0.5, 0.7, 0.3]), 0.1), 1),
              (view_then_copy, lambda: (np.array([0.3, -0.8, 1.1]),), 0),
              (dead_on_both_branches, lambda: (np.array([0.3, -0.8, 1.1]), 1.0), 0),
              (dead_on_both_branches, lambda: (np.array([0.3, -0.8, 1.1]), -1.0), 0),
              (view_read_then_base_written_in_a_loop, lambda: (np.array([0.4, -0.3, 0.9]),), 0)]


# compiled too: a stencil (its forward sweep reads views numba keeps), a loop, an alias
ON_CPU = {(stencil_steps, 0), (view_read_then_base_written_in_a_loop, 0), (alias_of_the_array_bound_before, 0),
          (state_copied_each_step, 0), (row_carried_from_this_steps_copy, 0)}


@pytest.mark.parametrize("fn, make, wrt, target",
                         [(*case, "python") for case in DEAD_VIEWS]
                         + [(*case, "cpu") for case in DEAD_VIEWS if (case[0], case[2]) in ON_CPU],
                         ids=[f"{s[0].__name__}-{s[2]}-python" for s in DEAD_VIEWS]
                         + [f"{s[0].__name__}-{s[2]}-cpu" for s in DEAD_VIEWS if (s[0], s[2]) in ON_CPU])
def test_a_view_dead_at_the_write_keeps_the_gradient(fn, make, wrt, target):
    args = make()
    want = central_difference(fn, args, wrt)
    for mode in ("reverse", "forward"):
        got = adjoint.grad(fn, wrt=wrt, mode=mode, target=target)(*args)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8, err_msg=mode)


def test_the_hessian_of_stencil_steps_through_views_dead_at_the_write():
    """Second order differentiates the emitted gradient, whose forward sweep reads each view
    before the write into its array; against mixed second differences of f itself."""
    from tests.oracles import hvp_by_differences
    u0, v = np.array([0.2, 1.0, -0.5, 0.7, 0.3]), np.array([0.3, -0.2, 0.5, 0.1, -0.4])
    got = adjoint.hvp(stencil_steps, target="python")(u0, 0.1, v)
    np.testing.assert_allclose(got, hvp_by_differences(stencil_steps, (u0, 0.1), 0, v), rtol=1e-5, atol=1e-6)


def live_after_on_one_branch(x, flag):
    y = x * 1.0
    z = y[1:]
    y[1] = 3.0 * x[0]
    if flag > 0:
        return np.sum(z * x[1:])
    return np.sum(y)


def live_across_iterations(x):
    y = x * 1.0
    z = y[1:]
    s = 0.0
    for k in range(3):
        s = s + np.sum(z * x[1:])
        y[1] = y[1] * 0.5 + x[0]
    return s


def write_through_a_view_of_a_dead_array(x):
    y = x * 1.0
    z = y[1:]
    a = np.sum(y * y)
    z[0] = 3.0 * x[0]
    return np.sum(z * z) + a


def alias_of_the_same_array_read_after(x):
    u = x * 1.0
    old = u
    u[0] = np.sum(x * x)
    return np.sum(u * old)


def alias_read_after_the_write(x):
    alpha = x.copy()
    new = np.zeros(len(x))
    s = 0.0
    for t in range(3):
        new[t] = x[t] * alpha[t]
        s = s + alpha[t]
        alpha = new
    return s + np.sum(alpha)


def view_of_this_steps_copy_read_after(x):
    state = x * 1.0
    total = 0.0
    for t in range(3):
        s2 = np.copy(state)
        head = s2[:2]                    # a view of this step's copy, read after the write
        s2[0] = np.sin(s2[1])
        total = total + np.sum(head)
        state = s2
    return total


@pytest.mark.parametrize("fn, write", [(live_after_on_one_branch, "y[1] = 3.0 * x[0]"),
                                       (view_of_this_steps_copy_read_after, "s2[0] = np.sin(s2[1])"),
                                       (live_across_iterations, "y[1] = y[1] * 0.5 + x[0]"),
                                       (write_through_a_view_of_a_dead_array, "z[0] = 3.0 * x[0]"),
                                       (alias_read_after_the_write, "new[t] = x[t] * alpha[t]"),
                                       (alias_of_the_same_array_read_after, "u[0] = np.sum(x * x)")],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_a_view_read_after_the_write_is_still_rejected(fn, write):
    """Read after the write on some path (one branch, the next iteration), or the write goes
    through the view: the other name sees the written values."""
    args = (np.array([0.5, -1.0, 1.5]), 1.0)[:fn.__code__.co_argcount]
    with pytest.raises(adjoint.AdjointError, match="share memory") as info:
        adjoint.grad(fn, target="python")(*args)
    assert info.value.location.line == line_of(fn, write)
