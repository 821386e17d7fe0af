"""Calls in the forms the rule table and numba know, so that the derivative rules stay those
of the plain calls: `min(a, b, c)` -> `min(min(a, b), c)` (also max, math.hypot),
`math.log(x, b)` -> `log(x) / log(b)`, a reduction's `axis=(0, 1)` one axis at a time and
its `keepdims=True` as np.expand_dims of the result, np.var's and np.std's `ddof` as a
factor, and np.convolve's `mode=` as a slice of the full convolution (numba has only that;
np.correlate is np.convolve of the second array reversed);
options whose derivative is that of other calls written as those: np.diff's `n` as repeated
differences, np.linspace's `endpoint=False` as a slice, np.take as an element read,
np.linalg.matrix_power as products, np.average as a mean or a weighted sum, np.sum's `where=`
as np.where, np.max's and np.min's `initial=` as np.maximum and np.minimum, np.transpose's axes
(1, 0) as the plain transpose,
np.linalg.norm's `ord` in the one form the rule table reads (np.linalg.norm(x, ord, axis)),
scipy.linalg's solvers (solve_triangular, cholesky, solve, inv, det) as np.linalg's,
scipy.special's softmax and log_softmax through logsumexp, np.repeat's `axis` as a gather of
the repeated indices, and np.meshgrid of two vectors as its two grids, each a vector broadcast
(numba has neither).
"""

from __future__ import annotations

import math
import sys

import gast
import numpy as np

from ..errors import AdjointError
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


MVN_OPTIONS = ("mean", "cov")            # multivariate_normal.logpdf(x, mean, cov)


def mvn_logpdf(callee) -> bool:
    """Whether callee is scipy.stats.multivariate_normal.logpdf."""
    import sys
    stats = sys.modules.get("scipy.stats")
    return stats is not None and type(getattr(callee, "__self__", None)) is type(stats.multivariate_normal) \
        and getattr(callee, "__name__", None) == "logpdf"


def _multivariate_normal_logpdf(call, stmt, normalizer):
    """multivariate_normal.logpdf(x, mean, cov), a covariance matrix given, as the density
    written out: -(r . solve(cov, r) + log|cov| + d log 2 pi) / 2 with r = x - mean, one value
    per row of x (a vector x: one value), so that the derivative is solve's and slogdet's."""
    given = dict(zip(("x",) + MVN_OPTIONS, call.args))
    given.update((k.arg, k.value) for k in call.keywords)
    if "cov" not in given or len(call.args) > 3 or set(given) - {"x", *MVN_OPTIONS}:
        raise AdjointError("multivariate_normal.logpdf is supported as logpdf(x, mean, cov), with the "
                           "covariance matrix given", location=normalizer.where(stmt),
                           hint="pass the covariance as a matrix: multivariate_normal.logpdf(x, mean, cov)")
    pre, r = [], given["x"]
    if "mean" in given:
        pre, r = normalizer.to_atom(nodes.binop(_renamed(r), "-", _renamed(given["mean"])), stmt)
    cov = given["cov"]
    z = _called(np.transpose, "np.transpose", [_called(np.linalg.solve, "np.linalg.solve", [
        _renamed(cov), _called(np.transpose, "np.transpose", [_renamed(r)])])])
    quad = _called(np.sum, "np.sum", [nodes.binop(_renamed(r), "*", z)], [nodes.keyword("axis", nodes.const(-1))])
    logdet = nodes.subscript(_called(np.linalg.slogdet, "np.linalg.slogdet", [_renamed(cov)]), nodes.const(1))
    size = nodes.subscript(nodes.attribute_of(_renamed(cov), "shape"), nodes.const(0))
    total = nodes.binop(nodes.binop(quad, "+", logdet), "+", nodes.binop(size, "*", nodes.const(math.log(2 * math.pi))))
    p, value = normalizer.rhs(nodes.binop(nodes.const(-0.5), "*", total), stmt)
    return pre + p, value


def nested(call, stmt, normalizer):
    """Calls the rule table knows only in a simpler form:
    min(a, b, c) -> min(min(a, b), c) (also max, math.hypot); math.log(x, b) -> log(x) / log(b);
    scipy.stats.norm's cdf, pdf and logpdf with loc and scale -> of the standardized argument."""
    import math
    callee = annotations.get(call, "callee")
    method = norm_method(callee)
    if method is not None and (len(call.args) > 1 or call.keywords):
        return _standardized(call, stmt, normalizer, method)
    if mvn_logpdf(callee):
        return _multivariate_normal_logpdf(call, stmt, normalizer)
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
    if callee is np.correlate:
        return _correlation(call, stmt, normalizer)
    if callee in _OPTION_FORMS:
        return _OPTION_FORMS[callee](call, stmt, normalizer)
    if scipy_form_of(callee) is not None:
        return _scipy_form(call, stmt, normalizer)
    if callee is np.sum and any(k.arg == "where" for k in call.keywords):
        return _summed_where(call, stmt, normalizer)
    if callee in (np.max, np.min, np.amax, np.amin) and any(k.arg == "initial" for k in call.keywords):
        return _extremum_initial(call, stmt, normalizer)
    if callee is np.linalg.norm:
        _norm_order(call)
    if callee in (np.var, np.std) and any(k.arg == "ddof" for k in call.keywords):
        return _ddof_form(call, stmt, normalizer)
    if callee not in _REDUCTIONS and not table.spelled_as(callee, "scipy.special.logsumexp"):
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


def _norm_order(call):
    """np.linalg.norm(x, ord, axis) with its ord and axis as written (validate has checked
    them): ord=None and 'fro' are the plain norm; any other ord stays second, the axis third
    (None: the whole array), so that the rule table tells it from np.linalg.norm(x, axis=k), and
    an ord not written as a finite number (np.inf, a name) has keepdims=False fourth: its rules
    select the extremal elements where it is infinite (primitives/rules/linalg.py)."""
    order = _pop_keyword(call, "ord")
    if order is None and len(call.args) > 1:
        order = call.args.pop(1)
    if len(call.args) > 1:                        # np.linalg.norm(x, ord, axis): the axis by name
        call.keywords.insert(0, nodes.keyword("axis", call.args.pop(1)))
    if order is None or isinstance(order, gast.Constant) and order.value in (None, "fro"):
        return
    axis = _pop_keyword(call, "axis")
    call.args = [call.args[0], order, nodes.const(None) if axis is None else axis]
    if not (isinstance(order, gast.Constant) and type(order.value) in (int, float) and math.isfinite(order.value)):
        call.args.append(nodes.const(False))      # keepdims: an ord that may be infinite has rules of its own


def _diff_order(call, stmt, normalizer):
    """np.diff(x, n) (n=2 by name too) as n differences of differences, np.diff(np.diff(x))."""
    order = _pop_keyword(call, "n")
    if order is None and len(call.args) > 1:
        order = call.args.pop(1)
    if len(call.args) > 1:                        # np.diff(x, n, axis): the axis by name
        call.keywords.insert(0, nodes.keyword("axis", call.args.pop(1)))
    if order is None or order.value == 1:
        return [], call
    pre, result = [], call.args[0]
    for k in range(order.value):
        step = nodes.call(nodes.clone(call.func), [result], [nodes.keyword(o.arg, nodes.clone(o.value))
                                                             for o in call.keywords])
        annotations.set(step, "callee", np.diff)
        if k == order.value - 1:
            return pre, step
        p, result = normalizer.to_atom(step, stmt)
        pre += p
    return normalizer.rhs(_renamed(result), stmt)                   # n=0: x itself


def _linspace_endpoint(call, stmt, normalizer):
    """np.linspace(a, b, n, endpoint=False) as np.linspace(a, b, n + 1)[:-1] (numba has no
    endpoint=, and the rule stays np.linspace's)."""
    endpoint = _pop_keyword(call, "endpoint")
    if endpoint is None and len(call.args) > 3:
        endpoint = call.args.pop(3)
    if endpoint is None or endpoint.value:
        return [], call
    pre, more = normalizer.to_atom(nodes.binop(_renamed(call.args[2]), "+", nodes.const(1)), stmt)
    call.args[2] = more
    p, full = normalizer.to_atom(call, stmt)
    pre += p
    p, value = normalizer.rhs(nodes.subscript(_renamed(full), nodes.slice_(None, nodes.const(-1))), stmt)
    return pre + p, value


def _transpose_axes(call, stmt, normalizer):
    """np.transpose(x, axes) (axes= by name too, or one by one as a.transpose(1, 0) writes them):
    the order (1, 0) is the plain transpose."""
    axes = _pop_keyword(call, "axes")
    if axes is not None:
        call.args.append(axes)
    if len(call.args) > 2:                        # a.transpose(1, 0): the axes one by one
        call.args = [call.args[0], nodes.tuple_of(call.args[1:])]
    if len(call.args) > 1 and isinstance(call.args[1], gast.Tuple) \
            and [getattr(e, "value", None) for e in call.args[1].elts] == [1, 0]:
        call.args.pop(1)
    return [], call


def _take(call, stmt, normalizer):
    """np.take(x, i) as the element read np.ravel(x)[i]; np.take(x, i, axis=a) as x[:, ..., i]
    (a of them), for a number of 0 or more written in the call."""
    axis = _pop_keyword(call, "axis")
    if axis is None and len(call.args) > 2:
        axis = call.args.pop(2)
    array, index = call.args[:2]
    pre = []
    if axis is None or isinstance(axis, gast.Constant) and axis.value is None:
        flat = nodes.call("np.ravel", [_renamed(array)])
        annotations.set(flat, "callee", np.ravel)
        pre, array = normalizer.to_atom(flat, stmt)
    elif isinstance(axis, gast.Constant) and type(axis.value) is int and axis.value >= 0:
        index = nodes.tuple_of([nodes.slice_() for _ in range(axis.value)] + [_renamed(index)]) \
            if axis.value else index
    else:
        raise AdjointError("np.take along an axis that is not a number (0 or more) written in the call",
                           location=normalizer.where(stmt),
                           hint="index the array instead: x[:, i] takes the elements i along axis 1")
    p, value = normalizer.rhs(nodes.subscript(_renamed(array), _renamed(index) if not isinstance(index, gast.Tuple)
                                              else index), stmt)
    return pre + p, value


def _matrix_power(call, stmt, normalizer):
    """np.linalg.matrix_power(A, k), k written in the call: the product A @ A @ ... of k
    factors (of np.linalg.inv(A) where k < 0; np.eye where k = 0)."""
    exponent = _pop_keyword(call, "n")
    exponent = (exponent if exponent is not None else call.args[1]).value
    base, pre = _renamed(call.args[0]), []
    if exponent == 0:
        size = nodes.subscript(nodes.attribute_of(base, "shape"), nodes.const(0))
        eye = nodes.call("np.eye", [size])
        annotations.set(eye, "callee", np.eye)
        return normalizer.rhs(eye, stmt)
    if exponent < 0:
        inverse = nodes.call("np.linalg.inv", [base])
        annotations.set(inverse, "callee", np.linalg.inv)
        pre, base = normalizer.to_atom(inverse, stmt)
        base = _renamed(base)
    if abs(exponent) == 1:
        copied = nodes.call("np.copy", [base])
        annotations.set(copied, "callee", np.copy)
        p, value = normalizer.rhs(copied, stmt)
        return pre + p, value
    product = base
    for _ in range(abs(exponent) - 1):
        product = nodes.binop(product, "@", nodes.clone(base))
    p, value = normalizer.rhs(product, stmt)
    return pre + p, value


def _called(fn, spelling, args, keywords=()):
    found = nodes.call(spelling, args, keywords)
    annotations.set(found, "callee", fn)
    return found


def _summed_where(call, stmt, normalizer):
    """np.sum(x, where=m) as np.sum(np.where(m, x, 0.0)): the elements left out add nothing."""
    mask = _pop_keyword(call, "where")
    if mask is None:
        return [], call
    pre, kept = normalizer.to_atom(_called(np.where, "np.where", [_renamed(mask), _renamed(call.args[0]),
                                                                   nodes.const(0.0)]), stmt)
    call.args[0] = kept
    p, value = keyword_forms(call, stmt, normalizer)
    return pre + p, value


def _extremum_initial(call, stmt, normalizer):
    """np.max(x, initial=v) as np.maximum(np.max(x), v) (np.min: np.minimum), along an axis too."""
    initial = _pop_keyword(call, "initial")
    if initial is None:
        return [], call
    pre, reduced = keyword_forms(call, stmt, normalizer)
    p, reduced = normalizer.to_atom(reduced, stmt)
    pair = (np.maximum, "np.maximum") if annotations.get(call, "callee") in (np.max, np.amax) else (np.minimum, "np.minimum")
    p2, value = normalizer.rhs(_called(*pair, [_renamed(reduced), _renamed(initial)]), stmt)
    return pre + p + p2, value


def _average(call, stmt, normalizer):
    """np.average(x) as np.mean(x) (along an axis too); with weights w, np.sum(x * w) / np.sum(w)
    (validate refuses weights along an axis)."""
    weights = _pop_keyword(call, "weights")
    if weights is None and len(call.args) > 2:
        weights = call.args.pop(2)
    if weights is None:
        mean = _called(np.mean, "np.mean", call.args, call.keywords)
        return keyword_forms(mean, stmt, normalizer)
    x = _renamed(call.args[0])
    pre, product = normalizer.to_atom(nodes.binop(x, "*", _renamed(weights)), stmt)
    p, total = normalizer.to_atom(_called(np.sum, "np.sum", [product]), stmt)
    pre += p
    p, weight = normalizer.to_atom(_called(np.sum, "np.sum", [_renamed(weights)]), stmt)
    pre += p
    p, value = normalizer.rhs(nodes.binop(_renamed(total), "/", _renamed(weight)), stmt)
    return pre + p, value


def scipy_form_of(callee) -> str | None:
    """The spelling ("scipy.linalg.solve_triangular") of a scipy function normalize writes as
    numpy's (SCIPY_FORMS), else None; scipy is looked at only where the user's code imported it."""
    if not (getattr(callee, "__module__", None) or "").startswith("scipy"):
        return None
    name = getattr(callee, "__name__", None)
    for spelling in SCIPY_FORMS:
        module, _, function = spelling.rpartition(".")
        if function == name and module in sys.modules and getattr(sys.modules[module], name, None) is callee:
            return spelling
    return None


# scipy functions numba cannot compile and the rule table has no record of, written as the
# numpy calls of the same value, whose rules apply: the solvers of scipy.linalg as np.linalg's
# (of the triangle a solver reads, taken with np.tril/np.triu, so a matrix with anything in its
# other triangle gives scipy's result), softmax through logsumexp. For each: its arrays (by
# position) and the options that change its value (by name, as written constants); options that
# only affect speed or checks (SCIPY_IGNORED) are dropped.
SCIPY_FORMS = {"scipy.linalg.solve_triangular": (2, ("lower", "trans")), "scipy.linalg.cholesky": (1, ("lower",)),
               "scipy.linalg.solve": (2, ()), "scipy.linalg.inv": (1, ()), "scipy.linalg.det": (1, ()),
               "scipy.special.softmax": (1, ("axis",)), "scipy.special.log_softmax": (1, ("axis",))}
SCIPY_IGNORED = ("check_finite", "overwrite_a", "overwrite_b")


def _scipy_form(call, stmt, normalizer):
    """scipy.linalg.solve_triangular(a, b, lower=, trans=) as np.linalg.solve of the triangle
    it reads (transposed for trans=1 or "T"); scipy.linalg.cholesky(a, lower=False) as
    np.transpose(np.linalg.cholesky(np.transpose(a))) (the upper factor, from a's upper
    triangle, as scipy reads it); solve, inv and det as numpy's; scipy.special.softmax(x, axis)
    as np.exp(x - logsumexp(x, axis, keepdims=True)), log_softmax without the exp."""
    spelling = scipy_form_of(annotations.get(call, "callee"))
    name = spelling.rpartition(".")[2]
    options = {k.arg: k.value for k in call.keywords if k.arg not in SCIPY_IGNORED}
    a, pre = _renamed(call.args[0]), []
    if name in ("softmax", "log_softmax"):
        logsumexp = sys.modules["scipy.special"].logsumexp
        keywords = [nodes.keyword("axis", _renamed(options["axis"])), nodes.keyword("keepdims", nodes.const(True))] \
            if "axis" in options and options["axis"].value is not None else []
        pre, total = keyword_forms(_called(logsumexp, "scipy.special.logsumexp", [a], keywords), stmt, normalizer)
        p, total = normalizer.to_atom(total, stmt)
        p2, shifted = normalizer.to_atom(nodes.binop(_renamed(a), "-", _renamed(total)), stmt)
        if name == "log_softmax":
            return pre + p + p2, _renamed(shifted)
        p3, value = normalizer.rhs(_called(np.exp, "np.exp", [_renamed(shifted)]), stmt)
        return pre + p + p2 + p3, value
    options = {word: value.value for word, value in options.items()}
    if name == "solve_triangular":
        side = np.tril if options.get("lower", False) else np.triu
        p, a = normalizer.to_atom(_called(side, f"np.{side.__name__}", [a]), stmt)
        pre += p
        a = _renamed(a)
        if options.get("trans", 0) in (1, 2, "T", "C"):
            p, a = normalizer.to_atom(_called(np.transpose, "np.transpose", [a]), stmt)
            pre += p
            a = _renamed(a)
        name = "solve"
    if name == "cholesky" and not options.get("lower", False):
        p, transposed = normalizer.to_atom(_called(np.transpose, "np.transpose", [a]), stmt)
        p2, factor = normalizer.to_atom(_called(np.linalg.cholesky, "np.linalg.cholesky", [_renamed(transposed)]),
                                        stmt)
        p3, value = normalizer.rhs(_called(np.transpose, "np.transpose", [_renamed(factor)]), stmt)
        return p + p2 + p3, value
    function = getattr(np.linalg, name)
    p, value = normalizer.rhs(_called(function, f"np.linalg.{name}", [a] + [_renamed(b) for b in call.args[1:]]),
                              stmt)
    return pre + p, value


def meshgrid(call, args, keywords, stmt, normalizer):
    """np.meshgrid(x, y) of two vectors as its two grids, each a copy of one vector broadcast
    to the grid's shape (x along the rows and y down the columns, or the other way round with
    indexing='ij'): the broadcast's reverse sums each grid back into its vector. (prelude, the
    pair, an Aggregate)."""
    from .tuples import Aggregate
    indexing = next((k.value for k in keywords if k.arg == "indexing"), nodes.const("xy"))
    if len(args) != 2 or any(isinstance(a, Aggregate) for a in args) or any(k.arg != "indexing" for k in keywords) \
            or not (isinstance(indexing, gast.Constant) and indexing.value in ("xy", "ij")):
        raise AdjointError("np.meshgrid is supported of two vectors, with indexing='xy' or 'ij' written in the call",
                           location=normalizer.where(stmt),
                           hint="broadcast the vectors instead: x[None, :] and y[:, None] act as the grids of "
                                "np.meshgrid(x, y); x[None, :, None], y[:, None, None] and z[None, None, :] "
                                "as those of three")
    x, y = args
    rows, cols = (y, x) if indexing.value == "xy" else (x, y)
    shape = nodes.tuple_of([nodes.subscript(nodes.attribute_of(_renamed(v), "shape"), nodes.const(0))
                            for v in (rows, cols)])
    pre, grids = [], []
    for v in (x, y):
        line = _renamed(v) if v is cols else _called(np.expand_dims, "np.expand_dims", [_renamed(v), nodes.const(1)])
        spread = _called(np.broadcast_to, "np.broadcast_to", [line, nodes.clone(shape)])
        p, grid = normalizer.value(_called(np.copy, "np.copy", [spread]), stmt)
        pre += p
        grids.append(grid)
    return pre, Aggregate("tuple", grids, call)


def _repeat_axis(call, stmt, normalizer):
    """np.repeat(x, n, axis=a), a a number of 0 or more written in the call, as the gather
    x[:, ..., np.repeat(np.arange(x.shape[a]), n)] (a slices before it): numba's np.repeat
    has no axis, and the gather's reverse sums each run of copies back into its row."""
    axis = _pop_keyword(call, "axis")
    if axis is None and len(call.args) > 2:
        axis = call.args.pop(2)
    if axis is None or isinstance(axis, gast.Constant) and axis.value is None:
        return [], call
    if not (isinstance(axis, gast.Constant) and type(axis.value) is int and axis.value >= 0):
        raise AdjointError("np.repeat along an axis that is not a number (0 or more) written in the call",
                           location=normalizer.where(stmt),
                           hint="count the axis from the front: np.repeat(x, n, axis=1) for a matrix's columns")
    array, repeats = call.args[:2]
    size = nodes.subscript(nodes.attribute_of(_renamed(array), "shape"), nodes.const(axis.value))
    runs = _called(np.repeat, "np.repeat", [_called(np.arange, "np.arange", [size]), _renamed(repeats)])
    pre, index = normalizer.to_atom(runs, stmt)
    where = nodes.tuple_of([nodes.slice_() for _ in range(axis.value)] + [_renamed(index)]) \
        if axis.value else _renamed(index)
    p, value = normalizer.rhs(nodes.subscript(_renamed(array), where), stmt)
    return pre + p, value


def _clip_bounds(call, stmt, normalizer):
    """np.clip with its bounds by position; np.clip(x, None, high) as np.minimum(x, high),
    np.clip(x, low, None) as np.maximum(x, low) (the same value, and the same split of the
    sensitivity at the bound); neither bound, a copy."""
    given = dict(zip(("a", "a_min", "a_max"), call.args))
    given.update((_CLIP_NAMES.get(k.arg, k.arg), k.value) for k in call.keywords)
    x, low, high = given["a"], given.get("a_min"), given.get("a_max")
    low, high = (None if b is None or _is_none(b) else b for b in (low, high))
    if low is not None and high is not None:
        return [], call if not call.keywords else _called(np.clip, "np.clip", [x, low, high])
    if low is None and high is None:
        return [], _called(np.copy, "np.copy", [x])
    function, bound = (np.minimum, high) if low is None else (np.maximum, low)
    return [], _called(function, f"np.{function.__name__}", [x, bound])


_CLIP_NAMES = {"min": "a_min", "max": "a_max"}          # numpy 2's spellings of the bounds


def _is_none(node) -> bool:
    return isinstance(node, gast.Constant) and node.value is None


def _pad_mode(call, stmt, normalizer):
    """np.pad(x, pad_width, mode) with its mode third, by position, where the rules read it
    (validate has checked it, and that constant_values, if any, is 0: the default)."""
    mode = _pop_keyword(call, "mode")
    _pop_keyword(call, "constant_values")
    del call.args[3:]
    if len(call.args) == 2:
        call.args.append(mode if mode is not None else nodes.const("constant"))
    return [], call


# calls whose options normalize writes as other calls (validate has checked the options)
_OPTION_FORMS = {np.clip: _clip_bounds, np.diff: _diff_order, np.linspace: _linspace_endpoint, np.transpose: _transpose_axes,
                 np.take: _take, np.linalg.matrix_power: _matrix_power, np.average: _average,
                 np.repeat: _repeat_axis, np.pad: _pad_mode}


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


def _correlation(call, stmt, normalizer):
    """np.correlate(a, v, mode) is np.convolve(a, v[::-1], mode), in every mode and for
    either length order (numpy's definition); its mode defaults to 'valid'."""
    mode = _pop_keyword(call, "mode")
    if len(call.args) > 2:
        mode = call.args.pop(2)
    pre, reversed_v = normalizer.to_atom(nodes.subscript(_renamed(call.args[1]), nodes.slice_(
        step=nodes.const(-1))), stmt)
    convolution = nodes.call("np.convolve", [call.args[0], reversed_v],
                             [nodes.keyword("mode", mode if mode is not None else nodes.const("valid"))])
    annotations.set(convolution, "callee", np.convolve)
    p, value = _convolve_mode(convolution, stmt, normalizer)
    return pre + p, value


def _renamed(atom):
    """An atom of normalized code read again by the normalizer: its names are final."""
    atom = nodes.clone(atom)
    if isinstance(atom, gast.Name):
        annotations.set(atom, "renamed", True)
    return atom
