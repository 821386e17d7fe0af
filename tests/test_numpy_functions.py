"""The numpy, math and scipy functions numeric code reaches for (issue #17): gradients in both
modes against central differences and, where it has the function, autograd running the same
source; integer results (argsort, astype(int)) carry no derivative; numba's missing forms
(an `axis`, np.polyval, scipy) compile on the cpu target; and the errors for what is left
name the function with its module and a rule that works.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import scipy.special
from scipy.stats import multivariate_normal, norm
from scipy.stats import multivariate_normal as mvn

import adjoint
from adjoint.primitives import rules
from tests.conftest import make_rng, needs_cuda
from tests.oracles import autograd_gradient, finite_difference

KNOTS = np.array([0.0, 0.3, 0.55, 1.0, 1.4])


# the functions, written as users write them --------------------------------------------------

def diff_last(u):
    return np.sum(np.diff(u) ** 2)


def diff_rows(u):
    return np.sum(np.diff(u, axis=0) ** 3) + np.sum(np.sin(np.diff(u, axis=-1)))


def running_sums(x):
    return np.sum(np.cumsum(x) ** 2) + np.sum(np.cos(np.cumsum(x, axis=0))) + np.sum(np.cumsum(x, axis=1) ** 2)


def running_product(x):
    return np.sum(np.cumprod(x) * np.arange(5.0))


def rolled(x):
    return np.sum(x * np.roll(x, 2) * np.sin(x)) + np.sum(np.cos(x - np.roll(x, -1, axis=1)) * np.roll(x, 1, axis=0))


def flipped(x):
    return np.sum(np.flip(x) * np.arange(5.0) * x)


def ranked(x):
    return np.sum(np.sort(x) * np.arange(5.0) ** 2)


def traced(x):
    return np.trace(x @ x.T) + np.trace(x) * np.sum(np.diag(x) ** 2)


def diagonals(x):
    return np.sum(np.diag(x[0]) @ x.T) + np.sum(np.diag(x[1], 1) ** 2) + np.sum(np.diag(x) ** 3)


def triangles(x):
    return np.sum(np.tril(x) ** 2) + np.sum(np.triu(x, 1) * x) + np.sum(np.tril(x, -1) * np.triu(x))


def at_least(x):
    return np.sum(np.atleast_2d(x) ** 2) + np.sum(np.atleast_1d(x[0]) * x[1]) + np.sum(np.atleast_3d(x) * x)


def moments(x):
    return (np.var(x) + np.sum(np.var(x, axis=0) ** 2) + np.sum(np.std(x, axis=1)) + np.std(x)
            + np.var(x[0], axis=0))


def sample_moments(x):
    # numpy's ddof (n - ddof in the denominator), the method spellings, keepdims alongside
    return (np.var(x, ddof=1) + np.sum(np.std(x, axis=0, ddof=1) ** 3) + x.std(ddof=2) * x.var(axis=1)[0]
            + np.sum(x / np.std(x, axis=-1, ddof=1, keepdims=True)) + np.sum(x.var(axis=0, ddof=1)))


def row_norms(x):
    return np.sum(np.linalg.norm(x, axis=1) ** 3) + np.sum(np.linalg.norm(x, axis=0)) + np.linalg.norm(x)


def softplus_pairs(x):
    return np.sum(np.logaddexp(0.0, x) + np.logaddexp(x, 2.0 * x))


def ufunc_spellings(x):
    return np.sum(np.multiply(np.add(x, 1.0), np.subtract(x, 2.0)) + np.square(x)
                  + np.power(x * x + 1.0, 1.5) + np.negative(x) + np.divide(x, 2.0))


def inverse_hyperbolic(x):
    return np.sum(np.arcsinh(x) + np.arctanh(0.4 * x) * np.arccosh(x * x + 1.5) + np.arcsinh(x[0] * x[1]))


def more_ufuncs(x):
    return np.sum(np.exp2(x) + np.logaddexp2(x, 0.5 * x) + np.reciprocal(x * x + 1.0) + np.deg2rad(x) * np.rad2deg(x)
                  + np.radians(x) + np.sinc(x))


def robust_statistics(x):
    # median and range (outlier-robust scale), sums that skip missing values, a repeated design
    return (np.median(x) * np.ptp(x) + np.median(x[:4]) ** 2 + np.nansum(x * x) + np.nanmean(np.sin(x))
            + np.vdot(x, np.repeat(x[:1], 5)) + np.sum(np.repeat(x, 2) * np.arange(10.0)))


def classifier_loss(x):
    # softmax cross-entropy and a logistic model, written with scipy.special
    W = np.reshape(np.concatenate((x, x[::-1], 0.5 * x)), (3, 5))
    logits = W * x - 0.3
    return (np.sum(scipy.special.logsumexp(logits, axis=0) - logits[1]) + np.sum(scipy.special.logsumexp(logits, axis=1))
            + scipy.special.logsumexp(x) - np.sum(np.log(scipy.special.expit(x * x[0])))
            + np.sum(scipy.special.logit(scipy.special.expit(0.5 * x))) + scipy.special.logsumexp(2.0 * x, axis=0))


def cube_root(x):
    return np.sum(np.cbrt(x * x + 1.0) * x)


def kinks(x):
    return np.sum(np.sign(x) * x + np.floor(x) * x + np.ceil(x) * x + np.round(x) * x)


def logs_of_arrays(x):
    return np.sum(np.log1p(x * x) + np.expm1(x))


def special(a):
    return math.erf(a) + math.erfc(0.5 * a) + math.lgamma(a * a + 0.5) + math.gamma(a + 2.0)


def copies(x):
    return np.sum(x.copy() ** 2 + np.copy(x) + np.array(x) * x + x.astype(float) ** 3)


def polynomial(p):
    return np.sum((np.polyval(p, np.linspace(-1.0, 1.0, 7)) - 1.0) ** 2) + np.polyval(p, 0.3)


def polynomial_at(x):
    return np.sum(np.polyval(np.array([1.0, -2.0, 0.5]), x) ** 2)


def interpolated(fp):
    return np.sum(np.interp(np.array([0.05, 0.3, 0.5, 0.99, 1.5, -0.2]), KNOTS, fp) ** 2) \
        + np.interp(0.37, KNOTS, fp) ** 2


def interpolated_at(xq):
    return np.sum(np.interp(xq, KNOTS, np.array([0.0, 1.0, 0.5, 2.0, 1.0])) ** 2)


def interpolated_knots(xp):
    return np.sum(np.interp(np.array([0.05, 0.3, 0.7, 1.9, 3.0]), xp, np.array([0.0, 1.0, 0.5, 2.0, 1.0])) ** 2)


def quadrature(y):
    return np.trapezoid(y * y, np.linspace(0.0, 1.0, 5)) + np.trapezoid(y)


def quadrature_abscissae(x):
    return np.trapezoid(np.sin(x), x)


def spaced(a, b):
    return np.sum(np.sin(np.linspace(a, b, 6)))


def normal_distribution(x):
    return np.sum(norm.cdf(x) * x + norm.pdf(2.0 * x) + norm.logpdf(x))


def normal_of_number(a):
    return norm.cdf(a) * a + norm.pdf(a) - norm.logpdf(0.5 * a)


def normal_located(x, mu, log_sigma):
    # norm.f(x, loc, scale), positional and by keyword (autograd's black_box_svi writes
    # norm.logpdf(mu, 0, np.exp(log_sigma)))
    return np.sum(norm.logpdf(x, mu, np.exp(log_sigma)) + norm.pdf(x, 0.5, scale=2.0)
                  + norm.cdf(x, loc=mu) + norm.logpdf(mu, 0, np.exp(log_sigma)))


def normal_located_number(a, loc, scale):
    return norm.logpdf(a, loc, scale) * norm.cdf(a, loc, scale) + norm.pdf(a, loc=loc, scale=scale)


def special_of_arrays(x):
    return np.sum(scipy.special.erf(x) + scipy.special.erfc(x * x) + scipy.special.gammaln(x * x + 0.5)
                  + scipy.special.gamma(x + 2.0))


def special_of_negatives(x):
    # below zero, between the poles: digamma by the reflection formula
    return np.sum(scipy.special.gammaln(x) * x + scipy.special.gamma(x)) + math.lgamma(x[0]) * math.gamma(x[1])


def integer_results(x):
    # argsort, argmax and astype(int) are piecewise constant: no derivative flows through them
    return (np.sum(x[np.argsort(x)] * np.arange(5.0)) + x[np.argmax(x)] * x[np.argmin(x)]
            + np.sum(x * np.floor(x).astype(np.int64)) + np.sum(x * x.astype(int)))


rng = make_rng("test_numpy_functions")
V, M, S = rng.normal(size=5), rng.normal(size=(3, 4)), rng.normal(size=(4, 4))
POSITIVE_V = np.sort(rng.uniform(0.3, 2.0, size=5))

# (function, arguments, whether autograd has every function it calls)
CASES = [
    (diff_last, (V,), True), (diff_last, (M,), True), (diff_rows, (M,), True), (running_sums, (M,), True),
    (running_product, (POSITIVE_V,), False), (rolled, (M,), True), (flipped, (V,), False), (ranked, (V,), True),
    # autograd's np.trace and np.diag assume square matrices
    (traced, (M,), False), (traced, (S,), True), (diagonals, (M,), False), (diagonals, (S,), True), (triangles, (M,), True), (at_least, (V,), True),
    (moments, (M,), True), (sample_moments, (M,), True), (row_norms, (M,), True), (softplus_pairs, (V,), True), (ufunc_spellings, (V,), True),
    (inverse_hyperbolic, (V,), True), (more_ufuncs, (V,), True), (robust_statistics, (V,), False),
    (classifier_loss, (V,), False), (cube_root, (V,), False),
    (kinks, (V,), True), (logs_of_arrays, (POSITIVE_V,), True), (special, (0.7,), False), (copies, (M,), False),
    (polynomial, (V,), False), (polynomial_at, (V,), False), (interpolated, (V,), False),
    (interpolated_at, (rng.uniform(-0.2, 1.6, size=6),), False),
    (interpolated_knots, (np.array([0.0, 0.5, 1.1, 2.0, 2.4]),), False), (quadrature, (V,), False),
    (quadrature_abscissae, (POSITIVE_V,), False), (spaced, (0.3, 1.7), False), (normal_distribution, (V,), False),
    (normal_of_number, (0.4,), False), (normal_located, (V, V[::-1], 0.3 * V), False),
    (normal_located_number, (0.4, -0.3, 1.3), False), (special_of_arrays, (POSITIVE_V,), False),
    (special_of_negatives, (np.array([-0.5, -1.3, -2.7, -3.25, -10.6, 0.4]),), False), (integer_results, (V,), False),
]
IDS = [f"{f.__name__}-{np.shape(args[0])}" for f, args, _ in CASES]


def _all_wrt(args):
    return tuple(range(len(args)))


@pytest.mark.parametrize("f, args, by_autograd", CASES, ids=IDS)
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_gradient_matches_finite_differences(f, args, by_autograd, mode):
    wrt = _all_wrt(args)
    got = adjoint.grad(f, wrt=wrt, target="python", mode=mode)(*args)
    got = got if isinstance(got, tuple) else (got,)
    for k, g in zip(wrt, got):
        want = finite_difference(f, args, k)
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6 * max(1.0, float(np.max(np.abs(want)))))


AUTOGRAD_CASES = [pytest.param(f, args, id=i) for (f, args, ok), i in zip(CASES, IDS) if ok]


@pytest.mark.parametrize("f, args", AUTOGRAD_CASES)
def test_gradient_matches_autograd(f, args):
    got = adjoint.grad(f, target="python")(*args)
    np.testing.assert_allclose(got, autograd_gradient(f, args, 0), rtol=1e-9, atol=1e-10)


# the emitted gradient is differentiated again (its runtime helpers inlined): forward over reverse
HVP_CASES = [pytest.param(f, args, id=f.__name__) for f, args, _ in CASES
             if f in (diff_rows, rolled, traced, diagonals, interpolated, polynomial, quadrature_abscissae,
                      normal_distribution, special_of_arrays, flipped, moments, sample_moments, row_norms,
                      special_of_negatives, more_ufuncs, robust_statistics, classifier_loss)]


@pytest.mark.parametrize("f, args", HVP_CASES)
def test_hessian_vector_product(f, args):
    (x,) = args
    v = make_rng("hvp", f.__name__).standard_normal(np.shape(x))
    gradient = adjoint.grad(f, target="python")
    want = finite_difference(lambda y: float(np.sum(gradient(y) * v)), [x], 0)
    np.testing.assert_allclose(adjoint.hvp(f, target="python")(x, v), want, rtol=1e-5, atol=1e-6)


# numba lacks these forms: emitted as runtime helpers or math's twins (a numba compile each)
CPU_CASES = [pytest.param(f, args, id=f.__name__) for f, args, _ in CASES
             if f in (diff_rows, rolled, moments, sample_moments, row_norms, polynomial, interpolated, normal_distribution,
                      normal_located, special_of_arrays, special_of_negatives, inverse_hyperbolic, more_ufuncs, robust_statistics,
                      classifier_loss, at_least, integer_results)]


@pytest.mark.slow
@pytest.mark.parametrize("f, args", CPU_CASES)
def test_cpu_target(f, args):
    got = adjoint.grad(f, target="cpu")(*args)
    np.testing.assert_allclose(got, finite_difference(f, args, 0), rtol=1e-5, atol=1e-6)


def test_integer_results_carry_no_derivative():
    """d/dx of x * int(x) is int(x) (the cast is piecewise constant), not 2x."""
    x = np.array([1.3, 2.7, -0.4])

    def f(x):
        return np.sum(x * x.astype(np.int64))
    np.testing.assert_allclose(adjoint.grad(f, target="python")(x), [1.0, 2.0, 0.0])


def missing_values(x):
    return np.nansum(3.0 * x) + np.nanmean(x)


def median_of(x):
    return np.median(x)


def test_nan_elements_get_no_sensitivity():
    """np.nansum and np.nanmean skip nan elements: their gradient is 0 there, and the others'
    is as if the nan elements were not there. np.median with a nan element is nan, and so is
    its gradient (never a finite gradient of a nan value)."""
    x = np.array([0.5, np.nan, -1.0, 2.0, np.nan])
    for target in ("python", "cpu"):
        got = adjoint.grad(missing_values, target=target)(x)
        assert got[1] == got[4] == 0.0
        np.testing.assert_allclose(got[[0, 2, 3]], 3.0 + 1.0 / 3.0, rtol=1e-12)
    value, got = adjoint.value_and_grad(median_of, target="python")(x)
    assert np.isnan(value) and np.isnan(got).all()
    np.testing.assert_allclose(adjoint.grad(median_of, target="python")(x[[0, 2, 3]]), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(adjoint.grad(median_of, target="python")(x[[0, 2, 3, 0]]), [0.5, 0.0, 0.0, 0.5])


def log_partition(x):
    return scipy.special.logsumexp(x)


def test_logsumexp_values_like_scipy():
    """The emitted logsumexp (numba cannot call scipy's) shifts out the largest element, so
    large values do not overflow, and an all -inf input gives -inf, as scipy's."""
    for x in (np.array([1000.0, 999.0, -5.0]), np.array([-np.inf, -np.inf]), np.array([0.3, -np.inf, 1.2])):
        value, got = adjoint.value_and_grad(log_partition, target="cpu")(x)
        assert value == pytest.approx(scipy.special.logsumexp(x), rel=1e-14)
        if np.isfinite(value):
            np.testing.assert_allclose(got, np.exp(x - scipy.special.logsumexp(x)), rtol=1e-14)


def sinc_of_number(a):
    return np.sinc(a)


def test_sinc_second_derivative_at_and_near_zero():
    """sinc''(0) = -pi^2 / 3: the series branch of the partial carries it (forward over reverse)."""
    first = adjoint.grad(sinc_of_number, target="python")
    assert first(0.0) == 0.0
    for a in (1e-4, -3e-4, 2e-3):
        assert first(a) == pytest.approx(finite_difference(sinc_of_number, (a,), 0, h=1e-3), rel=1e-6)
    second = adjoint.grad(first, target="python")
    for a in (0.0, 4e-4, 0.3, -1.7):
        want = -math.pi ** 2 / 3.0 if a == 0.0 else finite_difference(first, (a,), 0)
        assert second(a) == pytest.approx(want, rel=1e-6)
    assert adjoint.hessian(sinc_of_number, target="python")(0.0) == pytest.approx(-math.pi ** 2 / 3.0, rel=1e-12)


def test_digamma_below_zero_and_at_the_poles():
    """d/dx lgamma is digamma, of negative numbers too (against scipy's digamma); at the poles
    0, -1, -2, ... lgamma is inf and its derivative nan, as JAX's digamma, while the other
    elements keep theirs."""
    x = np.array([-0.5, -1.3, -2.7, -3.999, -100.25, 0.01, 2.5])
    for target in ("python", "cpu"):
        got = adjoint.grad(special_of_arrays_only, target=target)(x)
        np.testing.assert_allclose(got, scipy.special.digamma(x), rtol=1e-10)
    poles = np.array([0.0, -1.0, -2.0, -0.5])
    value, got = adjoint.value_and_grad(special_of_arrays_only, target="python")(poles)
    assert value == np.inf == np.sum(scipy.special.gammaln(poles))
    assert np.isnan(got[:3]).all() and got[3] == pytest.approx(scipy.special.digamma(-0.5), rel=1e-10)
    assert np.isnan(adjoint.grad(log_gamma, target="cpu")(-3.0))         # (Python's math.lgamma raises there)
    assert adjoint.grad(gamma_function, target="python")(-2.5) == pytest.approx(
        scipy.special.gamma(-2.5) * scipy.special.digamma(-2.5), rel=1e-10)


def special_of_arrays_only(x):
    return np.sum(scipy.special.gammaln(x))


def log_gamma(a):
    return math.lgamma(a)


def gamma_function(a):
    return math.gamma(a)


# errors -----------------------------------------------------------------------------------------

def uses_pinv(x):
    return np.sum(np.linalg.pinv(x))


def uses_ediff1d(a):
    return np.sum(np.ediff1d(a) ** 3)


def test_missing_array_function_hint_names_its_module_and_a_vjp_rule():
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(uses_pinv, target="python")(np.eye(3))
    text = str(caught.value)
    assert "no derivative rule for `np.linalg.pinv`" in text
    assert "@adjoint.vjp_rule(np.linalg.pinv)" in text and "def pinv_vjp(a, g)" in text
    assert "test_numpy_functions.py" in text and "^" in text


def test_the_hinted_vjp_rule_works():
    """The hint's shape, filled in: np.ediff1d's reverse is minus the difference of the padded g."""
    a = np.array([0.5, -1.0, 2.0, 0.3])
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(uses_ediff1d, target="python")(a)
    assert "@adjoint.vjp_rule(np.ediff1d)" in str(caught.value)
    assert "def ediff1d_vjp(ary, g): return <ary's sensitivity>" in str(caught.value)

    def ediff1d_vjp(ary, g):
        return np.concatenate((np.zeros(1), g)) - np.concatenate((g, np.zeros(1)))
    adjoint.vjp_rule(np.ediff1d)(ediff1d_vjp)
    try:
        got = adjoint.grad(uses_ediff1d, target="python")(a)
        np.testing.assert_allclose(got, finite_difference(uses_ediff1d, (a,), 0), rtol=1e-6)
    finally:
        rules.ARRAY_RULES.pop(np.ediff1d)


def test_positional_options_are_read_as_numpy_reads_them():
    """np.diff(x, 1) is n=1 and np.linalg.norm(x, 1) the 1-norm, not an axis (tests/test_numpy_options.py
    has the other options)."""
    def diff_with_n(x):
        return np.sum(np.diff(x, 1) ** 2)

    def norm_with_ord(x):
        return np.linalg.norm(x, 1)
    for f in (diff_with_n, norm_with_ord):
        got = adjoint.grad(f, target="python")(V)
        np.testing.assert_allclose(got, finite_difference(f, (V,), 0), rtol=1e-6, atol=1e-8)


# the primal and device code ---------------------------------------------------------------------

def special_of_numbers(a, b):
    return math.erf(a * b) + math.lgamma(a + 1.0) + norm.cdf(b) * math.erfc(a) + scipy.special.gammaln(b + 2.0)


@pytest.mark.slow
def test_primal_calling_scipy_compiles_on_cpu():
    """numba cannot call scipy: the compiled primal spells norm.cdf with math.erfc too."""
    g = adjoint.grad(normal_of_number, target="cpu")
    assert g.primal(0.4) == pytest.approx(normal_of_number(0.4), rel=1e-12)


@pytest.mark.slow
@needs_cuda
def test_special_functions_on_the_cuda_target():
    """Per thread, math.erf, math.lgamma and scipy's norm.cdf and gammaln (as math's twins)."""
    points = np.array([0.3, 1.1, -0.4])
    got = adjoint.grad(special_of_numbers, wrt=(0, 1), target="cuda").batch(points, 0.7)
    for k in (0, 1):
        want = [finite_difference(special_of_numbers, (a, 0.7), k) for a in points]
        np.testing.assert_allclose(got[k], want, rtol=1e-6)


def tril_of_vector(v):
    return np.sum(np.tril(v) ** 2)


def test_forms_without_a_rule_are_refused_not_misread():
    """np.tril of a vector makes a matrix: no rule covers it, and the error says so (no
    gradient of the wrong shape)."""
    for f, x in ((tril_of_vector, V),):
        with pytest.raises(adjoint.AdjointError, match="no derivative rule"):
            adjoint.grad(f, target="python")(x)


def test_normal_with_too_many_arguments_is_located():
    def f(x):
        return norm.logpdf(x, 0.0, 1.0, 2.0)
    with pytest.raises(adjoint.AdjointError, match="takes x, loc and scale here") as caught:
        adjoint.grad(f, target="python")(0.3)
    assert "hint: call it as norm.logpdf(x, loc, scale)" in str(caught.value)


def _standard_normal_log_density(x):
    return norm.logpdf(x) + norm.cdf(0.5 * x) * norm.pdf(x)


def test_scipy_norm_in_an_inlined_helper_keeps_its_derivative():
    """Copying a helper's tree deep-copied the bound method norm.logpdf, and with it the
    distribution object the rule table keys on: the call had no rule and its gradient was
    silently zero (autograd's black_box_svi, which calls norm.logpdf in its log density)."""
    def f(x):
        return np.sum(_standard_normal_log_density(x))
    x = np.array([0.3, -0.5, 1.2])
    np.testing.assert_allclose(adjoint.grad(f, target="python")(x), finite_difference(f, (x,), 0), rtol=1e-6)


# np.meshgrid and np.repeat along an axis (autograd's fluidsim.py and rnn.py), np.mod -----------

GRID_X, GRID_Y = np.array([0.3, -0.2, 0.5]), np.array([0.5, 0.9, 1.1, -0.4])


def grid_xy(x, y):
    X, Y = np.meshgrid(x, y)
    return np.sum(np.sin(X) * Y ** 2 + X * np.arange(12.0).reshape(4, 3))


def grid_ij(x, y):
    grids = np.meshgrid(x, y, indexing="ij")
    return np.sum(np.sin(grids[0]) * grids[1] ** 2 + grids[0] * np.arange(12.0).reshape(3, 4))


def grid_of_indices_wrapped(x, y):
    # fluidsim's advection: integer grids, np.floor, np.mod and a 2-D gather
    rows, cols = np.meshgrid(np.arange(3), np.arange(4))
    left = np.mod(np.floor(rows - 0.4 * y[cols]).astype(int), 3)
    return np.sum(x[left] * y[cols] ** 2) + np.sum(np.mod(x, 0.35) * y[0])


def rows_repeated(h, y):
    return np.sum(np.tanh(np.repeat(h, 2, axis=0)) * np.outer(y[:4], h[0]))


def columns_repeated(h, y):
    return np.sum(np.sin(np.repeat(h, np.array([1, 3]), axis=1)) * y[0])


GRIDS = [grid_xy, grid_ij, grid_of_indices_wrapped]
REPEATS = [rows_repeated, columns_repeated]
REPEAT_H = np.array([[0.3, -0.2], [0.5, 0.9]])


@pytest.mark.parametrize("fn", GRIDS + REPEATS, ids=lambda f: f.__name__)
def test_grids_and_repeats_along_an_axis(fn):
    args = (GRID_X, GRID_Y) if fn in GRIDS else (REPEAT_H, GRID_Y)
    got = adjoint.grad(fn, wrt=(0, 1), target="python")(*args)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(fn, args, k), rtol=1e-6, atol=1e-8)
        if fn is rows_repeated:                 # (autograd has no vjp of meshgrid, nor of repeat by counts)
            np.testing.assert_allclose(g, autograd_gradient(fn, args, k), rtol=1e-10, atol=1e-12)
    value, tangent = adjoint.jvp(fn, wrt=0, target="python")(*args, np.ones_like(args[0]))
    assert tangent == pytest.approx(np.sum(finite_difference(fn, args, 0)), rel=1e-6)


def grid_and_repeat(x, y):
    X, Y = np.meshgrid(x, y)
    rows = [X[0]]                        # a list of arrays grown in a loop (tests/test_tuples_and_helpers.py)
    for k in range(1, 3):
        rows.append(np.sin(X[k] * Y[k]))
    return np.sum(np.repeat(X * Y, 2, axis=1) ** 2) + np.sum(np.stack(rows) ** 2)


def test_grids_and_repeats_compile_for_the_cpu():
    got = adjoint.grad(grid_and_repeat, wrt=(0, 1), target="cpu")(GRID_X, GRID_Y)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(grid_and_repeat, (GRID_X, GRID_Y), k), rtol=1e-6)


def repeat_counted_from_the_end(h):
    return np.sum(np.repeat(h, 2, axis=-1) ** 2)


def three_grids(x):
    X, Y, Z = np.meshgrid(x, x, x)
    return np.sum(X * Y * Z)


def three_grids_broadcast(x):             # the hint's rewrite
    return np.sum(x[None, :, None] * x[:, None, None] * x[None, None, :])


@pytest.mark.parametrize("fn, message, follow", [
    (repeat_counted_from_the_end, "np.repeat along an axis that is not a number (0 or more)", columns_repeated),
    (three_grids, "np.meshgrid is supported of two vectors", three_grids_broadcast)], ids=["repeat", "meshgrid"])
def test_grids_and_repeats_left_out_are_named(fn, message, follow):
    args = (REPEAT_H,) if fn is repeat_counted_from_the_end else (GRID_X,)
    with pytest.raises(adjoint.AdjointError, match=re.escape(message)) as info:
        adjoint.grad(fn, target="python")(*args)
    assert "hint: " in str(info.value)
    if follow is three_grids_broadcast:
        got = adjoint.grad(follow, target="python")(*args)
        np.testing.assert_allclose(got, finite_difference(fn, args, 0), rtol=1e-6)


# scipy.stats.multivariate_normal.logpdf (autograd's gaussian_process.py and gmm.py), written
# out as solve and slogdet -------------------------------------------------------------------

def mvn_rows(X, mu, L):
    cov = L @ L.T + np.eye(2)
    return np.sum(mvn.logpdf(X, mu, cov))


def mvn_one_row_by_keyword(X, mu, L):
    cov = L @ L.T + np.eye(2)
    return multivariate_normal.logpdf(X[0], mean=mu, cov=cov) + multivariate_normal.logpdf(X[1] - mu, cov=cov)


def mvn_without_cov(X, mu, L):
    return multivariate_normal.logpdf(X[0], mu)


@pytest.mark.parametrize("fn", [mvn_rows, mvn_one_row_by_keyword], ids=lambda f: f.__name__)
def test_multivariate_normal_logpdf(fn):
    rng = np.random.default_rng(1)
    args = (rng.normal(size=(4, 2)), rng.normal(size=2), rng.normal(size=(2, 2)))
    got = adjoint.grad(fn, wrt=(0, 1, 2), target="python")(*args)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(fn, args, k), rtol=1e-6, atol=1e-8)
        if fn is mvn_rows:                  # (autograd's logpdf needs the mean by position)
            np.testing.assert_allclose(g, autograd_gradient(fn, args, k), rtol=1e-10, atol=1e-12)


def test_multivariate_normal_logpdf_needs_its_covariance():
    args = (np.ones((2, 2)), np.zeros(2), np.eye(2))
    with pytest.raises(adjoint.AdjointError, match="with the covariance matrix given") as info:
        adjoint.grad(mvn_without_cov, target="python")(*args)
    assert "multivariate_normal.logpdf(x, mean, cov)" in info.value.hint


# np.pad: stencils padded by their edges, as PDE and image code writes them ----------------------

def laplacian_energy_edge(U):
    """A five-point Laplacian with Neumann-like edges, the way stencil code pads a grid."""
    P = np.pad(U, 1, mode="edge")
    lap = P[:-2, 1:-1] + P[2:, 1:-1] + P[1:-1, :-2] + P[1:-1, 2:] - 4 * U
    return 0.5 * np.sum(lap ** 2)


def periodic_smoothness(x):
    return np.sum(np.diff(np.pad(x, (2, 1), mode="wrap")) ** 2)


def reflected_cubes(X):
    return np.sum(np.pad(X, ((1, 2), (0, 3)), "reflect") ** 3)


def zero_padded_weights(X, n=2):
    Y = np.pad(X, n, constant_values=0)
    return np.sum(np.sin(Y) * np.arange(Y.size).reshape(Y.shape))


def symmetric_cube(T):
    return np.sum(np.tanh(np.pad(T, 2, "symmetric")) * np.pad(T, 1, "edge")[1:-1, 1:-1, 1:-1].sum())


PADS = [(laplacian_energy_edge, (4, 5)), (periodic_smoothness, (6,)), (reflected_cubes, (3, 4)),
        (zero_padded_weights, (3, 2)), (symmetric_cube, (2, 3, 2))]


@pytest.mark.parametrize("fn, shape", PADS, ids=lambda case: getattr(case, "__name__", ""))
@pytest.mark.parametrize("target", ["python", "cpu"])
def test_pad_gradients(fn, shape, target):
    x = make_rng("np.pad", fn.__name__).normal(size=shape)
    np.testing.assert_allclose(adjoint.grad(fn, target=target)(x), finite_difference(fn, (x,), 0),
                               rtol=1e-6, atol=1e-7)
    if target == "python":                 # (autograd's np.pad has the constant mode only)
        direction = make_rng("np.pad tangent", fn.__name__).normal(size=shape)
        _, tangent = adjoint.jvp(fn, target=target)(x, direction)
        np.testing.assert_allclose(tangent, np.sum(finite_difference(fn, (x,), 0) * direction), rtol=1e-6)


def test_pad_helper_matches_numpy_in_every_mode():
    """The cpu target's np.pad (rule_helpers._pad, numba having none) against numpy's, and its
    reverse against the transpose: <_pad_vjp(u), v> == <u, np.pad(v)>; widths past the
    axis's length included, where reflect and symmetric repeat."""
    from adjoint.primitives.rule_helpers import runnable
    pad, pad_vjp = runnable("_pad"), runnable("_pad_vjp")
    rng = make_rng("np.pad helper")
    for mode in ("constant", "edge", "wrap", "reflect", "symmetric"):
        for shape in ((1,), (4,), (3, 5), (2, 3, 4)):
            x = rng.normal(size=shape)
            for width in (0, 1, 2, 7, (1, 3), tuple((k % 3, (k + 2) % 4) for k in range(len(shape)))):
                want = np.pad(x, width, mode)
                np.testing.assert_array_equal(pad(x, width, mode), want)
                u, v = rng.normal(size=want.shape), rng.normal(size=shape)
                assert np.sum(pad_vjp(x, width, mode, u) * v) == pytest.approx(np.sum(u * np.pad(v, width, mode)))


@pytest.mark.parametrize("source, message", [
    ("np.pad(x, 1, mode='mean')", "np.pad's mode must be one of"),
    ("np.pad(x, 1, 'linear_ramp')", "np.pad's mode must be one of"),
    ("np.pad(x, 1, constant_values=2.0)", "constant_values other than 0"),
])
def test_pad_options_left_out_are_named(source, message, tmp_path):
    import importlib.util
    path = tmp_path / "pad_options.py"
    path.write_text(f"import numpy as np\n\n\ndef f(x):\n    return np.sum({source} ** 2)\n")
    spec = importlib.util.spec_from_file_location("pad_options", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(adjoint.AdjointError, match=message) as info:
        adjoint.grad(module.f, target="python")(np.ones(3))
    assert info.value.location.line == 5 and info.value.hint


def test_pad_second_derivatives_are_refused_by_name():
    x = make_rng("np.pad hvp").normal(size=(4, 5))
    with pytest.raises(adjoint.AdjointError, match="np.pad's gradient again") as info:
        adjoint.hvp(laplacian_energy_edge, target="python")(x, np.ones_like(x))
    assert "np.concatenate" in info.value.hint


def laplacian_energy_concatenated(U):
    """laplacian_energy_edge padded as the refusal's hint says."""
    P = np.concatenate((U[:1], U, U[-1:]), axis=0)
    P = np.concatenate((P[:, :1], P, P[:, -1:]), axis=1)
    lap = P[:-2, 1:-1] + P[2:, 1:-1] + P[1:-1, :-2] + P[1:-1, 2:] - 4 * U
    return 0.5 * np.sum(lap ** 2)


def test_the_pad_refusals_rewrite_has_second_derivatives():
    from tests.oracles import hvp_by_differences
    rng = make_rng("np.pad hint")
    x, v = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    np.testing.assert_allclose(laplacian_energy_concatenated(x), laplacian_energy_edge(x))
    got = adjoint.hvp(laplacian_energy_concatenated, target="python")(x, v)
    want = hvp_by_differences(laplacian_energy_concatenated, (x,), 0, v)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, np.max(np.abs(want))))


# np.vander: polynomial features, of data and of the points themselves ----------------------------

VANDER_X = np.linspace(-1.0, 1.0, 7)
VANDER_Y = np.cos(2.0 * VANDER_X)


def vander_least_squares(c):
    """A cubic fit in the style of numpy's own polyfit: features of fixed data."""
    return np.sum((np.vander(VANDER_X, 4) @ c - VANDER_Y) ** 2)


def vander_of_points(x, w):
    """Features of the points differentiated, a zero among them (no x**-1 * 0 there)."""
    return np.sum(np.tanh(np.vander(x, 3) @ w)) + np.sum(np.vander(x) ** 2)


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_vander_gradients(target):
    rng = make_rng("np.vander")
    c, x, w = rng.normal(size=4), np.array([0.5, -1.2, 0.0, 2.0]), rng.normal(size=3)
    np.testing.assert_allclose(adjoint.grad(vander_least_squares, target=target)(c),
                               finite_difference(vander_least_squares, (c,), 0), rtol=1e-6, atol=1e-7)
    got = adjoint.grad(vander_of_points, wrt=(0, 1), target=target)(x, w)
    for k in (0, 1):                 # (autograd has no rule for np.vander)
        np.testing.assert_allclose(got[k], finite_difference(vander_of_points, (x, w), k), rtol=1e-6, atol=1e-7)
    direction = rng.normal(size=4)
    _, tangent = adjoint.jvp(vander_of_points, wrt=0, target=target)(x, w, direction)
    np.testing.assert_allclose(tangent, finite_difference(vander_of_points, (x, w), 0) @ direction, rtol=1e-6)
