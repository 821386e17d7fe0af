"""One record per primitive, and the questions the compiler asks about primitives, answered
from the records.

A `Primitive` holds everything the compiler knows about one primitive: the spellings code
uses for it (`"math.tanh", "np.tanh"`: the same function in two modules), its derivative,
the name of its result type rule, and its flags. The rules package declares every built-in record;
`define` files a record here. The tables the stages read are derived from the records, one
lookup per question:

    spelling_for_arrays("math.tanh") -> "np.tanh"    a scalar partial made elementwise
    spelling_for_device("np.tanh")   -> "math.tanh"  device code has math, not numpy
    spelled(flag)                    -> spellings    e.g. every spelling of an allocating call
    numpy_loops()                    -> names        np.<name> run by numpy's own loop (runtime)
    result_of(callee)                -> rule name    the result type rule (analysis/shapes.py)
    with_result(*rules)              -> functions    e.g. the creators np.zeros(shape), ...
    variadic()                       -> functions    min, max, math.hypot, math.log
    record_of(callee)                -> Primitive

Twins: the math (or builtin) and numpy spellings of one record are each other's twins, the
one with the same name first, else the record's first of the other kind (`abs` and
`np.abs`, `math.asin` and `np.arcsin`). Where a name means the same function in both
modules and no record says otherwise, math.<f> and np.<f> are twins too (getattr), so a
partial may call any scalar function both modules have.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
import operator
import sys
import types

import numpy as np

_MODULES = {"math": math, "np": np, "operator": operator, "np.linalg": np.linalg}


@dataclasses.dataclass(frozen=True)
class Primitive:
    """Everything the compiler knows about one primitive."""
    spellings: tuple            # how code names it: "math.tanh", "np.tanh", "abs" (the same function)
    partials: object = None     # registry.Rule: one scalar partial per argument (vjp and jvp
                                # both; elementwise of arrays)
    vjps: tuple = ()            # registry.ArrayRule variants, the first that matches the ranks wins
    jvps: tuple = ()            # registry.TangentRule variants, by arity
    parts: object = None        # registry.PartsRule: per part of a sequence argument (np.stack)
    constant: bool = False      # piecewise constant in its arguments (integer-valued, a test, a
                                # new array of zeros): partials zero, no sensitivity flows
    result: str = "elementwise"   # its result type rule, by name (analysis/shapes.py RESULT_RULES)
    allocates: bool = False     # makes an array from sizes or parts (np.zeros, np.stack): device
                                # code cannot; arrays computed from arrays are rejected as such
    costly: bool = False        # costly to replay: a reverse loop stores its array result
    value: bool = False         # returns a new array, never a view of its argument
    numpy_loop: bool = False    # numpy's vectorized loop beats numba's call per element
                                # (runtime._numpy_<f>); also costly to replay
    device: bool = False        # runs on the device, spelled as its math twin there
    variadic: tuple = ()        # spellings called with more arguments than the derivative takes
                                # (min(a, b, c), math.log(x, base)): normalize rewrites them

    @property
    def functions(self) -> tuple:
        """The Python objects the spellings name (math.tanh, np.tanh)."""
        return tuple(resolve(s) for s in self.spellings)

    @property
    def differentiable(self) -> bool:
        return self.partials is not None or bool(self.vjps) or self.parts is not None

    def twin(self, spelling, numpy_side) -> str | None:
        """The spelling of `spelling`'s twin in this record: a numpy one (numpy_side) or a
        math or builtin one; the one with the same name first."""
        kind = [s for s in self.spellings if _is_numpy(s) == numpy_side and not s.startswith("operator.")]
        name = spelling.rsplit(".", 1)[-1]
        return next((s for s in kind if s.rsplit(".", 1)[-1] == name), kind[0] if kind else None)


RECORDS: list = []                # every record, in the order the rules package declares them
_BY_SPELLING: dict = {}
_BY_FUNCTION: dict = {}
_BY_METHOD: dict = {}             # (function, class) -> record, for methods (scipy's norm.cdf)


def define(record: Primitive) -> Primitive:
    """File `record`: each spelling and function names one record only."""
    if not set(record.variadic) <= set(record.spellings):
        raise ValueError(f"variadic {record.variadic} are not spellings of {record.spellings}")
    for spelling, function in zip(record.spellings, record.functions):
        if spelling in _BY_SPELLING or function in _BY_FUNCTION:
            raise ValueError(f"{spelling} has two primitive records")
        _BY_SPELLING[spelling] = record
        _BY_FUNCTION[function] = record
        if isinstance(function, types.MethodType):
            _BY_METHOD[(function.__func__, type(function.__self__))] = record
    RECORDS.append(record)
    _derived.clear()
    return record


def record_of(callee) -> Primitive | None:
    try:
        record = _BY_FUNCTION.get(callee)
    except TypeError:                     # an unhashable callee is no primitive
        return None
    if record is None and _PENDING and _load_pending():
        record = _BY_FUNCTION.get(callee)
    if record is None and isinstance(callee, types.MethodType):
        # a method of a copy of the object (a deep copy of a call's annotations copies norm
        # in norm.cdf): the same function of the same class
        record = _BY_METHOD.get((callee.__func__, type(callee.__self__)))
    return record


# Records of functions in modules adjoint does not import itself (scipy: half a second), filed
# once the user's code has imported the module: `when_imported("scipy.special", load)`, and
# the first lookup of a function without a record after that runs `load`, which declares them.
_PENDING: list = []               # (module name, loader), in registration order


def when_imported(module: str, load) -> None:
    _PENDING.append((module, load))
    if module in sys.modules:
        _load_pending()


def _load_pending() -> bool:
    """Run the loaders whose module is imported now; whether any ran."""
    ready = [(module, load) for module, load in _PENDING if module in sys.modules]
    for entry in ready:
        _PENDING.remove(entry)
        entry[1]()
    return bool(ready)


def result_of(callee) -> str | None:
    """The name of `callee`'s result type rule; None for a callee with no record."""
    record = record_of(callee)
    return None if record is None else record.result


def spelling_for_arrays(name: str) -> str | None:
    """The numpy spelling of a scalar function's call (`math.tanh` -> `np.tanh`), so that a
    partial written for numbers applies elementwise to arrays; None if numpy has none."""
    return _table("arrays").get(name)


def spelling_for_device(name: str) -> str | None:
    """The math (or builtin) spelling device code uses for a numpy call (`np.tanh` ->
    `math.tanh`), for the primitives that run on the device; else None."""
    return _table("device").get(name)


def device_spellings() -> dict:
    """numpy spelling -> device spelling, for every primitive that runs on the device."""
    return dict(_table("device"))


def spelled(flag: str) -> frozenset:
    """Every numpy spelling of a primitive whose `flag` is set ("allocates", "value",
    "costly": costly ones include the numpy loops)."""
    key = "spelled " + flag
    if key not in _derived:
        _derived[key] = frozenset(s for r in RECORDS for s in r.spellings if _is_numpy(s)
                                  and (getattr(r, flag) or (flag == "costly" and r.numpy_loop)))
    return _derived[key]


def spelled_as(callee, spelling: str) -> bool:
    """Whether `callee` is the primitive `spelling` names (scipy's, whose module may not be
    imported: then nothing is)."""
    record = record_of(callee)
    return record is not None and spelling in record.spellings


def with_result(*result_rules: str) -> frozenset:
    """The functions of every record whose result type rule is one of `result_rules`."""
    key = "result " + " ".join(result_rules)
    if key not in _derived:
        _derived[key] = frozenset(f for r in RECORDS if r.result in result_rules for f in r.functions)
    return _derived[key]


def variadic() -> frozenset:
    """The functions called with more arguments than their derivative takes (record.variadic)."""
    if "variadic" not in _derived:
        _derived["variadic"] = frozenset(resolve(s) for r in RECORDS for s in r.variadic)
    return _derived["variadic"]


def numpy_loops() -> tuple:
    """The names f of the np.f that runtime runs by numpy's own loop, in declaration order."""
    if "loops" not in _derived:
        _derived["loops"] = tuple(s[len("np."):] for r in RECORDS if r.numpy_loop
                                  for s in r.spellings if s.startswith("np."))
    return _derived["loops"]


# derived tables, rebuilt after a record is defined ------------------------------------------

_derived: dict = {}

# math and numpy functions with one name and different meanings: never twins by name
_FALSE_FRIENDS = frozenset({"remainder"})     # IEEE remainder vs numpy's Python-style modulo


def _table(which):
    if which not in _derived:
        _derived["arrays"], _derived["device"] = _spelling_tables()
    return _derived[which]


def _spelling_tables():
    for_arrays = {f"math.{name}": f"np.{name}" for name in dir(math)
                  if not name.startswith("_") and name not in _FALSE_FRIENDS
                  and callable(getattr(math, name)) and isinstance(getattr(np, name, None), np.ufunc)}
    for_device = {}
    for record in RECORDS:
        for spelling in record.spellings:
            if spelling.startswith("operator."):
                continue
            if not _is_numpy(spelling):
                twin = record.twin(spelling, numpy_side=True)
                if twin is not None and isinstance(resolve(twin), np.ufunc):   # elementwise
                    for_arrays[spelling] = twin
            elif record.device:
                twin = record.twin(spelling, numpy_side=False)
                name = spelling.rsplit(".", 1)[-1]
                if twin is None and callable(getattr(math, name, None)):
                    twin = f"math.{name}"              # a twin in a record of its own
                if twin is None:
                    raise ValueError(f"{spelling} runs on the device but has no math twin")
                for_device[spelling] = twin
    return for_arrays, for_device


def _is_numpy(spelling) -> bool:
    return spelling.startswith("np.")


def resolve(spelling):
    """The object a spelling names: `np.linalg.norm`, `math.tanh`, `abs`, and, once a loader
    (when_imported) files their records, `scipy.special.erf`, `scipy.stats.norm.cdf`."""
    module, _, name = spelling.rpartition(".")
    return getattr(_owner(module) if module else builtins, name)


def _owner(path):
    if path in _MODULES:
        return _MODULES[path]
    if path in sys.modules:
        return sys.modules[path]
    head, _, attribute = path.rpartition(".")        # scipy.stats.norm: an object of scipy.stats
    return getattr(_owner(head), attribute)
