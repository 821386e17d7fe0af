"""Deterministic, collision-free names for generated variables.

    temporaries       t_1, t_2, ...        (numbered in order of creation)
    sensitivities     t_ab -> s_ab,  x -> s_x,  t_1 -> s_1     (the seed's convention)
    saved values      x -> x_1 ...         (a copy the reverse sweep restores)
    user objects      scaled, scaled_2     (GlobalNames: by identity, never by __name__ alone)

The same function always yields the same names: no randomness, no global counters.
"""

from __future__ import annotations

import keyword
import re


class Namer:
    def __init__(self, taken):
        self.taken = set(taken)
        self._sensitivity: dict = {}
        self._counter = 0
        self.temporaries: set[str] = set()
        self._next_suffix: dict = {}         # base -> the suffix its last fresh name stopped at

    def fresh(self, base: str) -> str:
        """`base` itself when free, else base_1, base_2, ... The search resumes where the
        last one for `base` stopped (names are never released, so those below are still
        taken): asking for t_old 1,000 times is linear, not quadratic."""
        k = self._next_suffix.get(base, 0)
        candidate = f"{base}_{k}" if k else base
        while candidate in self.taken:
            k += 1
            candidate = f"{base}_{k}"
        self._next_suffix[base] = k
        self.taken.add(candidate)
        return candidate

    def temp(self) -> str:
        while True:
            self._counter += 1
            candidate = f"t_{self._counter}"
            if candidate not in self.taken:
                self.taken.add(candidate)
                self.temporaries.add(candidate)
                return candidate

    def sensitivity(self, var: str) -> str:
        found = self._sensitivity.get(var)
        if found is None:
            stem = var[2:] if var.startswith("t_") and len(var) > 2 else var
            found = self._sensitivity[var] = self.fresh("s_" + stem)
        return found

    def named_sensitivities(self, variables) -> set[str]:
        """The sensitivities already named for these variables (makes no new name)."""
        return {self._sensitivity[v] for v in variables if v in self._sensitivity}

    @property
    def sensitivities(self) -> set[str]:
        return {name for key, name in self._sensitivity.items() if isinstance(key, str)}

    def sensitivity_of_temporary(self, name: str) -> bool:
        """True for s_* of a compiler temporary (t_1 -> s_1)."""
        return any(self._sensitivity.get(t) == name for t in self.temporaries)

    def tangent(self, var: str) -> str:
        """Forward-mode partner of `var` (d_x for x)."""
        key = ("d", var)
        if key not in self._sensitivity:
            stem = var[2:] if var.startswith("t_") and len(var) > 2 else var
            self._sensitivity[key] = self.fresh("d_" + stem)
        return self._sensitivity[key]


# Names the emitted code needs for itself: a user variable by one of these names would hide
# the module's import, a builtin that rules and loops call, or a runtime helper.
RESERVED = frozenset({"math", "np", "numpy", "numba", "cuda",
                      "range", "len", "abs", "min", "max", "float", "int", "bool"})


def is_reserved(name: str) -> bool:
    from . import runtime
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
