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

from ..errors import diagnostic


def describe_load_error(exc: BaseException) -> str:
    """`file:line:col: SyntaxError: msg`, the line and a caret, as a compiler prints it."""
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        text = exc.text if exc.text is not None else linecache.getline(exc.filename, exc.lineno)
        text = text.rstrip("\r\n") if text else ""
        col = max((exc.offset or 1) - 1, 0)
        if text:
            col = min(col, len(text))
        end = (exc.end_offset - 1) if exc.end_lineno == exc.lineno and exc.end_offset else None
        return diagnostic(exc.filename, exc.lineno, col, f"{type(exc).__name__}: {exc.msg}",
                          text=text, end_col=end)
    if isinstance(exc, SystemExit):
        message = f"the file called exit({'' if exc.code is None else repr(exc.code)}) on import"
        frame = _user_frame(exc)
        if frame is not None:
            return _frame_diagnostic(frame, message)
        return f"adjoint: error: {message}"
    return describe_failure(exc, importing=True)


def describe_failure(exc: BaseException, importing=False) -> str:
    """An exception from user code (or from adjoint itself) as one located diagnostic."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frame = _user_frame(exc)
    if frame is not None:
        return _frame_diagnostic(frame, message, hint="rerun with --traceback for the full traceback")
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


def _frame_diagnostic(frame, message, hint=None) -> str:
    """A traceback frame's place as a diagnostic (its columns count UTF-8 bytes, as ast's)."""
    same_line = frame.end_lineno == frame.lineno
    return diagnostic(frame.filename, frame.lineno, frame.colno or 0, message,
                      end_col=frame.end_colno if same_line else None, hint=hint,
                      columns_in_bytes=True)
