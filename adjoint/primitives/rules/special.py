"""The special functions: erf, erfc, lgamma and gamma of math, and the scipy functions
numeric code calls, scipy.special's (expit, logit, logsumexp, erf, erfc, gammaln, gamma) and
scipy.stats.norm's (cdf, pdf, logpdf), whose records are filed once the user's code has
imported scipy (see below).
"""

from __future__ import annotations

import math

import numpy as np

from .. import table
from ..registry import declare, primitive, shared_expression, variant


# 2 / sqrt(pi) = 1.1283791670955126
@primitive("math.erf")
def erf(x):
    return 1.1283791670955126 * math.exp(-x * x)


@primitive("math.erfc")
def erfc(x):
    return -1.1283791670955126 * math.exp(-x * x)


# d/dx lgamma(x) is digamma(x), which neither math nor numpy (nor numba) has: the asymptotic
# series of digamma at |x| + 6 (error below 1e-11), brought down by digamma(y) = digamma(y + 1) - 1 / y
# to y = |x|. For x > 0 that is digamma(x); for x < 0 the reflection formula, digamma(x) =
# digamma(-x) - 1 / x - pi cot(pi x), cancels the 1 / |x| term, leaving pi cot(pi x), computed
# of x less its nearest integer (tan has period pi) so that it stays exact for large |x|. At
# the poles (0, -1, -2, ...) nan, as JAX's digamma gives (the max is 0 only there, or nan of a
# nan x; np.floor, since math.floor of nan raises); `+ (x == floor(x))` keeps the unused lane
# of an array finite at a pole (see registry.times).
@shared_expression
def digamma(x):
    return (math.log(abs(x) + 6.0) - 0.5 / (abs(x) + 6.0) - (1.0 / 12.0 - (1.0 / 120.0 - (1.0 / 252.0 - (
        1.0 / 240.0 - 1.0 / 132.0 / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0)))
        / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0))) / ((abs(x) + 6.0) * (abs(x) + 6.0))
        - 1.0 / (abs(x) + 1.0) - 1.0 / (abs(x) + 2.0) - 1.0 / (abs(x) + 3.0) - 1.0 / (abs(x) + 4.0) - 1.0 / (abs(x) + 5.0)
        - (np.divide(1.0, x) if x > 0.0 else np.divide(math.pi, math.tan(math.pi * (x - np.floor(x + 0.5)))
                                                      + (x == np.floor(x))))
        if max(x, x - np.floor(x)) > 0.0 else math.nan)


@primitive("math.lgamma", domain=[(0.3, 4.0)])
def lgamma(x):
    return digamma(x)


# gamma's derivative is gamma(x) digamma(x), the result times lgamma's
@primitive("math.gamma", domain=[(0.3, 4.0)])
def gamma(x, out):
    return out * digamma(x)


# --- scipy: the special functions and normal distribution numeric code calls. adjoint does not
# import scipy itself (half a second); the records are filed once the user's code has
# (table.when_imported). numba cannot call scipy: lower/for_numba.py spells them with math.erf,
# math.erfc, math.lgamma, math.gamma (element by element of arrays: runtime._each_erf, ...) ----

def norm_cdf(x):                      # the standard normal density, 1 / sqrt(2 pi) = 0.3989...
    return 0.3989422804014327 * math.exp(-0.5 * x * x)


def norm_pdf(x, out):
    return -x * out


def norm_logpdf(x):
    return -x


# the logistic function and its inverse
def expit(x, out):
    return out * (1.0 - out)


def logit(x):
    return np.divide(1.0, x * (1.0 - x)) if abs(x - 0.5) <= 0.5 else math.nan


# log(sum(exp(x))) (along `axis`): g shared by the softmax weights exp(x - out)
def logsumexp(x, g, out):
    return g * np.exp(x - out)


def logsumexp_axis_of_vector(x, axis, g, out):
    return g * np.exp(x - out), None


def logsumexp_axis(x, axis, g, out):
    return np.expand_dims(g, axis) * np.exp(x - np.expand_dims(out, axis)), None


def logsumexp_jvp(x, dx, out):
    return np.sum(np.exp(x - out) * dx)


def logsumexp_axis_jvp(x, axis, dx, daxis, out):
    return np.sum(np.exp(x - np.expand_dims(np.asarray(out), axis)) * dx, axis), None


def _scipy_special_records():
    primitive("scipy.special.expit")(expit)
    primitive("scipy.special.logit", domain=[(0.1, 0.9)])(logit)
    declare("scipy.special.logsumexp", vjps=[logsumexp, variant(logsumexp_axis_of_vector, ranks=(1,)), logsumexp_axis],
            jvps=[logsumexp_jvp, logsumexp_axis_jvp], result="reduction", value=True)
    primitive("scipy.special.erf")(erf)
    primitive("scipy.special.erfc")(erfc)
    primitive("scipy.special.gammaln", domain=[(0.3, 4.0)])(lgamma)
    primitive("scipy.special.gamma", domain=[(0.3, 4.0)])(gamma)


def _scipy_stats_records():
    primitive("scipy.stats.norm.cdf")(norm_cdf)
    primitive("scipy.stats.norm.pdf")(norm_pdf)
    primitive("scipy.stats.norm.logpdf")(norm_logpdf)


table.when_imported("scipy.special", _scipy_special_records)
table.when_imported("scipy.stats", _scipy_stats_records)
