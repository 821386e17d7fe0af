"""Reductions, of all elements or along an axis (np.sum, np.mean, np.prod, np.max and
np.min, np.var, np.std, np.ptp, np.median, np.nansum, np.nanmean), and the running sums and
products and the differences along an axis (np.cumsum, np.cumprod, np.diff).
"""

from __future__ import annotations

import numpy as np

from ..registry import declare, shared_expression, variant


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


# d prod(x) / d x_i is the product of the other elements: 0 where two or more are 0 (as JAX
# and PyTorch give; product / x alone would be nan there). Of the whole array, and along an
# axis of a vector or a matrix, it is written without division (others_product,
# others_product_of_matrix). Along an axis of a higher rank: product / x_i where x_i is not 0,
# the product of the rest where x_i is the one zero of its line, cases chosen by masks (x == 0,
# x != 0: numbers that do not move), so that the partial's own derivative (second order)
# holds at zeros too: at a zero x_i the product of the others does not move with x_i, and
# where one other zero x_z is left, it moves with x_z alone (`zero_sum - x` is that x_z: 0,
# with derivative 1 along x_z). Masks, not np.where: numba compiles a select of arrays in
# about a second.
@shared_expression
def nonzero_factors(x):
    return x * (x != 0.0) + (x == 0.0)           # x, with its zeros made 1


@shared_expression
def others_product(x):
    # of the whole array: the running product before each element times the one after it, no
    # division at all, so the partials' own derivatives (through np.cumprod's rules) hold at
    # factors near 0 too, where those of product / x_i cancel (the quotient rule)
    return np.reshape((np.cumprod(np.concatenate((np.ones(1), np.ravel(x)[:-1])))
                       * np.cumprod(np.concatenate((np.ones(1), np.ravel(x)[::-1][:-1])))[::-1])[:x.size], x.shape)


@shared_expression
def others_product_of_matrix(x, axis):
    # along an axis of a matrix: the running products before and after, along that axis
    # (np.cumprod of x itself, shifted by a row or column of ones: numba's np.cumprod along an
    # axis is a runtime helper of a matrix whose rank lowering must know)
    return ((np.concatenate((np.ones((1, x.shape[1])), np.cumprod(x, 0)[:-1]), axis=0)
             * np.concatenate((np.cumprod(x[::-1], 0)[::-1][1:], np.ones((1, x.shape[1]))), axis=0))[:x.shape[0]]
            if axis % 2 == 0 else
            (np.concatenate((np.ones((x.shape[0], 1)), np.cumprod(x, 1)[:, :-1]), axis=1)
             * np.concatenate((np.cumprod(x[:, ::-1], 1)[:, ::-1][:, 1:], np.ones((x.shape[0], 1))), axis=1))[:, :x.shape[1]])


@shared_expression
def others_product_axis(x, axis, product):
    return (np.expand_dims(np.prod(nonzero_factors(x), axis), axis) * (
        np.expand_dims(np.sum(x == 0.0, axis) == 1, axis) + np.expand_dims(np.sum(x == 0.0, axis) == 2, axis)
        * (np.expand_dims(np.sum(x * (x == 0.0), axis), axis) - x)) * (x == 0.0)
        + np.expand_dims(product, axis) / nonzero_factors(x) * (x != 0.0))


def prod_all(x, g):
    return g * others_product(x)


def prod_axis(x, axis, g, out):
    return np.expand_dims(g, axis) * others_product_axis(x, axis, out), None


def prod_all_jvp(x, dx):
    return np.sum(others_product(x) * dx)


def prod_axis_jvp(x, axis, dx, daxis, out):
    return np.sum(others_product_axis(x, axis, out) * dx, axis), None


def prod_axis_of_vector(x, axis, g):
    return g * others_product(x), None


def prod_axis_of_matrix(x, axis, g):
    return np.expand_dims(g, axis) * others_product_of_matrix(x, axis), None


def prod_axis_of_vector_jvp(x, axis, dx, daxis):
    return np.sum(others_product(x) * dx), None


def prod_axis_of_matrix_jvp(x, axis, dx, daxis):
    return np.sum(others_product_of_matrix(x, axis) * dx, axis), None


declare("np.prod", vjps=[prod_all, variant(prod_axis_of_vector, ranks=(1,)), variant(prod_axis_of_matrix, ranks=(2,)),
                         prod_axis],
        jvps=[prod_all_jvp, variant(prod_axis_of_vector_jvp, ranks=(1,)), variant(prod_axis_of_matrix_jvp, ranks=(2,)),
              prod_axis_jvp], result="reduction", value=True)


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


# running products (over the flattened array): out[j] = prod(x[:j + 1]), and d out[j] / d x[i]
# (i <= j) is the product of the other factors up to j. For a non-zero x[i] that is out[j] /
# x[i]: its partial is the backward running sum of g * out, / x[i], exact whatever zeros lie
# elsewhere. For a zero x[i] (zero_shares) it is the product of the non-zero factors up to j
# where x[i] is the one zero up to j (cumsum(x == 0) == 1), that product times the other
# zero x_z where there are two (the value 0, the derivative along x_z that product;
# `zero_sum - x` is x_z, as in np.prod's others_product), else 0. Chosen by masks, as there.
@shared_expression
def zero_shares(x, g):            # the partials of the zero factors (x flat)
    return (np.cumsum((g * np.cumprod(nonzero_factors(x)) * ((np.cumsum(x == 0.0) == 1) + (np.cumsum(x == 0.0) == 2)
                                                              * np.cumsum(x * (x == 0.0))))[::-1])[::-1]
            - x * np.cumsum((g * np.cumprod(nonzero_factors(x)) * (np.cumsum(x == 0.0) == 2))[::-1])[::-1])


@shared_expression
def zero_shares_axis(x, axis, g):
    return (np.flip(np.cumsum(np.flip(g * np.cumprod(nonzero_factors(x), axis) * (
        (np.cumsum(x == 0.0, axis) == 1) + (np.cumsum(x == 0.0, axis) == 2) * np.cumsum(x * (x == 0.0), axis)), axis),
        axis), axis)
        - x * np.flip(np.cumsum(np.flip(g * np.cumprod(nonzero_factors(x), axis) * (np.cumsum(x == 0.0, axis) == 2),
                                        axis), axis), axis))


def cumprod(x, g, out):
    return np.reshape(zero_shares(np.ravel(x), g) * (np.ravel(x) == 0.0)
                      + np.cumsum((g * out)[::-1])[::-1] / nonzero_factors(np.ravel(x)) * (np.ravel(x) != 0.0),
                      x.shape)


def cumprod_jvp(x, dx, out):
    return np.cumprod(nonzero_factors(np.ravel(x))) * (
        (np.cumsum(np.ravel(x) == 0.0) == 0) * np.cumsum(np.ravel(dx) / nonzero_factors(np.ravel(x)))
        + (np.cumsum(np.ravel(x) == 0.0) == 1) * np.cumsum(np.ravel(dx) * (np.ravel(x) == 0.0)))


# along an axis: the running sums and products are along that axis (np.flip before and after)
def cumprod_axis(x, axis, g, out):
    return (zero_shares_axis(x, axis, g) * (x == 0.0)
            + np.flip(np.cumsum(np.flip(g * out, axis), axis), axis) / nonzero_factors(x) * (x != 0.0)), None


def cumprod_axis_jvp(x, axis, dx, daxis, out):
    return np.cumprod(nonzero_factors(x), axis) * (
        (np.cumsum(x == 0.0, axis) == 0) * np.cumsum(dx / nonzero_factors(x), axis)
        + (np.cumsum(x == 0.0, axis) == 1) * np.cumsum(dx * (x == 0.0), axis)), None


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
