"""float32 arithmetic for the cpu and cuda targets: numba reads a Python number as a float64,
where numpy lets it take a float32 array's precision (lower_for_numba calls it when the
call's float arrays are float32)."""

from __future__ import annotations

import gast

from ..errors import AdjointError
from ..ir import nodes, trees

# numpy calls that make a float64 array unless told otherwise, and their positional
# arguments before `dtype`: np.zeros(n), np.eye(d), np.full(shape, value)
_MADE_OF_SIZES = {"np.zeros": 1, "np.ones": 1, "np.empty": 1, "np.eye": 1, "np.identity": 1, "np.full": 2}


def _float_over_size(node) -> bool:
    """`1.0 / t.size`, `0.5 / t.shape[0]`: a float constant over an array's size."""
    if not (isinstance(node, gast.BinOp) and isinstance(node.op, gast.Div)
            and isinstance(node.left, gast.Constant) and type(node.left.value) is float):
        return False
    size = node.right
    if isinstance(size, gast.Subscript):
        size = size.value
    return isinstance(size, gast.Attribute) and size.attr in ("size", "shape")


def float32_constants(fn, types_of, known):
    """`1.0 - t * t` -> `np.float32(1.0) - t * t` where the arrays are float32: numpy treats a
    Python number as taking the array's precision, numba as a float64 (or an int64), which
    makes every array it meets float64 (twice the memory, and a matrix product of float32
    and float64 arrays numba cannot compile). Every float literal becomes a float32 one, and
    so does an int literal that is an operand of float arithmetic (`2 * t`), but not an
    exponent (`t ** 2` keeps numba's integer power) nor index arithmetic (`i + 1`); an array
    made of sizes alone (np.zeros(n), np.eye(d)) is made float32."""

    def is_float(expr) -> bool:
        if isinstance(expr, gast.Name):          # names made after the analysis: sensitivities
            return types_of(expr).kind == "float" if known(expr.id) else expr.id.startswith("s_")
        if isinstance(expr, gast.Constant):
            return isinstance(expr.value, float)
        if isinstance(expr, gast.BinOp):
            return isinstance(expr.op, gast.Div) or is_float(expr.left) or \
                (not isinstance(expr.op, gast.Pow) and is_float(expr.right))
        if isinstance(expr, gast.UnaryOp):
            return is_float(expr.operand)
        if isinstance(expr, (gast.Call, gast.Subscript)):
            parts = expr.args + [k.value for k in expr.keywords] if isinstance(expr, gast.Call) else [expr]
            names = {n.id for part in parts for n in trees.walk(part) if isinstance(n, gast.Name)}
            if not all(known(n) for n in names):      # a sensitivity's element, s_x[i], is a float
                return isinstance(expr, gast.Subscript) and isinstance(expr.value, gast.Name) \
                    and expr.value.id.startswith("s_")
            try:
                return types_of(expr).kind == "float"
            except AdjointError:
                return False
        return False

    def single(value):
        return nodes.call("np.float32", [nodes.const(value)])

    def visit(node):
        if isinstance(node, gast.BinOp):
            floats = is_float(node)
            for side in ("left", "right"):
                operand = getattr(node, side)
                if _float_over_size(operand):
                    # `e * (1.0 / t.size)`: numba makes float32 / int64 a float64, and e with it
                    setattr(node, side, nodes.call("np.float32", [operand]))
                    continue
                if isinstance(operand, gast.Constant) and type(operand.value) in (int, float) \
                        and (type(operand.value) is float or floats) \
                        and not (side == "right" and isinstance(node.op, gast.Pow) and type(operand.value) is int):
                    setattr(node, side, single(operand.value))
        elif isinstance(node, (gast.Assign, gast.AugAssign)) and isinstance(node.value, gast.Constant) \
                and type(node.value.value) is float:
            node.value = single(node.value.value)
        elif isinstance(node, gast.Call) and not nodes.dotted(node.func) == "np.float32":
            node.args = [single(a.value) if isinstance(a, gast.Constant) and type(a.value) is float else a
                         for a in node.args]
            if len(node.args) == _MADE_OF_SIZES.get(nodes.dotted(node.func)) \
                    and not any(k.arg == "dtype" for k in node.keywords):
                node.keywords = list(node.keywords) + [nodes.keyword("dtype", nodes.attribute("np.float32"))]
        elif isinstance(node, gast.UnaryOp) and isinstance(node.operand, gast.Constant) \
                and type(node.operand.value) is float:
            node.operand = single(node.operand.value)
    for node in list(gast.walk(fn)):
        visit(node)
