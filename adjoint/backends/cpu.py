"""The cpu target: the emitted module's functions compiled with numba.njit."""

from __future__ import annotations

import types

import numba

from ..primitives import runtime

# The runtime helpers (primitives/runtime.py) are called only by the module's compiled code:
# numba need not compile the wrappers that call a function from Python or take its address
# (a cfunc, for first-class function values), a few tens of milliseconds each.
HELPER_OPTIONS = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


def compile_module(module: dict, name: str, options=None):
    """Jit every function of a loaded module (generated code and the user functions it calls,
    since njit code can only call compiled functions); returns the dispatcher of `name`."""
    jit = numba.njit(**(options or {}))
    helper = numba.njit(**(options or {}), **HELPER_OPTIONS)
    for key, value in list(module.items()):
        if isinstance(value, types.FunctionType):
            module[key] = helper(value) if key != name and runtime.is_helper(value) else jit(value)
    return module[name]
