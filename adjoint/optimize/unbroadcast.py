"""The seed of a sum along an axis, left un-broadcast where its readers broadcast it anyway.

`t = np.sum(x * x, axis=1)` seeds x * x with `np.broadcast_to(np.expand_dims(s_t, 1),
x.shape)`, a read-only view that its one reader multiplies by `x + x`, an array of that
whole shape (the reverse transform marks such products `full_partial`). The product is the
same with the seed left as `np.expand_dims(s_t, 1)`, which numba compiles as a plain
broadcast instead of a strided view of another layout:

    s_1 = np.broadcast_to(np.expand_dims(s_t, 1), t_1_shape)
    s_x = (x + x) * s_1                       ->     s_x = (x + x) * np.expand_dims(s_t, 1)

Only where every reader of the seed is such a product, in the seed's own block, and nothing
in between writes what the un-broadcast value reads.
"""

from __future__ import annotations

import collections

import gast

from ..ir import annotations, nodes, trees
from .summaries import _blocks


def unbroadcast_seeds(fn) -> bool:
    """Rewrite fn's blocks as the module describes; returns whether anything changed."""
    blocks = _blocks(fn)
    if not any(_seed(stmt) is not None for block in blocks for stmt in block):
        return False                          # (most functions: no walk of the whole tree)
    loads, writes = _counts(fn)
    changed = False
    for block in blocks:
        k = 0
        while k < len(block):
            if _seed(block[k]) is not None and _unbroadcast(block, k, loads, writes):
                changed = True
                continue                      # block[k] is now the statement after the seed
            k += 1
    return changed


def _seed(stmt):
    """(name, un-broadcast value) of `s = np.broadcast_to(u, shape)`, else None."""
    if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name and type(stmt.value) is gast.Call \
            and nodes.dotted(stmt.value.func) == "np.broadcast_to" and len(stmt.value.args) == 2 \
            and not stmt.value.keywords:
        return stmt.targets[0].id, stmt.value.args[0]
    return None


def _unbroadcast(block, k, loads, writes) -> bool:
    name, value = _seed(block[k])
    if writes[name] != 1:                    # (a loop body's seed: once per iteration)
        return False
    read = nodes.loads_in(value)
    products, found = {}, 0                   # statement index -> the products it reads the seed in
    for j in range(k + 1, len(block)):
        stmt = block[j]
        here = [n for n in nodes.every_node(stmt) if type(n) is gast.BinOp
                and annotations.get(n, "full_partial") and type(n.right) is gast.Name and n.right.id == name]
        count = nodes.load_counts(stmt).get(name, 0)
        if count:
            if count != len(here) or type(stmt) not in (gast.Assign, gast.AugAssign):
                return False                  # read another way: the view stays
            products[j] = here
            found += count
        if found == loads[name]:
            break
        if read & set(nodes.written_by(stmt)):
            return False                      # what u reads changes before the last reader
    if found != loads[name] or not products:
        return False
    for j, here in products.items():
        mapping = {id(p): _with_right(p, nodes.clone(value)) for p in here}
        block[j] = annotations.copy_to(trees.replaced(block[j], mapping), block[j])
    del block[k]
    return True


def _counts(fn):
    """(name -> loads, name -> writes) over the whole function."""
    loads, writes = nodes.load_counts(fn), collections.Counter()
    for node in nodes.every_node(fn):
        if type(node) is gast.Name and type(node.ctx) is not gast.Load:
            writes[node.id] += 1
    return loads, writes


def _with_right(product, right):
    return nodes.located(nodes.binop(product.left, "*", right), product)
