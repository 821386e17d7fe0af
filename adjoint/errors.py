"""Errors that point at the user's source, compiler style.

    AdjointError("unsupported syntax: a dict comprehension", location=Location(file, 3, 8, 34), hint="...")
    str(error) ->  file.py:3:9: unsupported syntax: a dict comprehension
                       y = {k: k * x for k in ks}
                           ^^^^^^^^^^^^^^^^^^^^^^
                   hint: ...

Locations keep ast's 0-based byte columns; what users read is 1-based, in characters.
"""

from __future__ import annotations

import dataclasses
import linecache


@dataclasses.dataclass(frozen=True)
class Location:
    """A span in the user's file: 1-based line, 0-based columns in UTF-8 bytes (as in `ast`);
    `end_col` where the construct ends on the same line, else None."""

    filename: str
    line: int
    col: int
    end_col: int | None = None

    def source_line(self) -> str:
        return linecache.getline(self.filename, self.line).rstrip("\n")


class AdjointError(Exception):
    """Everything adjoint rejects: unsupported syntax, bad arguments, failed compilation.

    `location` names the user's line; `stage` names the compiler stage for internal errors.
    """

    def __init__(self, message: str, *, location: Location | None = None,
                 hint: str | None = None, stage: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        self.stage = stage
        super().__init__(self.render())

    def at(self, location: Location | None) -> AdjointError:
        """This error, placed at `location` where it names no place of its own (one raised
        where only the expression was known, placed by the statement holding it)."""
        if self.location is not None or location is None:
            return self
        return type(self)(self.message, location=location, hint=self.hint, stage=self.stage)

    def render(self) -> str:
        head = self.message if self.stage is None else f"[{self.stage}] {self.message}"
        if self.location is None:
            return head + (f"\nhint: {self.hint}" if self.hint else "")
        loc = self.location
        return diagnostic(loc.filename, loc.line, loc.col, head, end_col=loc.end_col,
                          hint=self.hint, columns_in_bytes=True)


class AdjointArgumentError(AdjointError, TypeError):
    """A call with arguments of the wrong kind, type or shape."""


class AdjointTypeError(AdjointError):
    """Types that do not fit together (ranks of a matrix product, a name changing rank).
    Raised only for the types given or guessed; other argument types may still work."""


def locate(node, filename: str) -> Location | None:
    """The Location of a gast node carrying absolute positions (see frontend/parse.py), in
    `filename` or, for a statement of an inlined helper, in the helper's file."""
    line = getattr(node, "lineno", None)
    if line is None:
        return None
    # the `source_file` annotation, read directly: errors sits below ir/annotations.py
    filename = node.__dict__.get("source_file") or filename
    same_line = getattr(node, "end_lineno", None) == line
    return Location(filename, line, getattr(node, "col_offset", 0) or 0,
                    getattr(node, "end_col_offset", None) if same_line else None)


def diagnostic(filename, line, col, message, *, text=None, end_col=None, hint=None,
               columns_in_bytes=False) -> str:
    """The one way adjoint shows a place in a file, as compilers do: `file:line:col: message`,
    the line, carets under the construct and the hint. `col` and `end_col` are 0-based
    (one caret where the end is unknown) and count UTF-8 bytes where `columns_in_bytes` (ast's
    and tracebacks' positions), else characters; the header's column is 1-based and counts
    characters, as gcc, clang, rustc and linters print it. `text` defaults to the file's line."""
    text = (linecache.getline(filename, line) if text is None else text).rstrip("\r\n")
    if columns_in_bytes and text:
        encoded = text.encode()
        col, end_col = (None if c is None else len(encoded[:c].decode(errors="ignore"))
                        for c in (col, end_col))
    lines = [f"{filename}:{line}:{col + 1}: {message}"]
    if text:
        lines += ["    " + text, "    " + _carets(text, col, end_col)]
    if hint:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def _carets(text, col, end_col):
    """Carets under text[col:end_col] (characters); the tabs before them are kept, so that they
    line up under the construct however wide the terminal shows a tab."""
    col = min(col, len(text))
    end = col + 1 if end_col is None else min(max(end_col, col + 1), max(len(text), col + 1))
    indent = "".join(ch if ch == "\t" else " " for ch in text[:col])
    return indent + "^" * (end - col)
