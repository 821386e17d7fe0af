"""The on-disk cache of gradients: the generated modules and numba's machine code.

On by default for the cpu target (`grad(f)`, `value_and_grad`, `jvp`, `vjp`, each
specialization to a call's argument types, the cpu batch drivers); `cache=False` on one
object, or ADJOINT_CACHE=0 in the environment, turns the default off (an explicit
`cache=True` still caches, and also caches the python target's generated code).
The folder is ADJOINT_CACHE_DIR, by default ~/.cache/adjoint (`adjoint cache info|clear`).

    first process:   transform f, write <key>.py and <key>_primal.py (<key>_device.py for a
                     batch's allocation-free gradient), then <key>.json; numba compiles and
                     caches its machine code in __pycache__; a batch driver is written as
                     <key>_b<digest>.py beside its gradient, and cached by numba the same way
    later processes: read <key>.json, check the modules' digests, import <key>.py,
                     numba loads its cached machine code (`read_quickly`: without the half
                     second numba spends importing its every implementation first)

The key hashes everything the emitted module depends on (dependencies.py): the source of f and of every
plain Python helper it reaches, in whatever file; the values of the constants and closure cells
they read (numbers, strings, tuples of them, numpy arrays by dtype, shape and bytes); modules by
name; numpy, math and builtin functions by name; the source of every derivative rule a user
registered; the pipeline's options (every field of pipeline.Options) and grad's target and
jit options; a digest of adjoint's sources (its version included), the versions of numba,
numpy and Python. An object reached with no value a later process could compare (an instance of a
user class, say) makes f uncacheable: one warning names it where the user asked for
`cache=True`, and the gradient is compiled as without the cache (`key` returns None); by
default (cache not given) the gradient is compiled without the cache silently, the reason
kept in the object's `cache_status`.

A later process binds the module's user objects by identity: the record keeps, for each name
the module uses, the path by which it was reached from f (`h`, `mylib.W`, `helper/g`).

The folder is the user's own (created 0700, files 0600); one that another user owns or that
others may write is refused with a warning. Files are written under temporary names unique to
the thread and process, then renamed into place, the record last; the record holds the digests
of the modules, and numba's index and data files are read back before numba uses them, so a
damaged entry is regenerated instead of failing in every later process.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import glob
import hashlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import types
import warnings

from ..pipeline import Generated, Options
from .dependencies import NotCacheable, _digest, _Reach, _user_rules, _versions

FIELDS = ("name", "source", "primal_name", "primal_source", "filename", "wrt")
MODULES = (".py", "_primal.py", "_device.py")      # the last only where the device code was lowered
DEVICE = "_device.py"


class CacheWarning(UserWarning):
    """grad(f, cache=True) compiles without the cache (the reason is in the message)."""


@dataclasses.dataclass
class _Entry:
    fn: object
    folder: str
    objects: dict               # path from fn -> the object reached there
    explicit: bool = True       # cache=True: warn where it cannot be kept
    record: dict = None         # the record read by `load`


_ENTRIES: dict = {}             # key -> the _Entry of the function last keyed so
ARRAY_BUDGET = 32 * 2 ** 20     # bytes of reached arrays the default hashes for a key
_WARNED: set = set()
_IMPORT_LOCK = threading.Lock()


def directory() -> str:
    return os.environ.get("ADJOINT_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "adjoint")


OFF = ("0", "false", "no", "off")


def wanted(cache, target) -> bool:
    """Whether a gradient asked for with `cache` (True, False, or None: not given) on `target`
    is cached: not given, the cpu target's are (its machine code is what takes seconds),
    unless ADJOINT_CACHE=0 (or false, no, off) is set."""
    if cache is None:
        return target == "cpu" and os.environ.get("ADJOINT_CACHE", "").strip().lower() not in OFF
    return bool(cache)


def key(fn, options: Options, *, explicit=True, **settings) -> str | None:
    """The entry's name for fn's gradient generated with `options` (every field of it) and
    compiled with these settings (target, jit options); None where it cannot be cached (see
    `keyed` for the reason)."""
    return keyed(fn, options, explicit=explicit, **settings)[0]


def keyed(fn, options: Options, *, explicit=True, **settings) -> tuple:
    """(key, None), or (None, why fn's gradient cannot be cached: an unsafe folder, a reached
    object with no stable value, no source). `explicit` (cache=True) warns once with the
    reason; the default falls back silently."""
    fn = inspect.unwrap(getattr(fn, "__adjoint_function__", fn))
    if not isinstance(fn, types.FunctionType):
        return None, "it is not a Python function"    # the pipeline reports what it cannot read
    if (fn.__module__ or "").startswith(GENERATED):
        return None, "it is code adjoint generated in this process (grad of a gradient)"
    try:
        inspect.getsource(fn)
    except (OSError, TypeError):
        return None, "its source cannot be read"
    if not explicit and not os.path.isfile(fn.__code__.co_filename):
        # a notebook cell or an exec'd string: its file name changes from session to session,
        # so the entries would only pile up
        return None, f"it is not defined in a file ({fn.__code__.co_filename})"
    folder, problem = _private_folder(explicit)
    if folder is None:
        return None, problem
    try:
        reach = _Reach(fn, budget=None if explicit else ARRAY_BUDGET)
    except NotCacheable as reason:
        if explicit:
            _warn_once(f"grad({fn.__qualname__}, cache=True): not cached, since {reason}{reason.why}; "
                       f"compiled without the cache")
        return None, f"{reason}{reason.why}"
    except Exception as error:                   # noqa: BLE001  (the default never fails a grad)
        if explicit:
            raise
        return None, f"adjoint could not read what it depends on ({type(error).__name__}: {error})"
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
    _ENTRIES[cache_key] = _Entry(fn, folder, reach.objects, explicit)
    return cache_key, None


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
        if set(record["digests"]) - set(MODULES):
            return None
        for suffix, digest in record["digests"].items():
            if _file_digest(path + suffix) != digest:
                return None                      # truncated, emptied or edited: regenerated
        namespace = {name: entry.objects[where] for name, where in record["namespace"].items()}
        generated = _generated(record, namespace)
        entry.record = record
        return generated
    except (OSError, ValueError, KeyError, TypeError, AttributeError, SyntaxError):
        return None                              # absent, or a damaged record: regenerated


def facts(cache_key: str | None) -> dict:
    """What `store` was told of the function besides its code (the arguments it writes into,
    whether it reads arrays or numbers from globals), as the record `load` read keeps them:
    what the gradient object would otherwise read from f's source again."""
    record = _ENTRIES[cache_key].record if cache_key in _ENTRIES else None
    found = (record or {}).get("facts")
    return found if isinstance(found, dict) else {}


def _entry(cache_key, fn):
    entry = _ENTRIES[cache_key]
    fn = inspect.unwrap(getattr(fn, "__adjoint_function__", fn))
    if entry.fn is not fn:                       # another function with the same key: its objects
        entry = _ENTRIES[cache_key] = _Entry(fn, entry.folder, _Reach(fn).objects, entry.explicit)
    return entry


def _generated(record, namespace):
    from ..analysis.shapes import Type
    values = {f: record[f] for f in FIELDS}
    if not all(isinstance(values[f], str) for f in FIELDS if f != "wrt"):
        raise TypeError("a damaged record")
    values["wrt"] = tuple(values["wrt"])
    signature = {name: Type(kind, ndim) for name, kind, ndim in record["signature"]}
    origins = {int(line): tuple(origin) for line, origin in record["origins"].items()}
    device, device_source = None, ""
    if record.get("device") is not None:
        device_source = record["device_source"]
        device = _device_code(record["device"], device_source)
    return Generated(**values, origins=origins, namespace=namespace,
                     array_args=set(record["array_args"]), stages={}, signature=signature,
                     device=device, device_source=device_source)


def _device_fields(code) -> dict:
    """lower/device.DeviceCode as plain data, every field: its functions by name (they are
    in the device module), tuples of names as lists."""
    fields = {}
    for field in dataclasses.fields(code):
        value = getattr(code, field.name)
        fields[field.name] = {"function": value.name} if type(value).__name__ == "FunctionDef" else \
            list(value) if isinstance(value, tuple) else value
    return fields


def _device_code(fields, source):
    """lower/device.DeviceCode again: its functions read back from the device module."""
    from ..ir import trees
    from ..lower.device import DeviceCode
    functions = {f.name: f for f in trees.parse(source).body if type(f).__name__ == "FunctionDef"}
    values = {}
    for field in dataclasses.fields(DeviceCode):
        value = fields[field.name]               # a field the record lacks: a damaged record
        values[field.name] = functions[value["function"]] if isinstance(value, dict) else \
            tuple(value) if isinstance(value, list) else value
    return DeviceCode(**values)


def store(cache_key: str | None, generated: Generated, facts=None) -> str | None:
    """Write the entry: the modules first, the record (with their digests) last, so that a
    reader sees a whole entry or none. `facts`: plain data the gradient object read from the
    function (see `facts`). Returns why a later process will not find it, or None."""
    if cache_key is None:
        return "it has no key"
    entry = _ENTRIES[cache_key]
    paths = {}
    for name, obj in entry.objects.items():
        paths.setdefault(id(obj), name)
    unlocated = sorted(n for n, obj in generated.namespace.items() if id(obj) not in paths)
    texts = {".py": generated.source, "_primal.py": generated.primal_source}
    record = {f: getattr(generated, f) for f in FIELDS}
    if generated.device is not None and generated.device_source:
        texts[DEVICE] = generated.device_source
        record.update(device_source=generated.device_source, device=_device_fields(generated.device))
    record.update(key=cache_key, digests={s: _digest(t) for s, t in texts.items()},
                  origins={str(k): list(v) for k, v in generated.origins.items()},
                  namespace={n: paths.get(id(obj)) for n, obj in sorted(generated.namespace.items())},
                  array_args=sorted(generated.array_args),
                  signature=[[n, t.kind, t.ndim] for n, t in (generated.signature or {}).items()],
                  facts=facts or {})
    path = os.path.join(entry.folder, cache_key)
    try:
        for suffix, text in texts.items():
            _write(path + suffix, text)
        if unlocated:                            # this process imports the modules; no record
            why = f"adjoint cannot tell how a later process finds {', '.join(unlocated)}"
            if entry.explicit:
                _warn_once(f"grad({entry.fn.__qualname__}, cache=True): not cached, since {why}")
            return why
        _write(path + ".json", json.dumps(record, indent=1))
        return None
    except OSError as error:
        if entry.explicit:
            _warn_once(f"cannot write to the cache folder {entry.folder!r} ({error}); "
                       f"this process writes its gradients to a temporary folder")
        entry.folder = tempfile.mkdtemp(prefix="adjoint-cache-")
        atexit.register(shutil.rmtree, entry.folder, True)
        for suffix, text in texts.items():
            _write(os.path.join(entry.folder, cache_key) + suffix, text)
        return f"the cache folder cannot be written ({error})"


def module_path(cache_key: str, primal=False, device=False) -> str:
    folder = _ENTRIES[cache_key].folder if cache_key in _ENTRIES else directory()
    return os.path.join(folder, cache_key + (DEVICE if device else "_primal.py" if primal else ".py"))


def driver_path(cache_key: str, source: str) -> str:
    """The file of a batch driver (drivers.py's emitted source) for the gradient entry
    `cache_key`, written beside it (again, where its digest does not match): numba caches the
    driver's machine code by this file."""
    folder = _ENTRIES[cache_key].folder if cache_key in _ENTRIES else directory()
    path = os.path.join(folder, f"{cache_key}_b{_digest(source)[:16]}.py")
    if _file_digest(path) != _digest(source):
        try:
            _write(path, source)
        except OSError:                          # the folder went away: this process only
            path = os.path.join(_materialized(), os.path.basename(path))
            _write(path, source)
    return path


def _materialized():
    folder = tempfile.mkdtemp(prefix="adjoint-cache-")
    atexit.register(shutil.rmtree, folder, True)
    return folder


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
    return vars(module)


GENERATED = "adjoint_cache_"                     # the modules import_module makes


def read_quickly(dispatcher):
    """`dispatcher` (numba.njit(cache=True) of a function in a module of the cache folder),
    reading its machine code from numba's cache as fast as it can be: numba's own reading
    first refreshes its whole cpu target (it imports and registers every implementation it
    has, about half a second in a fresh process), though linking machine code that was
    compiled already needs only numba's runtime; this reads the cache after starting the
    runtime only. A miss compiles as before, and numba's compiler refreshes the target in
    full. A cache file numba cannot read (numba unpickles it unguarded) is deleted and the
    function compiled again, instead of failing in every later process."""
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "_load_overload", None)
    if load is None or not hasattr(cache, "_cache_file"):
        return dispatcher                        # another numba: its own reading

    def load_overload(sig, target_context):
        from numba.core.runtime import rtsys
        rtsys.initialize(target_context)
        index = getattr(cache._cache_file, "_index_path", None)
        if _mentions(index, b"_numba_hashsecret_"):
            import numba.cpython.hashing  # noqa: F401  (registers the symbols hashing code links to)
        try:
            return load(sig, target_context)
        except Exception:                        # noqa: BLE001  (garbage raises anything)
            _discard_numba_files(index)
            return None
    cache.load_overload = load_overload
    return dispatcher


def _mentions(index, symbol: bytes) -> bool:
    """Whether numba's cached machine code for the function of this index file names
    `symbol`: of the symbols numba registers when its target is refreshed, only hashing's
    are not there already when its runtime has started."""
    if not index or not index.endswith(".nbi"):
        return False
    for path in glob.glob(glob.escape(index[:-4]) + ".*.nbc"):
        with contextlib.suppress(OSError), open(path, "rb") as handle:
            if symbol in handle.read():
                return True
    return False


def hits(dispatcher) -> int:
    """How many of the dispatcher's compiled signatures were read from numba's cache."""
    stats = getattr(dispatcher, "stats", None)
    return sum(getattr(stats, "cache_hits", {}).values()) if stats is not None else 0


def _plain(name: str) -> str:
    """The function's name as it may appear in a file name: ASCII letters, digits, `_`."""
    return re.sub(r"[^A-Za-z0-9_]", "", name)[:40] or "f"


# --- the folder and its files ---------------------------------------------------------------

def _user_id():
    return os.getuid()


def _private_folder(explicit=True) -> tuple:
    """(the cache folder, created 0700, None), or (None, the problem) where it cannot be
    created (a warning where the user asked for cache=True) or where another user owns it or
    others may write to it (always a warning: they could plant code that this process
    imports)."""
    folder = os.path.abspath(directory())
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError as error:
        problem = f"the cache folder {folder!r} cannot be created ({error.strerror})"
        if explicit:
            _warn_once(f"{problem}; gradients are compiled without the cache")
        return None, problem
    if os.name != "posix":
        return folder, None
    problem = None
    if info.st_uid != _user_id():
        problem = "is owned by another user"
    elif info.st_mode & 0o022:
        problem = f"is writable by others (mode {info.st_mode & 0o777:o})"
    if problem:
        _warn_once(f"the cache folder {folder!r} {problem}; gradients are compiled without "
                   f"the cache (use a folder of your own: chmod 700, or set ADJOINT_CACHE_DIR)")
        return None, f"the cache folder {folder!r} {problem}"
    return folder, None


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


def _discard_numba_files(index):
    """Delete one function's numba index file and its data files."""
    if not index or not index.endswith(".nbi"):
        return
    for path in [index, *glob.glob(glob.escape(index[:-4]) + ".*.nbc")]:
        with contextlib.suppress(OSError):
            os.unlink(path)


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


def _file_digest(path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


# what `adjoint cache info` and `adjoint cache clear` show and remove ---------------------------

_KEY = re.compile(r"[A-Za-z0-9_]*_[0-9a-f]{24}")
_ENTRY_FILE = re.compile(r"(%s)(\.json|\.py|_primal\.py|_device\.py|_b[0-9a-f]{16}\.py)" % _KEY.pattern)


def _entry_files(folder):
    """The cache's own files in `folder`: entries (record and modules, batch drivers) and
    numba's machine code for them (in __pycache__); nothing else a user may have put there."""
    names = set()
    for name in os.listdir(folder):
        if name.endswith(".json") and _KEY.fullmatch(name[:-len(".json")]):
            names.add(name[:-len(".json")])
    files = []
    modules = set()
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        match = _ENTRY_FILE.fullmatch(name)
        if match and match.group(1) in names and os.path.isfile(path):
            files.append(path)
            modules.add(name.rsplit(".", 1)[0])
    numba_folder = os.path.join(folder, "__pycache__")
    if os.path.isdir(numba_folder):
        for name in sorted(os.listdir(numba_folder)):
            if name.endswith((".nbi", ".nbc")) and name.split(".")[0] in modules:
                files.append(os.path.join(numba_folder, name))
    return sorted(names), files


def info() -> dict:
    """The cache folder, its entries (one per gradient, each variant its own) and the bytes
    they take; `default`: whether gradients are cached when no cache argument is given."""
    folder = os.path.abspath(directory())
    default = ("on for the cpu target (ADJOINT_CACHE=0 turns it off)" if wanted(None, "cpu")
               else "off (ADJOINT_CACHE is set to turn it off; cache=True still caches)")
    if not os.path.isdir(folder):
        return {"folder": folder, "default": default, "entries": [], "files": 0, "bytes": 0}
    names, files = _entry_files(folder)
    return {"folder": folder, "default": default, "entries": names, "files": len(files),
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
