"""A reverse loop's zero sensitivity arrays, allocated once.

    for k in range(K):                          for k in range(K):
        ...                                         ...
        if k == 0:                                  if k == 0:
            t_29_shape = t_29.shape                     t_29_shape = t_29.shape
            t_29_dtype = t_29.dtype     ->              t_29_dtype = t_29.dtype
    for k in range(K - 1, -1, -1):                      s_29 = np.zeros(t_29_shape, t_29_dtype)
        s_29 = np.zeros(t_29_shape, t_29_dtype)  for k in range(K - 1, -1, -1):
        ...                                         s_29[:] = 0.0

The shape a loop-local array has in every iteration is known at the forward loop's first
iteration (tapes.LoopFrame.describe); its sensitivity is allocated there and reset by each
reverse iteration instead of being allocated by each.
"""

from __future__ import annotations

import gast

from .. import primitives
from ..ir import annotations, nodes
from .summaries import _all_statements

# numpy calls that make a new array from their arguments (never a view of one): the records
# flagged `value` in primitives/rules/
VALUE_CALLS = primitives.spelled("value")


def allocate_once(fn, sensitivities) -> bool:
    """`s = np.zeros(a_shape, a_dtype)` in a reverse loop, where the shape and dtype come from
    the forward loop's first iteration (tapes.LoopFrame.describe): allocate s there, once, and
    reset it in each reverse iteration with `s[:] = 0.0`. Only for an s the loop binds
    nowhere else and uses only in ways that copy (an alias kept across iterations would see
    the reset)."""
    if gast.If not in map(type, _all_statements(fn.body)):
        return False                     # (no first-iteration block: straight code looked at once)
    firsts = {}
    for node in nodes.statements(fn.body):
        if isinstance(node, gast.If) and annotations.get(node, "first_iteration"):
            for stmt in node.body:
                for name in nodes.written_names(stmt):
                    firsts[name] = node
    if not firsts:
        return False
    changed = False
    for loop in [n for n in nodes.statements(fn.body) if isinstance(n, gast.For)]:
        for k, stmt in enumerate(loop.body):
            s = _zeros_of_first_iteration(stmt, firsts, sensitivities)
            if s is None or _bindings(loop, s) != 1 or s in nodes.loads_in(nodes.module(loop.body[:k])) \
                    or not _copied_only(loop, s):
                continue
            firsts[stmt.value.args[0].id].body.append(stmt)
            reset = nodes.assign(nodes.subscript(s, nodes.slice_(), store=True),
                                 0.0, stmt)
            loop.body[k] = reset
            changed = True
    return changed


def _zeros_of_first_iteration(stmt, firsts, sensitivities):
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)
            and stmt.targets[0].id in sensitivities and isinstance(stmt.value, gast.Call)
            and nodes.dotted(stmt.value.func) == "np.zeros" and len(stmt.value.args) == 2
            and all(isinstance(a, gast.Name) for a in stmt.value.args)):
        return None
    shape, dtype = (a.id for a in stmt.value.args)
    if shape not in firsts or firsts.get(dtype) is not firsts[shape]:
        return None
    return stmt.targets[0].id


def _bindings(loop, name):
    return sum(1 for node in nodes.statements([loop])          # (only statements bind names)
               if isinstance(node, (gast.Assign, gast.For)) and name in nodes.written_names(node)
               and not (isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Subscript)))


def _copied_only(loop, name) -> bool:
    """Every read of `name` in the loop makes a new value (arithmetic, an element, a copying
    numpy call) or updates it in place: no other variable can keep the array."""
    parents = {}                 # id(a read of name) -> the node holding it (the last one met)
    for node in nodes.walk(loop):
        for field in node._fields:
            value = getattr(node, field, None)
            for child in value if isinstance(value, list) else (value,):
                if isinstance(child, gast.Name) and child.id == name and isinstance(child.ctx, gast.Load):
                    parents[id(child)] = node
    for parent in parents.values():
        if isinstance(parent, (gast.BinOp, gast.UnaryOp, gast.Compare, gast.Subscript, gast.AugAssign)):
            continue
        if isinstance(parent, gast.Attribute) and parent.attr in ("shape", "dtype", "size", "ndim"):
            continue
        if isinstance(parent, gast.Call) and nodes.dotted(parent.func) in VALUE_CALLS:
            continue
        return False
    return True
