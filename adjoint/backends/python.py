"""The python target: exec the emitted module, registered in linecache for tracebacks and pdb."""

from __future__ import annotations

import hashlib
import linecache
import sys
import types


def load(source: str, filename: str, namespace: dict) -> dict:
    """Execute `source` as a module; returns its namespace. The module is registered under a
    name of its own, where numba's object-mode blocks (runtime._numpy_*) look up its globals."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    name = "adjoint_generated_" + hashlib.sha256(f"{filename}\0{source}".encode()).hexdigest()[:16]
    module = types.ModuleType(name)
    module.__dict__.update({"__file__": filename, **namespace})
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)
    return module.__dict__


def compile_module(module: dict, name: str, options=None):
    """The function `name` of a loaded module, run by the Python interpreter."""
    return module[name]
