"""The cpu target: the emitted module's functions compiled with numba.njit."""

from __future__ import annotations

import types

import numba

from . import python

DEFAULT_OPTIONS = {"cache": False}


def compile_function(source: str, filename: str, name: str, namespace: dict, options=None):
    module = python.load(source, filename, namespace)
    jit = numba.njit(**{**DEFAULT_OPTIONS, **(options or {})})
    for key, value in list(module.items()):
        # generated functions and user functions with registered rules: all must be jitted,
        # since njit code can only call other compiled functions
        if isinstance(value, types.FunctionType):
            module[key] = jit(value)
    return module[name]
