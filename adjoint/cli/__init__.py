"""The `adjoint` command: a thin layer over the library (`command`), what it reads (`inputs`)
and how it reports user code that fails (`diagnostics`)."""

from .command import main

__all__ = ["main"]
