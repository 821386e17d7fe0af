"""How the `adjoint` command reports a failure that is not an AdjointError: a file that fails
to import (a SyntaxError, an exit() or an exception while executing it) or an exception raised
by user code while the gradient is computed. Each becomes one located diagnostic, as a compiler
prints it: `file:line:col: message`, the line, a caret and a hint; the location is the
SyntaxError's, or the innermost traceback frame outside the adjoint package (`_user_frame`).
"""

from __future__ import annotations

import linecache
import os
import traceback


def describe_load_error(exc: BaseException) -> str:
    """`file:line:col: SyntaxError: msg`, the line and a caret, as a compiler prints it."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        text = exc.text if exc.text is not None else linecache.getline(exc.filename, exc.lineno)
        text = text.rstrip("\r\n") if text else ""
        col = max((exc.offset or 1) - 1, 0)
        if text:
            col = min(col, len(text))
        return _render(exc.filename, exc.lineno, col, f"{type(exc).__name__}: {exc.msg}", text)
    if isinstance(exc, SystemExit):
        message = f"the file called exit({'' if exc.code is None else repr(exc.code)}) on import"
        frame = _user_frame(exc)
        if frame is not None:
            return _render(frame.filename, frame.lineno, frame.colno or 0, message)
        return f"adjoint: error: {message}"
    return describe_failure(exc, importing=True)


def describe_failure(exc: BaseException, importing=False) -> str:
    """An exception from user code (or from adjoint itself) as one located diagnostic."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frame = _user_frame(exc)
    if frame is not None:
        return _render(frame.filename, frame.lineno, frame.colno or 0, message,
                       hint="rerun with --traceback for the full traceback")
    kind = "error" if importing else "internal error"
    return (f"adjoint: {kind}: {message}\n"
            "hint: rerun with --traceback for the full traceback; if adjoint itself failed, "
            "please report it")


def _user_frame(exc):
    """The innermost traceback frame outside the adjoint package and the import machinery."""
    package = os.path.dirname(os.path.abspath(__file__))
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        filename = os.path.abspath(frame.filename)
        if filename.startswith(package + os.sep) or frame.filename.startswith("<"):
            continue
        if "importlib" in frame.filename and "_bootstrap" in frame.filename:
            continue
        return frame
    return None


def _render(filename, line, col, message, text=None, hint=None) -> str:
    """`file:line:col: message`, the line and a caret under column `col` (0-based, as in ast
    and AdjointError)."""
    lines = [f"{filename}:{line}:{col}: {message}"]
    text = (text or linecache.getline(filename, line)).rstrip("\r\n")
    if text:
        lines.append("    " + text)
        lines.append("    " + " " * col + "^")
    if hint:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)
