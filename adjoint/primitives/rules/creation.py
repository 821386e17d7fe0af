"""New arrays: from sizes (np.zeros, np.eye, np.arange, ...: no derivative, whatever their
arguments' values), filled with a value (np.full, np.full_like, np.linspace), from a
sequence of parts (np.stack, np.array, np.concatenate, np.vstack, np.hstack, np.column_stack: a
rule per part), index arrays
(np.triu_indices), and copies (np.copy, np.ascontiguousarray, np.asarray).
"""

from __future__ import annotations

import numpy as np

from ..registry import declare, variant

# new arrays, whatever their arguments' values
declare("np.zeros", constant=True, result="creator", allocates=True)
declare("np.ones", constant=True, result="creator", allocates=True)
declare("np.empty", constant=True, result="creator", allocates=True)
declare("np.zeros_like", constant=True, result="like", allocates=True)
declare("np.ones_like", constant=True, result="like", allocates=True)
declare("np.empty_like", constant=True, result="like", allocates=True)


# new arrays filled with a value: the fill's sensitivity is the sum of the result's, summed
# back to the fill's own shape where it broadcast (a number: the whole sum)
def full(shape, fill, g):
    return None, g


def full_jvp(shape, fill, dshape, dfill):
    return None, np.full(shape, dfill)


def full_like(a, fill, g):
    return None, g


def full_like_jvp(a, fill, da, dfill):
    return None, np.full_like(a, dfill)


# with a dtype, as the optimizer writes a sensitivity filled with one value (optimize/tidy)
def full_dtype(shape, fill, dtype, g):
    return None, g, None


def full_dtype_jvp(shape, fill, dtype, dshape, dfill, ddtype):
    return None, np.full(shape, dfill, dtype), None


declare("np.full", vjps=[variant(full, broadcasts=True), variant(full_dtype, broadcasts=True)],
        jvps=[full_jvp, full_dtype_jvp], result="creator", allocates=True, value=True)
declare("np.full_like", vjps=[variant(full_like, broadcasts=True)], jvps=[full_like_jvp], result="like",
        allocates=True, value=True)
declare("np.arange", constant=True, result="vector", allocates=True)


# evenly spaced: start + (stop - start) t, t = 0, 1 / (num - 1), ..., 1
def linspace(start, stop, num, g):
    return np.sum(g * (1.0 - np.linspace(0.0, 1.0, num))), np.sum(g * np.linspace(0.0, 1.0, num)), None


def linspace_jvp(start, stop, num, dstart, dstop, dnum):
    return (1.0 - np.linspace(0.0, 1.0, num)) * dstart, np.linspace(0.0, 1.0, num) * dstop, None


declare("np.linspace", vjps=[variant(linspace, ranks=(0, 0))], jvps=[linspace_jvp], result="vector",
        allocates=True, value=True)
declare("np.eye", constant=True, result="matrix", allocates=True)
declare("np.identity", constant=True, result="matrix", allocates=True)
declare("np.tri", constant=True, result="matrix", allocates=True)


# sequences of arrays or scalars: the contribution to part number k, which starts at `offset`
# and spans `size` along the joined axis (written for axis 0: registry.PartsRule)
def stacked_part(part, k, offset, size, g):
    return g[k]


def concatenated_part(part, k, offset, size, g):
    return g[offset:offset + size]


declare("np.stack", parts=stacked_part, result="stack", allocates=True)
declare("np.array", parts=stacked_part, parts_axis=False, result="array", allocates=True)
declare("np.concatenate", parts=concatenated_part, result="concatenate", allocates=True)


# joined on an axis their rank decides: (the axis, whether a part of that rank gains it, as
# np.stack's parts do, or is concatenated); None where numpy's result is not one of these
def vstack_axis(rank):       # vectors become rows, matrices are concatenated
    return {1: (0, True), 2: (0, False)}.get(rank)


def hstack_axis(rank):       # numbers and vectors end to end, matrices side by side
    return {0: (0, True), 1: (0, False), 2: (1, False)}.get(rank)


def column_stack_axis(rank):  # vectors become columns, matrices side by side
    return {1: (1, True), 2: (1, False)}.get(rank)


declare("np.vstack", parts=concatenated_part, parts_axis=vstack_axis, result="vstack", allocates=True)
declare("np.hstack", parts=concatenated_part, parts_axis=hstack_axis, result="hstack", allocates=True)
declare("np.column_stack", parts=concatenated_part, parts_axis=column_stack_axis, result="column_stack",
        allocates=True)


# integer outputs: a pair of index arrays, unpacked (`i, j = np.triu_indices(n, k=1)`)
declare("np.triu_indices", constant=True, result="index_pair", allocates=True)
declare("np.tril_indices", constant=True, result="index_pair", allocates=True)


def copy_(x, g):
    return g


def copy_jvp(x, dx):
    return np.copy(dx)


declare("np.copy", vjps=[copy_], jvps=[copy_jvp], result="like")
declare("np.ascontiguousarray", vjps=[copy_], jvps=[copy_jvp])
# np.asarray(x, dtype=...), which x.astype(dtype) becomes: of floats a copy, of an integer or
# boolean dtype no derivative (its result is no float: the activity analysis stops there)
declare("np.asarray", vjps=[copy_], jvps=[copy_jvp], result="astype")
