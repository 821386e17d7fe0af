"""What the lowering knows of an operand's rank and element kind in the adjoint, whose type
table has the user's names and the temporaries but not the sensitivities (s_x, s_3) or
tangents (d_x) the transformation made, nor the calls its rules wrote: those take their
variable's type, and the arithmetic, comparisons, ufuncs, reductions and views of them are
typed here as numpy would type them. lower/for_numba.py and lower/host_rewrites.py ask."""

from __future__ import annotations

import gast
import numpy as np

from ..errors import AdjointError
from ..ir import annotations, nodes


def rank_of(expr, types_of, known) -> int:
    """The rank of an operand; in the adjoint (`known` given) a sensitivity (s_x, s_3), which
    the type table does not hold, has its variable's (x, t_3)."""
    if known is not None and isinstance(expr, gast.Name) and expr.id.startswith("s_") and not known(expr.id):
        rest = expr.id[2:]
        expr = nodes.name(f"t_{rest}" if rest.isdigit() else rest)
    try:
        return types_of(expr).ndim
    except AdjointError:
        return -1


def known_rank(expr, types_of, known):
    """The rank of an operand, a sensitivity's or a tangent's too (-1 where the adjoint's type
    table cannot tell, as of a call a rule wrote)."""
    found = operand_type(expr, types_of, known)
    if found is not None:
        return found[0]
    if known is None or annotations.has(expr, "callee"):
        return rank_of(expr, types_of, known)
    if isinstance(expr, gast.Call) and nodes.dotted(expr.func) in _KEEPS_RANK and expr.args:
        return known_rank(expr.args[0], types_of, known)
    if isinstance(expr, gast.Call) and nodes.dotted(expr.func) == "np.linalg.solve" and len(expr.args) == 2:
        return known_rank(expr.args[1], types_of, known)        # (the right-hand side's)
    return -1                  # a rule's call (no callee noted: types_of would guess its operands' rank)


# a rule's calls whose result has their first argument's rank (and the helpers they become first)
_KEEPS_RANK = ("np.argsort", "np.sort", "np.flip", "np.cumsum", "np.cumprod",
               "_argsort_axis", "_sort_axis", "_flip_axis", "_cumprod_axis")


_WHOLE_REDUCTIONS = ("sum", "max", "min", "mean", "prod", "amax", "amin")


def operand_type(expr, types_of, known):
    """(rank, element kind) of an operand in the adjoint (`known` given), else None: names
    from the type table (a sensitivity s_x or tangent d_x has its variable's type), numbers,
    and the arithmetic, comparisons, numpy ufuncs, whole-array reductions and views by slices
    the rules write of them (types_of cannot type the expressions the compiler made of
    sensitivities)."""
    if known is None:
        return None
    kind = type(expr)
    if kind is gast.Constant:
        return (0, type(expr.value).__name__) if type(expr.value) in (float, int, bool) else None
    if kind is gast.Name:
        name = expr.id
        if not known(name):
            rest = name[2:] if name[:2] in ("s_", "d_") else None
            name = None if rest is None else f"t_{rest}" if rest.isdigit() else rest
            if name is None or not known(name):
                return None
        try:
            found = types_of(nodes.name(name))
        except AdjointError:
            return None
        return found.ndim, found.kind
    if kind is gast.Compare or kind is gast.BoolOp or kind is gast.UnaryOp or kind is gast.BinOp:
        parts = [expr.left] + expr.comparators if kind is gast.Compare else expr.values if kind is gast.BoolOp \
            else [expr.operand] if kind is gast.UnaryOp else [expr.left, expr.right]
        typed = [operand_type(part, types_of, known) for part in parts]
        if None in typed:
            return None
        rank = max(r for r, _ in typed)
        if kind is gast.Compare or kind is gast.BoolOp or isinstance(getattr(expr, "op", None), gast.Not):
            return rank, "bool"
        kinds = {k for _, k in typed}
        if isinstance(getattr(expr, "op", None), gast.Div) or "float" in kinds:
            return rank, "float" if kinds <= {"float", "int", "bool"} else ""
        return rank, "int" if kinds <= {"int", "bool"} else ""
    if kind is gast.Call and isinstance(expr.func, gast.Attribute) and nodes.dotted(expr.func.value) == "np" \
            and not expr.keywords:
        typed = [operand_type(part, types_of, known) for part in expr.args]
        if None in typed or not typed:
            return None
        if expr.func.attr in _WHOLE_REDUCTIONS and len(typed) == 1:
            return 0, typed[0][1] if expr.func.attr != "mean" else "float"
        ufunc = getattr(np, expr.func.attr, None)
        if isinstance(ufunc, np.ufunc) and ufunc.nin == len(typed) and ufunc.nout == 1:
            samples = {"float": np.float64(0.5), "int": np.int64(1), "bool": np.bool_(True)}
            if any(k not in samples for _, k in typed):
                return None
            with np.errstate(all="ignore"):
                out = ufunc(*[samples[k] for _, k in typed]).dtype.kind
            return max(r for r, _ in typed), {"f": "float", "i": "int", "b": "bool"}.get(out, "")
    if kind is gast.Subscript:                    # a view by slices keeps its array's rank (x[::-1])
        parts = expr.slice.elts if type(expr.slice) is gast.Tuple else [expr.slice]
        return operand_type(expr.value, types_of, known) if all(type(p) is gast.Slice for p in parts) else None
    if kind is gast.Call and isinstance(expr.func, gast.Name) and expr.func.id.startswith("_where_") \
            and expr.func.id[len("_where_"):-3].isdigit():           # one lowered already
        return int(expr.func.id[len("_where_"):-3]), "float"
    return None


def operand_rank(expr, types_of, known) -> int:
    typed = operand_type(expr, types_of, known)
    return -1 if typed is None else typed[0]


def operand_kind(expr, types_of, known) -> str:
    typed = operand_type(expr, types_of, known)
    return "" if typed is None else typed[1]
