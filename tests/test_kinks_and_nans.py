"""Kinks, ties and NaN in the derivative rules (issue #15, items 3 and 5).

Conventions under test (README, "Kinks and ties"):
  * a reduction's max/min splits the sensitivity equally among tied elements (JAX, autograd);
  * binary max/min (builtin, np.maximum/minimum/fmax/fmin) give 0.5 to each operand at a tie,
    and np.clip is np.minimum(np.maximum(x, low), high) with those ties; abs'(0) = 0;
  * sqrt, log, asin, ... at the edge of their domain: the one-sided derivative (inf);
  * outside it, or where an operand is nan: the value is nan, and so is the gradient along
    the operand that made it nan.
Oracles: hand-derived subgradients (each checked to lie in the subdifferential: the partials
along a direction that keeps the tie sum to its one-sided derivative), autograd where it has
the same convention, finite differences away from the kinks. Every check runs on both targets,
in reverse and forward mode.
"""

from __future__ import annotations

import math
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import adjoint
from tests.conftest import finite_difference, needs_cuda
from tests.realistic_go import griewank_fun

NAN = math.nan


_GRADIENTS: dict = {}


def gradient(fn, args, target, mode, wrt=None):
    """(value, gradient tuple) of fn at args, numpy's warnings about nan silenced; each
    gradient function is built once (numba compiles it once per argument types)."""
    wrt = tuple(range(len(args))) if wrt is None else wrt
    key = (fn, wrt, target, mode)
    if key not in _GRADIENTS:
        _GRADIENTS[key] = adjoint.grad(fn, wrt=wrt, target=target, mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = _GRADIENTS[key](*args)
        value = fn(*args)
    return value, (g if isinstance(g, tuple) else (g,))


modes = pytest.mark.parametrize("mode", ["reverse", "forward"])


# --- reductions at ties ---------------------------------------------------------------------

def every_whole_form(x):
    """Each spelling with its own weight: a form that mishandles ties changes the sum."""
    return np.max(x) + 2.0 * np.min(x) + 4.0 * np.amax(x) + 8.0 * np.amin(x) + 16.0 * x.max() + 32.0 * x.min()


def split(x, reference, axis=None):
    """The hand-derived subgradient: 1 / (number of tied extrema) on each of them, 0 elsewhere."""
    tied = (x == reference(x, axis=axis, keepdims=True)).astype(float)
    return tied / tied.sum(axis=axis, keepdims=True)


@modes
def test_whole_reductions_split_ties_equally(target, mode):
    x = np.array([1.0, 0.0, 1.0, 0.0, 0.5, 0.0])
    value, (g,) = gradient(every_whole_form, (x,), target, mode)
    assert value == 21.0
    np.testing.assert_allclose(g, 21.0 * split(x, np.max) + 42.0 * split(x, np.min), rtol=1e-15)
    np.testing.assert_allclose(split(x, np.max), autograd.grad(anp.max)(x), rtol=1e-15)   # autograd splits too
    assert split(x, np.min).sum() == 1.0        # d/dt min(x + t * ones) = 1: a subgradient


@modes
def test_whole_reduction_away_from_ties_matches_finite_differences(target, mode):
    x = np.array([0.3, -1.2, 0.9, 0.1])
    _, (g,) = gradient(every_whole_form, (x,), target, mode)
    np.testing.assert_allclose(g, finite_difference(every_whole_form, (x,), 0), atol=1e-8)


def every_axis_form(x, w):
    return (np.sum(np.max(x, axis=0) * w) + 2.0 * np.sum(np.amax(x, axis=-1) * w)
            + 4.0 * np.sum(x.min(axis=-2) * w) + 8.0 * np.sum(np.amin(x, axis=1) * w))


AXIS_FORMS = [(1.0, np.max, 0), (2.0, np.max, -1), (4.0, np.min, -2), (8.0, np.min, 1)]


@modes
def test_axis_reductions_of_a_matrix_split_ties_equally(target, mode):
    x = np.array([[2.0, 2.0, 0.0],
                  [1.0, 2.0, 3.0],
                  [0.5, 2.0, 0.5]])          # ties along both axes, for max and for min
    w = np.array([1.0, -2.0, 0.5])
    value, (g,) = gradient(every_axis_form, (x, w), target, mode, wrt=0)
    assert value == pytest.approx(sum(c * np.sum(f(x, axis=a) * w) for c, f, a in AXIS_FORMS), rel=1e-15)
    expected = sum(c * split(x, f, a) * np.expand_dims(w, a) for c, f, a in AXIS_FORMS)
    np.testing.assert_allclose(g, expected, rtol=1e-15)
    twin = autograd.grad(lambda v: anp.sum(anp.max(v, axis=-2) * w) + anp.sum(anp.min(v, axis=1) * w))
    np.testing.assert_allclose(split(x, np.max, -2) * w + split(x, np.min, 1) * w[:, None], twin(x),
                               rtol=1e-15)    # the hand derivation is autograd's convention


@modes
def test_axis_reductions_away_from_ties_match_finite_differences(target, mode):
    x = np.random.default_rng(3).normal(size=(3, 3))
    w = np.array([1.0, -2.0, 0.5])
    _, (g,) = gradient(every_axis_form, (x, w), target, mode, wrt=0)
    np.testing.assert_allclose(g, finite_difference(every_axis_form, (x, w), 0), rtol=1e-7, atol=1e-6)


def vector_max_axis_0(x):
    return np.max(x, axis=0)


def vector_min_axis_minus_1(x):
    return np.min(x, axis=-1)


@modes
@pytest.mark.parametrize("fn, reference", [(vector_max_axis_0, np.max), (vector_min_axis_minus_1, np.min)],
                         ids=["max_axis_0", "min_axis_minus_1"])
def test_axis_reduction_of_a_vector(fn, reference, target, mode):
    x = np.array([2.0, -1.0, 2.0, 0.0, -1.0])
    value, (g,) = gradient(fn, (x,), target, mode)
    assert value == reference(x)
    np.testing.assert_allclose(g, split(x, reference), rtol=1e-15)


def max_axis_out_of_range(x):
    return np.sum(np.max(x, axis=2)) + x[0, 0]


def max_of_a_rank_3_array(x):
    return np.sum(np.max(x, axis=0)) + x[0, 0, 0]


def max_axis_3_out_of_range(x):
    return np.sum(np.max(x, axis=-4)) + x[0, 0, 0]


def test_axis_out_of_range_is_an_error_and_rank_3_splits_ties(target):
    """numpy raises for axis=2 of a matrix (the helper reduced along axis 1 instead) and for
    axis=-4 of a rank-3 array; a rank-3 reduction along an axis (once a raw KeyError, then
    rejected) splits g equally among each slice's tied maxima, as the rank-2 one."""
    with pytest.raises(adjoint.AdjointError, match="axis is out of bounds"):
        adjoint.grad(max_axis_out_of_range, target=target)(np.ones((2, 3)))
    with pytest.raises(adjoint.AdjointError, match="axis is out of bounds"):
        adjoint.grad(max_axis_3_out_of_range, target=target)(np.ones((2, 2, 2)))
    x = np.array([[[1.0, 3.0], [2.0, 3.0]], [[1.0, 0.0], [1.0, -1.0]]])
    want = np.array([[[0.5, 1.0], [1.0, 1.0]], [[0.5, 0.0], [0.0, 0.0]]])
    want[0, 0, 0] += 1.0
    np.testing.assert_array_equal(adjoint.grad(max_of_a_rank_3_array, target=target)(x), want)


# --- binary max and min, abs, clip ----------------------------------------------------------

def builtin_max(a, b):
    return max(a, b)


def builtin_min(a, b):
    return min(a, b)


def np_maximum(a, b):
    return np.maximum(a, b)


def np_minimum(a, b):
    return np.minimum(a, b)


def np_fmax(a, b):
    return np.fmax(a, b)


def np_fmin(a, b):
    return np.fmin(a, b)


BINARY = [builtin_max, builtin_min, np_maximum, np_minimum, np_fmax, np_fmin]


@modes
@pytest.mark.parametrize("fn", BINARY, ids=[f.__name__ for f in BINARY])
def test_binary_extremum_splits_a_tie_equally(fn, target, mode):
    value, g = gradient(fn, (1.5, 1.5), target, mode)
    assert value == 1.5
    assert g == (0.5, 0.5)                    # autograd and JAX: 0.5 each as well
    if fn in (np_maximum, np_minimum):
        assert tuple(autograd.grad(getattr(anp, fn.__name__[3:]), k)(1.5, 1.5) for k in (0, 1)) == g
    _, g = gradient(fn, (1.5, -0.5), target, mode)     # away from the tie: one operand wins
    assert g == ((1.0, 0.0) if "max" in fn.__name__ else (0.0, 1.0))


def max_axis_0(x, w):
    return np.sum(np.max(x, axis=0) * w)


def maximum_of_arrays(a, b):
    return np.sum(np.maximum(a, b) * np.array([1.0, 2.0, 3.0]))


def minimum_of_arrays(a, b):
    return np.sum(np.minimum(a, b) * np.array([1.0, 2.0, 3.0]))


@modes
@pytest.mark.parametrize("fn", [maximum_of_arrays, minimum_of_arrays], ids=["maximum", "minimum"])
def test_elementwise_extremum_of_arrays_at_a_tie(fn, target, mode):
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0])
    _, (ga, gb) = gradient(fn, (a, b), target, mode)
    if fn is maximum_of_arrays:
        np.testing.assert_array_equal(ga, [0.5, 2.0, 0.0])
        np.testing.assert_array_equal(gb, [0.5, 0.0, 3.0])
    else:
        np.testing.assert_array_equal(ga, [0.5, 0.0, 3.0])
        np.testing.assert_array_equal(gb, [0.5, 2.0, 0.0])


def absolute(x):
    return abs(x)


def np_absolute(x):
    return np.sum(np.abs(x))


def abs_as_max(x):
    return max(x, -x)


@modes
def test_abs_at_zero_is_zero_like_max_of_x_and_minus_x(target, mode):
    assert gradient(absolute, (0.0,), target, mode)[1] == (0.0,)
    assert gradient(abs_as_max, (0.0,), target, mode)[1] == (0.0,)      # the same kink, spelled out
    assert autograd.grad(anp.abs)(0.0) == 0.0
    _, (g,) = gradient(np_absolute, (np.array([-2.0, 0.0, 3.0]),), target, mode)
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


def clipped(x, low, high):
    return np.sum(np.clip(x, low, high) * np.array([1.0, 2.0, 3.0, 4.0, 5.0]))


@modes
def test_clip_splits_each_bound_tie_like_minimum_of_maximum(target, mode):
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])         # below, at low, inside, at high, above
    _, (gx, glow, ghigh) = gradient(clipped, (x, 0.0, 1.0), target, mode)
    np.testing.assert_array_equal(gx, [0.0, 1.0, 3.0, 2.0, 0.0])
    assert (glow, ghigh) == (1.0 + 1.0, 2.0 + 5.0)

    def twin(x, low, high):                          # np.clip's definition, in autograd
        return anp.sum(anp.minimum(anp.maximum(x, low), high) * np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    expected = tuple(autograd.grad(twin, k)(x, 0.0, 1.0) for k in range(3))
    np.testing.assert_array_equal(gx, expected[0])
    assert (glow, ghigh) == (expected[1], expected[2])


def one_sided_clips(x):
    """np.clip with one bound None (np.minimum / np.maximum), by position, name and method."""
    return np.sum(np.clip(x, None, 1.0) * np.array([1.0, 2.0, 3.0, 4.0, 5.0])) \
        + np.sum(x.clip(min=0.0) * np.array([10.0, 20.0, 30.0, 40.0, 50.0]))


@modes
def test_a_one_sided_clip_splits_its_bound_tie_like_minimum(target, mode):
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    _, (g,) = gradient(one_sided_clips, (x,), target, mode)
    np.testing.assert_array_equal(g, [1.0 + 0.0, 2.0 + 10.0, 3.0 + 30.0, 2.0 + 40.0, 0.0 + 50.0])


# --- products through zeros, the norm at 0 ----------------------------------------------------

def products(x):
    """A product with one zero factor, one with two, and one along an axis of each kind."""
    M = np.reshape(x[:6], (3, 2))
    return np.prod(x[:3]) + np.prod(x * 2.0) + np.sum(np.prod(M, axis=0) * np.array([1.0, 3.0])) + x.prod()


def norms(x):
    return np.linalg.norm(x - x[0]) + np.sum(np.linalg.norm(np.reshape(x[:6], (2, 3)) * x[0], axis=1))


@modes
def test_products_with_zero_factors_are_the_products_of_the_others(target, mode):
    """d prod / d x_i is the product of the other factors (multilinear, so central differences
    are exact), where out / x_i would be nan; with two zeros every partial is 0."""
    for x in (np.array([2.0, 0.0, 3.0, 1.5, 0.5, -2.0, 1.0]),       # one zero
              np.array([0.0, 2.0, 0.0, 1.5, 0.5, -2.0, 1.0]),       # two: in x[:3], and in a column
              np.array([0.5, 2.0, 1.0, 1.5, 0.5, -2.0, 1.0])):      # none
        _, (g,) = gradient(products, (x,), target, mode)
        np.testing.assert_allclose(g, finite_difference(products, (x,), 0), rtol=1e-9, atol=1e-9)


WEIGHTS_6 = np.arange(1.0, 7.0)


def running_products(x):
    """np.cumprod of the flattened array and along each axis of a matrix."""
    M = np.reshape(x, (2, 3))
    return np.sum(np.cumprod(x) * WEIGHTS_6) + np.sum(np.cumprod(M, axis=1) * np.reshape(WEIGHTS_6, (2, 3))) \
        + np.sum(np.cumprod(M, 0) ** 2)


def all_products(x):
    """np.prod whole and along both axes, one of them squared (second derivatives on the diagonal)."""
    M = np.reshape(x, (3, 2))
    return np.prod(x) + np.sum(np.prod(M, axis=0) * np.array([1.0, 3.0])) + np.sum(np.prod(M, 1) ** 2)


ZERO_FACTORS = (np.array([2.0, 0.0, 3.0, 1.5, 0.5, -2.0]),      # one zero
                np.array([0.0, 2.0, 0.0, 1.5, 0.5, -2.0]),      # two, in one row of the matrix
                np.array([1.0, 2.0, 3.0, 0.0, 0.5, 0.0]),       # two, the last a running product's last
                np.array([0.0, 2.0, 0.0, 0.0, 0.5, 0.0]),       # four
                np.array([0.5, 2.0, 1.0, 1.5, 0.5, -2.0]))      # none


@modes
def test_running_products_through_zero_factors(target, mode):
    """d cumprod(x)[j] / d x_i is the product of the other factors up to j: at a zero factor
    that is no division by it (the rule gave nan there before). The functions are polynomials
    of degree 1 or 2 in each element, so central differences are exact up to rounding."""
    for x in ZERO_FACTORS:
        _, (g,) = gradient(running_products, (x,), target, mode)
        np.testing.assert_allclose(g, finite_difference(running_products, (x,), 0), rtol=1e-7, atol=1e-7)


def _hessian_by_differences(fn, x, h=1e-3):
    """Central second differences of fn itself, exact (up to rounding) for polynomials of degree
    at most 2 in each element, as the products here are."""
    n = x.size
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (fn(x + e_i + e_j) - fn(x + e_i - e_j) - fn(x - e_i + e_j) + fn(x - e_i - e_j)) / (4 * h * h)
    return H


@pytest.mark.parametrize("fn", [running_products, all_products], ids=["cumprod", "prod"])
def test_second_derivatives_of_products_through_zero_factors(fn):
    """The partials' own derivatives hold at zero factors: the product of the others does not
    move with the zero itself, and moves along a second zero (np.prod's rule moved with the
    zero before, a wrong Hessian-vector product with one zero factor)."""
    v = np.array([0.3, -1.0, 0.7, 0.2, 1.1, -0.4])
    hvp = adjoint.hvp(fn, target="python")
    for x in ZERO_FACTORS:
        np.testing.assert_allclose(hvp(x, v), _hessian_by_differences(fn, x) @ v, rtol=1e-7, atol=1e-7)


def test_the_hessian_of_a_product_with_a_factor_near_zero(target):
    """scipy's Griewank benchmark, `prod(cos(x / sqrt(i)))`, where one cosine is 6e-17 (not 0):
    the derivative of product / x_i cancelled there (the quotient rule), a wrong Hessian-vector
    product without a word; the partials of a product divide by nothing now (of the whole
    array, along a vector's axis and along either axis of a matrix)."""
    x = np.array([0.3, -1.2, np.pi / 2 * np.sqrt(3.0), 2.0])
    v = np.array([0.5, -0.2, 1.0, 0.3])
    expected = _hessian_by_differences(griewank_fun, x, h=1e-4) @ v
    np.testing.assert_allclose(adjoint.hvp(griewank_fun, target=target)(x, v), expected, rtol=1e-5, atol=1e-6)
    x = np.array([0.3, -1.2, np.pi / 2 * np.sqrt(3.0), 2.0, 0.4, 0.1])        # along each axis too
    v = np.array([0.5, -0.2, 1.0, 0.3, -0.7, 0.2])
    expected = _hessian_by_differences(cosine_products, x, h=1e-4) @ v
    np.testing.assert_allclose(adjoint.hvp(cosine_products, target=target)(x, v), expected, rtol=1e-5, atol=1e-6)


def test_the_hessian_of_running_products_with_a_factor_near_zero(target):
    """np.cumprod's partial of a non-zero factor was the backward running sum of g * out, / x_i:
    near a zero factor (a cosine of 6e-17) its derivative cancelled, and the Hessian-vector
    product was off by 1.5 without a word. So was np.prod's along an axis of a rank-3 array
    (product / x_i). Both are recurrences without division now."""
    x = np.array([0.3, -1.2, np.pi / 2 * np.sqrt(3.0), 2.0, 0.4, 0.1, -0.8, 1.3])
    v = np.array([0.5, -0.2, 1.0, 0.3, -0.7, 0.2, 0.9, -0.4])
    expected = _hessian_by_differences(cosine_running_products, x, h=1e-4) @ v
    np.testing.assert_allclose(adjoint.hvp(cosine_running_products, target=target)(x, v), expected,
                               rtol=1e-5, atol=1e-6)


ROOTS = np.sqrt(np.arange(1.0, 7.0)).reshape(3, 2)
ROOTS_8 = np.sqrt(np.arange(1.0, 9.0))


def cosine_running_products(x):
    """Running products of Griewank's cosines, flattened and along each axis of a matrix, and
    their product along the middle axis of a rank-3 array."""
    C = np.cos(x / ROOTS_8)
    W = np.reshape(np.arange(1.0, 9.0), (2, 4))
    return np.sum(np.cumprod(C) * np.arange(1.0, 9.0)) + np.sum(np.cumprod(np.reshape(C, (2, 4)), axis=1) * W) \
        + np.sum(np.cumprod(np.reshape(C, (4, 2)), 0) ** 2) + np.sum(np.prod(np.reshape(C, (2, 2, 2)), axis=1) ** 2)


def cosine_products(x):
    """Griewank's product of cosines along each axis of a matrix and along a vector's one axis."""
    X = np.reshape(x, (3, 2))
    return np.sum(np.prod(np.cos(X / ROOTS), axis=1) * np.array([1.0, 2.0, 3.0])) \
        + np.sum(np.prod(np.cos(X / ROOTS), 0) ** 2) + np.prod(np.cos(x[:3]), axis=0)


@modes
def test_the_norm_at_zero_has_the_least_subgradient(target, mode):
    """At x = 0 the norm's subdifferential is the unit ball: 0, its least element (abs'(0) = 0),
    which central differences give too; elsewhere x / norm."""
    for x in (np.ones(6), np.array([1.0, 1.0, 1.0, 1.0, 2.0, 0.5])):    # x - x[0] = 0, then not
        _, (g,) = gradient(norms, (x,), target, mode)
        np.testing.assert_allclose(g, finite_difference(norms, (x,), 0), rtol=1e-7, atol=1e-7)
    zero = np.zeros(6)
    _, (g,) = gradient(norms, (zero,), target, mode)
    np.testing.assert_array_equal(g, np.zeros(6))


# --- nan from an operand --------------------------------------------------------------------

@modes
def test_max_of_an_array_with_nan_has_a_nan_gradient(target, mode):
    x = np.array([1.0, NAN, 2.0])
    value, (g,) = gradient(every_whole_form, (x,), target, mode)
    assert math.isnan(value)
    assert np.isnan(g).all()                     # JAX's rule: nan everywhere (0 / 0 ties)
    value, (g,) = gradient(max_axis_0, (np.array([[1.0, NAN], [0.0, 2.0]]), np.ones(2)), target, mode, wrt=0)
    assert math.isnan(value)
    assert np.isnan(g[:, 1]).all() and list(g[:, 0]) == [1.0, 0.0]    # only the column with nan


@modes
@pytest.mark.parametrize("fn", BINARY, ids=[f.__name__ for f in BINARY])
def test_binary_extremum_with_a_nan_operand(fn, target, mode):
    for args in ((NAN, 1.0), (1.0, NAN)):
        value, g = gradient(fn, args, target, mode)
        if math.isnan(value):                    # the nan operand made the value nan
            assert [math.isnan(p) for p in g] == [math.isnan(a) for a in args]
            assert [p for p, a in zip(g, args) if not math.isnan(a)] == [0.0]
        else:                                    # fmax, fmin, builtin max(1.0, nan): nan ignored
            assert value == 1.0
            assert list(g) == [0.0 if math.isnan(a) else 1.0 for a in args]


@modes
def test_abs_and_clip_of_nan(target, mode):
    assert math.isnan(gradient(absolute, (NAN,), target, mode)[1][0])
    _, (gx, _, _) = gradient(clipped, (np.array([NAN, 0.5, 0.5, 0.5, 0.5]), 0.0, 1.0), target, mode)
    assert math.isnan(gx[0]) and list(gx[1:]) == [2.0, 3.0, 4.0, 5.0]


def np_log(x):
    return np.log(x)


def np_log10(x):
    return np.log10(x)


def np_log2(x):
    return np.log2(x)


def np_log1p(x):
    return np.log1p(x)


def np_sqrt(x):
    return np.sqrt(x)


def np_arcsin(x):
    return np.arcsin(x)


def np_arccos(x):
    return np.arccos(x)


def math_log(x):
    return math.log(x)


def math_sqrt(x):
    return math.sqrt(x)


def math_asin(x):
    return math.asin(x)


def power(x, y):
    return x ** y


def summed_log(x):
    return np.sum(np.log(x) * np.array([1.0, 2.0, 3.0]))


def summed_sqrt(x):
    return np.sum(np.sqrt(x) * np.array([1.0, 2.0, 3.0]))


def summed_arccos(x):
    return np.sum(np.arccos(x) * np.array([1.0, 2.0, 3.0]))


# (function, a point outside the domain, a point on its edge, the one-sided derivative there)
DOMAIN = [(np_log, -1.0, 0.0, math.inf), (np_log10, -1.0, 0.0, math.inf), (np_log2, -1.0, 0.0, math.inf),
          (np_log1p, -2.0, -1.0, math.inf), (np_sqrt, -1.0, 0.0, math.inf),
          (np_arcsin, 1.5, 1.0, math.inf), (np_arccos, -1.5, -1.0, -math.inf)]


@modes
@pytest.mark.parametrize("fn, outside, edge, slope", DOMAIN, ids=[d[0].__name__ for d in DOMAIN])
def test_outside_the_domain_the_gradient_is_nan_and_on_its_edge_infinite(fn, outside, edge, slope, target, mode):
    value, (g,) = gradient(fn, (outside,), target, mode)
    assert math.isnan(value) and math.isnan(g)
    _, (g,) = gradient(fn, (edge,), target, mode)
    assert g == slope
    _, (g,) = gradient(fn, (0.5,), target, mode)
    assert g == pytest.approx(finite_difference(fn, (0.5,), 0), rel=1e-7)


@modes
@pytest.mark.parametrize("fn, outside, edge, slope",
                         [(summed_log, -1.0, 0.0, math.inf), (summed_sqrt, -1.0, 0.0, math.inf),
                          (summed_arccos, -1.5, -1.0, -math.inf)], ids=["log", "sqrt", "arccos"])
def test_outside_the_domain_elementwise(fn, outside, edge, slope, target, mode):
    """Only the element outside the domain gets nan, in forward mode too (where the other
    elements are seeded, its tangent is 0, and 0 wins over its nan partial)."""
    x = np.array([outside, 0.5, 0.8])
    value, (g,) = gradient(fn, (x,), target, mode)
    assert math.isnan(value) and math.isnan(g[0])
    np.testing.assert_allclose(g[1:], finite_difference(fn, (np.array([0.1, 0.5, 0.8]),), 0)[1:], rtol=1e-7)
    if mode == "reverse":       # forward mode: inf (the edge's partial) times a 0 tangent is nan
        _, (g,) = gradient(fn, (np.array([edge, 0.5, 0.8]),), target, mode)
        assert g[0] == slope and np.isfinite(g[1:]).all()


@modes
@pytest.mark.parametrize("fn, outside, edge, slope",
                         [(math_log, -1.0, 0.0, math.inf), (math_sqrt, -1.0, 0.0, math.inf),
                          (math_asin, 1.5, 1.0, math.inf)], ids=["log", "sqrt", "asin"])
def test_math_functions_outside_the_domain(fn, outside, edge, slope, target, mode):
    """math.* raises ValueError outside its domain in Python, and returns nan under numba:
    each target's gradient follows its own value (an error, or nan)."""
    if target == "python":
        with pytest.raises(adjoint.AdjointError, match="math domain error"):
            gradient(fn, (outside,), target, mode)
    else:
        g = adjoint.grad(fn, target=target, mode=mode)(outside)
        assert math.isnan(g)
    if fn is not math_log:                       # math.log(0.0) raises in Python
        assert gradient(fn, (edge,), target, mode)[1] == (slope,)


@modes
def test_power_of_a_negative_base(target, mode):
    if target == "cpu":        # (Python's own float power is complex there, on the python target)
        value, (gx, gy) = gradient(power, (-2.0, 0.5), target, mode)
        assert math.isnan(adjoint.value_and_grad(power, (0, 1), target=target)(-2.0, 0.5)[0])
        assert math.isnan(gx) and math.isnan(gy)
    # an integer exponent: the value and d/dx are finite, d/dy (log of a negative) is not
    value, (gx, gy) = gradient(power, (-2.0, 3.0), target, mode)
    assert value == -8.0 and gx == 12.0 and math.isnan(gy)
    value, (gx, gy) = gradient(power, (0.0, 2.0), target, mode)       # 0 ** y for y > 0: flat in y
    assert value == 0.0 and gx == 0.0 and gy == 0.0


def masked_log(x):
    return np.sum(np.where(x > 0.0, np.log(x), 0.0))


@modes
def test_nan_from_a_lane_np_where_discards_stays_out_of_the_gradient(target, mode):
    """np.where(x > 0, np.log(x), 0.0): the nan of log(-1) never reaches the value, so
    the gradient there is 0, not nan. (At x = 0 it is nan: inf * 0, as in JAX.)"""
    _, (g,) = gradient(masked_log, (np.array([-1.0, 2.0, -3.0]),), target, mode)
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.0])


def guarded_everywhere(x):
    return (np.sum(np.log(x) * x) + np.sum(np.sqrt(x)) + np.max(x) + math.log(x[0]) * x[1]
            + abs(x[0] - x[1]) + max(x[0], x[1]))


def test_second_derivatives_through_the_guarded_rules(target):
    """hessian differentiates the emitted gradient, whose guarded partials call np.divide
    and np.logical_or (without their rules: 'no derivative rule for np.divide')."""
    x = np.array([0.7, 1.3])
    twin = autograd.hessian(lambda v: anp.sum(anp.log(v) * v) + anp.sum(anp.sqrt(v)) + anp.max(v)
                            + anp.log(v[0]) * v[1] + anp.abs(v[0] - v[1]) + anp.maximum(v[0], v[1]))
    np.testing.assert_allclose(adjoint.hessian(guarded_everywhere, target=target)(x), twin(x), rtol=1e-12)


# --- the cuda target (forward mode; numba's simulator in CI) ---------------------------------

def kinks_together(a, b):
    return max(a, b) + 2.0 * abs(a - b) + 4.0 * math.sqrt(a - b + 1.5) + 8.0 * np.minimum(a, b)


@pytest.mark.slow
@needs_cuda
def test_kinks_in_forward_mode_on_cuda():
    """The device code inlines the same scalar rules: ties split, abs'(0) = 0, and a nan
    operand's partial is nan while the other's stays finite."""
    g = adjoint.grad(kinks_together, (0, 1), target="cuda", mode="forward")
    slope = 2.0 / math.sqrt(1.5)                                  # 4 d/du sqrt(u) at u = 1.5
    assert g(1.5, 1.5) == pytest.approx((0.5 + 0.0 + slope + 4.0, 0.5 - 0.0 - slope + 4.0), rel=1e-15)
    # (sqrt at 0: device code divides by 0, which is inf on a GPU (NumPy's error model) but
    # raises under the simulator, which runs Python's)
    assert adjoint.grad(builtin_max, (0, 1), target="cuda", mode="forward")(NAN, 1.0)[1] == 0.0
    assert math.isnan(adjoint.grad(builtin_max, (0, 1), target="cuda", mode="forward")(NAN, 1.0)[0])


def every_guard(x, y, p):
    return np.sum(np.abs(x) * y + np.log(y) + np.sqrt(y) + np.arcsin(x / 4.0) + np.clip(x, -1.0, 1.0)
                  + np.maximum(x, y) + y ** p + np.max(x))


def test_guards_stay_silent_on_valid_input_on_the_python_target():
    # the nan guards are fused as a * (c / c); a condition false on valid input (abs's
    # `x == 0`) made numpy warn "invalid value encountered in divide" on every call
    x = np.array([1.5, -2.0, 0.0, 0.5])
    y = np.array([0.5, 2.0, 1.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = adjoint.grad(every_guard, wrt=(0, 1, 2), target="python")(x, y, 1.7)
    for k, g in enumerate(got):
        moved = [x, y, 1.7]
        if k == 2:
            want = (every_guard(x, y, 1.7 + 1e-6) - every_guard(x, y, 1.7 - 1e-6)) / 2e-6
            assert g == pytest.approx(want, rel=1e-6)
            continue
        base = moved[k]
        for i in range(base.size):
            if k == 0 and x[i] == 0.0:
                continue                          # abs's kink: finite differences are no oracle
            e = np.zeros_like(base)
            e[i] = 1e-6
            up, down = list(moved), list(moved)
            up[k], down[k] = base + e, base - e
            want = (every_guard(*up) - every_guard(*down)) / 2e-6
            assert g[i] == pytest.approx(want, rel=1e-5, abs=1e-7)


def extrema_of_arrays_with_nan(a, b, c):
    w = np.array([1.0, 2.0, 0.0, 3.0, 4.0, 5.0])         # a zero weight: that lane's g is 0
    return np.sum((np.maximum(a, b) + 2.0 * np.minimum(a, c) + 4.0 * np.fmax(b, a)
                   + 8.0 * np.fmin(a, 1.0)) * w)


@modes
def test_elementwise_extrema_of_arrays_with_ties_and_nan(target, mode):
    # the vjp of arrays (one fused product) gives the scalar rule's partials lane by lane:
    # 0.5 at a tie, nan to a nan operand where it is the result, 0 where g is 0
    a = np.array([1.0, NAN, 2.0, NAN, 3.0, 0.5])
    b = np.array([1.0, 2.0, NAN, 1.0, -1.0, NAN])
    c = 3.0
    _, (ga, gb, gc) = gradient(extrema_of_arrays_with_nan, (a, b, c), target, mode)

    def scalar_partials(x, y, f):                     # the scalar rule: builtin-like selections
        out = f(x, y)
        if out == x:
            return (0.5 if out == y else 1.0), (0.5 if out == x and out == y else 0.0)
        return (0.0 if out == y or x == x else NAN), (1.0 if out == y else 0.0 if y == y else NAN)
    w = [1.0, 2.0, 0.0, 3.0, 4.0, 5.0]
    want_a, want_b, want_c = [], [], 0.0
    for i in range(6):
        pa, pb = scalar_partials(a[i], b[i], np.maximum)
        qa, qc = scalar_partials(a[i], c, np.minimum)
        rb, ra = scalar_partials(b[i], a[i], np.fmax)
        sa, _ = scalar_partials(a[i], 1.0, np.fmin)
        if w[i] == 0.0:      # reverse mode: a zero g wins over a nan partial (forward mode:
            want_a.append(0.0 if mode == "reverse" else ga[i])    # the tangent is 1, then times 0)
            want_b.append(0.0 if mode == "reverse" else gb[i])
            continue
        want_a.append(w[i] * (pa + 2.0 * qa + 4.0 * ra + 8.0 * sa))
        want_b.append(w[i] * (pb + 4.0 * rb))
        want_c += w[i] * 2.0 * qc
    np.testing.assert_array_equal(ga, want_a)
    np.testing.assert_array_equal(gb, want_b)
    assert (math.isnan(gc) and math.isnan(want_c)) or gc == want_c
