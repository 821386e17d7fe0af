"""Reductions, of all elements or along an axis (np.sum, np.mean, np.prod, np.max and
np.min, np.var, np.std, np.ptp, np.median, np.nansum, np.nanmean), and the running sums and
products and the differences along an axis (np.cumsum, np.cumprod, np.diff).
"""

from __future__ import annotations

import numpy as np

from ..registry import declare, variant
from ..rule_helpers import runnable

# the runtime helpers the rules below call (the emitted code calls them by these names)
_cumprod_vjp, _cumprod_jvp = runnable("_cumprod_vjp"), runnable("_cumprod_jvp")
_cumprod_vjp_axis, _cumprod_jvp_axis = runnable("_cumprod_vjp_axis"), runnable("_cumprod_jvp_axis")
_others_product, _others_product_axis = runnable("_others_product"), runnable("_others_product_axis")


def sum_all(x, g):
    return g                                          # broadcast into every element


def sum_axis(x, axis, g):
    return np.broadcast_to(np.expand_dims(g, axis), x.shape), None


def sum_axis_of_vector(x, axis, g):
    return np.full_like(x, g), None                   # numba's np.expand_dims takes no number


def sum_all_jvp(x, dx):
    return np.sum(dx)


def sum_axis_jvp(x, axis, dx, daxis):
    return np.sum(dx, axis), None


declare("np.sum", vjps=[sum_all, variant(sum_axis_of_vector, ranks=(1,)), variant(sum_axis, broadcast_view=True)], jvps=[sum_all_jvp, sum_axis_jvp],
        result="reduction", value=True)


def mean_all(x, g):
    return g / x.size


def mean_axis(x, axis, g):
    return np.broadcast_to(np.expand_dims(g, axis) / x.shape[axis], x.shape), None


def mean_axis_of_vector(x, axis, g):
    return np.full_like(x, g / x.size), None


def mean_all_jvp(x, dx):
    return np.sum(dx) / x.size


def mean_axis_jvp(x, axis, dx, daxis):
    return np.sum(dx, axis) / x.shape[axis], None


declare("np.mean", vjps=[mean_all, variant(mean_axis_of_vector, ranks=(1,)), variant(mean_axis, broadcast_view=True)], jvps=[mean_all_jvp, mean_axis_jvp],
        result="reduction", value=True)


# d prod(x) / d x_i is the product of the other factors: 0 where two or more are 0 (as JAX
# and PyTorch give; product / x_i would be nan at a zero). rule_helpers' _others_product and
# _others_product_axis multiply the running product before each factor by the one after it,
# without division, so the partials hold at zero factors and near them, where the derivative
# of product / x_i cancels (the quotient rule), to every order.
def prod_all(x, g):
    return g * _others_product(x)


def prod_axis(x, axis, g):
    return np.expand_dims(g, axis) * _others_product_axis(x, axis), None


def prod_axis_of_vector(x, axis, g):         # numba's np.expand_dims takes no number
    return g * _others_product(x), None


def prod_all_jvp(x, dx):
    return np.sum(_others_product(x) * dx)


def prod_axis_jvp(x, axis, dx, daxis):
    return np.sum(_others_product_axis(x, axis) * dx, axis), None


declare("np.prod", vjps=[prod_all, variant(prod_axis_of_vector, ranks=(1,)), prod_axis],
        jvps=[prod_all_jvp, prod_axis_jvp], result="reduction", value=True)


# A reduction's max or min: g split equally among the tied extrema (JAX, autograd). Where the
# extremum is nan no element equals it: 0 / 0 makes every partial of that slice nan (JAX too),
# unless g is 0 there (the value does not reach the result), which counts once more so that
# the slice stays 0. np.divide: a scalar division by zero raises under numba, the ufunc not.
def extremum_all(x, g, out):
    return np.divide(np.where(x == out, g, 0.0), np.sum(x == out) + (g == 0.0))


def extremum_axis_of_vector(x, axis, g, out):
    return np.divide(np.where(x == out, g, 0.0), np.sum(x == out) + (g == 0.0)), None


def extremum_axis(x, axis, g, out):
    return np.divide(np.where(x == np.expand_dims(out, axis), np.expand_dims(g, axis), 0.0),
                     np.expand_dims(np.sum(x == np.expand_dims(out, axis), axis) + (g == 0.0), axis)), None


# the tangent is the mean of dx over the tied extrema; of a nan slice, nan unless dx is 0 on
# all of it (as the vjp: nan to every element of the slice)
def extremum_all_jvp(x, dx, out):
    return np.divide(np.sum(np.where(x == out, dx, 0.0)), np.sum(x == out) + np.all(dx == 0.0))


def extremum_axis_jvp(x, axis, dx, daxis, out):
    # np.asarray: of a vector, out is a scalar, which np.expand_dims does not take under numba
    return np.divide(np.sum(np.where(x == np.expand_dims(np.asarray(out), axis), dx, 0.0), axis),
                     np.sum(x == np.expand_dims(np.asarray(out), axis), axis)
                     + (np.sum(dx != 0.0, axis) == 0)), None


EXTREMUM_VJPS = [extremum_all, variant(extremum_axis_of_vector, ranks=(1,)), extremum_axis]
declare("np.max", "np.amax", vjps=EXTREMUM_VJPS, jvps=[extremum_all_jvp, extremum_axis_jvp],
        result="reduction", value=True)
declare("np.min", "np.amin", vjps=EXTREMUM_VJPS, jvps=[extremum_all_jvp, extremum_axis_jvp],
        result="reduction", value=True)


# the variance: 2 (x - mean) / n times g; the standard deviation divides by 2 out more
def var_all(x, g):
    return 2.0 * g * (x - np.mean(x)) / x.size


def var_axis_of_vector(x, axis, g):
    return 2.0 * g * (x - np.mean(x)) / x.size, None


def var_axis(x, axis, g):
    return 2.0 * np.expand_dims(g, axis) * (x - np.expand_dims(np.mean(x, axis), axis)) / x.shape[axis], None


def var_all_jvp(x, dx):
    return 2.0 * np.sum((x - np.mean(x)) * dx) / x.size


def var_axis_jvp(x, axis, dx, daxis):
    return 2.0 * np.sum((x - np.expand_dims(np.asarray(np.mean(x, axis)), axis)) * dx, axis) / x.shape[axis], None


declare("np.var", vjps=[var_all, variant(var_axis_of_vector, ranks=(1,)), var_axis],
        jvps=[var_all_jvp, var_axis_jvp], result="reduction", value=True)


def std_all(x, g, out):
    return g * (x - np.mean(x)) / (x.size * out)                      # needs out != 0


def std_axis_of_vector(x, axis, g, out):
    return g * (x - np.mean(x)) / (x.size * out), None


def std_axis(x, axis, g, out):
    return np.expand_dims(g / out, axis) * (x - np.expand_dims(np.mean(x, axis), axis)) / x.shape[axis], None


def std_all_jvp(x, dx, out):
    return np.sum((x - np.mean(x)) * dx) / (x.size * out)


def std_axis_jvp(x, axis, dx, daxis, out):
    return np.sum((x - np.expand_dims(np.asarray(np.mean(x, axis)), axis)) * dx, axis) / (x.shape[axis] * out), None


declare("np.std", vjps=[std_all, variant(std_axis_of_vector, ranks=(1,)), std_axis],
        jvps=[std_all_jvp, std_axis_jvp], result="reduction", value=True)


# the range, max - min: the extremum rules' difference (ties share g equally, as there)
def ptp(x, g):
    return (np.divide(np.where(x == np.max(x), g, 0.0), np.sum(x == np.max(x)))
            - np.divide(np.where(x == np.min(x), g, 0.0), np.sum(x == np.min(x))))


def ptp_jvp(x, dx):
    return (np.divide(np.sum(np.where(x == np.max(x), dx, 0.0)), np.sum(x == np.max(x)))
            - np.divide(np.sum(np.where(x == np.min(x), dx, 0.0)), np.sum(x == np.min(x))))


declare("np.ptp", vjps=[variant(ptp, exact_shape=True)], jvps=[ptp_jvp], result="reduction", value=True)


# the median of all elements: the middle one of the sorted values, or the mean of the middle
# two; each element's rank is argsort of the argsort (a tie at the middle: one of the tied
# elements, by the sort's order). With a nan element the median is nan, and so is every
# partial (k / k with k = 0), unless g is 0 (the value does not reach the result; k = 1).
def median(x, g):
    return np.reshape(g * (np.where(np.argsort(np.argsort(np.ravel(x))) == (x.size - 1) // 2, 0.5, 0.0)
                           + np.where(np.argsort(np.argsort(np.ravel(x))) == x.size // 2, 0.5, 0.0))
                      * np.divide(1.0 - np.any(np.isnan(x)) + (g == 0.0), 1.0 - np.any(np.isnan(x)) + (g == 0.0)),
                      x.shape)


def median_jvp(x, dx):
    return (0.5 * (np.ravel(dx)[np.argsort(np.ravel(x))[(x.size - 1) // 2]]
                   + np.ravel(dx)[np.argsort(np.ravel(x))[x.size // 2]])
            * np.divide(1.0 - np.any(np.isnan(x)) + np.all(dx == 0.0), 1.0 - np.any(np.isnan(x)) + np.all(dx == 0.0)))


declare("np.median", vjps=[variant(median, exact_shape=True)], jvps=[median_jvp], result="reduction", value=True)


# sums and means that skip nan elements (they get no sensitivity)
def nansum(x, g):
    return np.where(np.isnan(x), 0.0, g)


def nansum_jvp(x, dx):
    return np.sum(np.where(np.isnan(x), 0.0, dx))


def nanmean(x, g):
    return np.where(np.isnan(x), 0.0, g / np.sum(np.logical_not(np.isnan(x))))


def nanmean_jvp(x, dx):
    return np.sum(np.where(np.isnan(x), 0.0, dx)) / np.sum(np.logical_not(np.isnan(x)))


declare("np.nansum", vjps=[variant(nansum, exact_shape=True)], jvps=[nansum_jvp], result="reduction", value=True)
declare("np.nanmean", vjps=[variant(nanmean, exact_shape=True)], jvps=[nanmean_jvp], result="reduction", value=True)


# running sums: without an axis numpy runs over the flattened array; the reverse runs backwards
def cumsum_flat(x, g):
    return np.reshape(np.ascontiguousarray(np.cumsum(g[::-1])[::-1]), x.shape)


def cumsum_axis_of_vector(x, axis, g):
    return np.cumsum(g[::-1])[::-1], None


def cumsum_axis(x, axis, g):     # a matrix
    return (np.cumsum(g[::-1], axis=0)[::-1] if axis % 2 == 0 else np.cumsum(g[:, ::-1], axis=1)[:, ::-1]), None


def cumsum_jvp(x, dx):
    return np.cumsum(dx)


def cumsum_axis_jvp(x, axis, dx, daxis):
    return np.cumsum(dx, axis=axis), None


declare("np.cumsum", vjps=[cumsum_flat, variant(cumsum_axis_of_vector, ranks=(1,)), variant(cumsum_axis, ranks=(2,))],
        jvps=[cumsum_jvp, cumsum_axis_jvp], result="cumulative", value=True)


# running products: d out[j] / d x[i] (i <= j) is the product of the factors up to j other
# than x[i]. Both products are first-order recurrences, without division (runtime's
# _cumprod_vjp, _cumprod_jvp: out[j] / x[i] would be nan at a zero factor, and its derivative
# cancels near one), so the partials hold at zeros and near them, to every order.
def cumprod(x, g):
    return np.reshape(_cumprod_vjp(np.ravel(x), np.ravel(g)), x.shape)


def cumprod_jvp(x, dx):
    return _cumprod_jvp(np.ravel(x), np.ravel(dx))


def cumprod_axis(x, axis, g):
    return _cumprod_vjp_axis(x, g, axis), None


def cumprod_axis_jvp(x, axis, dx, daxis):
    return _cumprod_jvp_axis(x, dx, axis), None


declare("np.cumprod", vjps=[cumprod, cumprod_axis], jvps=[cumprod_jvp, cumprod_axis_jvp], result="cumulative",
        value=True)


# differences along the last axis (or `axis`): the reverse is minus the difference of the
# sensitivity padded with a zero at both ends
def diff_vector(x, g):
    return np.concatenate((np.zeros(1), g)) - np.concatenate((g, np.zeros(1)))


def diff_matrix(x, g):
    return (np.concatenate((np.zeros((g.shape[0], 1)), g), axis=1)
            - np.concatenate((g, np.zeros((g.shape[0], 1))), axis=1))


def diff_axis_of_vector(x, axis, g):
    return np.concatenate((np.zeros(1), g)) - np.concatenate((g, np.zeros(1))), None


def diff_axis(x, axis, g):       # a matrix: axis 0 or -2, else 1 or -1
    return (np.concatenate((np.zeros((1, g.shape[1])), g)) - np.concatenate((g, np.zeros((1, g.shape[1]))))
            if axis % 2 == 0 else np.concatenate((np.zeros((g.shape[0], 1)), g), axis=1)
            - np.concatenate((g, np.zeros((g.shape[0], 1))), axis=1)), None


def diff_jvp(x, dx):
    return np.diff(dx)


def diff_axis_jvp(x, axis, dx, daxis):
    return np.diff(dx, axis=axis), None


declare("np.diff", vjps=[variant(diff_vector, ranks=(1,), exact_shape=True),
                         variant(diff_matrix, ranks=(2,), exact_shape=True),
                         variant(diff_axis_of_vector, ranks=(1,), exact_shape=True),
                         variant(diff_axis, ranks=(2,), exact_shape=True)],
        jvps=[diff_jvp, diff_axis_jvp], result="array like", value=True)
