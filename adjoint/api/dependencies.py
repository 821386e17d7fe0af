"""What a cached gradient depends on, hashed into its key (api/cache.py: keyed): the walk over
what fn reaches (_Reach: helpers' sources, globals, closure cells, arrays by value), the rules a
user registered, and the versions of adjoint's sources, numba, numpy and Python. Separate from
cache.py, which keeps the folder, the entries and their files: this part only reads and hashes.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import json
import os
import platform
import sys
import textwrap
import types

import numpy as np

PINNED = ("builtins", "math", "numpy", "numba", "adjoint")     # named: their versions are keyed
_MISSING = object()


class NotCacheable(Exception):
    def __init__(self, path, what, why=", with no value a later process could check"):
        *readers, name = path.split("/")
        where = f" (read by {' -> '.join(readers)})" if readers else ""
        super().__init__(f"`{name}`{where} is {what}")
        self.why = why


class _Reach:
    """Walks what fn reaches: the globals and closure cells its source reads (dotted through
    modules: `mylib.W`), into every plain Python helper, whatever its file. `tokens` describe
    each by value; `objects` maps each path to the object found there."""

    def __init__(self, fn, budget=None):
        self.objects: dict = {}
        self._budget = budget                    # bytes of arrays left to hash; None: any
        self._walked: dict = {}                  # id(function) -> the path it was first reached by
        self.tokens = [self._function(fn, "")]

    def _function(self, fn, path):
        if id(fn) in self._walked:               # reached twice, or recursion
            return f"the function at {self._walked[id(fn)]!r}"
        self._walked[id(fn)] = path
        try:
            source = inspect.getsource(fn)
            chains = _global_chains(source)
        except (OSError, TypeError, SyntaxError):
            raise NotCacheable(path or fn.__qualname__, "a function whose source cannot be read") from None
        code = fn.__code__
        parts = [fn.__module__ or "", fn.__qualname__, code.co_filename, str(code.co_firstlineno), source]
        if fn.__name__ == "<lambda>":            # which of the lambdas its lines hold: where its code is
            parts.append(str(sorted({p for p in code.co_positions() if None not in p})))
        for k, default in enumerate(fn.__defaults__ or ()):
            parts.append(self._value(default, f"{path}/{fn.__name__} default {k}"))
        cells = {}
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            with contextlib.suppress(ValueError):            # an empty cell reads as missing
                cells[name] = cell.cell_contents
        for chain in chains:
            parts.append(self._chain(chain, cells, fn.__globals__, f"{path}/" if path else ""))
        return _digest("\0".join(parts))

    def _chain(self, chain, cells, globals_, prefix):
        names = chain.split(".")
        first = names[0]
        if first in cells:
            value = cells[first]
        elif first in globals_:
            value = globals_[first]
        elif hasattr(builtins, first):
            return f"{chain}: builtin"
        else:
            return f"{chain}: missing"
        where, modules = prefix + first, []
        for attr in names[1:]:                   # through modules only, as parse resolves them
            if not isinstance(value, types.ModuleType):
                break
            modules.append(value.__name__)
            value = getattr(value, attr, _MISSING)
            where += "." + attr
        self.objects.setdefault(where, value)
        return f"{chain}: {' '.join(modules)} {self._value(value, where)}"

    def _value(self, obj, where, depth=0):
        if obj is _MISSING:
            return "missing"
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            return f"{type(obj).__name__} {obj!r}"
        if isinstance(obj, types.ModuleType):
            return f"module {obj.__name__}"
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise NotCacheable(where, "an array of Python objects")
            if self._budget is not None:
                self._budget -= obj.nbytes
                if self._budget < 0:
                    raise NotCacheable(where, f"a large array ({obj.nbytes} bytes)",
                                       ": hashing it for every gradient would cost more than the cache saves")
            data = _digest(np.ascontiguousarray(obj).tobytes())
            return f"array {obj.dtype.str} {obj.shape} {obj.flags.writeable} {data}"
        if isinstance(obj, np.generic) and not isinstance(obj, np.object_):
            return f"numpy {obj.dtype.str} {obj.tobytes().hex()}"
        if isinstance(obj, (tuple, list)) and depth < 8:
            items = ", ".join(self._value(v, f"{where}[{k}]", depth + 1) for k, v in enumerate(obj))
            return f"{type(obj).__module__}.{type(obj).__qualname__} [{items}]"
        py_func = getattr(obj, "py_func", None)                  # a numba dispatcher
        if isinstance(py_func, types.FunctionType) and _top_module(type(obj)) == "numba":
            options = json.dumps(getattr(obj, "targetoptions", {}), sort_keys=True, default=repr)
            return f"dispatcher {options} {self._function(py_func, where)}"
        if isinstance(obj, types.FunctionType):
            if _top_module(obj) in PINNED:
                return f"function {obj.__module__}.{obj.__qualname__}"
            return f"function {self._function(obj, where)}"
        named = _library_name(obj)
        if named is not None:
            return f"named {named}"
        raise NotCacheable(where, f"a {type(obj).__name__}")


def _global_chains(source) -> list:
    """The dotted names (`x`, `np.exp`, `mylib.W`) a function's body reads that are not its
    locals: what Python looks up in its closure, globals or builtins."""
    tree = ast.parse(textwrap.dedent(source))
    function = tree.body[0] if tree.body else None
    if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        a = function.args
        local = {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs}
        local |= {p.arg for p in (a.vararg, a.kwarg) if p is not None}
        body = function.body                     # not the decorators: parse drops them
    else:
        local, body = set(), tree.body           # a lambda's line: every name counts
    nodes = [n for statement in body for n in ast.walk(statement)]
    local |= {n.id for n in nodes if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    local |= {n.name for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    chains = set()
    for node in nodes:
        names = []
        while isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id not in local:
            chains.add(".".join([node.id, *reversed(names)]))
    return sorted(chains)


def _top_module(obj) -> str:
    return (getattr(obj, "__module__", None) or "").split(".")[0]


def _library_name(obj) -> str | None:
    """module.qualname of a function written in C, or of any object numpy, numba, math or
    Python provides (np.sum, np.float64), if that name finds the object again."""
    if not (isinstance(obj, (types.BuiltinFunctionType, np.ufunc)) or _top_module(obj) in PINNED):
        return None
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    found = sys.modules.get(module) if isinstance(module, str) else None
    for part in (qualname or "").split("."):
        found = getattr(found, part, None)
    return f"{module}.{qualname}" if found is obj else None


def _user_rules() -> list:
    """One token per derivative rule a user registered (rules adjoint ships are covered by the
    digest of its sources): the rule function's source and the primitive it is for."""
    from ..primitives import registry as rule_registry
    records = []

    def collect(value):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            records.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
    for table in vars(rule_registry).values():
        if isinstance(table, dict):
            for value in list(table.values()):
                collect(value)
    tokens = []
    for record in records:
        fields = [(f.name, getattr(record, f.name)) for f in dataclasses.fields(record)]
        functions = [v for _, v in fields if isinstance(v, types.FunctionType)]
        if all(_top_module(f) in PINNED for f in functions):
            continue
        parts = [type(record).__name__]
        for name, value in fields:
            if isinstance(value, types.FunctionType):
                try:
                    text = inspect.getsource(value)
                except (OSError, TypeError):
                    text = "?"
                parts.append(f"{name}: {value.__module__}.{value.__qualname__} {text}")
            elif name == "primitive" or callable(value):
                parts.append(f"{name}: {getattr(value, '__module__', '')}."
                             f"{getattr(value, '__qualname__', type(value).__name__)}")
            elif _plain_data(value):             # not the gast expressions: read from the source
                parts.append(f"{name}: {value!r}")
        tokens.append(_digest("\0".join(parts)))
    return sorted(tokens)


def _plain_data(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_plain_data(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _versions(options) -> list:
    import numba

    # adjoint's own version is in the digest of its sources (adjoint/__init__.py); importing
    # the package from here would close an import cycle (adjoint -> api.gradient -> api.cache -> api.dependencies)
    parts = [_compiler_digest(), numba.__version__, np.__version__, sys.version, platform.machine()]
    if options.parallel:                         # the chunk count is a constant to the machine code
        parts.append(f"threads {numba.config.NUMBA_NUM_THREADS}")
    return parts


@functools.lru_cache(maxsize=1)
def _compiler_digest() -> str:
    digest = hashlib.sha256()
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # adjoint/, all stages
    for folder, _, files in sorted(os.walk(package)):
        for name in sorted(f for f in files if f.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def _digest(data) -> str:
    return hashlib.sha256(data.encode("utf-8", "backslashreplace") if isinstance(data, str)
                          else data).hexdigest()
