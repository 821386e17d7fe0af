"""What adjoint knows about each primitive: one record per primitive (`table.Primitive`,
declared in the `rules` package, one module per family: derivative, spellings, result type
rule, flags), the machinery that registers and instantiates rules (`registry`), and the
helpers emitted code calls (`runtime`).

Importing the package loads the table, so the lookups below answer from every record."""

from . import rules  # noqa: F401 (declares the records)
from .rules import linalg  # noqa: F401 (np.einsum's subscripts, which analysis/shapes.py reads)
from .table import (  # noqa: F401 (the questions the stages ask about a primitive)
    Primitive,
    device_spellings,
    numpy_loops,
    record_of,
    result_of,
    spelled,
    spelling_for_arrays,
    spelling_for_device,
)
