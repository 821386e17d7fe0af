"""Primitives that move elements and do no arithmetic: shapes and axes (np.reshape,
np.ravel, np.transpose, np.swapaxes, np.expand_dims, np.squeeze, np.broadcast_to,
np.atleast_1d/2d/3d, np.shape), orders (np.roll, np.flip, np.sort),
gathers (np.take_along_axis), repetition (np.repeat) and parts of a matrix
(np.diag, np.tril, np.triu), tiles (np.tile), padding (np.pad). Each reverse puts a sensitivity back where its element came
from (summing where one element went to several places).
"""

from __future__ import annotations

import numpy as np

from ..registry import declare, variant
from ..rule_helpers import runnable

_take_along_axis_vjp = runnable("_take_along_axis_vjp")
_pad_vjp = runnable("_pad_vjp")


def transpose(x, g):
    return np.transpose(g)


def transpose_jvp(x, dx):
    return np.transpose(dx)


# with its axes in a new order (np.transpose(x, (0, 2, 1)), axes= as written): the reverse puts
# them back, in the inverse order (normalize writes the order (1, 0) as the plain transpose)
def transpose_axes(x, axes, g):
    return np.transpose(g, np.argsort(axes)), None


def transpose_axes_jvp(x, axes, dx, daxes):
    return np.transpose(dx, axes), None


declare("np.transpose", vjps=[transpose, transpose_axes], jvps=[transpose_jvp, transpose_axes_jvp], result="like")


# an axis of length 1 taken away (np.squeeze(x, axis=1)): the reverse puts it back
def squeeze(x, axis, g):
    return np.expand_dims(g, axis), None


def squeeze_jvp(x, axis, dx, daxis):
    return np.squeeze(dx, axis), None


declare("np.squeeze", vjps=[squeeze], jvps=[squeeze_jvp], result="squeeze")


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


# reversal of one axis (np.flip(x, 0), axis= as written): its own reverse too
def flip_axis(x, axis, g):
    return np.flip(g, axis), None


def flip_axis_jvp(x, axis, dx, daxis):
    return np.flip(dx, axis), None


declare("np.flip", vjps=[flip, flip_axis], jvps=[flip_jvp, flip_axis_jvp], result="array like")


# a sort permutes: the reverse puts each sensitivity back where its element came from (the
# inverse permutation, argsort of the argsort; tied elements are equal, so either order holds).
# Of a matrix, each row is sorted (the last axis), or each line along `axis`.
def sort(x, g):
    return g[np.argsort(np.argsort(x))]


def sort_rows(x, g):
    return np.take_along_axis(g, np.argsort(np.argsort(x, -1), -1), -1)


def sort_axis(x, axis, g):
    return np.take_along_axis(g, np.argsort(np.argsort(x, axis), axis), axis), None


def sort_jvp(x, dx):
    return dx[np.argsort(x)]


def sort_rows_jvp(x, dx):
    return np.take_along_axis(dx, np.argsort(x, -1), -1)


def sort_axis_jvp(x, axis, dx, daxis):
    return np.take_along_axis(dx, np.argsort(x, axis), axis), None


declare("np.sort", vjps=[variant(sort, ranks=(1,), exact_shape=True), variant(sort_rows, ranks=(2,), exact_shape=True),
                         variant(sort_axis, exact_shape=True)],
        jvps=[variant(sort_jvp, ranks=(1,)), variant(sort_rows_jvp, ranks=(2,)), sort_axis_jvp],
        result="array like", value=True)


# a gather along an axis (np.sort's reverse, argsort's and argmax's idioms): the reverse adds
# each sensitivity back where its element was taken from (rule_helpers), the tangent gathers
# the tangent the same way
def take_along_axis(x, indices, axis, g):
    return _take_along_axis_vjp(x, indices, axis, g), None, None


def take_along_axis_jvp(x, indices, axis, dx, dindices, daxis):
    return np.take_along_axis(dx, indices, axis), None, None


declare("np.take_along_axis", vjps=[variant(take_along_axis, exact_shape=True)], jvps=[take_along_axis_jvp],
        result="like", value=True)


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


# copies of x side by side (np.tile(x, r) of a vector or a matrix, r a number: analysis/shapes
# rejects a tuple of counts): the reverse sums the copies, g seen with an axis for them
def tile_vector(x, reps, g):
    return np.sum(np.reshape(g, (reps, x.shape[0])), axis=0), None


def tile_matrix(x, reps, g):    # (g's copies of x.T stacked on top of each other: rank 2 throughout)
    return np.transpose(np.reshape(np.sum(np.reshape(np.ascontiguousarray(np.transpose(g)),
                                                     (reps, x.shape[1] * x.shape[0])), axis=0),
                                   (x.shape[1], x.shape[0]))), None


def tile_jvp(x, reps, dx, dreps):
    return np.tile(dx, reps), None


declare("np.tile", vjps=[variant(tile_vector, ranks=(1, 0), exact_shape=True),
                         variant(tile_matrix, ranks=(2, 0), exact_shape=True)],
        jvps=[tile_jvp], result="tile", value=True)


# padding copies edge elements outward (np.pad's modes constant with zeros, edge, wrap,
# reflect, symmetric; the call form puts the mode third): the reverse adds each copy's
# sensitivity back into the element it came from (rule_helpers._pad_vjp), the padding
# itself is linear, so the tangent is the tangent padded alike
def pad(x, pad_width, mode, g):
    return _pad_vjp(x, pad_width, mode, g), None, None


def pad_jvp(x, pad_width, mode, dx, dpad_width, dmode):
    return np.pad(dx, pad_width, mode), None, None


declare("np.pad", vjps=[variant(pad, exact_shape=True)], jvps=[pad_jvp], result="array like", value=True)
