"""The on-disk cache behind `grad(f, cache=True)`: the generated module and numba's machine code.

    first process:   transform f, write <key>.py + <key>.json, numba compiles and caches
    later processes: read <key>.json, import <key>.py, numba loads its cached machine code

The key hashes everything the generated code depends on: adjoint's version, the function's
module file (or its source), the arguments of `grad`. Helpers defined in other files are
recorded with a hash of their source and checked on load.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import json
import os
import sys

from .pipeline import Generated

FIELDS = ("name", "source", "primal_name", "primal_source", "filename", "wrt")


def directory() -> str:
    return os.environ.get("ADJOINT_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "adjoint")


def key(fn, **settings) -> str:
    from . import __version__
    digest = hashlib.sha256()
    digest.update(__version__.encode())
    digest.update(_compiler_digest().encode())      # a changed compiler regenerates
    digest.update(f"{fn.__module__}.{fn.__qualname__}".encode())
    digest.update(_module_text(fn).encode())
    digest.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    return f"{fn.__name__}_{digest.hexdigest()[:20]}"


@functools.lru_cache(maxsize=1)
def _compiler_digest() -> str:
    digest = hashlib.sha256()
    package = os.path.dirname(os.path.abspath(__file__))
    for folder, _, files in sorted(os.walk(package)):
        for name in sorted(f for f in files if f.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def _module_text(fn) -> str:
    try:
        with open(inspect.getsourcefile(fn), encoding="utf-8") as handle:
            return handle.read()
    except (OSError, TypeError):
        return inspect.getsource(fn)


def load(cache_key: str, fn):
    """The cached Generated record for `cache_key`, or None when absent or stale."""
    meta = os.path.join(directory(), cache_key + ".json")
    try:
        with open(meta, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    namespace = {}
    for name in record["namespace"]:
        if name not in fn.__globals__:
            return None
        namespace[name] = fn.__globals__[name]
    for path, digest in record["dependencies"].items():
        if _file_digest(path) != digest:
            return None
    return _generated(record, namespace)


def _generated(record, namespace):
    from .shapes import Type
    values = {f: record[f] for f in FIELDS}
    values["wrt"] = tuple(values["wrt"])
    signature = {name: Type(kind, ndim) for name, kind, ndim in record["signature"]}
    return Generated(**values, origins=_origins(record), namespace=namespace,
                     array_args=set(record["array_args"]), stages={}, signature=signature)


def _origins(record):
    return {int(line): tuple(origin) for line, origin in record["origins"].items()}


def store(cache_key: str, generated: Generated) -> None:
    os.makedirs(directory(), exist_ok=True)
    files = {o[0] for o in generated.origins.values()} | {generated.filename}
    record = {f: getattr(generated, f) for f in FIELDS}
    record.update(origins={str(k): list(v) for k, v in generated.origins.items()},
                  namespace=sorted(generated.namespace), array_args=sorted(generated.array_args),
                  signature=[[n, t.kind, t.ndim] for n, t in (generated.signature or {}).items()],
                  dependencies={p: _file_digest(p) for p in sorted(files) if os.path.exists(p)})
    for suffix, text in ((".py", generated.source), ("_primal.py", generated.primal_source)):
        _write(os.path.join(directory(), cache_key + suffix), text)
    _write(os.path.join(directory(), cache_key + ".json"), json.dumps(record, indent=1))


def module_path(cache_key: str, primal=False) -> str:
    return os.path.join(directory(), cache_key + ("_primal.py" if primal else ".py"))


def import_module(path: str, namespace: dict) -> dict:
    """Import a cached module under a stable name (numba's cache needs it importable)."""
    name = "adjoint_cache_" + os.path.basename(path)[:-3]
    if name in sys.modules:
        return vars(sys.modules[name])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    vars(module).update(namespace)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return vars(module)


def _write(path, text):
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)                 # atomic: concurrent processes see old or new


def _file_digest(path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None
