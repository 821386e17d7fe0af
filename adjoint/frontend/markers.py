"""A loop's own snapshot budget, marked in the user's source in one of two ways:

    for t in adjoint.checkpointed(range(n), 32):        while err > tol:  # adjoint: checkpoints=K
        u = step(u)                                          u = step(u)

Either gives the loop at most that many snapshots of its state (transforms/checkpoints.checkpointed),
whatever `grad(f, checkpoints=...)` says for the function's other loops. The budget is a whole
number or one of the function's parameters (then chosen at each call). `checkpointed` is an
identity at run time, so the function still runs as plain Python; the comment form is the one
a `while` loop can take.

`mark(parsed)`, run first by desugar, removes the marker (the loop becomes the plain range loop
it wraps) and notes the budget on the loop (annotation "snapshot_budget"), which normalize keeps.
"""

from __future__ import annotations

import dataclasses
import linecache
import re

import gast
import numpy as np

from ..errors import AdjointError, Location, locate
from ..ir import annotations, nodes

PRAGMA = re.compile(r"#\s*adjoint\s*:(.*)$")
PRAGMA_BUDGET = re.compile(r"\s*checkpoints\s*=\s*([A-Za-z_][A-Za-z_0-9]*|[0-9]+)\s*$")
HINT = "give a whole number of snapshots, at least 1, or the name of one of the function's parameters"


def checkpointed(iterable, checkpoints):
    """Mark a loop for `adjoint.grad`: `for i in adjoint.checkpointed(range(n), K):` reverses
    it keeping at most K snapshots of the state it carries (revolve's schedule), running the
    iterations between them again. At run time it returns `iterable` itself."""
    if isinstance(checkpoints, (bool, np.bool_)) or not isinstance(checkpoints, (int, np.integer)) \
            or checkpoints < 1:
        raise ValueError(f"adjoint.checkpointed: checkpoints={checkpoints!r}, expected a whole number "
                         "of snapshots, at least 1")
    return iterable


def mark(parsed):
    """`parsed` with every marked loop plain and annotated; `parsed` itself where none is."""
    # (loops are statements: a walk of the statements, not of every expression node)
    loops = [node for node in nodes.statements(parsed.tree.body) if isinstance(node, (gast.For, gast.While))]
    if not any(_is_marker(loop) or _pragma(loop, parsed.filename) for loop in loops):
        return parsed
    tree = nodes.clone(parsed.tree)
    params = {a.id for a in tree.args.args}
    for loop in nodes.statements(tree.body):
        if not isinstance(loop, (gast.For, gast.While)):
            continue
        budget = None
        if _is_marker(loop):
            budget = _from_marker(loop, params, parsed.filename)
        pragma = _pragma(loop, parsed.filename)
        if pragma is not None:
            if budget is not None:
                raise AdjointError("this loop has a budget twice: adjoint.checkpointed(...) and a "
                                   "`# adjoint: checkpoints=` comment", location=locate(loop, parsed.filename),
                                   hint="keep one of them")
            budget = _from_pragma(loop, pragma, params, parsed.filename)
        if budget is not None:
            annotations.set(loop, "snapshot_budget", budget)
    return dataclasses.replace(parsed, tree=tree)


def _is_marker(loop) -> bool:
    return isinstance(loop, gast.For) and isinstance(loop.iter, gast.Call) \
        and annotations.get(loop.iter, "callee") is checkpointed


def _from_marker(loop, params, filename):
    call = loop.iter
    if len(call.args) + len(call.keywords) != 2 or (call.keywords and call.keywords[0].arg != "checkpoints") \
            or len(call.args) < 1:
        raise AdjointError("adjoint.checkpointed takes a range and a budget", location=locate(call, filename),
                           hint="write `for i in adjoint.checkpointed(range(n), K):`")
    iterable = call.args[0]
    budget = call.args[1] if len(call.args) == 2 else call.keywords[0].value
    if not (isinstance(iterable, gast.Call) and annotations.get(iterable, "callee") is range):
        raise AdjointError("adjoint.checkpointed marks a loop over range(...)", location=locate(iterable, filename),
                           hint="loop over the indices: `for i in adjoint.checkpointed(range(len(x)), K):` "
                                "and read x[i]; a `while` loop takes a `# adjoint: checkpoints=K` comment")
    loop.iter = iterable
    if isinstance(budget, gast.Constant) and type(budget.value) is int and budget.value >= 1:
        return budget.value
    if isinstance(budget, gast.Name) and budget.id in params:
        return budget.id
    raise AdjointError("the budget of adjoint.checkpointed must be a whole number (at least 1) or a "
                       "parameter of the function", location=locate(budget, filename), hint=HINT)


def _pragma(loop, filename):
    """The text after `# adjoint:` on the loop's line, or None."""
    line = linecache.getline(filename, getattr(loop, "lineno", 0) or 0)
    found = PRAGMA.search(line) if "adjoint" in line else None
    return (found.group(1), found.start()) if found else None


def _from_pragma(loop, pragma, params, filename):
    text, column = pragma
    where = Location(filename, loop.lineno, column)
    found = PRAGMA_BUDGET.match(text)
    if found is None:
        raise AdjointError(f"unknown adjoint comment `adjoint:{text}`", location=where,
                           hint="write `# adjoint: checkpoints=K`, K a whole number or a parameter")
    value = found.group(1)
    if value.isdigit() and int(value) >= 1:
        return int(value)
    if value in params:
        return value
    raise AdjointError(f"checkpoints={value} in the comment is not a whole number of snapshots or a "
                       "parameter of the function", location=where, hint=HINT)
