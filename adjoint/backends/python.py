"""The python target: exec the emitted module, registered in linecache for tracebacks and pdb."""

from __future__ import annotations

import linecache


def load(source: str, filename: str, namespace: dict) -> dict:
    """Execute `source` as a module; returns its namespace."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = {"__name__": "adjoint_generated", "__file__": filename, **namespace}
    exec(compile(source, filename, "exec"), module)
    return module


def compile_module(module: dict, name: str, options=None):
    """The function `name` of a loaded module, run by the Python interpreter."""
    return module[name]
