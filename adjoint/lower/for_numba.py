"""Lowering for numba: numpy calls numba cannot compile, or compiles into slow loops, become
runtime helpers (primitives/runtime.py) or equivalent forms numba fuses. Run by the pipeline on
the optimized adjoint and on the primal, for the cpu and cuda targets' sake (the python target
runs the same code)."""

from __future__ import annotations

import copy

import gast
import numpy as np

from ..ir import annotations, nodes, trees
from ..primitives.linalg import einsum_helper
from ..primitives.runtime import AXIS_REDUCTIONS, LOWERED_MODULE, NUMPY_LOOPS, axis_reduction


def lower_for_numba(fn, types_of) -> set:
    """Replace numpy calls numba cannot compile (or compiles slowly) by runtime helpers or
    equivalent forms it fuses (np.where(c, a, nan) -> a * np.divide(c, c)); returns the
    helpers used. Only calls of `np.<function>` (LOWERED_MODULE) change, in place: optimize
    copies the statements holding one, which it may share with earlier stages.
    `types_of(node)` gives an expression's shapes.Type."""
    used = set()

    def lower(node):
        func = node.func
        if annotations.get(node, "callee") is np.linalg.slogdet and len(node.args) == 1:
            # the pair (sign, logdet) as the float vector its type says (primitives/linalg.py)
            return annotations.copy_to(nodes.call("np.array", [node]), node)
        if nodes.dotted(func) == "np.einsum" and node.args and isinstance(node.args[0], gast.Constant):
            # numba has no einsum: loops written for these subscripts (primitives/linalg.py)
            name = einsum_helper(node.args[0].value, len(node.args) - 1)
            used.add(name)
            return annotations.copy_to(nodes.call(nodes.name(name), node.args[1:]), node)
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
                and func.value.id == LOWERED_MODULE and func.attr in AXIS_REDUCTIONS):
            return node
        axis = [k.value for k in node.keywords if k.arg == "axis"] or node.args[1:2]
        if not axis:
            return node
        rank = types_of(node.args[0]).ndim
        name = axis_reduction(func.attr, rank)
        used.add(name)
        return annotations.copy_to(nodes.call(nodes.name(name), [node.args[0], axis[0]]), node)
    # a NodeTransformer's visit_Call: the calls inside a call are lowered before it
    trees.replace_bottom_up(fn, gast.Call, lower)
    return used
