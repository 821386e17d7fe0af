"""The numerical methods' numpy functions: np.convolve, np.polyval, np.vander, np.interp and
np.trapezoid.
"""

from __future__ import annotations

import numpy as np

from ..registry import declare, variant


# normalize writes a convolution's `mode=` as a slice of the full one (numba has np.convolve
# in its full mode only)
def convolve(a, v, g):
    return np.correlate(g, v), np.correlate(g, a)     # 'valid': one value per element of a (of v)


def convolve_jvp(a, v, da, dv):
    return np.convolve(da, v), np.convolve(a, dv)


declare("np.convolve", vjps=[convolve], jvps=[convolve_jvp], result="vector", value=True)


# np.polyval(p, x) = p[0] x^(n-1) + ... + p[n-1]: d/dp[k] is x^(n-1-k), d/dx the derivative
# polynomial's value
def polyval_at_vector(p, x, g):
    return (g @ np.power(np.expand_dims(x, 1), np.arange(p.shape[0] - 1.0, -1.0, -1.0)),
            g * np.polyval(p[:-1] * np.arange(p.shape[0] - 1.0, 0.0, -1.0), x))


def polyval_at_number(p, x, g):
    return (g * np.power(x, np.arange(p.shape[0] - 1.0, -1.0, -1.0)),
            g * np.polyval(p[:-1] * np.arange(p.shape[0] - 1.0, 0.0, -1.0), x))


def polyval_jvp(p, x, dp, dx):
    return np.polyval(dp, x), np.polyval(p[:-1] * np.arange(p.shape[0] - 1.0, 0.0, -1.0), x) * dx


declare("np.polyval", vjps=[variant(polyval_at_vector, ranks=(1, 1)), variant(polyval_at_number, ranks=(1, 0))],
        jvps=[polyval_jvp], result="polyval", value=True)


# np.vander(x, N): the columns x^(N-1), ..., x, 1 (N = len(x) where it is left out). Column j's
# derivative is (N-1-j) x^(N-2-j): the columns of np.vander(x, N - 1), weighted, and 0 for the
# constant column (no x^-1 times 0, which would be nan at x = 0)
def vander_square(x, g):
    return np.sum(g * np.concatenate((np.vander(x, x.shape[0] - 1) * np.arange(x.shape[0] - 1.0, 0.0, -1.0),
                                      np.zeros((x.shape[0], 1))), axis=1), axis=1)


def vander(x, N, g):
    return np.sum(g * np.concatenate((np.vander(x, N - 1) * np.arange(N - 1.0, 0.0, -1.0),
                                      np.zeros((x.shape[0], 1))), axis=1), axis=1), None


def vander_square_jvp(x, dx):
    return np.expand_dims(dx, 1) * np.concatenate(
        (np.vander(x, x.shape[0] - 1) * np.arange(x.shape[0] - 1.0, 0.0, -1.0), np.zeros((x.shape[0], 1))), axis=1)


def vander_jvp(x, N, dx, dN):
    return np.expand_dims(dx, 1) * np.concatenate(
        (np.vander(x, N - 1) * np.arange(N - 1.0, 0.0, -1.0), np.zeros((x.shape[0], 1))), axis=1), None


declare("np.vander", vjps=[variant(vander_square, exact_shape=True), variant(vander, exact_shape=True)],
        jvps=[vander_square_jvp, vander_jvp], result="vander", value=True)


# np.interp(xq, xp, fp), piecewise linear: each query is 1 - t of one knot and t of the next.
# The fractional knot index of a query, i + t, is np.interp(xq, xp, [0, 1, ..., n - 1]), so a
# knot's weight is the hat max(0, 1 - |index - knot|); a query's slope is that of its segment
# (searchsorted finds it; 0 outside [xp[0], xp[-1]], where the value is an end's). Moving a
# knot's abscissa by h moves the queries it weighs by -slope * weight * h.
def interp_vector(xq, xp, fp, g):
    return (g * (np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]),
            -(g * (np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
              * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]))
            @ np.maximum(0.0, 1.0 - np.abs(np.expand_dims(np.interp(xq, xp, np.arange(xp.shape[0] * 1.0)), 1)
                                           - np.arange(xp.shape[0] * 1.0))),
            g @ np.maximum(0.0, 1.0 - np.abs(np.expand_dims(np.interp(xq, xp, np.arange(xp.shape[0] * 1.0)), 1)
                                             - np.arange(xp.shape[0] * 1.0))))


def interp_number(xq, xp, fp, g):
    return (g * (np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]),
            -g * (np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1])
            * np.maximum(0.0, 1.0 - np.abs(np.interp(xq, xp, np.arange(xp.shape[0] * 1.0)) - np.arange(xp.shape[0] * 1.0))),
            g * np.maximum(0.0, 1.0 - np.abs(np.interp(xq, xp, np.arange(xp.shape[0] * 1.0)) - np.arange(xp.shape[0] * 1.0))))


def interp_jvp(xq, xp, fp, dxq, dxp, dfp):
    return ((np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]) * dxq,
            -(np.diff(fp) / np.diff(xp))[np.minimum(np.maximum(np.searchsorted(xp, xq) - 1, 0), xp.shape[0] - 2)]
            * np.logical_and(xq > xp[0], xq < xp[xp.shape[0] - 1]) * np.interp(xq, xp, dxp),
            np.interp(xq, xp, dfp))


declare("np.interp", vjps=[variant(interp_vector, ranks=(1, 1, 1)), variant(interp_number, ranks=(0, 1, 1))],
        jvps=[interp_jvp], result="interp", value=True)


# the trapezoid rule: sum of (x[k + 1] - x[k]) (y[k] + y[k + 1]) / 2, of vectors
def trapezoid(y, x, g):
    return (0.5 * g * (np.concatenate((np.diff(x), np.zeros(1))) + np.concatenate((np.zeros(1), np.diff(x)))),
            0.5 * g * (np.concatenate((np.zeros(1), y[:-1] + y[1:])) - np.concatenate((y[:-1] + y[1:], np.zeros(1)))))


def trapezoid_unit(y, g):                             # x = 0, 1, 2, ...
    return g * np.concatenate((np.full(1, 0.5), np.ones(y.shape[0] - 2), np.full(1, 0.5)))


def trapezoid_jvp(y, x, dy, dx):
    return np.trapezoid(dy, x), 0.5 * np.sum(np.diff(dx) * (y[:-1] + y[1:]))


def trapezoid_unit_jvp(y, dy):
    return np.trapezoid(dy)


if hasattr(np, "trapezoid"):                          # numpy 2 (1.x spells it np.trapz)
    declare("np.trapezoid", vjps=[variant(trapezoid, ranks=(1, 1), exact_shape=True),
                                  variant(trapezoid_unit, ranks=(1,), exact_shape=True)],
            jvps=[trapezoid_unit_jvp, trapezoid_jvp], result="trapezoid", value=True)
