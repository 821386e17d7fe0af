"""backends/numpy_for_numba.py: the array constructors the cpu target's compiled code lowers in
place (issue 18, first-call latency), against numpy itself: the same dtype, shape, layout and
values for each argument form, keywords included, and numba's own errors for the forms numba
rejects; and a cpu gradient's first call compiling none of numba's constructor overloads."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import adjoint
from adjoint.backends import numpy_for_numba
from examples.lorenz import P0, lorenz
from tests.compilations import compiled_in_a_fresh_process
from tests.oracles import finite_difference

pytestmark = pytest.mark.skipif(not numpy_for_numba.AVAILABLE, reason="this numba's internals differ")

# (expression of p, a float array of shape (3,), c, of shape (2, 4), and n = 4)
FORMS = [
    "np.zeros(p.shape, p.dtype)", "np.zeros(n)", "np.zeros((n, 2))", "np.zeros(3, 'float32')",
    "np.zeros(shape=(2, n), dtype=np.int32)", "np.zeros(n, float)", "np.zeros(n, dtype=np.bool_)",
    "np.zeros(())", "np.empty(max(n, 0), np.float64).shape", "np.empty((0, n)).shape",
    "np.ones(n, dtype=np.int64)", "np.ones((2, 3), np.complex128)", "np.ones(())",
    "np.full(n, 2.5)", "np.full((2, n), 3)", "np.full(n, True)", "np.full(n, 1, np.float32)",
    "np.full(shape=n, fill_value=-1e300)", "np.full(n, 2.0 + 1.0j)",
    "np.zeros_like(p)", "np.zeros_like(c, dtype=np.int64)", "np.zeros_like(c.T)",
    "np.ones_like(c)", "np.ones_like(c[:, ::2])", "np.empty_like(p).shape", "np.empty_like(c.T).strides",
    "np.full_like(p, 7.0, np.float32)", "np.full_like(c.T, 1.5)", "np.full_like(c, 2)",
    "np.zeros_like(2.0)", "np.full_like(3, 1.5)",
]
# sums: lowered in place (a whole float array of any layout) or numba's own (the rest)
SUMS = [
    "np.sum(p)", "np.sum(c)", "np.sum(c.T)", "np.sum(c[:, ::2])", "np.sum(c[1])", "np.sum(c[:, 1])",
    "np.sum(np.zeros((0, n)))", "np.sum(p.astype(np.float32))", "np.sum(np.ones(()))",
    "np.sum(a=p)", "np.sum(c, 0)", "np.sum(c, axis=1)", "np.sum(c > 2.0)", "np.sum(np.arange(n))",
    "np.sum(c, -1)", "np.sum(c, -2)", "np.sum(c.T, 0)", "np.sum(c[:, ::2], axis=1)", "np.sum(c, n - 3)",
    "np.sum(c.reshape(2, 2, 2), 1)", "np.sum(c.reshape(2, 2, 2).T, 2)", "np.sum(np.zeros((0, n)), 1)",
    "np.sum(np.zeros((0, n)), 0)", "np.sum(c.astype(np.float32), 1)", "np.sum(p, 0)", "np.sum(c, (0, 1))",
    "np.sum(p, dtype=np.float32)", "np.sum(c * 1j)", "np.sum(2.5)",
    # integers and booleans: widened to int64 (uint64 for unsigned), as numba's and numpy's
    "np.sum(c.astype(np.int32))", "np.sum(np.arange(n) - 9)", "np.sum(c.T[::-1] > 2.0)",
    "np.sum(c.astype(np.uint8), 1)", "np.sum(c > 2.0, axis=0)", "np.sum(c.T.astype(np.int16) - 3, -1)",
    "np.sum(c.astype(np.int8))", "np.sum(np.arange(n), 0)", "np.sum(c.astype(np.int64), (0, 1))",
]
# np.where of three: numba's ufunc of a one-element select (broadcast; x's and y's dtypes
# unified as numba's np.where unifies them)
WHERES = ["np.where(c > 2.0, c, 0.0)", "np.where(p > 1.5, p, c[0, :3])", "np.where(c > 2.0, 1, 0)",
          "np.where(c[0] > 0.5, p[0], c[1])", "np.where(p > 1.0, p.astype(np.float32), np.float32(0.0))",
          "np.where(c.T > 2.0, c.T, -c.T)", "np.where(np.expand_dims(p, 1) > 1.5, np.expand_dims(p, 1), c[:, :3].T)",
          "np.where(p > 1.5, c[:, :3], 0.0)",
          "np.where(n > 2, p, 0.0)", "np.where(c[:, ::2], c[:, ::2], 1.5)", "np.where(c > 2.0, True, c < 1.0)"]
VIEWS = ["np.expand_dims(p, 1)", "np.expand_dims(p, 0)", "np.expand_dims(p, -1)", "np.expand_dims(c, 1)",
         "np.expand_dims(c.T, -3)", "np.expand_dims(c[:, 1], axis=0)", "np.expand_dims(p, n - 3) * c[0, :3]",
         "np.swapaxes(c, 0, 1)", "np.swapaxes(c, 1, -2)", "np.swapaxes(c, -1, -1)", "np.swapaxes(p, 0, -1)",
         "np.swapaxes(c.T[::-1], 0, 1)", "np.swapaxes(c.reshape(2, 2, 2), 0, n - 2)",
         "np.swapaxes(c.reshape(2, 2, 2), 2, 1)[1, 0]", "np.swapaxes(c, 0, 1)[::2, 1:] * 2.0"]


def _compiled_and_python(expression):
    namespace = {"np": numpy_for_numba}
    exec(f"def f(p, c, n):\n    return {expression}", namespace)
    return numba.njit(namespace["f"]), namespace["f"]


def _arguments():
    return np.array([1.0, 2.0, 3.0]), np.arange(8.0).reshape(2, 4), 4


@pytest.mark.parametrize("expression", FORMS + SUMS + VIEWS + WHERES)
def test_constructors_and_sums_match_numpy(expression):
    compiled, _ = _compiled_and_python(expression)
    namespace = {"np": np}
    exec(f"def f(p, c, n):\n    return {expression}", namespace)
    got, want = compiled(*_arguments()), namespace["f"](*_arguments())
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype and got.shape == want.shape
        if expression not in SUMS + WHERES:     # (numpy keeps an F array's layout there, numba not)
            assert got.flags.c_contiguous == want.flags.c_contiguous
            assert got.flags.f_contiguous == want.flags.f_contiguous
        assert np.array_equal(got, want)
    else:
        by_numba = numba.njit(namespace["f"])(*_arguments())       # numba's own: the same type
        assert got == pytest.approx(want, rel=1e-15) and type(got) is type(by_numba)


@pytest.mark.parametrize("expression", FORMS[:6] + ["np.full_like(c, 2)"])
def test_constructors_called_from_python_are_numpys(expression):
    """An object-mode block or the python target reaching these names gets numpy's result."""
    _, python = _compiled_and_python(expression)
    namespace = {"np": np}
    exec(f"def f(p, c, n):\n    return {expression}", namespace)
    got, want = python(*_arguments()), namespace["f"](*_arguments())
    assert type(got) is type(want) and np.array_equal(got, want)
    if isinstance(want, np.ndarray):
        assert got.dtype == want.dtype


def test_python_callers_get_every_numpy_option():
    assert numpy_for_numba.zeros((2, 3), order="F").flags.f_contiguous
    assert numpy_for_numba.sum(np.ones((2, 3)), axis=0, keepdims=True).shape == (1, 3)


def test_other_names_are_numpys():
    assert numpy_for_numba.exp is np.exp and numpy_for_numba.float64 is np.float64
    assert numpy_for_numba.linalg is np.linalg and numpy_for_numba.newaxis is None


@pytest.mark.parametrize("expression", ["np.zeros(n, dtype=bool)", "np.zeros(n, int)", "np.full(n, p)"])
def test_forms_numba_rejects_are_rejected(expression):
    """numba's own constructors reject a builtin bool or int dtype and an array fill value:
    so do these, with numba's typing error."""
    compiled, _ = _compiled_and_python(expression)
    namespace = {"np": np}
    exec(f"def f(p, c, n):\n    return {expression}", namespace)
    with pytest.raises(numba.core.errors.TypingError):
        numba.njit(namespace["f"])(*_arguments())
    with pytest.raises(numba.core.errors.TypingError):
        compiled(*_arguments())


@pytest.mark.parametrize("expression, error, message", [
    ("np.expand_dims(p, n)", IndexError, "axis"),                  # numba's own, as numba's
    ("np.swapaxes(c, 0, n)", IndexError, "axis"),
    ("np.sum(c, n)", getattr(np, "exceptions", np).AxisError, "axis"),   # numpy's (numba's formats it)
    ("np.zeros(n - 5)", ValueError, "negative dimensions"),
])
def test_bad_arguments_raise_as_numba_or_numpy_do(expression, error, message):
    compiled, _ = _compiled_and_python(expression)
    with pytest.raises(error, match=message):
        compiled(*_arguments())


@pytest.mark.parametrize("expression", ["np.sum(c > 2.0)", "np.sum(c.astype(np.int32), axis=1)",
                                        "np.sum(c.T.astype(np.uint8))"])
def test_integer_and_boolean_sums_compile_no_overload(expression):
    """numba's np.sum of an integer or boolean array is an nditer loop it compiles through its
    whole pipeline (about 0.9 s in a fresh process): lowered in place instead."""
    names = _compiled_in_a_fresh_process(expression)
    assert names and not any("sum" in n for n in names[1:]), names


def _compiled_in_a_fresh_process(expression):
    """What numba compiles for `expression` (of p, c, n) in a process that compiled nothing
    yet: in this one, another test may have compiled an overload already."""
    return compiled_in_a_fresh_process(
        f"from tests.test_numpy_for_numba import _compiled_and_python, _arguments\n"
        f"compiled, _ = _compiled_and_python({expression!r})", "compiled(*_arguments())")


def test_where_of_three_compiles_no_overload_and_other_forms_are_numbas():
    """numba's np.where(c, x, y) is an overload compiled per form (about 1 s in a fresh
    process; the rules of np.max, np.maximum and np.clip call it): the select's ufunc instead.
    np.where(c) alone is numba's own, and a broadcast mismatch is still a ValueError."""
    names = _compiled_in_a_fresh_process("np.where(c > 2.0, c, p[0])")
    assert names and not any("where" in n for n in names), names
    compiled, _ = _compiled_and_python("np.where(c > 2.0, c, p[0])")
    np.testing.assert_array_equal(compiled(*_arguments()), np.where(_arguments()[1] > 2.0, _arguments()[1], 1.0))
    compiled, _ = _compiled_and_python("np.where(c > 2.0)")
    for got, want in zip(compiled(*_arguments()), np.where(_arguments()[1] > 2.0)):
        np.testing.assert_array_equal(got, want)
    compiled, _ = _compiled_and_python("np.where(c > 2.0, c, p)")
    with pytest.raises(ValueError):
        compiled(*_arguments())


def test_cpu_gradient_compiles_no_constructor_overloads():
    """The Lorenz gradient allocates its tapes (np.empty) and its sensitivity (np.zeros): on the
    cpu target numba lowers them in place, compiling none of its overloads (each a compilation
    of its own in a fresh process), and the gradient matches central differences."""
    g = adjoint.grad(lorenz, cache=False)
    source = g.source_for(P0, 20, 0.01)
    assert "np.zeros(" in source and "np.empty(" in source       # the code shown is numpy's
    names = _first_call_compiles("lorenz", "P0, 20, 0.01")
    assert names and not any(n.startswith(("ol_np_zeros", "ol_np_empty")) for n in names), names
    np.testing.assert_allclose(g(P0, 20, 0.01), finite_difference(lorenz, (P0, 20, 0.01), 0), rtol=1e-6)


def _first_call_compiles(function, arguments, wrt=0):
    """What numba compiles for the first cpu gradient of `function` (a name this module has)
    at `arguments` (an expression of its names), in a process that compiled nothing yet."""
    return compiled_in_a_fresh_process(
        f"import adjoint\nfrom tests.test_numpy_for_numba import *\n"
        f"g = adjoint.grad({function}, wrt={wrt!r}, cache=False)", f"g({arguments})")


def test_cpu_gradient_of_a_broadcast_compiles_no_sum_overload():
    """A number added to a vector: its sensitivity is the sum of the vector's (np.sum in the
    reverse sweep), lowered in place on the cpu target."""
    g = adjoint.grad(shifted_loss, wrt=(0, 1), cache=False)
    x = np.linspace(-1.0, 1.0, 5)
    assert "np.sum(" in g.source_for(x, 0.3)
    names = _first_call_compiles("shifted_loss", "np.linspace(-1.0, 1.0, 5), 0.3", wrt=(0, 1))
    assert names and not any(n.startswith("array_sum") for n in names), names
    gx, gb = g(x, 0.3)
    loss = shifted_loss
    np.testing.assert_allclose(gx, finite_difference(loss, (x, 0.3), 0), rtol=1e-6)
    np.testing.assert_allclose(gb, finite_difference(loss, (x, 0.3), 1), rtol=1e-6)


def test_cpu_gradient_of_pairwise_distances_compiles_no_sum_overload():
    """Pairwise squared distances of points (an n-body energy's first line): np.sum along the
    last axis of a rank-3 array, forward and in the reverse sweep's broadcasts, lowered in
    place; the gradient matches central differences."""
    x = np.cos(np.arange(12.0)).reshape(4, 3)
    names = _first_call_compiles("pairwise_energy", "np.cos(np.arange(12.0)).reshape(4, 3)")
    assert names and not any(n.startswith("array_sum") for n in names), names
    got = adjoint.grad(pairwise_energy, cache=False)(x)
    np.testing.assert_allclose(got, finite_difference(pairwise_energy, (x,), 0), rtol=1e-6)


def shifted_loss(x, b):
    return np.sum(np.tanh(x + b) ** 2)


def pairwise_energy(x):
    d = x[:, None, :] - x[None, :, :]
    r2 = np.sum(d * d, axis=-1) + 1.0
    return np.sum(1.0 / r2)


def pooled(X, w):
    scores = np.tanh(X * w)
    top = np.max(scores, axis=1)
    return np.sum(top * top) + np.sum(np.maximum(scores, 0.1) * (X == np.max(X)))


POOLED_ARGUMENTS = (np.cos(np.arange(15.0) * 1.3).reshape(5, 3), np.array([0.7, -1.1, 1.6]))


def test_cpu_gradient_of_row_maxima_compiles_no_where_overload():
    """The largest entry of each row (a log-sum-exp's shift, a max-pooling layer): its rule
    selects with np.where between broadcast operands, numba's ufunc of a one-element select
    here instead of numba's np.where (about 1 s in a fresh process). Against central
    differences, away from ties; the entries equal to their row's maximum count too."""
    X, w = POOLED_ARGUMENTS
    g = adjoint.grad(pooled, wrt=(0, 1), cache=False)
    assert "np.where(" in g.source_for(X, w)
    names = compiled_in_a_fresh_process(
        "import adjoint\nfrom tests.test_numpy_for_numba import pooled, POOLED_ARGUMENTS\n"
        "g = adjoint.grad(pooled, wrt=(0, 1), cache=False)", "g(*POOLED_ARGUMENTS)")
    assert names and not any("where" in n for n in names), names
    for index, value in enumerate(g(X, w)):
        np.testing.assert_allclose(value, finite_difference(pooled, (X, w), index), rtol=1e-6, atol=1e-9)


def test_parallel_compilation_keeps_numpy():
    """numba's parallel transform recognizes numpy's calls by their module: a parallel compile
    sees numpy itself (and its gradient is still right)."""
    def energy(x):
        return np.sum(np.zeros(x.shape) + x * x)

    g = adjoint.grad(energy, jit_options={"parallel": True}, cache=False)
    x = np.linspace(0.0, 1.0, 5)
    np.testing.assert_allclose(g(x), 2 * x, rtol=1e-12)
    assert g.adjoint.py_func.__globals__["np"] is np
