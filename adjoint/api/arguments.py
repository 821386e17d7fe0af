"""A call's arguments: checked and converted before the compiled gradient runs, and the
arguments the function writes into (written_arguments), whose aliasing with another argument
is refused (reject_aliasing). Shared by the gradient objects (gradient.py) and the batches (batch.py).
"""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import AdjointArgumentError
from ..ir import annotations


def parameters(fn):
    """fn's parameters (of the function a decorator such as adjoint.rule wraps)."""
    fn = getattr(fn, "__adjoint_function__", fn)
    return inspect.signature(fn).parameters


def as_float_value(value):
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype.kind != "f"):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, (int, np.integer)):
        return float(value)
    return value


# aliasing: arguments that share memory where the function writes one of them -------------

# numpy functions that return a new array, never a view of an argument (ufuncs are too)
_FRESH_CALLS = {"zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like", "full",
                "full_like", "copy", "array", "sum", "mean", "prod", "dot", "vdot", "matmul",
                "outer", "inner", "where", "max", "min", "amax", "amin", "cumsum", "cumprod",
                "concatenate", "stack", "hstack", "vstack", "arange", "linspace", "eye",
                "trace", "var", "std", "clip", "sort"}


def fresh_copies(names, args, written) -> list:
    """`args` with a copy of each array argument in `written` (the names of those the function
    writes into), for code that does not undo its writes (forward mode) and for batch points
    that would otherwise share an array: each run reads the values the caller passed."""
    if not written:
        return args
    return [np.array(v) if n in written and isinstance(v, np.ndarray) else v
            for n, v in zip(names, args)]


def normalized_function(fn):
    """The function in three-address form (helpers inlined), for a gradient loaded from the
    cache, whose record keeps no compiler stages."""
    from ..frontend.normalize import normalize
    from ..frontend.parse import parse
    from ..ir.names import Namer
    from ..pipeline import _user_names, deep_recursion
    with deep_recursion():              # as in differentiate: a deep expression is no RecursionError
        parsed = parse(fn)
        return normalize(parsed, Namer(_user_names(parsed.tree)))


def written_arguments(tree, arg_names) -> frozenset:
    """The arguments of a normalized function whose elements it may write: an element or
    slice store `v[...] = e` into the argument or into any name that may view its memory
    (`v = x`, `v = x[1:]`, `a, b = x`, a call that may return a view). Flow-insensitive and
    conservative: only arithmetic, ufuncs and numpy's array-making calls are taken to make
    new arrays."""
    import gast
    emitted = [a.id for a in tree.args.args]            # by position: emitted code may rename one
    views = {name: {name} for name in emitted}          # name -> arguments it may view
    statements = [n for n in gast.walk(tree) if isinstance(n, (gast.Assign, gast.AugAssign, gast.For))]
    changed = True
    while changed:
        changed = False
        for stmt in statements:
            if isinstance(stmt, gast.For):
                sources, targets = _viewed_by(stmt.iter, views), [stmt.target]
            elif isinstance(stmt, gast.Assign):
                sources, targets = _viewed_by(stmt.value, views), stmt.targets
            else:
                continue
            for target in targets:
                for name in [n.id for n in gast.walk(target) if isinstance(n, gast.Name)
                             and isinstance(n.ctx, gast.Store)]:
                    if not sources <= views.setdefault(name, set()):
                        views[name] |= sources
                        changed = True
    written = set()
    for stmt in statements:
        if isinstance(stmt, gast.For):
            continue
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target
        if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
            written |= views.get(target.value.id, set())
        elif isinstance(stmt, gast.AugAssign) and isinstance(target, gast.Name):
            written |= views.get(target.id, set())           # `x += e` on an array is in place
    return frozenset(user for user, name in zip(arg_names, emitted) if name in written)


def _viewed_by(value, views) -> set:
    """The arguments the value of an expression may share memory with."""
    import gast
    if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Compare, gast.BoolOp, gast.Constant)):
        return set()                                          # arithmetic makes a new array
    if isinstance(value, gast.Call) and _makes_new_array(value):
        return set()
    names = {n.id for n in gast.walk(value) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
    return set().union(*(views.get(n, set()) for n in names))


def _makes_new_array(call) -> bool:
    callee = annotations.get(call, "callee")
    if isinstance(callee, np.ufunc) or getattr(callee, "__module__", None) == "math":
        return True
    if getattr(callee, "__module__", "") in ("numpy.linalg", "numpy.linalg.linalg",
                                            "numpy.linalg._linalg"):
        return True
    return callee is not None and getattr(np, getattr(callee, "__name__", ""), None) is callee \
        and callee.__name__ in _FRESH_CALLS


def reject_aliasing(names, args, written, fname):
    """AdjointError when an argument the function writes into shares memory with another
    array argument: the gradient would mix the aliased and the unaliased answers. Only
    arrays are compared, and only pairs that include a written argument."""
    arrays = [(name, value) for name, value in zip(names, args) if isinstance(value, np.ndarray)]
    for k, (name, value) in enumerate(arrays):
        for other, other_value in arrays[k + 1:]:
            if (name in written or other in written) and _share_memory(value, other_value):
                target, source = (name, other) if name in written else (other, name)
                raise AdjointArgumentError(
                    f"arguments {name!r} and {other!r} of {fname}() share memory and {fname} "
                    f"writes into {target!r}, which changes {source!r} too: adjoint "
                    f"differentiates them as separate arrays, so the derivative would be wrong",
                    hint=f"pass a copy, e.g. {fname}({', '.join(n + '.copy()' if n == target else n for n in names)})")


def _share_memory(a, b) -> bool:
    if not np.may_share_memory(a, b):                     # disjoint address ranges: cheap
        return False
    try:
        return bool(np.shares_memory(a, b, max_work=10_000))
    except Exception:                                     # too hard to decide: assume shared
        return True


def same_types(a, b, wrt=()) -> bool:
    """Same ranks and the same element kinds; a differentiated scalar (converted to float)
    agrees with any. An int the source only guessed was a float gets code of its own: it
    may size a slice or index an array through another variable."""
    if b is None or a.keys() != b.keys():
        return False
    return all(a[k].ndim == b[k].ndim and (a[k].kind == b[k].kind or a[k].ndim == 0 and k in wrt)
               for k in a)


def as_differentiable(name, value, as_array, fname):
    expected = "a sequence or array of floats" if as_array else "a float or an array of floats"
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, bytes)):
        raise AdjointArgumentError(f"argument {name!r} of {fname}: expected {expected}, "
                                   f"got {type(value).__name__}")
    if as_array or isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
        try:
            array = np.asarray(value)
        except Exception:
            array = None
        if array is None or array.dtype.kind not in "fiu" or array.ndim == 0:
            raise AdjointArgumentError(f"argument {name!r} of {fname}: expected {expected}, "
                                       f"got {type(value).__name__}")
        if array.dtype.kind != "f":
            array = array.astype(np.float64)                # ints are promoted
        return np.ascontiguousarray(array)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
        return float(value)
    raise AdjointArgumentError(f"argument {name!r} of {fname}: expected {expected}, got "
                               f"{type(value).__name__}" +
                               (f" of shape {np.shape(value)}" if hasattr(value, "shape") or
                                isinstance(value, (list, tuple)) else ""),
                               hint=None if not isinstance(value, (list, tuple, np.ndarray)) else
                               f"{fname} uses {name!r} as a scalar; index it (x[0]) to use it as an array")


def as_result(value):
    if isinstance(value, tuple):
        return tuple(as_result(v) for v in value)
    if isinstance(value, (np.floating, np.integer)):
        return float(value)
    return value
