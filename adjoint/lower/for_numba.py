"""Lowering for numba: numpy calls numba cannot compile, or compiles into slow loops, become
runtime helpers (primitives/runtime.py) or equivalent forms numba fuses. Run by the pipeline on
the optimized adjoint and on the primal, for the cpu and cuda targets' sake (the python target
runs the same code)."""

from __future__ import annotations

import copy
import math

import gast
import numpy as np

from ..frontend.call_forms import NORM_OPTIONS, norm_method
from ..ir import annotations, nodes, trees
from ..primitives.rules.linalg import einsum_helper
from ..primitives.runtime import (
    AXIS_REDUCTIONS,
    DIFF_AXIS,
    LOGSUMEXP,
    LOGSUMEXP_AXIS,
    LOWERED_MODULE,
    NUMPY_LOOPS,
    POLYVAL,
    ROLL_AXIS,
    WHOLE_EXTREMA,
    axis_reduction,
    each,
    sum_axis,
    where,
)
from ..primitives.table import record_of
from .float32 import float32_constants
from .masks import flatten_masks
from .operands import known_rank, operand_kind, operand_rank

PAD = "_pad"                                   # np.pad's helper (primitives/rule_helpers.py)

# scipy functions numba cannot call, by their record's spelling: the math function it has (of
# an array: runtime._each_<name>, element by element), or a form of numpy's
_SCIPY_MATH = {"scipy.special.erf": "erf", "scipy.special.erfc": "erfc", "scipy.special.gammaln": "lgamma",
               "scipy.special.gamma": "gamma"}
_SCIPY_STATS = ("scipy.stats.norm.cdf", "scipy.stats.norm.pdf", "scipy.stats.norm.logpdf",
                "scipy.special.expit", "scipy.special.logit", "scipy.special.logsumexp")


def _lowered_by_callee(node) -> bool:
    """A call lower_for_numba rewrites that need not spell `np.` (np.linalg.norm, scipy's
    functions are named by the emitted module's own globals): the statement holding it is
    copied first."""
    callee = annotations.get(node, "callee")
    if callee is np.linalg.norm:
        return len(node.args) + len(node.keywords) == 2 or len(node.args) in (3, 4)
    return _scipy_spelling(callee) is not None


def _scipy_spelling(callee):
    record = record_of(callee) if callee is not None else None
    spelling = record.spellings[0] if record is not None else ""
    return spelling if spelling in _SCIPY_MATH or spelling in _SCIPY_STATS else None


def _standardized_form(node, types_of, used):
    """The primal's scipy.stats.norm.f(x, loc, scale) (the adjoint's is normalized already,
    frontend/call_forms.py) as f of z = (x - loc) / scale: over scale for the pdf, minus
    log(scale) for the logpdf."""
    given = dict(zip(("x",) + NORM_OPTIONS, node.args))
    given.update((k.arg, k.value) for k in node.keywords)
    z = given["x"]
    for name, op in zip(NORM_OPTIONS, ("-", "/")):
        if name in given:
            z = nodes.binop(z, op, given[name])
    widest = max((types_of(a) for a in given.values()), key=lambda t: t.ndim)
    single = annotations.copy_to(nodes.call(nodes.clone(node.func), [z]), node)
    form = _scipy_form(single, lambda n: widest if n is z else types_of(n), used)
    method = norm_method(annotations.get(node, "callee"))
    if "scale" not in given or method == "cdf":
        return form
    if method == "pdf":
        return nodes.binop(form, "/", nodes.clone(given["scale"]))
    return nodes.binop(form, "-", nodes.call("np.log", [nodes.clone(given["scale"])]))


def _scipy_form(node, types_of, used):
    """A scipy call in forms numba compiles."""
    spelling, (x,) = _scipy_spelling(annotations.get(node, "callee")), node.args

    def math_call(name, argument):
        if types_of(x).ndim == 0:
            call = nodes.call(f"math.{name}", [argument])
            annotations.set(call, "callee", getattr(math, name))
            return call
        used.add(each(name))
        return nodes.call(nodes.name(each(name)), [argument])
    if spelling in _SCIPY_MATH:
        return math_call(_SCIPY_MATH[spelling], x)
    if spelling == "scipy.special.logsumexp":          # runtime._logsumexp
        used.add(LOGSUMEXP)
        return nodes.call(nodes.name(LOGSUMEXP), [x])
    if spelling in ("scipy.special.expit", "scipy.special.logit"):
        scalar = types_of(x).ndim == 0
        if spelling == "scipy.special.logit":           # log(x / (1 - x))
            return nodes.call("math.log" if scalar else "np.log", [nodes.binop(
                copy.deepcopy(x), "/", nodes.binop(nodes.const(1.0), "-", copy.deepcopy(x)))])
        exp = nodes.call("math.exp" if scalar else "np.exp", [nodes.neg(copy.deepcopy(x))])   # 1 / (1 + exp(-x))
        return nodes.binop(nodes.const(1.0), "/", nodes.binop(nodes.const(1.0), "+", exp))
    square = nodes.binop(nodes.binop(nodes.const(-0.5), "*", copy.deepcopy(x)), "*", copy.deepcopy(x))
    if spelling == "scipy.stats.norm.cdf":              # 0.5 erfc(-x / sqrt(2))
        return nodes.binop(nodes.const(0.5), "*", math_call(
            "erfc", nodes.binop(nodes.const(-0.7071067811865476), "*", copy.deepcopy(x))))
    if spelling == "scipy.stats.norm.pdf":              # exp(-x^2 / 2) / sqrt(2 pi)
        exp = nodes.call("math.exp" if types_of(x).ndim == 0 else "np.exp", [square])
        return nodes.binop(nodes.const(0.3989422804014327), "*", exp)
    return nodes.binop(square, "-", nodes.const(0.9189385332046727))      # logpdf: - log(sqrt(2 pi))


# calls numba has without an axis (or of vectors) only: runtime.AXIS_FORMS
_ALONG_AXIS = ("flip", "sort", "argsort", "cumprod", "squeeze", "tile")


def _along_axis(node, called, types_of, used, known=None):
    """np.flip, np.sort, np.argsort, np.cumprod along an axis, np.squeeze, np.tile and
    np.linalg.norm(x, ord, axis) in forms numba compiles; None where numba's own will do."""
    first = node.args[0]
    if called == "argsort" and isinstance(first, gast.Tuple) \
            and all(isinstance(e, gast.Constant) and type(e.value) is int for e in first.elts):
        # the inverse of np.transpose's axes (primitives/rules/shape.py), known as written
        return nodes.tuple_of([nodes.const(int(k)) for k in np.argsort([e.value for e in first.elts])])
    axis = [k.value for k in node.keywords if k.arg == "axis"] or node.args[1:2]
    rank = known_rank(first, types_of, known)
    if called is None:                                   # np.linalg.norm(x, ord, axis[, False])
        node.args = node.args[:3]
        if isinstance(node.args[2], gast.Constant) and node.args[2].value is None:
            node.args = node.args[:2]
            return node
        if rank != 2:
            return None
        used.add("_norm_ord_axis")
        return annotations.copy_to(nodes.call(nodes.name("_norm_ord_axis"), node.args), node)
    if called == "tile":
        if rank not in (1, 2):
            return None
        used.add(f"_tile_{rank}")
        return annotations.copy_to(nodes.call(nodes.name(f"_tile_{rank}"), node.args[:1] + node.args[1:2]), node)
    at = axis[0].value if axis and isinstance(axis[0], gast.Constant) else None
    if called in ("squeeze", "flip") and type(at) is int and -rank <= at < rank:
        # x[:, 0] (np.squeeze(x, 1): the axis indexed away), x[:, ::-1] (np.flip(x, 1))
        last = nodes.const(0) if called == "squeeze" else nodes.slice_(None, None, nodes.const(-1))
        index = [nodes.slice_() for _ in range(at % rank)] + [last]
        return nodes.subscript(node.args[0], index[0] if len(index) == 1 else nodes.tuple_of(index))
    if called == "squeeze":
        return None
    if called in ("sort", "argsort") and not axis and rank == 2:
        axis = [nodes.const(-1)]                                   # of a matrix: along its rows
    if not axis or isinstance(axis[0], gast.Constant) and axis[0].value is None:
        return None
    if rank == 1 and called != "flip":                             # a vector's own
        node.args, node.keywords = node.args[:1], []
        return node
    if rank != 2 and called != "flip":
        return None
    name = f"_{called}_axis"
    used.add(name)
    return annotations.copy_to(nodes.call(nodes.name(name), [node.args[0], axis[0]]), node)


def needs_lowering(tree) -> bool:
    """Whether lower_for_numba may change `tree`: it calls numpy, or a function numba cannot
    call that the lowering spells another way (np.linalg.norm, scipy's)."""
    return _rewritten_calls(tree) is not None


def _statements_to_lower(fn, subscripts) -> list:
    """(block, index, how) of each statement whose calls lowering may rewrite, how being
    "callee" where a call is _lowered_by_callee (the statement is made this function's own
    first: optimize copies only those loading `np`, optimize.summaries) or "module" where it
    spells `np.`; a compound statement for the calls of its header. One walk per statement:
    most statements of a long adjoint are neither, and go untouched. The subscripts met on
    the way are appended to `subscripts` (flatten_masks looks among them for a mask).
    (_rewritten_calls' walk, written out here: a call per statement of a few nodes cost as
    much as its walk.)"""
    found_in = []
    todo = []
    pop, push, extend, fields_of = todo.pop, todo.append, todo.extend, nodes.child_fields
    name, constant, call, subscript = gast.Name, gast.Constant, gast.Call, gast.Subscript
    for block in nodes.blocks(fn):
        for k, stmt in enumerate(block):
            headers = _HEADERS.get(type(stmt))
            if headers is None:
                push(stmt)
            else:
                extend([getattr(stmt, field) for field in headers])
            found = None
            while todo:
                node = pop()
                kind = type(node)
                if kind is name:
                    if node.id == LOWERED_MODULE and found is None:
                        found = "module"
                    continue
                if kind is constant:
                    continue
                if kind is subscript:
                    subscripts.append(node)
                elif kind is call and (_lowered_by_callee(node)
                                       or annotations.get(node, "callee") is np.linalg.slogdet):
                    found = "callee"
                for field in fields_of(kind):
                    value = getattr(node, field, None)
                    if type(value) is list:
                        extend(value)
                    elif value is not None:
                        push(value)
            if found is not None:
                found_in.append((block, k, found))
    return found_in


_COMPOUND = (gast.If, gast.For, gast.While)
_HEADERS = {gast.If: ("test",), gast.While: ("test",), gast.For: ("target", "iter")}


def _rewritten_calls(*roots, subscripts=None):
    """"callee" where a call under `roots` is _lowered_by_callee (or np.linalg.slogdet, which
    may be spelled without `np.`), else "module" where a name
    loaded there is `np` (LOWERED_MODULE), else None: a walk of the fields that hold nodes
    (gast.walk, asked of each statement of a 2,000-line adjoint, took 0.25 s). With a list
    `subscripts`, the walk goes on to the end and appends every subscript it meets."""
    found = None
    todo = list(roots)
    while todo:
        node = todo.pop()
        kind = type(node)
        if kind is gast.Name:
            if node.id == LOWERED_MODULE and found is None:
                found = "module"
            continue
        if kind is gast.Constant:
            continue
        if kind is gast.Subscript and subscripts is not None:
            subscripts.append(node)
        if kind is gast.Call and (_lowered_by_callee(node)
                                  or annotations.get(node, "callee") is np.linalg.slogdet):
            if subscripts is None:
                return "callee"
            found = "callee"
        for field in nodes.child_fields(kind):
            value = getattr(node, field, None)
            if type(value) is list:
                todo.extend(value)
            elif value is not None:
                todo.append(value)
    return found

_SEQUENCE_JOINS = ("concatenate", "stack", "vstack", "hstack", "column_stack", "dstack")
KEEPDIMS = {"sum", "mean", "prod", "max", "min", "amax", "amin"}


def lower_for_numba(fn, types_of, precision="float64", known=None) -> set:
    """Replace numpy calls numba cannot compile (or compiles slowly) by runtime helpers or
    equivalent forms it fuses (np.where(c, a, nan) -> a * np.divide(c, c)); returns the
    helpers used. Only calls of `np.<function>` (LOWERED_MODULE) change, in place: optimize
    copies the statements holding one, which it may share with earlier stages.
    `types_of(node)` gives an expression's shapes.Type. With precision "float32" (the call's
    float arrays are float32), the numbers the code computes with are float32 too
    (`float32_constants`); `known(name)` says whether types_of knows the name's type."""
    used = set()
    subscripts = []
    rewritten = _statements_to_lower(fn, subscripts)      # (before any block changes)

    def lower(node):
        func = node.func
        if _scipy_spelling(annotations.get(node, "callee")) is not None and len(node.args) == 1 \
                and not node.keywords:
            return _scipy_form(node, types_of, used)
        if norm_method(annotations.get(node, "callee")) is not None:     # the primal's norm.f(x, loc, scale)
            return _standardized_form(node, types_of, used)
        if _scipy_spelling(annotations.get(node, "callee")) == "scipy.special.logsumexp" \
                and len(node.args) + len(node.keywords) == 2:        # along an axis: runtime._logsumexp_axis
            used.add(LOGSUMEXP if types_of(node.args[0]).ndim == 1 else LOGSUMEXP_AXIS)
            if types_of(node.args[0]).ndim == 1:
                return annotations.copy_to(nodes.call(nodes.name(LOGSUMEXP), node.args[:1]), node)
            axis = node.args[1] if len(node.args) == 2 else node.keywords[0].value
            return annotations.copy_to(nodes.call(nodes.name(LOGSUMEXP_AXIS), [node.args[0], axis]), node)
        if _lowered_by_callee(node) and len(node.args) < 3:  # np.linalg.norm(x, axis=k)
            name = axis_reduction("norm", types_of(node.args[0]).ndim)
            used.add(name)
            axis = node.args[1] if len(node.args) == 2 else node.keywords[0].value
            return annotations.copy_to(nodes.call(nodes.name(name), [node.args[0], axis]), node)
        called = func.attr if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
            and func.value.id == LOWERED_MODULE else None
        if called == "expand_dims" and len(node.args) == 2 and types_of(node.args[0]).ndim == 0 \
                and not (isinstance(node.args[0], gast.Call) and nodes.dotted(node.args[0].func) == "np.asarray") \
                and known_rank(node.args[0], types_of, known) < 1:
            # a number's new axis (keepdims of a vector's reduction): numba's np.expand_dims
            # takes arrays only, and np.asarray makes a number one (and leaves an array as it is;
            # an operand known to be an array, a sensitivity of one, keeps its plain form)
            node.args = [nodes.call("np.asarray", [node.args[0]]), node.args[1]]
            return node
        if called == "outer" and len(node.args) == 2 and not node.keywords \
                and all(known_rank(a, types_of, known) == 1 for a in node.args):
            # a row times a column, which numba fuses; its np.outer takes ~1.5 s to compile
            column = annotations.copy_to(nodes.call("np.expand_dims", [node.args[0], nodes.const(1)]), node)
            annotations.set(column, "callee", np.expand_dims)
            return nodes.binop(column, "*", node.args[1])
        if called == "pad":                  # numba has no np.pad: rule_helpers._pad
            mode = node.args[2:] or [k.value for k in node.keywords if k.arg == "mode"] or [nodes.const("constant")]
            used.add(PAD)
            return annotations.copy_to(nodes.call(nodes.name(PAD), node.args[:2] + mode[:1]), node)
        if called == "polyval" and len(node.args) == 2:
            used.add(POLYVAL)
            return annotations.copy_to(nodes.call(nodes.name(POLYVAL), node.args), node)
        if called in ("diff", "roll") and len(node.args) + len(node.keywords) == (2 if called == "diff" else 3):
            axis = [k.value for k in node.keywords if k.arg == "axis"] or node.args[-1:]
            name = DIFF_AXIS if called == "diff" else ROLL_AXIS
            used.add(name)
            return annotations.copy_to(nodes.call(nodes.name(name), node.args[:len(node.args) - (not node.keywords)]
                                                  + axis), node)
        if called in _ALONG_AXIS or annotations.get(node, "callee") is np.linalg.norm and len(node.args) in (3, 4):
            lowered = _along_axis(node, called, types_of, used, known)
            if lowered is not None:
                return lowered
        if called in ("atleast_1d", "atleast_2d", "atleast_3d") and len(node.args) == 1 \
                and not (isinstance(node.args[0], gast.Call) and nodes.dotted(node.args[0].func) == "np.asarray"):
            node.args = [nodes.call("np.asarray", node.args)]     # numba has them of arrays only
            return node
        if called == "hstack" and node.args and type(node.args[0]) in (gast.Tuple, gast.List) \
                and any(known_rank(e, types_of, known) == 0 for e in node.args[0].elts):
            # numba joins arrays only: a number is a part of one element
            node.args = [nodes.tuple_of([nodes.call("np.full", [nodes.const(1), e])
                                         if known_rank(e, types_of, known) == 0 else e
                                         for e in node.args[0].elts]), *node.args[1:]]
            return node
        if called in _SEQUENCE_JOINS and node.args and type(node.args[0]) is gast.List:
            # numba joins a tuple of arrays only (a list of arrays has no single type for it)
            node.args = [nodes.tuple_of(node.args[0].elts), *node.args[1:]]
            return node
        if annotations.get(node, "callee") is np.linalg.slogdet and len(node.args) == 1:
            # the pair (sign, logdet) as the float vector its type says (primitives/rules/linalg.py)
            return annotations.copy_to(nodes.call("np.array", [node]), node)
        if nodes.dotted(func) == "np.einsum" and node.args and isinstance(node.args[0], gast.Constant):
            # numba has no einsum: loops written for these subscripts (primitives/rules/linalg.py)
            name = einsum_helper(node.args[0].value, len(node.args) - 1)
            used.add(name)
            return annotations.copy_to(nodes.call(nodes.name(name), node.args[1:]), node)
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr == "matmul" and len(node.args) == 2:
            return nodes.binop(node.args[0], "@", node.args[1])
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr == "where" and len(node.args) == 3 \
                and isinstance(node.args[2], gast.Attribute) and node.args[2].attr == "nan" \
                and isinstance(node.args[2].value, gast.Name) and node.args[2].value.id in ("math", "np"):
            # np.where(c, a, nan) is a * (c / c) (1 or 0 / 0), which numba fuses into the
            # expression around it; its np.where there is a separate, much slower loop
            condition = node.args[0]
            return nodes.binop(node.args[1], "*", nodes.call("np.divide", [condition, copy.deepcopy(condition)]))
        if called == "where" and len(node.args) == 3 and not node.keywords and precision == "float64":
            # numba's np.where broadcasts through np.broadcast_to: seconds to compile
            ranks = [operand_rank(a, types_of, known) for a in node.args]
            kinds = [operand_kind(a, types_of, known) for a in node.args[1:]]
            if ranks[0] >= 1 and all(r in (0, ranks[0]) for r in ranks[1:]) and "float" in kinds \
                    and set(kinds) <= {"float", "int", "bool"}:
                name = where(ranks[0], "".join("a" if r else "s" for r in ranks[1:]))
                used.add(name)
                return annotations.copy_to(nodes.call(nodes.name(name), node.args), node)
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr in NUMPY_LOOPS and len(node.args) == 1 \
                and not node.keywords and isinstance(node.args[0], gast.Name) \
                and not annotations.get(node, "fused"):
            kind = types_of(node.args[0])
            if kind.ndim >= 1 and kind.kind == "float":
                used.add(f"_numpy_{func.attr}")
                return annotations.copy_to(nodes.call(nodes.name(f"_numpy_{func.attr}"), node.args), node)
            return node
        if called in WHOLE_EXTREMA and len(node.args) == 1 and not node.keywords \
                and isinstance(node.args[0], gast.Name) and (known is None or known(node.args[0].id)):
            # np.max(x) of a float vector: a loop (runtime.WHOLE_EXTREMA), not numba's reduction
            kind = types_of(node.args[0])
            if kind.ndim == 1 and kind.kind == "float":
                used.add(WHOLE_EXTREMA[called])
                return annotations.copy_to(nodes.call(nodes.name(WHOLE_EXTREMA[called]), node.args), node)
            return node
        if not (isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name)
                and func.value.id == LOWERED_MODULE and func.attr in KEEPDIMS | set(AXIS_REDUCTIONS)):
            return node
        axis = [k.value for k in node.keywords if k.arg == "axis"] or node.args[1:2]
        if not axis or isinstance(axis[0], gast.Tuple):
            return node                  # (the user's primal: the adjoint reduces one axis at a time)
        keep = [k for k in node.keywords if k.arg == "keepdims"]
        if keep:                         # the user's primal: numba has no keepdims
            reduced = nodes.call(nodes.clone(func), [node.args[0]],
                                 [k for k in node.keywords if k.arg not in ("keepdims", "axis")]
                                 + [nodes.keyword("axis", axis[0])])
            annotations.copy_to(reduced, node)
            reduced = lower(reduced)
            if not (isinstance(keep[0].value, gast.Constant) and keep[0].value.value is True):
                return reduced
            expanded = annotations.copy_to(nodes.call("np.expand_dims", [reduced, copy.deepcopy(axis[0])]), node)
            annotations.set(expanded, "callee", np.expand_dims)
            return expanded
        if func.attr == "sum":
            # numba's sum along an axis takes ~1.5 s to compile: a float vector's is its sum,
            # a float matrix's is summed a row at a time (runtime._sum_axis)
            kind = types_of(node.args[0])
            at = axis[0].value if isinstance(axis[0], gast.Constant) else None
            if kind.kind != "float" or len(node.args) + len(node.keywords) != 2 \
                    or type(at) is not int or not -kind.ndim <= at < kind.ndim or kind.ndim > 2:
                return node
            if kind.ndim == 1:
                whole = annotations.copy_to(nodes.call("np.sum", [node.args[0]]), node)
                annotations.set(whole, "callee", np.sum)
                return whole
            name = sum_axis(2, at % 2)
            used.add(name)
            return annotations.copy_to(nodes.call(nodes.name(name), [node.args[0]]), node)
        if func.attr not in AXIS_REDUCTIONS:
            return node
        rank = types_of(node.args[0]).ndim
        name = axis_reduction(func.attr, rank)
        used.add(name)
        return annotations.copy_to(nodes.call(nodes.name(name), [node.args[0], axis[0]]), node)
    # a NodeTransformer's visit_Call: the calls inside a call are lowered before it
    for block, k, how in rewritten:
        stmt = block[k]
        if isinstance(stmt, _COMPOUND):
            trees.replace_bottom_up(stmt, gast.Call, lower, fields=_HEADERS[type(stmt)])
            continue
        if how == "callee":
            block[k] = stmt = nodes.with_fresh_calls(stmt)
        trees.replace_bottom_up(stmt, gast.Call, lower)
    used |= flatten_masks(fn, types_of, subscripts)
    if precision == "float32":
        float32_constants(fn, types_of, known or (lambda name: False))
    return used
