"""The on-disk cache behind `grad(f, cache=True)`: the generated module and numba's machine code.

    first process:   transform f, write <key>.py and <key>_primal.py, then <key>.json;
                     numba compiles and caches its machine code in __pycache__
    later processes: read <key>.json, check the modules' digests, import <key>.py,
                     numba loads its cached machine code

The key hashes everything the emitted module depends on (`_Reach`): the source of f and of every
plain Python helper it reaches, in whatever file; the values of the constants and closure cells
they read (numbers, strings, tuples of them, numpy arrays by dtype, shape and bytes); modules by
name; numpy, math and builtin functions by name; the source of every derivative rule a user
registered; the pipeline's options (every field of pipeline.Options) and grad's target and
jit options; a digest of adjoint's sources (its version included), the versions of numba,
numpy and Python. An object reached with no value a later process could compare (an instance of a
user class, say) makes f uncacheable: one warning names it, and the gradient is compiled as
without the cache (`key` returns None).

A later process binds the module's user objects by identity: the record keeps, for each name
the module uses, the path by which it was reached from f (`h`, `mylib.W`, `helper/g`).

The folder is the user's own (created 0700, files 0600); one that another user owns or that
others may write is refused with a warning. Files are written under temporary names unique to
the thread and process, then renamed into place, the record last; the record holds the digests
of the modules, and numba's index and data files are read back before numba uses them, so a
damaged entry is regenerated instead of failing in every later process.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import contextlib
import dataclasses
import functools
import glob
import hashlib
import importlib.util
import inspect
import json
import os
import pickle
import platform
import re
import shutil
import sys
import tempfile
import textwrap
import threading
import types
import warnings

import numpy as np

from ..pipeline import Generated, Options

FIELDS = ("name", "source", "primal_name", "primal_source", "filename", "wrt")
MODULES = (".py", "_primal.py")
PINNED = ("builtins", "math", "numpy", "numba", "adjoint")     # named: their versions are keyed
_MISSING = object()


class CacheWarning(UserWarning):
    """grad(f, cache=True) compiles without the cache (the reason is in the message)."""


class NotCacheable(Exception):
    def __init__(self, path, what):
        *readers, name = path.split("/")
        where = f" (read by {' -> '.join(readers)})" if readers else ""
        super().__init__(f"`{name}`{where} is {what}")


@dataclasses.dataclass
class _Entry:
    fn: object
    folder: str
    objects: dict               # path from fn -> the object reached there


_ENTRIES: dict = {}             # key -> the _Entry of the function last keyed so
_WARNED: set = set()
_IMPORT_LOCK = threading.Lock()


def directory() -> str:
    return os.environ.get("ADJOINT_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "adjoint")


def key(fn, options: Options, **settings) -> str | None:
    """The entry's name for fn's gradient generated with `options` (every field of it) and
    compiled with these settings (target, jit options); None (after one warning) where it
    cannot be cached: an unsafe folder, or a reached object with no stable value."""
    fn = inspect.unwrap(getattr(fn, "__adjoint_function__", fn))
    if not isinstance(fn, types.FunctionType):
        return None                              # the pipeline reports what it cannot read
    try:
        inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    folder = _private_folder()
    if folder is None:
        return None
    try:
        reach = _Reach(fn)
    except NotCacheable as reason:
        _warn_once(f"grad({fn.__qualname__}, cache=True): not cached, since {reason}, with no "
                   f"value a later process could check; compiled without the cache")
        return None
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    if fields.keys() & settings.keys():          # a setting would hide an option from the key
        raise ValueError(f"cache.key: {sorted(fields.keys() & settings.keys())} are options, not settings")
    settings = {**fields, **settings}
    digest = hashlib.sha256()
    for part in [*_versions(options), json.dumps(settings, sort_keys=True, default=repr),
                 *reach.tokens, *_user_rules()]:
        digest.update(part.encode("utf-8", "backslashreplace"))
        digest.update(b"\0")
    cache_key = f"{_plain(fn.__name__)}_{digest.hexdigest()[:24]}"
    _ENTRIES[cache_key] = _Entry(fn, folder, reach.objects)
    return cache_key


def load(cache_key: str | None, fn):
    """The cached Generated record for `cache_key`, or None when absent, stale or damaged."""
    if cache_key is None:
        return None
    entry = _entry(cache_key, fn)
    path = os.path.join(entry.folder, cache_key)
    try:
        with open(path + ".json", encoding="utf-8") as handle:
            record = json.load(handle)
        if record["key"] != cache_key:
            return None
        for suffix in MODULES:
            if _file_digest(path + suffix) != record["digests"][suffix]:
                return None                      # truncated, emptied or edited: regenerated
        namespace = {name: entry.objects[where] for name, where in record["namespace"].items()}
        return _generated(record, namespace)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None                              # absent, or a damaged record: regenerated


def _entry(cache_key, fn):
    entry = _ENTRIES[cache_key]
    fn = inspect.unwrap(getattr(fn, "__adjoint_function__", fn))
    if entry.fn is not fn:                       # another function with the same key: its objects
        entry = _ENTRIES[cache_key] = _Entry(fn, entry.folder, _Reach(fn).objects)
    return entry


def _generated(record, namespace):
    from ..analysis.shapes import Type
    values = {f: record[f] for f in FIELDS}
    if not all(isinstance(values[f], str) for f in FIELDS if f != "wrt"):
        raise TypeError("a damaged record")
    values["wrt"] = tuple(values["wrt"])
    signature = {name: Type(kind, ndim) for name, kind, ndim in record["signature"]}
    origins = {int(line): tuple(origin) for line, origin in record["origins"].items()}
    return Generated(**values, origins=origins, namespace=namespace,
                     array_args=set(record["array_args"]), stages={}, signature=signature)


def store(cache_key: str | None, generated: Generated) -> None:
    """Write the entry: the modules first, the record (with their digests) last, so that a
    reader sees a whole entry or none."""
    if cache_key is None:
        return
    entry = _ENTRIES[cache_key]
    paths = {}
    for name, obj in entry.objects.items():
        paths.setdefault(id(obj), name)
    unlocated = sorted(n for n, obj in generated.namespace.items() if id(obj) not in paths)
    texts = {".py": generated.source, "_primal.py": generated.primal_source}
    record = {f: getattr(generated, f) for f in FIELDS}
    record.update(key=cache_key, digests={s: _digest(t) for s, t in texts.items()},
                  origins={str(k): list(v) for k, v in generated.origins.items()},
                  namespace={n: paths.get(id(obj)) for n, obj in sorted(generated.namespace.items())},
                  array_args=sorted(generated.array_args),
                  signature=[[n, t.kind, t.ndim] for n, t in (generated.signature or {}).items()])
    path = os.path.join(entry.folder, cache_key)
    try:
        for suffix, text in texts.items():
            _write(path + suffix, text)
        if unlocated:                            # this process imports the modules; no record
            _warn_once(f"grad({entry.fn.__qualname__}, cache=True): not cached, since adjoint "
                       f"cannot tell how a later process finds {', '.join(unlocated)}")
            return
        _write(path + ".json", json.dumps(record, indent=1))
    except OSError as error:
        _warn_once(f"cannot write to the cache folder {entry.folder!r} ({error}); "
                   f"this process writes its gradients to a temporary folder")
        entry.folder = tempfile.mkdtemp(prefix="adjoint-cache-")
        atexit.register(shutil.rmtree, entry.folder, True)
        for suffix, text in texts.items():
            _write(os.path.join(entry.folder, cache_key) + suffix, text)


def module_path(cache_key: str, primal=False) -> str:
    folder = _ENTRIES[cache_key].folder if cache_key in _ENTRIES else directory()
    return os.path.join(folder, cache_key + ("_primal.py" if primal else ".py"))


def import_module(path: str, namespace: dict) -> dict:
    """Import a generated module from its file under a stable name (numba's cache rebuilds a
    function's environment by importing its module by name), with `namespace` bound first."""
    name = "adjoint_cache_" + os.path.basename(path)[:-3]
    with _IMPORT_LOCK:                           # no thread sees a module half executed
        if name in sys.modules:
            return vars(sys.modules[name])
        with open(path, "rb") as handle:
            code = compile(handle.read(), path, "exec")     # no .pyc: the digest covers the source
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        vars(module).update(namespace)
        sys.modules[name] = module
        try:
            exec(code, vars(module))
        except BaseException:
            del sys.modules[name]
            raise
        _discard_damaged_numba_files(path)
    return vars(module)


# --- what the emitted module depends on ------------------------------------------------------

class _Reach:
    """Walks what fn reaches: the globals and closure cells its source reads (dotted through
    modules: `mylib.W`), into every plain Python helper, whatever its file. `tokens` describe
    each by value; `objects` maps each path to the object found there."""

    def __init__(self, fn):
        self.objects: dict = {}
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
    # the package from here would close an import cycle (adjoint -> api.gradient -> api.cache)
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


def _plain(name: str) -> str:
    """The function's name as it may appear in a file name: ASCII letters, digits, `_`."""
    return re.sub(r"[^A-Za-z0-9_]", "", name)[:40] or "f"


# --- the folder and its files ---------------------------------------------------------------

def _user_id():
    return os.getuid()


def _private_folder() -> str | None:
    """The cache folder, created 0700; None (after a warning) where another user owns it or
    others may write to it: they could plant code that this process imports."""
    folder = os.path.abspath(directory())
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError as error:
        _warn_once(f"the cache folder {folder!r} cannot be created ({error.strerror}); "
                   f"gradients are compiled without the cache")
        return None
    if os.name != "posix":
        return folder
    problem = None
    if info.st_uid != _user_id():
        problem = "is owned by another user"
    elif info.st_mode & 0o022:
        problem = f"is writable by others (mode {info.st_mode & 0o777:o})"
    if problem:
        _warn_once(f"the cache folder {folder!r} {problem}; gradients are compiled without "
                   f"the cache (use a folder of your own: chmod 700, or set ADJOINT_CACHE_DIR)")
        return None
    return folder


def _write(path, text):
    """Atomically: a temporary file unique to this thread and process (0600), renamed."""
    folder, name = os.path.split(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode("utf-8"))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _discard_damaged_numba_files(module_file):
    """numba unpickles its index and data files unguarded, so one damaged file would fail
    every later process: read each back first and delete the module's set if one fails."""
    stem = glob.escape(os.path.basename(module_file)[:-3])
    for folder in _numba_folders(module_file):
        for index in glob.glob(os.path.join(glob.escape(folder), f"*{stem}.*.nbi")):
            data = glob.glob(glob.escape(index[:-4]) + ".*.nbc")
            if _unpickles(index, 2) and all(_unpickles(path, 1) for path in data):
                continue
            for path in [index, *data]:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def _numba_folders(module_file) -> list:
    folders = [os.path.join(os.path.dirname(module_file), "__pycache__")]
    try:
        from numba.core import caching, config
        if config.CACHE_DIR:
            subpath = caching._CacheLocator.get_suitable_cache_subpath(module_file)
            folders.append(os.path.join(config.CACHE_DIR, subpath))
    except (ImportError, AttributeError):
        pass
    return folders


def _unpickles(path, count) -> bool:
    try:
        with open(path, "rb") as handle:
            for _ in range(count):
                pickle.load(handle)
        return True
    except FileNotFoundError:
        return True                              # replaced meanwhile: numba handles that
    except Exception:                            # noqa: BLE001  (garbage raises anything)
        return False


def _warn_once(message):
    """Warn once per process, at the user's line that asked for the cache."""
    if message in _WARNED:
        return
    _WARNED.add(message)
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, CacheWarning, stacklevel=level)


def _digest(data) -> str:
    return hashlib.sha256(data.encode("utf-8", "backslashreplace") if isinstance(data, str)
                          else data).hexdigest()


def _file_digest(path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


# what `adjoint cache info` and `adjoint cache clear` show and remove ---------------------------

_ENTRY_SUFFIXES = (".json", ".py", "_primal.py")


def _entry_files(folder):
    """The cache's own files in `folder`: entries (record and modules) and numba's machine
    code for them (in __pycache__); nothing else a user may have put there."""
    names = set()
    for name in os.listdir(folder):
        if name.endswith(".json"):
            names.add(name[:-len(".json")])
    files = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and any(name == base + s for base in names for s in _ENTRY_SUFFIXES):
            files.append(path)
    numba_folder = os.path.join(folder, "__pycache__")
    if os.path.isdir(numba_folder):
        for name in sorted(os.listdir(numba_folder)):
            if name.endswith((".nbi", ".nbc")) and name.split(".")[0] in names | {n + "_primal" for n in names}:
                files.append(os.path.join(numba_folder, name))
    return sorted(names), files


def info() -> dict:
    """The cache folder, its entries (one per gradient) and the bytes they take."""
    folder = os.path.abspath(directory())
    if not os.path.isdir(folder):
        return {"folder": folder, "entries": [], "files": 0, "bytes": 0}
    names, files = _entry_files(folder)
    return {"folder": folder, "entries": names, "files": len(files),
            "bytes": sum(os.path.getsize(f) for f in files)}


def clear() -> dict:
    """Remove every entry and its machine code (only the cache's own files); returns what
    was removed, as info() counts it."""
    removed = info()
    if removed["files"]:
        for path in _entry_files(removed["folder"])[1]:
            with contextlib.suppress(FileNotFoundError):      # another process removed it
                os.remove(path)
    _ENTRIES.clear()
    return removed
