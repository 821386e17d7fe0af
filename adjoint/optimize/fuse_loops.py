"""Elementwise temporaries inside loop bodies, written into their one reader (optimize/fuse.py
does the same for the top level, with more rewrites; this pass shares its elementwise walks).

A loop body's three-address form keeps an array per operation, and numba compiles a loop for
each line of array code: about 0.03 s of a fresh process per line, and an array per
iteration. `s_30 = -s_r; s_29 = 0.5 * s_30` becomes `s_29 = 0.5 * -s_r` where that is exact:
the temporary is assigned once in the function, read once, through elementwise operations, by a
later line of the same body, and nothing it reads changes in between.
"""

from __future__ import annotations

import gast

from ..ir import annotations, nodes
from .fuse import (
    _INLINED_SIZE,
    _binding_counts,
    _constant,
    _fused_reads,
    _made_elementwise,
    _numpy_loop_argument,
    _size,
)


def fuse_loop_bodies(fn, names, arrays, protected=frozenset()) -> bool:
    """In a loop's body, an array temporary (of `names`, not `protected`) assigned once in the
    whole function from elementwise operations and read once, through elementwise operations,
    by a later statement of the same body, with none of its operands rebound and no array
    written into between (a view may share an operand's memory): written into that reader,
    where numba fuses it into the reader's loop. The top level is fuse_elementwise's.
    Returns whether anything changed."""
    names = set(names) - set(protected)
    loops = [n for n in nodes.statements(fn.body) if type(n) in (gast.For, gast.While)]
    if not loops:
        return False
    writes, in_place = _binding_counts(fn)
    loads = nodes.load_counts(fn)
    changed = False
    for loop in loops:
        block = loop.body
        k = 0
        while k < len(block):
            if _fuse_into_reader(block, k, names, arrays, writes, in_place, loads):
                changed = True
            else:
                k += 1
    return changed


def _fuse_into_reader(block, k, names, arrays, writes, in_place, loads) -> bool:
    """Write block[k], `t = <elementwise value>`, into its one reader later in `block` (see
    fuse_loop_bodies), and drop it; False where it does not qualify."""
    stmt = block[k]
    if type(stmt) is not gast.Assign or type(stmt.targets[0]) is not gast.Name:
        return False
    name, value = stmt.targets[0].id, stmt.value
    if name not in names or name not in arrays or writes[name] != 1 or in_place[name] or loads.get(name) != 1 \
            or type(value) not in (gast.BinOp, gast.UnaryOp, gast.Call, gast.Compare) \
            or not _pure_elementwise(value) or _size(value) > _INLINED_SIZE:
        return False
    operands = nodes.loads_in(value) | {name}
    for j in range(k + 1, len(block)):
        reader = block[j]
        if name in nodes.load_counts(reader):
            if type(reader) not in (gast.Assign, gast.AugAssign) or not _fused_reads(reader.value, name) \
                    or _numpy_loop_argument(reader) == name:
                return False            # (read by a call numba does not fuse: it gains nothing)
            new = nodes.with_loads_replaced(reader, {name: value})
            new = annotations.copy_to(new, reader)
            for node in nodes.every_node(new):
                if type(node) is gast.Call and nodes.is_ufunc_call(node):
                    annotations.set(node, "fused", True)
            block[j] = new
            del block[k]
            return True
        if not operands.isdisjoint(nodes.written_by(reader)) or _writes_in_place(reader):
            return False                # (an operand changes before the reader, or may: a
    return False                        # write into an array may reach one through a view)


def _writes_in_place(stmt) -> bool:
    """Whether `stmt`, or a statement inside it, writes into an array: an augmented
    assignment, an assignment into a part of one, a tape helper's call."""
    for node in nodes.statements([stmt]):
        if type(node) is gast.AugAssign or (type(node) is gast.Assign and type(node.targets[0]) is not gast.Name):
            return True
    return any(type(node) is gast.Call and nodes.dotted(node.func).startswith(("_record_", "_undo_"))
               for node in nodes.every_node(stmt))


def _pure_elementwise(node) -> bool:
    """Whether `node` is made only of elementwise operations of names, numbers and basic
    slices: evaluated again later, it gives the same values while its names do."""
    return _made_elementwise(node, lambda name: True, _constant)
