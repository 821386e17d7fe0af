"""The python target: exec the emitted module, registered in linecache for tracebacks and pdb."""

from __future__ import annotations

import linecache


def load(source: str, filename: str, namespace: dict) -> dict:
    """Execute `source` as a module; returns its namespace."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = {"__name__": "adjoint_generated", "__file__": filename, **namespace}
    exec(compile(source, filename, "exec"), module)
    return module


def compile_function(source: str, filename: str, name: str, namespace: dict, options=None):
    return load(source, filename, namespace)[name]
