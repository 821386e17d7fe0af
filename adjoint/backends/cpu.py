"""The cpu target: the emitted module's functions compiled with numba.njit."""

from __future__ import annotations

import dis
import types
from collections import Counter

import numba

from ..primitives import runtime
from . import numpy_for_numba

# The runtime helpers (primitives/runtime.py) are called only by the module's compiled code:
# numba need not compile the wrappers that call a function from Python or take its address
# (a cfunc, for first-class function values), a few tens of milliseconds each.
HELPER_OPTIONS = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


def _calls(module: dict) -> Counter:
    """How many times the module's functions name each global (a helper's call sites)."""
    count = Counter()
    for value in module.values():
        if isinstance(value, types.FunctionType):
            count.update(i.argval for i in dis.get_instructions(value) if i.opname == "LOAD_GLOBAL")
    return count


def compile_module(module: dict, name: str, options=None):
    """Jit every function of a loaded module (generated code and the user functions it calls,
    since njit code can only call compiled functions); returns the dispatcher of `name`.

    A runtime helper called at one place only is inlined there by numba (`inline="always"`,
    before typing): compiled on its own it costs a compilation of its own, with the numpy
    functions it calls compiled again for its flags (numba keys them by the caller's flags),
    about 0.05-0.15 s each in a fresh process. One called at several places stays a function
    (inlined, its code would be lowered and optimized once per call), and so does one leaving
    for object mode (`_numpy_<f>`), which numba cannot inline. The matrix products
    (`_matvec`) are inlined everywhere: one line each, there so that every product of the
    function compiles numba's np.dot once, in the caller."""
    if numpy_for_numba.AVAILABLE and not (options or {}).get("parallel"):
        module["np"] = numpy_for_numba          # constructors, sums and views lowered in place
    jit = numba.njit(**(options or {}))
    helper = numba.njit(**(options or {}), **HELPER_OPTIONS)
    inline = numba.njit(**(options or {}), inline="always")
    calls = _calls(module)
    for key, value in list(module.items()):
        if isinstance(value, types.FunctionType):
            if key == name or not runtime.is_helper(value):
                module[key] = jit(value)
            elif (calls[key] == 1 or key in runtime.MATRIX_PRODUCTS) and "numba" not in value.__code__.co_names:
                module[key] = inline(value)
            else:
                module[key] = helper(value)
    return module[name]
