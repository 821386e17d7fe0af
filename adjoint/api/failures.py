"""What a failure inside compiled or generated code becomes: the informative line of numba's
message, the AdjointError subclass for a built-in error raised at the user's line, and
(LocatedFailures, a mixin of GradientFunction) that error located at the user's line, the cpu
target's code rerun in Python for the line numbers compiled code lacks. Shared by the gradient
objects and the batches (batch.py), which import nothing of gradient.py."""

from __future__ import annotations

import functools
import os
import re

from .. import backends
from ..errors import AdjointError, Location


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
    """The AdjointError raised for an exception (IndexError, ZeroDivisionError, the user's own
    of a `raise`) that the generated code raised at the user's line: a subclass of both, so
    that `except IndexError` catches it as it would catch the function's own error."""
    if not issubclass(runtime_error, Exception) or issubclass(runtime_error, AdjointError) \
            or runtime_error.__module__.startswith("numba"):
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


class LocatedFailures:
    """GradientFunction's failures at the user's line: it reads the object's target, its
    generated code and `_files`, the generated modules' file names."""

    def _failure(self, exc, generated, args):
        """The AdjointError at the user's line for an exception the generated code raised
        with these arguments; compiled code has no line numbers, so the cpu target reruns
        it in Python."""
        if self.target == "cpu" and not is_numba_error(exc):
            exc = self._rerun_in_python(generated, args, exc)
        return self._locate_failure(exc, generated)

    def _rerun_in_python(self, generated, args, exc):
        """The same generated code, run by the interpreter: its traceback has line numbers."""
        module = backends.python.load(generated.source, self._filename("rerun"), generated.namespace)
        self._files.add(module["__file__"])
        try:
            module[generated.name](*args)
        except Exception as rerun:
            return rerun
        return exc

    def _locate_failure(self, exc, generated=None):
        if isinstance(exc, AdjointError):
            return exc
        text = str(exc)
        g = generated or self._generated
        if g is None:
            return AdjointError(f"{type(exc).__name__}: {exc}")
        # numba names a module's file relative to the working folder (a cached module's)
        lines = [int(n) for f, n in re.findall(r'File "([^"]*)", line (\d+)', text)
                 if f in self._files or os.path.abspath(f) in self._files]
        lines += traceback_lines(exc, self._files)
        line = next((n for n in reversed(lines) if n in g.origins), None)
        location = Location(*g.origins[line]) if line is not None else None
        first = summary(text) or type(exc).__name__
        kind = "numba could not compile the gradient" if is_numba_error(exc) else \
            f"{type(exc).__name__} while computing the gradient"
        error_class = AdjointError if is_numba_error(exc) else located_error_class(type(exc))
        statement = _generated_line(g.source, line)
        debug = "adjoint.source(f) shows the generated code"
        if self.target != "python":
            debug = "run with target='python' to step through the generated code; " + debug
        carried = re.fullmatch(r"tape_\w+\[[^\]]*\] = (\w+)|_store\(tape_\w+\[[^\]]*\], (\w+)\)", statement or "")
        if carried is not None and isinstance(exc, ValueError):     # a checkpoint row of the first shape
            v = carried.group(1) or carried.group(2)
            debug = (f"the loop carries the array `{v}`, which a later iteration makes larger (a broadcast); "
                     f"give `{v}` its final shape before the loop (`{v} = {v} * np.ones(shape)`); " + debug)
        if location is not None and (statement or "").startswith("raise ") and not is_numba_error(exc):
            # the function's own guard (`raise`, `assert`), kept in its gradient
            return error_class(f"{type(exc).__name__} raised by the function: {first}", location=location,
                               hint="the point fails the function's own check at this line")
        return error_class(f"{kind}: {first}", location=location,
                           hint=(f"it failed in the generated statement `{statement}`; " if statement else "")
                           + debug)


def _generated_line(source, line):
    """The generated statement at `line` (1-based; a gradient module's line), if there is one."""
    lines = source.splitlines()
    if line is None or not 0 < line <= len(lines):
        return None
    return lines[line - 1].strip() or None
