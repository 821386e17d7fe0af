"""Lowering for numba: numpy calls numba cannot compile, or compiles into slow loops, become
runtime helpers (primitives/runtime.py) or equivalent forms numba fuses. Run by the pipeline on
the optimized adjoint and on the primal, for the cpu and cuda targets' sake (the python target
runs the same code)."""

from __future__ import annotations

import copy

import gast
import numpy as np

from ..ir import annotations, nodes, trees
from ..primitives.runtime import AXIS_REDUCTIONS, LOWERED_MODULE, NUMPY_LOOPS, axis_reduction

KEEPDIMS = {"sum", "mean", "prod", "max", "min", "amax", "amin"}


def lower_for_numba(fn, types_of) -> set:
    """Replace numpy calls numba cannot compile (or compiles slowly) by runtime helpers or
    equivalent forms it fuses (np.where(c, a, nan) -> a * np.divide(c, c)); returns the
    helpers used. Only calls of `np.<function>` (LOWERED_MODULE) change, in place: optimize
    copies the statements holding one, which it may share with earlier stages.
    `types_of(node)` gives an expression's shapes.Type."""
    used = set()

    def lower(node):
        func = node.func
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr == "matmul" and len(node.args) == 2:
            return nodes.binop(node.args[0], "@", node.args[1])
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr == "where" and len(node.args) == 3 \
                and isinstance(node.args[2], gast.Attribute) and node.args[2].attr == "nan" \
                and isinstance(node.args[2].value, gast.Name) and node.args[2].value.id in ("math", "np"):
            # np.where(c, a, nan) is a * (c / c) (1 or 0 / 0), which numba fuses into the
            # expression around it; its np.where there is a separate, much slower loop
            condition = node.args[0]
            return nodes.binop(node.args[1], "*", nodes.call("np.divide", [condition, copy.deepcopy(condition)]))
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr in NUMPY_LOOPS and len(node.args) == 1 \
                and not node.keywords and isinstance(node.args[0], gast.Name):
            kind = types_of(node.args[0])
            if kind.ndim >= 1 and kind.kind == "float":
                used.add(f"_numpy_{func.attr}")
                return annotations.copy_to(nodes.call(nodes.name(f"_numpy_{func.attr}"), node.args), node)
            return node
        if not (isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name)
                and func.value.id == LOWERED_MODULE and func.attr in KEEPDIMS | set(AXIS_REDUCTIONS)):
            return node
        axis = [k.value for k in node.keywords if k.arg == "axis"] or node.args[1:2]
        if not axis or isinstance(axis[0], gast.Tuple):
            return node                  # (the user's primal: the adjoint reduces one axis at a time)
        keep = [k for k in node.keywords if k.arg == "keepdims"]
        if keep:                         # the user's primal: numba has no keepdims
            reduced = nodes.call(nodes.clone(func), [node.args[0]],
                                 [k for k in node.keywords if k.arg not in ("keepdims", "axis")]
                                 + [nodes.keyword("axis", axis[0])])
            annotations.copy_to(reduced, node)
            reduced = lower(reduced)
            if not (isinstance(keep[0].value, gast.Constant) and keep[0].value.value is True):
                return reduced
            expanded = annotations.copy_to(nodes.call("np.expand_dims", [reduced, copy.deepcopy(axis[0])]), node)
            annotations.set(expanded, "callee", np.expand_dims)
            return expanded
        if func.attr not in AXIS_REDUCTIONS:
            return node
        rank = types_of(node.args[0]).ndim
        name = axis_reduction(func.attr, rank)
        used.add(name)
        return annotations.copy_to(nodes.call(nodes.name(name), [node.args[0], axis[0]]), node)
    # a NodeTransformer's visit_Call: the calls inside a call are lowered before it
    trees.replace_bottom_up(fn, gast.Call, lower)
    return used
