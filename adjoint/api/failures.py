"""What a failure inside compiled or generated code becomes: the informative line of numba's
message, and the AdjointError subclass for a built-in error raised at the user's line."""

from __future__ import annotations

import functools

from ..errors import AdjointError


def summary(text: str) -> str:
    """The informative line of an error message (numba's is buried under its pipeline steps)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(">>> "):
            return f"no implementation for {ln[4:]}"
    for ln in lines:
        if not ln.startswith(("Failed in", "During:", "File ", "Resolution failure")):
            return ln.rstrip(":")
    return lines[0] if lines else ""


@functools.lru_cache(maxsize=None)
def located_error_class(runtime_error):
    """The AdjointError raised for a built-in exception (IndexError, ZeroDivisionError, ...)
    that the generated code raised at the user's line: a subclass of both, so that
    `except IndexError` catches it as it would catch the function's own error."""
    if runtime_error.__module__ != "builtins" or not issubclass(runtime_error, Exception) \
            or issubclass(runtime_error, AdjointError):
        return AdjointError
    try:
        return type(f"Adjoint{runtime_error.__name__}", (AdjointError, runtime_error),
                    {"__module__": __name__, "__doc__": f"{runtime_error.__name__} at the user's line."})
    except TypeError:                       # a built-in with its own layout (OSError, ...)
        return AdjointError


def is_numba_error(exc) -> bool:
    return type(exc).__module__.startswith("numba")


def traceback_lines(exc, filenames):
    lines = []
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in filenames:
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    return lines
