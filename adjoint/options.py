"""What `pipeline.differentiate` generates, in one frozen record: the defaults live here once.

    differentiate(f, Options(wrt=(0, 1), mode="forward"))
    differentiate(f, wrt=(0, 1), mode="forward")           # the same, field by field

The gradient objects (api/gradient.py) keep one Options and derive each variant from it with
`dataclasses.replace` (a call's argument types, a serial copy); the disk cache keys on its
fields (api/cache.py). Every field is checked when the record is made: a wrong name or type
is an AdjointArgumentError naming the option and what it expects.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from .analysis import shapes
from .errors import AdjointArgumentError

MODES = ("reverse", "forward")
PRECISIONS = ("float64", "float32")


@dataclasses.dataclass(frozen=True)
class Options:
    wrt: object = 0                 # argument index or name, or a tuple of them
    comments: bool = True           # comments tying each generated line to the user's
    optimized: bool = True          # run the optimize stage (`adjoint show --no-optimize` skips it)
    return_value: bool = False      # reverse mode returns (value, gradient)
    device: bool = False            # also lower the allocation-free device variant (cuda, batches)
    # argument name -> shapes.Type the code is generated for (the call's arguments); None:
    # the types the source suggests (shapes.default_signature). Kept as (name, type) pairs,
    # in the caller's order, so that the record is immutable and hashable.
    signature: tuple | None = None
    mode: str = "reverse"           # "reverse": grad_<f>; "forward": jvp_<f> (value, tangent)
    cotangent: bool = False         # reverse mode: vjp_<f> takes the output's sensitivity last
    recompute: bool = False         # reverse loops replay every intermediate: no stored arrays
    parallel: bool = False          # race-free carried reverse loops run in chunks (numba.prange)
    precision: str = "float64"      # "float32": the call's float arrays are; so are the adjoint's numbers
    checkpoints: int | str | None = None  # outermost loops keep at most this many snapshots (revolve);
    #                                 "auto": as many as memory_limit holds, the state measured at run time
    memory_limit: int | None = None  # bytes for checkpoints="auto" (given as "1GB", "512 MiB" or a number)
    converts_arguments: bool = False  # the function takes lists too: arrays on entry (adjoint export)

    def __post_init__(self):
        _check_wrt(self.wrt)
        if isinstance(self.wrt, list):                   # a tuple, so that the record hashes
            object.__setattr__(self, "wrt", tuple(self.wrt))
        for field in ("comments", "optimized", "return_value", "device", "cotangent",
                      "recompute", "parallel", "converts_arguments"):
            value = getattr(self, field)
            if not isinstance(value, (bool, np.bool_)):
                raise AdjointArgumentError(f"option {field}={value!r}: expected True or False")
            object.__setattr__(self, field, bool(value))
        if self.mode not in MODES:
            raise AdjointArgumentError(f"option mode={self.mode!r}: unknown mode, expected "
                                       f"{' or '.join(map(repr, MODES))}",
                                       hint="use mode='reverse' or mode='forward'")
        if self.signature is not None:
            object.__setattr__(self, "signature", _checked_signature(self.signature))
        if self.memory_limit is not None:
            object.__setattr__(self, "memory_limit", _bytes(self.memory_limit))
            if self.checkpoints is None:                  # a budget in bytes says how many
                object.__setattr__(self, "checkpoints", "auto")
            elif self.checkpoints != "auto":
                raise AdjointArgumentError(f"options checkpoints={self.checkpoints!r} and memory_limit: "
                                           "give one budget", hint="checkpoints='auto' with memory_limit=..., "
                                                                   "or checkpoints=K alone")
        if self.checkpoints == "auto":
            if self.memory_limit is None:
                raise AdjointArgumentError("option checkpoints='auto' needs memory_limit",
                                           hint="say how much the snapshots may take: memory_limit='1GB'")
        elif self.checkpoints is not None and (isinstance(self.checkpoints, (bool, np.bool_))
                                               or not isinstance(self.checkpoints, (int, np.integer))
                                               or self.checkpoints < 1):
            raise AdjointArgumentError(f"option checkpoints={self.checkpoints!r}: expected a whole "
                                       f"number of snapshots, at least 1, 'auto' or None")
        elif self.checkpoints is not None:
            object.__setattr__(self, "checkpoints", int(self.checkpoints))
        if self.precision not in PRECISIONS:
            raise AdjointArgumentError(f"option precision={self.precision!r}: expected "
                                       f"{' or '.join(map(repr, PRECISIONS))}")

    @classmethod
    def of(cls, options: Options | None = None, **fields) -> Options:
        """`options` (or the defaults) with `fields` replaced; an unknown field name is an
        AdjointArgumentError listing the options."""
        if options is not None and not isinstance(options, cls):
            raise AdjointArgumentError(f"options={options!r}: expected an adjoint Options record",
                                       hint="pass the argument(s) to differentiate against as "
                                            "wrt=..., and other options by name")
        names = [f.name for f in dataclasses.fields(cls)]
        for name in fields:
            if name not in names:
                raise AdjointArgumentError(f"unknown option {name!r}: the options are {', '.join(names)}")
        return dataclasses.replace(options or cls(), **fields)

    def signature_dict(self) -> dict | None:
        """The signature as a dict (argument name -> shapes.Type), or None."""
        return None if self.signature is None else dict(self.signature)


def _check_wrt(wrt):
    """The form of `wrt`; whether its names and indices exist is checked against the function
    (pipeline.wrt_names)."""
    items = wrt if isinstance(wrt, (tuple, list)) else (wrt,)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise AdjointArgumentError(f"wrt={item!r}: expected an argument index or name "
                                       f"(or a tuple of them)")


def _checked_signature(signature) -> tuple:
    pairs = signature.items() if isinstance(signature, dict) else signature
    try:
        pairs = tuple((name, kind) for name, kind in pairs)
    except (TypeError, ValueError):
        pairs = None
    if pairs is None or not all(isinstance(n, str) and isinstance(t, shapes.Type) for n, t in pairs):
        raise AdjointArgumentError(f"option signature={signature!r}: expected a dict from argument "
                                   f"names to shapes.Type")
    return pairs


UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def _bytes(value) -> int:
    """A memory limit in bytes: a whole number of bytes, or a number with a unit ("1GB",
    "512 MiB", "1.5e9"); kB, MB, GB, TB count in powers of 1000, KiB, MiB, GiB, TiB of 1024."""
    amount = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        amount = int(value)
    elif isinstance(value, str):
        found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", value)
        if found and found.group(2).upper() in UNITS:
            amount = int(float(found.group(1)) * UNITS[found.group(2).upper()])
    if amount is None or amount < 1:
        raise AdjointArgumentError(f"option memory_limit={value!r}: expected a number of bytes or a size "
                                   "with its unit", hint="memory_limit='1GB', '512MiB' or 10**9")
    return amount
