"""The emitted module's global names: those it needs for itself (its imports, builtins that
rules and loops call, runtime helpers: `is_reserved`), those the pipeline gives the code it makes
(`generated_functions`), and the names of the user objects it refers to (`GlobalNames`)."""

from __future__ import annotations

import keyword
import re

from ..primitives import runtime

# Names the emitted code needs for itself: a user variable by one of these names would hide
# the module's import, a builtin that rules and loops call, or a runtime helper.
RESERVED = frozenset({"math", "np", "numpy", "numba", "cuda",
                      "range", "len", "abs", "min", "max", "float", "int", "bool"})


def is_reserved(name: str) -> bool:
    if name in RESERVED:
        return True
    if not name.startswith("_"):
        return False
    if name.startswith("_numpy_"):
        return name[len("_numpy_"):] in runtime.NUMPY_LOOPS
    try:                                  # _sum_to_2_1, _record_1, _max_axis_2
        return f"def {name}(" in runtime.source(name)
    except Exception:                     # noqa: BLE001 (any failure: not a helper's name)
        return False


def generated_functions(function: str) -> set:
    """The module-level names the pipeline gives the code it makes for `function`."""
    return {function, f"grad_{function}", f"jvp_{function}", f"vjp_{function}",
            f"tape_sizes_{function}", f"grad_{function}_device", f"jvp_{function}_device",
            f"batch_grad_{function}", f"batch_jvp_{function}", "batch_kernel"}


def identifier(text: str) -> str:
    """`text` as a Python identifier (a function's __name__ can be any string)."""
    if text.isidentifier() and not keyword.iskeyword(text):
        return text
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", text).strip("_") or "f"
    if cleaned[0].isdigit() or keyword.iskeyword(cleaned):
        cleaned = "f_" + cleaned
    return cleaned


class GlobalNames:
    """The emitted module's names for the user objects it refers to (callees without a
    math/numpy spelling, arrays, helpers), chosen by identity: one object keeps one name,
    and two objects never share one, whatever their __name__ (two functions one factory
    made are `scaled` and `scaled_2`). Names come in the order objects are met, so the same
    function always gets the same names."""

    def __init__(self, function: str):
        self.taken = generated_functions(function)
        self.namespace: dict = {}          # emitted name -> object
        self._by_identity: dict = {}       # id(object) -> name; namespace keeps the object alive

    def name(self, obj, base: str, avoid=frozenset()) -> str:
        known = self._by_identity.get(id(obj))
        if known is not None:
            return known
        base = identifier(base)
        candidate, k = base, 1
        while candidate in self.taken or candidate in avoid or is_reserved(candidate):
            k += 1
            candidate = f"{base}_{k}"
        self.taken.add(candidate)
        self.namespace[candidate] = obj
        self._by_identity[id(obj)] = candidate
        return candidate
