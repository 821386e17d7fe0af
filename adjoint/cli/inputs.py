"""What the `adjoint` command reads from its user: --wrt, --at and --types, turned into
the values and types the library takes; bad input is a UsageError (exit 2) with a hint."""

from __future__ import annotations

import inspect
import re

from ..errors import AdjointError


class UsageError(Exception):
    """Bad command-line input: exit 2."""

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_wrt(text: str, fn):
    """'x,1' -> ('x', 1); a single item stays single (the gradient is then not a tuple)."""
    names = list(inspect.signature(fn).parameters)
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise UsageError("--wrt is empty", hint=f"name arguments of {fn.__name__}: {', '.join(names)}")
    wrt = []
    for item in items:
        if re.fullmatch(r"-?\d+", item):
            index = int(item)
            if not -len(names) <= index < len(names):
                raise UsageError(f"--wrt {item}: {fn.__name__} has {len(names)} argument"
                                 f"{'' if len(names) == 1 else 's'} ({', '.join(names)})")
            wrt.append(index)
        elif item in names:
            wrt.append(item)
        else:
            raise UsageError(f"--wrt {item!r}: {fn.__name__} has no such argument",
                             hint=f"its arguments are {', '.join(names) or 'none'}")
    return tuple(wrt) if len(wrt) > 1 else wrt[0]


AT_HINT = 'give comma-separated numbers, e.g. --at "1,2,3,4"; separate arguments with ";", ' \
          'e.g. --at "1,2,3;4"'


def parse_types(text, fn):
    """`--types "W=float64[:,:], n=int64"` -> {name: shapes.Type} for those arguments (None
    without the option)."""
    from ..api.arguments import signature_of_types
    try:
        return signature_of_types(text, fn)
    except AdjointError as error:
        names = ", ".join(inspect.signature(fn).parameters)
        raise UsageError(f"cannot read the types {text!r}: {error.message}",
                         hint=f"write NAME=TYPE with NAME one of {names} and TYPE "
                              "like float64, int64, float64[:] or float64[:,:]") from None


def parse_at(text: str, names, array_args, wrt, fname):
    """The --at point as argument values (floats, or float arrays for array arguments)."""
    if not text.strip():
        raise UsageError("--at is empty", hint=AT_HINT)
    parts = text.split(";")
    if len(parts) > 1:
        if len(parts) != len(names):
            raise UsageError(f"--at gives {len(parts)} arguments separated by ';', {fname} takes "
                             f"{len(names)} ({', '.join(names)})", hint=AT_HINT)
        values = []
        for name, part in zip(names, parts):
            numbers = [_number(token) for token in part.split(",")]
            as_array = len(numbers) > 1 or name in array_args
            values.append(_array(numbers, name in wrt) if as_array else _scalar(numbers[0], name in wrt))
        return values
    numbers = [_number(token) for token in text.split(",")]
    if len(names) == 1:
        name = names[0]
        if name in array_args or (len(numbers) > 1 and name not in wrt):
            return [_array(numbers, name in wrt)]
        if len(numbers) == 1:
            return [_scalar(numbers[0], name in wrt)]
        raise UsageError(f"--at gives {len(numbers)} numbers, {fname} takes one argument, "
                         f"{name}, and uses it as a scalar", hint=AT_HINT)
    if not array_args & set(names) and len(numbers) == len(names):
        return [_scalar(x, name in wrt) for name, x in zip(names, numbers)]
    raise UsageError(f"--at gives {len(numbers)} number{'' if len(numbers) == 1 else 's'}, "
                     f"{fname} takes {len(names)} arguments ({', '.join(names)})"
                     + (f", of which {', '.join(sorted(array_args & set(names)))} "
                        f"{'is an array' if len(array_args & set(names)) == 1 else 'are arrays'}"
                        if array_args & set(names) else ""),
                     hint='separate arguments with ";", e.g. --at "1,2,3;4"')


def _number(token: str):
    token = token.strip()
    try:
        return int(token) if re.fullmatch(r"[+-]?\d+", token) else float(token)
    except ValueError:
        raise UsageError(f"--at: {token!r} is not a number", hint=AT_HINT) from None


def _scalar(x, differentiated):
    return float(x) if differentiated or not isinstance(x, int) else x


def _array(numbers, differentiated):
    import numpy as np
    if not differentiated and all(isinstance(x, int) for x in numbers):
        return np.array(numbers, dtype=np.int64)
    return np.array(numbers, dtype=np.float64)
