"""Boolean masks of rank 2 or more, which numba cannot index with (it fails with no message):
their reads become reads of the flattened arrays, their writes runtime helpers. Run by
lower_for_numba, on every target's code."""

from __future__ import annotations

import gast

from ..errors import AdjointError
from ..ir import annotations, nodes, trees
from ..primitives.runtime import MASKED_UPDATE_OF


def flatten_masks(fn, types_of, subscripts=None) -> set:
    """`x[m]` with a boolean mask `m` of rank 2 or more, which numba cannot compile (it fails
    with no message): read as `np.ravel(x)[np.ravel(m)]` (the same elements in the same order),
    written (`s[m] += g`, `s[m] -= g`, `y[m] = v`) by a runtime helper going through the
    elements in that order (`_add_at_mask(s, m, g)`; runtime.MASKED_UPDATES), which
    frontend/parse.py reads back as the statement; any other update (`s[m] *= g`) through a
    flat copy put back whole:

        s_flat = np.ravel(s)
        s_flat[np.ravel(m)] *= g
        s[...] = np.reshape(s_flat, s.shape)

    right whether np.ravel gives a view or a copy (a transposed s). A statement holding one is
    replaced by a rewritten copy (optimize may share it with the earlier stages).
    `subscripts`: the function's subscripts, where the caller has found them already. Returns
    the helpers used."""
    used = set()
    def is_mask(index) -> bool:
        if isinstance(index, (gast.Slice, gast.Tuple)):
            return False
        try:
            kind = types_of(index)
        except AdjointError:
            return False
        return kind.kind == "bool" and kind.ndim >= 2

    def masked(node) -> bool:
        return isinstance(node, gast.Subscript) and is_mask(node.slice)

    def flat_read(node):
        if isinstance(node.ctx, gast.Load) and is_mask(node.slice):
            return annotations.copy_to(nodes.subscript(nodes.call("np.ravel", [node.value]),
                                                       nodes.call("np.ravel", [node.slice])), node)
        return node

    candidates = trees.walk_branches(fn) if subscripts is None else subscripts
    if not any(masked(n) for n in candidates):
        return used
    taken = {n.id for n in trees.walk(fn) if isinstance(n, gast.Name)}
    for block in list(nodes.blocks(fn)):
        out = []
        for stmt in block:
            if not isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Return, gast.Expr)) \
                    or not any(masked(n) for n in trees.walk(stmt)):
                out.append(stmt)
                continue
            stmt = annotations.copy_to(nodes.clone(stmt), stmt)
            target = stmt.targets[0] if isinstance(stmt, gast.Assign) else \
                stmt.target if isinstance(stmt, gast.AugAssign) else None
            trees.replace_bottom_up(stmt, gast.Subscript, flat_read, fields=("value",))
            if not (masked(target) and isinstance(target.value, gast.Name)):
                if target is not None:
                    trees.replace_bottom_up(target, gast.Subscript, flat_read)
                out.append(stmt)
                continue
            op = "=" if isinstance(stmt, gast.Assign) else {gast.Add: "+", gast.Sub: "-"}.get(type(stmt.op))
            if op is not None:                 # s[m] += g -> _add_at_mask(s, m, g)
                helper = MASKED_UPDATE_OF[op]
                used.add(helper)
                out.append(nodes.located(nodes.make(gast.Expr, value=nodes.call(
                    nodes.name(helper), [nodes.name(target.value.id), target.slice, stmt.value])), stmt))
                continue
            array, flat = target.value.id, f"{target.value.id}_flat"
            while flat in taken:
                flat += "_"
            taken.add(flat)
            target.value = nodes.name(flat)
            target.slice = nodes.call("np.ravel", [target.slice])
            whole = nodes.subscript(array, nodes.const(Ellipsis), store=True)
            out += [nodes.assign(flat, nodes.call("np.ravel", [nodes.name(array)]), stmt), stmt,
                    nodes.assign_to(whole, nodes.call("np.reshape", [nodes.name(flat), nodes.attribute(
                        f"{array}.shape")]), stmt)]
        block[:] = out
    return used
