"""Calls in the forms the rule table and numba know, so that the derivative rules stay those
of the plain calls: `min(a, b, c)` -> `min(min(a, b), c)` (also max, math.hypot),
`math.log(x, b)` -> `log(x) / log(b)`, a reduction's `axis=(0, 1)` one axis at a time and
its `keepdims=True` as np.expand_dims of the result, np.var's and np.std's `ddof` as a
factor, and np.convolve's `mode=` as a slice of the full convolution (numba has only that).
"""

from __future__ import annotations

import gast
import numpy as np

from ..ir import annotations, nodes
from ..primitives import table
from .indexing import axis_value, expanded


def norm_method(callee):
    """"cdf", "pdf" or "logpdf" where callee is that method of scipy.stats.norm, else None."""
    import sys
    stats = sys.modules.get("scipy.stats")
    # (by its class: a deep copy of the tree, the primal's, copies the bound method's object)
    if stats is None or type(getattr(callee, "__self__", None)) is not type(stats.norm):
        return None
    name = getattr(callee, "__name__", None)
    return name if name in ("cdf", "pdf", "logpdf") else None


NORM_OPTIONS = ("loc", "scale")          # norm.logpdf(x, loc, scale), positional or by keyword


def _standardized(call, stmt, normalizer, method):
    """norm.f(x, loc, scale) as norm.f of z = (x - loc) / scale: the cdf of z, the pdf of z over
    scale, the logpdf of z minus log(scale), so that the records stay those of one argument."""
    given = dict(zip(("x",) + NORM_OPTIONS, call.args))
    given.update((k.arg, k.value) for k in call.keywords)
    pre, z = [], given["x"]
    for name, op in zip(NORM_OPTIONS, ("-", "/")):
        if name in given:
            p, z = normalizer.to_atom(nodes.binop(_renamed(z), op, _renamed(given[name])), stmt)
            pre += p
    single = nodes.call(nodes.clone(call.func), [_renamed(z)])
    annotations.set(single, "callee", annotations.get(call, "callee"))
    if "scale" not in given or method == "cdf":
        return pre, single
    p, value = normalizer.to_atom(single, stmt)
    pre += p
    if method == "pdf":
        return pre, nodes.binop(value, "/", _renamed(given["scale"]))
    log = nodes.call("np.log", [_renamed(given["scale"])])
    annotations.set(log, "callee", np.log)
    p, log_scale = normalizer.to_atom(log, stmt)
    return pre + p, nodes.binop(value, "-", log_scale)


def nested(call, stmt, normalizer):
    """Calls the rule table knows only in a simpler form:
    min(a, b, c) -> min(min(a, b), c) (also max, math.hypot); math.log(x, b) -> log(x) / log(b);
    scipy.stats.norm's cdf, pdf and logpdf with loc and scale -> of the standardized argument."""
    import math
    callee = annotations.get(call, "callee")
    method = norm_method(callee)
    if method is not None and (len(call.args) > 1 or call.keywords):
        return _standardized(call, stmt, normalizer, method)
    if callee in table.variadic() and callee is not math.log and len(call.args) > 2 and not call.keywords:
        pre = []
        inner = nodes.call(nodes.clone(call.func), call.args[:2])
        annotations.set(inner, "callee", callee)
        for arg in call.args[2:]:
            p, a = normalizer.to_atom(inner, stmt)
            pre += p
            inner = nodes.call(nodes.clone(call.func), [a, arg])
            annotations.set(inner, "callee", callee)
        return pre, inner
    if callee is math.log and len(call.args) == 2:
        logs, pre = [], []
        for arg in call.args:
            single = nodes.call(nodes.clone(call.func), [arg])
            annotations.set(single, "callee", callee)
            p, a = normalizer.to_atom(single, stmt)
            pre += p
            logs.append(a)
        return pre, nodes.binop(logs[0], "/", logs[1])
    return [], call


_REDUCTIONS = (np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.var, np.std, np.all, np.any,
               np.linalg.norm)


def keyword_forms(call, stmt, normalizer):
    """Keyword options numba lacks (or that the rule table reads in a simpler form) as plain
    calls: axis=(0, 1) reduces one axis at a time, keepdims=True reduces then np.expand_dims,
    np.convolve's mode='valid'/'same' slices the full convolution (validate has checked the
    values)."""
    callee = annotations.get(call, "callee")
    if callee is np.convolve:
        return _convolve_mode(call, stmt, normalizer)
    if callee in (np.var, np.std) and any(k.arg == "ddof" for k in call.keywords):
        return _ddof_form(call, stmt, normalizer)
    if callee not in _REDUCTIONS:
        return [], call
    dtype = next((k.value for k in call.keywords if k.arg == "dtype"), None)
    if callee in (np.mean, np.prod) and dtype is not None and nodes.dotted(dtype) in ("np.float64", "float"):
        _pop_keyword(call, "dtype")          # numba has no dtype= there; float64 is what it computes in
    keepdims = _pop_keyword(call, "keepdims")
    position = 2 if callee is np.linalg.norm else 1          # np.linalg.norm(x, ord, axis)
    axis = next((k.value for k in call.keywords if k.arg == "axis"),
                call.args[position] if len(call.args) > position else None)
    keep = keepdims is not None and keepdims.value and axis is not None
    if not isinstance(axis, gast.Tuple) and not keep:
        return [], call
    if len(call.args) > position:            # np.sum(x, (0, 1)): the axis by name below
        call.args.pop(position)
    axes = list(axis.elts) if isinstance(axis, gast.Tuple) else [axis]
    others = [k for k in call.keywords if k.arg != "axis"]
    # one axis at a time, the later axes first so that the earlier keep their numbers
    order = sorted(axes, key=lambda a: -axis_value(a)) if all(axis_value(a) is not None and axis_value(a) >= 0 for a in axes) \
        else sorted(axes, key=lambda a: axis_value(a) if axis_value(a) is not None else 0)
    # a mean over several axes: their sums over the number of elements summed (numba has
    # np.mean along one axis of a matrix only)
    mean = callee is np.mean and len(axes) > 1
    func, reduce = (nodes.attribute("np.sum"), np.sum) if mean else (call.func, callee)
    pre, result = [], call.args[0]
    for k, one in enumerate(order):
        step = nodes.call(nodes.clone(func), [result] + [nodes.clone(r) for r in call.args[1:]],
                          [nodes.keyword("axis", nodes.clone(one))]
                          + [nodes.keyword(o.arg, nodes.clone(o.value)) for o in others])
        annotations.set(step, "callee", reduce)
        if k == len(order) - 1 and not keep and not mean:
            return pre, step
        p, result = normalizer.to_atom(step, stmt)
        pre += p
    if mean:
        shape = nodes.attribute_of(_renamed(call.args[0]), "shape")
        count = nodes.subscript(nodes.clone(shape), nodes.clone(axes[0]))
        for one in axes[1:]:
            count = nodes.binop(count, "*", nodes.subscript(nodes.clone(shape), nodes.clone(one)))
        p, result = normalizer.rhs(nodes.binop(_renamed(result), "/", count), stmt)
        pre += p
        if not keep:
            return pre, result
        p, result = normalizer.to_atom(result, stmt)
        pre += p
    return expanded(result, [nodes.clone(a) for a in axes], stmt, normalizer, pre)


def _ddof_form(call, stmt, normalizer):
    """np.var(x, ddof=d) as np.var(x) * (n / max(n - d, 0)), n the number of elements each
    value reduces (np.std: times the square root of that), as numpy defines it: numba has no
    ddof, and the derivative rules stay the plain reductions'."""
    ddof = _pop_keyword(call, "ddof")
    axis = next((k.value for k in call.keywords if k.arg == "axis"), call.args[1] if len(call.args) > 1 else None)
    x = _renamed(call.args[0])
    count = nodes.attribute_of(x, "size") if axis is None or (isinstance(axis, gast.Constant) and axis.value is None) \
        else nodes.subscript(nodes.attribute_of(x, "shape"), _renamed(axis))

    def called(fn, args):
        found = nodes.call(f"np.{fn.__name__}", args)
        annotations.set(found, "callee", fn)
        return found
    left = called(np.maximum, [nodes.binop(nodes.clone(count), "-", _renamed(ddof)), nodes.const(0)])
    factor = called(np.divide, [count, left])
    if annotations.get(call, "callee") is np.std:
        factor = called(np.sqrt, [factor])
    pre, reduced = keyword_forms(call, stmt, normalizer)          # keepdims=True
    p, reduced = normalizer.to_atom(reduced, stmt)
    pre += p
    p, value = normalizer.rhs(nodes.binop(_renamed(reduced), "*", factor), stmt)
    return pre + p, value


def _pop_keyword(call, name):
    found = next((k for k in call.keywords if k.arg == name), None)
    if found is not None:
        call.keywords = [k for k in call.keywords if k is not found]
        return found.value
    return None


def _convolve_mode(call, stmt, normalizer):
    """np.convolve(a, v, mode): numba has the full convolution only; 'valid' and 'same' are
    its middle part, as numpy slices it."""
    mode = _pop_keyword(call, "mode")
    if len(call.args) > 2:
        mode = call.args.pop(2)
    if mode is None or mode.value == "full":
        return [], call
    pre, full = normalizer.to_atom(call, stmt)

    def length(array):
        return nodes.subscript(nodes.attribute_of(_renamed(array), "shape"), nodes.const(0))

    def extreme(fn):
        found = nodes.call(fn.__name__, [length(call.args[0]), length(call.args[1])])
        annotations.set(found, "callee", fn)
        return found

    shorter, longer = extreme(min), extreme(max)
    if mode.value == "valid":                          # a[k:k + |a| - |v| + 1], k = |v| - 1
        part = nodes.slice_(nodes.binop(shorter, "-", nodes.const(1)), longer)
    else:                                              # 'same': |a| values, centred
        start = nodes.binop(nodes.binop(shorter, "-", nodes.const(1)), "//", nodes.const(2))
        part = nodes.slice_(start, nodes.binop(nodes.clone(start), "+", longer))
    p, value = normalizer.rhs(nodes.subscript(_renamed(full), part), stmt)
    return pre + p, value


def _renamed(atom):
    """An atom of normalized code read again by the normalizer: its names are final."""
    atom = nodes.clone(atom)
    if isinstance(atom, gast.Name):
        annotations.set(atom, "renamed", True)
    return atom
