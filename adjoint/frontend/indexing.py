"""Indices to atoms: each component of `x[i + 1, a:b]` computed into an atom, a list used as
an index made an index array, and a new axis (`x[:, None]`, np.newaxis) written as
np.expand_dims of the read without it, the form the rule table knows.
"""

from __future__ import annotations

import gast
import numpy as np

from ..errors import AdjointError
from ..ir import annotations, nodes
from .tuples import Aggregate


class Indexing:
    """Mixin of the normalizer (normalize._Normalizer): indices."""

    def index(self, index, stmt):
        if isinstance(index, gast.Tuple):
            pre, atoms = [], []
            for elt in index.elts:
                p, a = self.index(elt, stmt)
                pre += p
                atoms.append(a)
            return pre, nodes.tuple_of(atoms)
        if isinstance(index, gast.Slice):
            pre, bounds = [], {}
            for field in ("lower", "upper", "step"):
                value = getattr(index, field)
                if value is not None:
                    p, value = self.atom(value, stmt)
                    pre += p
                bounds[field] = value
            return pre, nodes.slice_(**bounds)
        pre, value = self.value(index, stmt)
        if isinstance(value, Aggregate):                # x[[0, 2]]: an index array
            p, value = self.materialize(value, stmt)
            pre += p
        return pre, value

    def new_axes(self, value, index, pre, stmt):
        """`x[:, None]` (or np.newaxis): the read without the new axes, then one np.expand_dims
        per new axis, whose position is counted from the start (from the end after `...`)."""
        components = index_components(index)
        ellipsis = next((k for k, c in enumerate(components) if _is_ellipsis(c)), None)
        axes = []
        for k, component in enumerate(components):
            if not is_new_axis(component):
                continue
            from_end = ellipsis is not None and k > ellipsis
            widths = [_width(c, self.loop_indices) for c in (components[k + 1:] if from_end else components[:k])]
            if None in widths:
                raise AdjointError("a new axis (None) in an index with an integer or array index "
                                   f"{'after' if from_end else 'before'} it is not supported",
                                   location=self.where(stmt),
                                   hint="index in two steps: `y = x[i]`, then `y[:, None]`")
            axes.append(-1 - sum(widths) if from_end else sum(widths))
        kept = [c for c in components if not is_new_axis(c)]
        result = value
        if not all(_is_ellipsis(c) or _is_whole(c) for c in kept):
            p, result = self.to_atom(nodes.subscript(value, kept[0] if len(kept) == 1 else nodes.tuple_of(kept)),
                                     stmt)
            pre = pre + p
        return expanded(result, axes, stmt, self, pre)


def index_components(index):
    return index.elts if isinstance(index, gast.Tuple) else [index]


def is_new_axis(node) -> bool:
    return (type(node) is gast.Constant and node.value is None) or nodes.dotted(node) == "np.newaxis"


def _is_ellipsis(node) -> bool:
    return type(node) is gast.Constant and node.value is Ellipsis


def _is_whole(node) -> bool:
    return isinstance(node, gast.Slice) and node.lower is None and node.upper is None and node.step is None


def _width(component, integers=()):
    """How many axes an index component leaves in the result, where that is known without
    types: a slice or a new axis one, an integer constant or a loop index (`integers`) none;
    None for another name (a number or an index array) and `...`."""
    if isinstance(component, gast.Slice) or is_new_axis(component):
        return 1
    if type(component) is gast.Constant and type(component.value) is int \
            or isinstance(component, gast.Name) and component.id in integers:
        return 0
    return None


def expanded(array, axes, stmt, normalizer, pre=()):
    """(prelude, np.expand_dims(...)) inserting a length-1 axis at each of `axes`, positions
    in the result: those counted from the start in increasing order, then those counted from
    the end from -1 down, so that each insertion leaves the earlier ones in place."""
    order = sorted((a for a in axes if not _negative(a)), key=lambda a: axis_value(a) or 0) \
        + sorted((a for a in axes if _negative(a)), key=lambda a: -axis_value(a))
    pre, result = list(pre), array
    for k, axis in enumerate(order):
        call = nodes.call("np.expand_dims", [result, nodes.const(axis) if isinstance(axis, int) else axis])
        annotations.set(call, "callee", np.expand_dims)
        if k == len(order) - 1:
            return pre, call
        p, result = normalizer.to_atom(call, stmt)
        pre += p
    return pre, result


def _negative(axis) -> bool:
    value = axis_value(axis)
    return value is not None and value < 0


def axis_value(axis):
    """An axis' number: an int, or an integer constant node; None for a name."""
    if isinstance(axis, int):
        return axis
    return axis.value if type(axis) is gast.Constant and type(axis.value) is int else None
