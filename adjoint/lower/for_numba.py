"""Lowering for numba: numpy calls numba cannot compile, or compiles into slow loops, become
runtime helpers (primitives/runtime.py) or equivalent forms numba fuses. Run by the pipeline on
the optimized adjoint and on the primal, for the cpu and cuda targets' sake (the python target
runs the same code)."""

from __future__ import annotations

import copy

import gast

from ..ir import trees
from ..primitives.runtime import AXIS_REDUCTIONS, LOWERED_MODULE, NUMPY_LOOPS, axis_reduction


def lower_for_numba(fn, types_of) -> set:
    """Replace numpy calls numba cannot compile (or compiles slowly) by runtime helpers or
    equivalent forms it fuses (np.where(c, a, nan) -> a * np.divide(c, c)); returns the
    helpers used. Only calls of `np.<function>` (LOWERED_MODULE) change, in place: optimize
    copies the statements holding one, which it may share with earlier stages.
    `types_of(node)` gives an expression's shapes.Type."""
    used = set()

    def func_of(dotted):
        head, attr = dotted.split(".")
        return gast.Attribute(value=gast.Name(id=head, ctx=gast.Load(), annotation=None, type_comment=None),
                              attr=attr, ctx=gast.Load())

    def lower(node):
        func = node.func
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr == "matmul" and len(node.args) == 2:
            return gast.BinOp(left=node.args[0], op=gast.MatMult(), right=node.args[1])
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr == "where" and len(node.args) == 3 \
                and isinstance(node.args[2], gast.Attribute) and node.args[2].attr == "nan" \
                and isinstance(node.args[2].value, gast.Name) and node.args[2].value.id in ("math", "np"):
            # np.where(c, a, nan) is a * (c / c) (1 or 0 / 0), which numba fuses into the
            # expression around it; its np.where there is a separate, much slower loop
            condition = node.args[0]
            return gast.BinOp(left=node.args[1], op=gast.Mult(),
                              right=gast.Call(func=func_of("np.divide"), args=[condition, copy.deepcopy(condition)],
                                              keywords=[]))
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.value.id == LOWERED_MODULE and func.attr in NUMPY_LOOPS and len(node.args) == 1 \
                and not node.keywords and isinstance(node.args[0], gast.Name):
            kind = types_of(node.args[0])
            if kind.ndim >= 1 and kind.kind == "float":
                used.add(f"_numpy_{func.attr}")
                return gast.Call(func=gast.Name(id=f"_numpy_{func.attr}", ctx=gast.Load(),
                                                annotation=None, type_comment=None),
                                 args=node.args, keywords=[])
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
        return gast.Call(func=gast.Name(id=name, ctx=gast.Load(), annotation=None,
                                        type_comment=None),
                         args=[node.args[0], axis[0]], keywords=[])
    # a NodeTransformer's visit_Call: the calls inside a call are lowered before it
    trees.replace_bottom_up(fn, gast.Call, lower)
    return used
