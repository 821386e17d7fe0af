"""The cpu target: the emitted module's functions compiled with numba.njit."""

from __future__ import annotations

import types

import numba


def compile_module(module: dict, name: str, options=None):
    """Jit every function of a loaded module (generated code and the user functions it calls,
    since njit code can only call compiled functions); returns the dispatcher of `name`."""
    jit = numba.njit(**(options or {}))
    for key, value in list(module.items()):
        if isinstance(value, types.FunctionType):
            module[key] = jit(value)
    return module[name]
