"""Deterministic, collision-free names for generated variables.

    temporaries       t_1, t_2, ...        (numbered in order of creation)
    sensitivities     t_ab -> s_ab,  x -> s_x,  t_1 -> s_1     (the seed's convention)
    saved values      x -> x_1 ...         (a copy the reverse sweep restores)

The same function always yields the same names: no randomness, no global counters. The names of
the emitted module's own globals (user objects, reserved names) live in frontend/namespace.py.
"""

from __future__ import annotations


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

    def variables_of_sensitivities(self) -> dict[str, str]:
        """sensitivity -> its variable (s_x -> x, s_3 -> t_3), for those named so far."""
        return {name: var for var, name in self._sensitivity.items() if isinstance(var, str)}

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
