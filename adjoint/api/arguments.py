"""A call's arguments: checked and converted before the compiled gradient runs, and the
arguments the function writes into (written_arguments), whose aliasing with another argument
is refused (reject_aliasing). Shared by the gradient objects (gradient.py) and the batches (batch.py).
"""

from __future__ import annotations

import inspect
import re
import weakref

import numpy as np

from ..errors import AdjointArgumentError
from ..frontend.parse import as_passed, data_type
from ..ir import annotations


def parameters(fn):
    """fn's parameters (of the function a decorator such as adjoint.rule wraps), without a
    `*args` or `**kwargs` it never reads (as the front end drops them)."""
    fn = getattr(fn, "__adjoint_function__", fn)
    found = inspect.signature(fn).parameters
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in found.values()):
        unread = _unread_parameters(fn)
        found = {name: p for name, p in found.items()
                 if not (p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name in unread)}
    return found


_SIGNATURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()    # fn -> (signature, has defaults)


def bind_call(gradient, args, kwargs, extra=None) -> tuple:
    """A call's arguments as the compiled code takes them: every parameter by position, in
    the function's order (keyword-only ones last), keywords and defaults filled in; jvp's
    tangents and vjp's cotangent (`extra` of them; by default as the kind takes), always
    positional, stay at the end."""
    if extra is None:
        extra = {"jvp": len(gradient.wrt), "vjp": 1}.get(gradient.kind, 0)
    if not kwargs and len(args) == len(gradient._arg_names) + extra:
        return args                       # every parameter by position: nothing to bind
    fn = getattr(gradient.fn, "__adjoint_function__", gradient.fn)
    known = _SIGNATURES.get(fn)
    if known is None:
        signature = inspect.signature(fn)
        known = _SIGNATURES[fn] = signature, any(p.default is not p.empty for p in signature.parameters.values())
    signature, has_defaults = known
    if not kwargs and not has_defaults:
        return args                       # nothing to bind: the count is checked later
    split = max(len(args) - extra, 0)
    primal, tail = args[:split], args[split:]
    try:
        bound = signature.bind(*primal, **kwargs)
    except TypeError as error:
        names = ", ".join(signature.parameters)
        extras = {"jvp": " and one tangent per wrt argument", "vjp": " and the output's cotangent"}
        raise AdjointArgumentError(f"{fn.__name__}({names}){extras.get(gradient.kind, '')}: {error}",
                                   hint="pass each parameter once, by position or by name") from None
    given = set(bound.arguments)
    bound.apply_defaults()
    for name, value in bound.arguments.items():
        if name not in given and value is None and name in _unread_parameters(fn):
            bound.arguments[name] = 0.0   # `ax=None`, a plotting argument the body never reads
        elif name not in given and not _passable(value):
            raise AdjointArgumentError(
                f"{fn.__name__}(): the default of `{name}` is {value!r}, which compiled code "
                f"cannot take: adjoint passes numbers and arrays",
                hint=f"pass `{name}` in the call: {fn.__name__}(..., {name}=...)")
    return tuple(bound.arguments.values()) + tuple(tail)


_UNREAD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # fn -> its parameters never read


def _unread_parameters(fn) -> frozenset:
    """The parameters fn's source never reads (nor a function defined in it)."""
    known = _UNREAD.get(fn)
    if known is None:
        import ast
        import textwrap
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError, SyntaxError):
            return frozenset()
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        known = _UNREAD[fn] = frozenset(inspect.signature(fn).parameters) - read
    return known


def _passable(value) -> bool:
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        return True
    return isinstance(value, (np.ndarray, list, tuple)) and np.asarray(value).dtype.kind in "biuf"


_DATA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # gradient -> (DataSources, ConstantSources)


def _sources(gradient):
    known = _DATA.get(gradient)
    if known is None:
        generated = gradient._generated or next((g for g, _ in gradient._variants.values()), None)
        tree = generated.stages.get("normalize") if generated is not None else None
        if tree is None:                   # loaded from the cache, or not generated yet
            tree = normalized_function(gradient.fn)
        known = _DATA[gradient] = (list(annotations.get(tree, "data_arguments")),
                                   list(annotations.get(tree, "constant_sources")))
    return known


def reads_data(tree) -> bool:
    """Whether a normalized function reads arrays or numbers from module globals or closures."""
    return bool(annotations.get(tree, "data_arguments") or annotations.get(tree, "constant_sources"))


def reads_no_data(gradient):
    """Known without the front end (the cache's record says so): the function reads no arrays
    or numbers from module globals or closures."""
    _DATA[gradient] = ([], [])


def data_sources(gradient) -> list:
    """The DataSources (frontend.parse) of the arrays the function reads from module globals
    or closure cells, in the order the compiled code takes them, after the user's arguments."""
    return _sources(gradient)[0]


def data_constants(gradient) -> list:
    """The numbers the function reads from module globals or closure cells, compiled in:
    each call checks that they still have the values compiled in."""
    return _sources(gradient)[1]


def _check_constants(gradient, constants):
    """A number the emitted code inlined that has changed since: an error, never the old
    gradient (the code bakes it in, as a loop bound or a branch taken, say)."""
    for source in constants:
        if source.changed():
            try:
                now = repr(source.read())
            except Exception:                       # noqa: BLE001 (gone: say so)
                now = "gone"
            name = gradient.fn.__name__
            raise AdjointArgumentError(
                f"`{source.label}`, which {name} reads, was {source.value!r} when its gradient "
                f"was generated and is {now} now: adjoint compiles numbers read from module "
                f"globals and closures into the code",
                hint=f"call adjoint.grad({name}) again after changing `{source.label}`, or pass "
                     f"it to {name} as an argument")


_KINDS = {"b": "bool", "i": "int", "u": "int", "f": "float"}


def data_values(gradient) -> list:
    """The current values of the arrays the function reads from module globals or closure
    cells, which the compiled code takes after the user's arguments: a change to one of them
    (in place, or a new array bound to the name) is seen by the next call."""
    sources, constants = _DATA.get(gradient) or _sources(gradient)
    if constants:
        _check_constants(gradient, constants)
    values = []
    for source in sources:
        value = source.read()
        expected = source.type
        if not (type(value) is np.ndarray and value.ndim == expected.ndim
                and _KINDS.get(value.dtype.kind) == expected.kind):      # the common case, fast
            if data_type(value) != expected:
                now = data_type(value) or type(value).__name__
                raise AdjointArgumentError(
                    f"`{source.label}`, which {gradient.fn.__name__} reads, was {expected} when its "
                    f"gradient was generated and is {now} now: the generated code is for the former",
                    hint=f"call adjoint.grad({gradient.fn.__name__}) again after changing "
                         f"`{source.label}`, or pass it as an argument")
            value = as_passed(value)
        values.append(value)
    return values


_FLOAT32 = np.dtype(np.float32)


def precision_of(args) -> str:
    """"float32" when the call's float arrays are all float32 (and it has one), else
    "float64": the precision the adjoint computes in (options.Options.precision)."""
    dtypes = {a.dtype for a in args if type(a) is np.ndarray and a.dtype.kind == "f"}
    return "float32" if dtypes == {_FLOAT32} else "float64"


def in_precision(args, precision) -> list:
    """The float numbers among `args` as float32 where the arrays are: numba would take a
    Python float for a float64 and make every array it meets float64."""
    if precision != "float32":
        return args
    return [np.float32(a) if isinstance(a, (float, np.floating)) and np.ndim(a) == 0 else a for a in args]


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
    names = list(names) + [None] * (len(args) - len(names))       # then module arrays: shared
    return [np.array(v) if n in written and isinstance(v, np.ndarray) else v
            for n, v in zip(names, args)]


def normalized_function(fn):
    """The function in three-address form (helpers inlined), for a gradient loaded from the
    cache, whose record keeps no compiler stages."""
    from ..frontend.desugar import desugar
    from ..frontend.normalize import normalize
    from ..frontend.parse import parse
    from ..ir.names import Namer
    from ..pipeline import _user_names, deep_recursion
    with deep_recursion():              # as in differentiate: a deep expression is no RecursionError
        parsed = desugar(parse(fn))
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
    if type(value) is np.ndarray:                    # the common case, first: no class checks
        return value
    if isinstance(value, tuple):
        return tuple(as_result(v) for v in value)
    if isinstance(value, (np.floating, np.integer)):
        return float(value)
    return value


# spelled argument types: "float64", "int64", "float64[:]", "float64[:,:]" (the CLI's --types)
TYPE_SPELLING = re.compile(r"(float|int|bool)(?:8|16|32|64)?_?(?:\[\s*((?::\s*,\s*)*:)\s*\])?")
TYPES_HINT = ("write NAME=TYPE with TYPE like float64, int64, float64[:] or float64[:,:] "
              "(a string 'x=float64[:], n=int64', or a dict {'x': 'float64[:]'}), or pass an "
              "example value (a dict {'x': np.ones(3)})")


def signature_of_types(types, fn) -> dict | None:
    """`types` ("W=float64[:,:], n=int64", {"W": "float64[:,:]"} or {"W": example array}) as
    the pipeline's signature {name: shapes.Type}; None without types."""
    if not types:
        return None
    from ..analysis import shapes
    names = list(parameters(fn))
    items = types.items() if isinstance(types, dict) else \
        [tuple(part.strip() for part in item.partition("=")[::2]) for item in _split_types(types)]
    signature = {}
    for name, spelled in items:
        if name not in names:
            raise AdjointArgumentError(f"types names {name!r}, which is not a parameter of "
                                       f"{fn.__name__}() ({', '.join(names)})", hint=TYPES_HINT)
        if not isinstance(spelled, str):
            signature[name] = shapes.describe(spelled)
            continue
        match = TYPE_SPELLING.fullmatch(spelled)
        if match is None:
            raise AdjointArgumentError(f"cannot read the type {spelled!r} of {name}", hint=TYPES_HINT)
        rank = match.group(2).count(":") if match.group(2) else 0
        signature[name] = shapes.Type(match.group(1), rank)
    return signature


def _split_types(text):
    """Split at the commas between items, not those inside [...]."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    return [i for i in items + [current] if i.strip()]
