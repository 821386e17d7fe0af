"""Backends turn emitted source into callables. They are thin: exec, then (maybe) jit."""

from . import cpu, python

BACKENDS = {"python": python, "cpu": cpu}


def get(target: str):
    if target == "cuda":
        from . import cuda
        return cuda
    try:
        return BACKENDS[target]
    except KeyError:
        from ..errors import AdjointError
        raise AdjointError(f"unknown target {target!r}",
                           hint="use target='cpu' (numba), 'python' or 'cuda'") from None
