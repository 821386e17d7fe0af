"""Issue #15, items 4 and 6: arguments that share memory, and indices outside an array.

Aliasing: where the function writes into an argument that shares memory with another, the
derivative is rejected (it would mix the aliased and the unaliased answers); where it only
reads them, each argument gets its own gradient, as separate inputs. Forward-mode code, which
does not undo its writes, runs on copies of the arguments it writes into.

Bounds: the compiled target does not check indices (like numba); debug=True and
`adjoint check` do, and report an IndexError at the user's line. The unchecked out-of-range
call is never run here: it reads and writes outside the arrays.
"""

import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import adjoint
from tests.conftest import needs_cuda

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def two(x, y):
    y[0] = x[0] * 3.0
    return x[0] * y[0] + y[1]


# two(x, y) with x and y separate arrays is 3 x0^2 + y1: d/dx = (6 x0, 0), d/dy = (0, 1)
def two_gradient(x):
    return np.array([6.0 * x[0], 0.0]), np.array([0.0, 1.0])


def accumulate(x, y):
    y[0] = y[0] + x[0] * x[1]
    return y[0] * x[1]


# accumulate is (y0 + x0 x1) x1: d/dx = (x1^2, y0 + 2 x0 x1), d/dy = (x1, 0)
def accumulate_gradient(x, y):
    return np.array([x[1] ** 2, y[0] + 2.0 * x[0] * x[1]]), np.array([x[1], 0.0])


def through_a_view(x, y):
    head = y[0:2]
    head[0] = x[1]
    return x[0] * y[1]


def store_into(target, i, value):
    target[i] = value
    return value


def through_a_helper(x, y):
    stored = store_into(y, 0, x[0] * 2.0)
    return stored * y[0]


def reads_only(x, y):
    return x[0] * y[1] + x[1] * x[1] * y[0]


def loop(x, n):
    s = 0.0
    for i in range(n):
        s = s + x[i] * x[i]
    return s


def fill(x, n):
    y = np.zeros(3)
    for i in range(n):
        y[i] = x[i] * 2.0
    return y


def line_of(fn, text):
    lines, first = inspect.getsourcelines(fn)
    return first + next(k for k, line in enumerate(lines) if text in line)


# aliasing --------------------------------------------------------------------------------------

def test_written_arguments_come_from_the_analysis():
    assert adjoint.grad(two, wrt=(0, 1)).written_arguments() == {"y"}
    with pytest.raises(adjoint.AdjointError, match="share memory"):   # a view written: test_views.py
        adjoint.grad(through_a_view, wrt=(0, 1))
    assert adjoint.grad(through_a_helper, wrt=(0, 1)).written_arguments() == {"y"}
    assert adjoint.grad(reads_only, wrt=(0, 1)).written_arguments() == set()


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "vjp", "jvp", "forward"])
def test_an_argument_written_while_aliased_is_rejected(transform, target):
    """The issue's case: two(a, a) gave [24, 0], neither the aliased nor the unaliased answer."""
    a = np.array([2.0, 5.0])
    if transform in ("grad", "value_and_grad", "forward"):
        make = adjoint.value_and_grad if transform == "value_and_grad" else adjoint.grad
        options = {"mode": "forward"} if transform == "forward" else {}
        call = lambda: make(two, wrt=(0, 1), target=target, **options)(a, a)  # noqa: E731
    elif transform == "vjp":
        call = lambda: adjoint.vjp(two, wrt=(0, 1), target=target)(a, a, 1.0)  # noqa: E731
    else:
        call = lambda: adjoint.jvp(two, wrt=(0, 1), target=target)(a, a, np.ones(2), np.ones(2))  # noqa: E731
    with pytest.raises(adjoint.AdjointError) as info:
        call()
    text = str(info.value)
    assert "'x' and 'y'" in text and "share memory" in text and "writes into 'y'" in text
    assert "two(x, y.copy())" in text
    assert list(a) == [2.0, 5.0]


@pytest.mark.parametrize("fn", [through_a_view, through_a_helper])
def test_a_write_through_a_view_or_a_helper_counts(fn):
    a = np.array([2.0, 5.0, 7.0])
    with pytest.raises(adjoint.AdjointError, match="share memory"):
        adjoint.grad(fn, wrt=0, target="python")(a, a)


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_a_copy_gives_the_separate_arrays_gradient(target):
    a = np.array([2.0, 5.0])
    gx, gy = adjoint.grad(two, wrt=(0, 1), target=target)(a, a.copy())
    want_x, want_y = two_gradient(a)
    np.testing.assert_allclose(gx, want_x, rtol=1e-12)
    np.testing.assert_allclose(gy, want_y, rtol=1e-12)


def test_overlapping_slices_are_rejected_and_disjoint_ones_accepted():
    a = np.array([2.0, 5.0, 7.0, 11.0])
    g = adjoint.grad(two, wrt=(0, 1), target="python")
    with pytest.raises(adjoint.AdjointError, match="share memory"):
        g(a[0:2], a[1:3])
    gx, gy = g(a[0:2], a[2:4])
    want_x, want_y = two_gradient(a[0:2])
    np.testing.assert_allclose(gx, want_x, rtol=1e-12)
    np.testing.assert_allclose(gy, want_y, rtol=1e-12)


def test_arguments_only_read_may_share_memory():
    """Nothing is written: each argument's gradient is the one of separate inputs (JAX's
    answer for two arguments), derived by hand."""
    a = np.array([2.0, 5.0])
    gx, gy = adjoint.grad(reads_only, wrt=(0, 1), target="python")(a, a)
    np.testing.assert_allclose(gx, [a[1], 2.0 * a[1] * a[0]], rtol=1e-12)
    np.testing.assert_allclose(gy, [a[1] * a[1], a[0]], rtol=1e-12)


def test_batch_rejects_rows_of_one_array_passed_again():
    """The points are rows of X; y = X[1] shares memory with point 1, not with point 0."""
    X = np.array([[2.0, 5.0], [3.0, 4.0]])
    with pytest.raises(adjoint.AdjointError, match="share memory"):
        adjoint.grad(two, wrt=0, target="python").batch(X, X[1])


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_forward_mode_runs_on_copies_of_written_arguments(target):
    """Forward mode runs f once per input component; each run wrote into y again
    (d/dx1 came out 19 instead of 13) and the caller's y was changed."""
    x, y = np.array([2.0, 3.0]), np.array([1.0, 0.0])
    gx, gy = adjoint.grad(accumulate, wrt=(0, 1), mode="forward", target=target)(x, y)
    want_x, want_y = accumulate_gradient(x, y)
    np.testing.assert_allclose(gx, want_x, rtol=1e-12)
    np.testing.assert_allclose(gy, want_y, rtol=1e-12)
    assert list(y) == [1.0, 0.0]


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_jvp_leaves_arguments_and_tangents_as_they_were(target):
    x, y = np.array([2.0, 3.0]), np.array([1.0, 0.0])
    u, v = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    value, tangent = adjoint.jvp(accumulate, wrt=(0, 1), target=target)(x, y, u, v)
    want_x, want_y = accumulate_gradient(x, y)
    assert value == pytest.approx((1.0 + 6.0) * 3.0, rel=1e-12)
    assert tangent == pytest.approx(want_x @ u + want_y @ v, rel=1e-12)
    assert list(y) == [1.0, 0.0] and list(u) == [1.0, -1.0] and list(v) == [0.5, 2.0]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_batch_points_get_their_own_copy_of_a_written_shared_argument(mode):
    """y is shared by every point and written by each: the points wrote into one array
    (the forward-mode batch accumulated every point's x0 x1 into y[0])."""
    rng = np.random.default_rng(20240611)
    X, y = rng.normal(size=(64, 2)), rng.normal(size=2)
    gx, gy = adjoint.grad(accumulate, wrt=(0, 1), mode=mode).batch(X, y)
    for i in range(len(X)):
        want_x, want_y = accumulate_gradient(X[i], y)
        np.testing.assert_allclose(gx[i], want_x, rtol=1e-12)
        np.testing.assert_allclose(gy[i], want_y, rtol=1e-12)


@needs_cuda
def test_cuda_batch_refuses_a_written_shared_argument():
    """Device threads cannot get copies: they would all write into the one shared y."""
    X, y = np.ones((3, 2)), np.ones(2)
    with pytest.raises(adjoint.AdjointError, match="writes into 'y'"):
        adjoint.grad(accumulate, wrt=(0, 1), target="cuda").batch(X, y)


@pytest.mark.slow
def test_jvp_batch_with_a_written_shared_argument_and_tangent():
    rng = np.random.default_rng(20240612)
    X, y = rng.normal(size=(32, 2)), rng.normal(size=2)
    u, v = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    values, tangents = adjoint.jvp(accumulate, wrt=(0, 1)).batch(X, y, u, v)
    for i in range(len(X)):
        want_x, want_y = accumulate_gradient(X[i], y)
        assert values[i] == pytest.approx((y[0] + X[i, 0] * X[i, 1]) * X[i, 1], rel=1e-12)
        assert tangents[i] == pytest.approx(want_x @ u + want_y @ v, rel=1e-12)
    assert list(v) == [0.5, 2.0]


# bounds ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [5, 50])
def test_debug_turns_an_index_past_the_end_into_an_index_error_at_the_users_line(n):
    x = np.array([1.0, 2.0, 3.0])
    for g in (adjoint.grad(loop, debug=True), adjoint.value_and_grad(loop, debug=True)):
        with pytest.raises(IndexError) as info:
            g(x, n)
        error = info.value
        assert isinstance(error, adjoint.AdjointError)
        assert error.location.line == line_of(loop, "s = s + x[i] * x[i]")
        assert "out of bounds" in str(error) and "s = s + x[i] * x[i]" in str(error)


@pytest.mark.slow
def test_debug_covers_jvp_vjp_forward_mode_and_batches():
    x = np.array([1.0, 2.0, 3.0])
    calls = {
        "jvp": lambda: adjoint.jvp(loop, debug=True)(x, 5, np.ones(3)),
        "forward": lambda: adjoint.grad(loop, mode="forward", debug=True)(x, 5),
        "batch": lambda: adjoint.grad(loop, debug=True).batch(np.ones((4, 3)), 5),
    }
    for what, call in calls.items():
        with pytest.raises(IndexError) as info:
            call()
        assert info.value.location.line == line_of(loop, "s = s + x[i] * x[i]"), what
    with pytest.raises(IndexError) as info:
        adjoint.vjp(fill, debug=True)(x, 4, np.ones(3))
    assert info.value.location.line == line_of(fill, "y[i] = x[i] * 2.0")


@pytest.mark.slow
def test_boundscheck_option_locates_jvp_and_batch_failures_too():
    """jit_options={"boundscheck": True} raised in a batch as a SystemError of numba's parallel
    loop, and in jvp without a line."""
    x = np.array([1.0, 2.0, 3.0])
    checked = {"boundscheck": True}
    for call in (lambda: adjoint.jvp(loop, jit_options=checked)(x, 5, np.ones(3)),
                 lambda: adjoint.grad(loop, jit_options=checked).batch(np.ones((4, 3)), 5)):
        with pytest.raises(IndexError) as info:
            call()
        assert info.value.location.line == line_of(loop, "s = s + x[i] * x[i]")


def test_debug_is_boundscheck_and_in_range_calls_are_unchanged():
    g = adjoint.grad(loop, debug=True)
    assert g.jit_options["boundscheck"] is True
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(g(x, 3), 2.0 * x, rtol=1e-12)


def test_debug_is_refused_on_cuda():
    with pytest.raises(adjoint.AdjointError, match="does not check array bounds"):
        adjoint.grad(loop, target="cuda", debug=True)


@pytest.mark.slow
def test_check_command_reports_the_index_error_at_the_users_line(tmp_path):
    """A subprocess: before bounds checks, n = 50 wrote outside the gradient array."""
    model = tmp_path / "model.py"
    model.write_text(textwrap.dedent('''\
        def loop(x, n):
            s = 0.0
            for i in range(n):
                s = s + x[i] * x[i]
            return s
    '''))
    done = subprocess.run([sys.executable, "-m", "adjoint", "check", f"{model}:loop", "--at", "1,2,3;50"],
                          capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 3, done.stderr
    assert f"{model}:4:9: IndexError while computing the gradient" in done.stderr
    assert "s = s + x[i] * x[i]" in done.stderr
