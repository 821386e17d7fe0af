"""Errors that point at the user's source, compiler style.

    AdjointError("unsupported syntax: lambda", location=Location(file, 3, 8, "..."), hint="...")
    str(error) ->  file.py:3:8: unsupported syntax: lambda
                       y = lambda t: t
                           ^
                   hint: define a named function instead
"""

from __future__ import annotations

import dataclasses
import linecache


@dataclasses.dataclass(frozen=True)
class Location:
    """A point in the user's file: 1-based line, 0-based column (as in `ast`)."""

    filename: str
    line: int
    col: int

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

    def render(self) -> str:
        head = self.message if self.stage is None else f"[{self.stage}] {self.message}"
        lines = []
        if self.location is None:
            lines.append(head)
        else:
            loc = self.location
            lines.append(f"{loc.filename}:{loc.line}:{loc.col}: {head}")
            text = loc.source_line()
            if text:
                lines.append("    " + text)
                lines.append("    " + " " * loc.col + "^")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class AdjointArgumentError(AdjointError, TypeError):
    """A call with arguments of the wrong kind, type or shape."""


class AdjointTypeError(AdjointError):
    """Types that do not fit together (ranks of a matrix product, a name changing rank).
    Raised only for the types given or guessed; other argument types may still work."""


def locate(node, filename: str) -> Location | None:
    """The Location of a gast node carrying absolute positions (see parse.py)."""
    line = getattr(node, "lineno", None)
    if line is None:
        return None
    return Location(filename, line, getattr(node, "col_offset", 0) or 0)
