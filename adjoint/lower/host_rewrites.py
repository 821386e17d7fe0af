"""Rewrites of the cpu target's host code (not of device code, whose lowering reads these
statements as they are): a write of an array into part of another, and a product of a matrix
and a vector, become runtime helpers that numba compiles in a fraction of the time its own
forms take in a fresh process."""

from __future__ import annotations

import collections

import gast

from ..ir import annotations, nodes, trees
from ..primitives.runtime import ASSIGN_INTO, UPDATE_OF
from .operands import operand_kind, operand_rank, operand_type, rank_of


def assignments_into_views(fn, types_of, known) -> set:
    """Array writes into a part of an array (integers and slices: a view), as runtime helpers
    (runtime.UPDATES) numba compiles without a slice assignment of an array, whose error
    message (two shapes formatted into a string) it compiles in about two seconds of a fresh
    process, once per rank (the primal seldom has one):

        s[k, :d] += g         ->  _add_into(s[k, :d], g)         (and -=: _subtract_from)
        tape_v[k] = v         ->  _store(tape_v[k], v)           (a loop's tape of arrays)
        u[1:-1] = v           ->  _assign_into(u[1:-1], v)       (a float array's part, v an
                                                                   array of no higher rank)

    frontend/parse.py reads each back as the statement it stands for. Host code only (the
    device lowering reads the tapes' stores as they are); statements are replaced, never
    changed in place (optimize may share them with earlier stages). Returns the helpers used."""
    used = set()

    def view_rank(target, row=False):
        """The rank of `target`, an array's part read through integers and slices, else -1;
        `row`: a compiler's tape (its type not in the table) read through integers only,
        whose rank is not known either: 0 where it is such a row, else -1."""
        if not (isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name)):
            return -1
        parts = target.slice.elts if isinstance(target.slice, gast.Tuple) else [target.slice]
        integers = 0
        for part in parts:
            if isinstance(part, gast.Slice) and not row:
                continue
            typed = operand_type(part, types_of, known)
            if typed is None or typed[0] != 0 or typed[1] != "int":
                return -1
            integers += 1
        if row:
            return 0
        rank = operand_rank(target.value, types_of, known)
        return rank - integers if rank >= len(parts) else -1

    def part_of(target):
        return annotations.copy_to(nodes.subscript(nodes.name(target.value.id), nodes.clone(target.slice)), target)

    def update(name, target, value, stmt):
        used.add(name)
        return nodes.located(nodes.make(gast.Expr, value=nodes.call(nodes.name(name), [part_of(target), value])), stmt)

    copies = {}          # found at the first name the type table lacks (most functions: none)

    def copied_parts():
        """Names bound once, to a copy of an array's part (`u_old = u[1:-1].copy()`, the
        reverse sweep's saved region): the type table has none of them, their part's type
        is known."""
        bindings = collections.Counter()
        for stmt in nodes.statements(fn.body):
            bindings.update(nodes.written_names(stmt))
            value = getattr(stmt, "value", None)
            if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name and type(value) is gast.Call \
                    and not value.args and type(value.func) is gast.Attribute and value.func.attr == "copy" \
                    and type(value.func.value) is gast.Subscript:
                copies[stmt.targets[0].id] = value.func.value
        for name in [n for n in copies if bindings[n] != 1]:
            del copies[name]
        copies[None] = None                          # (found)

    def value_type(value):
        typed = operand_type(value, types_of, known)
        if typed is None and type(value) is gast.Name:
            if not copies:
                copied_parts()
            part = copies.get(value.id)
            if part is not None:
                rank, kind = view_rank(part), operand_kind(part.value, types_of, known)
                typed = (rank, kind) if rank >= 0 and kind else None
        return typed

    for block in list(nodes.blocks(fn)):
        out = None
        for k, stmt in enumerate(block):
            replaced = None
            kind = type(stmt)
            target = stmt.target if kind is gast.AugAssign else stmt.targets[0] if kind is gast.Assign else None
            if type(target) is not gast.Subscript:
                pass                    # (nearly every statement: it writes no array's part)
            elif kind is gast.AugAssign and isinstance(stmt.op, (gast.Add, gast.Sub)) \
                    and view_rank(target) >= 1:
                replaced = update(UPDATE_OF["+" if isinstance(stmt.op, gast.Add) else "-"], target,
                                  stmt.value, stmt)
            elif kind is gast.Assign and len(stmt.targets) == 1 and isinstance(stmt.value, gast.Name) \
                    and isinstance(target.value, gast.Name):
                typed = value_type(stmt.value)
                if target.value.id.startswith("tape_") and not known(target.value.id) \
                        and view_rank(target, row=True) == 0 and typed is not None and typed[0] >= 1 \
                        and typed[1] in ("float", "int"):
                    replaced = update(UPDATE_OF["="], target, stmt.value, stmt)
                elif typed is not None and typed[1] in ("float", "int", "bool") \
                        and 1 <= typed[0] <= view_rank(target) \
                        and operand_kind(target.value, types_of, known) == "float":
                    replaced = update(ASSIGN_INTO, target, stmt.value, stmt)
            if replaced is not None and out is None:
                out = block[:k]
            if out is not None:
                out.append(stmt if replaced is None else replaced)
        if out is not None:
            block[:] = out
    return used


def matrix_vector_products(fn, types_of, known) -> set:
    """`a @ v` of a matrix and a vector -> `_matvec(a, v)`, `v @ a` -> `_vecmat(v, a)`
    (runtime.MATRIX_PRODUCTS): products of matrices, so that numba compiles np.dot for
    matrices only, not once more for each matrix-vector pairing a gradient meets (`h @ w`
    forward, `h.T @ s` back). Host code only; a statement holding one is replaced, never
    changed in place (optimize may share it with earlier stages). Returns the helpers used."""
    used = set()

    def rank(expr):
        if isinstance(expr, gast.Attribute) and expr.attr == "T":
            expr = expr.value                      # (a transpose keeps a matrix's rank)
        found = operand_rank(expr, types_of, known)
        return found if found >= 0 else rank_of(expr, types_of, known)

    def replacements(stmt) -> dict:
        found = {}
        for node in nodes.every_node(stmt):
            if type(node) is gast.BinOp and type(node.op) is gast.MatMult:
                helper = _MATRIX_VECTOR.get((rank(node.left), rank(node.right)))
                if helper is not None:
                    used.add(helper)
                    found[id(node)] = nodes.located(nodes.call(nodes.name(helper), [node.left, node.right]), node)
        return found

    for block in nodes.blocks(fn):
        for k, stmt in enumerate(block):
            if type(stmt) in (gast.Assign, gast.AugAssign, gast.Return, gast.Expr) \
                    and any(type(n) is gast.BinOp and type(n.op) is gast.MatMult for n in nodes.every_node(stmt)):
                for _ in range(4):                 # (a product inside another: one more round)
                    mapping = replacements(block[k])
                    if not mapping:
                        break
                    block[k] = annotations.copy_to(trees.replaced(block[k], mapping), stmt)
    return used


_MATRIX_VECTOR = {(2, 1): "_matvec", (1, 2): "_vecmat"}
