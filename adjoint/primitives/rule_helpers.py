"""The runtime helpers that derivative rules call by name (primitives/rules/): loops that no
numpy expression writes without division. Like runtime.py's, each is source written into the
module that calls it (runtime.source finds it here); `runnable` makes it a Python function,
so that the rules calling it run as written. A gradient calling one is differentiated again
(hvp, grad of grad) through its loops, as user code: no rule of its own is needed.
"""

from __future__ import annotations

import numpy as np

RULE_HELPERS = {}

# np.cumprod's and np.prod's derivatives without division (primitives/rules/reductions.py):
# d cumprod(x)[j] / d x[i] is the product of the factors up to j other than x[i], which
# cumprod(x)[j] / x[i] gives only where x[i] is not 0, and whose derivative, of that quotient,
# cancels near a zero factor. As first-order recurrences they are exact at zeros and near them.
RULE_HELPERS["_cumprod_vjp"] = "\n".join([
    "def _cumprod_vjp(x, g):",
    '    """np.cumprod(x)\'s vector-Jacobian product (x a vector): the factors\' product before each times r[i] = g[i] + x[i + 1] r[i + 1]."""',
    "    n = x.shape[0]",
    "    out = np.empty(n)",
    "    after = 0.0",
    "    for k in range(n):",
    "        out[n - 1 - k] = g[n - 1 - k] + after",
    "        after = out[n - 1 - k] * x[n - 1 - k]",
    "    before = 1.0",
    "    for i in range(n):",
    "        out[i] = out[i] * before",
    "        before = before * x[i]",
    "    return out"]) + "\n"
RULE_HELPERS["_cumprod_jvp"] = "\n".join([
    "def _cumprod_jvp(x, dx):",
    '    """np.cumprod(x)\'s Jacobian-vector product (x a vector): d out[i] = x[i] d out[i - 1] + dx[i] out[i - 1]."""',
    "    n = x.shape[0]",
    "    out = np.empty(n)",
    "    value = 1.0",
    "    tangent = 0.0",
    "    for i in range(n):",
    "        tangent = tangent * x[i] + dx[i] * value",
    "        value = value * x[i]",
    "        out[i] = tangent",
    "    return out"]) + "\n"

# along an axis (any rank): the same recurrences along each line, the lines made the rows of
# a contiguous copy first
RULE_HELPERS["_cumprod_vjp_axis"] = "\n".join([
    "def _cumprod_vjp_axis(x, g, axis):",
    '    """np.cumprod(x, axis)\'s vector-Jacobian product: that of _cumprod_vjp along each line of `axis`."""',
    "    y = np.ascontiguousarray(np.swapaxes(x, axis, -1))",
    "    n = y.shape[-1]",
    "    xs = y.reshape((y.size // max(n, 1), n))",
    "    gs = np.ascontiguousarray(np.swapaxes(g, axis, -1)).reshape(xs.shape)",
    "    out = np.empty(xs.shape)",
    "    for j in range(xs.shape[0]):",
    "        after = 0.0",
    "        for k in range(n):",
    "            out[j, n - 1 - k] = gs[j, n - 1 - k] + after",
    "            after = out[j, n - 1 - k] * xs[j, n - 1 - k]",
    "        before = 1.0",
    "        for i in range(n):",
    "            out[j, i] = out[j, i] * before",
    "            before = before * xs[j, i]",
    "    return np.ascontiguousarray(np.swapaxes(out.reshape(y.shape), axis, -1))"]) + "\n"
RULE_HELPERS["_cumprod_jvp_axis"] = "\n".join([
    "def _cumprod_jvp_axis(x, dx, axis):",
    '    """np.cumprod(x, axis)\'s Jacobian-vector product: that of _cumprod_jvp along each line of `axis`."""',
    "    y = np.ascontiguousarray(np.swapaxes(x, axis, -1))",
    "    n = y.shape[-1]",
    "    xs = y.reshape((y.size // max(n, 1), n))",
    "    dxs = np.ascontiguousarray(np.swapaxes(dx, axis, -1)).reshape(xs.shape)",
    "    out = np.empty(xs.shape)",
    "    for j in range(xs.shape[0]):",
    "        value = 1.0",
    "        tangent = 0.0",
    "        for i in range(n):",
    "            tangent = tangent * xs[j, i] + dxs[j, i] * value",
    "            value = value * xs[j, i]",
    "            out[j, i] = tangent",
    "    return np.ascontiguousarray(np.swapaxes(out.reshape(y.shape), axis, -1))"]) + "\n"

RULE_HELPERS["_others_product_axis"] = "\n".join([
    "def _others_product_axis(x, axis):",
    '    """np.prod(x, axis)\'s partials: along each line of `axis`, the product of the factors before each times that of those after it."""',
    "    y = np.ascontiguousarray(np.swapaxes(x, axis, -1))",
    "    n = y.shape[-1]",
    "    xs = y.reshape((y.size // max(n, 1), n))",
    "    out = np.empty(xs.shape)",
    "    for j in range(xs.shape[0]):",
    "        after = 1.0",
    "        for k in range(n):",
    "            out[j, n - 1 - k] = after",
    "            after = after * xs[j, n - 1 - k]",
    "        before = 1.0",
    "        for i in range(n):",
    "            out[j, i] = out[j, i] * before",
    "            before = before * xs[j, i]",
    "    return np.ascontiguousarray(np.swapaxes(out.reshape(y.shape), axis, -1))"]) + "\n"
RULE_HELPERS["_others_product"] = "\n".join([
    "def _others_product(x):",
    '    """np.prod(x)\'s partials: the product of the factors before each (x flattened) times that of those after it."""',
    "    xs = np.ravel(x)",
    "    n = xs.shape[0]",
    "    out = np.empty(n)",
    "    after = 1.0",
    "    for k in range(n):",
    "        out[n - 1 - k] = after",
    "        after = after * xs[n - 1 - k]",
    "    before = 1.0",
    "    for i in range(n):",
    "        out[i] = out[i] * before",
    "        before = before * xs[i]",
    "    return out.reshape(x.shape)"]) + "\n"

# np.take_along_axis gathers along an axis: its reverse adds each sensitivity back into the
# place it was taken from, a loop (a repeated place adds up, as numpy's buffered `+=` would not)
RULE_HELPERS["_take_along_axis_vjp"] = "\n".join([
    "def _take_along_axis_vjp(x, indices, axis, g):",
    '    """np.take_along_axis(x, indices, axis)\'s vector-Jacobian product: each g added into the place of x it was taken from."""',
    "    lines = np.swapaxes(x, axis, -1).shape",
    "    n = x.shape[axis]",
    "    gs = np.ascontiguousarray(np.swapaxes(g, axis, -1))",
    "    m = gs.shape[-1]",
    "    count = gs.size // max(m, 1)",
    "    g2 = gs.reshape((count, m))",
    "    i2 = np.ascontiguousarray(np.swapaxes(np.broadcast_to(indices, g.shape), axis, -1)).reshape((count, m))",
    "    out = np.zeros((count, n), g.dtype)",
    "    for j in range(count):",
    "        for k in range(m):",
    "            i = i2[j, k]",
    "            if i < 0:",
    "                i = i + n",
    "            out[j, i] += g2[j, k]",
    "    return np.swapaxes(out.reshape(lines), axis, -1)"]) + "\n"


# np.pad (primitives/rules/shape.py), one axis at a time: each element of a padded axis is
# copied from the element its mode names, or is a zero (mode "constant"); numba has no
# np.pad, so the cpu target's code calls _pad for it (lower/for_numba.py). The reverse adds
# each padded element's sensitivity back into the element it was copied from, the axes in
# the reverse order. The source of a padded position k of an axis of length n:
_PAD_SOURCE = [
    "            k = i - before",
    "            if k < 0 or k >= n:",
    "                if mode == 'constant':",
    "                    k = -1",
    "                elif mode == 'edge':",
    "                    k = 0 if k < 0 else n - 1",
    "                elif mode == 'wrap':",
    "                    k = k % n",
    "                elif mode == 'reflect':",
    "                    k = 0 if n == 1 else k % (2 * n - 2)",
    "                    k = k if k < n else 2 * n - 2 - k",
    "                else:                                    # 'symmetric'",
    "                    k = k % (2 * n)",
    "                    k = k if k < n else 2 * n - 1 - k",
]
RULE_HELPERS["_pad"] = "\n".join([
    "def _pad(x, pad_width, mode):",
    '    """np.pad(x, pad_width, mode) of the modes constant (zeros), edge, wrap, reflect and symmetric."""',
    "    widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))",
    "    out = np.ascontiguousarray(x)",
    "    for axis in range(x.ndim):",
    "        before, after = widths[axis, 0], widths[axis, 1]",
    "        z = np.ascontiguousarray(np.swapaxes(out, axis, -1))",
    "        n = z.shape[-1]",
    "        rows = z.reshape((z.size // max(n, 1), n))",
    "        m = n + before + after",
    "        padded = np.zeros((rows.shape[0], m), x.dtype)",
    "        for i in range(m):",
    *_PAD_SOURCE,
    "            if k >= 0:",
    "                padded[:, i] = rows[:, k]",
    "        out = np.ascontiguousarray(np.swapaxes(padded.reshape(z.shape[:-1] + (m,)), axis, -1))",
    "    return out"]) + "\n"
RULE_HELPERS["_pad_vjp"] = "\n".join([
    "def _pad_vjp(x, pad_width, mode, g):",
    '    """np.pad(x, pad_width, mode)\'s vector-Jacobian product: each element of g added into the element of x it was copied from."""',
    "    widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))",
    "    out = np.ascontiguousarray(g)",
    "    for step in range(x.ndim):",
    "        axis = x.ndim - 1 - step",
    "        before, after = widths[axis, 0], widths[axis, 1]",
    "        z = np.ascontiguousarray(np.swapaxes(out, axis, -1))",
    "        m = z.shape[-1]",
    "        n = m - before - after",
    "        rows = z.reshape((z.size // max(m, 1), m))",
    "        summed = np.zeros((rows.shape[0], n), g.dtype)",
    "        for i in range(m):",
    *_PAD_SOURCE,
    "            if k >= 0:",
    "                summed[:, k] += rows[:, i]",
    "        out = np.ascontiguousarray(np.swapaxes(summed.reshape(z.shape[:-1] + (n,)), axis, -1))",
    "    return out"]) + "\n"



def emitted_helper(fn) -> str | None:
    """The name of the RULE_HELPERS helper `fn` is, where it is one as emitted (its name and
    docstring), else None: emitted code read again (hvp, grad(grad(f)))."""
    name = getattr(fn, "__name__", "")
    if name not in RULE_HELPERS or not callable(fn):
        return None
    return name if getattr(fn, "__doc__", None) == _docstring(name) else None


def _docstring(name: str) -> str:
    text = RULE_HELPERS[name]
    start = text.index('"""') + 3
    return text[start:text.index('"""', start)].encode().decode("unicode_escape")

def runnable(name: str):
    """A helper of RULE_HELPERS as a Python function, for the rules that call it to run as written."""
    namespace = {"np": np}
    exec(RULE_HELPERS[name], namespace)
    return namespace[name]
