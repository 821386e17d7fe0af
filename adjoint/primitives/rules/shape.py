"""Primitives that move elements and do no arithmetic: shapes and axes (np.reshape,
np.ravel, np.transpose, np.swapaxes, np.expand_dims, np.broadcast_to, np.atleast_1d/2d/3d,
np.shape), orders (np.roll, np.flip, np.sort), repetition (np.repeat) and parts of a matrix
(np.diag, np.tril, np.triu). Each reverse puts a sensitivity back where its element came
from (summing where one element went to several places).
"""

from __future__ import annotations

import numpy as np

from ..registry import declare, variant


def transpose(x, g):
    return np.transpose(g)


def transpose_jvp(x, dx):
    return np.transpose(dx)


declare("np.transpose", vjps=[transpose], jvps=[transpose_jvp], result="like")


def reshape(x, shape, g):
    return np.reshape(g, x.shape), None


def reshape_jvp(x, shape, dx, dshape):
    return np.reshape(dx, shape), None


declare("np.reshape", vjps=[reshape], jvps=[reshape_jvp], result="reshape")


def ravel(x, g):
    return np.reshape(g, x.shape)


def ravel_jvp(x, dx):
    return np.ravel(dx)


declare("np.ravel", vjps=[ravel], jvps=[ravel_jvp], result="vector")


# normalize writes `x[:, None]` and a reduction's `keepdims=True` as np.expand_dims (issue #17
# items 6 and 10)
def expand_dims(x, axis, g):
    return np.sum(g, axis), None                      # the inserted axis has length 1


def expand_dims_jvp(x, axis, dx, daxis):
    return np.expand_dims(dx, axis), None


declare("np.expand_dims", vjps=[expand_dims], jvps=[expand_dims_jvp], result="expand")


# a read-only view of x repeated to `shape` (how a sum's or mean's reverse along an axis spells
# its sensitivity, so met again by forward over reverse): the reverse sums g back to x's shape
def broadcast_to(x, shape, g):
    return g, None


def broadcast_to_jvp(x, shape, dx, dshape):
    return np.broadcast_to(dx, shape), None


declare("np.broadcast_to", vjps=[variant(broadcast_to, broadcasts=True)], jvps=[broadcast_to_jvp], result="reshape")


declare("np.shape", constant=True, result="shape")            # a tuple of sizes


# two axes exchanged (runtime._diff_axis and _roll_axis use it): exchanged back
def swapaxes(x, axis1, axis2, g):
    return np.swapaxes(g, axis1, axis2), None, None


def swapaxes_jvp(x, axis1, axis2, dx, daxis1, daxis2):
    return np.swapaxes(dx, axis1, axis2), None, None


declare("np.swapaxes", vjps=[swapaxes], jvps=[swapaxes_jvp], result="array like")


# np.atleast_1d/2d/3d add axes of length 1: the reverse takes them away again
def atleast_of_number(x, g):
    return np.sum(g)


def atleast(x, g):
    return np.reshape(g, x.shape)


def atleast_1d_jvp(x, dx):
    return np.atleast_1d(dx)


def atleast_2d_jvp(x, dx):
    return np.atleast_2d(dx)


def atleast_3d_jvp(x, dx):
    return np.atleast_3d(dx)


ATLEAST_VJPS = [variant(atleast_of_number, ranks=(0,)), atleast]
declare("np.atleast_1d", vjps=ATLEAST_VJPS, jvps=[atleast_1d_jvp], result="atleast 1")
declare("np.atleast_2d", vjps=ATLEAST_VJPS, jvps=[atleast_2d_jvp], result="atleast 2")
declare("np.atleast_3d", vjps=ATLEAST_VJPS, jvps=[atleast_3d_jvp], result="atleast 3")


# a rotation: the reverse rotates back
def roll(x, shift, g):
    return np.roll(g, -shift), None


def roll_axis(x, shift, axis, g):
    return np.roll(g, -shift, axis), None, None


def roll_jvp(x, shift, dx, dshift):
    return np.roll(dx, shift), None


def roll_axis_jvp(x, shift, axis, dx, dshift, daxis):
    return np.roll(dx, shift, axis), None, None


declare("np.roll", vjps=[roll, roll_axis], jvps=[roll_jvp, roll_axis_jvp], result="array like", value=True)


# reversal of every axis: its own reverse
def flip(x, g):
    return np.flip(g)


def flip_jvp(x, dx):
    return np.flip(dx)


declare("np.flip", vjps=[flip], jvps=[flip_jvp], result="array like")


# a sort permutes: the reverse puts each sensitivity back where its element came from (the
# inverse permutation, argsort of the argsort; tied elements are equal, so either order holds)
def sort(x, g):
    return g[np.argsort(np.argsort(x))]


def sort_jvp(x, dx):
    return dx[np.argsort(x)]


declare("np.sort", vjps=[variant(sort, ranks=(1,), exact_shape=True)], jvps=[sort_jvp], result="array like", value=True)


# each element `repeats` times in a row, flattened: the reverse sums each run back
def repeat(x, repeats, g):
    return np.reshape(np.sum(np.reshape(g, (x.size, repeats)), axis=1), x.shape), None


def repeat_of_number(x, repeats, g):
    return np.sum(g), None


def repeat_jvp(x, repeats, dx, drepeats):
    return np.repeat(dx, repeats), None


declare("np.repeat", vjps=[variant(repeat_of_number, ranks=(0, 0)), variant(repeat, ranks=(1, 0), exact_shape=True),
                           variant(repeat, ranks=(2, 0), exact_shape=True)],
        jvps=[repeat_jvp], result="vector", value=True)


# np.diag of a vector makes a matrix, of a matrix takes its diagonal (a rectangular one's too:
# the eye factors put g on the diagonal of a matrix of x's shape)
def diag_of_vector(x, g):
    return np.diag(g)


def diag_of_vector_offset(x, k, g):
    return np.diag(g, k), None


def diag_of_matrix(x, g):
    return np.eye(x.shape[0], g.shape[0]) @ np.diag(g) @ np.eye(g.shape[0], x.shape[1])


def diag_of_matrix_offset(x, k, g):
    return np.eye(x.shape[0], g.shape[0] + abs(k)) @ np.diag(g, k) @ np.eye(g.shape[0] + abs(k), x.shape[1]), None


def diag_jvp(x, dx):
    return np.diag(dx)


def diag_offset_jvp(x, k, dx, dk):
    return np.diag(dx, k), None


declare("np.diag", vjps=[variant(diag_of_vector, ranks=(1,), exact_shape=True),
                         variant(diag_of_vector_offset, ranks=(1,), exact_shape=True),
                         variant(diag_of_matrix, ranks=(2,), exact_shape=True),
                         variant(diag_of_matrix_offset, ranks=(2,), exact_shape=True)],
        jvps=[diag_jvp, diag_offset_jvp], result="diag", value=True)


# triangles of a matrix (np.tril of a vector makes one: not differentiated): the reverse keeps
# the same triangle of g
def tril(x, g):
    return np.tril(g)


def tril_offset(x, k, g):
    return np.tril(g, k), None


def tril_jvp(x, dx):
    return np.tril(dx)


def tril_offset_jvp(x, k, dx, dk):
    return np.tril(dx, k), None


def triu(x, g):
    return np.triu(g)


def triu_offset(x, k, g):
    return np.triu(g, k), None


def triu_jvp(x, dx):
    return np.triu(dx)


def triu_offset_jvp(x, k, dx, dk):
    return np.triu(dx, k), None


declare("np.tril", vjps=[variant(tril, ranks=(2,), exact_shape=True), variant(tril_offset, ranks=(2,), exact_shape=True)],
        jvps=[tril_jvp, tril_offset_jvp], result="array like", value=True)
declare("np.triu", vjps=[variant(triu, ranks=(2,), exact_shape=True), variant(triu_offset, ranks=(2,), exact_shape=True)],
        jvps=[triu_jvp, triu_offset_jvp], result="array like", value=True)
